"""The kustomize renderer: ``kustomize build`` (or ``kubectl kustomize``) of a directory.

The process is run by :mod:`cmp.runner`, which every renderer shares: kustomize stays in
confighash's process group, is ended with everything it started on a signal or at the timeout,
and gets a private TMPDIR under $TMPDIR, removed afterwards. On failure, kustomize's stderr
becomes one line with Secret values redacted (cmp.scrub); on success, what it said (a deprecation
warning) is passed on the same way, as a warning.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence

from cmp import runner
from cmp.errors import RenderError

Which = Callable[[str], "str | None"]


def command(explicit: str | None, which: Which | None = None, path: str | None = None) -> list[str]:
    """argv prefix for a build: ``--kustomize``/``KUSTOMIZE_BIN``, else kustomize, else kubectl.

    ``path`` is the PATH to search (None: the process's own).
    """
    find: Which = which or (lambda name: shutil.which(name, path=path))
    if explicit:
        found = find(explicit)
        if found is None:
            raise RenderError(f"kustomize binary {explicit!r} not found or not executable")
        kubectl = os.path.basename(found) == "kubectl"
        return [found, "kustomize"] if kubectl else [found, "build"]
    found = find("kustomize")
    if found is not None:
        return [found, "build"]
    found = find("kubectl")
    if found is not None:
        return [found, "kustomize"]
    raise RenderError("neither kustomize nor kubectl is on PATH (set --kustomize or KUSTOMIZE_BIN)")


def build(
    prefix: Sequence[str],
    directory: str,
    options: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float | None = None,
    tmpdir: str | None = None,
    redact: Iterable[str] = (),
    started: Callable[[], object] | None = None,
    warn: Callable[[str], object] | None = None,
) -> bytes:
    """Run ``<prefix> <directory> <options>``; return its stdout or raise RenderError.

    ``env`` is kustomize's whole environment, except that TMPDIR is a private directory created
    under ``tmpdir`` and removed afterwards. ``redact`` lists strings (the digest key) that must
    not appear in an error message, besides what :func:`cmp.scrub.sensitive_values` finds.
    ``started`` is called once kustomize is running (the CLI then imports the pipeline meanwhile).
    ``warn`` receives what a successful kustomize said on stderr (a deprecation, say), as one
    line redacted as an error's would be.
    """
    argv = [*prefix, directory, *options]
    with runner.scratch(tmpdir) as scratch:
        done = runner.run(
            argv,
            env={**env, "TMPDIR": scratch},
            what="kustomize build",
            name="kustomize",
            timeout=timeout,
            started=started,
        )
    if done.code != 0:
        detail = redacted(done.stderr, directory, redact)
        raise RenderError(f"kustomize build failed (exit {done.code}): {detail}")
    if warn is not None and done.stderr.strip():
        warn(redacted(done.stderr, directory, redact))
    return done.stdout


def redacted(stderr: bytes, directory: str, redact: Iterable[str]) -> str:
    """A program's stderr as one line, without the Secret values in ``directory`` or ``redact``."""
    from cmp import scrub  # noqa: PLC0415  (only a build that spoke has a message to redact)

    values = scrub.sensitive_values(directory) | set(redact)
    return scrub.error_text(stderr.decode("utf-8", "replace"), values)
