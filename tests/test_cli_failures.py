"""Failures behave like a kubectl-family tool (issue 13): one stderr line, a non-zero status.

stdout that cannot be written (no space, a reader that stops early, a closed descriptor) exits 1
on every command; a bad TMPDIR names the variable; a signal exits 128 + N.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import fake_kustomize

ROOT = Path(__file__).resolve().parent.parent
OVERLAY = "examples/overlays/production"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIGHASH_")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stamped stream of the example, large enough (repeated) to fill a pipe buffer."""
    out = subprocess.run(
        [sys.executable, "-m", "cmp", "build", OVERLAY],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        check=True,
    ).stdout
    docs = out.split(b"\n---\n")
    big = []
    for i in range(400):
        for doc in docs:
            big.append(doc.replace(b"name: prod-", b"name: c%d-prod-" % i))
    path = tmp_path_factory.mktemp("big") / "big.yaml"
    path.write_bytes(b"\n---\n".join(big))
    return path


def _commands(rendered: Path) -> dict[str, list[str]]:
    return {
        "build": ["build", OVERLAY],
        "stamp": ["stamp", str(rendered)],
        "explain": ["explain", "-f", str(rendered)],
        "diff": ["diff", OVERLAY, "examples/overlays/staging"]
        if (ROOT / "examples/overlays/staging").is_dir()
        else ["diff", OVERLAY, OVERLAY + "/"],
    }


COMMANDS = ["build", "stamp", "explain", "diff"]
# diff exits as kubectl diff: 1 is "restarts" (--exit-code), so a failure is 2
_FAILED = {"build": 1, "stamp": 1, "explain": 1, "diff": 2}


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "warning:" not in line]


def _shell(args: list[str], redirect: str) -> subprocess.CompletedProcess[str]:
    line = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "cmp", *args])
    return subprocess.run(
        ["bash", "-c", f"{line} {redirect}"],
        check=False,
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_one_write_error(stderr: str, reason: str) -> None:
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert _errors(stderr) == [f"confighash: error: cannot write the output to stdout: {reason}"]


@pytest.mark.parametrize("command", COMMANDS)
def test_stdout_to_dev_full_is_one_error_line_and_exit_1(command: str, rendered: Path) -> None:
    run = _shell(_commands(rendered)[command], "> /dev/full")
    assert run.returncode == _FAILED[command], run.stderr
    _assert_one_write_error(run.stderr, "No space left on device")


@pytest.mark.parametrize("command", COMMANDS)
def test_closed_stdout_descriptor_is_one_error_line_and_exit_1(
    command: str, rendered: Path
) -> None:
    run = _shell(_commands(rendered)[command], ">&-")
    assert run.returncode == _FAILED[command], run.stderr
    _assert_one_write_error(run.stderr, "Bad file descriptor")


@pytest.mark.parametrize("command", COMMANDS)
def test_reader_that_closes_early_makes_the_run_fail(command: str, rendered: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "cmp", *_commands(rendered)[command]],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    # build's and diff's small output fits the pipe: for them the reader closes at once
    if command not in ("build", "diff"):
        process.stdout.read(100)
    process.stdout.close()
    stderr = process.stderr.read().decode()
    process.stderr.close()
    code = process.wait(timeout=120)
    assert code == _FAILED[command], stderr
    _assert_one_write_error(stderr, "Broken pipe")


def test_stamp_piped_into_head_exits_non_zero(rendered: Path) -> None:
    run = _shell(["stamp", str(rendered)], "| head -c 100 > /dev/null; echo ${PIPESTATUS[0]} >&2")
    assert run.stderr.splitlines()[-1] == "1", run.stderr
    _assert_one_write_error("\n".join(run.stderr.splitlines()[:-1]), "Broken pipe")


@pytest.mark.parametrize("tmpdir", ["/nonexistent", "/proc"])
def test_unusable_tmpdir_names_the_variable(tmpdir: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "cmp", "build", OVERLAY],
        check=False,
        cwd=ROOT,
        env=_env(TMPDIR=tmpdir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert run.stdout == ""
    assert _errors(run.stderr) == [
        f"confighash: error: TMPDIR={tmpdir} is not a writable directory; set TMPDIR to one"
    ]


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_exits_128_plus_n_and_stops_kustomize(
    tmp_path: Path, signum: int, status: int
) -> None:
    marker = tmp_path / "child.pid"
    script = fake_kustomize(tmp_path, f"sleep 300 &\necho $! > {marker}\nwait\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "cmp", "build", OVERLAY, "--kustomize", script],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not marker.exists() or not marker.read_text().strip():
        assert time.monotonic() < deadline, "the fake kustomize never started"
        time.sleep(0.05)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    assert out == b""
    name = signal.Signals(signum).name
    assert _errors(err.decode()) == [
        f"confighash: error: stopped by {name}; kustomize and everything it started were ended"
    ]
    assert not _running(int(marker.read_text()))


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie left to a container's PID 1 has stopped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")
