"""confighash explain: per workload, stamped or not and why, what it consumes, digests, warnings.

Every output format runs on the example app and on apps of the shared corpus. The JSON report is
checked against the stamped stream as Argo CD reads it (the Go oracle): each source annotation
and checksum that explain names is exactly what the pod template carries.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import CORPUS, EXAMPLES, y
from oracle import objects

from cmp import cli, pipeline

Read = Callable[[bytes], list[dict[str, Any]]]

PRODUCTION = EXAMPLES / "overlays" / "production"
FORMATS = ("table", "json", "dot", "mermaid")
# Apps of the corpus, each for something it exercises: argo-cd (many optional keyRefs, no
# namespaces), kubeflow (keyRefs to keys that are missing, several namespaces), sourcegraph
# (StatefulSets, DaemonSets), descheduler (a Job), kustomize-examples (bare Pods).
CORPUS_RENDERS = [
    CORPUS / "argo-cd/rendered/manifests_namespace-install.yaml",
    CORPUS / "kubeflow-pipelines/rendered/manifests_kustomize_env_plain.yaml",
    CORPUS / "sourcegraph/rendered/examples_base.yaml",
    CORPUS / "descheduler/rendered/kubernetes_job.yaml",
    CORPUS / "kustomize-examples/rendered/examples_multibases.yaml",
    CORPUS / "kustomize-examples/rendered/examples_wordpress.yaml",
]
WORKLOAD_FIELDS = {"kind", "namespace", "name", "stamped", "sources", "unresolved", "warnings"}


def run(
    argv: list[str], data: bytes = b"", environ: dict[str, str] | None = None
) -> tuple[int, str, str]:
    out, err = io.BytesIO(), io.StringIO()
    status = cli.main(argv, environ=environ or {}, stdin=io.BytesIO(data), stdout=out, stderr=err)
    return status, out.getvalue().decode("utf-8"), err.getvalue()


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("key") / "key"
    path.write_bytes(b"0123456789abcdef0123456789abcdef")
    return str(path)


def explain(source: Path, *extra: str) -> tuple[int, str, str]:
    if source.is_dir():
        return run(["explain", str(source), *extra])
    return run(["explain", "--stream", str(source), *extra])


def report(source: Path, *extra: str) -> dict[str, Any]:
    status, out, err = explain(source, "-o", "json", *extra)
    assert status == 0, err
    assert err == ""
    data: dict[str, Any] = json.loads(out)
    return data


def stamped_templates(
    oracle: Read, stream: bytes
) -> dict[tuple[str, str | None, str], dict[str, str]]:
    """(kind, namespace, name) → the pod template annotations Argo CD reads, for every workload."""
    found = {}
    for obj in objects(oracle(stream)):
        for item in obj.get("items", [obj]) if isinstance(obj.get("items"), list) else [obj]:
            kind = item.get("kind")
            spec = item.get("spec") or {}
            template = (
                ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
                if kind == "CronJob"
                else spec.get("template")
            )
            if isinstance(template, dict):
                metadata = item.get("metadata") or {}
                annotations = (template.get("metadata") or {}).get("annotations") or {}
                found[(kind, metadata.get("namespace"), metadata["name"])] = annotations
    return found


# Every format, on the example and on the corpus


@pytest.mark.parametrize("output", FORMATS)
@pytest.mark.parametrize(
    "source",
    [PRODUCTION, *CORPUS_RENDERS],
    ids=["example-production", *[f"{p.parts[-3]}/{p.stem}" for p in CORPUS_RENDERS]],
)
def test_every_format_names_every_workload(source: Path, output: str) -> None:
    status, out, err = explain(source, "-o", output)
    assert status == 0, err
    assert err == "", "explain reports in its output, not on stderr"
    workloads = report(source)["workloads"]
    assert workloads, "each chosen app has workloads"
    if output == "json":
        assert json.loads(out)["workloads"] == workloads
        return
    for w in workloads:
        shown = f"{w['namespace']}/{w['name']}" if w["namespace"] else w["name"]
        assert shown in out, (output, shown)
    if output == "dot":
        check_dot(out, workloads)
    elif output == "mermaid":
        check_mermaid(out, workloads)
    elif output == "table":
        stamped = sum(1 for w in workloads if w["stamped"])
        assert f"{len(workloads)} workload" in out and f"{stamped} stamped" in out


@pytest.mark.parametrize(
    "source",
    [PRODUCTION, *CORPUS_RENDERS],
    ids=["example-production", *[f"{p.parts[-3]}/{p.stem}" for p in CORPUS_RENDERS]],
)
def test_json_matches_what_argo_cd_reads_from_the_stamped_stream(
    source: Path, oracle: Read, key_file: str
) -> None:
    """Keyed, so nothing is withheld: every digest explain shows is on the pod template."""
    data = report(source, "--secret-key-file", key_file)
    assert set(data) >= {"workloads"}
    if source.is_dir():
        status, out, _ = run(["build", str(source), "--secret-key-file", key_file])
        assert status == 0
        stamped_stream = out.encode()
    else:
        stamped_stream = pipeline.stamp(
            source.read_bytes(),
            pipeline.Options(secret_key=Path(key_file).read_bytes()),
        ).output
    templates = stamped_templates(oracle, stamped_stream)
    for w in data["workloads"]:
        assert set(w) >= WORKLOAD_FIELDS
        ours = {
            k: v
            for k, v in templates.get((w["kind"], w["namespace"], w["name"]), {}).items()
            if "confighash.dev" in k
        }
        if not w["stamped"]:
            assert w["reason"] and ours == {}, w["name"]
            continue
        assert w["reason"] is None
        assert ours.pop("confighash.dev/checksum") == w["checksum"]
        assert ours == {s["annotation"]: s["digest"] for s in w["sources"]}, w["name"]


def test_explain_counts_match_the_corpus_refcount_for_the_example_overlay() -> None:
    data = report(PRODUCTION)
    by_name = {w["name"]: w for w in data["workloads"]}
    assert sorted(by_name) == ["prod-backend", "prod-backend-report"]
    backend = by_name["prod-backend"]
    sources = {(s["kind"], s["name"]): s for s in backend["sources"]}
    assert sorted(sources) == [
        ("ConfigMap", "prod-backend-config"),
        ("ConfigMap", "prod-backend-env"),
        ("ConfigMap", "prod-backend-logging"),
        ("ConfigMap", "prod-oauth2-proxy-config"),
        ("Secret", "prod-backend-db"),
        ("Secret", "prod-oauth2-proxy"),
    ]
    db = sources[("Secret", "prod-backend-db")]
    assert db["via"] == ["env"] and db["keys"] == ["password", "username"]
    assert db["scope"] == "keys"
    env = sources[("ConfigMap", "prod-backend-env")]
    assert env["via"] == ["envFrom"] and env["keys"] is None and env["scope"] == "object"
    (flags,) = backend["unresolved"]
    assert flags == {
        "kind": "ConfigMap",
        "name": "backend-feature-flags",
        "via": "env",
        "path": "spec.template.spec.containers[0].env[2].valueFrom.configMapKeyRef",
        "optional": True,
        "keys": ["flags"],
    }


def test_unkeyed_secret_digests_and_checksums_are_withheld() -> None:
    data = report(PRODUCTION)
    assert data["keyedSecretDigests"] is False
    for w in data["workloads"]:
        secrets = [s for s in w["sources"] if s["kind"] == "Secret"]
        assert secrets and all(s["digest"] is None for s in secrets)
        assert w["checksum"] is None
        assert all(s["digest"] for s in w["sources"] if s["kind"] == "ConfigMap")
    _, table, _ = explain(PRODUCTION)
    assert "withheld" in table


def test_precision_object_is_reported() -> None:
    data = report(PRODUCTION, "--precision", "object")
    assert data["precision"] == "object"
    assert all(s["scope"] == "object" for w in data["workloads"] for s in w["sources"])


# Reasons and warnings

REASONS_STREAM = """
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: "1"}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: m, envFrom: [{configMapRef: {name: cfg}}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: debug}
spec:
  containers: [{name: d, image: d, envFrom: [{configMapRef: {name: cfg}}]}]
---
apiVersion: v1
kind: PodTemplate
metadata: {name: tmpl}
template:
  spec:
    containers: [{name: t, image: t}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hands-off
  annotations: {confighash.dev/ignore: "true"}
spec:
  template:
    spec:
      containers: [{name: h, image: h, envFrom: [{configMapRef: {name: cfg}}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: plain}
spec:
  template:
    spec:
      containers: [{name: p, image: p}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: by-ref}
spec:
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: plain}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  updateStrategy: {type: OnDelete}
  template:
    spec:
      containers: [{name: db, image: db, envFrom: [{configMapRef: {name: cfg}}]}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  updateStrategy: {type: RollingUpdate}
  template:
    spec:
      containers: [{name: a, image: a, envFrom: [{configMapRef: {name: cfg}}]}]
      volumes: [{name: v, secret: {secretName: nowhere}}]
"""


@pytest.fixture(scope="module")
def reasons() -> dict[str, dict[str, Any]]:
    status, out, err = run(["explain", "--stream", "-", "-o", "json"], y(REASONS_STREAM))
    assert status == 0, err
    return {w["name"]: w for w in json.loads(out)["workloads"]}


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("migrate", "job"),
        ("debug", "pod"),
        ("tmpl", "pod-template"),
        ("hands-off", "ignored"),
        ("plain", "no-sources"),
        ("by-ref", "no-template"),
        ("db", None),
        ("agent", None),
    ],
)
def test_each_workload_says_why_it_is_or_is_not_stamped(
    reasons: dict[str, dict[str, Any]], name: str, reason: str | None
) -> None:
    assert reasons[name]["reason"] == reason
    assert reasons[name]["stamped"] is (reason is None)


def test_unstamped_workloads_still_list_what_they_consume(
    reasons: dict[str, dict[str, Any]],
) -> None:
    for name in ("migrate", "debug", "hands-off"):
        (source,) = reasons[name]["sources"]
        assert (source["kind"], source["name"], source["annotation"]) == ("ConfigMap", "cfg", None)


def test_on_delete_update_strategy_is_warned_about(reasons: dict[str, dict[str, Any]]) -> None:
    assert any("OnDelete" in w for w in reasons["db"]["warnings"])
    assert not any("OnDelete" in w for w in reasons["agent"]["warnings"])


def test_bare_pod_and_unresolved_warnings(reasons: dict[str, dict[str, Any]]) -> None:
    assert any("never stamped" in w for w in reasons["debug"]["warnings"])
    (missing,) = reasons["agent"]["unresolved"]
    assert missing["name"] == "nowhere" and missing["optional"] is False
    assert any("nowhere" in w for w in reasons["agent"]["warnings"])


def test_table_words_for_the_reasons() -> None:
    status, out, _ = run(["explain", "--stream", "-"], y(REASONS_STREAM))
    assert status == 0
    assert "Job migrate: not stamped, a Job" in out
    assert "Pod debug: not stamped, a bare Pod" in out
    assert "Deployment hands-off: not stamped, carries the ignore annotation" in out
    assert "StatefulSet db: stamped" in out
    assert "warning: updateStrategy OnDelete" in out
    assert "unresolved Secret nowhere (volume): not in stream" in out


def test_stamp_does_not_read_bare_pods() -> None:
    analysis = pipeline.analyze(y(REASONS_STREAM), pipeline.Options())
    assert {p.workload.identity.kind for p in analysis.plans}.isdisjoint({"Pod", "PodTemplate"})
    explained = pipeline.analyze(y(REASONS_STREAM), pipeline.Options(), explain=True)
    assert {"Pod", "PodTemplate"} <= {p.workload.identity.kind for p in explained.plans}


# Graph formats: well-formed, and escaped


_DOT_ID = r"[wsu]\d+"
_DOT_STRING = r'"(?:[^"\\]|\\.)*"'
_DOT_LINES = [
    re.compile(r"digraph confighash \{"),
    re.compile(r"  rankdir=LR;"),
    re.compile(r'  (node|edge) \[fontname="Helvetica", fontsize=\d+\];'),
    re.compile(
        rf"  {_DOT_ID} \[shape=(box|note), "
        rf'style=("rounded,(bold|dashed)"|solid|dashed), label={_DOT_STRING}\];'
    ),
    re.compile(rf"  {_DOT_ID} -> {_DOT_ID} \[label={_DOT_STRING}(, style=dashed)?\];"),
    re.compile(r"\}"),
]


def check_dot(text: str, workloads: list[dict[str, Any]]) -> None:
    lines = text.splitlines()
    for line in lines:
        assert any(p.fullmatch(line) for p in _DOT_LINES), line
    edges = sum(1 for line in lines if " -> " in line)
    assert edges == sum(len(w["sources"]) + len(w["unresolved"]) for w in workloads)


_MERMAID_TEXT = r'"[^"]*"'
_MERMAID_LINES = [
    re.compile(r"flowchart LR"),
    re.compile(rf"  [wsu]\d+\[{_MERMAID_TEXT}\]"),
    re.compile(rf"  [su]\d+\[\({_MERMAID_TEXT}\)\]"),
    re.compile(rf"  w\d+ (-->|-\.->)\|{_MERMAID_TEXT}\| [su]\d+"),
    re.compile(r"  classDef \w+ .+"),
    re.compile(r"  class [wsu]\d+(,[wsu]\d+)* \w+"),
]


def check_mermaid(text: str, workloads: list[dict[str, Any]]) -> None:
    lines = text.splitlines()
    for line in lines:
        assert any(p.fullmatch(line) for p in _MERMAID_LINES), line
    edges = sum(1 for line in lines if "->|" in line)
    assert edges == sum(len(w["sources"]) + len(w["unresolved"]) for w in workloads)


def test_graph_labels_are_escaped() -> None:
    odd = y(
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: 'we"ird\\\\name<x>'}
        spec:
          template:
            spec:
              containers:
                - name: c
                  image: c
                  envFrom: [{configMapRef: {name: 'c"m'}}]
        """
    )
    status, dot, err = run(["explain", "--stream", "-", "-o", "dot"], odd)
    assert status == 0, err
    workloads = [{"sources": [], "unresolved": [1]}]
    check_dot(dot, workloads)
    assert '\\"' in dot
    status, mermaid, _ = run(["explain", "--stream", "-", "-o", "mermaid"], odd)
    check_mermaid(mermaid, workloads)
    assert "#quot;" in mermaid and "#lt;x#gt;" in mermaid


# Errors and usage


def test_malformed_input_is_one_line_on_stderr_and_nothing_on_stdout() -> None:
    status, out, err = run(["explain", "--stream", "-"], b"kind: ConfigMap\nmetadata: [\n")
    assert status == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "malformed YAML" in err
    assert "Traceback" not in err


def test_dir_and_stream_together_is_a_usage_error(tmp_path: Path) -> None:
    status, out, err = run(["explain", str(tmp_path), "--stream", "-"])
    assert (status, out) == (2, "")
    assert "not both" in err


def test_unknown_output_is_a_usage_error() -> None:
    status, out, _ = run(["explain", "--stream", "-", "-o", "toml"], b"")
    assert (status, out) == (2, "")


def test_kustomize_failure_is_reported_without_output(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    status, out, err = run(["explain", str(tmp_path)])
    assert (status, out) == (1, "")
    assert "kustomize build failed" in err
