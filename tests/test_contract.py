"""Contract test: confighash run the way argocd-cmp-server runs it, around the real plugin.yaml.

The emulation follows ../shared/reference/argocd-cmp-contract.md (section 2):

- the app repository is copied into a fresh ``_cmp_server/<uuid>/`` directory, files mode 0644 and
  directories 0755, as the sidecar untars it;
- ``init`` (if plugin.yaml has one) and ``generate`` run as argv (no shell) from plugin.yaml, in
  the app directory, stdin /dev/null, each as the leader of a new process group (as Setpgid);
- the environment is the sidecar's (PATH, an unusable HOME, TMPDIR, the administrator's
  CONFIGHASH_* variables) followed by the request's: the ARGOCD_APP_* variables, KUBE_VERSION, a
  long KUBE_API_VERSIONS, ARGOCD_ENV_<name> and ARGOCD_APP_PARAMETERS / PARAM_*;
- stdout is read by the Go oracle, which models how Argo CD turns it into objects;
- cancellation is what Argo CD does at its deadline: SIGKILL to the command (Go's
  exec.CommandContext) and SIGTERM to its process group, SIGKILL to the group later.

Slow or misbehaving kustomize binaries are shell scripts given through KUSTOMIZE_BIN, as an
administrator would set it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

Oracle = Callable[[bytes], list[dict[str, Any]]]

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "plugin.yaml"
EXAMPLES = ROOT / "examples"
CORPUS = Path("/work/shared/corpus")
KUSTOMIZE_EXAMPLES = CORPUS / "kustomize-examples" / "source"
REVISION = "8f3c2a9e1b7d4c6f0a5e3b2d1c9f8e7a6b5c4d3e"
PROMPTLY_S = 4.0  # Argo CD SIGKILLs 5 s after SIGTERM; confighash must be gone before that
KEY = b"contract-test-digest-key-0123456789"


# --- plugin.yaml --------------------------------------------------------------------------------


def plugin_spec() -> dict[str, Any]:
    plugin = yaml.safe_load(PLUGIN.read_text())
    assert plugin["kind"] == "ConfigManagementPlugin"
    spec: dict[str, Any] = plugin["spec"]
    return spec


def argv(command: dict[str, Any]) -> list[str]:
    return [*command["command"], *command.get("args", [])]


def phases() -> list[list[str]]:
    """init (when plugin.yaml has one), then generate, as argv lists."""
    spec = plugin_spec()
    return [argv(spec[p]) for p in ("init", "generate") if spec.get(p)]


# --- Argo CD's request environment -------------------------------------------------------------


def kube_api_versions() -> str:
    """A long, sorted KUBE_API_VERSIONS with group/version and group/version/Kind entries."""
    kinds = {
        "v1": ["ConfigMap", "Namespace", "Pod", "Secret", "Service", "ServiceAccount"],
        "apps/v1": ["DaemonSet", "Deployment", "ReplicaSet", "StatefulSet"],
        "batch/v1": ["CronJob", "Job"],
        "networking.k8s.io/v1": ["Ingress", "NetworkPolicy"],
    }
    for i in range(150):
        kinds[f"crd{i}.example.com/v1alpha1"] = [f"Thing{i}", f"OtherThing{i}"]
    entries = set(kinds)
    entries.update(f"{gv}/{kind}" for gv, ks in kinds.items() for kind in ks)
    return ",".join(sorted(entries))


def go_json(value: Any) -> str:
    """encoding/json.Marshal: sorted keys, no spaces, <, > and & escaped."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def param_vars(parameters: list[dict[str, Any]]) -> dict[str, str]:
    """PARAM_* as Argo CD derives them (string parameters only here)."""

    def escaped(name: str) -> str:
        return "".join(
            c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name.upper()
        )

    return {f"PARAM_{escaped(p['name'])}": p["string"] for p in parameters if "string" in p}


ABSENT = object()


def request_env(
    source_path: str,
    parameters: list[dict[str, Any]] | str | object = "null",
    plugin_env: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> dict[str, str]:
    """The variables Argo CD adds for GenerateManifest (contract section 2.4).

    ``parameters``: a list (sent as JSON plus PARAM_* copies), the string "null" (a plugin block
    without parameters), or ABSENT (picked by discovery: no variable at all). ``params`` adds or
    overrides PARAM_* variables.
    """
    env = {
        "ARGOCD_APP_NAME": "team-apps_shop-backend",
        "ARGOCD_APP_NAMESPACE": "shop",
        "ARGOCD_APP_PROJECT_NAME": "default",
        "ARGOCD_APP_REVISION": REVISION,
        "ARGOCD_APP_REVISION_SHORT": REVISION[:7],
        "ARGOCD_APP_REVISION_SHORT_8": REVISION[:8],
        "ARGOCD_APP_SOURCE_REPO_URL": "https://git.example.com/platform/apps.git",
        "ARGOCD_APP_SOURCE_PATH": source_path,
        "ARGOCD_APP_SOURCE_TARGET_REVISION": "HEAD",
        "KUBE_VERSION": "1.29.3",
        "KUBE_API_VERSIONS": kube_api_versions(),
    }
    env.update({f"ARGOCD_ENV_{k}": v for k, v in (plugin_env or {}).items()})
    if isinstance(parameters, list):
        env["ARGOCD_APP_PARAMETERS"] = go_json(parameters)
        env.update(param_vars(parameters))
    elif isinstance(parameters, str):
        env["ARGOCD_APP_PARAMETERS"] = parameters
    env.update(params or {})
    return env


# --- the sidecar --------------------------------------------------------------------------------


def _confighash_bin(tmp: Path) -> Path:
    """A directory holding the installed ``confighash`` entry point (or a stand-in for it)."""
    installed = Path(sys.executable).parent / "confighash"
    if installed.is_file() and os.access(installed, os.X_OK):
        return installed.parent
    bindir = tmp / "bin"
    bindir.mkdir()
    script = bindir / "confighash"
    script.write_text(f"#!{sys.executable}\nfrom cmp.cli import entrypoint\nentrypoint()\n")
    script.chmod(0o755)
    return bindir


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path below ``root`` with its mode, size and mtime."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        found[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return found


@dataclass
class Run:
    code: int
    stdout: bytes
    stderr: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        return self.stderr.splitlines()

    def error(self) -> str:
        """A failed run as Argo CD reports it: non-zero, empty stdout, one readable line."""
        assert self.code != 0, self
        assert self.stdout == b"", self.stdout[:200]
        assert "Traceback" not in self.stderr
        errors = [line for line in self.lines if not line.startswith("confighash: warning:")]
        assert len(errors) == 1, self.stderr
        assert errors[0].startswith("confighash: error: "), self.stderr
        return errors[0]


@dataclass
class Sidecar:
    """A stand-in for argocd-cmp-server: its work dir, environment and process handling."""

    root: Path
    admin: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir = self.root / "_cmp_server"
        self.tmpdir = self.root / "tmp"
        self.tmpdir.mkdir()
        # HOME below a regular file: nothing can be created there, not even by root.
        blocker = self.root / "not-a-directory"
        blocker.write_text("HOME is not usable in the sidecar\n")
        self.home = blocker / "home"
        tools = {shutil.which(t) for t in ("kubectl", "kustomize")} - {None}
        path = [str(_confighash_bin(self.root)), *(str(Path(t).parent) for t in tools if t)]
        self.path = ":".join(dict.fromkeys([*path, "/usr/local/bin", "/usr/bin", "/bin"]))

    def checkout(self, source: Path, into: str = "") -> Path:
        """A fresh copy of a repository, as the sidecar unpacks it; returns the repo root."""
        repo = self.workdir / str(uuid.uuid4())
        shutil.copytree(source, repo / into if into else repo, symlinks=False)
        for path in [repo, *repo.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        return repo

    def environ(self, request: dict[str, str]) -> dict[str, str]:
        sidecar = {
            "PATH": self.path,
            "HOME": str(self.home),
            "TMPDIR": str(self.tmpdir),
            "PYTHONDONTWRITEBYTECODE": "1",
            "LANG": "C.UTF-8",
            **self.admin,
        }
        return {**sidecar, **request}  # request variables come last and win, as in Go's exec

    def start(
        self, app: Path, request: dict[str, str], command: list[str]
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command,
            cwd=app,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.environ(request),
            # Argo CD uses Setpgid; a new session also makes the command its group's leader
            # (pgid == pid), and unlike process_group=0 it exists on Python 3.10.
            start_new_session=True,
        )

    def generate(self, app: Path, request: dict[str, str], timeout: float = 120) -> Run:
        """Run init (if any) and generate; stdout of init is discarded, as Argo CD does."""
        started = time.monotonic()
        for command in phases():
            process = self.start(app, request, command)
            try:
                out, err = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                raise
            if process.returncode != 0:
                break
        return Run(process.returncode, out, err.decode(), time.monotonic() - started)

    def assert_clean(self) -> None:
        """Nothing left in TMPDIR, and HOME never created."""
        assert list(self.tmpdir.iterdir()) == []
        assert not self.home.exists()


@pytest.fixture
def sidecar(tmp_path: Path) -> Sidecar:
    return Sidecar(tmp_path)


def objects(oracle: Oracle, stdout: bytes) -> list[dict[str, Any]]:
    """Argo CD's reading of a plugin's stdout; fails on any error."""
    read = oracle(stdout)
    errors = [r for r in read if "error" in r]
    assert not errors, errors
    return [r["object"] for r in read]


def pod_annotations(obj: dict[str, Any]) -> dict[str, str]:
    spec = obj["spec"]
    template = (
        spec["jobTemplate"]["spec"]["template"] if obj["kind"] == "CronJob" else spec["template"]
    )
    annotations: dict[str, str] = (template.get("metadata") or {}).get("annotations") or {}
    return annotations


def by_name(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, [(o["kind"], o["metadata"]["name"]) for o in objs]
    return found[0]


# --- success ------------------------------------------------------------------------------------


def kustomize_objects(oracle: Oracle, directory: Path) -> list[dict[str, Any]]:
    raw = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, check=True, timeout=120
    ).stdout
    return objects(oracle, raw)


def identities(objs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(o["kind"], o["metadata"]["name"]) for o in objs]


def test_plugin_yaml_runs_confighash_without_a_shell() -> None:
    for command in phases():
        assert command[0] not in ("sh", "bash", "/bin/sh", "/bin/bash")
    assert phases()[-1][:2] == ["confighash", "build"]


def test_example_app_renders_and_argo_cd_reads_it(sidecar: Sidecar, oracle: Oracle) -> None:
    repo = sidecar.checkout(EXAMPLES, "examples")
    app = repo / "examples" / "overlays" / "production"
    before = snapshot(repo)
    run = sidecar.generate(app, request_env("examples/overlays/production"))
    assert run.code == 0, run.stderr
    assert "error" not in run.stderr
    got = objects(oracle, run.stdout)
    assert identities(got) == identities(
        kustomize_objects(oracle, EXAMPLES / "overlays/production")
    )
    backend = pod_annotations(by_name(got, "Deployment", "prod-backend"))
    assert backend["confighash.dev/checksum"].startswith("v1:")
    assert "secret.confighash.dev/prod-backend-db" in backend
    assert "confighash.dev/checksum" in pod_annotations(
        by_name(got, "CronJob", "prod-backend-report")
    )
    # deterministic, and nothing written anywhere but the (now empty again) TMPDIR
    assert sidecar.generate(app, request_env("examples/overlays/production")).stdout == run.stdout
    assert snapshot(repo) == before
    sidecar.assert_clean()


@pytest.mark.parametrize("target", ["examples/wordpress", "examples/ldap/overlays/production"])
def test_corpus_app_renders_with_a_key(
    sidecar: Sidecar, oracle: Oracle, tmp_path: Path, target: str
) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY)
    sidecar.admin["CONFIGHASH_SECRET_KEY_FILE"] = str(key_file)
    repo = sidecar.checkout(KUSTOMIZE_EXAMPLES)
    before = snapshot(repo)
    run = sidecar.generate(repo / target, request_env(target))
    assert run.code == 0, run.stderr
    # Keyed: no warning of ours. kustomize's own (a deprecated field in the app) is passed on.
    assert [w for w in run.lines if not w.startswith("confighash: warning: kustomize: ")] == []
    got = objects(oracle, run.stdout)
    assert identities(got) == identities(kustomize_objects(oracle, KUSTOMIZE_EXAMPLES / target))
    workloads = [o for o in got if o["kind"] in ("Deployment", "StatefulSet", "CronJob")]
    assert any("confighash.dev/checksum" in pod_annotations(o) for o in workloads)
    for text in (run.stdout, run.stderr.encode()):
        assert KEY not in text and KEY.hex().encode() not in text
    assert snapshot(repo) == before
    sidecar.assert_clean()


def test_concurrent_generates_do_not_interfere(sidecar: Sidecar) -> None:
    apps = [
        sidecar.checkout(EXAMPLES, "examples") / "examples/overlays/production" for _ in range(6)
    ]
    runs: list[Run] = []
    lock = threading.Lock()

    def one(app: Path) -> None:
        run = sidecar.generate(app, request_env("examples/overlays/production"))
        with lock:
            runs.append(run)

    threads = [threading.Thread(target=one, args=(app,)) for app in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.code for r in runs] == [0] * len(apps)
    assert len({r.stdout for r in runs}) == 1
    sidecar.assert_clean()


# --- failures -----------------------------------------------------------------------------------


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text).lstrip())
    return directory


def test_broken_kustomization(sidecar: Sidecar, tmp_path: Path) -> None:
    source = write(tmp_path / "src", {"kustomization.yaml": "resources: [missing.yaml]\n"})
    repo = sidecar.checkout(source)
    run = sidecar.generate(repo, request_env("."))
    line = run.error()
    assert "kustomize build failed" in line and "missing.yaml" in line
    sidecar.assert_clean()


SECRET = """
    apiVersion: v1
    kind: Secret
    metadata:
      name: db
    data:
      password: aHVudGVyMi1iYXNlNjQtdmFsdWU=
    stringData:
      token: hunter3-token-value
    """

MALFORMED_SECRETS = {
    # kustomize quotes a literal it cannot parse in the first line of its error
    "bad-literal": (
        {"kustomization.yaml": "secretGenerator:\n- name: g\n  literals:\n  - hunter4-no-key\n"},
        ["hunter4-no-key"],
        "invalid literal source",
    ),
    # kustomize dumps the offending node ("node contents:") on the following lines
    "node-dump": (
        {
            "kustomization.yaml": """
                resources: [secret.yaml]
                patches:
                - patch: |-
                    apiVersion: v1
                    kind: Secret
                    metadata: {name: db}
                    data: {password: [hunter5-in-a-list]}
                """,
            "secret.yaml": SECRET,
        },
        ["hunter5-in-a-list"],
        "wrong node kind",
    ),
    # a Secret that is not valid YAML at all
    "unparsable-secret": (
        {
            "kustomization.yaml": "resources: [secret.yaml]\n",
            "secret.yaml": SECRET + '      broken: "hunter6-unterminated\n',
        },
        ["hunter6-unterminated", "hunter3-token-value", "hunter2-base64-value"],
        "MalformedYAMLError",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_SECRETS))
def test_malformed_secret_values_are_not_echoed(
    sidecar: Sidecar, tmp_path: Path, case: str
) -> None:
    files, values, hint = MALFORMED_SECRETS[case]
    source = write(tmp_path / "src", files)
    repo = sidecar.checkout(source)
    run = sidecar.generate(repo, request_env("."))
    line = run.error()
    assert hint in line
    for value in values:
        assert value not in run.stderr
    sidecar.assert_clean()


def test_secret_in_a_base_is_not_echoed_by_the_overlay(sidecar: Sidecar, tmp_path: Path) -> None:
    write(
        tmp_path / "src" / "base",
        {
            "kustomization.yaml": "resources: [secret.yaml]\n",
            "secret.yaml": SECRET,
        },
    )
    write(
        tmp_path / "src" / "overlay",
        {
            "kustomization.yaml": """
                resources: [../base]
                secretGenerator:
                - name: extra
                  literals: [hunter3-token-value]
                """
        },
    )
    repo = sidecar.checkout(tmp_path / "src")
    run = sidecar.generate(repo / "overlay", request_env("overlay"))
    assert "invalid literal source" in run.error()
    assert "hunter3" not in run.stderr


def test_zero_objects_are_refused(sidecar: Sidecar, tmp_path: Path, oracle: Oracle) -> None:
    source = write(tmp_path / "src", {"kustomization.yaml": "resources: []\n"})
    repo = sidecar.checkout(source)
    line = sidecar.generate(repo, request_env(".")).error()
    assert "no objects" in line and "allow-empty" in line
    allowed = [{"name": "allow-empty", "string": "true"}]
    run = sidecar.generate(repo, request_env(".", allowed))
    assert (run.code, run.stdout) == (0, b"")
    assert oracle(run.stdout) == []
    run = sidecar.generate(repo, request_env(".", plugin_env={"allow-empty": "true"}))
    assert (run.code, run.stdout) == (0, b"")


def test_refused_build_option(sidecar: Sidecar) -> None:
    repo = sidecar.checkout(EXAMPLES)
    parameters = [{"name": "build-options", "string": "--enable-exec"}]
    line = sidecar.generate(repo / "base", request_env("base", parameters)).error()
    assert "option --enable-exec" in line and "CONFIGHASH_ALLOWED_BUILD_OPTIONS" in line


def test_allowlisted_build_option_reaches_kustomize(sidecar: Sidecar, oracle: Oracle) -> None:
    sidecar.admin["CONFIGHASH_ALLOWED_BUILD_OPTIONS"] = "--enable-managedby-label"
    repo = sidecar.checkout(EXAMPLES)
    parameters = [{"name": "build-options", "string": "--enable-managedby-label"}]
    run = sidecar.generate(repo / "base", request_env("base", parameters))
    assert run.code == 0, run.stderr
    for obj in objects(oracle, run.stdout):
        assert "app.kubernetes.io/managed-by" in obj["metadata"]["labels"]


# --- parameters ---------------------------------------------------------------------------------

PARAMETER_CASES = {
    "json": (
        [
            {"name": "annotation-prefix", "string": "json.example.com"},
            {"name": "include-jobs", "string": "false"},
        ],
        None,
        None,
        "json.example.com",
    ),
    "param-vars-without-json": (
        ABSENT,
        None,
        {"PARAM_ANNOTATION_PREFIX": "param.example.com"},
        "param.example.com",
    ),
    "null-then-env": (
        "null",
        {"annotation-prefix": "env.example.com"},
        {"PARAM_ANNOTATION_PREFIX": "stale.example.com"},
        "env.example.com",
    ),
    "null-default": ("null", None, None, "confighash.dev"),
    "discovery-default": (ABSENT, None, None, "confighash.dev"),
    "json-beats-env": (
        [{"name": "annotation-prefix", "string": "json.example.com"}],
        {"annotation-prefix": "env.example.com"},
        None,
        "json.example.com",
    ),
}


@pytest.mark.parametrize("case", sorted(PARAMETER_CASES))
def test_parameters_arrive_in_every_form(sidecar: Sidecar, oracle: Oracle, case: str) -> None:
    parameters, plugin_env, params, prefix = PARAMETER_CASES[case]
    repo = sidecar.checkout(EXAMPLES)
    run = sidecar.generate(repo / "base", request_env("base", parameters, plugin_env, params))
    assert run.code == 0, run.stderr
    annotations = pod_annotations(by_name(objects(oracle, run.stdout), "Deployment", "backend"))
    assert f"{prefix}/checksum" in annotations
    assert [k for k in annotations if k.endswith("/checksum")] == [f"{prefix}/checksum"]


def test_invalid_parameter_value_is_one_readable_line(sidecar: Sidecar) -> None:
    repo = sidecar.checkout(EXAMPLES)
    parameters = [{"name": "strict", "string": "<yes>"}]  # sent as \u003cyes\u003e
    line = sidecar.generate(repo / "base", request_env("base", parameters)).error()
    assert line == (
        "confighash: error: invalid setting strict: '<yes>' (from parameter strict) is not "
        '"true" or "false"'
    )


def test_strict_parameter_fails_the_render(sidecar: Sidecar) -> None:
    repo = sidecar.checkout(EXAMPLES)
    # the example's optional feature-flags reference stays silent; a required one would not
    (repo / "base" / "service.yaml").write_text(
        (repo / "base" / "service.yaml").read_text()
        + textwrap.dedent(
            """
            ---
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: orphan}
            spec:
              selector: {matchLabels: {app: orphan}}
              template:
                metadata: {labels: {app: orphan}}
                spec:
                  containers:
                  - name: app
                    image: app:1
                    envFrom: [{configMapRef: {name: nowhere}}]
            """
        )
    )
    assert sidecar.generate(repo / "base", request_env("base")).code == 0
    parameters = [{"name": "strict", "string": "true"}]
    line = sidecar.generate(repo / "base", request_env("base", parameters)).error()
    assert "nowhere" in line


# --- fake kustomize binaries --------------------------------------------------------------------


def fake_kustomize(directory: Path, body: str) -> Path:
    script = directory / "fake-kustomize"
    script.write_text("#!/bin/bash\n" + textwrap.dedent(body).lstrip())
    script.chmod(0o755)
    return script


CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n"
PRINT_CONFIGMAP = "printf '" + CONFIGMAP.replace("\n", "\\n") + "'"


def test_helm_gets_kube_versions_like_argo_cd(sidecar: Sidecar, tmp_path: Path) -> None:
    record = tmp_path / "argv"
    fake = fake_kustomize(
        tmp_path,
        f"""
        printf '%s\\n' "$@" > {record}
        printf 'TMPDIR=%s\\n' "$TMPDIR" >> {record}
        read -r line && echo "stdin was not empty" >&2
        {PRINT_CONFIGMAP}
        """,
    )
    sidecar.admin.update({"KUSTOMIZE_BIN": str(fake), "CONFIGHASH_BUILD_OPTIONS": "--enable-helm"})
    repo = sidecar.checkout(EXAMPLES)
    run = sidecar.generate(repo / "base", request_env("base"))
    assert run.code == 0, run.stderr
    lines = record.read_text().splitlines()
    tmpdir = lines.pop()
    assert lines[:4] == ["build", ".", "--enable-helm", "--helm-kube-version"]
    assert lines[4] == "1.29.3"
    api = kube_api_versions().split(",")
    assert lines[5:] == [x for v in api for x in ("--helm-api-versions", v)]
    # kustomize got a private TMPDIR inside the sidecar's, removed afterwards
    assert tmpdir.startswith(f"TMPDIR={sidecar.tmpdir}/confighash-")
    sidecar.assert_clean()


SLOW = """
    echo "$$" >> {pids}
    ( {trap} exec sleep 300 ) &
    echo "$!" >> {pids}
    exec sleep 300
    """


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def group_members(pgid: int) -> list[int]:
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            members.append(int(name))
    return members


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@dataclass
class Slow:
    process: subprocess.Popen[bytes]
    pids: list[int]
    started: float

    def finish(self, seconds: float = 30) -> Run:
        out, err = self.process.communicate(timeout=seconds)
        return Run(self.process.returncode, out, err.decode(), time.monotonic() - self.started)


@pytest.fixture
def slow(sidecar: Sidecar, tmp_path: Path) -> Iterator[Callable[..., Slow]]:
    """Start generate with a kustomize that starts a child and sleeps; yields a starter."""
    started: list[Slow] = []

    def start(ignore_term: bool = True, timeout: str | None = None) -> Slow:
        pids_file = tmp_path / f"pids-{len(started)}"
        trap = "trap '' TERM;" if ignore_term else ""
        fake = fake_kustomize(tmp_path, SLOW.format(pids=pids_file, trap=trap))
        sidecar.admin["KUSTOMIZE_BIN"] = str(fake)
        if timeout is not None:
            sidecar.admin["CONFIGHASH_TIMEOUT"] = timeout
        repo = sidecar.checkout(EXAMPLES)
        process = sidecar.start(repo / "base", request_env("base"), phases()[-1])

        def ready() -> bool:
            return pids_file.exists() and len(pids_file.read_text().split()) == 2

        assert wait_for(ready, 30), "the fake kustomize did not start"
        pids = [int(p) for p in pids_file.read_text().split()]
        slow = Slow(process, pids, time.monotonic())
        started.append(slow)
        return slow

    yield start
    for s in started:  # never leave anything behind, whatever the test did
        for pid in [s.process.pid, *s.pids]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        s.process.communicate()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_confighash_stops_kustomize_and_its_children(
    sidecar: Sidecar, slow: Callable[..., Slow], signum: signal.Signals
) -> None:
    run_ = slow(ignore_term=True)
    os.kill(run_.process.pid, signum)
    run = run_.finish()
    assert run.seconds < PROMPTLY_S, run
    line = run.error()
    assert f"stopped by {signum.name}" in line
    assert [p for p in run_.pids if alive(p)] == []
    assert group_members(run_.process.pid) == []
    sidecar.assert_clean()


def test_argo_cd_cancellation_reaches_kustomize(slow: Callable[..., Slow]) -> None:
    """Argo CD SIGKILLs the command and SIGTERMs its group at the same moment; confighash runs no
    code after that, so kustomize must be in the group that Argo CD signals."""
    run_ = slow(ignore_term=False)
    os.kill(run_.process.pid, signal.SIGKILL)
    os.killpg(run_.process.pid, signal.SIGTERM)
    run = run_.finish()
    assert run.code == -signal.SIGKILL
    assert wait_for(lambda: not any(alive(p) for p in run_.pids), 2), run_.pids
    # and whatever ignores SIGTERM goes with Argo CD's SIGKILL to the group 5 s later
    run_ = slow(ignore_term=True)
    os.kill(run_.process.pid, signal.SIGKILL)
    os.killpg(run_.process.pid, signal.SIGTERM)
    run_.finish()
    os.killpg(run_.process.pid, signal.SIGKILL)
    assert wait_for(lambda: not any(alive(p) for p in run_.pids), 2), run_.pids


def test_timeout_stops_kustomize(sidecar: Sidecar, slow: Callable[..., Slow]) -> None:
    run_ = slow(ignore_term=True, timeout="1")
    run = run_.finish()
    assert run.seconds < 1 + PROMPTLY_S, run
    assert "did not finish within 1 s" in run.error()
    assert [p for p in run_.pids if alive(p)] == []
    assert group_members(run_.process.pid) == []
    sidecar.assert_clean()


def test_process_left_by_kustomize_does_not_hold_up_the_render(
    sidecar: Sidecar, tmp_path: Path, oracle: Oracle
) -> None:
    pids_file = tmp_path / "left"
    fake = fake_kustomize(
        tmp_path,
        f"""
        sleep 300 &
        echo "$!" > {pids_file}
        {PRINT_CONFIGMAP}
        """,
    )
    sidecar.admin["KUSTOMIZE_BIN"] = str(fake)
    repo = sidecar.checkout(EXAMPLES)
    run = sidecar.generate(repo / "base", request_env("base"), timeout=30)
    assert run.code == 0, run.stderr
    assert run.seconds < PROMPTLY_S
    assert identities(objects(oracle, run.stdout)) == [("ConfigMap", "c")]
    assert not alive(int(pids_file.read_text()))
    sidecar.assert_clean()


def test_key_file_missing_is_an_error(sidecar: Sidecar, tmp_path: Path) -> None:
    sidecar.admin["CONFIGHASH_SECRET_KEY_FILE"] = str(tmp_path / "absent" / "key")
    repo = sidecar.checkout(EXAMPLES)
    line = sidecar.generate(repo / "base", request_env("base")).error()
    assert line.startswith(
        "confighash: error: invalid setting CONFIGHASH_SECRET_KEY_FILE: cannot read"
    )


def test_files_arrive_without_exec_bits(sidecar: Sidecar) -> None:
    repo = sidecar.checkout(EXAMPLES)
    modes = {p.stat().st_mode & 0o777 for p in repo.rglob("*") if p.is_file()}
    assert modes == {0o644}
    assert stat.S_IMODE((repo / "base").stat().st_mode) == 0o755
