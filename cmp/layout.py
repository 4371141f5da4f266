"""Positions of a block mapping's entries in a document's text, taken from libyaml's marks.

These let the editor insert, replace or delete one annotation line without re-emitting the
document. Positions are character offsets into the decoded document text.
"""

from __future__ import annotations

from typing import NamedTuple

from cmp import nodes


class Entry(NamedTuple):
    key: str
    key_start: int
    column: int
    value_start: int
    value_end: int

    @property
    def line_start(self) -> int:
        return self.key_start - self.column


class Layout(NamedTuple):
    """A non-empty block-style mapping: its entries in document order."""

    entries: tuple[Entry, ...]

    @property
    def indent(self) -> int:
        return self.entries[0].column

    def find(self, key: str) -> Entry | None:
        return next((e for e in reversed(self.entries) if e.key == key), None)


def block_layout(node: nodes.Node | None) -> Layout | None:
    """The layout of ``node`` if it is a non-empty block mapping, else None."""
    if not isinstance(node, nodes.MappingNode) or node.flow_style or not node.value:
        return None
    entries = tuple(
        Entry(
            nodes.key_text(key),
            key.start_mark.index,
            key.start_mark.column,
            value.start_mark.index,
            value.end_mark.index,
        )
        for key, value in node.value
    )
    return Layout(entries)
