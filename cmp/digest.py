"""Digests of what a pod can see, in an unambiguous encoding.

Each entry is written as its key and value, each preceded by its length, so no two different maps
encode alike (Reloader's ``k=v;`` join lets ``{a: "1;b=2"}`` collide with ``{a: "1", b: "2"}``).
The checksum value carries the scheme tag :data:`SCHEME`; a future change of encoding or algorithm
gets a new tag, so the fleet-wide rollout it causes is visible in every diff.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import xxhash

try:  # BLAKE2 alone: hashlib would also load OpenSSL, a tenth of the start-up time
    from _blake2 import blake2b
except ImportError:  # an interpreter without the builtin module
    from hashlib import blake2b

SCHEME = "v1"
SHORT = 12  # hex characters in the per-source annotations
_PERSON = b"confighash-v1"


def encode_entries(entries: Mapping[str, bytes]) -> bytes:
    """Length-prefixed, key-sorted encoding of a map of byte strings."""
    parts = [len(entries).to_bytes(8, "big")]
    for key in sorted(entries):
        raw_key = key.encode("utf-8")
        value = entries[key]
        parts += [len(raw_key).to_bytes(8, "big"), raw_key, len(value).to_bytes(8, "big"), value]
    return b"".join(parts)


# First bytes of a selection's encoding. Read as the 8-byte entry count that starts a whole-object
# encoding it would be over 2**63, so no selection ever encodes like a whole object.
_SELECTION_TAG = b"\xffkeys-v1"


def encode_selection(entries: Mapping[str, bytes], keys: Collection[str]) -> bytes:
    """Length-prefixed encoding of the ``keys`` a pod reads, each marked present or absent.

    An absent key is written as its name and a 0 byte, a present one as its name, a 1 byte and its
    length-prefixed value: "key absent" never encodes like any value, the empty string included.
    """
    chosen = sorted(set(keys))
    parts = [_SELECTION_TAG, len(chosen).to_bytes(8, "big")]
    for name in chosen:
        raw_key = name.encode("utf-8")
        parts += [len(raw_key).to_bytes(8, "big"), raw_key]
        value = entries.get(name)
        if value is None:
            parts.append(b"\x00")
        else:
            parts += [b"\x01", len(value).to_bytes(8, "big"), value]
    return b"".join(parts)


def source_digest(
    entries: Mapping[str, bytes],
    key: bytes | None = None,
    keys: Collection[str] | None = None,
) -> str:
    """32 hex digits: xxh3-128, or keyed BLAKE2b-128 when ``key`` is given (for Secrets).

    ``keys`` restricts the digest to the keys a pod reads (key-level precision); None digests the
    whole object.
    """
    encoded = encode_entries(entries) if keys is None else encode_selection(entries, keys)
    if key is None:
        return xxhash.xxh3_128_hexdigest(encoded)
    return blake2b(encoded, key=key, digest_size=16, person=_PERSON).hexdigest()


def checksum(sources: Iterable[tuple[str, str, str]]) -> str:
    """The value that rolls a workload: one digest over its (kind, name, digest) triples."""
    parts = []
    for kind, name, digest in sorted(set(sources)):
        for text in (kind, name, digest):
            raw = text.encode("utf-8")
            parts += [len(raw).to_bytes(8, "big"), raw]
    return f"{SCHEME}:{xxhash.xxh3_128_hexdigest(b''.join(parts))}"


def short(digest: str) -> str:
    return digest[:SHORT]


def prepare_key(raw: bytes) -> bytes:
    """A BLAKE2b key from a key file's bytes; longer keys are hashed down to the 64-byte limit."""
    key = raw.strip()
    return key if len(key) <= 64 else blake2b(key, person=_PERSON).digest()
