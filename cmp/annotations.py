"""The annotation keys confighash writes and reads, all derived from one prefix."""

from __future__ import annotations

import re

import xxhash

from cmp.errors import SettingsError

DEFAULT_PREFIX = "confighash.dev"
NAME_MAX = 63  # the part after "/" in an annotation key
_NAME_PART = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def name_part(name: str) -> str:
    """``name`` if it is a valid annotation name, else a deterministic valid stand-in for it.

    Over-long or unusual names keep a readable head and end in 10 hex digits of their full text,
    so two different names never share a key in practice.
    """
    if len(name) <= NAME_MAX and _NAME_PART.fullmatch(name):
        return name
    tag = xxhash.xxh3_64_hexdigest(name.encode("utf-8"))[:10]
    head = re.sub(r"[^-A-Za-z0-9_.]", "-", name)[: NAME_MAX - len(tag) - 1].strip("-_.")
    head = head if head[:1].isalnum() else ""
    return f"{head}-{tag}" if head else tag


class AnnotationKeys:
    """The annotation keys under one prefix; an invalid prefix is refused when they are made."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        longest = f"configmap.{prefix}"
        if not _DNS_SUBDOMAIN.fullmatch(prefix) or len(longest) > 253:
            raise SettingsError(
                "--annotation-prefix", f"{prefix!r} is not a DNS subdomain like confighash.dev"
            )
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"AnnotationKeys({self.prefix!r})"

    @property
    def checksum(self) -> str:
        """On a pod template: one digest over every source it consumes; this rolls the workload."""
        return f"{self.prefix}/checksum"

    @property
    def ignore(self) -> str:
        """On a workload: leave it alone. On a ConfigMap or Secret: leave it out of every digest."""
        return f"{self.prefix}/ignore"

    def source(self, kind: str, name: str) -> str:
        """On a pod template: the short digest of one consumed source."""
        return f"{kind.lower()}.{self.prefix}/{name_part(name)}"

    def owned(self, key: str) -> bool:
        """True for keys confighash writes, so a re-stamp can replace or remove them."""
        return key == self.checksum or key.startswith(
            (f"configmap.{self.prefix}/", f"secret.{self.prefix}/")
        )
