"""The directory renderer: the manifest files of a plain directory, read as Argo CD reads them.

This follows Argo CD v3.6.1's directory source, reposerver/repository/repository.go
``findManifests``, ``getPotentiallyValidManifests``, ``getPotentiallyValidManifestFile`` and
``getObjsFromYAMLOrJSON``:

- The walk is Go's ``filepath.Walk``: names in lexical (byte) order, a subdirectory's files at
  the subdirectory's place in that order; subdirectories only with ``recurse``.
- A file counts when its name ends in ``.yaml``, ``.yml``, ``.json`` or ``.jsonnet``; a symbolic
  link is followed when it stays inside the repository (else the render fails, as Argo CD's does),
  and skipped when it dangles or leads to something other than a regular file.
- ``exclude`` and then ``include`` are globs (util/glob, gobwas/glob without separators: ``*``
  also matches ``/``; ``{a,b}`` alternatives) over the path relative to the directory. A pattern
  that does not compile matches nothing, as Argo CD logs it and goes on.
- A file that contains ``+argocd:skip-file-rendering`` is skipped.
- ``.jsonnet`` is refused: confighash does not evaluate jsonnet, and a render without those files
  would be silently partial.
- A ``.json`` file holds exactly one JSON value, an object with a ``kind``.
- A YAML file holds documents that are each an object with a ``kind`` (``null`` documents are
  skipped). When its first document cannot be read and the file does not look like a manifest (it
  lacks any of ``apiVersion:``, ``kind:``, ``metadata:``), the file is ignored, as Argo CD ignores
  a stray values file; otherwise it is an error.

The stream is each YAML file's text as it is and each JSON file as one JSON document, in that
order, separated by ``---``. Argo CD reads the stream with YAML, of which JSON is a subset, so it
reads the same objects; confighash's stamping keeps a JSON document JSON (:mod:`cmp.edit`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from cmp import repository
from cmp.errors import RenderError

SKIP_MARKER = "+argocd:skip-file-rendering"
_MANIFEST = re.compile(r"^.*\.(yaml|yml|json|jsonnet)$")


class Options(NamedTuple):
    """spec.source.directory's options (ApplicationSourceDirectory), as plugin parameters."""

    recurse: bool = False
    include: str = ""
    exclude: str = ""


_GLOB_TOKENS = {"?": ".", "{": "(?:"}


def _glob_class(pattern: str, i: int) -> tuple[str, int] | None:
    """The character class that starts at ``pattern[i]`` (``[abc]``, ``[!a-z]``) and its end."""
    end = pattern.find("]", i + 1)
    body = pattern[i + 1 : end] if end > 0 else ""
    negate = body.startswith("!")
    body = body[1:] if negate else body
    if not body:
        return None
    return "[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]", end


def glob_regex(pattern: str) -> re.Pattern[str] | None:
    """gobwas/glob's syntax, without separators (as util/glob.Match compiles it), as a regular
    expression; None when it does not compile."""
    out: list[str] = []
    depth = 0
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "*":
            out.append(".*")
            while pattern[i + 1 : i + 2] == "*":
                i += 1
        elif c == "[":
            found = _glob_class(pattern, i)
            if found is None:
                return None
            out.append(found[0])
            i = found[1]
        elif c in _GLOB_TOKENS:
            depth += c == "{"
            out.append(_GLOB_TOKENS[c])
        elif c in "}," and depth:
            depth -= c == "}"
            out.append(")" if c == "}" else "|")
        elif c == "\\":
            return None  # a trailing escape
        else:
            out.append(re.escape(c))
        i += 1
    if depth:
        return None
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:
        return None


def _matches(pattern: str, text: str) -> bool:
    compiled = glob_regex(pattern)
    return compiled is not None and compiled.fullmatch(text) is not None


def _walk(top: str, rel: str, recurse: bool) -> Iterator[tuple[str, str]]:
    """(path, path relative to the app directory) of every file, in filepath.Walk's order."""
    try:
        names = sorted(os.listdir(top))
    except OSError as exc:
        raise RenderError(f"cannot read the directory {rel or '.'}: {exc.strerror}") from None
    for name in names:
        path = os.path.join(top, name)
        child = f"{rel}/{name}" if rel else name
        if os.path.isdir(path) and not os.path.islink(path):
            if recurse:
                yield from _walk(path, child, recurse)
            continue
        yield path, child


def manifest_files(directory: str, root: str, options: Options) -> Iterator[tuple[str, str]]:
    """The files Argo CD reads, in its order: (path, relative path)."""
    for path, rel in _walk(directory, "", options.recurse):
        if not _MANIFEST.match(os.path.basename(path)):
            continue
        if os.path.islink(path):
            real = os.path.realpath(path)
            if not os.path.exists(real):
                continue  # "destination of symlink is missing": skipped with a warning
            if not repository.inside(real, root):
                raise RenderError(
                    f"illegal filepath in symlink at {rel!r}: it leaves the repository"
                )
        if not os.path.isfile(path):
            continue  # a link to something other than a regular file
        if options.exclude and _matches(options.exclude, rel):
            continue
        if options.include and not _matches(options.include, rel):
            continue
        yield path, rel


def _text(path: str, rel: str) -> str:
    """The file as UTF-8 text, a byte order mark removed (utfutil.ReadFile with UTF8)."""
    try:
        with open(path, "rb") as file:
            raw = file.read()
    except OSError as exc:
        raise RenderError(f"cannot read {rel}: {exc.strerror}") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raw = raw.decode("utf-16").encode("utf-8")
    return raw.decode("utf-8", "replace")


def _object(value: Any) -> str | None:
    """Why ``value`` is not an object Argo CD's unstructured decoding accepts; None if it is."""
    if not isinstance(value, dict):
        return "not an object"
    kind = value.get("kind")
    if not isinstance(kind, str) or not kind:
        return "Object 'Kind' is missing"
    return None


def _json_file(text: str, rel: str) -> str:
    import json  # noqa: PLC0415

    decoder = json.JSONDecoder()
    stripped = text.lstrip()
    try:
        value, end = decoder.raw_decode(stripped)
    except ValueError as exc:
        raise RenderError(f"failed to unmarshal {rel}: {exc}") from None
    if stripped[end:].strip():
        raise RenderError(
            f"found multiple objects in {rel}; only single objects are allowed in JSON files"
        )
    problem = _object(value)
    if problem:
        raise RenderError(f"failed to unmarshal {rel}: {problem}")
    return json.dumps(value)


def _yaml_documents(text: str) -> Iterator[Any]:
    import json  # noqa: PLC0415

    import yaml  # noqa: PLC0415  (only a directory source reads manifests itself)

    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if text.lstrip().startswith("{"):  # NewYAMLOrJSONDecoder reads such a stream as JSON
        decoder = json.JSONDecoder()
        rest = text.lstrip()
        while rest:
            value, end = decoder.raw_decode(rest)
            yield value
            rest = rest[end:].lstrip()
        return
    yield from yaml.load_all(text, Loader=loader)


def _yaml_file(text: str, rel: str) -> str | None:
    """The file's text when its documents are objects; None for a file Argo CD ignores."""
    import yaml  # noqa: PLC0415

    count = 0
    try:
        for document in _yaml_documents(text):
            if document is None:
                continue
            problem = _object(document)
            if problem:
                raise ValueError(problem)
            count += 1
    except (ValueError, yaml.YAMLError) as exc:  # json's errors are ValueErrors
        looks = all(word in text for word in ("apiVersion:", "kind:", "metadata:"))
        if count or looks:
            detail = " ".join(str(exc).split())
            raise RenderError(f"failed to unmarshal {rel}: {detail}") from None
        return None  # an unrelated YAML file
    return text if count else None


def render(directory: str, root: str, options: Options) -> bytes:
    """The stream of ``directory``'s manifests; ``root`` is the repository that holds it."""
    parts: list[str] = []
    for path, rel in manifest_files(directory, root, options):
        if rel.endswith(".jsonnet"):
            raise RenderError(
                f"{rel}: jsonnet is not supported by confighash; render it natively "
                "(spec.source.directory.jsonnet), or leave it out with the exclude parameter"
            )
        text = _text(path, rel)
        if SKIP_MARKER in text:
            continue
        if rel.endswith(".json"):
            parts.append(_json_file(text, rel) + "\n")
            continue
        kept = _yaml_file(text, rel)
        if kept is not None:
            parts.append(kept if kept.endswith("\n") else kept + "\n")
    return "---\n".join(parts).encode("utf-8")
