"""Plain records that travel through the pipeline.

Records are NamedTuples rather than dataclasses: a dataclass costs about a millisecond to define,
and a plugin that Argo CD starts for every render pays its start-up every time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    from cmp.order import Position

SourceKind = Literal["ConfigMap", "Secret"]
Precision = Literal["key", "object"]
PRECISIONS: tuple[Precision, ...] = ("key", "object")
Via = Literal["volume", "projected", "env", "envFrom", "imagePullSecrets"]


class Identity(NamedTuple):
    """Where an object sits in the stream and what it is, for messages and lookups."""

    document: int  # 1-based position among documents
    line: int  # 1-based line in the stream
    kind: str
    namespace: str | None
    name: str | None
    item: int | None = None  # 0-based position inside a List document

    @property
    def where(self) -> str:
        item = f" item {self.item}" if self.item is not None else ""
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"document {self.document}{item} (line {self.line}, {self.kind} {ns}{self.name})"


class Source(NamedTuple):
    """A ConfigMap or Secret: what a pod can see of it, as raw bytes per key."""

    identity: Identity
    kind: SourceKind
    entries: dict[str, bytes]
    ignored: bool = False
    # Set when the object is produced from something else in the stream, e.g. a SealedSecret:
    # ``identity`` is then the producer, ``target`` the name of the Secret it produces, and
    # ``entries`` hold the producer's content-deciding parts, not what the pod will see.
    origin: str | None = None
    target: str | None = None
    immutable: bool = False  # ``immutable: true``: the API server rejects any change of its data
    # Where Argo CD's sync applies the object (for a produced Secret: its producer); None: unread
    position: Position | None = None

    @property
    def name(self) -> str | None:
        """The name workloads refer to."""
        return self.target if self.origin is not None else self.identity.name

    @property
    def namespace(self) -> str | None:
        return self.identity.namespace


class Ref(NamedTuple):
    """One reference from a pod spec to a ConfigMap or Secret."""

    kind: SourceKind
    name: str
    via: Via
    path: str  # where in the document, e.g. spec.template.spec.volumes[0].configMap
    optional: bool = False
    keys: tuple[str, ...] | None = None  # the keys the pod reads, or None for all of them


class Problem(NamedTuple):
    """A finding: a warning, or an error under ``--strict`` when ``strictable``."""

    where: str
    message: str
    code: str
    strictable: bool = True

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class Findings:
    """Problems collected while the stream is processed, in stream order."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, where: str, message: str, code: str, *, strictable: bool = True) -> None:
        self.problems.append(Problem(where, message, code, strictable))
