"""cmp.kustomize.build in-process: error text, signal handlers, scratch directory, argv."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
from helpers import fake_kustomize

from cmp import kustomize
from cmp.errors import RenderError


def fake(tmp_path: Path, body: str) -> list[str]:
    return [fake_kustomize(tmp_path, body), "build"]


def env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)}


def test_failure_is_one_scrubbed_line(tmp_path: Path) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "secret.yaml").write_text("kind: Secret\nstringData:\n  token: hunter-in-a-file\n")
    prefix = fake(
        tmp_path,
        "echo 'Error: bad map[kind:Secret data:map[token:aHVudGVy]]' >&2\n"
        "echo 'quoting hunter-in-a-file' >&2\n"
        "echo 'Error: second hunter-in-a-file and the-key-text' >&2\n"
        "exit 3\n",
    )
    with pytest.raises(RenderError) as info:
        kustomize.build(prefix, str(app), [], env=env(tmp_path), redact=["the-key-text"])
    message = str(info.value)
    assert message == (
        "kustomize build failed (exit 3): bad map[kind:Secret data: [redacted] | "
        "second [redacted] and [redacted] "
        "(1 more line of kustomize output hidden: they can quote input)"
    )


def test_argv_environment_and_scratch_directory(tmp_path: Path) -> None:
    prefix = fake(
        tmp_path,
        'printf "%s|" "$@"; printf "\\n%s\\n" "$TMPDIR"; touch "$TMPDIR/left-behind"\n',
    )
    out = kustomize.build(
        prefix, "dir", ["--a", "b"], env=env(tmp_path), tmpdir=str(tmp_path)
    ).decode()
    args, scratch = out.splitlines()
    assert args == "build|dir|--a|b|"
    assert Path(scratch).parent == tmp_path and Path(scratch).name.startswith("confighash-")
    assert not Path(scratch).exists()


def test_signal_handlers_are_restored_and_a_signal_stops_the_build(tmp_path: Path) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    prefix = fake(tmp_path, "exec sleep 300\n")
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        with pytest.raises(RenderError, match="stopped by SIGTERM"):
            kustomize.build(prefix, ".", [], env=env(tmp_path), timeout=30, tmpdir=str(tmp_path))
    finally:
        timer.cancel()
    assert {s: signal.getsignal(s) for s in before} == before
    assert list(tmp_path.glob("confighash-*")) == []


def test_timeout(tmp_path: Path) -> None:
    prefix = fake(tmp_path, "exec sleep 300\n")
    with pytest.raises(RenderError, match=r"did not finish within 0\.3 s"):
        kustomize.build(prefix, ".", [], env=env(tmp_path), timeout=0.3)


def test_killed_kustomize_is_reported(tmp_path: Path) -> None:
    prefix = fake(tmp_path, "kill -KILL $$\n")
    with pytest.raises(RenderError, match="killed by SIGKILL"):
        kustomize.build(prefix, ".", [], env=env(tmp_path))


def test_command_lookup_uses_the_given_path(tmp_path: Path) -> None:
    (tmp_path / "kustomize").write_text("#!/bin/sh\n")
    (tmp_path / "kustomize").chmod(0o755)
    assert kustomize.command(None, path=str(tmp_path)) == [str(tmp_path / "kustomize"), "build"]
    with pytest.raises(RenderError, match="not found"):
        kustomize.command("nope-not-here", path=str(tmp_path))
