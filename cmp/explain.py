"""What confighash decided for each workload, and why, as plain data.

:func:`explain` turns an :class:`~cmp.pipeline.Analysis` into a :class:`Report`: per workload,
whether it is stamped (and if not, why), each source it consumes with how and which keys, its
digest, unresolved references and warnings. :mod:`cmp.reports` prints a report; the JSON form is
the stable schema documented in docs/explain.md.

Digests of Secrets are shown only when they are keyed: an unkeyed digest of a short password can
be brute-forced offline, and a report is often pasted where more people read it than read Secrets.
The checksum of a workload that consumes such a Secret is withheld for the same reason.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from cmp import digest, order
from cmp.annotations import AnnotationKeys
from cmp.model import Identity, Problem, Source
from cmp.pipeline import Analysis, Options, Plan, Use, keys_read, order_verdict

SCHEMA_VERSION = 1

# Why a workload is not stamped: the code in JSON, and the words in a table.
REASONS: dict[str, str] = {
    "no-sources": "consumes no ConfigMap or Secret in the stream",
    "ignored": "carries the ignore annotation",
    "job": "a Job: its pod template is immutable (--include-jobs stamps it anyway)",
    "pod": "a bare Pod: its spec cannot change, so it is never stamped",
    "pod-template": "a PodTemplate: not a workload, never stamped",
    "no-template": "has no pod template (e.g. a Rollout with workloadRef)",
}
_ROTATION = (
    "Secret {name} is produced by {origin} {producer}: only a change to its spec in the stream "
    "rolls this workload; a rotation at the secret store is not seen"
)


class SourceUse(NamedTuple):
    kind: str
    name: str
    via: tuple[str, ...]  # sorted: env, envFrom, imagePullSecrets, projected, volume
    keys: tuple[str, ...] | None  # the keys the pod reads; None: every key
    scope: str  # "keys": the digest covers only ``keys``; "object": the whole source
    missing_keys: tuple[str, ...]
    digest: str | None  # short digest, as in the annotation; None when withheld
    annotation: str | None  # the annotation key on the pod template, when stamped
    produced_by: tuple[str, str] | None  # (kind, name) of a SealedSecret or ExternalSecret
    paths: tuple[str, ...]  # where the pod spec refers to it
    position: order.Position = order.SYNC  # where the sync applies it (a producer: the producer)
    # in place before the workload's new pods start (docs/sync-order.md); None: not checked, as
    # the sync starts no new pods of an ignored workload, a bare Pod or a PodTemplate
    in_time: bool | None = True
    fix: str | None = None  # when not in time: what to change


class Unresolved(NamedTuple):
    kind: str
    name: str
    via: str
    path: str
    optional: bool
    keys: tuple[str, ...] | None


class WorkloadReport(NamedTuple):
    kind: str
    namespace: str | None
    name: str | None
    document: int
    line: int
    stamped: bool
    reason: str | None  # a key of REASONS when not stamped
    checksum: str | None  # the value of the checksum annotation; None when withheld or unstamped
    sources: tuple[SourceUse, ...]
    ignored_sources: tuple[tuple[str, str], ...]  # (kind, name) left out by their annotation
    unresolved: tuple[Unresolved, ...]
    warnings: tuple[str, ...]
    position: order.Position = order.SYNC  # where Argo CD's sync applies it


class Report(NamedTuple):
    precision: str
    keyed: bool  # Secret digests are keyed
    workloads: tuple[WorkloadReport, ...]
    warnings: tuple[str, ...]  # findings that belong to no workload


def _reason(plan: Plan) -> str | None:
    if plan.status == "stamped":
        return None
    if plan.status == "pod" and plan.workload.identity.kind == "PodTemplate":
        return "pod-template"
    return "no-sources" if plan.status == "unchanged" else plan.status


def _withheld(source: Source, opts: Options) -> bool:
    return source.kind == "Secret" and source.origin is None and opts.secret_key is None


def _source_use(use: Use, plan: Plan, opts: Options, keys: AnnotationKeys) -> SourceUse:
    stamped = plan.status == "stamped"
    source = use.source
    produced_by = (source.identity.kind, source.identity.name or "") if source.origin else None
    verdict = order_verdict(plan.workload, use)
    checked = plan.status in ("stamped", "job")  # as pipeline.plan checks them
    return SourceUse(
        kind=use.kind,
        name=use.name,
        via=tuple(sorted({ref.via for ref in use.refs})),
        keys=keys_read(use.refs),
        scope="object" if use.keys is None else "keys",
        missing_keys=use.missing,
        digest=None if _withheld(source, opts) else digest.short(use.digest),
        annotation=keys.source(use.kind, use.name) if stamped else None,
        produced_by=produced_by,
        paths=tuple(ref.path for ref in use.refs),
        position=source.position or order.SYNC,
        in_time=verdict.ok if checked else None,
        fix=verdict.fix if checked and not verdict.ok else None,
    )


def _shadowed(use: Use, sources: list[Source]) -> list[Source]:
    """Producers of the same Secret that lost to the Secret in the stream."""
    if use.source.origin is not None:
        return []
    return [
        s
        for s in sources
        if s.origin is not None
        and s.kind == use.kind
        and s.namespace == use.source.namespace
        and s.name == use.name
    ]


def _warnings(plan: Plan, problems: list[Problem], sources: list[Source]) -> list[str]:
    identity = plan.workload.identity
    found = [
        p.message
        for p in problems
        if p.where == identity.where and p.code != "job-not-stamped"  # said by the reason
    ]
    strategy = plan.workload.update_strategy
    if strategy == "OnDelete" and plan.uses:
        found.append(
            f"updateStrategy OnDelete: a change of the stamp updates the {identity.kind}'s "
            "pod template, but its pods are replaced only when deleted"
        )
    if plan.status == "pod" and plan.uses:
        found.append(
            f"a bare {identity.kind} is never stamped: recreate it to pick up a change of "
            + ", ".join(f"{u.kind} {u.name}" for u in plan.uses)
        )
    site = plan.workload.site
    found += [  # Helm's convention (helm.sh docs, "Automatically Roll Deployments")
        f"the pod template also carries {key}, the chart's own digest; it stays as the chart "
        "writes it, beside confighash's annotations"
        for key in sorted(site.annotations_text if site is not None else ())
        if key.startswith("checksum/")
    ]
    for use in plan.uses:
        if use.source.origin is not None:
            found.append(
                _ROTATION.format(
                    name=use.name, origin=use.source.origin, producer=use.source.identity.name
                )
            )
        found += [
            f"{s.origin} {s.identity.name} also produces Secret {use.name}; the Secret in the "
            "stream is what is digested"
            for s in _shadowed(use, sources)
        ]
    return found


def _workload(
    plan: Plan, analysis: Analysis, opts: Options, keys: AnnotationKeys
) -> WorkloadReport:
    identity: Identity = plan.workload.identity
    withheld = any(_withheld(u.source, opts) for u in plan.uses)
    checksum = plan.annotations.get(keys.checksum)
    return WorkloadReport(
        kind=identity.kind,
        namespace=identity.namespace,
        name=identity.name,
        document=identity.document,
        line=identity.line,
        stamped=plan.status == "stamped",
        reason=_reason(plan),
        checksum=None if withheld else checksum,
        sources=tuple(_source_use(u, plan, opts, keys) for u in plan.uses),
        ignored_sources=tuple((s.kind, s.name or "") for s in plan.ignored_sources),
        unresolved=tuple(
            Unresolved(r.kind, r.name, r.via, r.path, r.optional, r.keys) for r in plan.unresolved
        ),
        warnings=tuple(_warnings(plan, analysis.problems, analysis.sources)),
        position=plan.workload.position or order.SYNC,
    )


def explain(analysis: Analysis, opts: Options) -> Report:
    """The report of an analysis made with ``explain=True``."""
    keys = AnnotationKeys(opts.prefix)
    workloads = tuple(_workload(p, analysis, opts, keys) for p in analysis.plans)
    attached = {p.workload.identity.where for p in analysis.plans}
    loose = tuple(str(p) for p in analysis.problems if p.where not in attached)
    return Report(opts.precision, opts.secret_key is not None, workloads, loose)


def to_json(report: Report) -> dict[str, Any]:
    """The stable JSON form (docs/explain.md)."""
    return {
        "version": SCHEMA_VERSION,
        "precision": report.precision,
        "keyedSecretDigests": report.keyed,
        "workloads": [
            {
                "kind": w.kind,
                "namespace": w.namespace,
                "name": w.name,
                "document": w.document,
                "line": w.line,
                "stamped": w.stamped,
                "reason": w.reason,
                "checksum": w.checksum,
                "sync": sync_json(w.position),
                "sources": [
                    {
                        "kind": s.kind,
                        "name": s.name,
                        "via": list(s.via),
                        "keys": None if s.keys is None else list(s.keys),
                        "scope": s.scope,
                        "missingKeys": list(s.missing_keys),
                        "digest": s.digest,
                        "annotation": s.annotation,
                        "producedBy": None
                        if s.produced_by is None
                        else {"kind": s.produced_by[0], "name": s.produced_by[1]},
                        "paths": list(s.paths),
                        "sync": sync_json(s.position),
                        "syncOrder": {"inTime": s.in_time, "fix": s.fix},
                    }
                    for s in w.sources
                ],
                "ignoredSources": [{"kind": k, "name": n} for k, n in w.ignored_sources],
                "unresolved": [
                    {
                        "kind": u.kind,
                        "name": u.name,
                        "via": u.via,
                        "path": u.path,
                        "optional": u.optional,
                        "keys": None if u.keys is None else list(u.keys),
                    }
                    for u in w.unresolved
                ],
                "warnings": list(w.warnings),
            }
            for w in report.workloads
        ],
        "warnings": list(report.warnings),
    }


def sync_json(position: order.Position) -> dict[str, Any]:
    """Where Argo CD's sync applies an object: its phases (none when it never does), wave, kind
    rank (docs/sync-order.md) and whether it is a hook."""
    return {
        "phase": position.phase,
        "phases": list(position.phases),
        "wave": position.wave,
        "hook": position.hook,
        "kindOrder": order.kind_rank(position.kind),
    }
