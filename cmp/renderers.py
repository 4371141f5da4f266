"""The renderers, one per Argo CD source type, and how a directory's type is found.

Every renderer has one shape: a source directory and its options in, the stream's bytes out,
RenderError (or SettingsError) for what went wrong, each in one line. Programs are run by
:mod:`cmp.runner`, which all of them share (timeout, signals, private scratch directory).

- ``kustomize``: ``kustomize build`` (:mod:`cmp.kustomize`, with the edits of :mod:`cmp.overrides`);
- ``helm``: ``helm template`` with ``spec.source.helm``'s options (:mod:`cmp.helm`);
- ``directory``: the manifest files themselves, as Argo CD reads them (:mod:`cmp.directory`).

The type is chosen as Argo CD v3.6.1 chooses it (util/app/discovery/discovery.go, ``Discover``
and ``AppType``): a walk over the directory's files in lexical order, where a file whose name ends
in ``Chart.yaml`` says helm and a kustomization file (``kustomization.yaml``, ``kustomization.yml``
or ``Kustomization``, util/kustomize/kustomize.go ``KustomizationNames``) says kustomize. Only files
directly in the directory count (``apps["."]``), and the last one in the walk wins, so with both a
kustomization and ``Chart.yaml`` kustomize wins (``Chart.yaml`` sorts first), while
``values-Chart.yaml`` would sort after ``kustomization.yaml`` and win. A directory *named*
``Chart.yaml`` does not count; a symbolic link does, dangling or not (the walk uses lstat). Nothing
found: a plain directory. The ``source-type`` parameter overrides the choice, as
``spec.source.helm`` or ``spec.source.directory`` does in an Application.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from cmp import directory, helm, overrides, repository
from cmp.errors import RenderError, SettingsError

if TYPE_CHECKING:
    from cmp.settings import Settings

SOURCE_TYPES = ("auto", "kustomize", "helm", "directory")
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def detect(path: str) -> str:
    """``kustomize``, ``helm`` or ``directory``: what Argo CD's discovery finds in ``directory``."""
    try:
        with os.scandir(path) as entries:
            names = sorted(e.name for e in entries if not e.is_dir(follow_symlinks=False))
    except FileNotFoundError:
        raise RenderError(f"{path}: no such directory") from None
    except NotADirectoryError:
        raise RenderError(f"{path}: not a directory") from None
    except OSError as exc:
        raise RenderError(f"cannot read the directory {path}: {exc.strerror}") from None
    found = "directory"
    # Go's sort of file names is by bytes; Python's sort of str is by code point, the same order
    # for UTF-8 names
    for name in names:
        if name.endswith("Chart.yaml"):
            found = "helm"
        if name in KUSTOMIZATION_NAMES:
            found = "kustomize"
    return found


def source_type(setting: str, path: str) -> str:
    """The renderer for ``path``: the ``source-type`` setting, unless it is ``auto``."""
    return detect(path) if setting == "auto" else setting


# --- the options of spec.source.helm and spec.source.directory, as plugin parameters ------------

# name -> the plugin parameter's type; the names of ApplicationSourceHelm and
# ApplicationSourceDirectory (argo-cd pkg/apis/application/v1alpha1/types.go). namespace,
# kubeVersion and apiVersions are shared with spec.source.kustomize's (cmp.overrides), as
# GetNamespaceOrDefault, GetKubeVersionOrDefault and GetAPIVersionsOrDefault share them.
HELM_PARAMETERS: dict[str, str] = {
    "releaseName": "string",
    "valueFiles": "array",
    "values": "string",
    "valuesObject": "string",
    "parameters": "string",
    "fileParameters": "string",
    "ignoreMissingValueFiles": "boolean",
    "skipCrds": "boolean",
    "skipSchemaValidation": "boolean",
    "skipTests": "boolean",
}
DIRECTORY_PARAMETERS: dict[str, str] = {
    "recurse": "boolean",
    "include": "string",
    "exclude": "string",
}
PARAMETERS: dict[str, str] = {**HELM_PARAMETERS, **DIRECTORY_PARAMETERS}
SHARED = ("namespace", "kubeVersion", "apiVersions")  # helm's and kustomize's


class SourceOptions(NamedTuple):
    helm: helm.Options = helm.Options()
    directory: directory.Options = directory.Options()
    given: tuple[str, ...] = ()  # the parameter names that were set


def typed(name: str, item: Mapping[str, Any]) -> str | list[str]:
    """A parameter's value, of its type: an array parameter for a list, else a string one."""
    want = "array" if PARAMETERS[name] == "array" else "string"
    given = [key for key in ("string", "array", "map") if item.get(key) is not None]
    if any(key != want for key in given):
        raise SettingsError(name, f"must be {'an' if want == 'array' else 'a'} {want} parameter")
    value = item.get(want)
    if want == "array" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise SettingsError(name, "must be an array parameter of strings")
    if want == "string" and not isinstance(value, str):
        raise SettingsError(name, "must be a string parameter")
    return value if isinstance(value, (str, list)) else ""


def parse(params: Mapping[str, tuple[Any, str]]) -> SourceOptions:
    """The options from the parameters that are set: name -> (value, where it came from)."""
    if not params:
        return SourceOptions()
    v: dict[str, Any] = {}
    for name, (value, origin) in params.items():
        boolean = PARAMETERS[name] == "boolean"
        v[name] = overrides.parse_bool(name, value, origin) if boolean else value
    for name, read in (
        ("parameters", helm.parse_parameters),
        ("fileParameters", helm.parse_file_parameters),
        ("valuesObject", helm.parse_values_object),
    ):
        if name in v:
            v[name] = read(v[name], params[name][1])
    charts = helm.Options(
        release_name=v.get("releaseName", ""),
        value_files=tuple(v.get("valueFiles", ())),
        values=v.get("valuesObject") or v.get("values", ""),
        parameters=v.get("parameters", ()),
        file_parameters=v.get("fileParameters", ()),
        ignore_missing_value_files=v.get("ignoreMissingValueFiles", False),
        skip_crds=v.get("skipCrds", False),
        skip_schema_validation=v.get("skipSchemaValidation", False),
        skip_tests=v.get("skipTests", False),
    )
    plain = directory.Options(
        recurse=v.get("recurse", False), include=v.get("include", ""), exclude=v.get("exclude", "")
    )
    return SourceOptions(charts, plain, tuple(params))


def check_source_type(value: str, origin: str) -> str:
    if value not in SOURCE_TYPES:
        raise SettingsError(
            "source-type", f"{value!r} (from {origin}) is not one of {', '.join(SOURCE_TYPES)}"
        )
    return value


def check_options(kind: str, path: str, conf: Settings) -> None:
    """Options of another source type are refused, as Argo CD refuses an Application with two
    source types ("multiple application sources defined")."""
    kustomize_only = conf.kustomize_overrides.given
    others = {
        "helm": [n for n in conf.source_options.given if n in DIRECTORY_PARAMETERS],
        "directory": [n for n in conf.source_options.given if n in HELM_PARAMETERS],
        "kustomize": list(conf.source_options.given),
    }[kind]
    if kind != "kustomize":
        others += [n for n in kustomize_only if n not in SHARED]
    if others:
        raise SettingsError(
            others[0],
            f"is not an option of a {kind} source, which {path} is rendered as (source-type "
            f"{conf.source_type}); leave it out, or set source-type",
        )


def render(
    kind: str,
    path: str,
    conf: Settings,
    environ: Mapping[str, str],
    *,
    passthrough: Sequence[str] = (),
    redact: Iterable[str] = (),
    started: Callable[[], object] | None = None,
    warn: Callable[[str], object] | None = None,
) -> bytes:
    """The stream of ``path`` rendered as ``kind``; ``passthrough``: kustomize options given
    after ``--`` on the command line."""
    check_options(kind, path, conf)
    if kind == "kustomize":
        return _kustomize(
            path, conf, environ, passthrough, redact=redact, started=started, warn=warn
        )
    root, in_place = repository.root(path, environ)
    if kind == "directory":
        return directory.render(path, root, conf.source_options.directory)
    namespace = conf.kustomize_overrides.namespace  # shared with spec.source.kustomize
    request = helm.Request(
        directory=path,
        root=root,
        in_place=in_place,
        release_name=helm.release_name(conf.source_options.helm.release_name, environ, path),
        namespace=namespace or conf.namespace,
        kube_version=overrides.parse_kube_version(conf.kube_version) if conf.kube_version else None,
        api_versions=conf.kube_api_versions,
        schemes=tuple(environ.get(helm.SCHEMES_VARIABLE, "").replace(",", " ").split()),
    )
    return helm.render(
        conf.source_options.helm,
        request,
        environ=environ,
        path=conf.path,
        timeout=conf.timeout,
        tmpdir=conf.tmpdir,
        redact=redact,
        started=started,
        warn=warn,
    )


def _kustomize(
    path: str,
    conf: Settings,
    environ: Mapping[str, str],
    passthrough: Sequence[str],
    *,
    redact: Iterable[str],
    started: Callable[[], object] | None,
    warn: Callable[[str], object] | None,
) -> bytes:
    """``kustomize build``, after spec.source.kustomize's edits (cmp.overrides)."""
    from cmp import kustomize  # noqa: PLC0415

    prefix = kustomize.command(conf.kustomize, path=conf.path)
    with overrides.applied(
        conf.kustomize_overrides,
        prefix,
        path,
        env=environ,
        timeout=conf.timeout,
        tmpdir=conf.tmpdir,
    ) as target:
        return kustomize.build(
            prefix,
            target,
            conf.build_options(passthrough),
            env=environ,
            timeout=conf.timeout,
            tmpdir=conf.tmpdir,
            redact=redact,
            started=started,
            warn=warn,
        )
