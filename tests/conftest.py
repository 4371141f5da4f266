"""Session set-up: the Go oracle, and the kustomize and helm the tests run.

``CONFIGHASH_TEST_TOOLS`` names a directory holding ``kustomize`` and ``helm``, normally the one
``tests/e2e/build-tools`` prints (the versions the Dockerfile ships). When it is set, that directory
goes first on PATH before any test module is imported, so every test that finds kustomize or helm
by name (confighash's own lookup, ``shutil.which``) runs those. Unset, PATH is left alone: a local
run uses the machine's kustomize, or ``kubectl kustomize``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from oracle import argocd_read, build_oracle

TOOLS_ENV = "CONFIGHASH_TEST_TOOLS"
ROOT = Path(__file__).resolve().parents[1]
BUILD_TOOLS = ROOT / "tests" / "e2e" / "build-tools"
BUILD_TOOLS_TIMEOUT_S = 3600  # a cold build of both tools took 9.5 min on a loaded 2-core machine


def pytest_configure(config: pytest.Config) -> None:
    named = os.environ.get(TOOLS_ENV)
    if not named:
        return
    directory = Path(named).absolute()
    missing = [t for t in ("kustomize", "helm") if not os.access(directory / t, os.X_OK)]
    if missing:
        raise pytest.UsageError(
            f"{TOOLS_ENV}={named}: no executable {' or '.join(missing)} there "
            f"(set it to the directory tests/e2e/build-tools prints)"
        )
    os.environ["PATH"] = os.pathsep.join([str(directory), os.environ.get("PATH", "")])


def dockerfile_arg(name: str) -> str:
    """The default value of ``ARG <name>=...`` in the project's Dockerfile."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    found = re.findall(rf"^ARG {re.escape(name)}=(\S+)$", text, flags=re.MULTILINE)
    assert len(found) == 1, f"expected one ARG {name}=... line in the Dockerfile, found {found}"
    return str(found[0])


@pytest.fixture(scope="session")
def tools() -> Path:
    """The directory with the image's kustomize and helm: ``CONFIGHASH_TEST_TOOLS`` when set,
    else what tests/e2e/build-tools builds (cached; slow only on the first run). Never skips."""
    named = os.environ.get(TOOLS_ENV)
    if named:
        return Path(named).absolute()
    proc = subprocess.run(
        [str(BUILD_TOOLS)],
        capture_output=True,
        text=True,
        timeout=BUILD_TOOLS_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"tests/e2e/build-tools failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Callable[[bytes], list[dict[str, Any]]]:
    """Argo CD's reading of a plugin stdout stream, as oracle lines (see tests/oracle.py)."""
    binary: Path = build_oracle(tmp_path_factory.mktemp("oracle"))

    def read(stream: bytes) -> list[dict[str, Any]]:
        return argocd_read(binary, stream)

    return read
