"""ConfigMaps and Secrets: what a pod sees of each, and the index workloads resolve against."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import NamedTuple

from cmp import nodes
from cmp.errors import InputError
from cmp.model import Findings, Identity, Source, SourceKind

SOURCE_KINDS: frozenset[str] = frozenset({"ConfigMap", "Secret"})
# The API server's limit on a ConfigMap's or Secret's data: core.MaxSecretSize = 1 * 1024 * 1024
# (k8s.io/kubernetes v1.37.2 pkg/apis/core/types.go). ValidateConfigMap and ValidateSecret
# (pkg/apis/core/validation/validation.go) add up len(value) of every value, never the keys: for
# a ConfigMap, data (UTF-8 bytes) plus binaryData (decoded bytes); for a Secret, data decoded,
# with stringData already merged into it. More than this is rejected; exactly this is not.
MAX_DATA_SIZE = 1 * 1024 * 1024


def _string_map(obj: nodes.Node, field: str, where: str) -> dict[str, str]:
    mapping = nodes.get_map(obj, field, where, "")
    if mapping is None:
        return {}
    result: dict[str, str] = {}
    for key, value in nodes.pairs(mapping, where, field):
        if nodes.scalar_type(value) != "str":
            raise InputError(where, f"{field}.{key} is {nodes.describe(value)}, not a string")
        result[key] = str(value.value)
    return result


def _decode(text: str, field: str, key: str, where: str) -> bytes:
    # The API server decodes with Go's StdEncoding, which skips line breaks.
    try:
        return base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        raise InputError(where, f"{field}.{key} is not valid base64") from None


def visible_entries(obj: nodes.Node, kind: SourceKind, where: str) -> dict[str, bytes]:
    """The files or variables a pod gets, by key.

    ConfigMap: ``data`` as UTF-8 plus ``binaryData`` decoded. Secret: ``data`` decoded with
    ``stringData`` laid over it, as the API server merges them on write.
    """
    if kind == "ConfigMap":
        entries = {k: v.encode("utf-8") for k, v in _string_map(obj, "data", where).items()}
        for key, text in _string_map(obj, "binaryData", where).items():
            if key in entries:
                raise InputError(where, f"key {key} is in both data and binaryData")
            entries[key] = _decode(text, "binaryData", key, where)
        return entries
    entries = {k: _decode(v, "data", k, where) for k, v in _string_map(obj, "data", where).items()}
    entries.update((k, v.encode("utf-8")) for k, v in _string_map(obj, "stringData", where).items())
    return entries


def _immutable(obj: nodes.Node, where: str) -> bool:
    """``immutable: true``; any other value (absent, false, not a boolean) counts as mutable."""
    value = nodes.get_present(obj, "immutable", where, "")
    if value is None or nodes.scalar_type(value) != "bool":
        return False
    return nodes.get_bool(obj, "immutable", where, "")


def read_source(obj: nodes.Node, identity: Identity, ignored: bool) -> Source:
    kind: SourceKind = "ConfigMap" if identity.kind == "ConfigMap" else "Secret"
    entries = visible_entries(obj, kind, identity.where)
    return Source(identity, kind, entries, ignored, immutable=_immutable(obj, identity.where))


def data_size(source: Source) -> int:
    """The bytes the API server counts against MAX_DATA_SIZE: the sum of the values' lengths."""
    return sum(len(value) for value in source.entries.values())


def check_size(source: Source, findings: Findings) -> None:
    """Warn about a ConfigMap or Secret the API server would refuse to store (too much data)."""
    if source.origin is not None:
        return
    size = data_size(source)
    if size > MAX_DATA_SIZE:
        findings.add(
            source.identity.where,
            f"{source.kind} {source.name} holds {size} bytes of data, over the API server's "
            f"limit of {MAX_DATA_SIZE} bytes (1 MiB, the sum of its values' lengths): it cannot "
            "be stored, and the sync will fail",
            "too-large",
        )


class SourceIndex(NamedTuple):
    """Sources by (kind, namespace, name); a later object of the same identity wins, as in apply."""

    by_key: dict[tuple[str, str | None, str], Source]

    @classmethod
    def build(cls, sources: Iterable[Source], findings: Findings | None = None) -> SourceIndex:
        """Index ``sources``. A Secret in the stream wins over a producer (a SealedSecret, ...)
        of the same name, with a warning: its content is what the digest can see."""
        index: dict[tuple[str, str | None, str], Source] = {}
        for source in sources:
            if source.name is None:
                continue
            key = (source.kind, source.namespace, source.name)
            held = index.get(key)
            if held is not None and (held.origin is None) != (source.origin is None):
                real, producer = (held, source) if held.origin is None else (source, held)
                if findings is not None:
                    findings.add(
                        producer.identity.where,
                        f"produces Secret {source.name}, which is also in the stream "
                        f"({real.identity.where}); the Secret in the stream is digested",
                        "shadowed-producer",
                        strictable=False,
                    )
                index[key] = real
                continue
            index[key] = source
        return cls(index)

    def lookup(self, kind: str, namespace: str | None, name: str) -> Source | None:
        return self.by_key.get((kind, namespace, name))
