"""bench/run.py's helpers that decide what is measured: which interpreter runs a command, when the
clean venv is rebuilt, and the one line a failed install is reported in.

No timing and no venv is built here (bench/run.py does that when it is run).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_run() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


run = _load_run()


def _script(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def test_a_python_runs_itself() -> None:
    assert run.interpreter_of([sys.executable, "-m", "cmp"]) == sys.executable
    assert run.interpreter_of(["/opt/venv/bin/python3.11", "-c", "pass"]) == (
        "/opt/venv/bin/python3.11"
    )


def test_a_console_script_runs_under_its_shebang(tmp_path: Path) -> None:
    script = _script(tmp_path / "confighash", "#!/opt/venv/bin/python\nimport sys\n")
    assert run.interpreter_of([script]) == "/opt/venv/bin/python"


def test_env_shebang_is_looked_up_on_path(tmp_path: Path) -> None:
    script = _script(tmp_path / "confighash", "#!/usr/bin/env python3\nimport sys\n")
    assert run.interpreter_of([script]) == shutil.which("python3")


def test_pips_sh_launcher_for_long_paths(tmp_path: Path) -> None:
    long = "/very" * 30 + "/bin/python3.11"
    text = f"#!/bin/sh\n'''exec' \"{long}\" \"$0\" \"$@\"\n' '''\nimport sys\n"
    assert run.interpreter_of([_script(tmp_path / "confighash", text)]) == long


@pytest.mark.parametrize(
    "text", ['#!/bin/bash\nexec kustomize "$@"\n', "\x7fELF\x02\x01\x01", "#!/usr/bin/env\n"]
)
def test_not_a_python_script(tmp_path: Path, text: str) -> None:
    assert run.interpreter_of([_script(tmp_path / "tool", text)]) is None


def test_a_missing_command_has_no_interpreter(tmp_path: Path) -> None:
    assert run.interpreter_of([str(tmp_path / "absent")]) is None
    assert run.interpreter_of(["no-such-command-anywhere-on-path"]) is None


def _tree(root: Path) -> Path:
    (root / "cmp" / "__pycache__").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "cmp" / "__init__.py").write_text("__version__ = '1'\n")
    (root / "cmp" / "py.typed").write_text("")
    (root / "cmp" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"old")
    (root / "README.md").write_text("readme\n")
    return root


def test_source_digest_follows_the_package_and_pyproject(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    first = run.source_digest(root)
    assert run.source_digest(root) == first
    (root / "cmp" / "__init__.py").write_text("__version__ = '2'\n")
    second = run.source_digest(root)
    assert second != first
    (root / "cmp" / "new.py").write_text("")
    third = run.source_digest(root)
    assert third != second
    (root / "pyproject.toml").write_text("[project]\nname = 'y'\n")
    assert run.source_digest(root) != third


def test_source_digest_ignores_bytecode_and_the_readme(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    first = run.source_digest(root)
    (root / "cmp" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"new")
    (root / "cmp" / "__pycache__" / "new.cpython-311.pyc").write_bytes(b"")
    (root / "README.md").write_text("edited\n")
    assert run.source_digest(root) == first


def test_source_digest_tells_a_renamed_file(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "cmp" / "a.py").write_text("x = 1\n")
    first = run.source_digest(root)
    (root / "cmp" / "a.py").rename(root / "cmp" / "b.py")
    assert run.source_digest(root) != first


def test_the_venv_goes_in_work_when_given(tmp_path: Path) -> None:
    assert run.default_venv(tmp_path) == tmp_path / "venv"
    cached = run.default_venv(None)
    assert cached.parent.name == "confighash-bench"
    assert cached == run.default_venv(None)  # the same one every run, so it is reused


def _fake_venv(venv: Path, stamp: dict[str, str]) -> None:
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (venv / "bin" / "python").write_text("")
    (venv / "bin" / "confighash").write_text("")
    (venv / run.STAMP).write_text(json.dumps(stamp))


def test_a_venv_built_from_the_same_sources_is_reused(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _fake_venv(venv, run.venv_stamp())
    assert run.clean_venv(venv) == (venv, False, run.source_digest())


def test_a_directory_that_is_not_a_venv_is_left_alone(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "precious.txt").write_text("keep me")
    with pytest.raises(run.SetupError, match="not a virtual environment"):
        run.clean_venv(venv)
    assert (venv / "precious.txt").read_text() == "keep me"


def test_a_failed_pip_is_told_by_its_last_error_line() -> None:
    output = (
        "Processing ./src\n"
        "ERROR: Could not find a version that satisfies the requirement setuptools>=68\n"
        "ERROR: No matching distribution found for setuptools>=68\n"
        "\n"
        "note: This error originates from a subprocess, and is likely not a problem with pip.\n"
    )
    assert run.last_error(output) == "ERROR: No matching distribution found for setuptools>=68"
    assert run.last_error("Error: ensurepip is not available\n\n") == (
        "Error: ensurepip is not available"
    )
    assert run.last_error("") == "(no output)"
