"""cmp.blockread reads kustomize's block YAML exactly as libyaml composes it, or declines.

The truth is libyaml: ``yaml.compose(text, Loader=nodes._ReadingLoader)``. Whenever the line
reader returns a tree, that tree must be libyaml's, node for node: the same node kinds, tags,
values, styles, flow styles, start and end indices and key columns, with a ``Skipped`` placeholder
(carrying libyaml's start and end) exactly where the Keep spec leaves a value out. Where libyaml
fails, or composes what the fast path must not take on (anchors, aliases, tags, merge keys,
duplicate keys), the reader must decline.

Inputs: every distinct document of the shared corpus, the tricky scalars in every spelling,
literal block edge cases, keys at libyaml's length limit, one named case per declined feature, a
seeded mutation fuzzer over realistic documents, documents generated from the block grammar, and
random noise. Each is read with several specs: everything, the pipeline's workload spec, nothing,
and (for the fuzzers) random specs. Everything is deterministic.
"""

from __future__ import annotations

import functools
import importlib
import json
import random
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
import yaml
from helpers import RENDERS

from cmp import blockread, nodes, stream

Keep = blockread.Keep

TRICKY = Path("/work/shared/reference/tricky-scalars.yaml")
LOADER: type = nodes._ReadingLoader  # libyaml composing, every scalar tagged str
# The kinds the fast path exists for: every corpus document of these kinds must be accepted.
FAST_PATH_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "ConfigMap", "Secret"}
)


def _workload_keep() -> Keep:
    """The spec the pipeline reads workloads with (blockread.WORKLOAD_KEEP or workloads.KEEP)."""
    found = vars(blockread).get("WORKLOAD_KEEP")
    if found is None:
        found = vars(importlib.import_module("cmp.workloads")).get("KEEP")
    assert found is not None, "neither blockread.WORKLOAD_KEEP nor workloads.KEEP exists"
    return cast(Keep, found)


WORKLOAD_KEEP = _workload_keep()
KEEPS: dict[str, Keep] = {"all": True, "workload": WORKLOAD_KEEP, "none": {}}


# --- the reference and the comparison -------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """libyaml's reading of a text: its root node, or the error composing it raised."""

    text: str
    node: yaml.Node | None
    error: str | None

    @functools.cached_property
    def features(self) -> list[str]:
        """What the fast path must decline although libyaml composes it."""
        if self.node is None:
            return []
        found = _tree_features(self.text, self.node)
        if len(self.text) < EVENT_CHECK_LIMIT:
            found += _event_features(self.text)
        return found


def _reference(text: str) -> Reference:
    try:
        return Reference(text, yaml.compose(text, Loader=LOADER), None)
    except Exception as exc:  # a YAMLError, or UnicodeEncodeError for a lone surrogate
        return Reference(text, None, f"{type(exc).__name__}: {exc}")


EVENT_CHECK_LIMIT = 100_000  # texts this short are also checked event by event


def _event_features(text: str) -> list[str]:
    """Anchors, aliases and tags libyaml sees: the composed tree does not record them."""
    if not any(c in text for c in "&*!"):
        return []  # none of them can be written without one of these characters
    found: list[str] = []
    for event in yaml.parse(text, Loader=LOADER):
        if isinstance(event, yaml.AliasEvent):
            found.append(f"alias *{event.anchor}")
        elif isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            found.append(f"anchor &{event.anchor}")
        if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)) and event.tag:
            found.append(f"tag {event.tag}")
    return found


def _tree_features(text: str, root: yaml.Node) -> list[str]:
    """Anchors, aliases, tags, duplicate keys (as nodes.key_text names them) and ``<<`` keys.

    A node with an anchor or a tag starts at its ``&`` or ``!``, and no other node can start with
    either character; an alias composes to the anchored node itself.
    """
    found: list[str] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            found.append("alias (a node met twice)")
            continue
        seen.add(id(node))
        start = node.start_mark.index
        if text[start : start + 1] in ("&", "!"):
            found.append(f"anchor or tag at {start}")
        if isinstance(node, yaml.MappingNode):
            names: set[str] = set()
            for key, value in node.value:
                name = nodes.key_text(key)
                if name in names:
                    found.append(f"duplicate key {name!r}")
                names.add(name)
                if isinstance(key, yaml.ScalarNode) and not key.style and key.value == "<<":
                    found.append("merge key <<")
                stack += (key, value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return found


def _kind(node: yaml.Node) -> type[yaml.Node] | None:
    for kind in (yaml.ScalarNode, yaml.MappingNode, yaml.SequenceNode):
        if isinstance(node, kind):
            return kind
    return None


def _difference(read: yaml.Node, composed: yaml.Node, keep: Keep, path: str) -> str | None:
    """The first way ``read`` differs from libyaml's ``composed`` under ``keep``, or None."""
    where = path or "<root>"
    if isinstance(read, blockread.Skipped):
        return f"{where}: the spec keeps this value but the reader left a Skipped placeholder"
    kind = _kind(composed)
    if kind is None or _kind(read) is not kind:
        return f"{where}: {type(read).__name__} where libyaml composed {type(composed).__name__}"
    if read.tag != composed.tag:
        return f"{where}: tag {read.tag!r}, libyaml {composed.tag!r}"
    spans = (read.start_mark.index, read.end_mark.index)
    expected = (composed.start_mark.index, composed.end_mark.index)
    if spans != expected:
        return f"{where}: spans {spans}, libyaml {expected}"
    if isinstance(composed, yaml.ScalarNode):
        assert isinstance(read, yaml.ScalarNode)
        if read.value != composed.value:
            return f"{where}: value {read.value!r}, libyaml {composed.value!r}"
        if (read.style or "") != (composed.style or ""):
            return f"{where}: style {read.style!r}, libyaml {composed.style!r}"
        return None
    assert isinstance(read, yaml.CollectionNode) and isinstance(composed, yaml.CollectionNode)
    if bool(read.flow_style) != bool(composed.flow_style):
        return f"{where}: flow_style {read.flow_style!r}, libyaml {composed.flow_style!r}"
    if len(read.value) != len(composed.value):
        return f"{where}: {len(read.value)} entries, libyaml {len(composed.value)}"
    if isinstance(composed, yaml.SequenceNode):
        return _items_difference(read.value, composed.value, keep, path)
    return _entries_difference(read.value, composed.value, keep, path)


def _items_difference(
    read: list[yaml.Node], composed: list[yaml.Node], keep: Keep, path: str
) -> str | None:
    """A spec applies through sequences: each item is filtered by the spec of the sequence."""
    for i, (mine, theirs) in enumerate(zip(read, composed, strict=True)):
        found = _difference(mine, theirs, keep, f"{path}[{i}]")
        if found:
            return found
    return None


def _entries_difference(
    read: list[tuple[yaml.Node, yaml.Node]],
    composed: list[tuple[yaml.Node, yaml.Node]],
    keep: Keep,
    path: str,
) -> str | None:
    for mine, theirs in zip(read, composed, strict=True):
        found = _entry_difference(mine, theirs, keep, path)
        if found:
            return found
    return None


def _entry_difference(
    entry: tuple[yaml.Node, yaml.Node], composed: tuple[yaml.Node, yaml.Node], keep: Keep, path: str
) -> str | None:
    """How one mapping entry differs: its key fully, its value as the spec asks."""
    (key, value), (c_key, c_value) = entry, composed
    name = nodes.key_text(c_key)
    found = _difference(key, c_key, True, f"{path}.<key {name!r}>")
    if found:
        return found
    if key.start_mark.column != c_key.start_mark.column:
        return (
            f"{path}.{name}: key column {key.start_mark.column}, libyaml {c_key.start_mark.column}"
        )
    inner = True if keep is True else keep.get(name)
    if inner is not None:
        return _difference(value, c_value, inner, f"{path}.{name}")
    if not isinstance(value, blockread.Skipped):
        return f"{path}.{name}: not kept by the spec but read as {type(value).__name__}"
    spans = (value.start_mark.index, value.end_mark.index)
    expected = (c_value.start_mark.index, c_value.end_mark.index)
    if spans != expected:
        return f"{path}.{name}: Skipped spans {spans}, libyaml's value {expected}"
    return None


def _shown(text: str, limit: int = 1500) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} chars)"


def check(text: str, keeps: dict[str, Keep] = KEEPS, where: str = "") -> dict[str, bool]:
    """Assert the contract for ``text`` under each spec; which specs the reader accepted."""
    accepted: dict[str, bool] = {}
    reference: Reference | None = None
    for name, keep in keeps.items():
        tree = blockread.read(text, keep)
        accepted[name] = tree is not None
        if tree is None:
            continue
        context = f"{where} keep={name}\n--- input ---\n{_shown(text)}"
        if reference is None:
            reference = _reference(text)
        assert reference.error is None, f"libyaml refuses it: {reference.error}\n{context}"
        root = reference.node
        assert isinstance(root, yaml.MappingNode), f"libyaml reads {root!r}\n{context}"
        assert not reference.features, f"accepted a document with {reference.features}\n{context}"
        found = _difference(tree, root, keep, "")
        assert found is None, f"{found}\n{context}"
    return accepted


def y(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# --- the comparison itself catches what it should ---------------------------------------------


def _composed_copy(text: str) -> yaml.Node:
    node = yaml.compose(text, Loader=LOADER)
    assert node is not None
    return node


def test_the_comparison_passes_libyaml_against_itself_and_catches_each_difference() -> None:
    text = 'a:\n  b: "x"\n  c:\n  - |\n    lit\n  - {}\nd: 1\n'
    same = _composed_copy(text)
    assert _difference(same, _composed_copy(text), True, "") is None

    def changed(edit: Callable[[yaml.Node], None]) -> str | None:
        node = _composed_copy(text)
        edit(node)
        return _difference(node, _composed_copy(text), True, "")

    def scalar_b(node: yaml.Node) -> yaml.ScalarNode:
        inner = node.value[0][1].value[0][1]
        assert isinstance(inner, yaml.ScalarNode)
        return inner

    def set_value(node: yaml.Node) -> None:
        scalar_b(node).value = "y"

    def set_style(node: yaml.Node) -> None:
        scalar_b(node).style = "'"

    def set_end(node: yaml.Node) -> None:
        mark = scalar_b(node).end_mark
        scalar_b(node).end_mark = yaml.Mark("", mark.index + 1, mark.line, mark.column, "", 0)

    def set_flow(node: yaml.Node) -> None:
        node.value[0][1].value[1][1].value[1].flow_style = False

    def drop_item(node: yaml.Node) -> None:
        node.value[0][1].value[1][1].value.pop()

    def move_key(node: yaml.Node) -> None:
        key = node.value[1][0]
        mark = key.start_mark
        key.start_mark = yaml.Mark("", mark.index, mark.line, mark.column + 1, "", 0)

    def skip_kept(node: yaml.Node) -> None:
        node.value[1] = (node.value[1][0], blockread.Skipped.__new__(blockread.Skipped))

    for edit in (set_value, set_style, set_end, set_flow, drop_item, move_key, skip_kept):
        assert changed(edit) is not None, edit.__name__
    # a value the spec leaves out must be a Skipped placeholder, not a built node
    assert _difference(same, _composed_copy(text), {"a": True}, "") is not None
    assert _difference(same, _composed_copy(text), {"a": True, "d": True}, "") is None


# --- what the reader declines, one feature at a time -----------------------------------------

LONG_KEY = "k" * 1025
# (name, text, whether libyaml composes it): declining valid YAML is the reader's choice, and
# libyaml's success shows the reader declined rather than failed.
DECLINED: list[tuple[str, str, bool]] = [
    ("flow mapping", "a: {b: 1}\n", True),
    ("flow sequence", "a: [1, 2]\n", True),
    ("flow mapping with a blank inside", "a: { }\n", True),
    ("flow sequence as a sequence item", "a:\n- [x]\n", True),
    ("anchor on a scalar", "a: &x 1\n", True),
    ("anchor on a mapping", "a: &x\n  b: 1\n", True),
    ("alias", "a: &x 1\nb: *x\n", True),
    ("anchor under a value the spec skips", "status:\n  x: &a 1\nkind: Pod\n", True),
    ("local tag", "a: !t 1\n", True),
    ("core tag", "a: !!str 1\n", True),
    ("non-specific tag", "a: ! 1\n", True),
    ("tag on a mapping", "a: !!map\n  b: 1\n", True),
    ("tag under a value the spec skips", "status:\n  x: !!str 1\nkind: Pod\n", True),
    ("comment line", "# c\na: 1\n", True),
    ("indented comment line", "a:\n  # c\n  b: 1\n", True),
    ("trailing comment", "a: 1 # c\n", True),
    ("comment after a block indicator", "a: | # c\n  x\n", True),
    ("comment after a key", "a: # c\n  b: 1\n", True),
    ("folded scalar", "a: >\n  x\n  y\n", True),
    ("folded scalar, strip", "a: >-\n  x\n", True),
    ("multi-line double-quoted scalar", 'a: "b\n  c"\n', True),
    ("multi-line single-quoted scalar", "a: 'b\n  c'\n", True),
    ("multi-line double-quoted kind", 'kind: "Pod\n  Pod"\n', True),
    ("multi-line single-quoted item", "kind:\n- 'b\n  c'\n", True),
    ("tab as a separator", "a:\tb\n", True),
    ("tab inside a plain value", "a: b\tc\n", True),
    ("tab in indentation", "a:\n\tb: 1\n", False),
    ("tab in a literal block", "a: |\n  \tx\n", False),
    ("CRLF line ends", "a: 1\r\nb: 2\r\n", True),
    ("lone CR line end", "a: 1\rb: 2\n", True),
    ("NEL line break", "a: b\x85c: d\n", True),
    ("NEL inside a plain value", "a: b\x85c\n", False),
    ("line separator U+2028", "a: b\u2028c\n", False),
    ("paragraph separator U+2029", "a: b\u2029c\n", False),
    ("byte order mark", "\ufeffa: 1\n", True),
    ("byte order mark inside a value", "a: b\ufeffc\n", True),
    ("byte order mark starting a later line", "a: 1\n\ufeffb: 2\n", False),
    ("control character", "a: b\x01c\n", False),
    ("DEL", "a: b\x7fc\n", False),
    ("raw escape character", "a: \x1b[31m\n", False),
    ("vertical tab", "a: b\x0bc\n", False),
    ("U+FFFE", "a: b\ufffec\n", False),
    ("lone surrogate", "a: b\ud800c\n", False),
    ("merge key", "a:\n  x: 1\n<<:\n  y: 2\n", True),
    ("merge key in a sequence item", "a:\n- <<:\n    y: 2\n  b: 1\n", True),
    ("duplicate keys", "a: 1\na: 2\n", True),
    ("duplicate keys in a nested mapping", "a:\n  b: 1\n  b: 2\n", True),
    ("duplicate keys in a sequence item", "a:\n- b: 1\n  b: 2\n", True),
    ("duplicate keys under a value the spec skips", "status:\n  b: 1\n  b: 2\nkind: Pod\n", True),
    ("duplicate keys, quoted and plain", 'a: 1\n"a": 2\n', True),
    ("duplicate keys, single- and double-quoted", "'a': 1\n\"a\": 2\n", True),
    ("duplicate keys, y and true", 'y: 1\n"true": 2\n', True),
    ("duplicate keys, on and yes", "on: 1\nyes: 2\n", True),
    ("duplicate keys, 1_000 and 1000", "1_000: a\n1000: b\n", True),
    ("duplicate keys, 0x10 and 16", "0x10: a\n16: b\n", True),
    ("duplicate keys, ~ and null", "~: a\nnull: b\n", True),
    ("root is a sequence", "- a\n", True),
    ("root is a scalar", "a\n", True),
    ("root is indented", "  a: 1\n", True),
    ("root is a flow mapping", "{a: 1}\n", True),
    ("root is an empty flow mapping", "{}\n", True),
    ("empty document", "", True),
    ("blank lines only", "\n  \n\n", True),
    ("comment only", "# c\n", True),
    ("explicit key", "? a\n: b\n", True),
    ("document start marker", "---\na: 1\n", True),
    ("document end marker", "a: 1\n...\n", True),
    ("directive", "%YAML 1.1\n---\na: 1\n", True),
    ("two documents", "a: 1\n---\nb: 2\n", False),
    ("mapping value inside a plain scalar", "a: b: c\n", False),
    ("unclosed double quote", 'a: "b\n', False),
    ("unclosed single quote", "a: 'b\n", False),
    ("dedent to no level", "a:\n  b: 1\n c: 2\n", False),
    ("sequence item in a mapping", "a: 1\n- b\n", False),
    ("mapping entry in a sequence", "a:\n  - b\n  c: 1\n", False),
    ("unknown escape", 'a: "\\q"\n', False),
    ("single-quote escape in double quotes", 'a: "\\\'"\n', False),
    ("surrogate escape", 'a: "\\ud800"\n', False),
    ("escape beyond U+10FFFF", 'a: "\\U00110000"\n', False),
    ("short hex escape", 'a: "\\x4"\n', False),
    ("leading blank line wider than the literal block", "a: |\n    \n  x\n", False),
    ("literal block less indented after its first line", "a: |\n    x\n  y\n", False),
    ("document marker inside a quoted scalar", 'a: "x\n---\n"\n', False),
    ("document marker inside a skipped quoted scalar", 'status: "x\n---\n"\nkind: Pod\n', False),
    ("plain key over 1024 characters", f"{LONG_KEY}: 1\n", False),
    ("quoted key over 1024 characters", f'"{LONG_KEY}": 1\n', False),
    ("key over 1024 characters in a sequence item", f"a:\n- {LONG_KEY}: 1\n", False),
    ("key over 1024 characters under a skipped value", f"status:\n  {LONG_KEY}: 1\n", False),
]


# Declined where the spec builds the value; a value passed over needs only its end (see the fuzzer).
BUILT_ONLY = {"multi-line double-quoted scalar", "multi-line single-quoted scalar"}
BUILT_ONLY_KIND = {"multi-line double-quoted kind", "multi-line single-quoted item"}
DECLINE_CASES = [
    pytest.param(name, text, valid, keep_name, id=f"{keep_name}-{name}")
    for keep_name in sorted(KEEPS)
    for name, text, valid in DECLINED
    if not (name in BUILT_ONLY and keep_name != "all")
    and not (name in BUILT_ONLY_KIND and keep_name == "none")
]


@pytest.mark.parametrize(("name", "text", "valid", "keep_name"), DECLINE_CASES)
def test_reader_declines(name: str, text: str, valid: bool, keep_name: str) -> None:
    assert blockread.read(text, KEEPS[keep_name]) is None, f"{name}: {text!r}"
    reference = _reference(text)
    if valid:
        assert reference.error is None, f"{name} should be valid YAML: {reference.error}"
    else:
        assert reference.error is not None, f"{name} should be malformed YAML for libyaml"


# --- the shared corpus -------------------------------------------------------------------------


def _render_id(path: Path) -> str:
    return f"{path.parent.parent.name}/{path.name}"


@dataclass(frozen=True)
class CorpusDoc:
    where: str
    kind: str | None
    text: str


@functools.cache
def _corpus() -> dict[Path, list[CorpusDoc]]:
    """Each render's documents, leaving out those an earlier render already holds verbatim.

    Several renders share large CRDs byte for byte; reading each distinct document once keeps
    the corpus tests fast without dropping any distinct input.
    """
    seen: set[str] = set()
    by_render: dict[Path, list[CorpusDoc]] = {}
    for path in RENDERS:
        _, docs = stream.split(path.read_bytes())
        fresh: list[CorpusDoc] = []
        for doc in docs:
            text = doc.raw.decode("utf-8").removeprefix("\ufeff")
            kind = stream.peek_kind(doc.raw)
            if text not in seen:
                seen.add(text)
                where = f"{_render_id(path)} line {doc.line}"
                fresh.append(CorpusDoc(where, kind.decode() if kind else None, text))
        by_render[path] = fresh
    return by_render


def test_corpus_is_present() -> None:
    assert len(RENDERS) >= 20
    assert sum(len(docs) for docs in _corpus().values()) >= 500


@pytest.mark.parametrize("path", RENDERS, ids=[_render_id(p) for p in RENDERS])
def test_corpus_documents_read_as_libyaml_composes_them(path: Path) -> None:
    for doc in _corpus()[path]:
        check(doc.text, {"all": True, "workload": WORKLOAD_KEEP}, doc.where)


@pytest.mark.parametrize("keep_name", ["all", "workload"])
def test_corpus_workloads_configmaps_and_secrets_are_accepted(keep_name: str) -> None:
    declined = [
        f"{doc.where} ({doc.kind})"
        for docs in _corpus().values()
        for doc in docs
        if doc.kind in FAST_PATH_KINDS and blockread.read(doc.text, KEEPS[keep_name]) is None
    ]
    assert not declined, f"the fast path declined {len(declined)} documents: {declined}"


# --- tricky scalars in every spelling ----------------------------------------------------------


def _tricky_values() -> list[str]:
    rows = yaml.safe_load(TRICKY.read_text(encoding="utf-8"))["scalars"]
    return [str(row["value"]) for row in rows]  # all of them, even those kustomize refuses


TRICKY_VALUES = _tricky_values()

_NAMED_ESCAPES = {
    "\0": "\\0", "\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f",
    "\r": "\\r", "\x1b": "\\e", "\x85": "\\N", "\xa0": "\\_", "\u2028": "\\L", "\u2029": "\\P",
    '"': '\\"', "\\": "\\\\", "/": "\\/", " ": "\\ ",
}  # fmt: skip


def _hand_escaped(value: str, rng: random.Random) -> str:
    """``value`` double-quoted, each character written raw or with a YAML escape at random."""
    out = []
    for ch in value:
        point = ord(ch)
        spellings = [f"\\U{point:08x}"]
        if point < 0x10000:
            spellings.append(f"\\u{point:04X}")
        if point < 0x100:
            spellings.append(f"\\x{point:02x}")
        if ch in _NAMED_ESCAPES:
            spellings += [_NAMED_ESCAPES[ch]] * 2
        if ch not in '"\\' and ch.isprintable():
            spellings.append(ch)
        out.append(rng.choice(spellings))
    return '"' + "".join(out) + '"'


def _block_bodies(value: str, indent: int) -> Iterator[str]:
    """The lines of a literal block holding ``value``: blank lines bare, or padded to the indent."""
    pad = " " * indent
    lines = value.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    yield "".join(f"{pad}{line}\n" if line else "\n" for line in lines)
    yield "".join(f"{pad}{line}\n" for line in lines)


def _spellings(value: str, rng: random.Random) -> Iterator[tuple[str, str]]:
    """(form, text): small documents holding ``value`` as a value, an item, a block and a key."""
    inline = {
        "plain": value,
        "json": json.dumps(value),
        "json-utf8": json.dumps(value, ensure_ascii=False),
        "escaped": _hand_escaped(value, rng),
        "escaped-again": _hand_escaped(value, rng),
        "single": "'" + value.replace("'", "''") + "'",
    }
    for form, spelled in inline.items():
        yield f"{form} value", f"k: {spelled}\n"
        yield f"{form} nested value", f"a:\n  k: {spelled}\n  z: 1\n"
        yield f"{form} item", f"a:\n- {spelled}\n- z\n"
        yield f"{form} key", f"{spelled}: v\nz: 1\n"
        yield f"{form} key in an item", f"a:\n  - {spelled}: v\n    z: 1\n"
    for chomp in ("", "-", "+"):
        for b, body in enumerate(_block_bodies(value, 2)):
            yield f"|{chomp} value {b}", f"k: |{chomp}\n{body}z: 1\n"
            yield f"|{chomp} last value {b}", f"z: 1\nk: |{chomp}\n{body}"
        for b, body in enumerate(_block_bodies(value, 4)):
            yield f"|{chomp} nested value {b}", f"a:\n  k: |{chomp}\n{body}  z: 1\n"
            yield f"|{chomp} indented item {b}", f"a:\n  - |{chomp}\n{body}  - z\n"
        for b, body in enumerate(_block_bodies(value, 2)):
            yield f"|{chomp} compact item {b}", f"a:\n- |{chomp}\n{body}- z\n"


@pytest.mark.parametrize("value", TRICKY_VALUES, ids=[repr(v)[:40] for v in TRICKY_VALUES])
def test_tricky_scalar_spellings_read_as_libyaml_composes_them(value: str) -> None:
    rng = random.Random(value)
    for form, text in _spellings(value, rng):
        check(text, where=form)


def test_tricky_scalars_plain_and_quoted_are_mostly_accepted() -> None:
    """The tricky scalar tests exercise the accepting path, not only the declines."""
    accepted = total = 0
    for value in TRICKY_VALUES:
        for form, text in _spellings(value, random.Random(value)):
            if form in ("json value", "single value", "|- value 0"):
                total += 1
                accepted += blockread.read(text, True) is not None
    assert accepted >= total // 2, f"accepted {accepted} of {total}"


ESCAPES = [
    ("\\x41", "A"), ("\\xe9", "é"), ("\\u00e9", "é"), ("\\U0001F600", "😀"), ("\\N", "\x85"),
    ("\\_", "\xa0"), ("\\L", "\u2028"), ("\\P", "\u2029"), ("\\e", "\x1b"), ("\\0", "\0"),
    ("\\/", "/"), ("\\ ", " "), ('\\"', '"'), ("\\\\", "\\"), ("\\a", "\a"), ("\\b", "\b"),
    ("\\t", "\t"), ("\\n", "\n"), ("\\v", "\v"), ("\\f", "\f"), ("\\r", "\r"),
    ("\\u0000", "\0"), ("\\uFFFE", "\ufffe"), ("\\U0010FFFF", "\U0010ffff"),
]  # fmt: skip


@pytest.mark.parametrize(("escape", "char"), ESCAPES, ids=[e for e, _ in ESCAPES])
def test_double_quoted_escape_reads_as_libyaml_reads_it(escape: str, char: str) -> None:
    text = f'k: "a{escape}b"\nz: 1\n'
    root = _reference(text).node
    assert isinstance(root, yaml.MappingNode)
    assert root.value[0][1].value == f"a{char}b"  # the expectation is libyaml's own reading
    assert check(text)["all"], f"declined {text!r}"


# --- literal blocks against libyaml ------------------------------------------------------------

# (name, text, whether kustomize writes it so the reader must accept it)
LITERALS: list[tuple[str, str, bool]] = [
    ("clip", "a: |\n  x\n  y\nb: 1\n", True),
    ("strip", "a: |-\n  x\n  y\nb: 1\n", True),
    ("keep", "a: |+\n  x\n\nb: 1\n", False),
    ("content one column in", "a: |\n x\n", True),
    ("content looks like YAML", "a: |\n  # no comment\n  - x: {y}\n  &a *b !c\n  ---\n", True),
    ("content more indented later", "a: |\n  x\n    y\n      z\n  w\n", True),
    ("content with trailing spaces", "a: |\n  x  \n  y \n", True),
    ("header with trailing spaces", "a: |  \n  x\n", True),
    ("blank line in the middle", "a: |\n  x\n\n  y\n", True),
    ("blank line in the middle with fewer spaces", "a: |\n    x\n  \n    y\n", False),
    ("blank line in the middle with as many spaces", "a: |\n  x\n  \n  y\n", False),
    ("blank line in the middle with more spaces", "a: |\n  x\n     \n  y\n", False),
    ("leading blank line", "a: |\n\n  x\n", False),
    ("leading blank lines with fewer spaces", "a: |\n \n\n  x\n", False),
    ("leading blank line with as many spaces", "a: |\n  \n  x\n", False),
    ("leading blank line with more spaces", "a: |\n   \n  x\n", False),
    ("first line more indented than the next", "a: |\n    x\n  y\n", False),
    ("nested, then a sibling", "a:\n  b: |\n    x\n  c: 1\n", True),
    ("nested, then the parent's sibling", "a:\n  b: |\n    x\nc: 1\n", True),
    ("nested, content at the parent's column", "a:\n  b: |\n  x\n", False),
    ("compact sequence item", "a:\n- |\n  x\n- y\n", True),
    ("indented sequence item", "a:\n  - |\n    x\n  - y\n", True),
    ("value in a sequence item mapping", "a:\n- b: |\n    x\n  c: 1\n", True),
    ("item mapping, content at the mapping's column", "a:\n- b: |\n  x\n", False),
    ("last in the document", "b: 1\na: |\n  x\n", True),
    ("last in the document, strip", "b: 1\na: |-\n  x\n", True),
    ("last in the document, keep", "b: 1\na: |+\n  x\n", False),
    ("last, no final newline", "a: |\n  x", False),
    ("last, no final newline, strip", "a: |-\n  x", False),
    ("last, no final newline, keep", "a: |+\n  x", False),
    ("last, final line of spaces", "a: |\n  x\n  ", False),
    ("no content, then a key", "a: |\nb: 1\n", False),
    ("no content, strip, then a key", "a: |-\nb: 1\n", False),
    ("no content, keep, then a key", "a: |+\nb: 1\n", False),
    ("no content at the end", "a: |\n", False),
    ("no content, strip, at the end", "a: |-\n", False),
    ("no content, keep, at the end", "a: |+\n", False),
    ("no content, no final newline", "a: |", False),
    ("no content, blank line, then a key", "a: |\n\nb: 1\n", False),
    ("only blank lines, keep", "a: |+\n\n  \nb: 1\n", False),
    ("indentation indicator", "a: |2\n   x\n", False),
    ("indentation indicator and strip", "a: |2-\n   x\n", False),
    ("non-ASCII content", "a: |\n  café 日本語 😀\n  x\nb: 1\n", True),
]


def _trailing_blank_cases() -> Iterator[tuple[str, str, bool]]:
    """Blank lines after the content, holding 0 to 4 spaces, with each chomping indicator."""
    for chomp in ("", "-", "+"):
        for n in range(5):
            blank = " " * n
            head = f"|{chomp} trailing blanks of {n} spaces"
            yield f"{head}, then a key", f"a: |{chomp}\n  x\n{blank}\n\nb: 1\n", False
            yield f"{head}, then the end", f"a: |{chomp}\n  x\n{blank}\n{blank}\n", False
            yield f"{head}, no final newline", f"a: |{chomp}\n  x\n{blank}", False
            yield f"{head}, nested", f"a:\n  b: |{chomp}\n    x\n{blank}\n  c: 1\n", False


LITERALS += list(_trailing_blank_cases())


@pytest.mark.parametrize(("name", "text", "kustomize"), LITERALS, ids=[c[0] for c in LITERALS])
def test_literal_block_reads_as_libyaml_composes_it(name: str, text: str, kustomize: bool) -> None:
    accepted = check(text, where=name)
    if kustomize:  # a shape kustomize writes: the fast path must take it
        assert all(accepted.values()), f"declined {text!r}: {accepted}"


# --- a seeded mutation fuzzer over realistic documents ----------------------------------------

BASES = [
    y("""
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      annotations:
        deployment.kubernetes.io/revision: "3"
      labels:
        app.kubernetes.io/name: web
      name: web
      namespace: shop
    spec:
      replicas: 2
      selector:
        matchLabels:
          app: web
      strategy:
        type: RollingUpdate
      template:
        metadata:
          annotations:
            checksum/config: 0a1b2c
          labels:
            app: web
        spec:
          containers:
          - args:
            - --port=8080
            - 'it''s: quoted'
            command:
            - /bin/web
            env:
            - name: MODE
              value: production
            - name: PASSWORD
              valueFrom:
                secretKeyRef:
                  key: password
                  name: web-secret
                  optional: false
            - name: LEVEL
              valueFrom:
                configMapKeyRef:
                  key: level
                  name: web-config
            envFrom:
            - configMapRef:
                name: web-env
            - prefix: S_
              secretRef:
                name: web-env-secret
            image: registry.example.com/web:1.2.3
            name: web
            ports:
            - containerPort: 8080
              name: http
            resources: {}
            volumeMounts:
            - mountPath: /etc/web
              name: config
          imagePullSecrets:
          - name: regcred
          initContainers: []
          volumes:
          - configMap:
              items:
              - key: app.yaml
                path: app.yaml
              name: web-config
            name: config
          - name: bundle
            projected:
              sources:
              - configMap:
                  name: web-ca
              - secret:
                  name: web-tls
              - serviceAccountToken:
                  path: token
          - name: data
            secret:
              defaultMode: 420
              secretName: web-data
    status:
      replicas: 2
    """),
    y("""
    apiVersion: v1
    data:
      app.yaml: |
        server:
          port: 8080

        log: info
      empty: ""
      script.sh: |-
        #!/bin/sh
        echo "hi: there" # not a comment
      trailing: |+
        keep

      quoted: 'it''s'
      unicode: café 日本語 😀
      url: http://x:80/a#b
    kind: ConfigMap
    metadata:
      name: web-config
      namespace: shop
    """),
    y("""
    apiVersion: v1
    data:
      password: cGFzc3dvcmQ=
    kind: Secret
    metadata:
      annotations:
        "example.com/quoted": "v\\u00e9 \\"x\\""
        kubectl.kubernetes.io/last-applied-configuration: '{"a": 1}'
      name: web-secret
    stringData:
      token: "abc\\tdef"
    type: Opaque
    """),
    y("""
    apiVersion: batch/v1
    kind: CronJob
    metadata:
      name: report
    spec:
      schedule: "*/5 * * * *"
      jobTemplate:
        spec:
          template:
            metadata:
              annotations: {}
            spec:
              containers:
                - name: report
                  image: busybox
                  env:
                    - name: A
                      valueFrom:
                        configMapKeyRef:
                          name: cfg
                          key: a
                  envFrom:
                    - secretRef:
                        name: s
              restartPolicy: OnFailure
              volumes:
                - name: v
                  configMap:
                    name: cfg
    """),
    y("""
    apiVersion: apps/v1
    kind: StatefulSet
    metadata:
      name: db
    spec:
      serviceName: db
      updateStrategy:
        type: OnDelete
      template:
        spec:
          containers:
          - name: db
            envFrom:
            - secretRef:
                name: db
                optional: true
          volumes:
          - name: conf
            configMap:
              name: db-conf
              optional: true
      volumeClaimTemplates:
      - metadata:
          name: data
        spec:
          accessModes:
          - ReadWriteOnce
    """),
]

# Values a mutation writes in place of a scalar: flow collections, block scalars of every header,
# multi-line plain and quoted scalars, indicators, and characters the reader must care about.
REPLACEMENTS = [
    "{a: 1}", "[1]", "{}", "[]", "{ }", "[ ]", "x", "-1", "--", "a:b", "a b", "é😀", "''", '""',
    ">\n{in}x\n{in}y", ">-\n{in}x", "|2\n{in}  x", "|+\n{in}x\n", "|-\n{in}x", "|\n{in}x\n{in}  y",
    "|\n\n{in}x\n\n", "|\n{in}# x\n{in}- y: z", "|", "|-", "|+",
    "x\n{in}y", "x\n\n{in}y", "x\n{in}!y &z *w |v \"u", "x\n{in}- y", "x\n{in}y: z",
    "x\n{in}#y", '"x\n{in}y"', '"x\\\n{in}y"', '"x\n\n{in}y"', "'x\n{in}y'", "'x\n\n{in}''y'",
    '"a\\x41\\u00e9\\N\\_\\L\\P\\e\\0\\/\\ "', '"\\U0001F600"', "'a''b'", '"a\\"b"',
    "&a x", "*a", "!t x", "!!str x", "! x", "&a\n{in}b: 1", "!!map\n{in}b: 1",
    "a\tb", "\tx", "x # c", "x #c", "# c", "x#c", "@x", "`x", "%x", "?", "? x", ": x", "-",
    "- x", "a: b", "~", "null", "y", "<<", "x\x85y", "x\u2028y", "x\ufeffy", "x\x01y", "x\xa0y",
]  # fmt: skip
INSERTS = ["\t", "\r\n", "\r", "\x85", "\u2028", "\u2029", "\ufeff", "\x00", "\x01", "\x7f"]
INSERTS += ["\x1b", "\xa0", "#", " #", "&", "*", "!", "'", '"', ":", ": ", "- ", "{", "[", "|"]

_ENTRY = re.compile(r"^( *)(- +)?([^ :#][^:]*?): ?(.*)$")
_ITEM = re.compile(r"^( *)- +(.*)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _pick(rng: random.Random, lines: list[str], pattern: re.Pattern[str] | None = None) -> int:
    """A random line index (one matching ``pattern`` if any does), or -1 when there are none."""
    candidates = [i for i, line in enumerate(lines) if line.strip()]
    if pattern is not None:
        candidates = [i for i in candidates if pattern.match(lines[i])] or candidates
    return rng.choice(candidates) if candidates else -1


def _reindent(rng: random.Random, lines: list[str]) -> None:
    i = _pick(rng, lines)
    if i >= 0:
        delta = rng.choice([-2, -1, 1, 2])
        lines[i] = " " * max(0, _indent(lines[i]) + delta) + lines[i].lstrip(" ")


def _blank(rng: random.Random, lines: list[str]) -> None:
    i = rng.randrange(len(lines) + 1)
    lines.insert(i, " " * rng.choice([0, 0, 1, 2, 3, 4, 6, 8]))


def _delete(rng: random.Random, lines: list[str]) -> None:
    blanks = [i for i, line in enumerate(lines) if not line.strip()]
    if lines:
        del lines[
            rng.choice(blanks) if blanks and rng.random() < 0.5 else rng.randrange(len(lines))
        ]


def _comment(rng: random.Random, lines: list[str]) -> None:
    i = _pick(rng, lines)
    if i < 0:
        return
    if rng.random() < 0.5:
        lines.insert(i, " " * _indent(lines[i]) + "# c")
    else:
        lines[i] += rng.choice([" # c", "  #", " #x: y"])


def _duplicate(rng: random.Random, lines: list[str]) -> None:
    i = _pick(rng, lines, _ENTRY)
    if i >= 0:
        lines.insert(i + 1, lines[i])


def _value_below(rng: random.Random, lines: list[str]) -> None:
    """``key: value`` becomes ``key:`` with the value on the next line, indented by 0 to 4."""
    i = _pick(rng, lines, _ENTRY)
    match = _ENTRY.match(lines[i]) if i >= 0 else None
    if match and match.group(4):
        head = lines[i][: match.start(4)].rstrip(" ")
        lines[i : i + 1] = [head, " " * (_indent(lines[i]) + rng.randrange(5)) + match.group(4)]


def _trailing_spaces(rng: random.Random, lines: list[str]) -> None:
    i = _pick(rng, lines)
    if i >= 0:
        lines[i] += " " * rng.randrange(1, 4)


def _sequence_block(lines: list[str], i: int) -> tuple[int, int]:
    """The lines [start, end) of the block sequence whose item starts at line ``i``."""
    col = _indent(lines[i])

    def inside(line: str) -> bool:
        return not line.strip() or _indent(line) > col or line[col:].startswith("- ")

    start = i
    while start > 0 and inside(lines[start - 1]):
        start -= 1
    end = i + 1
    while end < len(lines) and inside(lines[end]):
        end += 1
    return start, end


def _swap_sequence_style(rng: random.Random, lines: list[str]) -> None:
    """A compact sequence (``- `` at its key's column) becomes indented by 2, or the reverse."""
    i = _pick(rng, lines, _ITEM)
    if i < 0 or not _ITEM.match(lines[i]):
        return
    start, end = _sequence_block(lines, i)
    parent = _indent(lines[start - 1]) if start > 0 else 0
    shift = 2 if _indent(lines[i]) == parent else parent - _indent(lines[i])
    for j in range(start, end):
        if lines[j].strip():
            lines[j] = " " * max(0, _indent(lines[j]) + shift) + lines[j].lstrip(" ")


def _replace_value(rng: random.Random, lines: list[str]) -> None:
    i = _pick(rng, lines, _ENTRY)
    if i < 0:
        return
    match = _ENTRY.match(lines[i]) or _ITEM.match(lines[i])
    replacement = rng.choice(REPLACEMENTS).replace("{in}", " " * (_indent(lines[i]) + 2))
    if match is None:
        return
    lines[i : i + 1] = (lines[i][: match.start(match.lastindex or 0)] + replacement).split("\n")


def _rename_key(rng: random.Random, lines: list[str]) -> None:
    i = _pick(rng, lines, _ENTRY)
    match = _ENTRY.match(lines[i]) if i >= 0 else None
    if match:
        key = rng.choice(["y", "true", "'a'", '"a"', "a", "1_0", "10", "<<", "~", "null", "a b"])
        lines[i] = lines[i][: match.start(3)] + key + lines[i][match.end(3) :]


def _insert_character(rng: random.Random, lines: list[str]) -> None:
    i = _pick(rng, lines)
    if i >= 0:
        at = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:at] + rng.choice(INSERTS) + lines[i][at:]


LINE_MUTATIONS: list[Callable[[random.Random, list[str]], None]] = [
    _reindent, _reindent, _blank, _blank, _delete, _comment, _duplicate, _value_below,
    _value_below, _trailing_spaces, _swap_sequence_style, _swap_sequence_style, _replace_value,
    _replace_value, _replace_value, _replace_value, _rename_key, _insert_character,
]  # fmt: skip


def _mutate(rng: random.Random, text: str) -> str:
    """One to three random edits of ``text``; now and then the whole text is cut or stripped."""
    lines = text.split("\n")
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
        rng.choice(LINE_MUTATIONS)(rng, lines)
    text = "\n".join(lines)
    roll = rng.random()
    if roll < 0.04:
        text = text.rstrip("\n")
    elif roll < 0.08:
        text = text[: rng.randrange(len(text) + 1)]
    elif roll < 0.10:
        text = "\ufeff" + text
    elif roll < 0.12:
        text = text.replace("\n", "\r\n")
    return text


def _random_keep(rng: random.Random, values: list[yaml.Node], depth: int = 0) -> Keep:
    """A spec over the keys of the mappings in ``values`` (through sequences), chosen at random."""
    mappings: list[yaml.MappingNode] = []
    stack = list(values)
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            mappings.append(node)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    below: dict[str, list[yaml.Node]] = {}
    for mapping in mappings:
        for key, value in mapping.value:
            below.setdefault(nodes.key_text(key), []).append(value)
    if not below or depth > 5 or rng.random() < 0.1:
        return True
    spec: dict[str, Keep] = {}
    for name, inner in below.items():
        roll = rng.random()
        if roll < 0.25:
            spec[name] = True
        elif roll < 0.65:
            spec[name] = _random_keep(rng, inner, depth + 1)
    if rng.random() < 0.3:
        spec["absent"] = True
    return spec


FUZZ_SEEDS = range(4)
MUTANTS_PER_BASE = 100


@pytest.mark.parametrize("seed", FUZZ_SEEDS)
def test_mutated_documents_read_as_libyaml_composes_them_or_are_declined(seed: int) -> None:
    rng = random.Random(seed)
    accepted = total = 0
    for base in BASES:
        root = _reference(base).node
        assert root is not None
        for _ in range(MUTANTS_PER_BASE):
            text = _mutate(rng, base)
            keeps = {**KEEPS, "random": _random_keep(rng, [root])}
            result = check(text, keeps, where=f"seed {seed}")
            total += 1
            accepted += result["all"]
    assert accepted * 4 >= total, f"only {accepted} of {total} mutants accepted: fuzz the edits"


@pytest.mark.parametrize("keep_name", sorted(KEEPS))
def test_unmutated_fuzzer_bases_are_accepted_and_read_as_libyaml_composes_them(
    keep_name: str,
) -> None:
    for base in BASES:
        assert check(base, {keep_name: KEEPS[keep_name]})[keep_name], base.splitlines()[1]


def _noise(rng: random.Random) -> str:
    atoms = ["a", "b", "k", ":", ": ", " ", "  ", "\n", "\n  ", "\n- ", "- ", "-", '"', "'", "|"]
    atoms += ["|-", "|+", ">", "#", " #", "{}", "[]", "{", "}", "&a", "*a", "!", "\\", "\t"]
    atoms += ["é", "😀", "\x85", "\u2028", "\ufeff", "---", "...", "?", ",", "<<", "\r"]
    return "".join(rng.choice(atoms) for _ in range(rng.randrange(1, 30)))


@pytest.mark.parametrize("seed", range(3))
def test_random_noise_never_raises_and_reads_as_libyaml_or_is_declined(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(1500):
        check(_noise(rng), where=f"noise seed {seed}")


# --- libyaml's limit on implicit keys ---------------------------------------------------------


def _keys_near_the_limit() -> Iterator[tuple[str, str]]:
    """libyaml takes an implicit key of at most 1024 characters, ``:`` not counted."""
    for length in (1023, 1024, 1025, 1030):
        plain, quoted = "k" * length, '"' + "k" * (length - 2) + '"'
        yield f"plain key of {length}", f"{plain}: 1\n"
        yield f"quoted key of {length}", f"{quoted}: 1\n"
        yield f"nested key of {length}", f"a:\n  {plain}: 1\n"
        yield f"item key of {length}", f"a:\n- {plain}: 1\n"


KEY_LIMIT = list(_keys_near_the_limit())


@pytest.mark.parametrize(("name", "text"), KEY_LIMIT, ids=[name for name, _ in KEY_LIMIT])
def test_keys_near_libyamls_length_limit_read_as_libyaml_reads_them(name: str, text: str) -> None:
    check(text, where=name)


def test_feature_check_on_the_composed_tree_agrees_with_libyamls_events() -> None:
    """The corpus's large documents are checked on the tree only: it must miss nothing."""
    rng = random.Random(7)
    texts = [text for _, text, _ in DECLINED] + [_mutate(rng, b) for b in BASES for _ in range(60)]
    texts += ["a: &a\n  b: *a\n", "a: &a [*a]\n", "? &k a\n: 1\n", "--- !t\na: 1\n", "a: !t\n"]
    for text in texts:
        root = _reference(text).node
        if root is None:
            continue
        events = bool(_event_features(text))
        tree = any(not f.startswith(("duplicate", "merge")) for f in _tree_features(text, root))
        assert tree == events, repr(text)


# --- documents generated from the block grammar ------------------------------------------------

GEN_CHARS = "abcxyz019 -_.:/#'\"!&*|>{}[],?@%`\\é😀~="
GEN_KEYS = ["a", "b", "name", "app.kubernetes.io/name", "k-1", "x_y", "y", "on", "1", "0x1F"]
GEN_KEYS += ["1_0", "10", "null", "~", "1e3", ".inf", "-a", "a b", '"a"', '"x y"', '"é"']
GEN_KEYS += ['"a\\"b"', '"a\\x41"', '""', "'a'", "'a''b'", "''", "'b'"]


class Generator:
    """Random block documents: mappings, compact and indented sequences, item mappings, every
    scalar style, literal blocks with random blank lines, and multi-line scalars, indented a
    little right or wrong. libyaml decides which are valid; the reader must agree or decline."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lines: list[str] = []

    def document(self) -> str:
        self.lines = []
        self.mapping(0, 0)
        text = "\n".join(self.lines)
        return text + self.rng.choice(["\n"] * 8 + ["", "\n\n  \n"])

    def word(self) -> str:
        return "".join(self.rng.choice(GEN_CHARS) for _ in range(self.rng.randrange(1, 8)))

    def inline(self) -> str:
        roll, word = self.rng.random(), self.word()
        if roll < 0.35:
            return word
        if roll < 0.55:
            return '"' + word.replace('"', '\\"') + '"'
        if roll < 0.7:
            return "'" + word.replace("'", "''") + "'"
        return self.rng.choice(["", "{}", "[]", "x", "-1", "a b", "true"])

    def literal(self, head: str, indent: int) -> None:
        self.lines.append(head + "|" + self.rng.choice(["", "", "-", "+", " ", "2"]))
        width = indent + self.rng.choice([1, 2, 2, 3])
        for _ in range(self.rng.randrange(5)):
            if self.rng.random() < 0.25:
                self.lines.append(" " * self.rng.randrange(width + 3))
            else:
                shift = self.rng.choice([0, 0, 0, 1, 2, -1])
                self.lines.append(" " * max(0, width + shift) + self.word())

    def multi_line(self, head: str, indent: int) -> None:
        parts = [self.word()]
        for _ in range(self.rng.randrange(1, 4)):
            if self.rng.random() < 0.3:
                parts.append(" " * self.rng.randrange(indent + 4))
            else:
                parts.append(" " * max(0, indent + self.rng.choice([0, 1, 2, 2, 3])) + self.word())
        text = "\n".join(parts)
        quote = self.rng.choice(["", '"', "'"])
        self.lines += (head + quote + text.replace(quote, "") + quote).split("\n")

    def value(self, head: str, indent: int, depth: int) -> None:
        """The value after ``head`` (``key:`` or ``- ``), on its line and the lines below."""
        roll = self.rng.random() * (0.5 if depth > 3 else 1)
        is_key = head.endswith(":")
        space = " " if is_key else ""
        if roll < 0.3:
            self.lines.append((head + space + self.inline()).rstrip() if is_key else head + "x")
        elif roll < 0.42:
            self.literal(head + space, indent)
        elif roll < 0.5:
            self.multi_line(head + space, indent + 1)
        elif roll < 0.75 and is_key:
            self.lines.append(head)
            self.mapping(indent + self.rng.choice([1, 2, 2, 4]), depth + 1)
        elif roll < 0.75:  # an item mapping: its first entry on the dash line
            below = Generator(self.rng.randrange(1 << 30))
            below.mapping(0, depth + 1)
            pad = " " * len(head)
            self.lines.append(head + below.lines[0])
            self.lines += [pad + line if line.strip() else line for line in below.lines[1:]]
        elif is_key:
            self.lines.append(head)
            self.sequence(indent + self.rng.choice([0, 0, 2, 1]), depth + 1)
        else:
            self.lines.append(head + "x")

    def mapping(self, indent: int, depth: int) -> None:
        for _ in range(self.rng.randrange(1, 4)):
            self.value(" " * indent + self.rng.choice(GEN_KEYS) + ":", indent, depth)

    def sequence(self, indent: int, depth: int) -> None:
        for _ in range(self.rng.randrange(1, 4)):
            self.value(" " * indent + "- " + " " * self.rng.choice([0, 0, 0, 1]), indent, depth)


@pytest.mark.parametrize("seed", range(2))
def test_generated_documents_read_as_libyaml_composes_them_or_are_declined(seed: int) -> None:
    generator = Generator(seed)
    rng = random.Random(seed)
    accepted = 0
    count = 1000
    for _ in range(count):
        text = generator.document()
        root = _reference(text).node
        keeps = {**KEEPS, "random": _random_keep(rng, [root]) if root is not None else True}
        accepted += check(text, keeps, where=f"generated, seed {seed}")["all"]
    assert accepted * 10 >= count, f"only {accepted} of {count} generated documents accepted"
