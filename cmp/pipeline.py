"""The stamping pipeline: stream bytes in, stamped stream bytes out.

    split → read (peek, compose what matters) → index sources → plan each workload → edit → join

Every stage is a pure function of bytes and plain records; nothing here touches the environment,
the file system or stdout.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Literal, NamedTuple

from cmp import digest, edit, generated, nodes, order, sources, stream, workloads
from cmp.annotations import DEFAULT_PREFIX, AnnotationKeys
from cmp.errors import InputError
from cmp.model import Findings, Identity, Precision, Problem, Ref, Source
from cmp.workloads import Workload

_INTERESTING = sources.SOURCE_KINDS | generated.GENERATOR_KINDS | workloads.WORKLOAD_KINDS
_INTERESTING_EXPLAINED = _INTERESTING | workloads.UNSTAMPED_KINDS


class Options(NamedTuple):
    namespace: str | None = None  # for objects without metadata.namespace
    prefix: str = DEFAULT_PREFIX
    strict: bool = False
    include_jobs: bool = False
    include_image_pull_secrets: bool = False
    secret_key: bytes | None = None
    # "key": a source's digest covers only the keys the pod reads; "object": the whole source
    precision: Precision = "key"


Status = Literal["stamped", "unchanged", "ignored", "job", "no-sources", "no-template", "pod"]


class Use(NamedTuple):
    """One source a workload consumes: every reference to it, and the digest of what they read."""

    source: Source
    refs: tuple[Ref, ...]
    keys: tuple[str, ...] | None  # the keys the digest covers (their union); None: whole object
    digest: str

    @property
    def kind(self) -> str:
        return self.source.kind

    @property
    def name(self) -> str:
        return self.refs[0].name

    @property
    def missing(self) -> tuple[str, ...]:
        """Keys some reference reads that the source does not hold (content in the stream only)."""
        if self.source.origin is not None:
            return ()
        read = {k for ref in self.refs for k in ref.keys or ()}
        return tuple(sorted(k for k in read if k not in self.source.entries))


class Plan(NamedTuple):
    """What confighash decided for one workload."""

    workload: Workload
    status: Status
    unresolved: tuple[Ref, ...] = ()
    annotations: Mapping[str, str] = MappingProxyType({})
    uses: tuple[Use, ...] = ()  # one per consumed source, sorted by (kind, name)
    ignored_sources: tuple[Source, ...] = ()  # referenced, but carry the ignore annotation

    @property
    def consumed(self) -> tuple[tuple[Ref, Source], ...]:
        """Each consumed source with its first reference."""
        return tuple((u.refs[0], u.source) for u in self.uses)


class Result(NamedTuple):
    output: bytes
    plans: list[Plan]
    problems: list[Problem]
    documents: int
    exit_status: int = 0  # diff --exit-code: 1 when a workload would restart


class _Read:
    def __init__(self) -> None:
        self.sources: list[Source] = []
        self.workloads: list[Workload] = []
        self.ignored_workloads: list[Workload] = []


def _decode(doc: stream.Document) -> str:
    try:
        return doc.raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(doc.where, f"is not valid UTF-8 (byte {exc.start})") from None


def _objects(
    root: nodes.Node, doc: stream.Document
) -> Iterator[tuple[nodes.Node, tuple[str | int, ...], int | None]]:
    if not isinstance(root, nodes.MappingNode):
        raise InputError(doc.where, f"is {nodes.describe(root)}, not a mapping")
    items = nodes.get(root, "items", doc.where, "")
    if isinstance(items, nodes.SequenceNode):  # Argo CD unpacks any object with an items list
        for i, item in enumerate(items.value):
            if not isinstance(item, nodes.MappingNode):
                raise InputError(doc.where, f"items[{i}] is {nodes.describe(item)}, not a mapping")
            yield item, ("items", i), i
    else:
        yield root, (), None


def _identity(obj: nodes.Node, doc: stream.Document, item: int | None, opts: Options) -> Identity:
    where = doc.where if item is None else f"document {doc.index} item {item} (line {doc.line})"
    kind = nodes.get_str(obj, "kind", where, "")
    if not kind:
        raise InputError(where, "has no kind")
    metadata = nodes.get_map(obj, "metadata", where, "")
    name = nodes.get_str(metadata, "name", where, "metadata")
    namespace = nodes.get_str(metadata, "namespace", where, "metadata") or opts.namespace
    return Identity(doc.index, doc.line, kind, namespace, name, item)


def _annotations(obj: nodes.Node, identity: Identity) -> nodes.MappingNode | None:
    metadata = nodes.get_map(obj, "metadata", identity.where, "")
    return nodes.get_map(metadata, "annotations", identity.where, "metadata")


def _is_ignored(
    annotations: nodes.MappingNode | None, identity: Identity, keys: AnnotationKeys
) -> bool:
    if annotations is None:
        return False
    return nodes.get_str(annotations, keys.ignore, identity.where, "metadata.annotations") == "true"


def _position(annotations: nodes.MappingNode | None, identity: Identity) -> order.Position:
    """Where Argo CD's sync applies the object, from its sync-wave and hook annotations (a value
    that is not a string is left out: such an object fails to apply anyway)."""
    if annotations is None:
        return order.position(identity.kind, identity.name, {})
    found: dict[str, str] = {}
    for key in order.ANNOTATIONS:
        value = nodes.get_present(annotations, key, identity.where, "metadata.annotations")
        if value is not None and nodes.scalar_type(value) == "str":
            found[key] = str(value.value)
    return order.position(identity.kind, identity.name, found)


def read(
    docs: list[stream.Document],
    opts: Options,
    keys: AnnotationKeys,
    findings: Findings,
    *,
    explain: bool = False,
) -> _Read:
    """Compose the documents that can matter and keep plain records of them, not trees.

    ``explain`` also reads bare Pods and PodTemplates, which are never stamped.
    """
    found = _Read()
    interesting = _INTERESTING_EXPLAINED if explain else _INTERESTING
    for doc in docs:
        kind = stream.peek_kind(doc.raw)
        if kind is not None and kind.decode("utf-8", "replace") not in interesting:
            continue
        text = _decode(doc).removeprefix("\ufeff")
        root = nodes.compose(text, doc.where, doc.line)
        if root is None:
            continue
        for obj, prefix, item in _objects(root, doc):
            identity = _identity(obj, doc, item, opts)
            annotations = _annotations(obj, identity)
            ignored = _is_ignored(annotations, identity, keys)
            position = _position(annotations, identity)
            if position.wave_text is not None:
                findings.add(
                    identity.where,
                    f'{order.SYNC_WAVE} "{position.wave_text}" is not an integer: Argo CD '
                    f"ignores it and applies the object in wave {position.wave}",
                    "malformed-sync-wave",
                    strictable=False,
                )
            if identity.kind in sources.SOURCE_KINDS:
                read_one = sources.read_source(obj, identity, ignored)
                found.sources.append(read_one._replace(position=position))
                continue
            api_version = nodes.get_str(obj, "apiVersion", identity.where, "")
            group = workloads.api_group(api_version)
            if identity.kind in generated.GENERATOR_KINDS:
                source = generated.read_generated(obj, identity, group, ignored)
                if source is not None:
                    found.sources.append(source._replace(position=position))
                continue
            workload = workloads.scan(
                obj,
                prefix,
                identity,
                group,
                findings,
                include_pull_secrets=opts.include_image_pull_secrets,
                unstamped=explain,
            )
            if workload is not None:
                workload = workload._replace(position=position)
                (found.ignored_workloads if ignored else found.workloads).append(workload)
    return found


def keys_read(refs: tuple[Ref, ...]) -> tuple[str, ...] | None:
    """The union of the keys ``refs`` read; None when any of them reads every key."""
    selected: set[str] = set()
    for ref in refs:
        if ref.keys is None:
            return None
        selected.update(ref.keys)
    return tuple(sorted(selected))


def digested_keys(
    refs: tuple[Ref, ...], source: Source, precision: Precision
) -> tuple[str, ...] | None:
    """The keys a source's digest covers for one workload: the union of what its references read.

    None (the whole object) under ``--precision object``, when any reference reads every key
    (``envFrom``, a volume without ``items``), and for a produced Secret, whose keys the stream
    does not show.
    """
    if precision == "object" or source.origin is not None:
        return None
    return keys_read(refs)


def _source_digest(source: Source, opts: Options, selected: tuple[str, ...] | None) -> str:
    key = opts.secret_key if source.kind == "Secret" else None
    return digest.source_digest(source.entries, key, selected)


class Resolution(NamedTuple):
    uses: tuple[Use, ...]
    unresolved: tuple[Ref, ...]
    ignored_sources: tuple[Source, ...]


def resolve(workload: Workload, index: sources.SourceIndex, opts: Options) -> Resolution:
    """Match a workload's references to sources and digest what it reads of each."""
    refs: dict[tuple[str, str], list[Ref]] = {}
    found: dict[tuple[str, str], Source] = {}
    unresolved: list[Ref] = []
    ignored: dict[tuple[str, str], Source] = {}
    for ref in workload.refs:
        source = index.lookup(ref.kind, workload.identity.namespace, ref.name)
        if source is None:
            unresolved.append(ref)
        elif source.ignored:
            ignored.setdefault((ref.kind, ref.name), source)
        else:
            refs.setdefault((ref.kind, ref.name), []).append(ref)
            found[(ref.kind, ref.name)] = source
    uses = []
    for k in sorted(refs):
        group = tuple(refs[k])
        selected = digested_keys(group, found[k], opts.precision)
        uses.append(Use(found[k], group, selected, _source_digest(found[k], opts, selected)))
    return Resolution(tuple(uses), tuple(unresolved), tuple(ignored[k] for k in sorted(ignored)))


def _warn_missing_keys(workload: Workload, uses: tuple[Use, ...], findings: Findings) -> None:
    for use in uses:
        if use.source.origin is not None:
            continue
        for ref in use.refs:
            absent = [k for k in ref.keys or () if k not in use.source.entries]
            if absent and not ref.optional:
                ns = workload.identity.namespace
                shown = f"{ns}/{ref.name}" if ns else ref.name
                findings.add(
                    workload.identity.where,
                    f"{ref.path} reads key {', '.join(absent)} of {ref.kind} {shown}, which "
                    "has no such key (the pod will not start)",
                    "missing-key",
                )


def order_verdict(workload: Workload, use: Use) -> order.Verdict:
    """Whether ``use``'s source is applied, and exists, before the workload's new pods start."""
    source = use.source
    return order.check(
        workload.position or order.SYNC, source.position or order.SYNC, source.origin is not None
    )


def _warn_order(workload: Workload, uses: tuple[Use, ...], findings: Findings) -> None:
    """One warning per source that Argo CD's sync order puts in place too late for the pods."""
    here = workload.position or order.SYNC
    for use in uses:
        verdict = order_verdict(workload, use)
        if verdict.ok:
            continue
        source = use.source
        at = source.position or order.SYNC
        ns = workload.identity.namespace
        shown = f"{ns}/{use.name}" if ns else use.name
        kind = workload.identity.kind
        if source.origin is not None:
            producer = f"{source.origin} {source.identity.name}"
            text = (
                f"new pods can start before Secret {shown} exists: its producer {producer} is "
                f"{at.at}, this {kind} at {here}, and the controller writes the Secret only "
                f"after {producer} is applied"
            )
        elif verdict.problem == "deleted":
            text = (
                f"{use.kind} {shown} is deleted once the sync succeeds, so pods that start later "
                f"fail: it is a hook with delete policy HookSucceeded, {at.at}, this {kind} at "
                f"{here}"
            )
        else:
            text = (
                f"new pods can start before {use.kind} {shown} is applied: it is {at.at}, "
                f"this {kind} at {here}"
            )
        findings.add(
            workload.identity.where,
            f"{text}; {verdict.fix} (see docs/sync-order.md)",
            "sync-order",
        )


def plan(
    workload: Workload,
    index: sources.SourceIndex,
    opts: Options,
    keys: AnnotationKeys,
    findings: Findings,
) -> Plan:
    """Resolve a workload's references and decide the annotations its pod template carries."""
    if workload.site is None:
        return Plan(workload, "no-template")
    resolution = resolve(workload, index, opts)
    for ref in resolution.unresolved:
        if not ref.optional:
            ns = workload.identity.namespace
            shown = f"{ns}/{ref.name}" if ns else ref.name
            findings.add(
                workload.identity.where,
                f"{ref.path} refers to {ref.kind} {shown}, which is not in the stream",
                "unresolved-ref",
            )
    _warn_missing_keys(workload, resolution.uses, findings)
    if workload.stampable:  # a bare Pod is read only to explain it; build never sees it
        _warn_order(workload, resolution.uses, findings)
    uses = resolution.uses
    unresolved = resolution.unresolved
    skipped = resolution.ignored_sources
    if not workload.stampable:
        return Plan(workload, "pod", unresolved, uses=uses, ignored_sources=skipped)
    if workload.is_job and not opts.include_jobs:
        if uses:
            names = ", ".join(f"{u.source.kind} {u.source.name}" for u in uses)
            findings.add(
                workload.identity.where,
                f"not stamped: a Job's pod template is immutable (consumes {names}; "
                "--include-jobs stamps it anyway)",
                "job-not-stamped",
                strictable=False,
            )
        return Plan(workload, "job", unresolved, uses=uses, ignored_sources=skipped)
    annotations: dict[str, str] = {}
    triples = []
    for use in uses:
        annotations[keys.source(use.kind, use.name)] = digest.short(use.digest)
        triples.append((use.kind, use.name, use.digest))
    if triples:
        annotations[keys.checksum] = digest.checksum(triples)
    status: Status = "stamped" if uses else "no-sources"
    return Plan(workload, status, unresolved, annotations, uses, skipped)


def _edit_document(
    doc: stream.Document, doc_plans: list[Plan], keys: AnnotationKeys
) -> bytes | None:
    text = _decode(doc)
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom) :]
    splices: list[edit.Splice] = []
    changes: list[edit.Change] = []
    fallback = False
    for p in doc_plans:
        site = p.workload.site
        assert site is not None
        changes.append(edit.Change(site.path, p.annotations, keys.owned))
        planned = edit.plan_in_place(body, site, p.annotations, keys.owned)
        if planned is None:
            fallback = True
        else:
            splices += planned
    if fallback:
        new = edit.reemit(body, changes, doc.where, doc.line)
    elif splices:
        new = edit.apply_splices(body, splices)
    else:
        return None
    return (bom + new).encode("utf-8")


class Analysis(NamedTuple):
    """Everything decided about a stream before any edit: the stamp path and explain share it."""

    pieces: list[stream.Piece]
    docs: list[stream.Document]
    sources: list[Source]
    plans: list[Plan]  # in stream order
    problems: list[Problem]


def _ignored_plan(workload: Workload, index: sources.SourceIndex, opts: Options) -> Plan:
    resolution = resolve(workload, index, opts)
    return Plan(
        workload,
        "ignored",
        resolution.unresolved,
        uses=resolution.uses,
        ignored_sources=resolution.ignored_sources,
    )


def analyze(data: bytes, opts: Options, *, explain: bool = False) -> Analysis:
    """Split and read ``data``, resolve every workload's sources and plan its annotations.

    ``explain`` also reads bare Pods and PodTemplates and resolves ignored workloads, to report
    what they would consume; the stamp path needs neither.
    """
    keys = AnnotationKeys(opts.prefix)
    findings = Findings()
    pieces, docs = stream.split(data)
    found = read(docs, opts, keys, findings, explain=explain)
    for source in found.sources:
        sources.check_size(source, findings)
    index = sources.SourceIndex.build(found.sources, findings)
    plans = [plan(w, index, opts, keys, findings) for w in found.workloads]
    if explain:
        plans += [_ignored_plan(w, index, opts) for w in found.ignored_workloads]
    else:
        plans += [Plan(w, "ignored") for w in found.ignored_workloads]
    if opts.secret_key is None and any(
        s.kind == "Secret" and s.origin is None
        for p in plans
        if p.status == "stamped"
        for _, s in p.consumed
    ):
        findings.add(
            "",
            "Secret digests are not keyed; set --secret-key-file (or CONFIGHASH_SECRET_KEY_FILE) "
            "so pod annotations cannot be used to guess short Secret values",
            "unkeyed-secret-digest",
            strictable=False,
        )
    plans.sort(key=lambda p: (p.workload.identity.document, p.workload.identity.item or 0))
    return Analysis(pieces, docs, found.sources, plans, findings.problems)


def _holds_object(doc: stream.Document) -> bool:
    """Whether Argo CD reads an object from ``doc`` rather than skipping it as null."""
    if stream.peek_kind(doc.raw) is not None:
        return True
    return nodes.compose(_decode(doc).removeprefix("\ufeff"), doc.where, doc.line) is not None


def stamp(data: bytes, opts: Options) -> Result:
    """Stamp every workload in ``data`` with digests of the in-stream sources it consumes."""
    keys = AnnotationKeys(opts.prefix)
    analysis = analyze(data, opts)
    by_doc: dict[int, list[Plan]] = {}
    for p in analysis.plans:
        if p.status in ("stamped", "no-sources") and p.workload.site is not None:
            by_doc.setdefault(p.workload.identity.document, []).append(p)
    replacements: dict[int, bytes] = {}
    for doc in analysis.docs:
        if doc.index in by_doc:
            new = _edit_document(doc, by_doc[doc.index], keys)
            if new is not None and new != doc.raw:
                replacements[doc.piece] = new
    output = stream.join(analysis.pieces, replacements)
    return Result(output, analysis.plans, analysis.problems, object_documents(analysis))


def object_documents(analysis: Analysis) -> int:
    """How many documents the stream has, or 0 when Argo CD would read no object from it: the
    rule that refuses an empty render (``--allow-empty``)."""
    # Argo CD skips null documents (``~``, ``null``): a stream of only those holds no object either
    readable = any(_holds_object(doc) for doc in analysis.docs)
    return len(analysis.docs) if readable else 0
