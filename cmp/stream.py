"""Split a multi-document YAML stream exactly where Argo CD splits it, keeping every byte.

Argo CD cuts plugin output with apimachinery's YAMLReader: a line that starts with ``---`` ends a
document, and anything after the dashes other than blanks or a ``#`` comment is an error. Joining
the pieces of :func:`split` gives back the input byte for byte, so untouched documents pass
through as kustomize wrote them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cmp.errors import InputError
from cmp.yaml11 import is_plain_string

_SEPARATOR = re.compile(rb"^---(.*)$", re.MULTILINE)
_KIND_LINE = re.compile(rb"^kind:[ \t]*(.*?)[ \t]*\r?$", re.MULTILINE)
_ITEMS_LINE = re.compile(rb"^items:", re.MULTILINE)
_BLANK_OR_COMMENT = re.compile(rb"\A(?:[ \t]*(?:#[^\n]*)?\r?(?:\n|\Z))*\Z")
_IDENTIFIER = re.compile(rb"[A-Za-z][A-Za-z0-9]*")


@dataclass(frozen=True)
class Piece:
    """A slice of the stream: a document's content (``is_document``) or a separator line."""

    raw: bytes
    is_document: bool
    line: int  # 1-based line of the piece's first byte in the stream


@dataclass(frozen=True)
class Document:
    """A non-empty document: its 1-based position among documents, first line, and bytes."""

    index: int
    line: int
    raw: bytes
    piece: int  # position in the list of pieces

    @property
    def where(self) -> str:
        return f"document {self.index} (line {self.line})"


def split(stream: bytes) -> tuple[list[Piece], list[Document]]:
    """Cut ``stream`` into pieces and return them with the documents Argo CD would read."""
    pieces: list[Piece] = []
    pos = 0
    line = 1
    for match in _SEPARATOR.finditer(stream):
        rest = match.group(1).strip()
        sep_line = line + stream.count(b"\n", pos, match.start())
        if rest and not rest.startswith(b"#"):
            shown = rest[:40].decode("utf-8", "replace")
            raise InputError(f"line {sep_line}", f"invalid document separator: '---{shown}'")
        pieces.append(Piece(stream[pos : match.start()], True, line))
        end = match.end() + 1 if match.end() < len(stream) else match.end()
        pieces.append(Piece(stream[match.start() : end], False, sep_line))
        pos = end
        line = sep_line + 1
    pieces.append(Piece(stream[pos:], True, line))
    documents: list[Document] = []
    for number, piece in enumerate(pieces):
        if piece.is_document and not _BLANK_OR_COMMENT.match(piece.raw):
            documents.append(Document(len(documents) + 1, piece.line, piece.raw, number))
    return pieces, documents


def join(pieces: Iterable[Piece], replacements: Mapping[int, bytes]) -> bytes:
    """Reassemble the stream, putting ``replacements[piece number]`` in place of edited pieces."""
    return b"".join(replacements.get(n, p.raw) for n, p in enumerate(pieces))


def peek_kind(raw: bytes) -> bytes | None:
    """The top-level ``kind`` if the document states it once in block style, else None.

    None means "look properly": the document may be JSON, flow style, or have no or several kinds.
    A top-level ``items:`` key also returns None, because lists are read item by item.
    """
    kinds = _KIND_LINE.findall(raw)
    if len(kinds) != 1 or _ITEMS_LINE.search(raw):
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
