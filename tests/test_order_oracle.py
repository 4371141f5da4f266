"""cmp/order.py against gitops-engine v3.6.1 itself.

tests/syncorder/main.go is a Go module pinned to github.com/argoproj/argo-cd/gitops-engine/v3
v3.6.1, the release the e2e harness runs. It reads each annotation map below with gitops-engine's
own syncwaves.Wave, hook.IsHook, hook.Skip, hook.Types and hook.DeletePolicies; the Python model
must agree on every one. The kind table and the phase order, which gitops-engine does not export,
are read from its source, pkg/sync/sync_tasks.go, in the module cache.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cmp import order

pytestmark = pytest.mark.e2e

MODULE = Path(__file__).resolve().parent / "syncorder"
GO_ENV = {**os.environ, "GOTOOLCHAIN": "go1.27.3", "GOFLAGS": "-mod=readonly"}  # as build-argocd
W, H, HH, HW = order.SYNC_WAVE, order.HOOK, order.HELM_HOOK, order.HELM_HOOK_WEIGHT
P, HP = order.HOOK_DELETE_POLICY, order.HELM_HOOK_DELETE_POLICY

WAVES = ["0", "7", "-3", "+3", "007", "-0", "1.5", "-1.5", " 1", "1 ", "", "one", "1e3", "0x10"]
WAVES += ["1_000", "--1", "9223372036854775807", "9223372036854775808", "-9223372036854775808"]
HOOKS = ["PreSync", "Sync", "PostSync", "SyncFail", "Skip", "PostSync,PreSync", " PreSync , ,"]
HOOKS += ["Skip,PreSync", "Skip,Skip", "Unknown", "", "presync", "PreSync,Unknown"]
HELM_HOOKS = ["pre-install", "pre-upgrade", "post-install", "post-upgrade", "crd-install"]
HELM_HOOKS += ["pre-delete", "post-delete", "pre-rollback", "post-rollback", "test", ""]
HELM_HOOKS += ["pre-install,post-upgrade", "test-success"]
CASES: list[dict[str, str]] = [
    {},
    *({W: w} for w in WAVES),
    *({HW: w} for w in WAVES),
    *({W: w, HW: "-4"} for w in WAVES),
    *({H: h} for h in HOOKS),
    *({HH: h} for h in HELM_HOOKS),
    *({H: h, HH: "pre-install"} for h in HOOKS),
    {H: "PreSync", P: "HookSucceeded"},
    {H: "PreSync", P: "BeforeHookCreation,HookSucceeded"},
    {H: "PreSync", P: "HookFailed"},
    {H: "PreSync", P: "hooksucceeded"},
    {HH: "pre-install", HP: "hook-succeeded"},
    {HH: "pre-install", HP: "before-hook-creation"},
    {H: "PostSync", HP: "hook-succeeded"},
]


def _go(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["go", *args], cwd=MODULE, env=GO_ENV, input=stdin, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    binary = tmp_path_factory.mktemp("syncorder") / "syncorder"
    _go("build", "-o", str(binary), ".")
    done = subprocess.run(
        [str(binary)], input=json.dumps(CASES), capture_output=True, text=True, check=True
    )
    result: list[dict[str, Any]] = json.loads(done.stdout)
    assert len(result) == len(CASES)
    return result


@pytest.mark.parametrize("index", range(len(CASES)))
def test_the_model_reads_annotations_as_gitops_engine_does(
    engine: list[dict[str, Any]], index: int
) -> None:
    annotations, expected = CASES[index], engine[index]
    assert order.wave(annotations) == expected["wave"]
    assert order.is_hook(annotations) == expected["isHook"]
    assert order.skipped(annotations) == expected["skip"]
    assert order.hook_types(annotations) == expected["types"]
    deleted = "HookSucceeded" in expected["policies"]
    assert order.deleted_on_success(annotations) == deleted
    # syncPhases (sync_phase.go), from the exported parts it is made of
    if expected["skip"]:
        phases: set[str] = set()
    elif expected["isHook"]:
        phases = {t for t in expected["types"] if t != "Skip"}
    else:
        phases = {"Sync"}
    assert set(order.phases(annotations)) == phases


def _sync_tasks_source() -> str:
    directory = _go("list", "-m", "-f", "{{.Dir}}", "github.com/argoproj/argo-cd/gitops-engine/v3")
    return (Path(directory.strip()) / "pkg" / "sync" / "sync_tasks.go").read_text()


def test_the_kind_table_and_phase_order_are_gitops_engines() -> None:
    source = _sync_tasks_source()
    table = re.search(r"kinds := \[\]string\{(.*?)\n\t\}", source, re.S)
    assert table is not None
    assert tuple(re.findall(r'"([A-Za-z]+)"', table.group(1))) == order.KINDS
    assert "kindOrder[kind] = i - len(kinds)" in source
    phases = re.search(r"syncPhaseOrder = map\[common\.SyncPhase\]int\{(.*?)\n\}", source, re.S)
    assert phases is not None
    found = dict(re.findall(r"common\.SyncPhase(\w+):\s*(-?\d+)", phases.group(1)))
    assert {k: int(v) for k, v in found.items()} == dict(order.PHASE_ORDER)
