"""A Helm chart inflated by kustomize (helmCharts, --enable-helm), built by confighash with the
kustomize and helm the image ships (tests/e2e/build-tools): the Deployment the chart renders is
stamped with the chart's ConfigMap and Secret.

The chart is tests/fixtures/helm-chart/charts/web, local, so nothing is pulled. As in the image,
KUSTOMIZE_BIN names kustomize, and kustomize finds helm on PATH unless --helm-command names it.
--enable-helm comes from the administrator (CONFIGHASH_BUILD_OPTIONS, or --build-options); an
Application's build-options may ask for it only when the administrator allowlists it
(docs/usage.md, "kustomize build options").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import Run, assert_failed_cleanly, find, ours, run_cli

from cmp import pipeline, settings

pytestmark = pytest.mark.e2e

APP = Path(__file__).resolve().parent / "fixtures" / "helm-chart"
KEY = b"helm-chart-test-key-0123456789abcdef\n"
STAMPS = {"configmap.confighash.dev/shop-web-config", "secret.confighash.dev/shop-web-db"}


@pytest.fixture
def sidecar_env(tools: Path, tmp_path: Path) -> dict[str, str]:
    """The variables a confighash sidecar has, with the image's kustomize and helm."""
    key = tmp_path / "key"
    key.write_bytes(KEY)
    return {
        "PATH": os.pathsep.join([str(tools), "/usr/bin", "/bin"]),
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "KUSTOMIZE_BIN": str(tools / "kustomize"),
        "CONFIGHASH_SECRET_KEY_FILE": str(key),
    }


def kustomize_build(
    env: dict[str, str], *options: str, app: Path = APP, prefix: list[str] | None = None
) -> bytes:
    """kustomize's own render (the image's kustomize unless ``prefix`` says otherwise)."""
    proc = subprocess.run(
        [*(prefix or [env["KUSTOMIZE_BIN"], "build"]), str(app), *options],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def assert_stamped(run: Run, env: dict[str, str], *options: str) -> None:
    """confighash printed kustomize's own render, stamped: the Deployment gets both sources."""
    assert run.code == 0, run.stderr
    assert run.stderr == ""
    key = settings.read_secret_key(env["CONFIGHASH_SECRET_KEY_FILE"])
    expected = pipeline.stamp(kustomize_build(env, *options), pipeline.Options(secret_key=key))
    assert run.stdout == expected.output
    assert set(ours(find(run.stdout, "Deployment", "shop-web"))) == {
        "confighash.dev/checksum",
        *STAMPS,
    }


def test_chart_renders_with_the_real_helm_and_the_deployment_is_stamped(
    sidecar_env: dict[str, str],
) -> None:
    env = {**sidecar_env, "CONFIGHASH_BUILD_OPTIONS": "--enable-helm"}
    run = run_cli(["build", str(APP)], environ=env)
    assert_stamped(run, env, "--enable-helm")
    config = find(run.stdout, "ConfigMap", "shop-web-config")
    assert config["metadata"]["namespace"] == "shop"
    assert config["data"]["greeting"] == "hello from kustomize"  # valuesInline reached helm
    # no KUBE_VERSION: helm's own default, 1.34 for helm v3.19.0 (set at build time, as released)
    assert config["data"]["kube-version"] == "v1.34.0"
    assert "metrics" not in config["data"]


def test_helm_is_told_the_clusters_versions(sidecar_env: dict[str, str]) -> None:
    env = {
        **sidecar_env,
        "CONFIGHASH_BUILD_OPTIONS": "--enable-helm",
        "KUBE_VERSION": "1.29.3",
        "KUBE_API_VERSIONS": "v1,apps/v1,monitoring.coreos.com/v1",
    }
    run = run_cli(["build", str(APP)], environ=env)
    options = ["--enable-helm", "--helm-kube-version", "1.29.3"]
    for version in env["KUBE_API_VERSIONS"].split(","):
        options += ["--helm-api-versions", version]
    assert_stamped(run, env, *options)
    config = find(run.stdout, "ConfigMap", "shop-web-config")
    assert config["data"]["kube-version"] == "v1.29.3"
    assert config["data"]["metrics"] == "prometheus-operator"


def test_helm_command_names_a_helm_that_is_not_on_path(
    sidecar_env: dict[str, str], tmp_path: Path
) -> None:
    helm = tmp_path / "elsewhere" / "helm"
    helm.parent.mkdir()
    shutil.copy2(Path(sidecar_env["PATH"].split(os.pathsep)[0]) / "helm", helm)
    env = {**sidecar_env, "PATH": "/usr/bin:/bin"}
    assert shutil.which("helm", path=env["PATH"]) is None
    without = run_cli(["build", "--build-options=--enable-helm", str(APP)], environ=env)
    line = assert_failed_cleanly(without)
    assert "'helm version --short'" in line  # kustomize's words
    assert "not found" in line
    options = f"--enable-helm --helm-command {helm}"
    run = run_cli(["build", "--build-options", options, str(APP)], environ=env)
    assert_stamped(run, env, *options.split())


def test_an_application_gets_helm_only_when_the_administrator_allows_it(
    sidecar_env: dict[str, str],
) -> None:
    asks = json.dumps([{"name": "build-options", "string": "--enable-helm"}])
    env = {**sidecar_env, "ARGOCD_APP_PARAMETERS": asks}
    refused = assert_failed_cleanly(run_cli(["build", str(APP)], environ=env))
    assert "--enable-helm" in refused
    assert "CONFIGHASH_ALLOWED_BUILD_OPTIONS" in refused
    env["CONFIGHASH_ALLOWED_BUILD_OPTIONS"] = "--enable-helm"
    assert_stamped(run_cli(["build", str(APP)], environ=env), env, "--enable-helm")


def test_without_enable_helm_kustomize_refuses_the_chart(sidecar_env: dict[str, str]) -> None:
    line = assert_failed_cleanly(run_cli(["build", str(APP)], environ=sidecar_env))
    assert "kustomize build failed" in line
    assert "HelmChartInflationGenerator" in line  # its first line; the rest may quote input


def test_kustomize_5_8_leaves_the_namespace_of_chart_objects_to_the_chart(
    sidecar_env: dict[str, str], tmp_path: Path
) -> None:
    """Where kustomize 5.5 (kubectl's here) and 5.8 (the image's) differ on a chart: 5.8 passes the
    Kustomization's namespace to helm as the release namespace and no longer sets it on what helm
    renders (kustomize PR 5940, issue 6058). A template that sets no namespace gives an object
    without one, which confighash then places in the Application's destination namespace."""
    app = tmp_path / "app"
    shutil.copytree(APP, app)
    for template in (app / "charts" / "web" / "templates").iterdir():
        text = template.read_text()
        template.write_text(text.replace("  namespace: {{ .Release.Namespace }}\n", ""))
    image = kustomize_build(sidecar_env, "--enable-helm", app=app)
    kubectl = shutil.which("kubectl")
    assert kubectl is not None, "kubectl (kustomize) is required"
    older = kustomize_build(sidecar_env, "--enable-helm", app=app, prefix=[kubectl, "kustomize"])
    assert older != image
    assert b"namespace:" not in image
    assert older.count(b"  namespace: shop\n") == 3
    assert older.replace(b"  namespace: shop\n", b"") == image
