"""Argo CD's ``spec.source.kustomize`` options, as plugin parameters of the same name.

Argo CD ignores ``spec.source.kustomize`` when a plugin renders a source, so confighash takes the
same options as plugin parameters, key for key (``namePrefix``, ``images``, ``replicas`` ...), and
applies them the way Argo CD v3.6.1 does in ``util/kustomize/kustomize.go`` ``Build()``: a series
of ``kustomize edit`` commands in the kustomization directory, in the same order and with the same
flags, the inline patches written into the kustomization file, then the build.

:func:`parse` reads and checks the parameters (in :func:`cmp.settings.resolve`, before anything
runs); :func:`applied` makes the edits, in a working copy that it removes afterwards.

Where the edits happen: the cmp-server gives every request its own copy of the repository
(``$ARGOCD_CMP_WORKDIR/_cmp_server/<random>/``, see argo-cd ``cmpserver/plugin/plugin.go``), so
there the directory is edited in place. Anywhere else (a local run), the user's files are never
touched: the build directory is copied into a temporary tree that mirrors its absolute path, with
every other entry on the way down a symbolic link to the original, so that ``../base`` and
``../../components/x`` still resolve to what they resolve to in the original.

Values are data: every edit is an argv list (never a shell), and where a value could be read as a
flag, confighash refuses it as Argo CD's render would fail on it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, NamedTuple

from cmp import repository
from cmp.errors import RenderError, SettingsError

# name -> the plugin parameter's type; the names are those of ApplicationSourceKustomize (argo-cd
# pkg/apis/application/v1alpha1/types.go), in the order Build() applies them
PARAMETERS: dict[str, str] = {
    "namePrefix": "string",
    "nameSuffix": "string",
    "images": "array",
    "replicas": "map",
    "commonLabels": "map",
    "forceCommonLabels": "boolean",
    "labelWithoutSelector": "boolean",
    "labelIncludeTemplates": "boolean",
    "commonAnnotations": "map",
    "forceCommonAnnotations": "boolean",
    "commonAnnotationsEnvsubst": "boolean",
    "namespace": "string",
    "patches": "string",
    "components": "array",
    "ignoreMissingComponents": "boolean",
    "kubeVersion": "string",
    "apiVersions": "array",
    "version": "string",
}

# the variables Argo CD's Envsubst knows: newEnv() in argo-cd reposerver/repository/repository.go
# (KUBE_VERSION and the plugin's ARGOCD_ENV_* are not among them)
APP_VARIABLES = (
    "ARGOCD_APP_NAME",
    "ARGOCD_APP_NAMESPACE",
    "ARGOCD_APP_PROJECT_NAME",
    "ARGOCD_APP_REVISION",
    "ARGOCD_APP_REVISION_SHORT",
    "ARGOCD_APP_REVISION_SHORT_8",
    "ARGOCD_APP_SOURCE_REPO_URL",
    "ARGOCD_APP_SOURCE_PATH",
    "ARGOCD_APP_SOURCE_TARGET_REVISION",
)
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_PATCH_KEYS = {"path": str, "patch": str, "target": dict, "options": dict}
# KustomizeSelector: KustomizeGvk and KustomizeResId inline, then the two selectors
_TARGET_KEYS = (
    "group",
    "version",
    "kind",
    "name",
    "namespace",
    "annotationSelector",
    "labelSelector",
)
_INT64 = (-(2**63), 2**63 - 1)
_ATOI = re.compile(r"[+-]?[0-9]+")
_KUBE_VERSION = re.compile(r"\s*v?([0-9]+(?:\.[0-9]+)*).*", re.DOTALL)
TRUE, FALSE = ("true", "1"), ("false", "0")  # what a boolean parameter accepts, any case


class Overrides(NamedTuple):
    """The options as Build() applies them; empty values mean "not set"."""

    name_prefix: str = ""
    name_suffix: str = ""
    images: tuple[str, ...] = ()  # after envsubst
    replicas: tuple[tuple[str, int], ...] = ()
    common_labels: tuple[tuple[str, str], ...] = ()  # values after envsubst
    force_common_labels: bool = False
    label_without_selector: bool = False
    label_include_templates: bool = False
    common_annotations: tuple[tuple[str, str], ...] = ()  # envsubst'd only if asked
    force_common_annotations: bool = False
    namespace: str = ""
    patches: tuple[dict[str, Any], ...] = ()  # as Argo CD marshals KustomizePatch
    components: tuple[str, ...] = ()
    ignore_missing_components: bool = False
    kube_version: str | None = None  # parsed as Argo CD parses it
    api_versions: tuple[str, ...] = ()
    given: tuple[str, ...] = ()  # the parameter names that were set, for messages

    def edits(self) -> bool:
        """Whether the kustomization must be edited (kubeVersion/apiVersions need no edit)."""
        return bool(
            self.name_prefix
            or self.name_suffix
            or self.images
            or self.replicas
            or self.common_labels
            or self.common_annotations
            or self.namespace
            or self.patches
            or self.components
        )


def envsubst(text: str, environ: Mapping[str, str]) -> str:
    """Argo CD's ``Env.Envsubst`` (types.go): Go's ``os.Expand`` over the Application's variables,
    ``$$`` for one ``$``, an unknown variable as empty; ``$(...)`` stays as it is."""
    known = {name: environ.get(name, "") for name in APP_VARIABLES}
    out: list[str] = []
    i = j = 0
    while j < len(text):
        if text[j] == "$" and j + 1 < len(text):
            out.append(text[i:j])
            name, width = _shell_name(text[j + 1 :])
            if name == "" and width > 0:
                pass  # bad syntax (``${}``, an unclosed ``${``): Go eats it
            elif name == "":
                out.append("$")
            else:
                out.append("$" if name == "$" else known.get(name, ""))
            j += width
            i = j + 1
        j += 1
    out.append(text[i:])
    return "".join(out)


def _shell_name(s: str) -> tuple[str, int]:
    """Go's ``os.getShellName``."""
    special = "*#$@!?-0123456789"
    if s[0] == "{":
        if len(s) > 2 and s[1] in special and s[2] == "}":
            return s[1], 3
        end = s.find("}", 1)
        if end == 1:
            return "", 2
        if end < 0:
            return "", 1
        return s[1:end], end + 1
    if s[0] in special:
        return s[0], 1
    width = 0
    while width < len(s) and (s[width] == "_" or (s[width].isascii() and s[width].isalnum())):
        width += 1
    return s[:width], width


def parse_kube_version(raw: str, name: str = "kubeVersion") -> str:
    """``parseKubeVersion`` (repository.go): k8s.io/apimachinery's ``ParseGeneric``, then
    ``String()``: ``v1.29.3-eks.1`` is ``1.29.3``; at least two numeric components."""
    match = _KUBE_VERSION.fullmatch(raw)
    parts = match.group(1).split(".") if match else []
    if len(parts) < 2 or (len(parts[0]) > 1 and parts[0].startswith("0")):
        raise SettingsError(name, f"{raw!r} is not a Kubernetes version like 1.29 or v1.29.3")
    return ".".join(str(int(p)) for p in parts)


def _image_is_malformed(image: str) -> bool:
    """What ``kustomize edit set image`` refuses (commands/edit/set/setimage.go ``parse``): no
    ``=``, and neither a tag nor a digest after the registry's first ``/``."""
    if "=" in image:
        return False
    slash = image.find("/")
    search = image[slash:] if slash > 0 else image
    return ":" not in search and "@" not in search


def _flag_like(name: str, value: str, origin: str, what: str) -> None:
    if value.startswith("-"):
        raise SettingsError(
            name,
            f"{what} {value!r} (from {origin}) starts with '-'; kustomize edit would read it as an "
            "option, so Argo CD's render fails on it too",
        )


def _count(name: str, key: str, raw: str, origin: str) -> int:
    """``KustomizeReplica.GetIntCount``: Go's ``strconv.Atoi``."""
    if _ATOI.fullmatch(raw) and _INT64[0] <= int(raw) <= _INT64[1]:
        return int(raw)
    raise SettingsError(name, f"count {raw!r} for {key!r} (from {origin}) is not an integer")


def _patches(raw: str, origin: str) -> tuple[dict[str, Any], ...]:
    import yaml  # noqa: PLC0415  (only a render with patches reads YAML here)

    try:
        items = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SettingsError(
            "patches", f"(from {origin}) is not valid YAML or JSON{where}"
        ) from None
    if not isinstance(items, list):
        raise SettingsError(
            "patches",
            f"(from {origin}) is not a list; write it as under spec.source.kustomize.patches, "
            "a list of {path, patch, target, options}",
        )
    return tuple(_patch(item, f"patch {n} (from {origin})") for n, item in enumerate(items, 1))


def _patch(item: Any, where: str) -> dict[str, Any]:
    """One KustomizePatch, as Argo CD marshals it (omitempty: empty fields are left out)."""
    if not isinstance(item, dict):
        raise SettingsError("patches", f"{where} is not a mapping")
    patch: dict[str, Any] = {}
    for key, value in item.items():
        kind = _PATCH_KEYS.get(key)
        if kind is None:
            known = ", ".join(_PATCH_KEYS)
            raise SettingsError("patches", f"{where} has an unknown key {key!r} ({known})")
        if not isinstance(value, kind):
            raise SettingsError("patches", f"{where}: {key} must be a {kind.__name__}")
        if key == "target":
            patch[key] = _target(value, where)
        elif key == "options":
            if not all(isinstance(v, bool) for v in value.values()):
                raise SettingsError("patches", f"{where}: options must be true or false")
            if value:
                patch[key] = {str(k): v for k, v in value.items()}
        elif value:
            patch[key] = value
    return patch


def _target(value: dict[str, Any], where: str) -> dict[str, str]:
    target: dict[str, str] = {}
    for key, field in value.items():
        if key not in _TARGET_KEYS:
            known = ", ".join(_TARGET_KEYS)
            raise SettingsError("patches", f"{where}: target has an unknown key {key!r} ({known})")
        if not isinstance(field, str):
            raise SettingsError("patches", f"{where}: target.{key} must be a string")
        if field:
            target[key] = field
    return target


def parse_bool(name: str, value: str, origin: str) -> bool:
    """A boolean parameter (every one: confighash's own and spec.source's options)."""
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise SettingsError(name, f'{value!r} (from {origin}) is not "true" or "false"')


def _images(name: str, value: list[str], origin: str, environ: Mapping[str, str]) -> Any:
    images = []
    for raw in value:
        image = envsubst(raw, environ)  # Build() substitutes, then kustomize parses
        _flag_like(name, image, origin, "image")
        if _image_is_malformed(image):
            raise SettingsError(
                name,
                f"{image!r} (from {origin}) is not an image override; use NAME:TAG, "
                "NAME@DIGEST, NAME=NEWNAME, NAME=NEWNAME:TAG or NAME=NEWNAME@DIGEST",
            )
        images.append(image)
    return tuple(images)


def _replicas(name: str, value: dict[str, str], origin: str, _env: Mapping[str, str]) -> Any:
    for key in value:
        _flag_like(name, key, origin, "name")
    return tuple((k, _count(name, k, v, origin)) for k, v in value.items())


def _metadata(name: str, value: dict[str, str], origin: str, _env: Mapping[str, str]) -> Any:
    for key in value:
        _flag_like(name, key, origin, "key")
    return tuple(value.items())


def _components(name: str, value: list[str], origin: str, _env: Mapping[str, str]) -> Any:
    for component in value:
        _flag_like(name, component, origin, "component")
        if os.path.isabs(component):
            raise SettingsError(
                name, f"{component!r} (from {origin}) leaves the repository: it is absolute"
            )
    return tuple(value)


def _version(name: str, _value: str, origin: str, _env: Mapping[str, str]) -> Any:
    raise SettingsError(
        name,
        f"(from {origin}) selects one of argocd-cm's kustomize.path.<version> binaries, which a "
        "plugin cannot; confighash runs the sidecar's kustomize (KUSTOMIZE_BIN)",
    )


_CONVERT: dict[str, Callable[[str, Any, str, Mapping[str, str]], Any]] = {
    "images": _images,
    "replicas": _replicas,
    "commonLabels": _metadata,
    "commonAnnotations": _metadata,
    "components": _components,
    "patches": lambda _n, value, origin, _e: _patches(value, origin),
    "kubeVersion": lambda _n, value, _o, _e: parse_kube_version(value),
    "apiVersions": lambda _n, value, _o, _e: tuple(value),
    "version": _version,
}


def parse(params: Mapping[str, tuple[Any, str]], environ: Mapping[str, str]) -> Overrides:
    """The options from the parameters that are set: name -> (value, where it came from).

    A value is a str, a list of str (array) or a dict of str (map), as its type in PARAMETERS
    says; :func:`cmp.settings._json_parameters` has checked that.
    """
    if not params:
        return Overrides()
    values: dict[str, Any] = {}
    for name, (value, origin) in params.items():
        if PARAMETERS[name] == "boolean":
            values[name] = parse_bool(name, value, origin)
        elif name in _CONVERT:
            values[name] = _CONVERT[name](name, value, origin, environ)
        else:
            values[name] = value
    labels = tuple((k, envsubst(v, environ)) for k, v in values.get("commonLabels", ()))
    annotations = values.get("commonAnnotations", ())
    if values.get("commonAnnotationsEnvsubst"):
        annotations = tuple((k, envsubst(v, environ)) for k, v in annotations)
    return Overrides(
        name_prefix=values.get("namePrefix", ""),
        name_suffix=values.get("nameSuffix", ""),
        images=values.get("images", ()),
        replicas=values.get("replicas", ()),
        common_labels=labels,
        force_common_labels=values.get("forceCommonLabels", False),
        label_without_selector=values.get("labelWithoutSelector", False),
        label_include_templates=values.get("labelIncludeTemplates", False),
        common_annotations=annotations,
        force_common_annotations=values.get("forceCommonAnnotations", False),
        namespace=values.get("namespace", ""),
        patches=values.get("patches", ()),
        components=values.get("components", ()),
        ignore_missing_components=values.get("ignoreMissingComponents", False),
        kube_version=values.get("kubeVersion"),
        api_versions=tuple(values.get("apiVersions", ())),
        given=tuple(params),
    )


def check_components(ov: Overrides, directory: str, environ: Mapping[str, str]) -> None:
    """Refuse a component path that leaves the repository, lexically or through a link."""
    root, _ = repository.root(directory, environ)
    real = os.path.realpath(directory)
    for component in ov.components:
        joined = os.path.normpath(os.path.join(real, component))
        if not repository.inside(joined, root) or not repository.inside(
            os.path.realpath(joined), root
        ):
            raise SettingsError(
                "components",
                f"{component!r} (from parameter components) leaves the repository {root}",
            )


def _found_components(ov: Overrides, directory: str, root: str) -> list[str]:
    """The components Build() adds. With ignoreMissingComponents, Argo CD v3.6.1 keeps the
    components whose directory holds a kustomization file, but its loop ends at the first one it
    keeps (``break component`` leaves the outer loop), so at most one is added; so here too."""
    if not ov.ignore_missing_components:
        return list(ov.components)
    real_root = os.path.realpath(root)
    for component in ov.components:
        folder = os.path.join(directory, component)
        for name in KUSTOMIZATION_NAMES:
            candidate = os.path.join(folder, name)
            if repository.inside(os.path.realpath(candidate), real_root) and os.path.isfile(
                candidate
            ):
                return [component]
    return []


# --- applying them -------------------------------------------------------------------------------


def edit_commands(ov: Overrides) -> Iterator[list[str]]:
    """The ``kustomize edit`` arguments of Build(), in its order and with its flags; ``--`` before
    values wherever Argo CD has one, and before values that could pass for a flag elsewhere (those
    that start with ``-`` are refused in :func:`parse`, as Argo CD's render fails on them)."""
    if ov.name_prefix:
        yield ["set", "nameprefix", "--", ov.name_prefix]
    if ov.name_suffix:
        yield ["set", "namesuffix", "--", ov.name_suffix]
    if ov.images:
        yield ["set", "image", "--", *ov.images]
    if ov.replicas:
        yield ["set", "replicas", "--", *(f"{name}={count}" for name, count in ov.replicas)]
    if ov.common_labels:
        flags = ["--force"] if ov.force_common_labels else []
        flags += ["--without-selector"] if ov.label_without_selector else []
        flags += ["--include-templates"] if ov.label_include_templates else []
        yield ["add", "label", *flags, "--", *(f"{k}:{v}" for k, v in ov.common_labels)]
    if ov.common_annotations:
        flags = ["--force"] if ov.force_common_annotations else []
        yield ["add", "annotation", *flags, "--", *(f"{k}:{v}" for k, v in ov.common_annotations)]
    if ov.namespace:
        yield ["set", "namespace", "--", ov.namespace]


def write_patches(directory: str, patches: Sequence[dict[str, Any]]) -> None:
    """Append the patches to the kustomization's ``patches`` as Build() does: read the file, add
    them (after those it has), write it back whole.

    Argo CD reads the file with sigs.k8s.io/yaml into ``any`` (go-yaml v2 types, then JSON, where
    every number is a float64) and marshals it again (keys sorted). So here: plain scalars are
    typed as go-yaml v2 types them (:mod:`cmp.yaml11`), a whole float becomes an integer (Go writes
    the float64 1.0 as ``1``), and a string that go-yaml would read as something else is quoted.
    """
    import yaml  # noqa: PLC0415

    name = next((n for n in KUSTOMIZATION_NAMES if os.path.isfile(os.path.join(directory, n))), "")
    if not name:
        raise RenderError("patches: kustomization file not found in the path")
    path = os.path.join(directory, name)
    with open(path, encoding="utf-8") as file:
        try:
            kustomization = _go_value(yaml.compose(file, Loader=yaml.SafeLoader))
        except (yaml.YAMLError, ValueError):
            raise RenderError(f"patches: cannot read {name}: it is not valid YAML") from None
    if not isinstance(kustomization, dict):
        raise RenderError(f"patches: {name} is not a mapping")
    existing = kustomization.get("patches", [])
    if not isinstance(existing, list):
        raise RenderError(f"patches: the 'patches' field in {name} is not a list")
    kustomization["patches"] = [*existing, *patches]
    text = yaml.dump(
        kustomization, Dumper=_go_dumper(), sort_keys=True, allow_unicode=True, width=1 << 30
    )
    mode = os.stat(path).st_mode
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(path, mode)


def _go_value(node: Any) -> Any:
    """A composed YAML node as Argo CD's ``yaml.Unmarshal`` into ``any`` and back sees it."""
    import yaml  # noqa: PLC0415

    from cmp import yaml11  # noqa: PLC0415

    if node is None:
        return None
    if isinstance(node, yaml.MappingNode):
        return {_go_key(_go_value(k)): _go_value(v) for k, v in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_go_value(item) for item in node.value]
    # a plain scalar is typed as go-yaml v2 types it; a quoted or block one is a string
    value = yaml11.resolve_plain(node.value)[1] if node.style is None else node.value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def _go_key(key: Any) -> str:
    """A map key as sigs.k8s.io/yaml makes it a JSON key (strconv.FormatBool and the like)."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


def _go_dumper() -> Any:
    import yaml  # noqa: PLC0415

    from cmp import yaml11  # noqa: PLC0415

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = None if yaml11.is_plain_string(value) else '"'
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return Dumper


def _mirror(real: str, scratch: str) -> str:
    """A tree under ``scratch`` in which ``scratch + real`` is a copy of the directory ``real``
    and every other entry on the way down from ``/`` links to the original."""
    import shutil  # noqa: PLC0415

    source, target = os.sep, scratch
    for part in real.strip(os.sep).split(os.sep):
        try:
            entries = [e for e in os.listdir(source) if e != part]
        except OSError:  # an ancestor that cannot be listed: only the way down is needed
            entries = []
        for entry in entries:
            os.symlink(os.path.join(source, entry), os.path.join(target, entry))
        source, target = os.path.join(source, part), os.path.join(target, part)
        os.mkdir(target)
    os.rmdir(target)
    # the directory itself is copied (its files must be real for kustomize's root-only loader);
    # a .git in it is not needed for a build and is linked instead
    mirror = os.path.realpath(scratch)

    def skip(folder: str, names: list[str]) -> list[str]:  # .git, and the copy itself (TMPDIR)
        return [n for n in names if n == ".git" or os.path.join(folder, n) == mirror]

    shutil.copytree(real, target, symlinks=True, ignore=skip)
    if os.path.exists(os.path.join(real, ".git")):
        os.symlink(os.path.join(real, ".git"), os.path.join(target, ".git"))
    return target


def _run(argv: list[str], cwd: str, env: Mapping[str, str], timeout: float | None) -> None:
    import subprocess  # noqa: PLC0415

    try:
        done = subprocess.run(  # an argv list: values never reach a shell
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RenderError(f"kustomize edit {' '.join(argv[2:4])} did not finish in time") from None
    except OSError as exc:
        raise RenderError(f"cannot run {argv[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        from cmp import scrub  # noqa: PLC0415

        detail = scrub.error_text(done.stderr.decode("utf-8", "replace"), ())
        raise RenderError(
            f"kustomize edit {' '.join(argv[2:4])} failed (exit {done.returncode}): {detail}"
        )


@contextmanager
def applied(
    ov: Overrides,
    prefix: Sequence[str],
    directory: str,
    *,
    env: Mapping[str, str],
    timeout: float | None = None,
    tmpdir: str | None = None,
) -> Iterator[str]:
    """The directory to build: ``directory`` itself when there is nothing to edit, else the
    edited working copy (in place inside the cmp-server, else a temporary copy, removed after).

    ``prefix`` is the build's argv prefix (``kustomize build`` or ``kubectl kustomize``).
    """
    if not ov.edits():
        yield directory
        return
    check_components(ov, directory, env)
    if len(prefix) > 1 and prefix[1] == "kustomize":
        names = ", ".join(n for n in ov.given if n not in ("kubeVersion", "apiVersions"))
        raise RenderError(
            f"the parameters {names} need kustomize edit, which kubectl kustomize cannot do; "
            "put kustomize on the sidecar's PATH or set KUSTOMIZE_BIN to it"
        )
    from cmp import runner  # noqa: PLC0415

    root, in_place = repository.root(directory, env)
    real = os.path.realpath(directory)
    with ExitStack() as stack:
        copy = None if in_place else stack.enter_context(runner.scratch(tmpdir, "confighash-edit-"))
        work = real if copy is None else _mirror(real, copy)
        try:
            binary = prefix[0]
            for args in edit_commands(ov):
                _run([binary, "edit", *args], work, env, timeout)
            if ov.patches:
                write_patches(work, ov.patches)
            components = _found_components(ov, real, root)
            if components:
                _run([binary, "edit", "add", "component", "--", *components], work, env, timeout)
            yield work
        except RenderError as exc:
            if copy is not None:  # show the user's paths, not the copy's
                raise RenderError(str(exc).replace(copy, "")) from None
            raise
