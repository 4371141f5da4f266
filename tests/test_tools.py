"""The kustomize and helm the tests run are the ones the image ships (issue 9).

tests/e2e/build-tools builds the Dockerfile's ARG KUSTOMIZE_VERSION and ARG HELM_VERSION from the
Go module proxy. CI runs the suite with CONFIGHASH_TEST_TOOLS naming the directory it prints, and
tests/conftest.py puts that directory first on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import BUILD_TOOLS, TOOLS_ENV, dockerfile_arg

from cmp import kustomize

KUSTOMIZE_VERSION = dockerfile_arg("KUSTOMIZE_VERSION")
HELM_VERSION = "v" + dockerfile_arg("HELM_VERSION")  # the alpine/helm tag has no "v"


def kustomize_version(binary: str | Path) -> str:
    proc = subprocess.run(
        [str(binary), "version"], capture_output=True, text=True, timeout=60, check=True
    )
    return proc.stdout.strip()


def helm_version(binary: str | Path) -> str:
    proc = subprocess.run(
        [str(binary), "version", "--template", "{{.Version}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "HELM_CONFIG_HOME": "/nonexistent", "HELM_CACHE_HOME": "/nonexistent"},
    )
    return proc.stdout.strip()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def test_dockerfile_pins_a_kustomize_v5_and_a_helm_v3() -> None:
    assert KUSTOMIZE_VERSION.startswith("v5.")
    assert HELM_VERSION.startswith("v3.")


def _copy_of_build_tools(tmp_path: Path, dockerfile: str) -> Path:
    """build-tools in a project of its own whose Dockerfile is ``dockerfile``."""
    script = tmp_path / "project" / "tests" / "e2e" / "build-tools"
    script.parent.mkdir(parents=True)
    shutil.copy2(BUILD_TOOLS, script)
    (tmp_path / "project" / "Dockerfile").write_text(dockerfile)
    return script


def test_build_tools_takes_the_versions_from_the_dockerfile(tmp_path: Path) -> None:
    """Its cache is keyed by the Dockerfile's versions: binaries cached for them are reused at
    once, without Go; other versions would be built."""
    script = _copy_of_build_tools(
        tmp_path, "ARG KUSTOMIZE_VERSION=v5.99.1\nARG HELM_VERSION=3.99.2\nFROM scratch\n"
    )
    cached = tmp_path / "cache" / "tools" / "bin-kustomize-v5.99.1-helm-v3.99.2"
    cached.mkdir(parents=True)
    for tool in ("kustomize", "helm"):
        (cached / tool).write_text("#!/bin/sh\n")
        (cached / tool).chmod(0o755)
    path = tmp_path / "bin"  # the commands the script runs on a cache hit, and no go
    path.mkdir()
    for command in ("bash", "dirname", "sed", "wc"):
        found = shutil.which(command)
        assert found is not None, command
        (path / command).symlink_to(found)
    proc = subprocess.run(
        [str(script), str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": str(path)},
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"{cached}\n", "")


@pytest.mark.parametrize("missing", ["KUSTOMIZE_VERSION", "HELM_VERSION"])
def test_build_tools_fails_when_the_dockerfile_has_no_version(tmp_path: Path, missing: str) -> None:
    lines = {
        "KUSTOMIZE_VERSION": "ARG KUSTOMIZE_VERSION=v5.8.1",
        "HELM_VERSION": "ARG HELM_VERSION=3",
    }
    del lines[missing]
    script = _copy_of_build_tools(tmp_path, "".join(f"{v}\n" for v in lines.values()))
    proc = subprocess.run(
        [str(script), str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert f"no single 'ARG {missing}=...' line" in proc.stderr
    assert not (tmp_path / "cache").exists()


@pytest.mark.e2e
def test_build_tools_builds_the_dockerfiles_versions(tools: Path) -> None:
    assert kustomize_version(tools / "kustomize") == KUSTOMIZE_VERSION
    assert helm_version(tools / "helm") == HELM_VERSION


@pytest.mark.e2e
def test_in_ci_the_suite_runs_the_dockerfiles_kustomize_and_helm() -> None:
    """In CI (CI set), CONFIGHASH_TEST_TOOLS must be set, and the kustomize that confighash finds
    on PATH and the helm there are the Dockerfile's versions. A local run without
    CONFIGHASH_TEST_TOOLS uses the machine's kustomize or kubectl, and this checks nothing more."""
    named = os.environ.get(TOOLS_ENV)
    if in_ci():
        assert named, f"CI must run the tests with {TOOLS_ENV}=$(tests/e2e/build-tools)"
    if not named:
        return
    directory = Path(named).absolute()
    binary, verb = kustomize.command(None)
    assert (Path(binary).parent, verb) == (directory, "build")
    assert kustomize_version(binary) == KUSTOMIZE_VERSION
    helm = shutil.which("helm")
    assert helm is not None
    assert Path(helm).parent == directory
    assert helm_version(helm) == HELM_VERSION
