"""Where the repository is, and whether a path stays inside it.

Argo CD refuses what leaves the repository: a value file or file parameter (util/io/path,
ResolveValueFilePathOrUrl), a kustomize component, a manifest reached through a link
(util/app/path CheckOutOfBoundsSymlinks). Every renderer asks the same two questions, so they
are answered once, here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def cmp_workdir(environ: Mapping[str, str]) -> str:
    """argo-cd common.GetCMPWorkDir: ``$ARGOCD_CMP_WORKDIR/_cmp_server``, else under the temp
    directory Go's os.TempDir names."""
    base = environ.get("ARGOCD_CMP_WORKDIR") or environ.get("TMPDIR") or "/tmp"
    return os.path.realpath(os.path.join(base, "_cmp_server"))


def relative(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` if it is ``root`` or inside it, else None (lexically: resolve
    links first where they matter)."""
    rel = os.path.relpath(path, root)
    return None if rel == ".." or rel.startswith(("../", "/")) else rel


def inside(path: str, root: str) -> bool:
    return relative(path, root) is not None


def root(directory: str, environ: Mapping[str, str]) -> tuple[str, bool]:
    """The repository root that holds ``directory``, and whether it is the cmp-server's own copy
    (``$ARGOCD_CMP_WORKDIR/_cmp_server/<request>/``, argo-cd cmpserver/plugin/plugin.go), which a
    render may write into.

    Elsewhere: the directory minus ``$ARGOCD_APP_SOURCE_PATH`` when it ends with it, else the
    nearest ancestor with a ``.git``, else ``directory`` itself.
    """
    real = os.path.realpath(directory)
    work = cmp_workdir(environ)
    rel = relative(real, work)
    if rel is not None and rel != ".":
        return os.path.join(work, rel.split(os.sep, 1)[0]), True
    source = os.path.normpath(environ.get("ARGOCD_APP_SOURCE_PATH") or ".")
    if source not in (".", "/") and not os.path.isabs(source):
        top = real[: -len(source)].rstrip(os.sep) if real.endswith(os.sep + source) else ""
        if top:
            return top, False
    probe = real
    while True:
        if os.path.exists(os.path.join(probe, ".git")):
            return probe, False
        parent = os.path.dirname(probe)
        if parent == probe:
            return real, False
        probe = parent
