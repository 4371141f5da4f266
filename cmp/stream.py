"""Split a multi-document YAML stream exactly where Argo CD splits it, keeping every byte.

Argo CD cuts plugin output with apimachinery's YAMLReader: a line that starts with ``---`` ends a
document, and anything after the dashes other than blanks or a ``#`` comment is an error. Joining
the pieces of :func:`split` gives back the input byte for byte, so untouched documents pass
through as kustomize wrote them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import NamedTuple

from cmp.errors import InputError
from cmp.yaml11 import is_plain_string

_BLANK_OR_COMMENT = re.compile(rb"(?:[ \t]*(?:#[^\n]*)?\r?(?:\n|\Z))*\Z")  # match(data, start, end)
_IDENTIFIER = re.compile(rb"[A-Za-z][A-Za-z0-9]*")


class Piece(NamedTuple):
    """A slice of the stream: a document's content (``is_document``) or a separator line.

    Pieces and documents point into the stream instead of holding a copy of their bytes: a
    stream of many MB then sits in memory once, and ``raw`` copies a document only while it is
    being read.
    """

    source: bytes  # the whole stream
    start: int
    end: int
    is_document: bool
    line: int  # 1-based line of the piece's first byte in the stream

    @property
    def raw(self) -> bytes:
        return self.source[self.start : self.end]

    def __repr__(self) -> str:
        return f"Piece({self.raw[:40]!r}, {self.is_document}, {self.line})"


class Document:
    """A non-empty document: its 1-based position among documents, first line, and bytes."""

    __slots__ = ("end", "index", "line", "piece", "source", "start")

    def __init__(
        self, index: int, line: int, piece: int, *, source: bytes, start: int, end: int
    ) -> None:
        self.index = index
        self.line = line
        self.piece = piece  # position in the list of pieces
        self.source = source  # the whole stream; raw is a slice of it
        self.start = start
        self.end = end

    def __repr__(self) -> str:
        return f"Document({self.index}, line {self.line}, {self.raw[:40]!r})"

    @property
    def raw(self) -> bytes:
        return self.source[self.start : self.end]

    @property
    def where(self) -> str:
        return f"document {self.index} (line {self.line})"


def split(stream: bytes) -> tuple[list[Piece], list[Document]]:
    """Cut ``stream`` into pieces and return them with the documents Argo CD would read."""
    pieces: list[Piece] = []
    pos = 0
    line = 1
    for start, stop in _lines_starting(stream, b"---"):
        rest = stream[start + 3 : stop].strip()
        sep_line = line + stream.count(b"\n", pos, start)
        if rest and not rest.startswith(b"#"):
            shown = rest[:40].decode("utf-8", "replace")
            raise InputError(f"line {sep_line}", f"invalid document separator: '---{shown}'")
        pieces.append(Piece(stream, pos, start, True, line))
        end = stop + 1 if stop < len(stream) else stop
        pieces.append(Piece(stream, start, end, False, sep_line))
        pos = end
        line = sep_line + 1
    pieces.append(Piece(stream, pos, len(stream), True, line))
    documents: list[Document] = []
    for number, piece in enumerate(pieces):
        if piece.is_document and not _BLANK_OR_COMMENT.match(stream, piece.start, piece.end):
            index = len(documents) + 1
            documents.append(
                Document(index, piece.line, number, source=stream, start=piece.start, end=piece.end)
            )
    return pieces, documents


def join(pieces: Iterable[Piece], replacements: Mapping[int, bytes]) -> bytes:
    """Reassemble the stream, putting ``replacements[piece number]`` in place of edited pieces."""
    parts: list[bytes | memoryview] = []
    for number, piece in enumerate(pieces):
        new = replacements.get(number)
        parts.append(memoryview(piece.source)[piece.start : piece.end] if new is None else new)
    return b"".join(parts)


def _lines_starting(data: bytes, prefix: bytes) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of each line that starts with ``prefix``; ``stop`` is where its newline is.

    The same lines as ``re.finditer(b"^" + prefix + b".*$", data, re.MULTILINE)``, found with
    ``bytes.find`` instead of trying the pattern at every position of a stream of many MB.
    """
    needle = b"\n" + prefix

    def next_line(pos: int) -> int:
        found = data.find(needle, pos)
        return -1 if found < 0 else found + 1

    start = 0 if data.startswith(prefix) else next_line(0)
    while start >= 0:
        stop = data.find(b"\n", start)
        stop = len(data) if stop < 0 else stop
        yield start, stop
        start = next_line(stop)


def _kind_value(rest: bytes) -> bytes:
    """What ``[ \\t]*(.*?)[ \\t]*\\r?$`` captures from the rest of a ``kind:`` line."""
    value = rest.lstrip(b" \t")
    if value.endswith(b"\r"):
        value = value[:-1]
    return value.rstrip(b" \t")


def peek_kind(raw: bytes) -> bytes | None:
    """The top-level ``kind`` if the document states it once in block style, else None.

    None means "look properly": the document may be JSON, flow style, or have no or several kinds.
    A top-level ``items:`` key also returns None, because lists are read item by item.
    """
    kinds = [_kind_value(raw[start + 5 : stop]) for start, stop in _lines_starting(raw, b"kind:")]
    if len(kinds) != 1 or raw.startswith(b"items:") or b"\nitems:" in raw:
        return None
    kind: bytes = kinds[0]
    if kind[:1] in (b'"', b"'"):
        if len(kind) < 2 or kind[-1:] != kind[:1]:
            return None
        kind = kind[1:-1]
    elif not is_plain_string(kind.decode("utf-8", "replace")):
        return None  # null, a bool or a number: not a kind, so compose and report it
    # Anything but a plain identifier (empty, escapes, a tag, an anchor, flow) is read properly.
    return kind if _IDENTIFIER.fullmatch(kind) else None
