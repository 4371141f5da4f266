"""The ignore controls, idempotence, removal of stale annotations, and determinism."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import CORPUS, EXAMPLES, consumed, docs, find, messages, ours, stamp, y

SOURCES = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  a: x
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: hunter2
---
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: app
        image: app:1
        envFrom:
        - configMapRef:
            name: settings
        - secretRef:
            name: creds
"""


def _ignore(text: str, kind: str, name: str, value: str = '"true"') -> str:
    """Add the ignore annotation to the object ``kind``/``name`` in ``text``."""
    head = f"kind: {kind}\nmetadata:\n  name: {name}\n"
    assert head in text
    return text.replace(head, f"{head}  annotations:\n    confighash.dev/ignore: {value}\n")


@pytest.mark.parametrize(
    "value",
    [pytest.param('"true"', id="double-quoted"), pytest.param("'true'", id="single-quoted")],
)
def test_ignored_workload_is_left_byte_identical(value: str) -> None:
    text = _ignore(SOURCES + DEPLOYMENT, "Deployment", "web", value)
    data = y(text)
    result = stamp(data)
    assert result.output == data
    assert [p.status for p in result.plans] == ["ignored"]
    assert messages(result) == []  # not even the unkeyed-Secret warning


def test_ignored_workload_keeps_even_our_stale_annotations() -> None:
    stamped = stamp(SOURCES + DEPLOYMENT).output
    text = _ignore(stamped.decode(), "Deployment", "web").replace("a: x", "a: z")
    data = text.encode()
    assert stamp(data).output == data


@pytest.mark.parametrize(
    "value",
    [
        pytest.param('"false"', id="false"),
        pytest.param('"yes"', id="yes-is-not-true"),
        pytest.param('"True"', id="case-matters"),
    ],
)
def test_ignore_must_be_exactly_true(value: str) -> None:
    result = stamp(_ignore(SOURCES + DEPLOYMENT, "Deployment", "web", value))
    assert "confighash.dev/checksum" in ours(find(result.output, "Deployment", "web"))


def test_ignore_annotation_on_the_pod_template_is_not_the_control() -> None:
    text = (SOURCES + DEPLOYMENT).replace(
        "      labels:\n        app: web\n",
        "      labels:\n        app: web\n"
        "      annotations:\n        confighash.dev/ignore: 'true'\n",
    )
    assert "confighash.dev/checksum" in ours(find(stamp(text).output, "Deployment", "web"))


def test_ignored_configmap_is_left_out_without_annotation_or_warning() -> None:
    text = _ignore(SOURCES + DEPLOYMENT, "ConfigMap", "settings")
    result = stamp(text)
    annotations = ours(find(result.output, "Deployment", "web"))
    assert sorted(annotations) == ["confighash.dev/checksum", "secret.confighash.dev/creds"]
    assert consumed(result, "web") == [("Secret", "creds")]
    assert messages(result, "unresolved-ref") == []
    # its content no longer matters
    changed = stamp(text.replace("a: x", "a: z"))
    assert ours(find(changed.output, "Deployment", "web")) == annotations


def test_ignored_secret_is_left_out_and_no_unkeyed_warning() -> None:
    text = _ignore(SOURCES + DEPLOYMENT, "Secret", "creds")
    result = stamp(text)
    annotations = ours(find(result.output, "Deployment", "web"))
    assert sorted(annotations) == ["confighash.dev/checksum", "configmap.confighash.dev/settings"]
    assert messages(result) == []


def test_workload_whose_only_source_is_ignored_gets_nothing() -> None:
    text = _ignore(_ignore(SOURCES + DEPLOYMENT, "Secret", "creds"), "ConfigMap", "settings")
    data = y(text)
    result = stamp(data)
    assert result.output == data
    assert messages(result) == []


def test_ignoring_a_source_removes_what_an_earlier_stamp_wrote_for_it() -> None:
    stamped = stamp(SOURCES + DEPLOYMENT).output.decode()
    result = stamp(_ignore(stamped, "ConfigMap", "settings"))
    annotations = ours(find(result.output, "Deployment", "web"))
    assert "configmap.confighash.dev/settings" not in annotations
    assert "secret.confighash.dev/creds" in annotations


# --- idempotence -------------------------------------------------------------------------------


def _kustomize(directory: Path) -> bytes:
    return subprocess.run(
        ["kubectl", "kustomize", str(directory)], check=True, capture_output=True, timeout=120
    ).stdout


@pytest.fixture(scope="module")
def example_render() -> bytes:
    return _kustomize(EXAMPLES / "overlays" / "production")


IDEMPOTENCE_RENDERS = [
    "argo-cd/rendered/manifests_ha_cluster-install.yaml",
    "kube-prometheus/rendered/root.yaml",
    "sourcegraph/rendered/examples_base.yaml",
    "kubeflow-pipelines/rendered/manifests_kustomize_env_plain-multi-user.yaml",
    "descheduler/rendered/kubernetes_cronjob.yaml",
    "kustomize-examples/rendered/examples_wordpress.yaml",
]


def _assert_idempotent(data: bytes, **options: object) -> bytes:
    once = stamp(data, **options).output
    assert once != data, "nothing was stamped: the case proves nothing"
    twice = stamp(once, **options).output
    assert twice == once
    return once


def test_stamping_twice_equals_stamping_once_on_the_example(example_render: bytes) -> None:
    once = _assert_idempotent(example_render)
    backend = find(once, "Deployment", "prod-backend")
    assert "confighash.dev/checksum" in ours(backend)


@pytest.mark.parametrize("relative", IDEMPOTENCE_RENDERS)
def test_stamping_twice_equals_stamping_once_on_corpus_renders(relative: str) -> None:
    _assert_idempotent((CORPUS / relative).read_bytes(), include_jobs=True)


def test_stamping_twice_equals_once_with_options(example_render: bytes) -> None:
    _assert_idempotent(
        example_render,
        namespace="shop",
        prefix="example.org",
        include_jobs=True,
        include_image_pull_secrets=True,
        secret_key=b"0123456789abcdef0123",
    )


# --- stale annotations -------------------------------------------------------------------------

STALE = [
    pytest.param(
        """\
        template:
          metadata:
            annotations:
              confighash.dev/checksum: "v1:00000000000000000000000000000000"
              configmap.confighash.dev/settings: "000000000000"
              configmap.confighash.dev/gone: "000000000000"
          spec:
        """,
        {"confighash.dev/checksum", "configmap.confighash.dev/settings"},
        set(),
        id="source-no-longer-referenced",
    ),
    pytest.param(
        """\
        template:
          metadata:
            annotations:
              checksum/config: abc
              configmap.confighash.dev/gone: "000000000000"
              prometheus.io/scrape: "true"
            labels:
              app: web
          spec:
        """,
        {"confighash.dev/checksum", "configmap.confighash.dev/settings"},
        {"checksum/config", "prometheus.io/scrape"},
        id="others-kept",
    ),
    pytest.param(
        """\
        template:
          metadata:
            annotations:
              configmap.example.org/gone: "000000000000"
          spec:
        """,
        {"confighash.dev/checksum", "configmap.confighash.dev/settings"},
        {"configmap.example.org/gone"},
        id="other-prefix-is-not-ours",
    ),
]


@pytest.mark.parametrize(("template", "expected_ours", "expected_others"), STALE)
def test_stale_annotations_are_replaced_or_removed(
    template: str, expected_ours: set[str], expected_others: set[str]
) -> None:
    pod = "  containers:\n  - name: app\n    image: app:1\n    envFrom:\n    - configMapRef:\n"
    pod += "        name: settings\n"
    text = (
        SOURCES
        + "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n"
        + "\n".join("  " + line if line else line for line in y(template).decode().split("\n"))
        + "".join("    " + line + "\n" for line in pod.splitlines())
    )
    result = stamp(text)
    workload = find(result.output, "Deployment", "web")
    annotations = workload["spec"]["template"]["metadata"]["annotations"]
    assert set(ours(workload)) == expected_ours
    assert set(annotations) - expected_ours == expected_others
    assert "000000000000" not in ours(workload).values()


EMPTIED = [
    pytest.param(
        """\
        metadata:
          annotations:
            confighash.dev/checksum: "v1:00000000000000000000000000000000"
            configmap.confighash.dev/settings: "000000000000"
          labels:
            app: web
        """,
        {"labels": {"app": "web"}},
        id="annotations-removed-labels-kept",
    ),
    pytest.param(
        """\
        metadata:
          labels:
            app: web
          annotations:
            confighash.dev/checksum: "v1:00000000000000000000000000000000"
        """,
        {"labels": {"app": "web"}},
        id="annotations-last-removed",
    ),
    pytest.param(
        """\
        metadata:
          annotations:
            configmap.confighash.dev/settings: "000000000000"
        """,
        None,
        id="metadata-emptied-too",
    ),
    pytest.param(
        """\
        metadata: {annotations: {"confighash.dev/checksum": "v1:0"}, labels: {app: web}}
        """,
        {"labels": {"app": "web"}},
        id="flow-metadata",
    ),
]


@pytest.mark.parametrize(("metadata", "expected"), EMPTIED)
def test_annotations_removed_entirely_when_only_stale_ones_were_there(
    metadata: str, expected: dict[str, object] | None
) -> None:
    indented = "".join("    " + line + "\n" for line in y(metadata).decode().splitlines())
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n"
        + indented
        + "    spec:\n      containers:\n      - name: app\n        image: app:1\n"
    )
    result = stamp(text)
    out = result.output
    assert b"annotations: {}" not in out
    assert b"annotations: null" not in out
    assert b"annotations:\n" not in out
    template = docs(out)[0]["spec"]["template"]
    assert template.get("metadata") == expected
    assert stamp(out).output == out


# --- determinism -------------------------------------------------------------------------------


def _run(seed: str, path: Path) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    env.pop("CONFIGHASH_SECRET_KEY_FILE", None)
    proc = subprocess.run(
        [sys.executable, "-m", "cmp", "stamp", "--include-jobs", str(path)],
        env=env,
        capture_output=True,
        timeout=120,
        check=True,
    )
    return proc.stdout


@pytest.mark.parametrize(
    "relative",
    [
        "kube-prometheus/rendered/root.yaml",
        "kubeflow-pipelines/rendered/manifests_kustomize_env_plain.yaml",
    ],
)
def test_same_bytes_across_runs_with_different_hash_seeds(relative: str) -> None:
    path = CORPUS / relative
    first, second = _run("1", path), _run("4242", path)
    assert first == second
    assert first != path.read_bytes()


def test_same_bytes_across_hash_seeds_on_the_example(tmp_path: Path, example_render: bytes) -> None:
    path = tmp_path / "render.yaml"
    path.write_bytes(example_render)
    assert _run("0", path) == _run("987", path) == stamp(example_render).output
