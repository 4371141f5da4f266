"""The sync-order traps against a real API server: a sync, wave by wave, as Argo CD runs it.

Each fixture app of tests/fixtures/sync-order/ is synced twice into its own namespace of a real
kube-apiserver v1.37.2 with kube-controller-manager (tests/e2e/kube.py): once as rendered, then with
its configuration changed. Each sync applies the objects the way gitops-engine v3.6.1's sync does
(cmp/order.py cites the rules): phase by phase, wave by wave, and inside a wave kind group by kind
group; a hook is deleted and created again (BeforeHookCreation) and, with HookSucceeded, deleted
once the sync is done; a Skip hook is never applied.

The controllers are real: the deployment controller (the new ReplicaSet of a Deployment appears
when it does), the Sealed Secrets controller v0.40.0 (tests/e2e/sealed_secrets.py; each render's
SealedSecret is sealed for it with kubeseal) and the External Secrets Operator v0.16.2
(tests/e2e/external_secrets.py; a ClusterSecretStore of its fake provider holds the values). A
wave that holds a SealedSecret or ExternalSecret is over when Argo CD's health check for that
kind, ported from its Lua, says Healthy. No kubelet runs, so "the new
pods start" is observed as the new ReplicaSet (a Deployment) or the new Job (a hook Job, whose pods
the job controller would create at once).

What is checked, for each trap: in the warned version the new ReplicaSet or Job exists while the
consumed source still holds the old content (or does not exist, or is deleted after the sync); in
the fixed version the source holds the new content when it appears, and still does after the sync.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from e2e import external_secrets, sealed_secrets
from e2e.kube import ControlPlane
from e2e.sealed_secrets import SealedSecrets
from helpers import run_cli, template_annotations

from cmp import order

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
BUILD_KUBE = ROOT / "tests" / "e2e" / "build-kube"
BUILD_TIMEOUT_S = 3600
ROLL_TIMEOUT_S = 60.0
FIXTURES = ROOT / "tests" / "fixtures" / "sync-order"
LOADER = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # every scalar a string, as on the wire
CHECKSUM = "confighash.dev/checksum"
# The configuration change of the second sync: one value of each kind of source.
CHANGES = (
    (b"level: info", b"level: debug"),
    (b"property: password\n", b"property: password-v2\n"),
)
# The fixtures' SealedSecret holds a placeholder; each render seals its own value in its place.
SEALED_PLACEHOLDER = b"token: AgBy3i4OJSWK+PiTySYZZA9rO43cGDEq"
SEALED_SECRET, SEALED_KEY = "web-token", "token"
SEALED_VALUES = (b"token-v1", b"token-v2")  # first sync, second sync
HEALTH_TIMEOUT_S = 60.0
# The fixtures' ExternalSecret reads property "password" of key shop/db from ClusterSecretStore
# vault; the second sync reads "password-v2" (CHANGES).
STORE, STORE_KEY = "vault", "shop/db"
STORE_VALUES = {"password": "db-pass-v1", "password-v2": "db-pass-v2"}


class Trap(NamedTuple):
    workload: tuple[str, str]  # kind, name
    source: tuple[str, str]  # kind, name of what the pods read (a produced Secret: the Secret)


TRAPS = {
    "wave-after-consumer": Trap(("Deployment", "web"), ("ConfigMap", "web-config")),
    "external-secret-same-wave": Trap(("Deployment", "web"), ("Secret", "web-db")),
    "sealed-secret-same-wave": Trap(("Deployment", "web"), ("Secret", "web-token")),
    "presync-hook-reads-sync-config": Trap(("Job", "migrate"), ("ConfigMap", "migrate-config")),
    "helm-hook-reads-sync-config": Trap(("Job", "migrate"), ("ConfigMap", "migrate-config")),
    "skipped-source": Trap(("Deployment", "web"), ("ConfigMap", "web-config")),
    "hook-succeeded-source": Trap(("Deployment", "web"), ("ConfigMap", "web-config")),
    "malformed-wave": Trap(("Deployment", "web"), ("ConfigMap", "web-config")),
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd, kube-apiserver and kube-controller-manager, built on first use; never skips."""
    proc = subprocess.run(
        [str(BUILD_KUBE)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"tests/e2e/build-kube failed:\n{proc.stderr[-4000:]}")
    bin_dir = Path(proc.stdout.strip().splitlines()[-1])
    with ControlPlane(bin_dir, tmp_path_factory.mktemp("kube-sync-order")) as plane:
        yield plane


@pytest.fixture(scope="module")
def sealer(cluster: ControlPlane) -> SealedSecrets:
    """The real Sealed Secrets controller on ``cluster``, and the real External Secrets Operator
    with the store the fixtures' ExternalSecret reads; both stop with the cluster."""
    external_secrets.start(
        cluster, external_secrets.build(), STORE, {STORE_KEY: json.dumps(STORE_VALUES)}
    )
    return SealedSecrets.start(cluster, sealed_secrets.build())


def split(stream: bytes) -> list[tuple[bytes, dict[str, Any]]]:
    found = []
    for text in re.split(rb"(?m)^---[ \t]*\n", stream):
        obj = yaml.load(text, Loader=LOADER)
        if isinstance(obj, dict):
            found.append((text if text.endswith(b"\n") else text + b"\n", obj))
    return found


def _restamp(stream: bytes) -> bytes:
    restamped = run_cli(["stamp", "-"], stream)  # stamping again updates the stamps
    assert restamped.code == 0, restamped.stderr
    return restamped.stdout


def render(app: Path, namespace: str, sealer: SealedSecrets) -> tuple[bytes, bytes]:
    """The stamped stream of ``app`` in ``namespace``, before and after the configuration change;
    a SealedSecret is sealed for the controller anew in each (the first value, then the second)."""
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    built = run_cli(["build", str(app)], environ=environ)
    assert built.code == 0, built.stderr
    first = re.sub(rb"(?m)^(\s*namespace: )shop$", rb"\g<1>" + namespace.encode(), built.stdout)
    changed = first
    for old, new in CHANGES:
        changed = changed.replace(old, new)
    if SEALED_PLACEHOLDER in first:
        sealed = [
            f"{SEALED_KEY}: {sealer.seal(namespace, SEALED_SECRET, value)}".encode()
            for value in SEALED_VALUES
        ]
        first = _restamp(first.replace(SEALED_PLACEHOLDER, sealed[0]))
        changed = changed.replace(SEALED_PLACEHOLDER, sealed[1])
    assert changed != first
    return first, _restamp(changed)


class Task(NamedTuple):
    phase: str
    position: order.Position
    text: bytes
    obj: dict[str, Any]


def tasks(stream: bytes) -> list[Task]:
    """One task per object and sync phase, sorted as syncTasks.Less sorts them."""
    found = []
    for text, obj in split(stream):
        annotations = obj["metadata"].get("annotations") or {}
        position = order.position(obj["kind"], obj["metadata"]["name"], annotations)
        for phase in position.phases:  # a Skip hook has none: never applied
            found.append(Task(phase, position, text, obj))
    return sorted(
        found,
        key=lambda t: (
            order.PHASE_ORDER[t.phase],
            t.position.wave,
            order.kind_rank(t.position.kind),
            t.position.name,
        ),
    )


HEALTH = {"SealedSecret": sealed_secrets.healthy, "ExternalSecret": external_secrets.healthy}


class Observation(NamedTuple):
    started: bool  # the new ReplicaSet or Job appeared
    source_new_at_start: bool  # ... and the source held the new content then
    source_new_after: bool  # the source holds the new content once the sync is over


class Sync:
    def __init__(
        self, cluster: ControlPlane, namespace: str, trap: Trap, stream: bytes, sealed: bytes
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.trap = trap
        self.stream = stream
        self.sealed = sealed  # the value sealed into this stream's SealedSecret
        self.started = False
        self.new_at_start = False

    def kubectl(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl(*args, namespace=self.namespace, stdin=stdin)

    def apply(self, text: bytes) -> None:
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=text)

    def expected_source(self) -> dict[str, str] | None:
        """The data the source should hold after this sync, as the API server returns it."""
        kind, name = self.trap.source
        for _, obj in split(self.stream):
            if obj["kind"] == "SealedSecret" and (kind, name) == ("Secret", SEALED_SECRET):
                return {SEALED_KEY: base64.b64encode(self.sealed).decode()}
            if obj["kind"] == "ExternalSecret" and kind == "Secret":
                spec = obj["spec"]
                if spec["target"]["name"] == name:
                    return {
                        item["secretKey"]: base64.b64encode(
                            STORE_VALUES[item["remoteRef"]["property"]].encode()
                        ).decode()
                        for item in spec["data"]
                    }
            elif (obj["kind"], obj["metadata"]["name"]) == (kind, name):
                return dict(obj.get("data") or {})
        return None

    def source_is_new(self) -> bool:
        kind, name = self.trap.source
        done = self.cluster.kubectl(
            "get", f"{kind.lower()}/{name}", "-o", "json", namespace=self.namespace, check=False
        )
        if done.returncode != 0:
            return False  # not there at all
        return bool(json.loads(done.stdout).get("data") == self.expected_source())

    def wait_started(self, obj: dict[str, Any]) -> None:
        """The workload's new pods start: its new ReplicaSet exists (a Job: the Job itself)."""
        if obj["kind"] == "Job":
            self.started, self.new_at_start = True, self.source_is_new()
            return
        checksum = template_annotations(obj)[CHECKSUM]
        deadline = time.monotonic() + ROLL_TIMEOUT_S
        while time.monotonic() < deadline:
            sets = json.loads(self.kubectl("get", "replicasets", "-o", "json").stdout)["items"]
            for rs in sets:
                annotations = rs["spec"]["template"]["metadata"].get("annotations") or {}
                if annotations.get(CHECKSUM) == checksum:
                    self.started, self.new_at_start = True, self.source_is_new()
                    return
            time.sleep(0.2)
        raise AssertionError(f"no ReplicaSet of {obj['metadata']['name']} with stamp {checksum}")

    def delete(self, task: Task) -> None:
        kind, name = task.obj["kind"], task.obj["metadata"]["name"]
        self.kubectl("delete", f"{kind.lower()}/{name}", "--ignore-not-found")

    def run_step(self, step: list[Task]) -> None:
        """One phase and wave: kind group after kind group (runTasks), then its health wait."""
        groups: list[list[Task]] = []
        for task in step:
            if groups and groups[-1][0].obj["kind"] == task.obj["kind"]:
                groups[-1].append(task)
            else:
                groups.append([task])
        for group in groups:
            for task in group:
                if task.position.hook:  # BeforeHookCreation, the default policy
                    self.delete(task)
                self.apply(task.text)
            for task in group:
                if (task.obj["kind"], task.obj["metadata"]["name"]) == self.trap.workload:
                    self.wait_started(task.obj)
        # the wave is over once it is healthy: the producers' controllers have written
        for task in step:
            if task.obj["kind"] in HEALTH:
                self.wait_healthy(task.obj["kind"], task.obj["metadata"]["name"])

    def wait_healthy(self, kind: str, name: str) -> None:
        """Argo CD waits for the wave's producers to be Healthy, by its Lua checks."""
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        obj: dict[str, Any] = {}
        while time.monotonic() < deadline:
            obj = self.cluster.get(f"{kind.lower()}/{name}", namespace=self.namespace)
            if HEALTH[kind](obj):
                return
            time.sleep(0.1)
        raise AssertionError(f"{kind} {name} not Healthy: {json.dumps(obj.get('status'))}")

    def run(self) -> Observation:
        steps: dict[tuple[str, int], list[Task]] = {}
        for task in tasks(self.stream):  # sorted: the steps come in sync order
            steps.setdefault((task.phase, task.position.wave), []).append(task)
        for step in steps.values():
            self.run_step(step)
        for step in steps.values():  # the sync succeeded: HookSucceeded hooks go
            for task in step:
                if task.position.hook and task.position.deleted_on_success:
                    self.delete(task)
        return Observation(self.started, self.new_at_start, self.source_is_new())


def sync_twice(cluster: ControlPlane, sealer: SealedSecrets, trap: str, side: str) -> Observation:
    namespace = f"{trap}-{side}"[:63]
    cluster.kubectl("create", "namespace", namespace)
    first, second = render(FIXTURES / trap / side, namespace, sealer)
    kind, name = TRAPS[trap].workload
    if kind == "Deployment":  # the change rolls it: its stamp changes
        stamps = [
            template_annotations(o)[CHECKSUM]
            for stream in (first, second)
            for _, o in split(stream)
            if (o["kind"], o["metadata"]["name"]) == (kind, name)
        ]
        assert len(set(stamps)) == 2, stamps
    Sync(cluster, namespace, TRAPS[trap], first, SEALED_VALUES[0]).run()
    return Sync(cluster, namespace, TRAPS[trap], second, SEALED_VALUES[1]).run()


def test_every_trap_is_synced() -> None:
    assert sorted(TRAPS) == sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


@pytest.mark.parametrize("trap", sorted(TRAPS))
def test_the_warned_version_starts_pods_without_the_new_config(
    cluster: ControlPlane, sealer: SealedSecrets, trap: str
) -> None:
    seen = sync_twice(cluster, sealer, trap, "bad")
    if trap == "hook-succeeded-source":  # there when the pods start, deleted after the sync
        assert seen == Observation(True, True, False)
    elif trap == "skipped-source":  # never applied at all
        assert seen == Observation(True, False, False)
    else:  # the new ReplicaSet or Job is there before the new content
        assert seen == Observation(True, False, True)


@pytest.mark.parametrize("trap", sorted(TRAPS))
def test_the_fixed_version_starts_pods_with_the_new_config(
    cluster: ControlPlane, sealer: SealedSecrets, trap: str
) -> None:
    seen = sync_twice(cluster, sealer, trap, "fixed")
    assert seen == Observation(True, True, True)


def test_resealing_the_same_value_changes_the_consumers_stamp(
    cluster: ControlPlane, sealer: SealedSecrets
) -> None:
    """kubeseal encrypts with a fresh session key each time (docs/sync-order.md): the same
    plaintext sealed twice is two ciphertexts, so the consumer's stamp changes."""
    namespace = "reseal"
    first, second = (sealer.seal(namespace, SEALED_SECRET, b"same") for _ in range(2))
    assert first != second
    app = (FIXTURES / "sealed-secret-same-wave" / "fixed" / "app.yaml").read_bytes()
    stamped = [
        _restamp(app.replace(SEALED_PLACEHOLDER, f"{SEALED_KEY}: {c}".encode()))
        for c in (first, second)
    ]
    checksums = {
        template_annotations(o)[CHECKSUM]
        for s in stamped
        for _, o in split(s)
        if o["kind"] == "Deployment"
    }
    assert len(checksums) == 2
