"""The real Argo CD for the e2e tests: redis, argocd-cmp-server and argocd-repo-server.

``ArgoCD`` starts the three servers the way an Argo CD installation runs them, on 127.0.0.1 and a
unix socket only, and stops them whatever happens:

- argocd-cmp-server runs as the sidecar does: the project's plugin.yaml (the file the image bakes
  in) as its config, confighash installed from its wheel as the Dockerfile installs it, the
  Dockerfile's environment with /tmp mapped to a private directory, as uid 999 when we are root;
- argocd-repo-server finds the sidecar through the plugin socket directory, as in the pod.

``generate`` and ``app_details`` call the repo-server's gRPC API through
tests/e2e/client/main.go, which is built on Argo CD's own apiclient packages.

Stdlib only: tests/e2e/argocd-render runs this module with any python3.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
E2E = ROOT / "tests" / "e2e"
SIDECAR_UID = 999  # the image's USER and deploy/'s runAsUser
START_TIMEOUT_S = 60
STOP_GRACE_S = 5


class HarnessError(RuntimeError):
    """A server would not start, or a build step failed; the message has the log's tail."""


class RepoServerError(RuntimeError):
    """The repo-server answered a request with an error (its message is the exception's)."""


def _run_build(script: str) -> Path:
    proc = subprocess.run([str(E2E / script)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise HarnessError(f"{script} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def argocd_bin() -> Path:
    """Directory with Argo CD's binary and the e2e client (built and cached by build-argocd)."""
    return _run_build("build-argocd")


def tools_bin() -> Path:
    """Directory with the image's kustomize and helm (built and cached by build-tools)."""
    return _run_build("build-tools")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _source_digest() -> str:
    """Digest of what goes into the wheel, to reuse a sidecar install across runs."""
    h = hashlib.sha256()
    for path in [ROOT / "pyproject.toml", *sorted((ROOT / "cmp").rglob("*.py"))]:
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def _world_readable_cache() -> Path:
    # The sidecar runs as uid 999, which cannot enter root's home: its files live here.
    base = Path(os.environ.get("CONFIGHASH_E2E_SIDECAR_CACHE", "/var/tmp/confighash-e2e"))
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    return base


def _link_or_copy(src: Path, dst: Path) -> None:
    if dst.exists() and (dst.stat().st_size, dst.stat().st_mtime) == (
        src.stat().st_size,
        src.stat().st_mtime,
    ):
        return
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    tmp.chmod(0o755)
    tmp.replace(dst)


@dataclass(frozen=True)
class Sidecar:
    """The two images' programs: the sidecar's and the repo-server's."""

    bin: Path  # the sidecar image: argocd-cmp-server (from Argo CD's volume), kustomize, helm
    venv: Path  # the sidecar image: confighash installed from its wheel
    repo_bin: Path  # Argo CD's image: argocd-repo-server, kustomize, helm, the git wrappers


def _bin_dir(cache: Path, name: str, files: Mapping[str, Path]) -> Path:
    path = cache / name
    path.mkdir(exist_ok=True)
    path.chmod(0o755)
    for target, src in files.items():
        _link_or_copy(src, path / target)
    return path


def install_sidecar() -> Sidecar:
    """Build the wheel and install it as the Dockerfile does, once per source digest."""
    cache = _world_readable_cache()
    # Several test runs may share the cache: one installs, the others wait for it.
    with (cache / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _install_sidecar(cache)


def _install_sidecar(cache: Path) -> Sidecar:
    argocd = argocd_bin()
    tools = tools_bin()
    shipped = {"kustomize": tools / "kustomize", "helm": tools / "helm"}
    sidecar_bin = _bin_dir(
        cache, "sidecar-bin", {"argocd-cmp-server": argocd / "argocd", **shipped}
    )
    # Argo CD's Dockerfile copies these two from hack/ into /usr/local/bin: the repo-server runs
    # git-verify-wrapper.sh on every checkout.
    hack = argocd / "src" / "hack"
    repo_bin = _bin_dir(
        cache,
        "repo-server-bin",
        {
            "argocd-repo-server": argocd / "argocd",
            **shipped,
            "git-verify-wrapper.sh": hack / "git-verify-wrapper.sh",
            "gpg-wrapper.sh": hack / "gpg-wrapper.sh",
        },
    )
    venv = cache / f"sidecar-{_source_digest()}"
    if not (venv / ".ready").exists():
        shutil.rmtree(venv, ignore_errors=True)
        # The image's Python is CPython 3.11 (python:3.11-slim); Debian's python3 is that version
        # and, unlike pyenv's, lives outside root's home.
        python = shutil.which("python3", path="/usr/bin") or "python3"
        steps = [
            [python, "-m", "venv", str(venv)],
            [str(venv / "bin/pip"), "wheel", "-q", "--wheel-dir", str(venv / "wheels"), str(ROOT)],
        ]
        for step in steps:
            _check(step)
        wheels = sorted((venv / "wheels").glob("confighash-*.whl"))
        _check(
            [
                str(venv / "bin/pip"),
                "install",
                "-q",
                "--no-index",
                "--find-links",
                str(venv / "wheels"),
                *map(str, wheels),
            ]
        )
        _check([str(venv / "bin/confighash"), "--version"])
        (venv / ".ready").touch()
    return Sidecar(bin=sidecar_bin, venv=venv, repo_bin=repo_bin)


def _check(argv: Sequence[str]) -> None:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise HarnessError(
            f"{' '.join(argv)} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
        )


def dockerfile_env(dockerfile: Path = ROOT / "Dockerfile") -> dict[str, str]:
    """The ENV block of the Dockerfile's final stage, as the sidecar process sees it."""
    text = dockerfile.read_text().replace("\\\n", " ")
    final = text.rsplit("\nFROM ", 1)[-1]
    env: dict[str, str] = {}
    for line in final.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"(\w+)=(\S+)", line[4:]))
    if not env:
        raise HarnessError(f"{dockerfile}: no ENV in the final stage")
    return env


def git_commit(
    app: Path, repo: Path, message: str = "e2e", files: Iterable[str] | None = None
) -> str:
    """Copy ``app`` (or only ``files`` in it) over the work tree of ``repo``; commit; give the SHA.

    ``repo`` is created on first use; later calls make new revisions of it.
    """
    git = ["git", "-c", "user.name=e2e", "-c", "user.email=e2e@localhost"]
    git += ["-c", "commit.gpgsign=false", "-C", str(repo)]
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        _check([*git, "init", "-q", "-b", "main"])
    for child in repo.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    if files is None:
        shutil.copytree(app, repo, dirs_exist_ok=True, symlinks=True)
    else:
        for name in files:
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(app / name, repo / name, follow_symlinks=False)
    _check([*git, "add", "-A", "."])
    _check([*git, "commit", "-q", "--allow-empty", "-m", message])
    out = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def work_tree(path: Path) -> tuple[Path, list[str]] | None:
    """The git work tree that holds ``path``, and its files (tracked, or new and not ignored)."""
    top = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--show-toplevel"],
        capture_output=True,
        text=True,
        check=False,
    )
    if top.returncode != 0:
        return None
    root = Path(top.stdout.strip())
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-co", "--exclude-standard", "-z"],
        capture_output=True,
        check=True,
    )
    names = [n for n in listed.stdout.decode().split("\0") if n and (root / n).exists()]
    return root, names


def plugin_source(
    params: Mapping[str, str | list[str] | dict[str, str]] | None = None,
    env: Mapping[str, str] | None = None,
    name: str | None = "confighash",
) -> dict[str, Any]:
    """A ``spec.source.plugin`` as an Application writes it: string, array and map parameters."""
    parameters: list[dict[str, Any]] = []
    for key, value in (params or {}).items():
        kind = "string" if isinstance(value, str) else "array" if isinstance(value, list) else "map"
        parameters.append({"name": key, kind: value})
    plugin: dict[str, Any] = {}
    if name is not None:
        plugin["name"] = name
    if env:
        plugin["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if parameters:
        plugin["parameters"] = parameters
    return {"plugin": plugin}


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass
class ArgoCD:
    """redis + argocd-cmp-server + argocd-repo-server; use as a context manager."""

    sidecar: Sidecar
    plugin_config: Path = ROOT / "plugin.yaml"
    sidecar_env: Mapping[str, str] = field(default_factory=dict)  # the administrator's env
    workdir: Path | None = None
    procs: list[_Proc] = field(default_factory=list)
    port: int = 0

    def __enter__(self) -> ArgoCD:
        self._tmp = Path(tempfile.mkdtemp(prefix="confighash-argocd-"))
        self._tmp.chmod(0o755)
        self.run = self.workdir or self._tmp
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- servers ---------------------------------------------------------------------------

    def _dir(self, name: str, owner: int | None = None) -> Path:
        path = self.run / name
        path.mkdir(parents=True, exist_ok=True)
        if owner is not None and os.geteuid() == 0:
            os.chown(path, owner, owner)
        return path

    def _spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> _Proc:
        log = self._dir("logs") / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = _Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def _wait(self, proc: _Proc, ready: Any, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise HarnessError(
                    f"{proc.name} exited {proc.popen.returncode} before {what}:\n{self.tail(proc)}"
                )
            if ready():
                return
            time.sleep(0.1)
        raise HarnessError(f"{proc.name}: no {what} after {START_TIMEOUT_S} s:\n{self.tail(proc)}")

    @staticmethod
    def tail(proc: _Proc, lines: int = 30) -> str:
        return "\n".join(proc.log.read_text(errors="replace").splitlines()[-lines:])

    def _start(self) -> None:
        base_path = "/usr/local/bin:/usr/bin:/bin"
        redis_port = free_port()
        redis = self._spawn(
            "redis",
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._dir("redis")),
            ],
            {"PATH": base_path},
            self.run,
        )
        self._wait(redis, lambda: _connects(redis_port), "listening socket")

        sockets = self._dir("plugins", SIDECAR_UID)
        config = self._dir("cmp-config", SIDECAR_UID)
        shutil.copy(self.plugin_config, config / "plugin.yaml")
        private_tmp = self._dir("sidecar-tmp", SIDECAR_UID)
        cmp_work = self._dir("cmp-work", SIDECAR_UID)
        env = {
            k: v.replace("/tmp", str(private_tmp)).replace(
                "/usr/local/bin/kustomize", str(self.sidecar.bin / "kustomize")
            )
            for k, v in dockerfile_env().items()
        }
        env.update(
            PATH=f"{self.sidecar.venv / 'bin'}:{self.sidecar.bin}:{base_path}",
            ARGOCD_PLUGINSOCKFILEPATH=str(sockets),
            ARGOCD_CMP_WORKDIR=str(cmp_work),
            ARGOCD_CMP_SERVER_LOGFORMAT="text",
        )
        env.update(self.sidecar_env)
        drop = []
        if os.geteuid() == 0:
            drop = [
                "setpriv",
                f"--reuid={SIDECAR_UID}",
                f"--regid={SIDECAR_UID}",
                "--clear-groups",
                "--",
            ]
        plugin_name = _plugin_name(self.plugin_config)
        self.cmp = self._spawn(
            "cmp-server",
            [*drop, str(self.sidecar.bin / "argocd-cmp-server"), "--config-dir-path", str(config)],
            env,
            private_tmp,
        )
        self._wait(self.cmp, (sockets / f"{plugin_name}.sock").exists, "plugin socket")

        self.port = free_port()
        repo_tmp = self._dir("repo-tmp")
        repo_env = {
            "PATH": f"{self.sidecar.repo_bin}:{base_path}",
            "HOME": str(self._dir("repo-home")),
            "TMPDIR": str(repo_tmp),
            "ARGOCD_PLUGINSOCKFILEPATH": str(sockets),
            "ARGOCD_REPO_SERVER_LOGFORMAT": "text",
            "ARGOCD_REPO_SERVER_LOGLEVEL": os.environ.get("CONFIGHASH_E2E_LOGLEVEL", "info"),
            # GnuPG signature verification needs the keyring that the install mounts at
            # /app/config/gpg; no test here verifies signatures.
            "ARGOCD_GPG_ENABLED": "false",
        }
        self.repo = self._spawn(
            "repo-server",
            [
                str(self.sidecar.repo_bin / "argocd-repo-server"),
                "--address",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--metrics-address",
                "127.0.0.1",
                "--metrics-port",
                str(free_port()),
                "--redis",
                f"127.0.0.1:{redis_port}",
            ],
            repo_env,
            self.run,
        )
        self._wait(self.repo, lambda: _connects(self.port), "gRPC port")

    def stop(self) -> None:
        """Stop every server (TERM, then KILL after a grace period) and remove the run directory."""
        for proc in reversed(self.procs):
            _kill_group(proc.popen)
        self.procs.clear()
        if hasattr(self, "_tmp"):
            shutil.rmtree(self._tmp, ignore_errors=True)

    def leftovers(self) -> list[str]:
        """Processes of the sidecar that outlive a request: its uid's (or the cmp-server's
        descendants, when not root), except the cmp-server itself. An orphan that was reparented
        away from the cmp-server still counts."""
        if os.geteuid() != 0:
            pids = _descendants(self.cmp.popen.pid)
        else:
            pids = [pid for pid, uid in _process_uids().items() if uid == SIDECAR_UID]
        found = [_cmdline(pid) for pid in pids if pid != self.cmp.popen.pid]
        # Other ArgoCD instances' cmp-servers run as the same uid: they are not leftovers.
        return [cmd for cmd in found if cmd and "argocd-cmp-server" not in cmd.split(" ", 1)[0]]

    # -- requests --------------------------------------------------------------------------

    def _client(
        self, op: str, repo: Path, path: str, source: Mapping[str, Any], **flags: str | int
    ) -> str:
        argv = [
            str(argocd_bin() / "confighash-e2e-client"),
            "-addr",
            f"127.0.0.1:{self.port}",
            "-repo",
            f"file://{repo}",
            "-path",
            path,
            "-source",
            json.dumps(source),
        ]
        for key, value in flags.items():
            argv += [f"-{key.replace('_', '-')}", str(value)]
        proc = subprocess.run([*argv, op], capture_output=True, text=True, check=False)
        if proc.returncode == 1:
            raise RepoServerError(proc.stderr.strip())
        if proc.returncode != 0:
            raise HarnessError(
                f"confighash-e2e-client exited {proc.returncode}: {proc.stderr.strip()}"
            )
        return proc.stdout

    def manifests(
        self,
        repo: Path,
        path: str = ".",
        source: Mapping[str, Any] | None = None,
        **flags: str | int,
    ) -> list[str]:
        """GenerateManifest: the repo-server's manifests, as its JSON strings, in its order."""
        out = self._client(
            "generate", repo, path, source if source is not None else plugin_source(), **flags
        )
        return [line for line in out.splitlines() if line]

    def generate(
        self,
        repo: Path,
        path: str = ".",
        source: Mapping[str, Any] | None = None,
        **flags: str | int,
    ) -> list[dict[str, Any]]:
        """GenerateManifest: the objects the repo-server returns, in its order."""
        return [json.loads(line) for line in self.manifests(repo, path, source, **flags)]

    def app_details(
        self, repo: Path, path: str = ".", source: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        out = self._client(
            "appdetails", repo, path, source if source is not None else plugin_source()
        )
        details: dict[str, Any] = json.loads(out)
        return details


def _plugin_name(config: Path) -> str:
    # plugin.yaml has no spec.version on purpose, so the socket is <name>.sock.
    match = re.search(r"^metadata:\s*\n\s+name:\s*(\S+)", config.read_text(), re.MULTILINE)
    if not match:
        raise HarnessError(f"{config}: no metadata.name")
    return match.group(1).strip("\"'")


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _kill_group(popen: subprocess.Popen[bytes]) -> None:
    if popen.poll() is not None:
        return
    try:
        os.killpg(popen.pid, signal.SIGTERM)
        popen.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
    except ProcessLookupError:
        pass


def _process_uids() -> dict[int, int]:
    uids: dict[int, int] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            line = next(x for x in status.read_text().splitlines() if x.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        uids[int(status.parent.name)] = int(line.split()[1])
    return uids


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _ours(key: str, prefix: str) -> bool:
    # confighash writes PREFIX/checksum and <kind>.PREFIX/<name> (docs/annotations.md).
    domain = key.split("/", 1)[0] if "/" in key else ""
    return domain == prefix or domain.endswith("." + prefix)


def strip_annotations(
    objects: Iterable[dict[str, Any]], prefix: str = "confighash.dev"
) -> list[dict[str, Any]]:
    """The objects with every pod-template annotation confighash writes removed (a deep copy)."""
    result = json.loads(json.dumps(list(objects)))
    for obj in result:
        for template in _pod_templates(obj):
            annotations = template.get("metadata", {}).get("annotations", {})
            for key in [k for k in annotations if _ours(k, prefix)]:
                del annotations[key]
            # confighash adds the annotations map, and the metadata map, where they were absent.
            if "annotations" in template.get("metadata", {}) and not annotations:
                del template["metadata"]["annotations"]
            if template.get("metadata") == {}:
                del template["metadata"]
    return list(result)


def stamps(obj: Mapping[str, Any], prefix: str = "confighash.dev") -> dict[str, str]:
    """The annotations confighash writes with ``prefix`` on ``obj``'s pod template(s)."""
    found: dict[str, str] = {}
    for template in _pod_templates(obj):
        for key, value in template.get("metadata", {}).get("annotations", {}).items():
            if _ours(key, prefix):
                found[key] = value
    return found


def _pod_templates(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template")
    return [template] if isinstance(template, dict) else []
