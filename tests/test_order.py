"""Argo CD's sync order (cmp/order.py), and the warnings for sources that come too late.

The rules are those of gitops-engine v3.6.1 (cited in cmp/order.py); the unit tests below pin each
one. The fixture apps in tests/fixtures/sync-order/ hold each trap twice: ``bad`` (warned, failed
by --strict, flagged by explain) and ``fixed`` (quiet).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import envfrom_deployment, run_cli

from cmp import order
from cmp.order import Position

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "sync-order"
TRAPS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def at(kind: str = "ConfigMap", **annotations: str) -> Position:
    keys = {
        "wave": order.SYNC_WAVE,
        "hook": order.HOOK,
        "helm": order.HELM_HOOK,
        "weight": order.HELM_HOOK_WEIGHT,
        "policy": order.HOOK_DELETE_POLICY,
        "helm_policy": order.HELM_HOOK_DELETE_POLICY,
    }
    return order.position(kind, "x", {keys[k]: v for k, v in annotations.items()})


# The kind table (sync_tasks.go kindOrder)


def test_every_kind_of_the_table_sorts_in_its_order_and_before_any_other_kind() -> None:
    ranks = [order.kind_rank(kind) for kind in order.KINDS]
    assert ranks == list(range(-len(order.KINDS), 0))
    assert order.kind_rank("Secret") < order.kind_rank("ConfigMap") < order.kind_rank("Deployment")
    for kind in ("SealedSecret", "ExternalSecret", "Rollout", "DeploymentConfig", "Whatever"):
        assert order.kind_rank(kind) == 0


@pytest.mark.parametrize("kind", order.KINDS)
def test_a_source_kind_in_the_same_wave_is_in_time_exactly_when_it_sorts_first(kind: str) -> None:
    workload = at("Deployment")
    verdict = order.check(workload, at(kind), produced=False)
    assert verdict.ok == (order.kind_rank(kind) < order.kind_rank("Deployment"))


@pytest.mark.parametrize("kind", ["Rollout", "DeploymentConfig", "SomethingNew"])
def test_unknown_workload_kinds_sort_after_every_source(kind: str) -> None:
    assert order.check(at(kind), at("ConfigMap"), produced=False).ok
    assert order.check(at(kind), at("Secret"), produced=False).ok
    # a producer is a custom resource too: same rank, same wave, not in time
    assert not order.check(at(kind), at("ExternalSecret"), produced=True).ok


# Waves (syncwaves/waves.go, hook/helm/weight.go)


@pytest.mark.parametrize(
    ("text", "wave"),
    [
        ("0", 0),
        ("5", 5),
        ("-1", -1),
        ("+3", 3),
        ("007", 7),
        ("-0", 0),
        ("9223372036854775807", 2**63 - 1),
        ("-9223372036854775808", -(2**63)),
    ],
)
def test_integer_waves(text: str, wave: int) -> None:
    assert at(wave=text).wave == wave
    assert at(wave=text).wave_text is None


@pytest.mark.parametrize(
    "text",
    ["1.5", "-1.5", " 1", "1 ", "", "one", "1e3", "0x10", "1_000", "9223372036854775808", "--1"],
)
def test_a_wave_strconv_atoi_refuses_is_wave_0(text: str) -> None:
    assert order.atoi(text) is None
    position = at(wave=text)
    assert (position.wave, position.wave_text) == (0, text)


def test_the_helm_weight_is_the_fallback_for_any_object() -> None:
    assert at(weight="-5").wave == -5  # not a hook: still counts (Wave calls helmhook.Weight)
    assert at(wave="2", weight="-5").wave == 2
    assert at(wave="soon", weight="-5").wave == -5
    assert at(wave="soon", weight="later").wave == 0


def test_waves_order_sources_and_workloads() -> None:
    deployment = at("Deployment", wave="0")
    assert order.check(deployment, at(wave="-1"), produced=False).ok
    assert order.check(deployment, at(wave="0"), produced=False).ok
    late = order.check(deployment, at(wave="1"), produced=False)
    assert (late.ok, late.problem) == (False, "late")
    assert late.fix == 'put ConfigMap x in wave 0 (argocd.argoproj.io/sync-wave: "0") or earlier'
    # a produced Secret needs a strictly earlier wave: Argo CD waits for health only between waves
    assert order.check(at("Deployment", wave="3"), at("ExternalSecret", wave="2"), True).ok
    same = order.check(at("Deployment", wave="3"), at("ExternalSecret", wave="3"), True)
    assert not same.ok
    assert same.fix.startswith(
        'put ExternalSecret x in wave 2 (argocd.argoproj.io/sync-wave: "2"): Argo CD then waits'
    )
    assert not order.check(at("Deployment", wave="-4"), at("SealedSecret"), True).ok


# Hooks (hook/hook.go, sync_phase.go, hook/helm/*.go)


@pytest.mark.parametrize(
    ("hook", "phases"),
    [
        ("PreSync", ("PreSync",)),
        ("Sync", ("Sync",)),
        ("PostSync", ("PostSync",)),
        ("SyncFail", ("SyncFail",)),
        ("Skip", ()),
        ("PostSync,PreSync", ("PreSync", "PostSync")),
        (" PreSync , ,PreSync", ("PreSync",)),
        ("Skip,PreSync", ("PreSync",)),  # Skip only skips when it is the only type
        ("Unknown", ()),  # a hook, of no phase: never applied
        ("", ()),
    ],
)
def test_argo_cd_hook_types(hook: str, phases: tuple[str, ...]) -> None:
    position = at(hook=hook)
    assert position.phases == phases
    assert position.hook == (hook != "Skip")


@pytest.mark.parametrize(
    ("helm", "phases", "hook"),
    [
        ("pre-install", ("PreSync",), True),
        ("pre-upgrade", ("PreSync",), True),
        ("post-install", ("PostSync",), True),
        ("post-upgrade", ("PostSync",), True),
        ("pre-install,post-upgrade", ("PreSync", "PostSync"), True),
        ("pre-delete", (), True),  # a hook Argo CD has no phase for
        ("post-delete", (), True),
        ("pre-rollback", (), True),
        ("test", (), True),
        ("crd-install", ("Sync",), False),  # not a hook at all
    ],
)
def test_helm_hooks_as_argo_cd_maps_them(helm: str, phases: tuple[str, ...], hook: bool) -> None:
    position = at(helm=helm)
    assert (position.phases, position.hook) == (phases, hook)


def test_an_argo_cd_hook_type_overrides_the_helm_hook() -> None:
    assert at(hook="PostSync", helm="pre-install").phases == ("PostSync",)
    # an Argo CD annotation of no known type leaves the Helm types in force
    assert at(hook="Nonsense", helm="pre-install").phases == ("PreSync",)


def test_phases_order_sources_and_workloads() -> None:
    presync_job = at("Job", hook="PreSync")
    assert order.check(presync_job, at(hook="PreSync"), produced=False).ok
    late = order.check(presync_job, at(), produced=False)
    assert late.fix == "make ConfigMap x a PreSync hook too (argocd.argoproj.io/hook: PreSync)"
    assert order.check(at("Deployment"), at(hook="PreSync"), produced=False).ok
    post = order.check(at("Deployment"), at(hook="PostSync"), produced=False)
    assert (post.ok, post.fix) == (
        False,
        "make ConfigMap x no hook, so it is applied in phase Sync",
    )
    # a SyncFail source is applied only when the sync fails
    assert not order.check(at("Deployment"), at(hook="SyncFail"), produced=False).ok
    # a source in an earlier wave of a later phase is still late: the phase comes first
    assert not order.check(at("Job", hook="PreSync", wave="5"), at(wave="-5"), False).ok


@pytest.mark.parametrize("annotations", [{"hook": "Skip"}, {"helm": "pre-delete"}])
def test_a_source_the_sync_never_applies(annotations: dict[str, str]) -> None:
    verdict = order.check(at("Deployment"), at(**annotations), produced=False)
    assert (verdict.ok, verdict.problem) == (False, "never")


def test_a_workload_the_sync_never_applies_is_never_late() -> None:
    assert order.check(at("Deployment", hook="Skip"), at(wave="9"), produced=False).ok


@pytest.mark.parametrize(
    "annotations",
    [
        {"hook": "PreSync", "policy": "HookSucceeded"},
        {"hook": "PreSync", "policy": "BeforeHookCreation,HookSucceeded"},
        {"helm": "pre-install", "helm_policy": "hook-succeeded"},
    ],
)
def test_a_hook_source_deleted_once_the_sync_succeeds(annotations: dict[str, str]) -> None:
    source = at(**annotations)
    verdict = order.check(at("Deployment"), source, produced=False)
    assert (verdict.ok, verdict.problem) == (False, "deleted")
    assert order.check(at("Job", hook="PreSync"), source, produced=False).ok  # a hook of its own
    # the default policy, BeforeHookCreation, deletes it only before the next sync recreates it
    assert order.check(at("Deployment"), at(hook="PreSync"), produced=False).ok


# The fixture apps: each trap, warned, failed by --strict, flagged by explain; each fix quiet


EXPECTED = {
    "wave-after-consumer": (
        "document 2 (line 11, Deployment shop/web): new pods can start before ConfigMap "
        "shop/web-config is applied: it is at phase Sync, wave 1, kind ConfigMap, this Deployment "
        "at phase Sync, wave 0, kind Deployment; put ConfigMap web-config in wave 0 "
        '(argocd.argoproj.io/sync-wave: "0") or earlier'
    ),
    "external-secret-same-wave": (
        "document 1 (line 1, Deployment shop/web): new pods can start before Secret shop/web-db "
        "exists: its producer ExternalSecret web-db is at phase Sync, wave 0, kind ExternalSecret, "
        "this Deployment at phase Sync, wave 0, kind Deployment, and the controller writes the "
        "Secret only after ExternalSecret web-db is applied; put ExternalSecret web-db in wave -1 "
        '(argocd.argoproj.io/sync-wave: "-1"): Argo CD then waits for it to be healthy (its '
        "Secret written) before wave 0"
    ),
    "sealed-secret-same-wave": (
        "document 1 (line 1, Deployment shop/web): new pods can start before Secret "
        "shop/web-token exists: its producer SealedSecret web-token is at phase Sync, wave 0, "
        "kind SealedSecret, this Deployment at phase Sync, wave 0, kind Deployment, and the "
        "controller writes the Secret only after SealedSecret web-token is applied; put "
        'SealedSecret web-token in wave -1 (argocd.argoproj.io/sync-wave: "-1"): Argo CD then '
        "waits for it to be healthy (its Secret written) before wave 0"
    ),
    "presync-hook-reads-sync-config": (
        "document 2 (line 9, Job shop/migrate): new pods can start before ConfigMap "
        "shop/migrate-config is applied: it is at phase Sync, wave 0, kind ConfigMap, this Job at "
        "phase PreSync (hook), wave 0, kind Job; make ConfigMap migrate-config a PreSync hook too "
        "(argocd.argoproj.io/hook: PreSync)"
    ),
    "helm-hook-reads-sync-config": (
        "document 2 (line 9, Job shop/migrate): new pods can start before ConfigMap "
        "shop/migrate-config is applied: it is at phase Sync, wave 0, kind ConfigMap, this Job at "
        "phase PreSync (hook), wave 0, kind Job; make ConfigMap migrate-config a PreSync hook too "
        "(argocd.argoproj.io/hook: PreSync)"
    ),
    "skipped-source": (
        "document 2 (line 11, Deployment shop/web): new pods can start before ConfigMap "
        "shop/web-config is applied: it is never applied by a sync (a Skip hook, or a hook of no "
        "sync phase), this Deployment at phase Sync, wave 0, kind Deployment; remove the hook "
        "annotation from ConfigMap web-config, so the sync applies it"
    ),
    "hook-succeeded-source": (
        "document 2 (line 12, Deployment shop/web): ConfigMap shop/web-config is deleted once the "
        "sync succeeds, so pods that start later fail: it is a hook with delete policy "
        "HookSucceeded, at phase PreSync (hook), wave 0, kind ConfigMap, this Deployment at phase "
        "Sync, wave 0, kind Deployment; make ConfigMap web-config no hook, or drop HookSucceeded "
        "from its delete policy"
    ),
    "malformed-wave": (
        "document 2 (line 11, Deployment shop/web): new pods can start before ConfigMap "
        "shop/web-config is applied: it is at phase Sync, wave 0, kind ConfigMap, this Deployment "
        "at phase Sync, wave -1, kind Deployment; put ConfigMap web-config in wave -1 "
        '(argocd.argoproj.io/sync-wave: "-1") or earlier'
    ),
}
LATE_SOURCE = {
    "wave-after-consumer": ("web", "web-config", "Sync/1 LATE"),
    "external-secret-same-wave": ("web", "web-db", "Sync/0 LATE"),
    "sealed-secret-same-wave": ("web", "web-token", "Sync/0 LATE"),
    "presync-hook-reads-sync-config": ("migrate", "migrate-config", "Sync/0 LATE"),
    "helm-hook-reads-sync-config": ("migrate", "migrate-config", "Sync/0 LATE"),
    "skipped-source": ("web", "web-config", "never LATE"),
    "hook-succeeded-source": ("web", "web-config", "PreSync/0 hook LATE"),
    "malformed-wave": ("web", "web-config", "Sync/0 LATE"),
}


def _environ() -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}


def _order_warnings(stderr: str) -> list[str]:
    prefix = "confighash: warning: "
    return [
        line.removeprefix(prefix).removesuffix(" (see docs/sync-order.md)")
        for line in stderr.splitlines()
        if line.endswith("(see docs/sync-order.md)")
    ]


def test_every_trap_has_an_expectation() -> None:
    assert sorted(EXPECTED) == TRAPS == sorted(LATE_SOURCE)


@pytest.mark.parametrize("trap", TRAPS)
def test_the_trap_is_one_warning_and_its_fix_is_quiet(trap: str) -> None:
    bad = run_cli(["build", str(FIXTURES / trap / "bad")], environ=_environ())
    assert bad.code == 0, bad
    assert _order_warnings(bad.stderr) == [EXPECTED[trap]]
    fixed = run_cli(["build", str(FIXTURES / trap / "fixed")], environ=_environ())
    assert fixed.code == 0, fixed
    assert _order_warnings(fixed.stderr) == []
    assert "sync-wave" not in fixed.stderr


@pytest.mark.parametrize("trap", TRAPS)
def test_strict_fails_the_trap(trap: str) -> None:
    bad = run_cli(["build", "--strict", str(FIXTURES / trap / "bad")], environ=_environ())
    assert (bad.code, bad.stdout) == (1, b"")
    tail = " (see docs/sync-order.md); --strict is set, nothing written"
    assert bad.error_line == f"confighash: error: {EXPECTED[trap]}{tail}"
    fixed = run_cli(["build", "--strict", str(FIXTURES / trap / "fixed")], environ=_environ())
    assert fixed.code == 0, fixed


@pytest.mark.parametrize("trap", TRAPS)
def test_explain_flags_the_pair_in_the_table_and_in_json(trap: str) -> None:
    workload, source, cell = LATE_SOURCE[trap]
    for side, late in (("bad", True), ("fixed", False)):
        app = str(FIXTURES / trap / side)
        table = run_cli(["explain", app], environ=_environ())
        assert table.code == 0, table
        row = next(line for line in table.stdout.decode().splitlines() if f"  {source} " in line)
        assert ("LATE" in row) == late, row
        if late:
            assert cell in row
            assert EXPECTED[trap].split(": ", 1)[1] in table.stdout.decode()
        report = json.loads(run_cli(["explain", "-o", "json", app], environ=_environ()).stdout)
        (w,) = [w for w in report["workloads"] if w["name"] == workload]
        (s,) = [s for s in w["sources"] if s["name"] == source]
        assert s["syncOrder"]["inTime"] is (not late)
        assert (s["syncOrder"]["fix"] is not None) == late
        if late:
            assert s["syncOrder"]["fix"] in EXPECTED[trap]


def test_explain_json_shows_phase_and_wave_of_workloads_and_sources() -> None:
    report = json.loads(
        run_cli(
            ["explain", "-o", "json", str(FIXTURES / "presync-hook-reads-sync-config" / "fixed")],
            environ=_environ(),
        ).stdout
    )
    (job,) = report["workloads"]
    assert job["sync"] == {
        "phase": "PreSync",
        "phases": ["PreSync"],
        "wave": 0,
        "hook": True,
        "kindOrder": order.kind_rank("Job"),
    }
    (source,) = job["sources"]
    assert source["sync"]["phase"] == "PreSync" and source["sync"]["hook"] is True
    assert source["syncOrder"] == {"inTime": True, "fix": None}


def test_an_ignored_workload_is_not_checked() -> None:
    stream = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  annotations:\n"
        '    argocd.argoproj.io/sync-wave: "3"\ndata:\n  k: v\n---\n'
        + envfrom_deployment("ConfigMap/cfg").replace(
            "  name: web\n", '  name: web\n  annotations:\n    confighash.dev/ignore: "true"\n'
        )
    )
    done = run_cli(["stamp", "--strict", "-"], stream)
    assert done.code == 0 and "sync-order" not in done.stderr, done
    report = json.loads(run_cli(["explain", "-o", "json", "-f", "-"], stream).stdout)
    (source,) = report["workloads"][0]["sources"]
    assert source["syncOrder"] == {"inTime": None, "fix": None}
