"""The stamping pipeline: stream bytes in, stamped stream bytes out.

    split → read (peek, compose what matters) → index sources → plan each workload → edit → join

Every stage is a pure function of bytes and plain records; nothing here touches the environment,
the file system or stdout.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from cmp import digest, edit, nodes, sources, stream, workloads
from cmp.annotations import DEFAULT_PREFIX, AnnotationKeys
from cmp.errors import InputError
from cmp.model import Findings, Identity, Problem, Ref, Source
from cmp.workloads import Workload

_INTERESTING = sources.SOURCE_KINDS | workloads.WORKLOAD_KINDS


@dataclass(frozen=True)
class Options:
    namespace: str | None = None  # for objects without metadata.namespace
    prefix: str = DEFAULT_PREFIX
    strict: bool = False
    include_jobs: bool = False
    include_image_pull_secrets: bool = False
    secret_key: bytes | None = None


Status = Literal["stamped", "unchanged", "ignored", "job", "no-sources", "no-template"]


@dataclass(frozen=True)
class Plan:
    """What confighash decided for one workload."""

    workload: Workload
    status: Status
    consumed: tuple[tuple[Ref, Source], ...] = ()
    unresolved: tuple[Ref, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    output: bytes
    plans: list[Plan]
    problems: list[Problem]
    documents: int


@dataclass
class _Read:
    sources: list[Source] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    ignored_workloads: list[Workload] = field(default_factory=list)


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


def _is_ignored(obj: nodes.Node, identity: Identity, keys: AnnotationKeys) -> bool:
    metadata = nodes.get_map(obj, "metadata", identity.where, "")
    annotations = nodes.get_map(metadata, "annotations", identity.where, "metadata")
    if annotations is None:
        return False
    return nodes.get_str(annotations, keys.ignore, identity.where, "metadata.annotations") == "true"


def read(
    docs: list[stream.Document], opts: Options, keys: AnnotationKeys, findings: Findings
) -> _Read:
    """Compose the documents that can matter and keep plain records of them, not trees."""
    found = _Read()
    for doc in docs:
        kind = stream.peek_kind(doc.raw)
        if kind is not None and kind.decode("utf-8", "replace") not in _INTERESTING:
            continue
        text = _decode(doc).removeprefix("\ufeff")
        root = nodes.compose(text, doc.where, doc.line)
        if root is None:
            continue
        for obj, prefix, item in _objects(root, doc):
            identity = _identity(obj, doc, item, opts)
            ignored = _is_ignored(obj, identity, keys)
            if identity.kind in sources.SOURCE_KINDS:
                found.sources.append(sources.read_source(obj, identity, ignored))
                continue
            api_version = nodes.get_str(obj, "apiVersion", identity.where, "")
            workload = workloads.scan(
                obj,
                prefix,
                identity,
                workloads.api_group(api_version),
                findings,
                include_pull_secrets=opts.include_image_pull_secrets,
            )
            if workload is not None:
                (found.ignored_workloads if ignored else found.workloads).append(workload)
    return found


def _source_digest(source: Source, opts: Options) -> str:
    key = opts.secret_key if source.kind == "Secret" else None
    return digest.source_digest(source.entries, key)


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
    consumed: dict[tuple[str, str], tuple[Ref, Source]] = {}
    unresolved: list[Ref] = []
    for ref in workload.refs:
        source = index.lookup(ref.kind, workload.identity.namespace, ref.name)
        if source is None:
            unresolved.append(ref)
            if not ref.optional:
                ns = workload.identity.namespace
                shown = f"{ns}/{ref.name}" if ns else ref.name
                findings.add(
                    workload.identity.where,
                    f"{ref.path} refers to {ref.kind} {shown}, which is not in the stream",
                    "unresolved-ref",
                )
        elif not source.ignored:
            consumed.setdefault((ref.kind, ref.name), (ref, source))
    pairs = tuple(consumed[k] for k in sorted(consumed))
    if workload.is_job and not opts.include_jobs:
        if pairs:
            names = ", ".join(f"{s.kind} {s.identity.name}" for _, s in pairs)
            findings.add(
                workload.identity.where,
                f"not stamped: a Job's pod template is immutable (consumes {names}; "
                "--include-jobs stamps it anyway)",
                "job-not-stamped",
                strictable=False,
            )
        return Plan(workload, "job", pairs, tuple(unresolved))
    annotations: dict[str, str] = {}
    triples = []
    for ref, source in pairs:
        value = _source_digest(source, opts)
        annotations[keys.source(ref.kind, ref.name)] = digest.short(value)
        triples.append((ref.kind, ref.name, value))
    if triples:
        annotations[keys.checksum] = digest.checksum(triples)
    status: Status = "stamped" if pairs else "no-sources"
    return Plan(workload, status, pairs, tuple(unresolved), annotations)


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


def stamp(data: bytes, opts: Options) -> Result:
    """Stamp every workload in ``data`` with digests of the in-stream sources it consumes."""
    keys = AnnotationKeys(opts.prefix)
    findings = Findings()
    pieces, docs = stream.split(data)
    found = read(docs, opts, keys, findings)
    index = sources.SourceIndex.build(found.sources)
    plans = [plan(w, index, opts, keys, findings) for w in found.workloads]
    plans += [Plan(w, "ignored") for w in found.ignored_workloads]
    if opts.secret_key is None and any(
        s.kind == "Secret" for p in plans if p.status == "stamped" for _, s in p.consumed
    ):
        findings.add(
            "",
            "Secret digests are not keyed; set --secret-key-file (or CONFIGHASH_SECRET_KEY_FILE) "
            "so pod annotations cannot be used to guess short Secret values",
            "unkeyed-secret-digest",
            strictable=False,
        )
    by_doc: dict[int, list[Plan]] = {}
    for p in plans:
        if p.status in ("stamped", "no-sources") and p.workload.site is not None:
            by_doc.setdefault(p.workload.identity.document, []).append(p)
    replacements: dict[int, bytes] = {}
    for doc in docs:
        if doc.index in by_doc:
            new = _edit_document(doc, by_doc[doc.index], keys)
            if new is not None and new != doc.raw:
                replacements[doc.piece] = new
    plans.sort(key=lambda p: (p.workload.identity.document, p.workload.identity.item or 0))
    return Result(stream.join(pieces, replacements), plans, findings.problems, len(docs))
