"""confighash diff OLD NEW: which workloads restart, because of which sources and keys.

The main case runs across two revisions of a throwaway git repository made here, with a Secret
change, and checks that no value, nor any fragment of one, reaches any output. Corpus apps are
copied before they are changed; /work/shared is never written.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import CORPUS, EXAMPLES, assert_failed_cleanly, envfrom_deployment, run_cli

from cmp import cli, diff, pipeline

OLD_PASSWORD = "q8Vw#Lz4!Rk2"
NEW_PASSWORD = "Hm3^tR8&yB1*"
OLD_TTL = "ttlSeconds: 300"
NEW_TTL = "ttlSeconds: 617"
APP = "examples/overlays/production"


def run(argv: list[str], data: bytes = b"", cwd: Path | None = None) -> tuple[int, str, str]:
    out, err = io.BytesIO(), io.StringIO()
    here = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        status = cli.main(argv, environ={}, stdin=io.BytesIO(data), stdout=out, stderr=err)
    finally:
        os.chdir(here)
    return status, out.getvalue().decode("utf-8"), err.getvalue()


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def fragments(*values: str, size: int = 4) -> set[str]:
    """Every ``size``-character substring of each value and of its base64 encodings."""
    texts = set()
    for value in values:
        raw = value.encode()
        texts |= {value, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return {t[i : i + size] for t in texts for i in range(len(t) - size + 1)}


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private temporary directory for confighash's worktrees, to see that none is left."""
    path = tmp_path / "scratch"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A git repository holding the example app at three revisions.

    rev1: as in examples/, with the backend-db password OLD_PASSWORD in stringData.
    rev2: the password is NEW_PASSWORD, now in base64 ``data``; the backend config file changes;
          a key no pod reads is added to the oauth2-proxy Secret.
    rev3: the CronJob carries the ignore annotation.
    """
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copytree(EXAMPLES, root / "examples")
    secrets = root / "examples/base/secrets.yaml"
    text = secrets.read_text()
    assert "  password: example-password\n" in text
    secrets.write_text(text.replace("example-password", OLD_PASSWORD))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "rev1")
    rev1 = git(root, "rev-parse", "HEAD")

    encoded = base64.b64encode(NEW_PASSWORD.encode()).decode()
    user = base64.b64encode(b"example-user").decode()
    text = secrets.read_text()
    text = text.replace(
        f"stringData:\n  username: example-user\n  password: {OLD_PASSWORD}\n",
        f"data:\n  username: {user}\n  password: {encoded}\n",
    )
    text = text.replace(
        "  cookie-secret: example-cookie-secret-32-bytes!!\n",
        "  cookie-secret: example-cookie-secret-32-bytes!!\n  rotation-note: unused\n",
    )
    assert encoded in text and "rotation-note" in text
    secrets.write_text(text)
    app = root / "examples/base/app.yaml"
    assert OLD_TTL in app.read_text()
    app.write_text(app.read_text().replace(OLD_TTL, NEW_TTL))
    git(root, "commit", "-q", "-am", "rev2")
    rev2 = git(root, "rev-parse", "HEAD")

    cronjob = root / "examples/base/cronjob.yaml"
    cronjob.write_text(
        cronjob.read_text().replace(
            "  name: backend-report\n",
            '  name: backend-report\n  annotations:\n    confighash.dev/ignore: "true"\n',
        )
    )
    git(root, "commit", "-q", "-am", "rev3")
    rev3 = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", rev2)
    yield {"root": root, "rev1": rev1, "rev2": rev2, "rev3": rev3}


def state(root: Path) -> dict[str, str]:
    """Everything about the user's checkout that diff must leave as it was."""
    return {
        "status": git(root, "status", "--porcelain", "--untracked-files=all"),
        "head": git(root, "rev-parse", "HEAD"),
        "worktrees": git(root, "worktree", "list", "--porcelain"),
        "branches": git(root, "branch", "-a"),
        "stash": git(root, "stash", "list"),
        "index": git(root, "ls-files", "--stage"),
        "files": "\n".join(
            f"{p.relative_to(root)}:{p.read_bytes().hex()}"
            for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.parts
        ),
    }


def test_diff_across_git_revisions_names_keys_and_never_values(
    repo: dict[str, Any], scratch: Path
) -> None:
    root = repo["root"]
    # A dirty checkout: diff must render revisions, not the working tree, and leave it alone.
    (root / "examples/base/app.yaml").write_text(
        "# local edit\n" + (root / "examples/base/app.yaml").read_text()
    )
    (root / "untracked.txt").write_text("mine\n")
    before = state(root)
    outputs: list[str] = []
    old, new = f"git:{repo['rev1']}", f"git:{repo['rev2']}:{APP}"
    for output in ("markdown", "json"):
        status, out, err = run(["diff", old, new, "-o", output], cwd=root)
        assert status == 0, err
        outputs += [out, err]
    status, out, err = run(["diff", old, new, "-o", "json", "--exit-code"], cwd=root)
    assert status == 1, err
    outputs += [out, err]
    report = json.loads(out)

    (rollout,) = report["rollouts"]
    assert (rollout["kind"], rollout["namespace"], rollout["name"]) == (
        "Deployment",
        "shop",
        "prod-backend",
    )
    assert rollout["stamp"] == "changed"
    assert rollout["because"] == [
        {
            "kind": "ConfigMap",
            "name": "prod-backend-config",
            "change": "modified",
            "keys": ["app.yaml"],
            "parts": [],
            "producedBy": None,
        },
        {
            "kind": "Secret",
            "name": "prod-backend-db",
            "change": "modified",
            "keys": ["password"],
            "parts": [],
            "producedBy": None,
        },
    ]
    # The CronJob reads report-smtp, which did not change; the key added to oauth2-proxy is
    # read by no pod (key-level precision), so it restarts nothing.
    markdown = outputs[0]
    assert "Secret `prod-backend-db` modified: key `password`" in markdown
    assert "oauth2-proxy" not in markdown and "report" not in markdown

    combined = "\n".join(outputs)
    leaked = sorted(f for f in fragments(OLD_PASSWORD, NEW_PASSWORD) if f in combined)
    assert leaked == []
    assert "617" not in combined  # nor the ConfigMap's value
    assert state(root) == before
    assert list(scratch.iterdir()) == []


def test_git_rev_against_the_working_tree_directory(repo: dict[str, Any], scratch: Path) -> None:
    root = repo["root"]
    status, out, err = run(["diff", f"git:{repo['rev1']}", APP, "-o", "json"], cwd=root)
    assert status == 0, err
    names = [r["name"] for r in json.loads(out)["rollouts"]]
    assert names == ["prod-backend"]
    # The same revision on both sides restarts nothing.
    status, out, err = run(["diff", "git:HEAD", APP, "--exit-code"], cwd=root)
    assert status == 0, err
    assert "no workload restarts" in out
    assert list(scratch.iterdir()) == []


def test_stamp_removed_and_added(repo: dict[str, Any], scratch: Path) -> None:
    root = repo["root"]
    rev2, rev3 = repo["rev2"], repo["rev3"]
    status, out, err = run(
        ["diff", f"git:{rev2}:{APP}", f"git:{rev3}:{APP}", "-o", "json"], cwd=root
    )
    assert status == 0, err
    (rollout,) = json.loads(out)["rollouts"]
    assert (rollout["name"], rollout["stamp"], rollout["reason"]) == (
        "prod-backend-report",
        "removed",
        "ignored",
    )
    # The workload became ignored; its Secret was not removed, so no source is listed as removed.
    assert rollout["because"] == []
    status, out, _ = run(["diff", f"git:{rev2}:{APP}", f"git:{rev3}:{APP}"], cwd=root)
    assert "no longer stamped: it now carries the ignore annotation" in out
    assert "removed" not in out.replace("are removed from its pod template", "")
    status, out, _ = run(["diff", f"git:{rev3}:{APP}", f"git:{rev2}:{APP}"], cwd=root)
    assert "newly stamped: it no longer carries the ignore annotation" in out
    assert "prod-report-smtp" not in out


def test_git_failures_leave_nothing_behind(repo: dict[str, Any], scratch: Path) -> None:
    root = repo["root"]
    before = state(root)
    # A directory that does not exist at the old revision.
    status, out, err = run(["diff", f"git:{repo['rev1']}:nowhere", APP], cwd=root)
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and "nowhere does not exist at revision" in err
    # A revision that does not exist.
    status, out, err = run(["diff", "git:no-such-branch", APP], cwd=root)
    assert (status, out) == (2, "")
    assert "no revision 'no-such-branch'" in err
    # kustomize fails at the old revision.
    (root / APP / "kustomization.yaml").write_text("resources: [gone.yaml]\n")
    git(root, "commit", "-q", "-am", "broken")
    broken = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", repo["rev2"])
    before = state(root)
    status, out, err = run(["diff", f"git:{broken}", APP], cwd=root)
    assert (status, out) == (2, "")
    assert err.startswith(f"confighash: error: OLD (git:{broken}): kustomize build failed")
    assert "Traceback" not in err
    assert state(root) == before
    assert list(scratch.iterdir()) == []


def test_git_outside_a_repository(tmp_path: Path, scratch: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLES / "base", app)
    status, out, err = run(["diff", "git:HEAD", str(app)])
    assert (status, out) == (2, "")
    assert "is not inside a git repository" in err


# Directories, files and stdin


@pytest.fixture
def two_apps(tmp_path: Path) -> tuple[Path, Path]:
    old = tmp_path / "old"
    new = tmp_path / "new"
    shutil.copytree(EXAMPLES, old)
    shutil.copytree(EXAMPLES, new)
    env = new / "overlays/production/kustomization.yaml"
    env.write_text(env.read_text().replace("CACHE_TTL_SECONDS=900", "CACHE_TTL_SECONDS=901"))
    return old / "overlays/production", new / "overlays/production"


def test_directories(two_apps: tuple[Path, Path]) -> None:
    old, new = two_apps
    status, out, err = run(["diff", str(old), str(new), "-o", "json", "--exit-code"])
    assert status == 1, err
    (rollout,) = json.loads(out)["rollouts"]
    assert rollout["because"][0]["name"] == "prod-backend-env"
    assert rollout["because"][0]["keys"] == ["CACHE_TTL_SECONDS"]


def test_stream_files_and_stdin(two_apps: tuple[Path, Path], tmp_path: Path) -> None:
    old, new = two_apps
    streams = []
    for side in (old, new):
        status, rendered, _ = run(["build", str(side)])
        assert status == 0
        streams.append(rendered.encode())
    (tmp_path / "old.yaml").write_bytes(streams[0])
    status, out, _ = run(["diff", str(tmp_path / "old.yaml"), "-"], data=streams[1])
    assert status == 0
    assert "ConfigMap `prod-backend-env` modified: key `CACHE_TTL_SECONDS`" in out
    # A stamped stream diffs like an unstamped one: stamping is idempotent.
    status, again, _ = run(["diff", str(tmp_path / "old.yaml"), str(new)])
    assert again == out


def test_no_change_and_exit_codes(two_apps: tuple[Path, Path]) -> None:
    old, new = two_apps
    assert run(["diff", str(old), str(old), "--exit-code"])[0] == 0
    assert run(["diff", str(old), str(new)])[0] == 0
    assert run(["diff", str(old), str(new), "--exit-code"])[0] == 1


def test_a_key_no_pod_reads_restarts_nothing_unless_precision_object(tmp_path: Path) -> None:
    secrets = (EXAMPLES / "base/secrets.yaml").read_text()
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(EXAMPLES, old)
    shutil.copytree(EXAMPLES, new)
    (new / "base/secrets.yaml").write_text(
        secrets.replace(
            "  password: example-password\n", "  password: example-password\n  spare: x\n"
        )
    )
    app = "overlays/production"
    status, out, _ = run(["diff", str(old / app), str(new / app), "--exit-code"])
    assert status == 0, out
    status, out, _ = run(
        [
            "diff",
            str(old / app),
            str(new / app),
            "--exit-code",
            "--precision",
            "object",
            "-o",
            "json",
        ]
    )
    assert status == 1
    (rollout,) = json.loads(out)["rollouts"]
    assert rollout["because"][0]["keys"] == ["spare"]


# Apps of the corpus, copied before they are changed


CORPUS_CHANGES = {
    # A key only the API server reads: one workload restarts, though six read the ConfigMap.
    "argo-cd": (
        "argo-cd/rendered/manifests_namespace-install.yaml",
        "    app.kubernetes.io/part-of: argocd\n  name: argocd-cmd-params-cm\n---",
        "    app.kubernetes.io/part-of: argocd\n  name: argocd-cmd-params-cm\n"
        'data:\n  server.insecure: "true"\n---',
        ("Deployment", None, "argocd-server"),
        ("ConfigMap", "argocd-cmd-params-cm", ["server.insecure"]),
    ),
    # One key of a ConfigMap that many workloads read key by key.
    "kubeflow-pipelines": (
        "kubeflow-pipelines/rendered/manifests_kustomize_env_plain.yaml",
        "  cronScheduleTimezone: UTC\n",
        "  cronScheduleTimezone: Europe/Paris\n",
        ("Deployment", "kubeflow", "ml-pipeline-scheduledworkflow"),
        ("ConfigMap", "pipeline-install-config", ["cronScheduleTimezone"]),
    ),
    # A mounted ConfigMap of a StatefulSet.
    "sourcegraph": (
        "sourcegraph/rendered/examples_base.yaml",
        "url: http://jaeger-query:16686/-/debug/jaeger",
        "url: http://tracing:16686/",
        ("StatefulSet", "ns-sourcegraph", "grafana"),
        ("ConfigMap", "grafana", ["datasources.yml"]),
    ),
}


@pytest.mark.parametrize("app", sorted(CORPUS_CHANGES))
def test_corpus_app_change(app: str, tmp_path: Path) -> None:
    render, old_text, new_text, workload, because = CORPUS_CHANGES[app]
    source = CORPUS / render
    old = tmp_path / "old.yaml"
    new = tmp_path / "new.yaml"
    shutil.copyfile(source, old)
    text = source.read_text()
    assert text.count(old_text) == 1
    new.write_text(text.replace(old_text, new_text))
    for output in ("json", "markdown"):
        status, out, err = run(["diff", str(old), str(new), "-o", output, "--exit-code"])
        assert status == 1, err
        assert "Traceback" not in err
        if output == "json":
            (rollout,) = json.loads(out)["rollouts"]
            assert (rollout["kind"], rollout["namespace"], rollout["name"]) == workload
            (b,) = rollout["because"]
            assert (b["kind"], b["name"], b["keys"]) == because
            assert b["change"] == "modified"
        else:
            assert f"| {workload[0]} `" in out and f"{because[0]} `{because[1]}` modified" in out
        # Values never appear: neither the new one nor the old one.
        changed_value = new_text.split(":", 1)[1].strip().strip('"')
        assert changed_value not in out
    assert source.read_text() == text


@pytest.mark.parametrize("app", sorted(CORPUS_CHANGES))
def test_corpus_app_against_itself_restarts_nothing(app: str) -> None:
    source = str(CORPUS / CORPUS_CHANGES[app][0])
    status, out, err = run(["diff", source, source, "-o", "json", "--exit-code"])
    assert status == 0, err
    assert json.loads(out) == {
        "version": 1,
        "rollouts": [],
        "created": [],
        "deleted": [],
        "immutable": [],
    }


def test_precision_object_restarts_every_reader_of_the_kubeflow_config(tmp_path: Path) -> None:
    render, old_text, new_text, _, _ = CORPUS_CHANGES["kubeflow-pipelines"]
    text = (CORPUS / render).read_text()
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(text)
    new.write_text(text.replace(old_text, new_text))
    status, out, _ = run(["diff", str(old), str(new), "-o", "json", "--precision", "object"])
    assert status == 0
    assert len(json.loads(out)["rollouts"]) > 1


# Usage and errors


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["diff", "-", "-"], "cannot both be -"),
        (["diff", "git:", "."], "needs a revision"),
        (["diff", "a"], "the following arguments are required"),
        (["diff", ".", ".", "-o", "table"], "invalid choice"),
    ],
)
def test_usage_errors(argv: list[str], message: str) -> None:
    status, out, err = run(argv)
    assert (status, out) == (2, "")
    assert message in err


def test_a_missing_stream_file_is_one_line(tmp_path: Path) -> None:
    status, out, err = run(["diff", str(tmp_path / "nope.yaml"), str(tmp_path / "nope.yaml")])
    assert (status, out) == (2, "")
    assert err.count("\n") == 1 and "OLD" in err and "cannot read" in err


def test_malformed_new_side_names_the_side(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    status, out, err = run(["diff", str(good), "-"], data=b"kind: [\n")
    assert (status, out) == (2, "")
    assert err.startswith("confighash: error: NEW: ")


# The pure parts


def test_parse_operand() -> None:
    assert diff.parse_operand("git:main") == diff.Operand("git", None, "main")
    assert diff.parse_operand("git:HEAD~1:apps/web") == diff.Operand("git", "apps/web", "HEAD~1")
    assert diff.parse_operand("-") == diff.Operand("stream", "-")
    assert diff.parse_operand("x", isdir=lambda _: True) == diff.Operand("directory", "x")
    assert diff.parse_operand("x.yaml", isdir=lambda _: False) == diff.Operand("stream", "x.yaml")
    git_side = diff.Operand("git", None, "main")
    assert diff.app_directory(git_side, diff.Operand("directory", "apps/web")) == "apps/web"
    assert diff.app_directory(git_side, diff.Operand("stream", "x.yaml")) == "."
    assert diff.app_directory(diff.Operand("git", "a", "main"), git_side) == "a"


def test_compare_reports_added_and_removed_sources() -> None:
    def stream(*names: str) -> bytes:
        docs = [
            f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {n}}}\ndata: {{k: v}}\n"
            for n in names
        ]
        refs = ", ".join(f"{{configMapRef: {{name: {n}}}}}" for n in names)
        docs.append(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
            "  template:\n    spec:\n"
            f"      containers: [{{name: w, image: w, envFrom: [{refs}]}}]\n"
        )
        return "---\n".join(docs).encode()

    options = pipeline.Options()
    old = pipeline.analyze(stream("a", "b"), options)
    new = pipeline.analyze(stream("b", "c"), options)
    (rollout,) = diff.compare(old, new, "confighash.dev").rollouts
    assert [(b.name, b.change, b.keys) for b in rollout.because] == [
        ("a", "removed", ("k",)),
        ("c", "added", ("k",)),
    ]
    assert diff.compare(old, old, "confighash.dev").rollouts == ()


def test_git_missing_is_named_as_missing_not_as_no_repository(
    repo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = shutil.which("kustomize") or shutil.which("kubectl")
    assert tool is not None
    bin_dir = tmp_path / "bin-without-git"
    bin_dir.mkdir()
    (bin_dir / Path(tool).name).symlink_to(tool)
    monkeypatch.setenv("PATH", str(bin_dir))
    status, out, err = run(["diff", "git:HEAD", APP], cwd=repo["root"])
    assert (status, out) == (2, "")
    assert "git is not installed" in err
    assert "not inside a git repository" not in err


def test_git_errors_show_the_repository_path_not_the_temporary_worktree(
    repo: dict[str, Any], scratch: Path
) -> None:
    root = repo["root"]
    (root / APP / "kustomization.yaml").write_text("resources: [gone.yaml]\n")
    git(root, "commit", "-q", "-am", "broken")
    broken = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-q", repo["rev2"])
    status, out, err = run(["diff", f"git:{broken}", APP], cwd=root)
    assert (status, out) == (2, "")
    assert str(scratch) not in err and "confighash-diff-" not in err
    assert f"{root.resolve()}/{APP}/gone.yaml" in err


def test_a_directory_missing_at_a_revision_hints_at_rev_dir(
    repo: dict[str, Any], scratch: Path
) -> None:
    status, out, err = run(["diff", f"git:{repo['rev1']}:nowhere", APP], cwd=repo["root"])
    assert (status, out) == (2, "")
    assert f"git:{repo['rev1']}:DIR" in err
    assert str(repo["root"].resolve()) in err


# Blind spots: empty sides, workloads that come and go, exit status as kubectl diff


def _config(name: str, value: str, *, extra: str = "") -> str:
    head = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n{extra}"
    return f'{head}data:\n  k: "{value}"\n'


def _app(value: str, *workloads: str) -> bytes:
    names = workloads or ("web",)
    docs = [_config("cfg", value)]
    docs += [
        envfrom_deployment("ConfigMap/cfg").replace("name: web", f"name: {n}", 1) for n in names
    ]
    return "---\n".join(docs).encode()


@pytest.mark.parametrize("empty", [b"", b"---\n", b"~\n", b"# nothing\n"])
@pytest.mark.parametrize("side", ["OLD", "NEW"])
def test_an_empty_side_is_refused_as_build_refuses_it(
    tmp_path: Path, empty: bytes, side: str
) -> None:
    (tmp_path / "empty.yaml").write_bytes(empty)
    (tmp_path / "app.yaml").write_bytes(_app("1"))
    operands = ["empty.yaml", "app.yaml"] if side == "OLD" else ["app.yaml", "empty.yaml"]
    argv = ["diff", *(str(tmp_path / o) for o in operands)]
    for extra in ([], ["--exit-code"]):
        line = assert_failed_cleanly(run_cli([*argv, *extra]), code=2)
        assert line.startswith(f"confighash: error: {side} ("), line
        assert "no objects" in line and "--allow-empty" in line
    allowed = run_cli([*argv, "--allow-empty", "-o", "json", "--exit-code"])
    assert allowed.code == 0, allowed
    report = json.loads(allowed.stdout)
    moved = [{"kind": "Deployment", "namespace": None, "name": "web"}]
    assert report == {
        "version": 1,
        "rollouts": [],
        "created": moved if side == "OLD" else [],
        "deleted": moved if side == "NEW" else [],
        "immutable": [],
    }


def test_the_allow_empty_parameter_accepts_an_empty_side(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_bytes(b"")
    (tmp_path / "app.yaml").write_bytes(_app("1"))
    argv = ["diff", str(tmp_path / "app.yaml"), str(tmp_path / "empty.yaml")]
    done = run_cli(argv, environ={"PARAM_ALLOW_EMPTY": "true"})
    assert done.code == 0, done
    assert "Deleted: Deployment `web`." in done.stdout.decode()


def test_created_and_deleted_workloads_are_reported_and_are_not_restarts(tmp_path: Path) -> None:
    (tmp_path / "old.yaml").write_bytes(_app("1", "web", "gone"))
    (tmp_path / "new.yaml").write_bytes(_app("1", "web", "fresh"))
    argv = ["diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml"), "--exit-code"]
    done = run_cli(argv)
    assert done.code == 0, done
    text = done.stdout.decode()
    assert text.startswith("**confighash**: no workload restarts.")
    assert "Created (not restarts: their first pods start with the new configuration): " in text
    assert "Deployment `fresh`." in text and "Deleted: Deployment `gone`." in text
    report = json.loads(run_cli([*argv, "-o", "json"]).stdout)
    assert report["created"] == [{"kind": "Deployment", "namespace": None, "name": "fresh"}]
    assert report["deleted"] == [{"kind": "Deployment", "namespace": None, "name": "gone"}]
    # With a change as well, they follow the restarts table.
    (tmp_path / "new.yaml").write_bytes(_app("2", "web", "fresh"))
    done = run_cli(argv)
    assert done.code == 1, done
    text = done.stdout.decode()
    assert text.index("| Deployment `web` | stamp changed |") < text.index("Created (")


def test_a_workload_that_becomes_ignored_is_not_said_to_lose_its_sources() -> None:
    old = pipeline.analyze(_app("1"), pipeline.Options())
    ignored = _app("1").replace(
        b"  name: web\n", b'  name: web\n  annotations:\n    confighash.dev/ignore: "true"\n'
    )
    new = pipeline.analyze(ignored, pipeline.Options())
    (rollout,) = diff.compare(old, new, "confighash.dev").rollouts
    assert (rollout.stamp, rollout.reason, rollout.because) == ("removed", "ignored", ())
    (back,) = diff.compare(new, old, "confighash.dev").rollouts
    assert (back.stamp, back.reason, back.because) == ("added", "ignored", ())
    # A workload that stops consuming its sources does lose them, and says which.
    bare = b"---\n".join(
        [
            _config("cfg", "1").encode(),
            envfrom_deployment().replace("        envFrom:\n", "").encode(),
        ]
    )
    new = pipeline.analyze(bare, pipeline.Options())
    (gone,) = diff.compare(old, new, "confighash.dev").rollouts
    assert (gone.stamp, gone.reason) == ("removed", "no-sources")
    assert [(b.name, b.change) for b in gone.because] == [("cfg", "removed")]


@pytest.mark.parametrize("exit_code", [[], ["--exit-code"]])
def test_exit_status_follows_kubectl_diff(tmp_path: Path, exit_code: list[str]) -> None:
    """0 no restarts; 1 restarts, with --exit-code only; 2 an error, with or without it."""
    (tmp_path / "a.yaml").write_bytes(_app("1"))
    (tmp_path / "b.yaml").write_bytes(_app("2"))
    a, b = str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")
    assert run_cli(["diff", a, a, *exit_code]).code == 0
    assert run_cli(["diff", a, b, *exit_code]).code == (1 if exit_code else 0)
    # failures: a missing file, a malformed side, --strict on an unresolved reference, usage
    assert_failed_cleanly(run_cli(["diff", a, str(tmp_path / "nope.yaml"), *exit_code]), code=2)
    (tmp_path / "bad.yaml").write_bytes(b"kind: [\n")
    assert_failed_cleanly(run_cli(["diff", a, str(tmp_path / "bad.yaml"), *exit_code]), code=2)
    (tmp_path / "dangling.yaml").write_bytes(envfrom_deployment("ConfigMap/absent").encode())
    strict = run_cli(["diff", a, str(tmp_path / "dangling.yaml"), "--strict", *exit_code])
    assert (strict.code, strict.stdout) == (2, b"")
    assert "--strict is set" in strict.error_line
    assert_failed_cleanly(run_cli(["diff", a, *exit_code]), code=2)
