"""A real Kubernetes control plane for the e2e tests: etcd, kube-apiserver, kube-controller-manager.

No kubelet and no scheduler: pods are never scheduled or run. What the tests need is the API
server's validation and server-side apply, and the controllers that turn a changed pod template
into a new ReplicaSet (Deployment) or ControllerRevision (StatefulSet, DaemonSet).

Everything listens on 127.0.0.1 on free ports and lives in one work directory: etcd's data,
openssl-made certificates (a CA, the API server's serving certificate, client certificates for the
admin, in ``system:masters``, and for the controller manager), the service account signing key,
each server's log, and the admin kubeconfig. The API server authorizes with RBAC, as clusters do;
the controller manager runs each controller under its own service account
(``--use-service-account-credentials``), bound by the bootstrap RBAC policy.

    with ControlPlane(bin_dir, workdir) as cluster:
        cluster.kubectl("create", "namespace", "shop")

Leaving the ``with`` block, by return or by exception, kills every server's process group. A
server that exits or never becomes ready raises :class:`ControlPlaneError` with its log's tail.
Standard library only: the harness runs in any Python the tests run in.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any

ETCD = "etcd"  # Debian's etcd-server package: 3.4.23 serves kube-apiserver v1.37 here
KUBECTL = "/usr/bin/kubectl"
SERVICE_CIDR = "10.96.0.0/16"
# What the tests watch, and what those controllers need to act: ReplicaSets come from the
# deployment controller, ControllerRevisions from the statefulset and daemonset controllers (a
# DaemonSet gets one without any node). No replicaset or job controller: no Pods and no Jobs are
# made, so the only objects controllers create are the ones the tests count.
CONTROLLERS = ("deployment", "statefulset", "daemonset", "cronjob", "serviceaccount")
STARTUP_TIMEOUT = 90.0
LOG_TAIL = 40


class ControlPlaneError(RuntimeError):
    """A server failed to start or stopped; the message ends with its log's tail."""


@dataclass
class _Server:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    log_file: IO[bytes]

    def tail(self, lines: int = LOG_TAIL) -> str:
        self.log_file.flush()
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def check_running(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise ControlPlaneError(
                f"{self.name} exited with status {code}; last lines of {self.log}:\n{self.tail()}"
            )


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _run(argv: Sequence[str], cwd: Path) -> None:
    done = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ControlPlaneError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr}")


class _Certificates:
    """A throwaway CA and the certificates signed by it, made with openssl in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._key("ca")
        _run(
            [
                "openssl", "req", "-x509", "-new", "-key", "ca.key", "-out", "ca.crt",
                "-days", "7", "-subj", "/CN=confighash-e2e-ca",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            ],
            directory,
        )  # fmt: skip
        self.ca = directory / "ca.crt"
        self._key("service-account")
        self.service_account_key = directory / "service-account.key"

    def _key(self, name: str) -> None:
        _run(
            ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
             "-out", f"{name}.key"],
            self.dir,
        )  # fmt: skip

    def issue(self, name: str, subject: str, extensions: str) -> tuple[Path, Path]:
        """(certificate, key) for ``subject``, signed by the CA."""
        self._key(name)
        (self.dir / f"{name}.ext").write_text(extensions)
        _run(["openssl", "req", "-new", "-key", f"{name}.key", "-subj", subject,
              "-out", f"{name}.csr"], self.dir)  # fmt: skip
        _run(
            ["openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "7", "-extfile", f"{name}.ext", "-out", f"{name}.crt"],
            self.dir,
        )  # fmt: skip
        return self.dir / f"{name}.crt", self.dir / f"{name}.key"

    def client(self, name: str, user: str, group: str | None = None) -> tuple[Path, Path]:
        subject = f"/CN={user}" + (f"/O={group}" if group else "")
        return self.issue(
            name,
            subject,
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
        )


class ControlPlane:
    """etcd, kube-apiserver and kube-controller-manager from ``bin_dir``, run in ``workdir``."""

    def __init__(
        self,
        bin_dir: Path,
        workdir: Path,
        *,
        etcd: str = ETCD,
        kubectl: str = KUBECTL,
        timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self.bin_dir = bin_dir
        self.workdir = workdir
        self.etcd_binary = etcd
        self.kubectl_binary = kubectl
        self.timeout = timeout
        self.kubeconfig = workdir / "admin.kubeconfig"
        self.server = ""
        self._servers: list[_Server] = []
        self._restore: dict[signal.Signals, Any] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        self._trap_termination()
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _trap_termination(self) -> None:
        """SIGTERM and SIGHUP raise SystemExit while the servers run, so ``with`` cleans up.

        Their default action would end the process without unwinding. A SIGKILL cannot be
        caught: each server also gets SIGKILL from the kernel when its parent dies (setpriv
        --pdeathsig, see spawn).
        """
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) is signal.SIG_DFL:
                self._restore[sig] = signal.SIG_DFL
                signal.signal(sig, _exit_on_signal)

    def start(self) -> None:
        for binary in ("kube-apiserver", "kube-controller-manager"):
            if not os.access(self.bin_dir / binary, os.X_OK):
                raise ControlPlaneError(
                    f"{self.bin_dir / binary} is missing: run tests/e2e/build-kube"
                )
        for tool, package in ((self.etcd_binary, "etcd-server"), ("openssl", "openssl")):
            if shutil.which(tool) is None:
                raise ControlPlaneError(f"{tool} is missing: apt-get install {package}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        certs = _Certificates(self.workdir / "pki")
        etcd_url = self._start_etcd()
        self._start_apiserver(certs, etcd_url)
        self._start_controller_manager(certs)

    def stop(self) -> None:
        """Kill every server's process group, newest first; safe to call more than once."""
        while self._servers:
            server = self._servers.pop()
            _kill_group(server.process)
            server.log_file.close()
        while self._restore:
            sig, handler = self._restore.popitem()
            signal.signal(sig, handler)

    def check_running(self) -> None:
        """Raise if any server has exited since it started."""
        for server in self._servers:
            server.check_running()

    # -- servers ------------------------------------------------------------------------------

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> _Server:
        """Start a server of this control plane (``env``: its whole environment, else ours); it
        is stopped with the others in :meth:`stop`."""
        log = self.workdir / f"{name}.log"
        setpriv = shutil.which("setpriv")  # util-linux: the kernel kills it when we die
        if setpriv:
            argv = [setpriv, "--pdeathsig=KILL", "--", *argv]
        log_file = log.open("wb")
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env,
                start_new_session=True,  # its own process group, killed as a whole in stop()
            )
        except OSError as e:
            log_file.close()
            raise ControlPlaneError(f"cannot start {name} ({argv[0]}): {e}") from e
        server = _Server(name, process, log, log_file)
        self._servers.append(server)
        return server

    def _wait(self, server: _Server, url: str, context: ssl.SSLContext | None) -> None:
        deadline = time.monotonic() + self.timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            server.check_running()
            try:
                with urllib.request.urlopen(url, timeout=5, context=context) as response:
                    body = response.read().decode(errors="replace")
                    if response.status == 200:
                        return
                    last = f"HTTP {response.status}: {body[:200]}"
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}: {e.read().decode(errors='replace')[-500:]}"
            except (OSError, ssl.SSLError) as e:
                last = str(e)
            time.sleep(0.25)
        raise ControlPlaneError(
            f"{server.name} was not ready at {url} within {self.timeout:g} s ({last}); "
            f"last lines of {server.log}:\n{server.tail()}"
        )

    def _start_etcd(self) -> str:
        client, peer = free_port(), free_port()
        client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
        server = self.spawn(
            "etcd",
            [
                self.etcd_binary,
                "--name=e2e",
                f"--data-dir={self.workdir / 'etcd-data'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=e2e={peer_url}",
                "--initial-cluster-state=new",
                "--logger=zap",
                "--log-level=warn",
            ],
        )
        self._wait(server, f"{client_url}/health", None)
        return client_url

    def _start_apiserver(self, certs: _Certificates, etcd_url: str) -> None:
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        serving_cert, serving_key = certs.issue(
            "apiserver",
            "/CN=kube-apiserver",
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc,IP:10.96.0.1\n",
        )
        admin_cert, admin_key = certs.client("admin", "confighash-e2e-admin", "system:masters")
        server = self.spawn(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--tls-cert-file={serving_cert}",
                f"--tls-private-key-file={serving_key}",
                f"--client-ca-file={certs.ca}",
                "--authorization-mode=RBAC",
                f"--service-account-key-file={certs.service_account_key}",
                f"--service-account-signing-key-file={certs.service_account_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # The "kubernetes" Service's endpoints may not be a loopback address; nothing
                # here reaches the API server through that Service.
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",  # the corpus has privileged DaemonSets
                "--profiling=false",
            ],
        )
        self._write_kubeconfig(self.kubeconfig, "confighash-e2e-admin", admin_cert, admin_key)
        context = ssl.create_default_context(cafile=str(certs.ca))
        context.load_cert_chain(str(admin_cert), str(admin_key))
        self._wait(server, f"{self.server}/readyz", context)

    def _start_controller_manager(self, certs: _Certificates) -> None:
        port = free_port()
        cert, key = certs.client("controller-manager", "system:kube-controller-manager")
        kubeconfig = self.workdir / "controller-manager.kubeconfig"
        self._write_kubeconfig(kubeconfig, "system:kube-controller-manager", cert, key)
        server = self.spawn(
            "kube-controller-manager",
            [
                str(self.bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / 'controller-manager-certs'}",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--controllers={','.join(CONTROLLERS)}",
                f"--root-ca-file={certs.ca}",
            ],
        )
        # Its serving certificate is self-signed; /healthz needs no credentials.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        self._wait(server, f"https://127.0.0.1:{port}/healthz", context)

    def _write_kubeconfig(
        self, path: Path, user: str, cert: Path, key: Path, namespace: str | None = None
    ) -> None:
        # JSON is YAML: kubectl and the Kubernetes components read it as a kubeconfig.
        context: dict[str, str] = {"cluster": "e2e", "user": user}
        if namespace is not None:
            context["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "e2e",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority": str(self.workdir / "pki" / "ca.crt"),
                    },
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {"client-certificate": str(cert), "client-key": str(key)},
                }
            ],
            "contexts": [{"name": "e2e", "context": context}],
            "current-context": "e2e",
        }
        path.write_text(json.dumps(config, indent=2) + "\n")

    # -- kubectl ------------------------------------------------------------------------------

    def kubeconfig_for(self, namespace: str) -> Path:
        """An admin kubeconfig whose context namespace is ``namespace``.

        Objects without ``metadata.namespace`` go there, and objects that name their own
        namespace keep it, as Argo CD applies them; ``kubectl -n`` would refuse the latter.
        """
        path = self.workdir / "kubeconfigs" / f"{namespace}.kubeconfig"
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            pki = self.workdir / "pki"
            self._write_kubeconfig(
                path, "confighash-e2e-admin", pki / "admin.crt", pki / "admin.key", namespace
            )
        return path

    def kubectl(
        self,
        *args: str,
        namespace: str | None = None,
        stdin: bytes | None = None,
        check: bool = True,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this control plane; with ``check``, a failure raises with stderr.

        ``namespace`` is the default namespace (see :meth:`kubeconfig_for`), not ``-n``.
        """
        kubeconfig = self.kubeconfig if namespace is None else self.kubeconfig_for(namespace)
        argv = [self.kubectl_binary, f"--kubeconfig={kubeconfig}", *args]
        done = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        result = subprocess.CompletedProcess(
            argv,
            done.returncode,
            done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"),
        )
        if check and done.returncode != 0:
            self.check_running()
            raise ControlPlaneError(
                f"kubectl {' '.join(args)} failed ({done.returncode}):\n{result.stderr}"
            )
        return result

    def get(self, *args: str, namespace: str | None = None) -> dict[str, Any]:
        """``kubectl get ... -o json``, parsed."""
        done = self.kubectl("get", *args, "-o", "json", namespace=namespace)
        parsed: dict[str, Any] = json.loads(done.stdout)
        return parsed


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _kill_group(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL it if the leader outlives ``grace``; reap the leader."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        break
    with contextlib.suppress(ProcessLookupError):  # whatever the leader left in its group
        os.killpg(process.pid, signal.SIGKILL)
