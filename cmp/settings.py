"""Settings: Argo CD's environment, the sidecar administrator's, and the command line, read once.

``resolve`` turns one environment mapping (and the command-line flags) into a frozen
:class:`Settings`; no other module reads ``os.environ``.

Plugin parameters (``strict``, ``include-jobs``, ``include-image-pull-secrets``,
``annotation-prefix``, ``precision``, ``allow-empty``, ``build-options``), highest precedence
first:

1. a command-line flag (``--strict``/``--no-strict``, ``--annotation-prefix`` ...), for local use;
2. the Application's ``plugin.parameters``: ``ARGOCD_APP_PARAMETERS`` (JSON) whenever that variable
   exists, where the string ``null`` means "no parameters"; ``PARAM_<NAME>`` only when it is absent
   (``PARAM_`` + the name upper-cased, ``-`` as ``_``, e.g. ``PARAM_INCLUDE_JOBS``);
3. the Application's ``plugin.env`` entry of the same name, ``ARGOCD_ENV_<name>`` (name unchanged,
   e.g. ``ARGOCD_ENV_include-jobs``);
4. the default announced in plugin.yaml. Argo CD does not send announced defaults; they are applied
   here.

An empty value counts as not set. Booleans are ``true`` or ``false`` (any case) or ``1``/``0``;
anything else is an error, never a silent ``false``. An unknown name in ``ARGOCD_APP_PARAMETERS``
is an error too (a misspelt parameter would otherwise do nothing).

Administrator settings come from the sidecar's environment, and a flag overrides each:
``CONFIGHASH_BUILD_OPTIONS`` (``--build-options``), ``CONFIGHASH_TIMEOUT`` (``--timeout``, a Go
duration such as ``2m`` or plain seconds, default 45 s), ``CONFIGHASH_SECRET_KEY_FILE``
(``--secret-key-file``), ``KUSTOMIZE_BIN`` (``--kustomize``).
``CONFIGHASH_ALLOWED_BUILD_OPTIONS`` has no flag. The namespace for objects that set none is
``--namespace``, else ``ARGOCD_APP_NAMESPACE``.

kustomize build options are split by who sets them: the administrator's apply to every render
and may be anything; an Application's ``build-options`` are accepted only when every option name is
in the administrator's allowlist (see :func:`check_app_options`).

Argo CD's ``spec.source.kustomize`` options (``namePrefix``, ``images``, ``replicas`` ...) are
plugin parameters of the same names and types (string, array, map), read only from
``ARGOCD_APP_PARAMETERS`` and checked by :func:`cmp.overrides.parse`.

Every error reads ``invalid setting NAME: ...`` and says where the value came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from cmp import overrides, renderers
from cmp.annotations import DEFAULT_PREFIX, AnnotationKeys
from cmp.digest import prepare_key
from cmp.errors import SettingsError
from cmp.model import PRECISIONS, Precision

MIN_KEY_BYTES = 16
DEFAULT_TIMEOUT = 45.0

# The plugin parameters announced in plugin.yaml, with the defaults announced there.
PARAMETER_DEFAULTS: dict[str, str] = {
    "strict": "false",
    "include-jobs": "false",
    "include-image-pull-secrets": "false",
    "annotation-prefix": DEFAULT_PREFIX,
    "precision": "key",
    "allow-empty": "false",
    "build-options": "",
    "source-type": "auto",
}
BOOLEAN_PARAMETERS = ("strict", "include-jobs", "include-image-pull-secrets", "allow-empty")

# kustomize options that let a repository run programs, or read or write outside itself. An
# Application may add them only if the administrator allowlists them, at the administrator's risk.
ADMIN_ONLY_OPTIONS = frozenset(
    {
        "--enable-helm",
        "--helm-command",
        "--enable-exec",
        "--enable-alpha-plugins",
        "--as-current-user",
        "--load-restrictor",
        "--mount",
        "--network",
        "--env",
        "-e",
        "--output",
        "-o",
    }
)

ALLOWLIST = "CONFIGHASH_ALLOWED_BUILD_OPTIONS"


class Flags(NamedTuple):
    """Values given on the command line; None means "not given"."""

    namespace: str | None = None
    annotation_prefix: str | None = None
    strict: bool | None = None
    include_jobs: bool | None = None
    include_image_pull_secrets: bool | None = None
    allow_empty: bool | None = None
    precision: str | None = None
    secret_key_file: str | None = None
    kustomize: str | None = None
    build_options: str | None = None
    timeout: str | None = None


class Settings(NamedTuple):
    namespace: str | None = None
    annotation_prefix: str = DEFAULT_PREFIX
    strict: bool = False
    include_jobs: bool = False
    include_image_pull_secrets: bool = False
    allow_empty: bool = False
    precision: Precision = "key"
    secret_key_file: str | None = None
    secret_key_origin: str = "CONFIGHASH_SECRET_KEY_FILE"
    kustomize: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    admin_build_options: tuple[str, ...] = ()
    app_build_options: tuple[str, ...] = ()
    kube_version: str | None = None
    kube_api_versions: tuple[str, ...] = ()
    tmpdir: str | None = None
    path: str | None = None  # PATH, to find kustomize
    kustomize_overrides: overrides.Overrides = overrides.Overrides()  # spec.source.kustomize's
    # where each plugin parameter's value came from: "--flag", "parameter", "PARAM_X",
    # "ARGOCD_ENV_x" or "default"
    origins: Mapping[str, str] = MappingProxyType({})
    source_type: str = "auto"  # auto, kustomize, helm or directory (cmp.renderers)
    source_options: renderers.SourceOptions = renderers.SourceOptions()  # helm, directory

    def build_options(self, passthrough: Sequence[str] = ()) -> list[str]:
        """Options for ``kustomize build``: the administrator's, the Application's, the ones after
        ``--`` on the command line, then the cluster's version for Helm when Helm is enabled."""
        options = [*self.admin_build_options, *self.app_build_options, *passthrough]
        return options + helm_options(options, self.kube_version, self.kube_api_versions)


def _param_suffix(name: str) -> str:
    """Argo CD's ``escaped``: upper case, every character outside [A-Z0-9_] as ``_``."""
    return "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name.upper())


def _parameters(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """The Application's parameters that are set: name -> (value, where it came from)."""
    raw = environ.get("ARGOCD_APP_PARAMETERS")
    if raw is None:  # no plugin block (discovery), or not run by Argo CD: PARAM_* if any
        found: dict[str, tuple[str, str]] = {}
        for name in PARAMETER_DEFAULTS:
            var = "PARAM_" + _param_suffix(name)
            if environ.get(var):
                found[name] = (environ[var], var)
        return found
    import json  # noqa: PLC0415  (only Argo CD sets the variable)

    try:
        items = json.loads(raw) if raw.strip() else None
    except ValueError:
        raise SettingsError("ARGOCD_APP_PARAMETERS", "is not valid JSON") from None
    if items is None:
        return {}
    if not isinstance(items, list):
        raise SettingsError("ARGOCD_APP_PARAMETERS", "is not a JSON list of parameters")
    return _json_parameters(items)


def _source_parameter(
    name: str, item: dict[str, Any], seen: set[str], found: dict[str, tuple[Any, str]]
) -> None:
    if name in seen:
        raise SettingsError(name, "parameter given twice")
    seen.add(name)
    if typed := renderers.typed(name, item):
        found[name] = (typed, f"parameter {name}")


def _json_parameters(items: list[Any]) -> dict[str, tuple[Any, str]]:
    found: dict[str, tuple[Any, str]] = {}
    seen: set[str] = set()
    for item in items:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise SettingsError("ARGOCD_APP_PARAMETERS", "has an entry without a name")
        if name in renderers.PARAMETERS:  # spec.source.helm's and spec.source.directory's
            _source_parameter(name, item, seen, found)
            continue
        if name in overrides.PARAMETERS:
            if name in seen:
                raise SettingsError(name, "parameter given twice")
            seen.add(name)
            value = _typed(name, item)
            if value:  # an empty string, array or map: not set
                found[name] = (value, f"parameter {name}")
            continue
        if name not in PARAMETER_DEFAULTS:
            known = ", ".join([*PARAMETER_DEFAULTS, *overrides.PARAMETERS])
            raise SettingsError(name, f"unknown parameter (confighash knows: {known})")
        if name in seen:
            raise SettingsError(name, "parameter given twice")
        seen.add(name)
        if "array" in item or "map" in item:
            raise SettingsError(name, "must be a string parameter, not an array or a map")
        value = item.get("string")
        if value is not None and not isinstance(value, str):
            raise SettingsError(name, "must be a string parameter")
        if value:  # only a name, or an empty string: not set
            found[name] = (value, f"parameter {name}")
    return found


def _typed(name: str, item: dict[str, Any]) -> str | list[str] | dict[str, str] | None:
    """A kustomize option's value, of the type its ApplicationSourceKustomize field has: an array
    parameter for a list, a map parameter for a map, a string parameter for the rest."""
    kind = overrides.PARAMETERS[name]
    want = kind if kind in ("array", "map") else "string"
    given = [key for key in ("string", "array", "map") if key in item and item[key] is not None]
    if any(key != want for key in given):
        raise SettingsError(name, f"must be {'an' if want == 'array' else 'a'} {want} parameter")
    value = item.get(want)
    if want == "array" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise SettingsError(name, "must be an array parameter of strings")
    if want == "map" and not (
        isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    ):
        raise SettingsError(name, "must be a map parameter of strings")
    if want == "string" and not isinstance(value, str):
        raise SettingsError(name, "must be a string parameter")
    return value


_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\u00b5s": 1e-6,  # U+00B5 micro sign, as Go accepts it
    "\u03bcs": 1e-6,  # U+03BC Greek mu
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


def parse_duration(raw: str) -> float:
    """Seconds in a Go duration (``30s``, ``1m30s``, ``500ms``, ``1.5h``), as Go's
    ``time.ParseDuration`` reads it: an optional sign, then one or more decimal numbers each with
    a unit (ns, us, µs, ms, s, m, h); ``0`` alone needs no unit. ValueError for anything else."""
    text = raw[1:] if raw[:1] in "+-" else raw
    sign = -1.0 if raw[:1] == "-" else 1.0
    if text == "0":
        return 0.0
    if not text:
        raise ValueError(raw)
    total, pos = 0.0, 0
    while pos < len(text):
        part = _DURATION_PART.match(text, pos)
        if part is None:
            raise ValueError(raw)
        total += float(part.group(1)) * _DURATION_UNITS[part.group(2)]
        pos = part.end()
    return sign * total


def parse_timeout(raw: str, name: str) -> float:
    """A timeout: a Go duration (``30s``, ``2m``, ``1m30s``) or a plain number of seconds
    (``90``), greater than 0 either way."""
    try:
        value = float(raw)
    except ValueError:
        try:
            value = parse_duration(raw.strip())
        except ValueError:
            raise SettingsError(
                name, f"{raw!r} is not a duration (like 30s, 2m, 1m30s) or a number of seconds"
            ) from None
    if not value > 0 or value == float("inf"):
        raise SettingsError(name, "must be a duration or a number of seconds greater than 0")
    return value


def parse_allowlist(raw: str) -> frozenset[str]:
    """``CONFIGHASH_ALLOWED_BUILD_OPTIONS``: option names, separated by whitespace or commas."""
    names = raw.replace(",", " ").split()
    for name in names:
        if not name.startswith("-") or "=" in name or name.strip("-") == "":
            raise SettingsError(
                ALLOWLIST, f"{name!r} is not an option name (list names like --enable-helm)"
            )
    return frozenset(names)


def option_name(token: str) -> str:
    return token.split("=", 1)[0]


def check_app_options(
    raw: str, allowed: frozenset[str], origin: str = "parameter build-options"
) -> tuple[str, ...]:
    """An Application's build options, split on whitespace, if every option name is allowed.

    A token that starts with ``-`` is an option (``--name`` or ``--name=value``); its name must be
    in ``allowed``. A token without ``-`` is taken as the value of the option just before it, so
    ``--x v`` works; anything else (a path, a second value, ``--``) is refused, because kustomize
    would read it as another directory to build.
    """
    tokens = tuple(raw.split())
    previous: str | None = None  # the option token a value may follow
    for token in tokens:
        if token.startswith("-") and token != "--" and token.strip("-"):
            name = option_name(token)
            if name not in allowed:
                raise SettingsError("build-options", _refusal(name, origin))
            previous = None if "=" in token else token
        elif previous is not None and token != "--":
            previous = None
        else:
            raise SettingsError(
                "build-options",
                f"{token!r} (from {origin}) is not an option; only kustomize build options "
                "(starting with -) may be given",
            )
    return tokens


def _refusal(name: str, origin: str) -> str:
    text = (
        f"option {name} (from {origin}) is not allowed for Applications; the Argo CD "
        f"administrator can allow it by adding {name} to {ALLOWLIST} on the confighash sidecar"
    )
    if name in ADMIN_ONLY_OPTIONS:
        text += (
            " (it lets a repository run programs or touch files outside it: set it for all "
            "Applications in CONFIGHASH_BUILD_OPTIONS, or allowlist it at the administrator's risk)"
        )
    return text


def helm_enabled(options: Sequence[str]) -> bool:
    for token in options:
        name, _, value = token.partition("=")
        if name == "--enable-helm" and value.lower() not in overrides.FALSE:
            return True
    return False


def helm_options(
    options: Sequence[str], kube_version: str | None, api_versions: Sequence[str]
) -> list[str]:
    """``--helm-kube-version`` and one ``--helm-api-versions`` per API version, when Helm is
    enabled, as Argo CD's own kustomize does; an option already given is not added again."""
    if not helm_enabled(options):
        return []
    given = {option_name(t) for t in options}
    extra: list[str] = []
    if kube_version and "--helm-kube-version" not in given:
        extra += ["--helm-kube-version", kube_version]
    if "--helm-api-versions" not in given:
        for version in api_versions:
            extra += ["--helm-api-versions", version]
    return extra


def _pick(
    name: str,
    flag: str | None,
    flag_name: str,
    params: Mapping[str, tuple[str, str]],
    environ: Mapping[str, str],
) -> tuple[str, str]:
    if flag is not None:
        return flag, flag_name
    if name in params:
        return params[name]
    var = f"ARGOCD_ENV_{name}"
    if environ.get(var):
        return environ[var], var
    return PARAMETER_DEFAULTS[name], "default"


def resolve(environ: Mapping[str, str], flags: Flags | None = None) -> Settings:
    """All settings, from one environment mapping and the command-line flags."""
    flags = flags or Flags()
    params = _parameters(environ)
    origins: dict[str, str] = {}

    def text(name: str, flag: str | None) -> str:
        value, origins[name] = _pick(name, flag, f"--{name}", params, environ)
        return value

    def boolean(name: str, flag: bool | None) -> bool:
        if flag is not None:
            origins[name] = f"--{name}"
            return flag
        value = text(name, None)
        return overrides.parse_bool(name, value, origins[name])

    prefix = text("annotation-prefix", flags.annotation_prefix)
    try:
        AnnotationKeys(prefix)
    except SettingsError:
        raise SettingsError(
            "annotation-prefix",
            f"{prefix!r} (from {origins['annotation-prefix']}) is not a DNS subdomain like "
            f"{DEFAULT_PREFIX}",
        ) from None

    precision = text("precision", flags.precision)
    if precision not in PRECISIONS:
        raise SettingsError(
            "precision", f"{precision!r} (from {origins['precision']}) is not key or object"
        )

    if flags.timeout is not None:
        timeout = parse_timeout(flags.timeout, "--timeout")
    elif environ.get("CONFIGHASH_TIMEOUT"):
        timeout = parse_timeout(environ["CONFIGHASH_TIMEOUT"], "CONFIGHASH_TIMEOUT")
    else:
        timeout = DEFAULT_TIMEOUT

    if flags.secret_key_file is not None:
        key_file, key_origin = flags.secret_key_file or None, "--secret-key-file"
    else:
        key_origin = "CONFIGHASH_SECRET_KEY_FILE"
        key_file = environ.get(key_origin) or None

    admin = (
        flags.build_options
        if flags.build_options is not None
        else environ.get("CONFIGHASH_BUILD_OPTIONS", "")
    )
    app_raw = text("build-options", None)
    app: tuple[str, ...] = ()
    if app_raw.strip():
        allowed = parse_allowlist(environ.get(ALLOWLIST, ""))
        app = check_app_options(app_raw, allowed, origins["build-options"])

    api_versions = tuple(
        v.strip() for v in environ.get("KUBE_API_VERSIONS", "").split(",") if v.strip()
    )
    # kubeVersion and apiVersions replace the cluster's, as GetKubeVersionOrDefault and
    # GetAPIVersionsOrDefault do in argo-cd pkg/apis/application/v1alpha1/types.go
    kustomize_options = overrides.parse(
        {name: value for name, value in params.items() if name in overrides.PARAMETERS}, environ
    )
    source = renderers.parse({n: v for n, v in params.items() if n in renderers.PARAMETERS})
    return Settings(
        namespace=flags.namespace or environ.get("ARGOCD_APP_NAMESPACE") or None,
        annotation_prefix=prefix,
        strict=boolean("strict", flags.strict),
        include_jobs=boolean("include-jobs", flags.include_jobs),
        include_image_pull_secrets=boolean(
            "include-image-pull-secrets", flags.include_image_pull_secrets
        ),
        allow_empty=boolean("allow-empty", flags.allow_empty),
        precision="object" if precision == "object" else "key",
        secret_key_file=key_file,
        secret_key_origin=key_origin,
        kustomize=flags.kustomize or environ.get("KUSTOMIZE_BIN") or None,
        timeout=timeout,
        admin_build_options=tuple(admin.split()),
        app_build_options=app,
        kube_version=kustomize_options.kube_version or environ.get("KUBE_VERSION") or None,
        kube_api_versions=kustomize_options.api_versions or api_versions,
        kustomize_overrides=kustomize_options,
        tmpdir=environ.get("TMPDIR") or None,
        path=environ.get("PATH"),
        source_type=renderers.check_source_type(
            text("source-type", None), origins.get("source-type", "default")
        ),
        source_options=source,
        origins=origins,
    )


def read_secret_key(path: str, name: str = "--secret-key-file") -> bytes:
    """The digest key from a file; its content is never echoed in any message.

    A named file that cannot be read is an error, never a silent fall-back to unkeyed digests.
    """
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except OSError as exc:
        raise SettingsError(
            name, f"cannot read the secret key file {path}: {exc.strerror}"
        ) from None
    key = prepare_key(raw)
    if len(key) < MIN_KEY_BYTES:
        raise SettingsError(
            name,
            f"the secret key file {path} holds {len(key)} bytes; use at least {MIN_KEY_BYTES}",
        )
    return key
