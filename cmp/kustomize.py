"""The one place confighash runs another program: ``kustomize build``.

The child runs in its own process group. A SIGTERM or SIGINT sent to confighash (Argo CD sends
SIGTERM at its deadline, then SIGKILL 5 s later) is passed on to the whole group, so no kustomize
or helm process is left behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType

from cmp.errors import RenderError

Which = Callable[[str], "str | None"]
_STDERR_TAIL = 20  # lines of kustomize's stderr kept in the error message


def command(explicit: str | None, which: Which = shutil.which) -> list[str]:
    """argv prefix for a build: ``--kustomize``/``KUSTOMIZE_BIN``, else kustomize, else kubectl."""
    if explicit:
        found = which(explicit)
        if found is None:
            raise RenderError(f"kustomize binary {explicit!r} not found or not executable")
        return [found, "kustomize"] if Path(found).name == "kubectl" else [found, "build"]
    found = which("kustomize")
    if found is not None:
        return [found, "build"]
    found = which("kubectl")
    if found is not None:
        return [found, "kustomize"]
    raise RenderError("neither kustomize nor kubectl is on PATH (set --kustomize or KUSTOMIZE_BIN)")


@contextmanager
def _forward_signals(process: subprocess.Popen[bytes]) -> Iterator[list[int]]:
    received: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=2)
            return
        except subprocess.TimeoutExpired:
            continue


def build(
    prefix: Sequence[str],
    directory: str,
    options: Sequence[str],
    *,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> bytes:
    """Run ``<prefix> <directory> <options>``; return its stdout or raise RenderError."""
    argv = [*prefix, directory, *options]
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=dict(env) if env is not None else None,
        )
    except OSError as exc:
        raise RenderError(f"cannot run {argv[0]}: {exc.strerror}") from None
    with _forward_signals(process) as received:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            process.communicate()
            raise RenderError(f"kustomize build timed out after {timeout:g}s") from None
        finally:
            if process.poll() is None:
                _kill_group(process)
    if received:
        raise RenderError(f"interrupted by {signal.Signals(received[0]).name}; kustomize stopped")
    if process.returncode != 0:
        lines = err.decode("utf-8", "replace").strip().splitlines()[-_STDERR_TAIL:]
        detail = " | ".join(line.strip() for line in lines if line.strip()) or "no message"
        raise RenderError(f"kustomize build failed (exit {process.returncode}): {detail}")
    return out
