"""Every spec.source.kustomize option as a plugin parameter, against the real Argo CD (issue 10).

The oracle is Argo CD v3.6.1's repo-server: the same app at the same commit is rendered natively
with ``spec.source.kustomize: {...}`` and through confighash in the real cmp-server with the same
values as plugin parameters (``as_parameters``: the kustomize block, key for key). The plugin's
objects must be the native ones plus confighash's annotations, and the annotations must be those
confighash plans locally with the same parameters.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e.argocd import (
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

APP_NAME = "confighash-e2e"  # the client's defaults: -app, -namespace
APP_NAMESPACE = "default"
PROD = "overlays/production"
HELM_APP = Path(__file__).resolve().parent / "fixtures" / "helm-chart"

COMPONENT = """\
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
patches:
  - target:
      kind: ConfigMap
      name: backend-config
    patch: |-
      - op: add
        path: /data/{name}
        value: "{name}"
"""


@pytest.fixture(scope="session")
def sidecar() -> Sidecar:
    return install_sidecar()


@pytest.fixture(scope="session")
def argocd(sidecar: Sidecar) -> Iterator[ArgoCD]:
    with ArgoCD(sidecar) as servers:
        yield servers


@pytest.fixture(scope="session")
def app_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example app plus two components (and no third: ``missing``)."""
    tree = tmp_path_factory.mktemp("tree") / "app"
    shutil.copytree(EXAMPLES, tree, symlinks=True)
    for name in ("extra", "other"):
        (tree / "components" / name).mkdir(parents=True)
        (tree / "components" / name / "kustomization.yaml").write_text(COMPONENT.format(name=name))
    (tree / "quirky").mkdir()
    (tree / "quirky" / "kustomization.yaml").write_text(QUIRKY)
    (tree / "quirky" / "app.yaml").write_text(QUIRKY_APP)
    return tree


# A kustomization whose scalars Argo CD re-types when it rewrites the file for patches (go-yaml
# v2, then JSON): quoted strings (keys too) that YAML 1.1 would read as a bool or a number stay
# strings; its comment is lost. (Plain ones break kustomize's own reading, patches or not.)
QUIRKY = """\
# comment
resources: [app.yaml]
commonLabels: {quoted: "y", octal: "0755", float: "1.0", "on": "x"}
configMapGenerator:
  - name: quirky
    literals: [a=1]
    options:
      disableNameSuffixHash: true
"""
QUIRKY_APP = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: quirky
spec:
  selector:
    matchLabels: {app: quirky}
  template:
    metadata:
      labels: {app: quirky}
    spec:
      containers:
        - name: app
          image: busybox:1.36
          envFrom:
            - configMapRef: {name: quirky}
"""


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory, app_tree: Path) -> tuple[Path, str]:
    repo = tmp_path_factory.mktemp("options") / "repo"
    return repo, git_commit(app_tree, repo)


def as_parameters(kustomize: dict[str, Any]) -> dict[str, str | list[str] | dict[str, str]]:
    """The kustomize block as plugin parameters, key for key: lists are arrays, maps are maps,
    replicas a map from name to count, patches the list as text, booleans "true"/"false"."""
    params: dict[str, str | list[str] | dict[str, str]] = {}
    for key, value in kustomize.items():
        if key == "replicas":
            params[key] = {r["name"]: str(r["count"]) for r in value}
        elif key == "patches":
            params[key] = yaml.safe_dump(value)
        elif isinstance(value, bool):
            params[key] = "true" if value else "false"
        else:
            params[key] = value
    return params


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata", {})
    return obj.get("kind", ""), meta.get("namespace", ""), meta.get("name", "")


def planned(
    local: Path, params: dict[str, Any], revision: str, path: str, **env: str
) -> dict[tuple[str, str, str], dict[str, str]]:
    """What confighash plans for the same parameters, run here with the image's kustomize and the
    variables the repo-server sets."""
    items = [
        {
            "name": k,
            "string" if isinstance(v, str) else "array" if isinstance(v, list) else "map": v,
        }
        for k, v in params.items()
    ]
    run = run_cli(
        ["build", str(local)],
        environ={
            "KUSTOMIZE_BIN": str(tools_bin() / "kustomize"),
            "PATH": str(tools_bin()),
            "ARGOCD_APP_PARAMETERS": json.dumps(items),
            "ARGOCD_APP_NAME": APP_NAME,
            "ARGOCD_APP_NAMESPACE": APP_NAMESPACE,
            "ARGOCD_APP_REVISION": revision,
            "ARGOCD_APP_REVISION_SHORT": revision[:7],
            "ARGOCD_APP_REVISION_SHORT_8": revision[:8],
            "ARGOCD_APP_SOURCE_PATH": path,
            **env,
        },
    )
    assert run.code == 0, run.stderr
    objects = [o for o in yaml.safe_load_all(run.stdout) if o]
    return {_key(obj): found for obj in objects if (found := stamps(obj))}


def assert_same_as_native(
    argocd: ArgoCD, repo: Path, revision: str, local: Path, path: str, *, kustomize: dict[str, Any]
) -> list[dict[str, Any]]:
    native = argocd.generate(repo, path, {"kustomize": kustomize})
    params = as_parameters(kustomize)
    plugin = argocd.generate(repo, path, plugin_source(params))
    assert strip_annotations(plugin) == native
    got = {_key(obj): found for obj in plugin if (found := stamps(obj))}
    assert got == planned(local / path, params, revision, path)
    assert got, "something is stamped"
    return plugin


REVISION_IMAGE = "ghcr.io/example/shop-backend:${ARGOCD_APP_REVISION_SHORT}"
PATCHES = [
    {
        "target": {"kind": "Deployment", "name": "backend"},
        "patch": "- op: replace\n  path: /spec/replicas\n  value: 7\n",
    },
    {
        "patch": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: backend-config\n"
        "data:\n  from-patch: \"$(id) 'q' -x\"\n",
    },
    {
        "target": {"kind": "Service", "labelSelector": "app.kubernetes.io/name"},
        "patch": "- op: add\n  path: /metadata/labels/patched\n  value: 'yes'\n",
        "options": {"allowKindChange": False},
    },
]

# one case per option (and per flag combination), then what ApplicationSets typically set
CASES: dict[str, dict[str, Any]] = {
    "namePrefix": {"namePrefix": "e2e-"},
    "nameSuffix": {"nameSuffix": "-v2"},
    "namespace": {"namespace": "shop-other"},
    "images": {
        "images": [
            "ghcr.io/example/shop-backend:1.15.0",
            "quay.io/oauth2-proxy/oauth2-proxy=registry.example.com/proxy:v9@sha256:" + "a" * 64,
        ]
    },
    "images-envsubst": {"images": [REVISION_IMAGE]},
    "replicas": {"replicas": [{"name": "backend", "count": 5}]},
    "replicas-string-count": {"replicas": [{"name": "backend", "count": "4"}]},
    "commonLabels": {"commonLabels": {"team": "shop", "rev": "r-${ARGOCD_APP_REVISION_SHORT}"}},
    "forceCommonLabels": {
        "commonLabels": {"app.kubernetes.io/part-of": "other"},
        "forceCommonLabels": True,
    },
    "labelWithoutSelector": {"commonLabels": {"team": "shop"}, "labelWithoutSelector": True},
    "labelIncludeTemplates": {
        "commonLabels": {"team": "shop"},
        "labelWithoutSelector": True,
        "labelIncludeTemplates": True,
    },
    "commonAnnotations": {
        "commonAnnotations": {
            "note": "a b \"quoted\" 'single' $(touch /tmp/pwned) ${ARGOCD_APP_NAME}",
            "multi": "line1\nline2",
            "dash": "-x --force",
        }
    },
    "commonAnnotationsEnvsubst": {
        "commonAnnotations": {"app": "${ARGOCD_APP_NAME}/$ARGOCD_APP_NAMESPACE $$HOME"},
        "commonAnnotationsEnvsubst": True,
    },
    "forceCommonAnnotations": {
        "commonAnnotations": {"note": "forced"},
        "forceCommonAnnotations": True,
    },
    "patches": {"patches": PATCHES},
    "components": {"components": ["../../components/extra", "../../components/other"]},
    "ignoreMissingComponents": {
        "components": [
            "../../components/missing",
            "../../components/other",
            "../../components/extra",
        ],
        "ignoreMissingComponents": True,
    },
    "appset-staging": {
        "namePrefix": "staging-",
        "namespace": "shop-staging",
        "images": ["ghcr.io/example/shop-backend:1.15.0-rc.1"],
        "commonLabels": {"env": "staging"},
        "replicas": [{"name": "backend", "count": 1}],
    },
    "appset-production": {
        "namePrefix": "production-",
        "namespace": "shop-production",
        "images": [REVISION_IMAGE, "quay.io/oauth2-proxy/oauth2-proxy:v7.7.0"],
        "commonLabels": {"env": "production"},
        "commonAnnotations": {"revision": "${ARGOCD_APP_REVISION}"},
        "commonAnnotationsEnvsubst": True,
        "replicas": [{"name": "backend", "count": 6}],
        "patches": PATCHES[:1],
        "components": ["../../components/extra"],
    },
    "everything": {
        "namePrefix": "all-",
        "nameSuffix": "-x",
        "namespace": "all",
        "images": [REVISION_IMAGE],
        "replicas": [{"name": "backend", "count": 2}],
        "commonLabels": {"team": "shop"},
        "forceCommonLabels": True,
        "labelWithoutSelector": True,
        "labelIncludeTemplates": True,
        "commonAnnotations": {"a": "${ARGOCD_APP_SOURCE_PATH}"},
        "forceCommonAnnotations": True,
        "commonAnnotationsEnvsubst": True,
        "patches": PATCHES,
        "components": ["../../components/other"],
        "ignoreMissingComponents": True,
    },
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_option_through_plugin_equals_native_render_plus_planned_stamps(
    argocd: ArgoCD, repo: tuple[Path, str], app_tree: Path, case: str
) -> None:
    repo_path, revision = repo
    kustomize = CASES[case]
    native = argocd.generate(repo_path, PROD, {"kustomize": {}})
    changed = assert_same_as_native(
        argocd, repo_path, revision, app_tree, PROD, kustomize=kustomize
    )
    assert strip_annotations(changed) != native, "the option changes the render"


def test_patches_rewrite_the_kustomization_as_argocd_does(
    argocd: ArgoCD, repo: tuple[Path, str], app_tree: Path
) -> None:
    """Argo CD re-reads and re-writes the whole kustomization to add patches; its scalars come out
    typed as Go types them, and so they do through confighash."""
    repo_path, revision = repo
    patch = [
        {"target": {"kind": "Deployment"}, "patch": "- op: add\n  path: /spec/replicas\n  value: 2"}
    ]
    plugin = assert_same_as_native(
        argocd, repo_path, revision, app_tree, "quirky", kustomize={"patches": patch}
    )
    labels = next(o for o in plugin if o["kind"] == "Deployment")["metadata"]["labels"]
    assert labels["quoted"] == "y" and labels["octal"] == "0755" and labels["float"] == "1.0"
    assert labels["on"] == "x"  # a quoted key go-yaml would read as a bool stays a string


def test_ignore_missing_components_keeps_only_the_first_found_natively(
    argocd: ArgoCD, repo: tuple[Path, str]
) -> None:
    """Found here: Argo CD v3.6.1's loop over components ends at the first one it keeps."""
    native = argocd.generate(repo[0], PROD, {"kustomize": CASES["ignoreMissingComponents"]})
    config = next(o for o in native if o["metadata"]["name"] == "prod-backend-config")
    assert "other" in config["data"] and "extra" not in config["data"]


def test_patches_as_json_text_equal_patches_as_yaml_text(
    argocd: ArgoCD, repo: tuple[Path, str]
) -> None:
    repo_path, _ = repo
    as_yaml = argocd.generate(repo_path, PROD, plugin_source({"patches": yaml.safe_dump(PATCHES)}))
    as_json = argocd.generate(repo_path, PROD, plugin_source({"patches": json.dumps(PATCHES)}))
    assert as_json == as_yaml


def test_images_alone_change_no_checksum(argocd: ArgoCD, repo: tuple[Path, str]) -> None:
    """Images are not configuration: a new tag changes the pod template's image, not its stamp."""
    repo_path, _ = repo
    before = argocd.generate(repo_path, PROD, plugin_source({}))
    after = argocd.generate(
        repo_path, PROD, plugin_source({"images": ["ghcr.io/example/shop-backend:9.9.9"]})
    )
    assert [_key(o) for o in after] == [_key(o) for o in before]
    changed = 0
    for old, new in zip(before, after, strict=True):
        assert stamps(new) == stamps(old)
        if old != new:
            changed += 1
            assert "9.9.9" in json.dumps(new) and "9.9.9" not in json.dumps(old)
    assert changed == 2  # the Deployment and the CronJob run that image


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"images": ["nginx"]}, "invalid setting images: 'nginx'"),
        ({"replicas": {"backend": "three"}}, "invalid setting replicas: count 'three'"),
        (
            {"patches": "kind: Deployment"},
            "invalid setting patches: (from parameter patches) is not a list",
        ),
        ({"components": ["../../../../.."]}, "invalid setting components: '../../../../..'"),
        ({"version": "v5.8.1"}, "invalid setting version"),
    ],
    ids=["image", "count", "patches", "component", "version"],
)
def test_refused_option_reaches_the_caller_as_one_line(
    argocd: ArgoCD, repo: tuple[Path, str], params: dict[str, Any], said: str
) -> None:
    repo_path, _ = repo
    with pytest.raises(RepoServerError) as failure:
        argocd.generate(repo_path, PROD, plugin_source(params))
    message = str(failure.value)
    assert "confighash: error: " + said in message, message


# --- a copy of corpus apps ----------------------------------------------------------------------


def _corpus(project_index: int) -> Path:
    projects = sorted({r.parts[-3] for r in RENDERS})
    return next(r for r in RENDERS if r.parts[-3] == projects[project_index])


@pytest.mark.parametrize("index", [0, 1], ids=lambda i: f"corpus-project-{i}")
def test_corpus_app_copy_with_options_equals_native(
    argocd: ArgoCD, tmp_path: Path, index: int
) -> None:
    render = _corpus(index)
    source = render.parents[1] / "source"
    target = corpus_target(render)
    path = target.relative_to(source).as_posix() or "."
    copy = tmp_path / "source"
    shutil.copytree(source, copy, symlinks=True)
    repo = tmp_path / "repo"
    revision = git_commit(copy, repo)
    kustomize = {
        "namePrefix": "corpus-",
        "commonLabels": {"env": "e2e"},
        "commonAnnotations": {"rev": "${ARGOCD_APP_REVISION_SHORT}"},
        "commonAnnotationsEnvsubst": True,
        "labelWithoutSelector": True,
    }
    native = argocd.generate(repo, path, {"kustomize": kustomize})
    params = as_parameters(kustomize)
    plugin = argocd.generate(repo, path, plugin_source(params))
    assert strip_annotations(plugin) == native
    got = {_key(obj): found for obj in plugin if (found := stamps(obj))}
    assert got == planned(copy / path, params, revision, path)


# --- kubeVersion and apiVersions for a Helm chart -----------------------------------------------


def test_kube_version_and_api_versions_reach_helm_as_natively(
    sidecar: Sidecar, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    git_commit(HELM_APP, repo)
    kustomize = {"kubeVersion": "v1.29.3", "apiVersions": ["monitoring.coreos.com/v1"]}
    cluster = {"kube_version": "1.37.2", "api_versions": "v1,apps/v1"}
    with ArgoCD(sidecar, sidecar_env={"CONFIGHASH_BUILD_OPTIONS": "--enable-helm"}) as servers:
        native = servers.generate(
            repo, ".", {"kustomize": kustomize}, kustomize_build_options="--enable-helm", **cluster
        )
        plugin = servers.generate(repo, ".", plugin_source(as_parameters(kustomize)), **cluster)
        default = servers.generate(repo, ".", plugin_source({}), **cluster)
    assert strip_annotations(plugin) == native
    config = next(o for o in plugin if o["kind"] == "ConfigMap")
    assert config["data"]["kube-version"] == "v1.29.3"
    assert strip_annotations(default) != strip_annotations(plugin)


# --- Argo CD Image Updater's override files -----------------------------------------------------


def _with_override(tmp_path: Path, app_tree: Path, override: dict[str, Any]) -> Path:
    """The app tree plus ``.argocd-source-<app>.yaml`` in the Application's path, committed."""
    tree = tmp_path / "app"
    shutil.copytree(app_tree, tree, symlinks=True)
    (tree / PROD / f".argocd-source-{APP_NAME}.yaml").write_text(yaml.safe_dump(override))
    repo = tmp_path / "repo"
    git_commit(tree, repo)
    return repo


def test_image_updater_kustomize_override_file_fails_a_plugin_source(
    argocd: ArgoCD, tmp_path: Path, app_tree: Path
) -> None:
    """What Image Updater's git write-back writes; merged into a plugin source, it makes a source
    with two types, which the repo-server refuses before confighash is asked."""
    override = {"kustomize": {"images": ["ghcr.io/example/shop-backend:2.0.0"]}}
    repo = _with_override(tmp_path, app_tree, override)
    with pytest.raises(RepoServerError) as failure:
        argocd.generate(repo, PROD, plugin_source({}))
    assert "multiple application sources defined: Kustomize,Plugin" in str(failure.value)


def test_plugin_parameters_in_an_override_file_reach_confighash(
    argocd: ArgoCD, tmp_path: Path, app_tree: Path, repo: tuple[Path, str]
) -> None:
    """A ``plugin:`` block in the override file is merged into the source (JSON merge patch: the
    file's parameters replace the Application's whole list) and reaches confighash."""
    images = ["ghcr.io/example/shop-backend:2.0.0"]
    override = {"plugin": {"parameters": [{"name": "images", "array": images}]}}
    overridden = _with_override(tmp_path, app_tree, override)
    plugin = argocd.generate(
        overridden, PROD, plugin_source({"images": ["ghcr.io/example/shop-backend:1.0.0"]})
    )
    native = argocd.generate(repo[0], PROD, {"kustomize": {"images": images}})
    assert strip_annotations(plugin) == native


# --- the ApplicationSet example -----------------------------------------------------------------


def _fill(node: Any, element: dict[str, str]) -> Any:
    """The ApplicationSet's fasttemplate substitution of ``{{key}}`` (goTemplate: false)."""
    if isinstance(node, str):
        for key, value in element.items():
            node = node.replace("{{" + key + "}}", value)
        return node
    if isinstance(node, list):
        return [_fill(item, element) for item in node]
    if isinstance(node, dict):
        return {k: _fill(v, element) for k, v in node.items()}
    return node


def test_applicationset_example_equals_its_kustomize_block_natively(
    argocd: ArgoCD, repo: tuple[Path, str], app_tree: Path
) -> None:
    appset = yaml.safe_load((EXAMPLES / "applicationset.yaml").read_text())
    (generator,) = appset["spec"]["generators"]
    template = appset["spec"]["template"]
    assert len(generator["list"]["elements"]) == 2
    renders = []
    for element in generator["list"]["elements"]:
        source = _fill(template, element)["spec"]["source"]
        assert source["path"] == "examples/" + PROD
        parameters = source["plugin"]["parameters"]
        kustomize = {
            "namePrefix": element["env"] + "-",
            "images": [f"ghcr.io/example/shop-backend:{element['tag']}"],
            "replicas": [{"name": "backend", "count": int(element["replicas"])}],
            "commonLabels": {"env": element["env"]},
        }
        expected = [{"name": "strict", "string": "true"}]
        expected += [
            {
                "name": k,
                "string" if isinstance(v, str) else "array" if isinstance(v, list) else "map": v,
            }
            for k, v in as_parameters(kustomize).items()
        ]
        assert sorted(parameters, key=lambda p: p["name"]) == sorted(
            expected, key=lambda p: p["name"]
        )
        native = argocd.generate(repo[0], PROD, {"kustomize": kustomize})
        plugin = argocd.generate(repo[0], PROD, {"plugin": source["plugin"]})
        assert strip_annotations(plugin) == native
        renders.append(plugin)
    assert renders[0] != renders[1]
