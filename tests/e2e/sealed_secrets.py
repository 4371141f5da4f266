"""The real Sealed Secrets controller v0.40.0 on a ControlPlane, and kubeseal to seal for it.

The controller only reads in-cluster configuration (pkg/controller/main.go: rest.InClusterConfig),
so it runs as a pod would see it: KUBERNETES_SERVICE_HOST/PORT point at the API server on
127.0.0.1, and a service account's token, the cluster CA and its namespace are in
/var/run/secrets/kubernetes.io/serviceaccount. Those files exist only inside a private mount
namespace (``unshare --mount`` with a tmpfs over /run), so nothing is written into the machine's
/run. The controller's HTTP and metrics ports listen on 127.0.0.1. It stops with the ControlPlane.

Built by tests/e2e/build-sealed-secrets.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from e2e.kube import ControlPlane, ControlPlaneError, free_port

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "tests" / "e2e" / "build-sealed-secrets"
NAMESPACE = "kube-system"  # the controller's own namespace, where it keeps its sealing keys
ACCOUNT = "sealed-secrets-controller"
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key=active"
START_TIMEOUT_S = 120.0
# Inside the private mount namespace: a tmpfs over /run (/var/run links to it) with the
# service account files, then the controller in place of the shell.
_ENTER = (
    "set -e; mount -t tmpfs -o mode=755 tmpfs /run; "
    "mkdir -p /run/secrets/kubernetes.io/serviceaccount; "
    'cp "$1"/token "$1"/ca.crt "$1"/namespace /run/secrets/kubernetes.io/serviceaccount/; '
    'shift; exec "$@"'
)


def build() -> Path:
    """The directory with controller, kubeseal and the release's CRD (built on first use)."""
    done = subprocess.run([str(BUILD)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ControlPlaneError(f"tests/e2e/build-sealed-secrets failed:\n{done.stderr[-4000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


class SealedSecrets:
    """Started by :meth:`start`; :meth:`seal` encrypts a value for one Secret's key."""

    def __init__(self, plane: ControlPlane, bin_dir: Path, cert: Path) -> None:
        self.plane = plane
        self.bin_dir = bin_dir
        self.cert = cert

    @classmethod
    def start(cls, plane: ControlPlane, bin_dir: Path) -> SealedSecrets:
        unshare = shutil.which("unshare")
        if unshare is None:
            raise ControlPlaneError("unshare (util-linux) is not on PATH")
        plane.kubectl("apply", "--server-side", "-f", str(bin_dir / "sealedsecrets-crd.yaml"))
        plane.kubectl(
            "wait", "--for=condition=Established", "crd/sealedsecrets.bitnami.com", "--timeout=60s"
        )
        plane.kubectl("create", "serviceaccount", ACCOUNT, "-n", NAMESPACE)
        plane.kubectl(  # the chart's roles, widened: a test cluster with nothing else in it
            "create",
            "clusterrolebinding",
            ACCOUNT,
            "--clusterrole=cluster-admin",
            f"--serviceaccount={NAMESPACE}:{ACCOUNT}",
        )
        account = plane.workdir / "sealed-secrets-account"
        account.mkdir()
        token = plane.kubectl("create", "token", ACCOUNT, "-n", NAMESPACE, "--duration=24h")
        (account / "token").write_text(token.stdout.strip())
        shutil.copy(plane.workdir / "pki" / "ca.crt", account / "ca.crt")
        (account / "namespace").write_text(NAMESPACE)

        port = plane.server.rsplit(":", 1)[1]
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": port,
            "POD_NAMESPACE": NAMESPACE,
        }
        server = plane.spawn(
            "sealed-secrets-controller",
            [
                unshare,
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                _ENTER,
                "sh",
                str(account),
                str(bin_dir / "controller"),
                "--listen-addr",
                f"127.0.0.1:{free_port()}",
                "--listen-metrics-addr",
                f"127.0.0.1:{free_port()}",
            ],
            env,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            server.check_running()
            keys = plane.get("secrets", "-n", NAMESPACE, "-l", KEY_LABEL)["items"]
            if keys:
                cert = plane.workdir / "sealed-secrets-cert.pem"
                cert.write_bytes(base64.b64decode(keys[0]["data"]["tls.crt"]))
                return cls(plane, bin_dir, cert)
            time.sleep(0.25)
        raise ControlPlaneError(
            f"the Sealed Secrets controller made no sealing key in {START_TIMEOUT_S:g} s:\n"
            f"{server.tail()}"
        )

    def seal(self, namespace: str, name: str, value: bytes) -> str:
        """kubeseal --raw: ``value`` encrypted for Secret ``namespace/name`` (strict scope)."""
        done = subprocess.run(
            [
                str(self.bin_dir / "kubeseal"),
                "--raw",
                "--cert",
                str(self.cert),
                "--namespace",
                namespace,
                "--name",
                name,
                "--from-file=/dev/stdin",
            ],
            input=value,
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise ControlPlaneError(f"kubeseal failed: {done.stderr.decode(errors='replace')}")
        return done.stdout.decode().strip()


def healthy(obj: dict[str, Any]) -> bool:
    """Argo CD v3.6.1's health check of a SealedSecret, in Python: Healthy once the controller has
    observed this generation and says Synced (resource_customizations/bitnami.com/SealedSecret/
    health.lua)."""
    meta, status = obj.get("metadata") or {}, obj.get("status")
    if status is None or meta.get("generation") is None:
        return False
    if status.get("observedGeneration") != meta["generation"]:
        return False
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Synced":
            return bool(condition.get("status") == "True")
    return False
