"""The helm renderer: ``helm template`` of a chart kept in Git, with ``spec.source.helm``'s options.

Argo CD ignores ``spec.source.helm`` when a plugin renders a source, so confighash takes the same
options as plugin parameters of the same names, and runs ``helm template`` the way Argo CD v3.6.1
does (reposerver/repository/repository.go ``helmTemplate``, ``getResolvedValueFiles``;
util/helm/cmd.go ``template``; util/io/path/resolved.go ``ResolveValueFilePathOrUrl``):

- ``helm template . --name-template NAME`` in the chart directory; NAME is ``releaseName``, else
  the Application's name (``ARGOCD_APP_NAME`` after its ``<namespace>_`` if any, as
  ``argo.ParseInstanceName``), else, outside Argo CD, the directory's name.
- ``--namespace``: the ``namespace`` parameter, else the Application's destination namespace;
  ``--kube-version`` and ``--api-versions``: the ``kubeVersion`` and ``apiVersions`` parameters,
  else the cluster's (``KUBE_VERSION``, ``KUBE_API_VERSIONS``). These three are shared with the
  kustomize options, as ``GetNamespaceOrDefault`` and the others share them in Argo CD.
- ``--set`` / ``--set-string`` (``forceString``) per parameter, values with ``$ARGOCD_APP_*``
  substituted and unescaped commas escaped (``cleanSetParameters``); ``--set-file`` per file
  parameter; ``--values`` per value file, then one for ``values``/``valuesObject``;
  ``--include-crds`` unless ``skipCrds``; ``--skip-schema-validation``; ``--skip-tests``.
- Value files and file parameters: relative to the chart, or, when absolute, to the repository
  root; symbolic links resolved; a file outside the repository, or the root itself, is refused.
  A URL is refused unless the administrator lists its scheme in
  ``CONFIGHASH_HELM_VALUES_FILE_SCHEMES`` (Argo CD's ``helm.valuesFileSchemes``). Globs are
  expanded in lexical order, an explicitly listed file keeping its own place. A missing file is an
  error unless ``ignoreMissingValueFiles``. ``$ref/...`` paths name other sources of a
  multi-source Application, which a plugin never sees: refused.
- When the chart's dependencies are missing from ``charts/``, ``helm dependency build`` runs and
  the template is tried again (``runHelmBuild``). The cmp-server gives each request its own copy
  of the repository, so this writes nowhere that outlives the request; run locally, it writes
  ``charts/`` into the chart as ``helm dependency build`` does.
- Helm's homes (``HELM_CACHE_HOME``, ``HELM_CONFIG_HOME``, ``HELM_DATA_HOME`` and the ``XDG_``
  ones) and TMPDIR are in the request's private scratch directory: the sidecar's home is
  read-only. No post-renderer is ever passed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from cmp import repository
from cmp.errors import RenderError, SettingsError

if TYPE_CHECKING:
    from cmp import runner

SCHEMES_VARIABLE = "CONFIGHASH_HELM_VALUES_FILE_SCHEMES"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_GLOB = re.compile(r"[*?\[]")
_MISSING_DEPENDENCY = (
    "found in requirements.yaml, but missing in charts",
    "found in Chart.yaml, but missing in charts/ directory",
)


class Parameter(NamedTuple):
    name: str
    value: str
    force_string: bool = False


class Options(NamedTuple):
    """spec.source.helm's options (ApplicationSourceHelm), as plugin parameters; empty: unset."""

    release_name: str = ""
    value_files: tuple[str, ...] = ()
    values: str = ""  # values, or valuesObject as YAML (which wins, as ValuesYAML has it)
    parameters: tuple[Parameter, ...] = ()
    file_parameters: tuple[tuple[str, str], ...] = ()
    ignore_missing_value_files: bool = False
    skip_crds: bool = False
    skip_schema_validation: bool = False
    skip_tests: bool = False


class Request(NamedTuple):
    """What one helm render needs beyond the options: where, and the Application's context."""

    directory: str
    root: str  # the repository root
    release_name: str
    namespace: str | None
    kube_version: str | None
    api_versions: tuple[str, ...]
    schemes: tuple[str, ...]  # URL schemes allowed for value files
    in_place: bool = False  # the cmp-server's own copy of the repository, which may be written


def clean_set_value(value: str) -> str:
    """util/helm/cmd.go ``cleanSetParameters``: a ``{...}`` list stays; else every comma not
    already escaped is escaped."""
    if value.startswith("{") and value.endswith("}"):
        return value
    out: list[str] = []
    previous = ""
    for c in value:
        out.append("\\," if c == "," and previous != "\\" else c)
        previous = c
    return "".join(out)


def release_name(explicit: str, environ: Mapping[str, str], directory: str) -> str:
    if explicit:
        return explicit
    app = environ.get("ARGOCD_APP_NAME", "")
    if app:
        return app.split("_", 1)[1] if "_" in app else app
    return os.path.basename(os.path.realpath(directory))


def _resolve_path(raw: str, request: Request, what: str) -> str:
    """``resolveFileOrDirectory``: relative to the chart, absolute to the repository root; links
    resolved; inside the repository and not the root itself."""
    root = os.path.realpath(request.root)
    base = os.path.realpath(request.directory)
    joined = (
        os.path.join(root, raw.lstrip(os.sep)) if os.path.isabs(raw) else os.path.join(base, raw)
    )
    path = os.path.realpath(joined) if not _GLOB.search(joined) else os.path.abspath(joined)
    if path == root:
        raise SettingsError(what, f"{raw!r} resolves to the repository root, which is not allowed")
    if not repository.inside(path, root):
        raise SettingsError(what, f"file {raw!r} resolved to outside repository root")
    return path


def _url(raw: str, request: Request, what: str) -> bool:
    """Whether ``raw`` is a URL Argo CD would pass on; refuse one whose scheme is not allowed."""
    match = _SCHEME.match(raw)
    if match is None:
        return False
    scheme = match.group(1)
    if scheme.lower() in (s.lower() for s in request.schemes):
        return True
    raise SettingsError(
        what,
        f"{raw!r}: the URL scheme {scheme!r} is not allowed (the administrator may allow it in "
        f"{SCHEMES_VARIABLE} on the confighash sidecar, as helm.valuesFileSchemes in argocd-cm)",
    )


def _refuse_ref(raw: str, what: str) -> None:
    if raw.startswith("$"):
        raise SettingsError(
            what,
            f"{raw!r} refers to another source of a multi-source Application, which Argo CD does "
            "not give a plugin; keep the file in this source",
        )


def value_files(
    raw_files: Sequence[str], request: Request, ignore_missing: bool, environ: Mapping[str, str]
) -> list[str]:
    """``getResolvedValueFiles``: the ``--values`` arguments, in order, without duplicates."""
    from cmp.overrides import envsubst  # noqa: PLC0415

    resolved: list[tuple[str, str, bool]] = []  # (raw, path or URL, is a URL)
    for raw in raw_files:
        _refuse_ref(raw, "valueFiles")
        text = envsubst(raw, environ)
        if _url(text, request, "valueFiles"):
            resolved.append((raw, text, True))
        else:
            resolved.append((raw, _resolve_path(text, request, "valueFiles"), False))
    explicit = {path for _, path, url in resolved if not url and not _GLOB.search(path)}
    out: list[str] = []

    def add(path: str) -> None:
        if path not in out:
            out.append(path)

    root = os.path.realpath(request.root)
    for raw, path, url in resolved:
        if not url and _GLOB.search(path):
            for match in _glob(raw, path, root, ignore_missing):
                if match not in explicit:
                    add(match)
            continue
        if not url and not os.path.exists(path):
            if ignore_missing:
                continue
            rel = os.path.relpath(path, root)
            raise SettingsError(
                "valueFiles",
                f"{raw!r}: the value file {rel} does not exist (set ignoreMissingValueFiles to "
                "leave missing files out)",
            )
        add(path)
    return out


def _glob(raw: str, pattern: str, root: str, ignore_missing: bool) -> list[str]:
    """A value file glob's matches, in lexical order, all inside the repository."""
    import glob  # noqa: PLC0415

    matches = sorted(glob.glob(pattern, recursive=True))
    if not matches and not ignore_missing:
        raise SettingsError("valueFiles", f"{raw!r}: the glob matched no files")
    for match in matches:
        if not repository.inside(os.path.realpath(match), root):
            raise SettingsError("valueFiles", f"{raw!r}: {match} is outside the repository")
    return matches


def _set_args(options: Options, request: Request, environ: Mapping[str, str]) -> list[str]:
    """``--set``, ``--set-string`` and ``--set-file``, one per name (the last value wins)."""
    from cmp.overrides import envsubst  # noqa: PLC0415

    sets: dict[str, str] = {}
    set_strings: dict[str, str] = {}
    for p in options.parameters:
        (set_strings if p.force_string else sets)[p.name] = envsubst(p.value, environ)
    files: dict[str, str] = {}
    for name, raw in options.file_parameters:
        _refuse_ref(raw, "fileParameters")
        text = envsubst(raw, environ)
        url = _url(text, request, "fileParameters")
        files[name] = text if url else _resolve_path(text, request, "fileParameters")
    args: list[str] = []
    for flag, values in (("--set", sets), ("--set-string", set_strings), ("--set-file", files)):
        for key, value in values.items():
            args += [flag, f"{key}={clean_set_value(value)}"]
    return args


def template_args(
    options: Options, request: Request, extra_values: str | None, environ: Mapping[str, str]
) -> list[str]:
    """The arguments after ``helm``, as ``Cmd.template`` builds them."""
    args = ["template", ".", "--name-template", request.release_name]
    if request.namespace:
        args += ["--namespace", request.namespace]
    if request.kube_version:
        args += ["--kube-version", request.kube_version]
    args += _set_args(options, request, environ)
    for path in value_files(
        options.value_files, request, options.ignore_missing_value_files, environ
    ):
        args += ["--values", path]
    if extra_values is not None:
        args += ["--values", extra_values]
    for version in request.api_versions:
        args += ["--api-versions", version]
    if not options.skip_crds:
        args.append("--include-crds")
    if options.skip_schema_validation:
        args.append("--skip-schema-validation")
    if options.skip_tests:
        args.append("--skip-tests")
    return args


def _homes(scratch: str) -> dict[str, str]:
    """Helm's cache, config and data in the request's scratch directory (util/helm/cmd.go sets
    the XDG_ ones and HELM_CONFIG_HOME; confighash sets all six)."""
    homes = {}
    for kind in ("cache", "config", "data"):
        path = os.path.join(scratch, "helm", kind)
        os.makedirs(path, exist_ok=True)
        homes[f"HELM_{kind.upper()}_HOME"] = path
        homes[f"XDG_{kind.upper()}_HOME"] = path
    return homes


def _helm_env(environ: Mapping[str, str], scratch: str) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if k != "HELM_POST_RENDERER"}
    return {**env, **_homes(scratch), "TMPDIR": scratch}


def render(
    options: Options,
    request: Request,
    *,
    environ: Mapping[str, str],
    path: str | None = None,
    timeout: float | None = None,
    tmpdir: str | None = None,
    redact: Iterable[str] = (),
    started: Callable[[], object] | None = None,
    warn: Callable[[str], object] | None = None,
) -> bytes:
    """``helm template`` of ``request.directory``; its stdout, or RenderError in one line."""
    import shutil  # noqa: PLC0415

    from cmp import runner  # noqa: PLC0415
    from cmp.kustomize import redacted  # noqa: PLC0415

    helm = shutil.which("helm", path=path)
    if helm is None:
        raise RenderError("helm is not on PATH; the chart cannot be rendered")
    if not os.path.isfile(os.path.join(request.directory, "Chart.yaml")):
        raise RenderError(f"{request.directory}: no Chart.yaml, so this is not a Helm chart")
    redact = list(redact)
    deadline = None if timeout is None else _now() + timeout
    with runner.scratch(tmpdir) as scratch:
        env = _helm_env(environ, scratch)
        extra = None
        if options.values:
            extra = os.path.join(scratch, "values-from-source.yaml")
            with open(extra, "w", encoding="utf-8") as file:
                file.write(options.values)
        args = template_args(options, request, extra, environ)

        def run(argv: Sequence[str], what: str, cwd: str) -> runner.Finished:
            left = None if deadline is None else max(deadline - _now(), 0.001)
            return runner.run(
                [helm, *argv],
                env=env,
                what=what,
                name="helm",
                timeout=left,
                cwd=cwd,
                started=started,
            )

        chart = request.directory
        lock = os.path.join(chart, "Chart.lock")
        had_lock = os.path.exists(lock)
        done = run(args, "helm template", chart)
        text = done.stderr.decode("utf-8", "replace")
        if done.code != 0 and any(m in text for m in _MISSING_DEPENDENCY):
            if not request.in_place:  # never write charts/ into the user's own checkout
                chart = _mirror(os.path.realpath(chart), os.path.join(scratch, "chart"))
                lock = os.path.join(chart, "Chart.lock")
            built = run(["dependency", "build"], "helm dependency build", chart)
            if built.code != 0:
                detail = redacted(built.stderr, request.directory, redact)
                raise RenderError(f"helm dependency build failed (exit {built.code}): {detail}")
            had_lock = had_lock or os.path.exists(lock)
            done = run(args, "helm template", chart)
        if not had_lock and os.path.exists(lock):  # cleanupChartLockFile
            os.remove(lock)
    if done.code != 0:
        detail = redacted(done.stderr, request.directory, redact)
        if extra is not None:
            detail = detail.replace(extra, "<values from the values/valuesObject parameter>")
        detail = detail.replace(scratch, "<scratch>")
        raise RenderError(f"helm template failed (exit {done.code}): {detail}")
    if warn is not None and done.stderr.strip():
        warn(redacted(done.stderr, request.directory, redact))
    return done.stdout


def _mirror(real: str, scratch: str) -> str:
    """A copy of the chart ``real`` at ``scratch + real``, every other entry on the way down
    from ``/`` a link to the original, so that ``file://../x`` dependencies still resolve."""
    import shutil  # noqa: PLC0415

    source, target = os.sep, scratch
    os.makedirs(scratch, exist_ok=True)
    for part in real.strip(os.sep).split(os.sep)[:-1]:
        try:
            entries = [e for e in os.listdir(source) if e != part]
        except OSError:
            entries = []
        for entry in entries:
            os.symlink(os.path.join(source, entry), os.path.join(target, entry))
        source, target = os.path.join(source, part), os.path.join(target, part)
        os.mkdir(target)
    for entry in os.listdir(source):
        if entry != os.path.basename(real):
            os.symlink(os.path.join(source, entry), os.path.join(target, entry))
    copy = os.path.join(target, os.path.basename(real))
    shutil.copytree(real, copy, symlinks=True)
    return copy


def _now() -> float:
    import time  # noqa: PLC0415

    return time.monotonic()


# --- the parameters ------------------------------------------------------------------------------


def _yaml(raw: str, name: str, origin: str) -> Any:
    import yaml  # noqa: PLC0415

    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise SettingsError(name, f"(from {origin}) is not YAML or JSON: {problem}") from None


def parse_parameters(raw: str, origin: str) -> tuple[Parameter, ...]:
    """``parameters``: the list of ``{name, value, forceString}`` as in spec.source.helm, as YAML
    or JSON text."""
    items = _yaml(raw, "parameters", origin)
    if not isinstance(items, list):
        raise SettingsError("parameters", f"(from {origin}) must be a list of {{name, value}}")
    out = []
    for item in items:
        if not isinstance(item, dict) or set(item) - {"name", "value", "forceString"}:
            raise SettingsError(
                "parameters", f"(from {origin}) {item!r} is not a {{name, value, forceString}}"
            )
        force = item.get("forceString", False)
        if not isinstance(force, bool):
            raise SettingsError("parameters", f"(from {origin}) forceString must be true or false")
        out.append(Parameter(_scalar(item.get("name")), _scalar(item.get("value")), force))
    return tuple(out)


def parse_file_parameters(raw: str, origin: str) -> tuple[tuple[str, str], ...]:
    """``fileParameters``: the list of ``{name, path}`` as in spec.source.helm, as YAML or JSON."""
    items = _yaml(raw, "fileParameters", origin)
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and not set(i) - {"name", "path"} for i in items
    ):
        raise SettingsError("fileParameters", f"(from {origin}) must be a list of {{name, path}}")
    return tuple(
        (_scalar(i.get("name"), "fileParameters"), _scalar(i.get("path"), "fileParameters"))
        for i in items
    )


def parse_values_object(raw: str, origin: str) -> str:
    """``valuesObject``: an object, as YAML or JSON text; given back as the YAML helm reads."""
    value = _yaml(raw, "valuesObject", origin)
    if not isinstance(value, dict):
        raise SettingsError("valuesObject", f"(from {origin}) must be an object (a YAML mapping)")
    import json  # noqa: PLC0415

    return json.dumps(value) + "\n"  # JSON is YAML; JSONToYAML changes nothing helm reads


def _scalar(value: Any, name: str = "parameters") -> str:
    """A string field; a YAML number or boolean must be quoted, as the Application's schema
    requires a string there."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SettingsError(name, f"{value!r} must be a string: quote it")
    return value
