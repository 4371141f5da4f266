"""Write annotations into a pod template, changing nothing else in the document.

The usual path edits the text in place: a new annotation is one inserted line, a changed one is a
replaced value, a stale one is a deleted line, so every other byte stays as kustomize wrote it.
Layouts that a line edit cannot handle safely (flow style, ``annotations: {}`` or ``null``, a key
that shares its line) are re-emitted from the composed nodes instead: no Python objects are built
there either, so every scalar keeps its text and quoting and Argo CD reads the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import yaml

from cmp import nodes
from cmp.layout import Entry, Layout
from cmp.workloads import TemplateSite
from cmp.yaml11 import is_plain_string

try:
    _Dumper: type = yaml.CSafeDumper
except AttributeError:  # PyYAML built without libyaml
    _Dumper = yaml.SafeDumper

Owned = Callable[[str], bool]
_STR = "tag:yaml.org,2002:str"


class Splice(NamedTuple):
    start: int
    end: int
    text: str


class Change(NamedTuple):
    """The annotations one pod template should carry, and which existing keys are ours."""

    path: tuple[str | int, ...]
    desired: Mapping[str, str]
    owned: Owned


def quote(text: str) -> str:
    """A YAML double-quoted scalar; JSON's escapes are a subset of YAML's."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'  # what json.dumps gives; digests always take this way
    import json  # noqa: PLC0415  (a few ms of start-up, for values that need escapes)

    return json.dumps(text, ensure_ascii=False)


def render_key(key: str) -> str:
    plain = key[:1].isalpha() and all(c.isalnum() or c in "-._/" for c in key)
    return key if plain and is_plain_string(key) else quote(key)


def _next_line(text: str, pos: int) -> int:
    """Where the line after a value ending at ``pos`` starts (``pos`` itself at a line's indent)."""
    line_start = text.rfind("\n", 0, pos) + 1
    if not text[line_start:pos].strip():
        return line_start
    newline = text.find("\n", pos)
    return len(text) if newline < 0 else newline + 1


def _insert(text: str, layout: Layout, key: str, lines: Sequence[str], nl: str) -> Splice:
    """Insert an entry (its lines relative to the entry's column) in sorted position."""
    after = next((e for e in layout.entries if e.key > key), None)
    if after is not None:
        pad = " " * after.column
        body = lines[0] + nl + "".join(pad + line + nl for line in lines[1:])
        return Splice(after.key_start, after.key_start, body + pad)
    pos = _next_line(text, layout.entries[-1].value_end)
    pad = " " * layout.indent
    body = "".join(pad + line + nl for line in lines)
    if pos == len(text) and text and not text.endswith("\n"):
        body = nl + body
    return Splice(pos, pos, body)


def _delete(text: str, entry: Entry) -> Splice | None:
    if text[entry.line_start : entry.key_start].strip():
        return None  # the key shares its line ("- key: ..."): not a line edit
    return Splice(entry.line_start, _next_line(text, entry.value_end), "")


def _annotation_lines(annotations: Mapping[str, str], indent: int) -> list[str]:
    pad = " " * indent
    return [f"{pad}{render_key(k)}: {quote(v)}" for k, v in sorted(annotations.items())]


def plan_in_place(
    text: str, site: TemplateSite, desired: Mapping[str, str], owned: Owned
) -> list[Splice] | None:
    """Splices that bring the pod template's annotations to ``desired``; None if not possible."""
    current = site.annotations_text
    stale = {k for k in current if owned(k) and k not in desired}
    changed = {k: v for k, v in desired.items() if current.get(k) != v}
    if not stale and not changed:
        return []
    if not site.editable_in_place or site.template is None:
        return None
    nl = "\r\n" if "\r\n" in text else "\n"
    if site.annotations is not None:
        return _edit_annotations(text, site, stale, changed, nl)
    if site.metadata is not None:
        lines = ["annotations:", *_annotation_lines(desired, 2)]
        return [_insert(text, site.metadata, "annotations", lines, nl)]
    lines = ["metadata:", "  annotations:", *_annotation_lines(desired, 4)]
    return [_insert(text, site.template, "metadata", lines, nl)]


def _edit_annotations(
    text: str, site: TemplateSite, stale: set[str], changed: Mapping[str, str], nl: str
) -> list[Splice] | None:
    layout = site.annotations
    assert layout is not None
    kept = [e for e in layout.entries if e.key not in stale]
    new = {k: v for k, v in changed.items() if layout.find(k) is None}
    if not kept and not new:
        return _drop_annotations(text, site, nl)
    if any("\n" in text[e.value_start : e.value_end] for e in kept if e.key in changed):
        return None  # a block scalar ends at the next line's start: replace it by re-emitting
    splices: list[Splice | None] = [_delete(text, e) for e in layout.entries if e.key in stale]
    splices += [
        Splice(e.value_start, e.value_end, quote(changed[e.key])) for e in kept if e.key in changed
    ]
    remaining = Layout(tuple(kept)) if kept else layout
    for key in sorted(new):
        line = f"{render_key(key)}: {quote(new[key])}"
        splices.append(_insert(text, remaining, key, [line], nl))
    if any(s is None for s in splices):
        return None
    return [s for s in splices if s is not None]


def _drop_annotations(text: str, site: TemplateSite, nl: str) -> list[Splice] | None:
    """Remove ``annotations:`` once nothing is left in it, and ``metadata:`` if it empties too."""
    assert site.metadata is not None and site.template is not None
    if len(site.metadata.entries) == 1:
        entry = site.template.find("metadata")
    else:
        entry = site.metadata.find("annotations")
    splice = _delete(text, entry) if entry is not None else None
    return [splice] if splice is not None else None


def apply_splices(text: str, splices: Sequence[Splice]) -> str:
    """Apply non-overlapping splices; inserts at one position keep their given order."""
    ordered = sorted(enumerate(splices), key=lambda p: (p[1].start, p[0]), reverse=True)
    for _, splice in ordered:
        text = text[: splice.start] + splice.text + text[splice.end :]
    return text


# --- re-emission, for layouts a line edit cannot handle -------------------------------------


def _child(node: nodes.Node, key: str | int) -> nodes.Node | None:
    if isinstance(key, int):
        return node.value[key] if isinstance(node, nodes.SequenceNode) else None
    for k, v in reversed(node.value if isinstance(node, nodes.MappingNode) else []):
        if nodes.key_text(k) == key:
            return v  # type: ignore[no-any-return]
    return None


def _set_child(parent: nodes.MappingNode, key: str, value: nodes.Node | None) -> None:
    pairs = [(k, v) for k, v in parent.value if nodes.key_text(k) != key]
    if value is not None:
        pairs.append((nodes.ScalarNode("tag:yaml.org,2002:str", key), value))
    parent.value = pairs


def _mapping(parent: nodes.MappingNode, key: str) -> nodes.MappingNode:
    node = _child(parent, key)
    if isinstance(node, nodes.MappingNode):
        node.flow_style = False
        return node
    fresh = nodes.MappingNode("tag:yaml.org,2002:map", [], flow_style=False)
    _set_child(parent, key, fresh)
    return fresh


def _apply_change(root: nodes.Node, change: Change) -> None:
    template: nodes.Node | None = root
    for key in change.path:
        template = _child(template, key) if template is not None else None
    if not isinstance(template, nodes.MappingNode):
        return
    template.flow_style = False
    metadata = _mapping(template, "metadata")
    annotations = _mapping(metadata, "annotations")
    pairs = [(k, v) for k, v in annotations.value if not change.owned(nodes.key_text(k))]
    for key, value in sorted(change.desired.items()):
        pairs.append(
            (
                nodes.ScalarNode("tag:yaml.org,2002:str", key),
                nodes.ScalarNode("tag:yaml.org,2002:str", value, style='"'),
            )
        )
    annotations.value = pairs
    if not pairs:
        _set_child(metadata, "annotations", None)
        if not metadata.value:
            _set_child(template, "metadata", None)


def reemit(text: str, changes: Sequence[Change], where: str, line: int) -> str:
    """Re-serialize the document from its nodes with ``changes`` applied."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    root = nodes.compose(text[len(bom) :], where, line, exact_tags=True)  # the dumper quotes by tag
    if root is None:
        return text
    for change in changes:
        _apply_change(root, change)
    if isinstance(root, nodes.MappingNode) and text[len(bom) :].lstrip().startswith("{"):
        return bom + json_text(root) + "\n"  # a JSON document (a directory's .json) stays JSON
    out: str = yaml.serialize(root, Dumper=_Dumper, allow_unicode=True, width=80)
    if out.endswith("\n...\n"):
        out = out[: -len("...\n")]  # libyaml ends a document whose last scalar is "|+" with "..."
    return bom + out


def json_text(node: nodes.Node) -> str:
    """A document composed from JSON, as JSON on one line: a plain scalar (a number, ``true``,
    ``false``, ``null``) as written, any other scalar as a JSON string. Argo CD reads a stream with
    YAML, of which this is a subset, so it reads the same values."""
    if isinstance(node, nodes.MappingNode):
        items = (f"{json_text(k)}: {json_text(v)}" for k, v in node.value)
        return "{" + ", ".join(items) + "}"
    if isinstance(node, nodes.SequenceNode):
        return "[" + ", ".join(json_text(item) for item in node.value) + "]"
    if isinstance(node, nodes.ScalarNode) and not node.style and node.tag != _STR:
        return str(node.value)
    import json  # noqa: PLC0415

    return json.dumps(node.value)
