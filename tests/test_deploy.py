"""The install manifests in deploy/ render and validate, offline.

- ``kubectl kustomize deploy/`` renders the demonstration overlay (the patch
  applied to a stand-in argocd-repo-server Deployment); every rendered object
  is validated strictly against the Kubernetes OpenAPI schemas bundled with
  ``kubernetes-validate``.
- The Helm values' sidecar is wrapped in a Pod and validated the same way.
- The example Application is checked structurally (no schema for the CRD is
  bundled) and read through the Argo CD YAML oracle.

kubectl and kubernetes-validate are required: a missing tool fails the tests.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
PLUGIN_YAML = ROOT / "plugin.yaml"

# Kubernetes versions to validate against: an old one still supported by
# current Argo CD releases, and the newest schema kubernetes-validate bundles.
K8S_VERSIONS = ("1.29.0", "latest")

SIDECAR = "confighash"
IMAGE = "ghcr.io/confighash/confighash:0.1.0"
KEY_DIR = "/etc/confighash/key"
EXPECTED_MOUNTS = {
    "var-files": "/var/run/argocd",
    "plugins": "/home/argocd/cmp-server/plugins",
    "cmp-tmp": "/tmp",
    "confighash-key": KEY_DIR,
}
EXPECTED_ENV = {
    "CONFIGHASH_SECRET_KEY_FILE",
    "CONFIGHASH_BUILD_OPTIONS",
    "CONFIGHASH_ALLOWED_BUILD_OPTIONS",
    "CONFIGHASH_TIMEOUT",
}
# Files in deploy/ and what covers them; a new file must be added here.
KNOWN_FILES = {
    "kustomization.yaml",
    "repo-server-patch.yaml",
    "testdata/argocd-repo-server.yaml",
    "helm-values.yaml",
    "application.yaml",
    "secret-key.example.yaml",
    "plugin-discovery.yaml",  # tests/test_dockerfile.py
}

Oracle = Callable[[bytes], list[dict[str, Any]]]


def _kubernetes_validate() -> Any:
    try:
        import kubernetes_validate  # noqa: PLC0415
    except ImportError:
        pytest.fail("kubernetes-validate is not installed: pip install kubernetes-validate")
    return kubernetes_validate


def validate_strict(obj: dict[str, Any]) -> None:
    kv = _kubernetes_validate()
    for version in K8S_VERSIONS:
        v = kv.latest_version() if version == "latest" else version
        try:
            kv.validate(obj, v, strict=True)
        except kv.ValidationError as e:
            where = ".".join(str(p) for p in e.path)
            pytest.fail(
                f"{obj['kind']}/{obj['metadata']['name']} vs Kubernetes {v}: {where}: {e.message}"
            )
        except kv.SchemaNotFoundError as e:
            pytest.fail(e.message)


@pytest.fixture(scope="module")
def rendered() -> bytes:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not installed; it is needed to render deploy/ with kustomize")
    proc = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def _objects(stream: bytes) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(stream) if d is not None]


def _sidecar(pod_spec: dict[str, Any]) -> dict[str, Any]:
    matches = [c for c in pod_spec["containers"] if c["name"] == SIDECAR]
    assert len(matches) == 1
    return matches[0]


def check_sidecar(container: dict[str, Any], volumes: list[dict[str, Any]]) -> None:
    """The sidecar container as docs/install.md describes it."""
    assert container["image"] == IMAGE
    assert container["command"] == ["/var/run/argocd/argocd-cmp-server"]
    assert "args" not in container

    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert {n: m["mountPath"] for n, m in mounts.items()} == EXPECTED_MOUNTS
    assert mounts["confighash-key"].get("readOnly") is True

    env = {e["name"]: e for e in container["env"]}
    assert set(env) == EXPECTED_ENV
    assert all(isinstance(e.get("value"), str) for e in env.values())
    assert env["CONFIGHASH_SECRET_KEY_FILE"]["value"] == f"{KEY_DIR}/key"
    assert int(env["CONFIGHASH_TIMEOUT"]["value"]) < 60, "must fit Argo CD's 60 s deadline"

    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 999
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}

    res = container["resources"]
    assert {"cpu", "memory"} <= set(res["requests"])
    assert "memory" in res["limits"]

    by_name = {v["name"]: v for v in volumes}
    assert set(EXPECTED_MOUNTS) <= set(by_name), "every mount needs a volume"
    assert by_name["cmp-tmp"] == {"name": "cmp-tmp", "emptyDir": {}}
    secret = by_name["confighash-key"]["secret"]
    assert secret["secretName"] == "confighash-key"
    assert secret["optional"] is True
    assert secret["defaultMode"] & 0o444 == 0o444, "uid 999 must be able to read the key"
    assert secret["defaultMode"] & 0o222 == 0


def test_deploy_has_no_untested_files() -> None:
    present = {p.relative_to(DEPLOY).as_posix() for p in DEPLOY.rglob("*") if p.is_file()}
    assert present == KNOWN_FILES


def test_rendered_overlay_validates(rendered: bytes) -> None:
    objects = _objects(rendered)
    assert [o["kind"] for o in objects] == ["Deployment"]
    for obj in objects:
        validate_strict(obj)


def test_rendered_overlay_adds_the_sidecar(rendered: bytes) -> None:
    (deployment,) = _objects(rendered)
    assert deployment["metadata"]["name"] == "argocd-repo-server"
    spec = deployment["spec"]["template"]["spec"]
    check_sidecar(_sidecar(spec), spec["volumes"])
    # The patch adds; it must not disturb what Argo CD's own containers use.
    names = [c["name"] for c in spec["containers"]]
    assert sorted(names) == ["argocd-repo-server", SIDECAR]
    assert [c["name"] for c in spec["initContainers"]] == ["copyutil"]
    declared = {v["name"] for v in spec["volumes"]}
    for c in spec["containers"] + spec["initContainers"]:
        for m in c.get("volumeMounts", []):
            assert m["name"] in declared, f"{c['name']} mounts undeclared {m['name']}"


def test_rendered_overlay_reads_the_same_in_yaml11(rendered: bytes, oracle: Oracle) -> None:
    (line,) = oracle(rendered)
    assert "error" not in line, line
    assert line["object"] == _objects(rendered)[0]


def _helm_pod() -> dict[str, Any]:
    values = yaml.safe_load((DEPLOY / "helm-values.yaml").read_text())
    repo = values["repoServer"]
    assert set(repo) == {"extraContainers", "volumes"}
    # The chart itself declares var-files and plugins for the repo-server pod.
    chart_volumes = [{"name": "var-files", "emptyDir": {}}, {"name": "plugins", "emptyDir": {}}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "argocd-repo-server-values-check"},
        "spec": {
            "containers": copy.deepcopy(repo["extraContainers"]),
            "volumes": copy.deepcopy(repo["volumes"]) + chart_volumes,
        },
    }


def test_helm_values_sidecar_validates_in_a_pod() -> None:
    pod = _helm_pod()
    validate_strict(pod)
    check_sidecar(_sidecar(pod["spec"]), pod["spec"]["volumes"])


def test_helm_values_match_the_kustomize_patch() -> None:
    patch = yaml.safe_load((DEPLOY / "repo-server-patch.yaml").read_text())
    spec = patch["spec"]["template"]["spec"]
    values = yaml.safe_load((DEPLOY / "helm-values.yaml").read_text())["repoServer"]
    assert values["extraContainers"] == spec["containers"]
    assert values["volumes"] == spec["volumes"]


def test_secret_example_validates_and_is_a_placeholder() -> None:
    (secret,) = _objects((DEPLOY / "secret-key.example.yaml").read_bytes())
    validate_strict(secret)
    assert secret["metadata"]["name"] == "confighash-key"
    assert set(secret["stringData"]) == {"key"}
    assert "PLACEHOLDER" in secret["stringData"]["key"]
    text = (DEPLOY / "secret-key.example.yaml").read_text()
    assert "head -c 32 /dev/urandom" in text


def test_example_application(oracle: Oracle) -> None:
    raw = (DEPLOY / "application.yaml").read_bytes()
    (line,) = oracle(raw)
    assert "error" not in line, line
    app = line["object"]
    assert app == yaml.safe_load(raw)
    assert app["apiVersion"] == "argoproj.io/v1alpha1"
    assert app["kind"] == "Application"
    assert app["metadata"]["name"]
    spec = app["spec"]
    assert {"project", "source", "destination"} <= set(spec)
    source = spec["source"]
    assert {"repoURL", "path", "targetRevision", "plugin"} <= set(source)
    assert not {"helm", "kustomize", "directory"} & set(source), "one source type only"
    plugin = source["plugin"]
    assert plugin["name"] == "confighash"
    assert set(plugin) <= {"name", "env", "parameters"}

    static = yaml.safe_load(PLUGIN_YAML.read_text())["spec"]["parameters"]["static"]
    announced = {a["name"] for a in static}
    for param in plugin["parameters"]:
        assert set(param) == {"name", "string"}, param
        assert param["name"] in announced
        assert isinstance(param["string"], str)
    for env in plugin["env"]:
        assert set(env) == {"name", "value"}
        assert env["name"] in announced
        assert not env["name"].startswith("ARGOCD_ENV_"), "Argo CD adds the prefix itself"
        assert isinstance(env["value"], str)
