"""Argo CD's sync order: when each object of a render is applied, and what has to exist by then.

Every rule here is taken from the source of the Argo CD release the e2e harness runs, v3.6.1, in
its gitops-engine module (github.com/argoproj/argo-cd/gitops-engine/v3@v3.6.1), cited per rule:

- pkg/sync/sync_tasks.go ``syncTasks.Less``: tasks sort by phase, then wave, then kind, then name.
- pkg/sync/sync_tasks.go ``syncPhaseOrder``: PreSync -1, Sync 0, PostSync 1, SyncFail 2.
- pkg/sync/sync_tasks.go ``kindOrder``: Helm's kind table; rank ``i - len(kinds)``, so every kind in
  it is negative and a kind not in it (every custom resource) is 0, after all of them. The table is
  keyed by kind alone, not by API group.
- pkg/sync/syncwaves/waves.go ``Wave``: ``argocd.argoproj.io/sync-wave`` read with Go's
  ``strconv.Atoi``; a value it refuses (``1.5``, `` 1``, ``one``, out of int64 range) falls back to
  ``helm.sh/hook-weight`` (pkg/sync/hook/helm/weight.go, also ``strconv.Atoi``), else 0. The Helm
  weight counts for any object, hook or not.
- pkg/sync/sync_phase.go ``syncPhases``, pkg/sync/hook/hook.go ``IsHook``, ``Skip``, ``Types``: an
  object with ``argocd.argoproj.io/hook`` is a hook unless its only type is ``Skip`` (then it is
  not synced at all); the value is a comma-separated list (pkg/sync/resource/annotations.go
  ``GetAnnotationCSVs``: trimmed, empty items dropped, de-duplicated) of PreSync, Sync, PostSync,
  SyncFail, Skip; a hook runs in each phase it names, and a hook naming no phase runs in none.
  Without an Argo CD type, Helm's ``helm.sh/hook`` counts (pkg/sync/hook/helm/hook.go, type.go):
  any value but ``crd-install`` makes a hook; ``pre-install`` and ``pre-upgrade`` map to PreSync,
  ``post-install`` and ``post-upgrade`` to PostSync, every other Helm hook to no phase.
- pkg/sync/sync_context.go ``Sync``: the tasks of one phase and wave are applied together; the next
  wave starts only once they are done and, when the sync has more than one wave or phase, healthy.
  ``runTasks``: inside a wave, the tasks are applied kind group by kind group, each group finished
  before the next starts.

So a source is in place before a workload's new pods start when it is applied in an earlier phase
or wave than the workload, or in the same one with a kind that sorts first. A Secret that a
controller writes from a SealedSecret or ExternalSecret exists only once the controller has acted;
Argo CD waits for that only between waves (its health checks for both kinds, in
resource_customizations/bitnami.com/SealedSecret and external-secrets.io/ExternalSecret of
github.com/argoproj/argo-cd/v3@v3.6.1, report Healthy once the controller says it has written the
Secret; the ExternalSecret check does not compare generations, so right after an update a Ready
condition of the previous spec counts too: docs/sync-order.md), so the producer must be in an
earlier wave or phase than its consumer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
HOOK = "argocd.argoproj.io/hook"
HELM_HOOK = "helm.sh/hook"
HELM_HOOK_WEIGHT = "helm.sh/hook-weight"
HOOK_DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
HELM_HOOK_DELETE_POLICY = "helm.sh/hook-delete-policy"
ANNOTATIONS = (
    SYNC_WAVE,
    HOOK,
    HELM_HOOK,
    HELM_HOOK_WEIGHT,
    HOOK_DELETE_POLICY,
    HELM_HOOK_DELETE_POLICY,
)

# pkg/sync/sync_tasks.go syncPhaseOrder
PHASE_ORDER: Mapping[str, int] = {"PreSync": -1, "Sync": 0, "PostSync": 1, "SyncFail": 2}
# pkg/sync/common/types.go NewHookType
HOOK_TYPES = frozenset({"PreSync", "Sync", "PostSync", "SyncFail", "Skip"})
# pkg/sync/hook/helm/type.go hookTypes
HELM_HOOK_TYPES: Mapping[str, str] = {
    "pre-install": "PreSync",
    "pre-upgrade": "PreSync",
    "post-upgrade": "PostSync",
    "post-install": "PostSync",
}
# pkg/sync/sync_tasks.go kindOrder, in its order
KINDS = (
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
)
KIND_ORDER: Mapping[str, int] = {kind: i - len(KINDS) for i, kind in enumerate(KINDS)}

_ATOI = re.compile(r"[+-]?[0-9]+")  # strconv.Atoi: an optional sign and decimal digits only
_INT64 = (-(2**63), 2**63 - 1)


def atoi(text: str) -> int | None:
    """Go's ``strconv.Atoi`` on a 64-bit platform: the int, or None where Go returns an error."""
    if not _ATOI.fullmatch(text):
        return None
    value = int(text)
    return value if _INT64[0] <= value <= _INT64[1] else None


def kind_rank(kind: str) -> int:
    """The kind's place in kindOrder: negative for the table's kinds, 0 for every other kind."""
    return KIND_ORDER.get(kind, 0)


def _csv(text: str | None) -> list[str]:
    """pkg/sync/resource/annotations.go GetAnnotationCSVs: split on commas, trim, drop empty
    items and repeats."""
    seen: list[str] = []
    for item in (text or "").split(","):
        value = item.strip()
        if value and value not in seen:
            seen.append(value)
    return seen


def hook_types(annotations: Mapping[str, str]) -> list[str]:
    """pkg/sync/hook/hook.go Types: Argo CD's hook types, else the Helm hooks' mapped types."""
    types = [t for t in _csv(annotations.get(HOOK)) if t in HOOK_TYPES]
    if not types:
        types = [
            HELM_HOOK_TYPES[t] for t in _csv(annotations.get(HELM_HOOK)) if t in HELM_HOOK_TYPES
        ]
    return types


def skipped(annotations: Mapping[str, str]) -> bool:
    """pkg/sync/hook/hook.go Skip: ``Skip`` is the only hook type."""
    types = hook_types(annotations)
    return "Skip" in types and len(types) == 1


def is_hook(annotations: Mapping[str, str]) -> bool:
    """pkg/sync/hook/hook.go IsHook, with helm/hook.go IsHook for the Helm annotation."""
    if HOOK in annotations:
        return not skipped(annotations)
    value = annotations.get(HELM_HOOK)
    return value is not None and value != "crd-install"


def phases(annotations: Mapping[str, str]) -> tuple[str, ...]:
    """pkg/sync/sync_phase.go syncPhases: the phases the object is applied in, in sync order.
    Empty: Argo CD never applies it (``Skip``, or a hook whose types name no phase)."""
    if skipped(annotations):
        return ()
    if is_hook(annotations):
        found = {t for t in hook_types(annotations) if t in PHASE_ORDER}
        return tuple(sorted(found, key=PHASE_ORDER.__getitem__))
    return ("Sync",)


def deleted_on_success(annotations: Mapping[str, str]) -> bool:
    """pkg/sync/hook/delete_policy.go DeletePolicies holds HookSucceeded (Argo CD's annotation,
    or Helm's ``hook-succeeded``): Argo CD deletes the hook once the sync has succeeded
    (pkg/sync/sync_context.go, ``deleteHooks(hooksPendingDeletionSuccessful)``)."""
    return "HookSucceeded" in _csv(annotations.get(HOOK_DELETE_POLICY)) or "hook-succeeded" in _csv(
        annotations.get(HELM_HOOK_DELETE_POLICY)
    )


def wave(annotations: Mapping[str, str]) -> int:
    """pkg/sync/syncwaves/waves.go Wave, with helm/weight.go Weight as its fallback."""
    for key in (SYNC_WAVE, HELM_HOOK_WEIGHT):
        text = annotations.get(key)
        if text is not None:
            value = atoi(text)
            if value is not None:
                return value
    return 0


class Position(NamedTuple):
    """Where an object sits in the sync: its first phase, wave, kind and name."""

    phases: tuple[str, ...]  # every phase it is applied in, in order; () when never applied
    wave: int
    kind: str
    name: str
    hook: bool
    wave_text: str | None = None  # the sync-wave annotation as written, when Argo CD refused it
    deleted_on_success: bool = False  # a hook Argo CD deletes once the sync succeeded

    @property
    def applied(self) -> bool:
        return bool(self.phases)

    @property
    def phase(self) -> str | None:
        return self.phases[0] if self.phases else None

    def key(self) -> tuple[int, int, int, str]:
        """syncTasks.Less's key of the first task of this object."""
        assert self.phase is not None
        return (PHASE_ORDER[self.phase], self.wave, kind_rank(self.kind), self.name)

    def step(self) -> tuple[int, int]:
        """The (phase, wave) group it is applied in: Argo CD finishes one before the next."""
        assert self.phase is not None
        return (PHASE_ORDER[self.phase], self.wave)

    def __str__(self) -> str:
        if not self.applied:
            return "never applied by a sync (a Skip hook, or a hook of no sync phase)"
        hook = " (hook)" if self.hook else ""
        return f"phase {self.phase}{hook}, wave {self.wave}, kind {self.kind}"

    @property
    def at(self) -> str:
        """``at phase Sync, wave 0, kind ConfigMap``, or ``never applied ...``."""
        return f"at {self}" if self.applied else str(self)


def position(kind: str, name: str | None, annotations: Mapping[str, str]) -> Position:
    text = annotations.get(SYNC_WAVE)
    refused = text if text is not None and atoi(text) is None else None
    hook = is_hook(annotations)
    return Position(
        phases(annotations),
        wave(annotations),
        kind,
        name or "",
        hook,
        refused,
        hook and deleted_on_success(annotations),
    )


SYNC = Position(("Sync",), 0, "", "", False)  # an object without any of the annotations


class Verdict(NamedTuple):
    """Whether a source is in place when a workload's new pods start, and if not, the fix."""

    ok: bool
    fix: str = ""
    # what goes wrong: "late" (applied after the pods start), "never" (the sync never applies
    # it), "deleted" (a hook that Argo CD deletes once the sync succeeded)
    problem: str = ""


def _wave(value: int) -> str:
    return f'wave {value} ({SYNC_WAVE}: "{value}")'


def check(workload: Position, source: Position, produced: bool) -> Verdict:
    """Is ``source`` applied (and, when ``produced``, written by its controller) before the pods of
    ``workload`` start, and still there after the sync? For a produced Secret, ``source`` is the
    position of its producer."""
    if not workload.applied:
        return Verdict(True)  # never applied: no new pods start
    what = f"{source.kind} {source.name}"
    if not source.applied:
        return Verdict(
            False, f"remove the hook annotation from {what}, so the sync applies it", "never"
        )
    if source.step() > workload.step() and source.phase != workload.phase:
        phase = workload.phase
        if workload.hook:
            return Verdict(False, f"make {what} a {phase} hook too ({HOOK}: {phase})", "late")
        return Verdict(False, f"make {what} no hook, so it is applied in phase Sync", "late")
    if source.deleted_on_success and not workload.hook:
        fix = f"make {what} no hook, or drop HookSucceeded from its delete policy"
        return Verdict(False, fix, "deleted")
    if produced:
        if source.step() < workload.step():
            return Verdict(True)
        fix = (
            f"put {what} in {_wave(workload.wave - 1)}: Argo CD then waits for it to be healthy "
            f"(its Secret written) before wave {workload.wave}"
        )
        return Verdict(False, fix, "late")
    if source.key()[:3] < workload.key()[:3]:
        return Verdict(True)
    if kind_rank(source.kind) < kind_rank(workload.kind):
        return Verdict(False, f"put {what} in {_wave(workload.wave)} or earlier", "late")
    return Verdict(False, f"put {what} in {_wave(workload.wave - 1)} or earlier", "late")
