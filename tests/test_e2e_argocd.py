"""confighash inside the real Argo CD: argocd-cmp-server runs the plugin, argocd-repo-server asks.

The servers are Argo CD v3.6.1 built from the Go module proxy (tests/e2e/build-argocd), with the
kustomize and helm the image ships (tests/e2e/build-tools). Every request goes through the
repo-server's gRPC API (tests/e2e/client), as the application controller sends it. The oracle for
"what the plugin should return" is the same repo-server's native kustomize render of the same
commit: the plugin's objects must be those, plus the annotations confighash plans locally.
"""

from __future__ import annotations

import shutil
import tempfile
import textwrap
import time
from collections.abc import Iterator
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
from helpers import EXAMPLES, RENDERS, corpus_target, run_cli

pytestmark = pytest.mark.e2e

NATIVE: dict[str, Any] = {"kustomize": {}}
EXAMPLE = EXAMPLES / "overlays" / "production"


@pytest.fixture(scope="session")
def sidecar() -> Sidecar:
    return install_sidecar()


@pytest.fixture(scope="session")
def argocd(sidecar: Sidecar) -> Iterator[ArgoCD]:
    with ArgoCD(sidecar) as servers:
        yield servers


@pytest.fixture(scope="session")
def example_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("example") / "repo"
    git_commit(EXAMPLES, repo)
    return repo


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata", {})
    return obj.get("kind", ""), meta.get("namespace", ""), meta.get("name", "")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus the bare ``=`` (the YAML 1.1 value tag) in kube-prometheus."""


_Loader.add_constructor(
    "tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node)
)


def planned_stamps(app: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    """What confighash plans for ``app``, run here with the image's kustomize."""
    run = run_cli(["build", str(app)], environ={"KUSTOMIZE_BIN": str(tools_bin() / "kustomize")})
    assert run.code == 0, run.stderr
    objects = [o for o in yaml.load_all(run.stdout, Loader=_Loader) if o]
    return {_key(obj): found for obj in objects if (found := stamps(obj))}


def assert_native_plus_planned(argocd: ArgoCD, repo: Path, path: str, local: Path) -> int:
    """The plugin's objects are the native render's, object for object, plus the planned stamps."""
    native = argocd.generate(repo, path, NATIVE)
    plugin = argocd.generate(repo, path)
    assert len(plugin) == len(native)
    assert strip_annotations(plugin) == native
    got = {_key(obj): found for obj in plugin if (found := stamps(obj))}
    assert got == planned_stamps(local)
    return len(got)


def test_example_through_repo_server_is_native_render_plus_planned_stamps(
    argocd: ArgoCD, example_repo: Path
) -> None:
    stamped = assert_native_plus_planned(argocd, example_repo, "overlays/production", EXAMPLE)
    assert stamped == 2  # the Deployment and the CronJob consume sources


@pytest.fixture(scope="session")
def corpus_repos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    repos = {}
    for project in sorted({render.parts[-3] for render in RENDERS}):
        repos[project] = tmp_path_factory.mktemp(project) / "repo"
        git_commit(RENDERS[0].parents[2] / project / "source", repos[project])
    return repos


@pytest.mark.parametrize("render", RENDERS, ids=[f"{p.parts[-3]}/{p.name}" for p in RENDERS])
def test_corpus_app_through_repo_server_is_native_render_plus_planned_stamps(
    argocd: ArgoCD, corpus_repos: dict[str, Path], render: Path
) -> None:
    target = corpus_target(render)
    source = render.parents[1] / "source"
    path = target.relative_to(source).as_posix() or "."
    assert_native_plus_planned(argocd, corpus_repos[render.parts[-3]], path, target)


# --- parameters and env -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "env", "prefix"),
    [
        ({"annotation-prefix": "param.example.com"}, {}, "param.example.com"),
        ({}, {"annotation-prefix": "env.example.com"}, "env.example.com"),
        (
            {"annotation-prefix": "param.example.com"},
            {"annotation-prefix": "env.example.com"},
            "param.example.com",
        ),
    ],
    ids=["parameter", "plugin-env", "parameter-over-env"],
)
def test_string_parameter_and_plugin_env_arrive_and_take_effect(
    argocd: ArgoCD, example_repo: Path, params: dict[str, str], env: dict[str, str], prefix: str
) -> None:
    default = argocd.generate(example_repo, "overlays/production")
    changed = argocd.generate(example_repo, "overlays/production", plugin_source(params, env))
    assert strip_annotations(changed, prefix) == strip_annotations(default)
    assert not any(stamps(o) for o in changed)
    assert [_key(o) for o in changed if stamps(o, prefix)] == [
        _key(o) for o in default if stamps(o)
    ]


@pytest.mark.parametrize(
    ("value", "kind"), [(["a", "b"], "array"), ({"a": "b"}, "map")], ids=["array", "map"]
)
def test_array_and_map_parameters_arrive_as_such_and_are_refused_for_a_string_parameter(
    argocd: ArgoCD, example_repo: Path, value: Any, kind: str
) -> None:
    with pytest.raises(RepoServerError) as failure:
        argocd.generate(example_repo, "overlays/production", plugin_source({"strict": value}))
    message = str(failure.value)
    assert "confighash: error:" in message
    assert "strict" in message and "array or a map" in message, message


def test_repo_server_announces_the_parameters_plugin_yaml_declares(
    argocd: ArgoCD, example_repo: Path
) -> None:

    declared = yaml.safe_load((ROOT / "plugin.yaml").read_text())["spec"]["parameters"]["static"]
    details = argocd.app_details(example_repo, "overlays/production")
    announced = details["plugin"]["parametersAnnouncement"]
    # Found here: the announcement drops an empty default ("string": "" arrives absent), as
    # protobuf drops an empty string; the UI shows an empty field either way.
    assert [(p["name"], p.get("title"), p.get("tooltip"), p.get("string")) for p in announced] == [
        (p["name"], p.get("title"), p.get("tooltip"), p.get("string") or None) for p in declared
    ]


# --- failures ---------------------------------------------------------------------------------


def _commit_app(tmp_path: Path, files: dict[str, str]) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    for name, text in files.items():
        (app / name).write_text(textwrap.dedent(text).lstrip())
    repo = tmp_path / "repo"
    git_commit(app, repo)
    return repo


FAILURES = {
    "kustomize-error": ({"kustomization.yaml": "resources: [missing.yaml]\n"}, {}, "missing.yaml"),
    "refused-build-option": (
        {"kustomization.yaml": "resources: []\n"},
        {"build-options": "--enable-exec"},
        "--enable-exec",
    ),
    "empty-render": ({"kustomization.yaml": "resources: []\n"}, {}, "empty"),
}


@pytest.mark.parametrize("case", FAILURES, ids=list(FAILURES))
def test_failing_render_reaches_the_caller_as_an_error_with_the_one_line_message(
    argocd: ArgoCD, tmp_path: Path, case: str
) -> None:
    files, params, needle = FAILURES[case]
    repo = _commit_app(tmp_path, files)
    with pytest.raises(RepoServerError) as failure:
        argocd.generate(repo, ".", plugin_source(params))
    message = str(failure.value)
    confighash_lines = [line for line in message.splitlines() if "confighash: error:" in line]
    assert len(confighash_lines) == 1, message
    assert needle in confighash_lines[0], message
    assert "Traceback" not in message


def test_render_slower_than_the_request_deadline_is_cut_off_and_leaves_no_process(
    sidecar: Sidecar, tmp_path: Path
) -> None:
    # The administrator's KUSTOMIZE_BIN, slowed down, where the sidecar's uid can run it.
    shared = Path(tempfile.mkdtemp(prefix="confighash-slow-"))
    shared.chmod(0o755)
    slow = shared / "slow-kustomize"
    slow.write_text(f'#!/bin/sh\nsleep 600\nexec {sidecar.bin / "kustomize"} "$@"\n')
    slow.chmod(0o755)
    repo = _commit_app(tmp_path, {"kustomization.yaml": "resources: []\n"})
    with ArgoCD(sidecar, sidecar_env={"KUSTOMIZE_BIN": str(slow)}) as servers:
        started = time.monotonic()
        with pytest.raises(RepoServerError) as failure:
            servers.generate(repo, ".", timeout=5)
        assert time.monotonic() - started < 30
        # The cmp-server kills `confighash build` (exec.CommandContext) and TERMs its process group.
        assert "`confighash build` failed signal: killed" in str(failure.value)
        deadline = time.monotonic() + 15  # the cmp-server's KILL of the group follows 5 s later
        while servers.leftovers() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert servers.leftovers() == []
    shutil.rmtree(shared)


# --- discovery --------------------------------------------------------------------------------


def test_discovery_variant_is_found_with_its_marker_file_and_not_without(
    sidecar: Sidecar, tmp_path: Path
) -> None:
    marked = tmp_path / "marked"
    shutil.copytree(EXAMPLES, marked)
    for path in ("overlays/production", "chart"):  # a kustomization and a Helm chart
        (marked / path / ".confighash").write_text("")
    repo = tmp_path / "repo"
    git_commit(marked, repo)
    discovery = ROOT / "deploy" / "plugin-discovery.yaml"
    with ArgoCD(sidecar, plugin_config=discovery) as servers:
        # An Application with no source type: the repo-server asks every sidecar first.
        for path in ("overlays/production", "chart"):
            found = servers.generate(repo, path, {})
            assert any(stamps(o) for o in found), path
            assert servers.app_details(repo, path, {})["type"] == "Plugin", path
        # Without the marker, each source type stays Argo CD's own.
        for path, native_type in (("base", "Kustomize"), ("plain", "Directory")):
            native = servers.generate(repo, path, {})
            assert native and not any(stamps(o) for o in native), path
            assert servers.app_details(repo, path, {})["type"] == native_type, path


# --- revisions --------------------------------------------------------------------------------


def test_changed_config_value_changes_only_the_consumers_annotations(
    argocd: ArgoCD, tmp_path: Path
) -> None:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLES, app)
    repo = tmp_path / "repo"
    first = git_commit(app, repo)
    config = app / "base" / "app.yaml"  # backend-config, mounted by the backend Deployment
    config.write_text(config.read_text().replace("poolSize: 10", "poolSize: 20"))
    second = git_commit(app, repo, "raise the database pool size")
    before = argocd.generate(repo, "overlays/production", revision=first)
    after = argocd.generate(repo, "overlays/production", revision=second)
    assert [_key(o) for o in after] == [_key(o) for o in before]
    changed = {_key(b) for b, a in zip(before, after, strict=True) if a != b}
    assert changed == {
        ("ConfigMap", "shop", "prod-backend-config"),
        ("Deployment", "shop", "prod-backend"),
    }
    for b, a in zip(before, after, strict=True):
        if _key(b)[0] != "ConfigMap":
            assert strip_annotations([a]) == strip_annotations([b])
    workload = {_key(o): o for o in after}[("Deployment", "shop", "prod-backend")]
    old = {_key(o): o for o in before}[("Deployment", "shop", "prod-backend")]
    differing = {k for k in stamps(workload) if stamps(workload)[k] != stamps(old).get(k)}
    assert differing == {"confighash.dev/checksum", "configmap.confighash.dev/prod-backend-config"}


# --- a Helm chart through kustomize ---------------------------------------------------------

HELM_APP = Path(__file__).resolve().parent / "fixtures" / "helm-chart"


def test_helm_chart_through_kustomize_is_native_render_plus_planned_stamps(
    sidecar: Sidecar, tmp_path: Path
) -> None:
    """helmCharts with --enable-helm: argocd-cm's kustomize.buildOptions for the native render,
    the administrator's CONFIGHASH_BUILD_OPTIONS for the sidecar; the real helm renders both."""
    repo = tmp_path / "repo"
    git_commit(HELM_APP, repo)
    with ArgoCD(sidecar, sidecar_env={"CONFIGHASH_BUILD_OPTIONS": "--enable-helm"}) as servers:
        native = servers.generate(repo, ".", NATIVE, kustomize_build_options="--enable-helm")
        plugin = servers.generate(repo, ".")
    assert strip_annotations(plugin) == native
    got = {_key(obj): found for obj in plugin if (found := stamps(obj))}
    local = run_cli(
        ["build", str(HELM_APP)],
        environ={
            "KUSTOMIZE_BIN": str(tools_bin() / "kustomize"),
            "CONFIGHASH_BUILD_OPTIONS": "--enable-helm",
            "PATH": str(tools_bin()),
        },
    )
    assert local.code == 0, local.stderr
    planned = {
        _key(o): found for o in yaml.safe_load_all(local.stdout) if o and (found := stamps(o))
    }
    assert got == planned
    assert set(got[("Deployment", "shop", "shop-web")]) >= {
        "configmap.confighash.dev/shop-web-config",
        "secret.confighash.dev/shop-web-db",
    }
