"""Helm charts and plain directories through the real Argo CD v3.6.1 (issue 11).

The oracle is the repo-server's own render of the same commit: ``spec.source.helm`` or
``spec.source.directory`` with the same options. Through confighash (``spec.source.plugin`` with
those options as parameters of the same names) the objects must be the native ones, plus the
annotations confighash plans when it renders the same directory locally.
"""

from __future__ import annotations

import http.server
import json
import shutil
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e.argocd import (
    ROOT,
    ArgoCD,
    RepoServerError,
    Sidecar,
    git_commit,
    install_sidecar,
    plugin_source,
    stamps,
    strip_annotations,
    tools_bin,
)
from helpers import EXAMPLES, run_cli

pytestmark = pytest.mark.e2e

CHARTS = ROOT / "tests" / "fixtures" / "charts"
APP = "confighash-e2e"  # the client's Application name: the release name by default
NAMESPACE = "default"  # the client's destination namespace


@pytest.fixture(scope="session")
def sidecar() -> Sidecar:
    return install_sidecar()


@pytest.fixture(scope="session")
def argocd(sidecar: Sidecar) -> Iterator[ArgoCD]:
    with ArgoCD(sidecar) as servers:
        yield servers


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One repository with the example chart, the example directory and the test charts."""
    tree = tmp_path_factory.mktemp("sources") / "tree"
    shutil.copytree(EXAMPLES / "chart", tree / "chart")
    shutil.copytree(EXAMPLES / "plain", tree / "plain")
    shutil.copytree(CHARTS, tree / "charts")
    nested = tree / "nested"
    (nested / "sub" / "deeper").mkdir(parents=True)
    (nested / "top.yaml").write_text(_configmap("top"))
    (nested / "sub" / "one.yml").write_text(_configmap("one"))
    (nested / "sub" / "deeper" / "two.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "two"}})
    )
    (nested / "sub" / "skipped.yaml").write_text(
        "# +argocd:skip-file-rendering\n" + _configmap("x")
    )
    (nested / "values.yaml").write_text("just: a values file\n")
    (nested / "worker.yaml").write_text(_deployment("worker", ["top", "one", "two"]))
    out = tmp_path_factory.mktemp("sources") / "repo"
    git_commit(tree, out)
    return out


def _configmap(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  k: {name}\n"


def _deployment(name: str, sources: list[str]) -> str:
    env = "".join(f"            - configMapRef: {{name: {s}, optional: true}}\n" for s in sources)
    return (
        textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {name}
        spec:
          selector:
            matchLabels: {{app: {name}}}
          template:
            metadata:
              labels: {{app: {name}}}
            spec:
              containers:
                - name: c
                  image: busybox
                  envFrom:
        """)
        + env
    )


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata", {})
    return obj.get("kind", ""), meta.get("namespace", ""), meta.get("name", "")


def _params(options: dict[str, Any]) -> dict[str, str | list[str] | dict[str, str]]:
    """spec.source.helm / .directory options as the plugin's parameters of the same names."""
    params: dict[str, str | list[str] | dict[str, str]] = {}
    for name, value in options.items():
        if isinstance(value, bool):
            params[name] = "true" if value else "false"
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            params[name] = json.dumps(value)  # parameters, fileParameters: the list as JSON text
        elif isinstance(value, dict):
            params[name] = json.dumps(value)  # valuesObject
        else:
            params[name] = value
    return params


def planned(local: Path, params: dict[str, Any], tmp_path: Path) -> dict[Any, dict[str, str]]:
    """The stamps confighash plans for ``local`` with ``params``, run here with the image's helm
    and kustomize, on a copy (so that nothing is written into the fixtures)."""
    copy = tmp_path / "local" / local.name
    shutil.copytree(local, copy, symlinks=True)
    for sibling in local.parent.iterdir():  # file://../x dependencies
        if sibling != local and not (copy.parent / sibling.name).exists():
            (copy.parent / sibling.name).symlink_to(sibling)
    parameters = [
        {"name": k, ("array" if isinstance(v, list) else "string"): v} for k, v in params.items()
    ]
    run = run_cli(
        ["build", str(copy)],
        environ={
            "PATH": f"{tools_bin()}:/usr/bin:/bin",
            "ARGOCD_APP_NAME": APP,
            "ARGOCD_APP_NAMESPACE": NAMESPACE,
            "ARGOCD_APP_PARAMETERS": json.dumps(parameters),
        },
    )
    assert run.code == 0, run.stderr
    objects = [o for o in yaml.safe_load_all(run.stdout) if o]
    return {_key(obj): found for obj in objects if (found := stamps(obj))}


def assert_native_plus_planned(
    argocd: ArgoCD, repo: Path, path: str, *, kind: str, options: dict[str, Any], tmp_path: Path
) -> list[dict[str, Any]]:
    native = argocd.generate(repo, path, {kind: options})
    params = _params(options)
    plugin = argocd.generate(repo, path, plugin_source(params))
    assert len(plugin) == len(native)
    assert strip_annotations(plugin) == native
    got = {_key(obj): found for obj in plugin if (found := stamps(obj))}
    local = _local(repo, path)
    assert got == planned(local, params, tmp_path)
    return plugin


def _local(repo: Path, path: str) -> Path:
    return repo / path


# --- directory ----------------------------------------------------------------------------------


DIRECTORY_CASES = {
    "example": ("plain", {}),
    "top-level": ("nested", {}),
    "recurse": ("nested", {"recurse": True}),
    "include": ("nested", {"recurse": True, "include": "{*.yaml,sub/deeper/*}"}),
    "exclude": ("nested", {"recurse": True, "exclude": "sub/*.yml"}),
}


@pytest.mark.parametrize("case", DIRECTORY_CASES, ids=list(DIRECTORY_CASES))
def test_directory_is_native_render_plus_planned_stamps(
    argocd: ArgoCD, repo: Path, tmp_path: Path, case: str
) -> None:
    path, options = DIRECTORY_CASES[case]
    plugin = assert_native_plus_planned(
        argocd, repo, path, kind="directory", options=options, tmp_path=tmp_path
    )
    assert any(stamps(o) for o in plugin), "some workload consumes a source"


def test_json_manifest_stays_json_after_stamping(argocd: ArgoCD, repo: Path) -> None:
    (manifest,) = [
        m for m in argocd.manifests(repo, "plain", plugin_source()) if '"Deployment"' in m
    ]
    assert stamps(json.loads(manifest))  # what the repo-server returns is JSON anyway
    run = run_cli(["build", str(repo / "plain")], environ={"PATH": f"{tools_bin()}:/usr/bin:/bin"})
    assert run.code == 0, run.stderr
    document = next(d for d in run.stdout.decode().split("---\n") if '"Deployment"' in d)
    assert stamps(json.loads(document))  # the plugin's own output: the document is still JSON


# --- helm ---------------------------------------------------------------------------------------


HELM_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "example-defaults": ("chart", {}),
    "example-production": ("chart", {"valueFiles": ["values-production.yaml"]}),
    "example-options": (
        "chart",
        {
            "releaseName": "shop",
            "namespace": "shop",
            "valueFiles": ["values-staging.yaml", "missing.yaml"],
            "ignoreMissingValueFiles": True,
            "values": "greeting: from values\n",
            "parameters": [
                {"name": "replicas", "value": "2"},
                {"name": "logLevel", "value": "a,b", "forceString": True},
            ],
            "fileParameters": [{"name": "apiToken", "path": "values.yaml"}],
            "skipCrds": True,
            "skipTests": True,
            "skipSchemaValidation": True,
        },
    ),
    "example-values-object": (
        "chart",
        {"valuesObject": {"greeting": "from valuesObject"}, "values": "greeting: ignored\n"},
    ),
    "example-glob": ("chart", {"valueFiles": ["values-*.yaml", "values-staging.yaml"]}),
    "example-kube-version": ("chart", {"kubeVersion": "1.30.2", "apiVersions": ["v1", "apps/v1"]}),
    "descheduler": ("charts/descheduler", {}),
    "descheduler-deployment": (
        "charts/descheduler",
        {"parameters": [{"name": "kind", "value": "Deployment"}]},
    ),
    "metrics-server": ("charts/metrics-server", {"valueFiles": ["ci/ci-values.yaml"]}),
    "metrics-server-addon-resizer": (
        "charts/metrics-server",
        {
            "valueFiles": ["ci/ci-values.yaml"],
            "parameters": [{"name": "addonResizer.enabled", "value": "true"}],
        },
    ),
    "prometheus-vendored-dependencies": ("charts/prometheus", {}),
    "prometheus-config-reloader-sts": (
        "charts/prometheus",
        {"valueFiles": ["ci/03-config-reloader-sts-values.yaml"]},
    ),
    "prometheus-blackbox-exporter": ("charts/prometheus-blackbox-exporter", {}),
    "umbrella-vendored-dependency": ("charts/umbrella", {}),
    "dependency-build": ("charts/needs-build", {}),
}


@pytest.mark.parametrize("case", HELM_CASES, ids=list(HELM_CASES))
def test_chart_is_native_render_plus_planned_stamps(
    argocd: ArgoCD, repo: Path, tmp_path: Path, case: str
) -> None:
    path, options = HELM_CASES[case]
    assert_native_plus_planned(argocd, repo, path, kind="helm", options=options, tmp_path=tmp_path)


def test_chart_with_its_own_checksum_annotation_keeps_it_and_gets_ours(
    argocd: ArgoCD, repo: Path
) -> None:
    plugin = argocd.generate(repo, "charts/descheduler", plugin_source())
    (job,) = [o for o in plugin if o["kind"] == "CronJob"]
    annotations = job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/config" in annotations
    assert f"configmap.confighash.dev/{APP}-descheduler" in annotations


# Which workload of each real chart consumes which source it renders: what a reader of the
# chart's templates expects, so a chart that silently loses its stamps fails here.
REAL_CHART_CONSUMERS: dict[str, tuple[str, dict[str, Any], dict[tuple[str, str], str]]] = {
    "descheduler": ("charts/descheduler", {}, {("CronJob", APP + "-descheduler"): "configmap"}),
    "metrics-server-addon-resizer": (
        "charts/metrics-server",
        {"parameters": [{"name": "addonResizer.enabled", "value": "true"}]},
        {("Deployment", APP + "-metrics-server"): "configmap"},
    ),
    "prometheus": (
        "charts/prometheus",
        {},
        {
            ("Deployment", APP + "-prometheus-server"): "configmap",
            ("StatefulSet", APP + "-alertmanager"): "configmap",  # from the vendored subchart
        },
    ),
    "prometheus-blackbox-exporter": (
        "charts/prometheus-blackbox-exporter",
        {},
        {("Deployment", APP + "-prometheus-blackbox-exporter"): "configmap"},
    ),
}


@pytest.mark.parametrize("case", REAL_CHART_CONSUMERS, ids=list(REAL_CHART_CONSUMERS))
def test_real_chart_workloads_that_consume_a_source_are_stamped(
    argocd: ArgoCD, repo: Path, case: str
) -> None:
    path, options, consumers = REAL_CHART_CONSUMERS[case]
    plugin = argocd.generate(repo, path, plugin_source(_params(options)))
    stamped = {
        (obj["kind"], obj["metadata"]["name"]): sorted(stamps(obj)) for obj in plugin if stamps(obj)
    }
    assert set(stamped) == set(consumers), stamped
    for workload, kind in consumers.items():
        keys = [k for k in stamped[workload] if k != "confighash.dev/checksum"]
        assert keys and all(k.startswith(f"{kind}.confighash.dev/") for k in keys), keys


def test_kube_version_from_the_cluster_reaches_helm_as_natively(argocd: ArgoCD, repo: Path) -> None:
    flags = {"kube_version": "v1.31.4+k3s1", "api_versions": "v1,apps/v1,batch/v1"}
    native = argocd.generate(repo, "chart", {"helm": {}}, **flags)
    plugin = argocd.generate(repo, "chart", plugin_source(), **flags)
    assert strip_annotations(plugin) == native


@contextmanager
def _http_server(directory: Path) -> Iterator[str]:
    """A plain HTTP server on 127.0.0.1 for ``directory``, stopped on exit; yields its base URL."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_value_file_url_with_a_scheme_the_administrator_allows_is_fetched_as_natively(
    sidecar: Sidecar, repo: Path, tmp_path: Path
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "remote.yaml").write_text("greeting: hello from a URL\n")
    allow = {"CONFIGHASH_HELM_VALUES_FILE_SCHEMES": "https,http"}
    with _http_server(served) as base, ArgoCD(sidecar, sidecar_env=allow) as servers:
        options = {"valueFiles": [f"{base}/remote.yaml"]}
        native = servers.generate(repo, "chart", {"helm": options})
        plugin = servers.generate(repo, "chart", plugin_source(_params(options)))
    assert strip_annotations(plugin) == native
    (config,) = [o for o in native if o["kind"] == "ConfigMap"]
    assert "hello from a URL" in json.dumps(config["data"])  # the URL's values took effect
    assert any(stamps(o) for o in plugin)


# --- failures -----------------------------------------------------------------------------------


def _commit(tmp_path: Path, files: dict[str, str]) -> Path:
    tree = tmp_path / "tree"
    for name, text in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(text)
    out = tmp_path / "repo"
    git_commit(tree, out)
    return out


CHART = "apiVersion: v2\nname: c\nversion: 0.1.0\n"
FAILURES: dict[str, tuple[dict[str, str], dict[str, Any], str]] = {
    "template-error": (
        {"Chart.yaml": CHART, "templates/x.yaml": "{{ .Values.nope.deeper }}\n"},
        {},
        "helm template failed",
    ),
    "missing-values-file": ({"Chart.yaml": CHART}, {"valueFiles": ["nope.yaml"]}, "nope.yaml"),
    "values-file-outside": (
        {"Chart.yaml": CHART},
        {"valueFiles": ["../../../../etc/passwd"]},
        "outside repository root",
    ),
    "values-file-url": (
        {"Chart.yaml": CHART},
        {"valueFiles": ["https://example.com/values.yaml"]},
        "URL scheme",
    ),
    "missing-chart": ({"a.yaml": _configmap("a")}, {"source-type": "helm"}, "Chart.yaml"),
    "malformed-file": (
        {"a.yaml": _configmap("a"), "b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"},
        {},
        "b.yaml",
    ),
    "no-manifests": ({"README.md": "nothing\n", "values.yaml": "a: b\n"}, {}, "no objects"),
    "jsonnet": ({"a.jsonnet": "{}\n"}, {}, "jsonnet is not supported"),
}


@pytest.mark.parametrize("case", FAILURES, ids=list(FAILURES))
def test_bad_chart_or_directory_fails_with_a_named_error(
    argocd: ArgoCD, tmp_path: Path, case: str
) -> None:
    files, params, expected = FAILURES[case]
    repo = _commit(tmp_path, files)
    with pytest.raises(RepoServerError) as failure:
        argocd.generate(repo, ".", plugin_source(_params(params)))
    message = str(failure.value)
    assert "confighash: error:" in message and expected in message, message
