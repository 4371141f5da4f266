"""The real External Secrets Operator v0.16.2 on a ControlPlane, its fake provider as the store.

The controller runs outside the cluster with the admin kubeconfig (controller-runtime reads
KUBECONFIG), its metrics port on 127.0.0.1, and no webhook (the CRDs it ships convert nothing).
A ClusterSecretStore with the fake provider holds the values the ExternalSecrets read. It stops
with the ControlPlane.

Built by tests/e2e/build-external-secrets.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from e2e.kube import ControlPlane, ControlPlaneError, free_port

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "tests" / "e2e" / "build-external-secrets"
START_TIMEOUT_S = 120.0


def build() -> Path:
    """The directory with the external-secrets binary and its CRDs (built on first use)."""
    done = subprocess.run([str(BUILD)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ControlPlaneError(f"tests/e2e/build-external-secrets failed:\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def start(plane: ControlPlane, bin_dir: Path, store: str, data: dict[str, str]) -> None:
    """CRDs, the controller, and ClusterSecretStore ``store`` serving ``data`` (key -> value)."""
    for crd in sorted((bin_dir / "crds").glob("*.yaml")):
        plane.kubectl("apply", "--server-side", "-f", str(crd))
    plane.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    server = plane.spawn(
        "external-secrets",
        [
            str(bin_dir / "external-secrets"),
            "--metrics-addr",
            f"127.0.0.1:{free_port()}",
            "--enable-leader-election=false",
        ],
        {"PATH": "/usr/bin:/bin", "KUBECONFIG": str(plane.kubeconfig)},
    )
    manifest = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": {"name": store},
        "spec": {"provider": {"fake": {"data": [{"key": k, "value": v} for k, v in data.items()]}}},
    }
    plane.kubectl("apply", "--server-side", "-f", "-", stdin=json.dumps(manifest).encode())
    deadline = time.monotonic() + START_TIMEOUT_S
    obj: dict[str, Any] = {}
    while time.monotonic() < deadline:
        server.check_running()
        obj = plane.get(f"clustersecretstore/{store}")
        if _ready(obj) is True:
            return
        time.sleep(0.25)
    raise ControlPlaneError(
        f"ClusterSecretStore {store} not Ready in {START_TIMEOUT_S:g} s: "
        f"{json.dumps(obj.get('status'))}\n{server.tail()}"
    )


def _ready(obj: dict[str, Any]) -> bool | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return None


def healthy(obj: dict[str, Any]) -> bool:
    """Argo CD v3.6.1's health check of an ExternalSecret, in Python: Healthy once a Ready
    condition is True (resource_customizations/external-secrets.io/ExternalSecret/health.lua).
    It does not compare generations, so a Ready condition left from the last spec counts too."""
    return _ready(obj) is True
