"""The process-tree runner every renderer shares: one program run with a timeout and signals.

How a process is handled, under Argo CD and in a terminal alike:

- The program stays in confighash's process group. Argo CD starts the generate command as the leader
  of a new group and, at its deadline, SIGKILLs that command at once (Go's exec.CommandContext)
  while it sends SIGTERM to the whole group, then SIGKILL 5 s later. confighash may get no chance
  to run any code, so only a program in the same group is reliably reached; one in a group of
  its own would outlive a killed confighash. In a terminal, Ctrl-C reaches it the same way.
- When confighash itself receives SIGTERM or SIGINT, or its timeout expires, it ends the program and
  everything it started: the signal (SIGTERM on timeout), up to GRACE_S to exit, then SIGKILL after
  freezing the tree with SIGSTOP, parents first, so that nothing forks away. On Linux confighash is
  a child subreaper during the run, so orphans inside the tree stay found.
- :func:`scratch` is a private directory under $TMPDIR, removed afterwards: the programs' scratch
  files (TMPDIR, Helm's homes) never outlive the render and never collide with concurrent renders.

The renderers (:mod:`cmp.kustomize`, :mod:`cmp.helm`) decide what a non-zero exit means and how
its stderr is redacted (:mod:`cmp.scrub`).
"""

from __future__ import annotations

import ctypes
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from types import FrameType
from typing import NamedTuple

from cmp.errors import RenderError, Stopped

GRACE_S = 1.0  # after forwarding SIGTERM/SIGINT, how long the tree may take before SIGKILL
PIPE_GRACE_S = 1.0  # after the program exits, how long a process it left may hold its output open
_POLL_S = 0.05
_PR_SET_CHILD_SUBREAPER = 36


# --- the process tree a program starts -------------------------------------------------------


def _set_subreaper(on: bool) -> bool:
    """Make this process adopt orphans of its descendants (Linux), so none can slip away."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _proc_table() -> dict[int, tuple[int, str]] | None:
    """pid -> (parent pid, state) of every process, from /proc; None without /proc."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    table: dict[int, tuple[int, str]] = {}
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[-1].split()
            table[int(name)] = (int(fields[1]), fields[0].decode("ascii", "replace"))
        except (OSError, IndexError, ValueError):
            continue
    return table


def _children(pid: int, table: dict[int, tuple[int, str]]) -> set[int]:
    return {p for p, (parent, _) in table.items() if parent == pid}


class _Tree:
    """The program and every live process it started, parents before children."""

    def __init__(self, process: subprocess.Popen[bytes], before: set[int]) -> None:
        self.process = process
        self.before = before  # children this process had before the program started

    def members(self) -> list[int]:
        table = _proc_table()
        if table is None:
            return [self.process.pid] if self.process.poll() is None else []
        roots = _children(os.getpid(), table) - self.before
        below: dict[int, list[int]] = {}
        for pid, (parent, _) in table.items():
            below.setdefault(parent, []).append(pid)
        order: list[int] = []
        queue = sorted(roots)
        while queue:
            pid = queue.pop(0)
            order.append(pid)
            queue += sorted(below.get(pid, []))
        return [p for p in order if table.get(p, (0, "Z"))[1] not in ("Z", "X")]


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def _kill_tree(tree: _Tree) -> None:
    """SIGKILL the whole tree; freeze it first (parents first) so that nothing forks away."""
    stopped: list[int] = []
    for _ in range(50):
        new = [p for p in tree.members() if p not in stopped]
        if not new:
            break
        _signal_all(new, signal.SIGSTOP)
        stopped += new
    _signal_all(stopped, signal.SIGKILL)
    with suppress(subprocess.TimeoutExpired):
        tree.process.wait(timeout=GRACE_S)
    for pid in stopped:  # reap the orphans this process adopted
        if pid != tree.process.pid:
            with suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)


def _stop(tree: _Tree, signum: int) -> None:
    """Pass ``signum`` to every process of the tree; SIGKILL what is left after GRACE_S."""
    _signal_all(tree.members(), signum)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline:
        tree.process.poll()
        if not tree.members():
            break
        time.sleep(_POLL_S)
    _kill_tree(tree)


@contextmanager
def _catch_signals() -> Iterator[list[int]]:
    """Record SIGTERM and SIGINT instead of dying, so the tree can be stopped first."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def record(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, record) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class _Outcome:
    def __init__(self) -> None:
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.signal: int | None = None
        self.timed_out = False


def _communicate(tree: _Tree, timeout: float | None, received: list[int]) -> _Outcome:
    process = tree.process
    assert process.stdout is not None and process.stderr is not None
    outcome = _Outcome()
    buffers = {process.stdout.fileno(): outcome.stdout, process.stderr.fileno(): outcome.stderr}
    with selectors.DefaultSelector() as selector:
        for fd in buffers:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        deadline = None if timeout is None else time.monotonic() + timeout
        exited_at: float | None = None
        stragglers_killed = False
        while selector.get_map():
            for key, _ in selector.select(timeout=_POLL_S):
                fd = int(key.fd)
                try:
                    chunk = os.read(fd, 1 << 16)
                except BlockingIOError:
                    continue
                if chunk:
                    buffers[fd] += chunk
                else:
                    selector.unregister(fd)
            if received:
                outcome.signal = received[0]
                _stop(tree, received[0])
                break
            if deadline is not None and time.monotonic() > deadline:
                outcome.timed_out = True
                _stop(tree, signal.SIGTERM)
                break
            if process.poll() is not None:
                exited_at = exited_at or time.monotonic()
                waited = time.monotonic() - exited_at
                if not stragglers_killed and waited > PIPE_GRACE_S:
                    _kill_tree(tree)  # something the program started still holds its output
                    stragglers_killed = True
                elif waited > 2 * PIPE_GRACE_S:
                    break
    process.wait()
    return outcome


class Finished(NamedTuple):
    """A program that exited by itself: its exit status (negative: the signal) and its output."""

    code: int
    stdout: bytes
    stderr: bytes


@contextmanager
def scratch(tmpdir: str | None, prefix: str = "confighash-") -> Iterator[str]:
    """A private directory under ``tmpdir`` (None: the default temporary directory), removed
    afterwards whatever happens."""
    try:
        directory = tempfile.TemporaryDirectory(
            prefix=prefix, dir=tmpdir, ignore_cleanup_errors=True
        )
    except OSError:
        where = tmpdir if tmpdir is not None else tempfile.gettempdir()
        raise RenderError(
            f"TMPDIR={where} is not a writable directory; set TMPDIR to one"
        ) from None
    with directory as path:
        yield path


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    what: str,
    name: str,
    timeout: float | None = None,
    cwd: str | None = None,
    started: Callable[[], object] | None = None,
) -> Finished:
    """Run ``argv`` with ``env`` (its whole environment) in ``cwd``; give how it exited.

    ``what`` (``kustomize build``) and ``name`` (``kustomize``) word the errors: RenderError when
    it cannot start or ran out of ``timeout``, Stopped when a signal ended confighash's run.
    ``started`` is called once the program is running.
    """
    table = _proc_table()
    before = _children(os.getpid(), table) if table is not None else set()
    adopted = _set_subreaper(True)
    try:
        with _catch_signals() as received:
            try:
                process = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=dict(env),
                    cwd=cwd,
                )
            except OSError as exc:
                raise RenderError(f"cannot run {argv[0]}: {exc.strerror}") from None
            if started is not None:
                started()
            with process:
                outcome = _communicate(_Tree(process, before), timeout, received)
            if received and outcome.signal is None:  # arrived as the program finished
                outcome.signal = received[0]
    finally:
        if adopted:
            _set_subreaper(False)
    if outcome.signal is not None:
        signame = signal.Signals(outcome.signal).name
        raise Stopped(
            f"stopped by {signame}; {name} and everything it started were ended", outcome.signal
        )
    if outcome.timed_out:
        raise RenderError(
            f"{what} did not finish within {timeout:g} s and was stopped "
            "(the limit is --timeout or CONFIGHASH_TIMEOUT)"
        )
    code = process.returncode
    if code < 0:
        raise RenderError(f"{what} was killed by {signal.Signals(-code).name}")
    return Finished(code, bytes(outcome.stdout), bytes(outcome.stderr))
