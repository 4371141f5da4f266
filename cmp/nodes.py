"""Read composed YAML nodes the way Argo CD reads the same text.

Documents are composed with libyaml into nodes and never constructed into Python objects: node
values keep their source text, nothing is re-typed, and PyYAML's own crashes on ``=`` or
``2001-02-30`` cannot happen. The helpers here answer typed questions ("is this a string?") with
go-yaml v2's rules.
"""

from __future__ import annotations

from collections.abc import Iterator

import yaml

from cmp.errors import InputError
from cmp.yaml11 import resolve_plain

try:
    from yaml._yaml import CParser as _ReadingBase  # the bare C composer: no constructor setup

    _Loader: type = yaml.CSafeLoader
except ImportError:  # PyYAML built without libyaml
    _Loader = _ReadingBase = yaml.SafeLoader  # type: ignore[assignment,misc]

Node = yaml.Node
MappingNode = yaml.MappingNode
ScalarNode = yaml.ScalarNode
SequenceNode = yaml.SequenceNode

_STR = "tag:yaml.org,2002:str"
_INDEX = "_confighash_index"  # a mapping's {key: value}, cached in its __dict__ by _index()
_ANCHORS = "_confighash_anchors"  # on a composed root: whether its text has an "&" (an anchor)
_UNRESOLVED_TAGS = {
    ScalarNode: _STR,
    SequenceNode: "tag:yaml.org,2002:seq",
    MappingNode: "tag:yaml.org,2002:map",
}


class _ReadingLoader(_ReadingBase):
    """Composes without PyYAML's implicit resolver: every untagged scalar gets the tag ``str``.

    PyYAML tries its regular expressions on every plain scalar, and the answer is never used for
    reading: :func:`scalar_type` types plain scalars by go-yaml v2's rules. Skipping it makes
    composing about a third faster. Re-emitting needs PyYAML's own tags (its dumper quotes by
    them), so :func:`compose` takes ``exact_tags=True`` there.
    """

    def resolve(self, kind: type[Node], value: object, implicit: object) -> str:
        return _UNRESOLVED_TAGS[kind]

    def descend_resolver(self, current_node: object, current_index: object) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


_PYYAML_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}"
    for t in ("str", "bool", "int", "float", "null", "timestamp", "value", "merge")
)


def compose(text: str, where: str, first_line: int, *, exact_tags: bool = False) -> Node | None:
    """Compose one document; None when Argo CD would skip it (empty or ``null``).

    Plain scalars carry the tag ``str`` unless ``exact_tags``: read them with :func:`scalar_type`.
    """
    try:
        node: Node | None = yaml.compose(text, Loader=_Loader if exact_tags else _ReadingLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {first_line + mark.line}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(where, f"malformed YAML{line}: {problem}") from None
    if node is None or (isinstance(node, ScalarNode) and scalar_type(node) == "null"):
        return None
    vars(node)[_ANCHORS] = "&" in text
    return node


def scalar_type(node: Node) -> str:
    """The type Argo CD gives a node: a go-yaml v2 scalar type, or ``map`` / ``seq``."""
    if isinstance(node, MappingNode):
        return "map"
    if isinstance(node, SequenceNode):
        return "seq"
    if isinstance(node, ScalarNode) and not node.style and node.tag in _PYYAML_PLAIN_TAGS:
        return resolve_plain(node.value)[0]
    return "str" if node.tag == _STR else node.tag.rsplit(":", 1)[-1]


def describe(node: Node) -> str:
    kind = scalar_type(node)
    names = {"map": "a mapping", "seq": "a list", "str": "a string", "int": "an integer"}
    return names.get(kind, f"a {kind}")


_PLAIN_KEYS: dict[str, str] = {}  # key_text() of plain keys: a few hundred names, met many times
_PLAIN_KEYS_MAX = 100_000


def key_text(node: Node) -> str:
    """A mapping key as Argo CD names it after YAML to JSON (``y`` becomes ``true``)."""
    if not isinstance(node, ScalarNode):
        return f"<{describe(node)}>"
    if not node.style:
        text = _PLAIN_KEYS.get(node.value)
        if text is None:
            text = _plain_key_text(node.value)
            if len(_PLAIN_KEYS) < _PLAIN_KEYS_MAX:
                _PLAIN_KEYS[node.value] = text
        return text
    return str(node.value)


def _plain_key_text(text: str) -> str:
    kind, value = resolve_plain(text)
    if kind == "bool":
        return "true" if value else "false"
    if kind == "int":
        return str(value)
    if kind == "null":
        return "null"
    return text


def pairs(node: MappingNode, where: str, path: str) -> Iterator[tuple[str, Node]]:
    """The (key, value) pairs of a mapping; merge keys are refused rather than half-supported."""
    for key, value in node.value:
        if isinstance(key, ScalarNode) and not key.style and key.value == "<<":
            raise InputError(where, f"{path or 'the document'} uses a YAML merge key (<<)")
        yield key_text(key), value


def _index(node: MappingNode) -> dict[str, Node] | None:
    """``{key_text: value}`` of a mapping, the last value of each key; None if it has a merge key.

    Cached on the node, so reading many fields of one mapping walks its keys once. The cache
    holds only while ``node.value`` is the same list (re-emission assigns new lists).
    """
    cached: tuple[object, dict[str, Node]] | None = vars(node).get(_INDEX)
    if cached is not None and cached[0] is node.value:
        return cached[1]
    index: dict[str, Node] = {}
    for key, value in node.value:
        if isinstance(key, ScalarNode) and not key.style and key.value == "<<":
            return None
        index[key_text(key)] = value
    vars(node)[_INDEX] = (node.value, index)
    return index


def get(node: Node | None, key: str, where: str, path: str) -> Node | None:
    """The value of ``key`` in a mapping (the last one, as Argo CD keeps), or None."""
    if not isinstance(node, MappingNode):
        return None
    index = _index(node)
    if index is not None:
        return index.get(key)
    found = None  # a merge key is in the mapping: pairs() names it in its error
    for name, value in pairs(node, where, path):
        if name == key:
            found = value
    return found


def get_present(node: Node | None, key: str, where: str, path: str) -> Node | None:
    """The value of ``key``, or None when it is absent or null (``~``, ``null``, empty)."""
    value = get(node, key, where, path)
    return None if value is None or scalar_type(value) == "null" else value


def get_str(node: Node | None, key: str, where: str, path: str) -> str | None:
    """A string field; None if absent or null; an error if it holds anything else."""
    value = get_present(node, key, where, path)
    if value is None:
        return None
    if scalar_type(value) != "str":
        raise InputError(where, f"{join_path(path, key)} is {describe(value)}, not a string")
    return str(value.value)


def get_bool(node: Node | None, key: str, where: str, path: str) -> bool:
    """A boolean field, false when absent or null."""
    value = get_present(node, key, where, path)
    if value is None:
        return False
    if scalar_type(value) != "bool":
        raise InputError(where, f"{join_path(path, key)} is {describe(value)}, not a boolean")
    if isinstance(value, ScalarNode) and not value.style:
        return bool(resolve_plain(value.value)[1])
    return str(value.value) == "true"


def get_map(node: Node | None, key: str, where: str, path: str) -> MappingNode | None:
    """A mapping field; None if absent or null; an error if it holds anything else."""
    value = get_present(node, key, where, path)
    if value is None:
        return None
    if not isinstance(value, MappingNode):
        raise InputError(where, f"{join_path(path, key)} is {describe(value)}, not a mapping")
    return value


def join_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def check_unique_keys(root: Node, where: str) -> None:
    """Refuse duplicate keys and shared (aliased) nodes anywhere in a document we will edit.

    Argo CD keeps the last of two equal keys, so an annotation written into the first of two
    ``annotations:`` maps would vanish; an alias would make one edit appear in several places.
    """
    if _may_have_duplicates_or_aliases(root, anchors=vars(root).get(_ANCHORS, True)):
        _raise_for_duplicates_or_aliases(root, where)


def _may_have_duplicates_or_aliases(root: Node, *, anchors: bool) -> bool:
    """The quick walk of :func:`check_unique_keys`, without paths; True also for a ``<<`` key.

    Aliases are looked for only when the document text has an ``&``: an alias needs an anchor.
    """
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if anchors:
            if id(node) in seen:
                return True
            seen.add(id(node))
        if isinstance(node, MappingNode):
            pairs = node.value
            names = {key_text(key) for key, _ in pairs}
            if len(names) != len(pairs) or "<<" in names:
                return True
            stack.extend([value for _, value in pairs])
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    return False


def _raise_for_duplicates_or_aliases(root: Node, where: str) -> None:
    """The walk that names the path of the first duplicate key or alias found."""
    seen: set[int] = set()
    stack: list[tuple[Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            raise InputError(where, f"{path or 'the document'} is a YAML alias; cannot edit safely")
        seen.add(id(node))
        if isinstance(node, MappingNode):
            names: set[str] = set()
            for name, value in pairs(node, where, path):
                if name in names:
                    raise InputError(where, f"duplicate key {join_path(path, name)}")
                names.add(name)
                stack.append((value, join_path(path, name)))
        elif isinstance(node, SequenceNode):
            stack.extend((item, join_path(path, i)) for i, item in enumerate(node.value))
