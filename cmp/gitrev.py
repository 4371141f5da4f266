"""The git edge of ``diff``: a directory as it is at another revision, in a temporary worktree.

The user's checkout, index and branches are never touched: ``git worktree add --detach`` checks
the revision out into a fresh temporary directory, hooks disabled, and the worktree is removed and
pruned on the way out, whatever happened in between.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from cmp.errors import RenderError

_TIMEOUT = 300.0


def _git(args: list[str], cwd: str) -> str:
    """Run git; its stdout, or RenderError with its first line of stderr."""
    git = shutil.which("git")
    if git is None:
        raise RenderError("git is not on PATH; git:REV needs it")
    argv = [git, "-c", "core.hooksPath=/dev/null", *args]
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RenderError(f"git {args[0]} failed: {exc}") from None
    if proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = lines[0].strip() if lines else f"exit {proc.returncode}"
        raise RenderError(f"git {args[0]} failed: {detail}")
    return proc.stdout.decode("utf-8", "replace").strip()


def _existing_ancestor(path: Path) -> Path:
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


def _in_repository(message: str, tree: str, top: Path) -> str:
    """``message`` with the temporary worktree's path replaced by the repository's."""
    for shown in {tree, os.path.realpath(tree)}:
        message = message.replace(shown, str(top))
    return message


@contextmanager
def worktree(directory: str, rev: str) -> Iterator[str]:
    """Yield the path of ``directory`` at revision ``rev`` of the repository that encloses it."""
    if shutil.which("git") is None:
        raise RenderError("git is not installed (not found on PATH); git:REV needs it")
    wanted = Path(os.path.abspath(directory))
    start = _existing_ancestor(wanted)
    try:
        top = Path(_git(["rev-parse", "--show-toplevel"], str(start))).resolve()
    except RenderError:
        raise RenderError(f"{directory} is not inside a git repository") from None
    try:
        relative = wanted.resolve().relative_to(top)
    except ValueError:
        raise RenderError(f"{directory} is outside the repository at {top}") from None
    try:
        commit = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], str(top))
    except RenderError:
        raise RenderError(f"no revision {rev!r} in the repository at {top}") from None
    scratch = tempfile.mkdtemp(prefix="confighash-diff-")
    tree = os.path.join(scratch, "tree")
    try:
        _git(["worktree", "add", "--detach", "--quiet", tree, commit], str(top))
        path = os.path.join(tree, relative)
        if not os.path.isdir(path):
            raise RenderError(
                f"{relative} does not exist at revision {rev} of the repository at {top} "
                f"(name the app's directory at that revision with git:{rev}:DIR)"
            )
        try:
            yield path
        except RenderError as exc:  # kustomize quotes the worktree: show the user's paths
            raise RenderError(_in_repository(str(exc), tree, top)) from None
    finally:
        with suppress(RenderError):
            _git(["worktree", "remove", "--force", tree], str(top))
        shutil.rmtree(scratch, ignore_errors=True)
        with suppress(RenderError):
            _git(["worktree", "prune"], str(top))
