"""Which workloads a change restarts, and because of which ConfigMaps and Secrets.

:func:`compare` takes the analyses of an old and a new stream and reports every workload whose
stamp changes, with each source that changed and the names of the keys that changed. Values are
compared in memory and never leave this module: a report holds kinds, names and key names only,
so not even a hint of a Secret's value can reach a pull-request comment.

A workload restarts when its checksum annotation changes, appears or disappears while the workload
itself exists on both sides. Workloads created or deleted by the change are not restarts: they are
reported on their own, as created or deleted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Literal, NamedTuple

from cmp.annotations import AnnotationKeys
from cmp.errors import UsageError
from cmp.generated import is_part_label
from cmp.pipeline import Analysis, Plan, Use

Change = Literal["modified", "added", "removed"]
StampChange = Literal["changed", "added", "removed"]
WorkloadKey = tuple[str, "str | None", "str | None"]


class Because(NamedTuple):
    """One source behind a restart. ``keys`` are key names; ``parts`` name the parts of a
    producer's spec (``template``, ``dataFrom``, ...) that changed."""

    kind: str
    name: str
    change: Change
    keys: tuple[str, ...]
    parts: tuple[str, ...] = ()
    produced_by: tuple[str, str] | None = None


class Rollout(NamedTuple):
    kind: str
    namespace: str | None
    name: str | None
    stamp: StampChange  # the checksum changed, was added (newly stamped) or removed
    because: tuple[Because, ...]
    reason: str | None = None  # for added/removed stamps: the unstamped side's status


class Presence(NamedTuple):
    """A workload on one side only: created or deleted by the change, so not restarted."""

    kind: str
    namespace: str | None
    name: str | None


class Immutable(NamedTuple):
    """An ``immutable: true`` ConfigMap or Secret that the change would alter: the API server
    rejects the update (ValidateConfigMapUpdate, ValidateSecretUpdate in k8s.io/kubernetes
    pkg/apis/core/validation/validation.go), so the sync fails."""

    kind: str
    namespace: str | None
    name: str
    keys: tuple[str, ...]  # the keys whose content changed, appeared or disappeared
    unset: bool  # NEW no longer says immutable: true, which is rejected as well


class DiffReport(NamedTuple):
    rollouts: tuple[Rollout, ...]
    created: tuple[Presence, ...] = ()  # in the NEW stream's order
    deleted: tuple[Presence, ...] = ()  # in the OLD stream's order
    immutable: tuple[Immutable, ...] = ()  # in the NEW stream's order

    @property
    def restarts(self) -> bool:
        return bool(self.rollouts)


def _by_workload(analysis: Analysis) -> dict[WorkloadKey, Plan]:
    plans: dict[WorkloadKey, Plan] = {}
    for plan in analysis.plans:
        identity = plan.workload.identity
        plans[(identity.kind, identity.namespace, identity.name)] = plan
    return plans


def _view(use: Use) -> Mapping[str, bytes]:
    """What the digest of ``use`` covers, by key."""
    entries = use.source.entries
    if use.keys is None:
        return entries
    return {k: entries[k] for k in use.keys if k in entries}


def _names(labels: set[str] | list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    keys = tuple(sorted(k for k in labels if not is_part_label(k)))
    parts = tuple(sorted(k[1:-1] for k in labels if is_part_label(k)))
    return keys, parts


def _produced_by(use: Use) -> tuple[str, str] | None:
    source = use.source
    return (source.identity.kind, source.identity.name or "") if source.origin else None


def _whole(use: Use, change: Change) -> Because:
    """A source that was added or removed: every key the pod reads of it."""
    labels = list(use.keys) if use.keys is not None else list(use.source.entries)
    keys, parts = _names(labels)
    return Because(use.kind, use.name, change, keys, parts, _produced_by(use))


def _modified(old: Use, new: Use) -> Because:
    before, after = _view(old), _view(new)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    if old.source.origin != new.source.origin:
        changed |= before.keys() | after.keys()  # a different producer: all of it is new
    keys, parts = _names(changed)
    return Because(new.kind, new.name, "modified", keys, parts, _produced_by(new))


def _because(old: Plan, new: Plan) -> tuple[Because, ...]:
    before = {(u.kind, u.name): u for u in old.uses} if old.status == "stamped" else {}
    after = {(u.kind, u.name): u for u in new.uses} if new.status == "stamped" else {}
    found: list[Because] = []
    for key in sorted(before.keys() | after.keys()):
        o, n = before.get(key), after.get(key)
        if o is None and n is not None:
            found.append(_whole(n, "added"))
        elif n is None and o is not None:
            found.append(_whole(o, "removed"))
        elif o is not None and n is not None and o.digest != n.digest:
            found.append(_modified(o, n))
    return tuple(found)


def _immutable_changes(old: Analysis, new: Analysis) -> tuple[Immutable, ...]:
    """Every source that is immutable on the OLD side (what the cluster holds after the last
    sync) and whose data NEW changes, or that NEW no longer marks immutable."""
    before = {
        (s.kind, s.namespace, s.name): s for s in old.sources if s.origin is None and s.immutable
    }
    found: list[Immutable] = []
    for source in new.sources:
        held = before.get((source.kind, source.namespace, source.name))
        if held is None or source.origin is not None or source.name is None:
            continue
        was, now = held.entries, source.entries
        keys = tuple(sorted(k for k in was.keys() | now.keys() if was.get(k) != now.get(k)))
        if keys or not source.immutable:
            found.append(
                Immutable(source.kind, source.namespace, source.name, keys, not source.immutable)
            )
    return tuple(found)


# A stamp added or removed for one of these reasons says nothing about the sources: the workload
# itself became (or stopped being) ignored, a Job, or template-less. Only "no-sources" means the
# sources came or went.
_STATUS_CHANGES = frozenset({"ignored", "job", "no-template", "pod"})


def compare(old: Analysis, new: Analysis, prefix: str) -> DiffReport:
    """Every workload present on both sides whose checksum annotation differs between them, and
    the workloads present on one side only."""
    checksum = AnnotationKeys(prefix).checksum
    before = _by_workload(old)
    after = _by_workload(new)
    rollouts: list[Rollout] = []
    created = tuple(Presence(*key) for key in after if key not in before)
    deleted = tuple(Presence(*key) for key in before if key not in after)
    for key, new_plan in after.items():
        old_plan = before.get(key)
        if old_plan is None:
            continue
        was = old_plan.annotations.get(checksum)
        now = new_plan.annotations.get(checksum)
        if was == now:
            continue
        if was is None:
            stamp: StampChange = "added"
            reason: str | None = old_plan.status
        elif now is None:
            stamp, reason = "removed", new_plan.status
        else:
            stamp, reason = "changed", None
        because = () if reason in _STATUS_CHANGES else _because(old_plan, new_plan)
        rollouts.append(Rollout(*key, stamp, because, reason))
    return DiffReport(tuple(rollouts), created, deleted, _immutable_changes(old, new))


# Operands: what OLD and NEW name.

OperandKind = Literal["directory", "stream", "git"]


class Operand(NamedTuple):
    kind: OperandKind
    path: str | None  # directory, stream file or "-"; for git, the app directory if given
    rev: str | None = None

    def __str__(self) -> str:
        if self.kind == "git":
            return f"git:{self.rev}" + (f":{self.path}" if self.path else "")
        return self.path or ""


def parse_operand(text: str, isdir: Callable[[str], bool] = os.path.isdir) -> Operand:
    """``git:REV``, ``git:REV:DIR``, ``-``, a directory to render, or a rendered stream file."""
    if text.startswith("git:"):
        rev, _, path = text[len("git:") :].partition(":")
        if not rev:
            raise UsageError(f"{text!r}: git: needs a revision, as in git:main or git:HEAD~1")
        return Operand("git", path or None, rev)
    if text == "-":
        return Operand("stream", "-")
    return Operand("directory" if isdir(text) else "stream", text)


def check_operands(old: Operand, new: Operand) -> None:
    if old.path == "-" and new.path == "-" and old.kind == new.kind == "stream":
        raise UsageError("OLD and NEW cannot both be - (standard input)")


def app_directory(operand: Operand, other: Operand) -> str:
    """The directory a ``git:REV`` operand renders: its own, else the other side's, else ``.``."""
    if operand.path:
        return operand.path
    if other.kind in ("directory", "git") and other.path:
        return other.path
    return "."
