"""Same input, same bytes: the output must not depend on the Python version (>= 3.10)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cmp import pipeline

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


def _pyenv_pythons() -> list[Path]:
    """Interpreters other than this one: the oldest supported (3.10) and the newest installed.

    .ci/run names them in CONFIGHASH_TEST_PYTHONS (virtual environments it made from pyenv's
    interpreters, so nothing is installed into those); otherwise pyenv's own are used.
    """
    named = os.environ.get("CONFIGHASH_TEST_PYTHONS")
    if named:
        return _pick([Path(p) for p in named.split(os.pathsep) if p])
    pyenv = shutil.which("pyenv")
    root = (
        subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False).stdout.strip()
        if pyenv
        else ""
    )
    versions = Path(root or Path.home() / ".pyenv") / "versions"
    return _pick(list(versions.glob("3.1[0-9]*/bin/python")))


def _pick(pythons: list[Path]) -> list[Path]:
    """Of interpreters laid out as .../VERSION/bin/python: 3.10 and the newest, not this one."""
    found = sorted(pythons, key=lambda p: tuple(int(n) for n in p.parts[-3].split(".")))
    mine = f"{sys.version_info.major}.{sys.version_info.minor}."
    others = [p for p in found if not p.parts[-3].startswith(mine)]
    picked = [p for p in others if p.parts[-3].startswith("3.10.")][:1] + others[-1:]
    return list(dict.fromkeys(picked))


PYTHONS = _pyenv_pythons()
STREAMS = [
    CORPUS / "kube-prometheus" / "rendered" / "root.yaml",
    CORPUS / "kubeflow-pipelines" / "rendered" / "manifests_kustomize_env_plain-multi-user.yaml",
    CORPUS / "sourcegraph" / "rendered" / "examples_executors.yaml",
]


def test_python_3_10_is_available_to_check_the_minimum_version() -> None:
    assert any(p.parts[-3].startswith("3.10.") for p in PYTHONS), (
        "a Python 3.10 interpreter (pyenv) is needed; .ci/run makes a venv of it"
    )


@pytest.mark.parametrize("python", PYTHONS, ids=[p.parts[-3] for p in PYTHONS])
@pytest.mark.parametrize("render", STREAMS, ids=[p.parts[-3] for p in STREAMS])
def test_stamp_output_is_byte_identical_on_other_python_versions(
    python: Path, render: Path
) -> None:
    data = render.read_bytes()
    expected = pipeline.stamp(data, pipeline.Options(namespace="team-a")).output
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "random"}
    proc = subprocess.run(
        [str(python), "-m", "cmp", "stamp", "-n", "team-a", "-"],
        input=data,
        capture_output=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == expected
