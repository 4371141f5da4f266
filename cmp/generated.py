"""Secrets that a controller produces from another object in the stream.

A bitnami ``SealedSecret`` and an external-secrets.io ``ExternalSecret`` each stand for the Secret
their controller writes into the same namespace. Its content is not in the stream, so what is
digested is the part of the producer's spec that decides that content: for a SealedSecret the
ciphertext and the template, for an ExternalSecret the data and dataFrom it fetches, the store it
fetches them from, and the template. A rotation at the secret store, with an unchanged spec, is
therefore not seen.

The digested parts are kept as the source's ``entries``: one entry per Secret key the spec names
(its ciphertext, or its remote reference), and an entry labelled ``(part)`` for the rest. A label
in parentheses can never be a Secret key, so a diff can tell the two apart.
"""

from __future__ import annotations

from cmp import nodes
from cmp.model import Identity, Source
from cmp.yaml11 import resolve_plain

SEALED_SECRET = ("bitnami.com", "SealedSecret")
EXTERNAL_SECRET = ("external-secrets.io", "ExternalSecret")
GENERATOR_KINDS: frozenset[str] = frozenset({SEALED_SECRET[1], EXTERNAL_SECRET[1]})
_TEMPLATE_SKIP = frozenset({"metadata"})  # labels and annotations of the Secret: no pod sees them


def part_label(name: str) -> str:
    return f"({name})"


def is_part_label(key: str) -> bool:
    return key.startswith("(") and key.endswith(")")


def _length(raw: bytes) -> bytes:
    return len(raw).to_bytes(8, "big") + raw


def _scalar(node: nodes.Node) -> bytes:
    kind = nodes.scalar_type(node)
    text = str(node.value)
    if isinstance(node, nodes.ScalarNode) and not node.style and kind != "str":
        value = resolve_plain(text)[1]
        if kind == "bool":
            text = "true" if value else "false"
        elif kind in ("int", "float"):
            text = repr(value)
        elif kind == "null":
            text = ""
    return b"s" + _length(kind.encode("utf-8")) + _length(text.encode("utf-8"))


def canonical(
    node: nodes.Node | None, where: str, path: str, skip: frozenset[str] = frozenset()
) -> bytes:
    """An unambiguous encoding of a YAML subtree as Argo CD reads it: keys sorted, last key wins.

    Plain scalars are typed with go-yaml v2's rules, so ``1`` and ``"1"`` differ and ``0x10`` equals
    ``16``, exactly as in the object the controller receives. ``skip`` leaves top-level keys out.
    """
    if node is None:
        return b"-"
    if isinstance(node, nodes.MappingNode):
        fields = {k: v for k, v in nodes.pairs(node, where, path) if k not in skip}
        parts = [b"m", len(fields).to_bytes(8, "big")]
        for key in sorted(fields):
            parts += [_length(key.encode("utf-8")), canonical(fields[key], where, f"{path}.{key}")]
        return b"".join(parts)
    if isinstance(node, nodes.SequenceNode):
        parts = [b"l", len(node.value).to_bytes(8, "big")]
        parts += [canonical(item, where, f"{path}[{i}]") for i, item in enumerate(node.value)]
        return b"".join(parts)
    return _scalar(node)


def _sealed_secret(spec: nodes.Node | None, where: str) -> tuple[str | None, dict[str, bytes]]:
    entries: dict[str, bytes] = {}
    encrypted = nodes.get_map(spec, "encryptedData", where, "spec")
    if encrypted is not None:
        for key, value in nodes.pairs(encrypted, where, "spec.encryptedData"):
            entries[key] = canonical(value, where, f"spec.encryptedData.{key}")
    legacy = nodes.get(spec, "data", where, "spec")  # the v1alpha1 single-blob form
    if legacy is not None:
        entries[part_label("data")] = canonical(legacy, where, "spec.data")
    template = nodes.get_map(spec, "template", where, "spec")
    if template is not None:
        entries[part_label("template")] = canonical(
            template, where, "spec.template", _TEMPLATE_SKIP
        )
    metadata = nodes.get_map(template, "metadata", where, "spec.template")
    return nodes.get_str(metadata, "name", where, "spec.template.metadata"), entries


def _external_secret(spec: nodes.Node | None, where: str) -> tuple[str | None, dict[str, bytes]]:
    entries: dict[str, bytes] = {}
    data = nodes.get(spec, "data", where, "spec")
    if isinstance(data, nodes.SequenceNode):
        for i, item in enumerate(data.value):
            path = f"spec.data[{i}]"
            key = (
                nodes.get_str(item, "secretKey", where, path)
                if isinstance(item, nodes.MappingNode)
                else None
            )
            label = key if key else part_label(f"data[{i}]")
            entries[label] = entries.get(label, b"") + canonical(item, where, path)
    elif data is not None:
        entries[part_label("data")] = canonical(data, where, "spec.data")
    for field in ("dataFrom", "secretStoreRef"):
        value = nodes.get(spec, field, where, "spec")
        if value is not None:
            entries[part_label(field)] = canonical(value, where, f"spec.{field}")
    target = nodes.get_map(spec, "target", where, "spec")
    template = nodes.get_map(target, "template", where, "spec.target")
    if template is not None:
        entries[part_label("template")] = canonical(
            template, where, "spec.target.template", _TEMPLATE_SKIP
        )
    return nodes.get_str(target, "name", where, "spec.target"), entries


def read_generated(obj: nodes.Node, identity: Identity, group: str, ignored: bool) -> Source | None:
    """The Secret that ``obj`` produces, as a source; None if ``obj`` is no producer we know."""
    where = identity.where
    spec = nodes.get_map(obj, "spec", where, "")
    if (group, identity.kind) == SEALED_SECRET:
        target, entries = _sealed_secret(spec, where)
    elif (group, identity.kind) == EXTERNAL_SECRET:
        target, entries = _external_secret(spec, where)
    else:
        return None
    return Source(
        identity,
        "Secret",
        entries,
        ignored,
        origin=identity.kind,
        target=target or identity.name,
    )
