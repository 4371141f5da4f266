"""Keep Secret values and the digest key out of kustomize's error text.

Argo CD shows the stderr of a failed render in the UI, to everyone who can view the Application,
and kustomize quotes its input in some errors: a node dump after ``node contents:``, a literal it
could not parse, a line of an env file, a map printed with its ``data``. So confighash never passes
kustomize's stderr on as it is. :func:`error_text` reduces it to one line:

1. Only the lines that start an error are kept: kustomize's ``Error: ...`` lines, or the message
   of kubectl's ``"command failed" err=...`` log line. Every other line is dropped, because
   continuation lines are where kustomize dumps YAML and node contents; the message says how many
   lines were left out. Without such a line, the last non-empty line is used.
2. In a kept line, everything after a ``data``, ``stringData`` or ``binaryData`` key (YAML, JSON
   or a Go map) is replaced by ``[redacted]``.
3. Every value that may be Secret data in the build's input is replaced wherever it appears (see
   :func:`sensitive_values`), as is the digest key.

Values shorter than 3 characters are not redacted (they would blank out ordinary words); values
shorter than 6 only where they stand alone, longer ones wherever they occur.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

REDACTED = "[redacted]"
MAX_LINE = 2000  # characters of kustomize's message kept
MIN_VALUE = 3
MIN_SUBSTRING = 6
MAX_FILES = 5000
MAX_FILE_BYTES = 1 << 20
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

_KLOG = re.compile(r"^[EWIF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ [^\]]*\] (?P<rest>.*)$")
_KLOG_ERR = re.compile(r'err=(?P<value>"(?:[^"\\]|\\.)*"|<)\s*$')
_DATA_KEY = re.compile(r"""(?<![\w.-])(?:stringData|binaryData|data)["']?\s*[:=]""")
_SECRET_KIND = re.compile(r"""^\s*kind:\s*["']?Secret["']?\s*(#.*)?$""", re.MULTILINE)
_SEPARATOR = re.compile(r"^---[ \t]*(#.*)?$", re.MULTILINE)
_LOOSE_VALUE = re.compile(r"""^\s*(?:-\s+)?(?:[^\s:#'"][^:#]*:\s+)?(?P<value>.+?)\s*$""")


# --- reading kustomize's stderr ----------------------------------------------------------------


def _unquote_go(value: str) -> str:
    try:
        text = json.loads(value)
    except ValueError:
        return value[1:-1]
    return text if isinstance(text, str) else value


def error_lines(stderr: str) -> tuple[list[str], int]:
    """The lines that start an error, and how many other non-empty lines there were."""
    lines = stderr.splitlines()
    kept: list[str] = []
    other = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        klog = _KLOG.match(line)
        if klog is not None:
            err = _KLOG_ERR.search(klog.group("rest"))
            if err is not None and err.group("value") == "<":  # message on the next lines
                body: list[str] = []
                i += 1
                while i < len(lines) and lines[i].strip() != ">":
                    body.append(lines[i].removeprefix("\t"))
                    i += 1
                first = next((b for b in body if b.strip()), "")
                kept.append(first.strip())
                other += sum(1 for b in body if b.strip()) - (1 if first else 0)
            elif err is not None:
                message = _unquote_go(err.group("value")).splitlines() or [""]
                kept.append(message[0].strip())
                other += sum(1 for m in message[1:] if m.strip())
            else:
                kept.append(klog.group("rest").strip())
        elif line.startswith("Error:"):
            kept.append(line.removeprefix("Error:").strip())
        elif line.strip():
            other += 1
        i += 1
    if not kept:
        rest = [line.strip() for line in lines if line.strip()]
        if rest:
            return [rest[-1]], len(rest) - 1
    return [k for k in kept if k], other


def _cut_data(line: str) -> str:
    match = _DATA_KEY.search(line)
    if match is None:
        return line
    return f"{line[: match.end()]} {REDACTED}"


def redact(text: str, values: Iterable[str]) -> str:
    """``text`` with every occurrence of ``values`` replaced (short ones only as whole words)."""
    for value in sorted(set(values), key=len, reverse=True):
        if len(value) < MIN_VALUE or value not in text:
            continue
        if len(value) >= MIN_SUBSTRING:
            text = text.replace(value, REDACTED)
        else:
            pattern = rf"(?<![\w+/=.-]){re.escape(value)}(?![\w+/=.-])"
            text = re.sub(pattern, REDACTED, text)
    return text


def error_text(stderr: str, values: Iterable[str]) -> str:
    """kustomize's stderr as one line that is safe to show; see the module docstring."""
    lines, hidden = error_lines(stderr)
    wanted = list(values)
    shown = " | ".join(redact(_cut_data(line), wanted) for line in lines) or "no message"
    if len(shown) > MAX_LINE:
        shown = shown[:MAX_LINE] + "..."
    if hidden:
        plural = "s" if hidden > 1 else ""
        shown += f" ({hidden} more line{plural} of kustomize output hidden: they can quote input)"
    return shown


# --- what in the build's input may be Secret data ----------------------------------------------


def _variants(value: str) -> Iterator[str]:
    """A value, its lines, and the escaped forms an error message may quote them in."""
    value = value.strip()
    if not value:
        return
    parts = {value, *(line.strip() for line in value.splitlines())}
    for part in parts:
        if len(part) < MIN_VALUE:
            continue
        yield part
        quoted = json.dumps(part, ensure_ascii=False)[1:-1]
        if quoted != part:
            yield quoted


def _leaves(node: Any) -> Iterator[str]:
    if isinstance(node, dict):  # keys are names, not data: they stay readable
        for value in node.values():
            yield from _leaves(value)
    elif isinstance(node, list):
        for item in node:
            yield from _leaves(item)
    elif node is not None:
        yield str(node)


def _decoded(value: str) -> str | None:
    try:
        return base64.b64decode("".join(value.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def _secret_values(doc: dict[str, Any]) -> Iterator[str]:
    for field in ("data", "stringData", "binaryData"):
        for leaf in _leaves(doc.get(field)):
            yield leaf
            if field != "stringData":
                decoded = _decoded(leaf)
                if decoded is not None:
                    yield decoded


def _loose_values(text: str) -> Iterator[str]:
    """Every value-like piece of YAML text that could not be parsed: keys are kept, values not."""
    for line in text.splitlines():
        match = _LOOSE_VALUE.match(line)
        if match is None or (not line[:1].isspace() and not line.lstrip().startswith("-")):
            continue
        value = match.group("value").strip("'\"[]{} ")
        for raw in re.split(r"[,\[\]{}]", value):
            piece = raw.strip().strip("'\"")
            yield piece
            decoded = _decoded(piece)
            if decoded is not None:
                yield decoded


def _documents(text: str) -> Iterator[tuple[str, Any]]:
    import yaml  # noqa: PLC0415  (only on this error path: the CLI starts kustomize sooner)

    for chunk in _SEPARATOR.split(text):
        if chunk is None or not chunk.strip():
            continue
        try:
            yield chunk, yaml.safe_load(chunk)
        except yaml.YAMLError:
            yield chunk, _UNPARSED


_UNPARSED = object()


def _read(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        return path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return None


class _Scan:
    def __init__(self) -> None:
        self.values: set[str] = set()
        self.seen: set[Path] = set()
        self.files = 0

    def add(self, value: str) -> None:
        self.values.update(_variants(value))

    def tree(self, root: Path) -> None:
        root = root.resolve()
        if any(root == s or s in root.parents for s in self.seen):
            return
        self.seen.add(root)
        if root.is_file():
            self.file(root)
            return
        for current, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != ".git")
            for name in sorted(names):
                if self.files >= MAX_FILES:
                    return
                self.file(Path(current) / name)

    def file(self, path: Path) -> None:
        self.files += 1
        text = _read(path)
        if text is None:
            return
        for chunk, doc in _documents(text):
            if doc is _UNPARSED:
                if _SECRET_KIND.search(chunk) or path.name in KUSTOMIZATION_NAMES:
                    for value in _loose_values(chunk):
                        self.add(value)
            elif isinstance(doc, dict):
                if doc.get("kind") == "Secret":
                    for value in _secret_values(doc):
                        self.add(value)
                if path.name in KUSTOMIZATION_NAMES:
                    self.kustomization(path.parent, doc)

    def kustomization(self, directory: Path, doc: dict[str, Any]) -> None:
        generators = doc.get("secretGenerator")
        for gen in generators if isinstance(generators, list) else []:
            if not isinstance(gen, dict):
                continue
            for literal in _strings(gen.get("literals")):
                self.add(literal)
                self.add(literal.partition("=")[2])
            for entry in _strings(gen.get("files")) + _strings(gen.get("envs")):
                self.generator_file(directory / entry.rpartition("=")[2])
            if isinstance(gen.get("env"), str):
                self.generator_file(directory / gen["env"])
        # Anything else the kustomization names on disk outside the scanned trees (../base,
        # a patch file) is scanned too, so a Secret in a base is known to an overlay's error.
        for leaf in _leaves(doc):
            if "://" in leaf or "\n" in leaf or len(leaf) > 4096 or leaf.strip() in ("", "."):
                continue
            if Path(leaf).is_absolute():  # kustomize reads no absolute paths by default
                continue
            try:
                target = (directory / leaf).resolve()
                if target.exists():
                    self.tree(target)
            except (OSError, ValueError):
                continue

    def generator_file(self, path: Path) -> None:
        text = _read(path)
        if text is None:
            return
        self.add(text)
        for line in text.splitlines():
            self.add(line.partition("=")[2])


def _strings(node: Any) -> list[str]:
    return [s for s in node if isinstance(s, str)] if isinstance(node, list) else []


def sensitive_values(directory: str | Path) -> set[str]:
    """Strings in the build's input that may be Secret data, as an error could quote them.

    Read from the build directory's tree and everything its kustomization files name on disk
    (bases, patches, generator files), recursively: values under ``data``/``stringData``/
    ``binaryData`` of every ``kind: Secret`` document (and base64-decoded ``data``), every
    ``secretGenerator`` literal and the content of its files and env files, and, for a
    document that does not parse as YAML but says ``kind: Secret``, every value-like piece of it.
    """
    scan = _Scan()
    scan.tree(Path(directory))
    return scan.values


def key_values(key: bytes | None) -> set[str]:
    """The digest key as text and hex, for redaction."""
    if not key:
        return set()
    values = {key.hex(), key.hex().upper()}
    values.update(_variants(key.decode("utf-8", "replace")))
    return values
