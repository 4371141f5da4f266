"""confighash's output against a real Kubernetes control plane (tests/e2e/kube.py).

kube-apiserver and kube-controller-manager v1.37.2, built by tests/e2e/build-kube, on Debian's
etcd; no kubelet and no scheduler, so pods never run. What is checked:

- The API server accepts what confighash writes. The stamped example, every corpus render, and a
  fixture with every annotation key confighash can write (253-character source names, the longest
  ``--annotation-prefix``) pass a server-side dry run and a real server-side apply, and the stored
  pod templates carry exactly the annotations confighash wrote.
- A change rolls exactly the workloads that read it: one new ReplicaSet (Deployment) or
  ControllerRevision (StatefulSet, DaemonSet) per consuming workload, none for any other, none
  for a label-only or unrelated change; a CronJob's jobTemplate carries the new stamp.
- Re-applying an identical render with server-side apply changes nothing: no object's
  resourceVersion or generation moves.

The corpus renders that cannot apply to a bare API server as they are, and what is done about each,
are listed in SPECIAL. Objects whose backends never run here (APIServices, admission webhooks) are
deleted once their app is checked: kueue's webhooks would refuse every later Deployment and Pod.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e.kube import ControlPlane
from helpers import (
    CORPUS,
    EXAMPLES,
    RENDERS,
    config_source,
    run_cli,
    template_annotations,
    workload,
)

from cmp.annotations import AnnotationKeys

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
BUILD_KUBE = ROOT / "tests" / "e2e" / "build-kube"
BUILD_TIMEOUT_S = 3600  # a cold build took 20.5 min on 2 busy cores
SETTLE_TIMEOUT_S = 90.0
EXAMPLE = EXAMPLES / "overlays" / "production"
LOADER = getattr(yaml, "CBaseLoader", yaml.BaseLoader)  # every scalar a string, as on the wire
FIRST_KINDS = ("Namespace", "CustomResourceDefinition")  # applied before the rest is dry-run
NO_BACKEND_KINDS = ("APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
HISTORY_OWNERS = {
    "Deployment": "ReplicaSet",
    "StatefulSet": "ControllerRevision",
    "DaemonSet": "ControllerRevision",
}


@dataclass(frozen=True)
class Special:
    """How one corpus render is applied, when it cannot be applied as it is, and why."""

    reason: str
    rename: tuple[tuple[str, str], ...] = ()  # namespaces, so renders sharing one do not collide
    without_kinds: frozenset[str] = frozenset()  # kinds whose CRDs the render does not bring
    rejected: str = ""  # the API server rejects the render itself: confighash must add nothing


SPECIAL = {
    "kubeflow-pipelines/manifests_kustomize_env_plain-multi-user": Special(
        "its 15 Istio DestinationRules, VirtualServices and AuthorizationPolicies come without "
        "Istio's CRDs (a Kubeflow install has Istio already): those are left out, and every other "
        "object, all workloads and the metacontroller CRDs and DecoratorController included, is "
        "applied. It also shares namespace kubeflow with env_plain, whose Deployments have other "
        "(immutable) selectors, so it goes to kubeflow-multi-user.",
        rename=(("kubeflow", "kubeflow-multi-user"),),
        without_kinds=frozenset({"DestinationRule", "VirtualService", "AuthorizationPolicy"}),
    ),
    "sourcegraph/examples_old-cluster": Special(
        "shares namespace ns-sourcegraph with examples_base, whose StatefulSets and "
        "PersistentVolumeClaims differ in immutable fields, so it goes to ns-sourcegraph-old.",
        rename=(("ns-sourcegraph", "ns-sourcegraph-old"),),
    ),
    "sourcegraph/examples_private-registry-relocated": Special(
        "excluded: upstream's component patches imagePullSecrets into all 20 pod templates as a "
        "map, not a list (corpus MANIFEST.md), so the API server rejects the render with or "
        "without confighash; checked to fail the same way unstamped and stamped. Applied to "
        "ns-sourcegraph-registry, clear of examples_base's immutable fields.",
        rename=(("ns-sourcegraph", "ns-sourcegraph-registry"),),
        rejected="imagePullSecrets: expected list",
    ),
}


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd, kube-apiserver and kube-controller-manager, built on first use; never skips."""
    proc = subprocess.run(
        [str(BUILD_KUBE)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"tests/e2e/build-kube failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
        )
    bin_dir = Path(proc.stdout.strip().splitlines()[-1])
    with ControlPlane(bin_dir, tmp_path_factory.mktemp("kube")) as plane:
        yield plane


# -- streams ----------------------------------------------------------------------------------


def split(stream: bytes) -> list[tuple[bytes, dict[str, Any]]]:
    """(text, object) of each document of a kustomize or confighash stream."""
    found = []
    for text in re.split(rb"(?m)^---[ \t]*\n", stream):
        obj = yaml.load(text, Loader=LOADER)
        if isinstance(obj, dict):
            found.append((text if text.endswith(b"\n") else text + b"\n", obj))
    return found


def join(texts: list[bytes]) -> bytes:
    return b"---\n".join(texts)


def stamp(stream: bytes, namespace: str, *flags: str) -> bytes:
    run = run_cli(["stamp", "-n", namespace, *flags, "-"], stdin=stream)
    assert run.code == 0, run.stderr
    return run.stdout


def rename_namespaces(stream: bytes, renames: tuple[tuple[str, str], ...]) -> bytes:
    """Every ``namespace: OLD`` field, and a Namespace named OLD, renamed to NEW."""
    out = []
    for text, obj in split(stream):
        renamed = text
        for old, new in renames:
            o, n = re.escape(old).encode(), new.encode()
            renamed = re.sub(rb"(?m)^(\s*(?:- )?namespace: )" + o + rb"$", rb"\g<1>" + n, renamed)
            if obj["kind"] == "Namespace":
                renamed = re.sub(rb"(?m)^(  name: )" + o + rb"$", rb"\g<1>" + n, renamed)
        out.append(renamed)
    return join(out)


def group_kind(obj: dict[str, Any]) -> tuple[str, str]:
    return str(obj["apiVersion"]).rpartition("/")[0], str(obj["kind"])


def stamped_workloads(stream: bytes, keys: AnnotationKeys) -> list[dict[str, Any]]:
    """The objects in ``stream`` whose pod template carries an annotation confighash owns."""
    found = []
    for _, obj in split(stream):
        try:
            annotations = template_annotations(obj)
        except (KeyError, TypeError, AttributeError):
            continue
        if any(keys.owned(k) for k in annotations):
            found.append(obj)
    return found


# -- the API server ---------------------------------------------------------------------------


def ensure_namespace(cluster: ControlPlane, name: str) -> None:
    done = cluster.kubectl("create", "namespace", name, check=False)
    assert done.returncode == 0 or "AlreadyExists" in done.stderr, done.stderr


def server_objects(cluster: ControlPlane, stream: bytes, namespace: str) -> list[dict[str, Any]]:
    """The stored version of every object in ``stream``."""
    got = cluster.kubectl("get", "-f", "-", "-o", "json", namespace=namespace, stdin=stream)
    parsed = json.loads(got.stdout)
    items: list[dict[str, Any]] = parsed["items"] if parsed.get("kind") == "List" else [parsed]
    return items


def by_key(items: list[dict[str, Any]]) -> dict[tuple[str, ...], dict[str, Any]]:
    """(group, kind, namespace, name) -> object."""
    return {
        (*group_kind(o), o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
        for o in items
    }


def versions(objects: dict[tuple[str, ...], dict[str, Any]]) -> dict[tuple[str, ...], str]:
    return {k: o["metadata"]["resourceVersion"] for k, o in objects.items()}


def settled(cluster: ControlPlane, stream: bytes, namespace: str) -> dict[tuple[str, ...], Any]:
    """The objects once controllers stopped changing them (status, CRD conditions)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    last = by_key(server_objects(cluster, stream, namespace))
    while time.monotonic() < deadline:
        time.sleep(1.5)
        now = by_key(server_objects(cluster, stream, namespace))
        if versions(now) == versions(last):
            return now
        last = now
    raise AssertionError(f"objects of {namespace} still changing after {SETTLE_TIMEOUT_S:g} s")


def apply(cluster: ControlPlane, stream: bytes, namespace: str, *flags: str) -> str:
    """Server-side apply; objects without a namespace go to ``namespace``. Returns stderr."""
    done = cluster.kubectl(
        "apply", "--server-side", *flags, "-f", "-", namespace=namespace, stdin=stream, check=False
    )
    assert done.returncode == 0, f"kubectl apply --server-side {' '.join(flags)}:\n{done.stderr}"
    return done.stderr


def dry_run_errors(cluster: ControlPlane, stream: bytes, namespace: str) -> list[str]:
    """What a server-side dry run refuses: [] when it passes, else its stderr bar warnings."""
    done = cluster.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-",
        namespace=namespace, stdin=stream, check=False,
    )  # fmt: skip
    if done.returncode == 0:
        return []
    lines = [line for line in done.stderr.splitlines() if not line.startswith("Warning:")]
    return sorted(lines) or [f"exit {done.returncode}"]


def apply_first(cluster: ControlPlane, stream: bytes, namespace: str) -> None:
    """Namespaces and CRDs the stream defines, for real, so a dry run can find them."""
    docs = split(stream)
    referenced = {o["metadata"].get("namespace") for _, o in docs} - {None}
    defined = {o["metadata"]["name"] for _, o in docs if o["kind"] == "Namespace"}
    for name in sorted((referenced | {namespace}) - defined):
        ensure_namespace(cluster, str(name))
    first = [text for text, o in docs if o["kind"] in FIRST_KINDS]
    if not first:
        return
    apply(cluster, join(first), namespace)
    crds = [f"crd/{o['metadata']['name']}" for _, o in docs if o["kind"] == FIRST_KINDS[1]]
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while crds:  # kubectl 1.32's wait fails, not waits, while a CRD has no conditions yet
        got = cluster.get(*crds)
        items = got["items"] if got.get("kind") == "List" else [got]
        conditions = [c for o in items for c in o.get("status", {}).get("conditions") or []]
        ready = [c for c in conditions if (c["type"], c["status"]) == ("Established", "True")]
        if len(ready) == len(crds):
            return
        assert time.monotonic() < deadline, f"CRDs not established: {crds}"
        time.sleep(0.25)


def remove_no_backend_objects(cluster: ControlPlane, stream: bytes, namespace: str) -> None:
    """APIServices and webhooks point at services that never run here; left in place they make
    discovery partial or refuse every later Deployment and Pod (kueue's)."""
    gone = [text for text, o in split(stream) if o["kind"] in NO_BACKEND_KINDS]
    if not gone:
        return
    cluster.kubectl("delete", "--wait=true", "-f", "-", namespace=namespace, stdin=join(gone))
    probe = workload("Deployment", "admission-probe").encode()
    deadline = time.monotonic() + 60
    while dry_run_errors(cluster, probe, "default"):  # until the webhook informers caught up
        assert time.monotonic() < deadline, dry_run_errors(cluster, probe, "default")
        time.sleep(0.5)


def assert_no_drift(cluster: ControlPlane, stream: bytes, namespace: str) -> None:
    """Re-applying ``stream`` as it is leaves every object as it was.

    Every object reads back the same, generation and managedFields included. The
    resourceVersion may move once, on the first update after create, when the API server
    persists defaults it applies on every read but did not store at create: a PVC's status.phase
    Pending, a Job's labels copied from its template. A second re-apply must not move it at all.
    """
    before = settled(cluster, stream, namespace)
    apply(cluster, stream, namespace)
    after = by_key(server_objects(cluster, stream, namespace))

    def content(o: dict[str, Any]) -> dict[str, Any]:
        return {**o, "metadata": {k: v for k, v in o["metadata"].items() if k != "resourceVersion"}}

    changed = {k for k in after if k not in before or content(after[k]) != content(before[k])}
    assert changed == set(), f"re-applying the identical render changed {sorted(changed)}"
    if versions(after) != versions(before):
        apply(cluster, stream, namespace)
        again = by_key(server_objects(cluster, stream, namespace))
        moved = {k for k, v in versions(again).items() if v != versions(after).get(k)}
        assert moved == set(), f"a second identical re-apply rewrote {sorted(moved)}"


def assert_accepted(
    cluster: ControlPlane, stream: bytes, namespace: str, keys: AnnotationKeys | None = None
) -> int:
    """Dry run, apply, stored stamps, no drift on re-apply. Returns the stamped workload count."""
    apply_first(cluster, stream, namespace)
    assert dry_run_errors(cluster, stream, namespace) == []
    apply(cluster, stream, namespace)

    keys = keys or AnnotationKeys()
    stored = by_key(server_objects(cluster, stream, namespace))
    stamped = stamped_workloads(stream, keys)
    for obj in stamped:
        where = obj["metadata"].get("namespace", namespace)
        key = (*group_kind(obj), where, obj["metadata"]["name"])
        assert key in stored, key
        assert template_annotations(stored[key]) == template_annotations(obj), key

    assert_no_drift(cluster, stream, namespace)

    remove_no_backend_objects(cluster, stream, namespace)
    return len(stamped)


# -- what the API server accepts --------------------------------------------------------------


def test_stamped_example_is_accepted(cluster: ControlPlane) -> None:
    run = run_cli(["build", str(EXAMPLE)], environ={"PATH": os.environ.get("PATH", "")})
    assert run.code == 0, run.stderr
    assert assert_accepted(cluster, run.stdout, "shop") == 2  # the Deployment and the CronJob


CHARTS = ROOT / "tests" / "fixtures" / "charts"
# Helm charts and a plain directory, rendered by confighash with the image's helm (issue 11):
# source, the parameters as an Application sets them, and how many workloads get stamps.
SOURCES: dict[str, tuple[Path, list[dict[str, Any]], int]] = {
    "example-chart-production": (
        EXAMPLES / "chart",
        [{"name": "valueFiles", "array": ["values-production.yaml"]}],
        1,
    ),
    "example-plain": (EXAMPLES / "plain", [], 1),
    "descheduler": (CHARTS / "descheduler", [], 1),
    "metrics-server-addon-resizer": (
        CHARTS / "metrics-server",
        [{"name": "parameters", "string": '[{"name": "addonResizer.enabled", "value": "true"}]'}],
        1,
    ),
    "prometheus": (CHARTS / "prometheus", [], 2),  # server, and alertmanager from a subchart
    "prometheus-blackbox-exporter": (CHARTS / "prometheus-blackbox-exporter", [], 1),
}


@pytest.mark.parametrize("case", SOURCES, ids=list(SOURCES))
def test_stamped_chart_or_directory_is_accepted(
    cluster: ControlPlane, case: str, tmp_path: Path
) -> None:
    source, parameters, expected = SOURCES[case]
    copy = tmp_path / source.name  # helm may write charts/ or a lock file; not into the fixtures
    shutil.copytree(source, copy, symlinks=True)
    namespace = case[:63]
    run = run_cli(
        ["build", str(copy)],
        environ={
            "PATH": os.environ.get("PATH", ""),
            "ARGOCD_APP_NAME": case,
            "ARGOCD_APP_NAMESPACE": namespace,
            "ARGOCD_APP_PARAMETERS": json.dumps(parameters),
        },
    )
    assert run.code == 0, run.stderr
    assert assert_accepted(cluster, run.stdout, namespace) == expected


def render_id(render: Path) -> str:
    return f"{render.parents[1].name}/{render.stem}"


def test_every_special_render_exists() -> None:
    """The corpus is there (an empty parameter list would skip), and SPECIAL names its renders."""
    assert RENDERS, f"no renders under {CORPUS}"
    assert set(SPECIAL) <= {render_id(r) for r in RENDERS}


@pytest.mark.parametrize("render", RENDERS, ids=render_id)
def test_corpus_render_is_accepted(cluster: ControlPlane, render: Path) -> None:
    special = SPECIAL.get(render_id(render), Special(""))
    namespace = re.sub(r"[^a-z0-9-]", "-", render_id(render).lower())[:63].strip("-")
    raw = render.read_bytes()
    if special.rename:
        raw = rename_namespaces(raw, special.rename)
    if special.without_kinds:
        docs = split(raw)
        crd_kinds = {o["spec"]["names"]["kind"] for _, o in docs if o["kind"] == FIRST_KINDS[1]}
        listed = cluster.kubectl("api-resources", "--no-headers").stdout.splitlines()
        served = {line.split()[-1] for line in listed if line.strip()}
        assert not special.without_kinds & (crd_kinds | served), "those CRDs are here after all"
        raw = join([text for text, o in docs if o["kind"] not in special.without_kinds])
    stream = stamp(raw, namespace)

    if special.rejected:
        apply_first(cluster, stream, namespace)
        unstamped = dry_run_errors(cluster, raw, namespace)
        assert unstamped and all(special.rejected in e for e in unstamped), unstamped
        assert dry_run_errors(cluster, stream, namespace) == unstamped
        return
    assert_accepted(cluster, stream, namespace)


# Name parts: at most 63 characters; a longer source name is shortened to 63 (cmp/annotations.py).
LONG_CONFIGMAP = "settings.shop.example.com-" + "c" * (253 - 26)
LONG_SECRET = "s" * 253
EXACT_63 = "n" * 63
PREFIXES = {
    "default": "confighash.dev",
    # The longest prefix confighash allows: "configmap." + prefix is at most 253 characters.
    "one-label-243": "p" * 243,
    "labels-243": ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 51]),
}


def every_key_app() -> bytes:
    """Sources with the longest names, read by every kind confighash stamps natively."""
    sources = [
        config_source("ConfigMap", LONG_CONFIGMAP, {"a": "1"}),
        config_source("Secret", LONG_SECRET, {"b": "2"}),
        config_source("ConfigMap", EXACT_63, {"c": "3"}),
        config_source("Secret", "short", {"d": "4"}),
    ]
    reads = [f"ConfigMap/{LONG_CONFIGMAP}", f"Secret/{LONG_SECRET}/b", f"ConfigMap/{EXACT_63}/c"]
    reads.append("Secret/short")
    kinds = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController"]
    kinds += ["CronJob", "Job"]
    workloads = [workload(kind, kind.lower(), *reads) for kind in kinds]
    return join([s.encode() for s in sources + workloads])


@pytest.mark.parametrize("prefix", PREFIXES.values(), ids=PREFIXES.keys())
def test_every_annotation_key_is_accepted(cluster: ControlPlane, prefix: str) -> None:
    keys = AnnotationKeys(prefix)
    too_long = run_cli(["stamp", "--annotation-prefix", prefix + "x", "-"], stdin=every_key_app())
    refused = too_long.code != 0 and "is not a DNS subdomain" in too_long.stderr
    assert refused == (len(prefix) == 243), "243 characters is the longest prefix allowed"

    namespace = f"keys-{len(prefix)}-{prefix.count('.')}"
    stream = stamp(every_key_app(), namespace, "--annotation-prefix", prefix, "--include-jobs")
    stamped = stamped_workloads(stream, keys)
    assert len(stamped) == 7
    expected = {
        keys.checksum,
        keys.source("ConfigMap", LONG_CONFIGMAP),
        keys.source("Secret", LONG_SECRET),
        keys.source("ConfigMap", EXACT_63),
        keys.source("Secret", "short"),
    }
    for obj in stamped:
        assert set(template_annotations(obj)) == expected
    names = sorted(len(k.partition("/")[2]) for k in expected if k != keys.checksum)
    assert names == [5, 63, 63, 63]  # the two 253-character names shortened, 63 kept
    assert keys.source("ConfigMap", EXACT_63).endswith("/" + EXACT_63)
    assert max(len(k) for k in expected) == len(f"configmap.{prefix}/") + 63

    assert assert_accepted(cluster, stream, namespace, keys) == 7


# -- what a change rolls ----------------------------------------------------------------------

ROLL_WORKLOADS = {
    ("Deployment", "web"): ("ConfigMap/shared",),
    ("StatefulSet", "db"): ("ConfigMap/shared", "Secret/creds"),
    ("DaemonSet", "agent"): ("ConfigMap/shared/a",),
    ("CronJob", "report"): ("ConfigMap/shared/a",),
    ("Deployment", "other-web"): ("ConfigMap/other",),
    ("StatefulSet", "other-db"): ("ConfigMap/other",),
    ("DaemonSet", "other-agent"): ("ConfigMap/other/x",),
    ("Deployment", "plain"): (),
}
BASE_DATA = {"shared": {"a": "1", "b": "1"}, "other": {"x": "1"}}


def roll_app(
    data: dict[str, dict[str, str]], labels: dict[str, str] | None = None, extra: str = ""
) -> bytes:
    sources = [config_source("ConfigMap", name, values, labels) for name, values in data.items()]
    sources.append(config_source("Secret", "creds", {"password": "p1"}))
    workloads = [workload(kind, name, *reads) for (kind, name), reads in ROLL_WORKLOADS.items()]
    return join([s.encode() for s in [*sources, *workloads, *([extra] if extra else [])]])


def history(cluster: ControlPlane, namespace: str) -> dict[str, set[str]]:
    """'Kind/name' of each Deployment, StatefulSet and DaemonSet -> its ReplicaSets or
    ControllerRevisions, once the controllers have seen every workload's latest generation."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        items: list[dict[str, Any]] = cluster.get(
            "deployments,statefulsets,daemonsets", namespace=namespace
        )["items"]
        behind = [
            o["metadata"]["name"]
            for o in items
            if o.get("status", {}).get("observedGeneration") != o["metadata"]["generation"]
        ]
        if not behind:
            break
        assert time.monotonic() < deadline, f"controllers never caught up with {behind}"
        time.sleep(0.5)
    owned: dict[str, set[str]] = {f"{o['kind']}/{o['metadata']['name']}": set() for o in items}
    revisions = cluster.get("replicasets,controllerrevisions", namespace=namespace)
    for rev in revisions["items"]:
        for ref in rev["metadata"].get("ownerReferences", []):
            owner = f"{ref['kind']}/{ref['name']}"
            if ref.get("controller") and HISTORY_OWNERS.get(ref["kind"]) == rev["kind"]:
                owned[owner].add(rev["metadata"]["name"])
    return owned


def cronjob_stamp(cluster: ControlPlane, namespace: str) -> dict[str, str]:
    return template_annotations(cluster.get("cronjob", "report", namespace=namespace))


def rolled(cluster: ControlPlane, namespace: str, before: bytes, after: bytes) -> dict[str, int]:
    """Apply ``before``, then ``after``; the new ReplicaSets/ControllerRevisions per workload."""
    ensure_namespace(cluster, namespace)
    apply(cluster, stamp(before, namespace), namespace)
    first = history(cluster, namespace)
    assert all(len(revs) == 1 for revs in first.values()), first
    apply(cluster, stamp(after, namespace), namespace)
    second = history(cluster, namespace)
    assert all(first[w] <= second[w] for w in first)
    return {w: len(second[w] - first[w]) for w in first}


def expect(*rolling: str) -> dict[str, int]:
    return {
        f"{kind}/{name}": int(name in rolling)
        for kind, name in ROLL_WORKLOADS
        if kind in HISTORY_OWNERS
    }


def test_a_consumed_key_change_rolls_each_consumer_once(cluster: ControlPlane) -> None:
    namespace = "roll-key"
    changed = {**BASE_DATA, "shared": {"a": "2", "b": "1"}}
    before = roll_app(BASE_DATA)
    ensure_namespace(cluster, namespace)
    apply(cluster, stamp(before, namespace), namespace)
    old_cron = cronjob_stamp(cluster, namespace)
    assert rolled(cluster, namespace, before, roll_app(changed)) == expect("web", "db", "agent")
    new_cron = cronjob_stamp(cluster, namespace)
    assert new_cron != old_cron
    planned = stamped_workloads(stamp(roll_app(changed), namespace), AnnotationKeys())
    assert new_cron == template_annotations(next(o for o in planned if o["kind"] == "CronJob"))


def test_a_key_nobody_reads_by_key_rolls_only_whole_readers(cluster: ControlPlane) -> None:
    """Key precision: ``b`` is read by envFrom (web, db), not by the ``a`` env readers."""
    namespace = "roll-unread-key"
    ensure_namespace(cluster, namespace)
    apply(cluster, stamp(roll_app(BASE_DATA), namespace), namespace)
    old_cron = cronjob_stamp(cluster, namespace)
    changed = {**BASE_DATA, "shared": {"a": "1", "b": "2"}}
    assert rolled(cluster, namespace, roll_app(BASE_DATA), roll_app(changed)) == expect("web", "db")
    assert cronjob_stamp(cluster, namespace) == old_cron


def test_a_label_only_change_rolls_nothing(cluster: ControlPlane) -> None:
    namespace = "roll-label"
    relabelled = roll_app(BASE_DATA, labels={"team": "checkout"})
    assert rolled(cluster, namespace, roll_app(BASE_DATA), relabelled) == expect()


def test_an_unrelated_change_rolls_nothing_else(cluster: ControlPlane) -> None:
    namespace = "roll-unrelated"
    unread = config_source("ConfigMap", "nobody-reads-this", {"k": "v2"})
    changed = roll_app({**BASE_DATA, "other": {"x": "2"}}, extra=unread)
    got = rolled(cluster, namespace, roll_app(BASE_DATA), changed)
    assert got == expect("other-web", "other-db", "other-agent")


def test_identical_reapply_changes_nothing(cluster: ControlPlane) -> None:
    namespace = "roll-identical"
    ensure_namespace(cluster, namespace)
    stream = stamp(roll_app(BASE_DATA), namespace)
    apply(cluster, stream, namespace)
    first = history(cluster, namespace)
    assert stamp(roll_app(BASE_DATA), namespace) == stream  # the same render, byte for byte
    assert_no_drift(cluster, stream, namespace)
    assert history(cluster, namespace) == first
