"""Argo CD's spec.source.kustomize options as plugin parameters (cmp/overrides.py, issue 10).

Parsing and every refusal, through ``settings.resolve`` as the CLI reads ``ARGOCD_APP_PARAMETERS``;
the edits, with the real kustomize, in a working copy that leaves the user's files alone. That the
result equals Argo CD's own render is tests/test_e2e_kustomize_options.py.
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import assert_failed_cleanly, run_cli

from cmp import overrides
from cmp.errors import SettingsError
from cmp.settings import resolve

# values that must stay data: spaces, quotes, $(...), a leading dash, a newline
NASTY = ["a b", 'it\'s "q"', "$(touch /tmp/pwned)", "-x", "line1\nline2", "`id`; rm -rf /"]


def app_params(**params: Any) -> str:
    items = []
    for name, value in params.items():
        kind = "string" if isinstance(value, str) else "array" if isinstance(value, list) else "map"
        items.append({"name": name, kind: value})
    return json.dumps(items)


def ov(environ: dict[str, str] | None = None, **params: Any) -> overrides.Overrides:
    env = {"ARGOCD_APP_PARAMETERS": app_params(**params), **(environ or {})}
    return resolve(env).kustomize_overrides


def refused(**params: Any) -> str:
    with pytest.raises(SettingsError) as failure:
        ov(**params)
    return str(failure.value)


# --- parsing ------------------------------------------------------------------------------------


def test_no_parameters_no_overrides() -> None:
    assert resolve({}).kustomize_overrides == overrides.Overrides()
    assert not resolve({"ARGOCD_APP_PARAMETERS": "null"}).kustomize_overrides.edits()


def test_every_option_is_read_with_its_type() -> None:
    got = ov(
        namePrefix="p-",
        nameSuffix="-s",
        images=["nginx:1.27", "app=registry.example.com/app@sha256:abc"],
        replicas={"web": "3", "db": "+1"},
        commonLabels={"team": "shop"},
        forceCommonLabels="true",
        labelWithoutSelector="TRUE",
        labelIncludeTemplates="1",
        commonAnnotations={"note": "x"},
        forceCommonAnnotations="false",
        commonAnnotationsEnvsubst="0",
        namespace="shop",
        patches='[{"target": {"kind": "Deployment"}, "patch": "- op: remove\\n  path: /x"}]',
        components=["../../components/a"],
        ignoreMissingComponents="true",
        kubeVersion="v1.29.3-eks.1",
        apiVersions=["v1/Pod", "apps/v1/Deployment"],
    )
    assert got == overrides.Overrides(
        name_prefix="p-",
        name_suffix="-s",
        images=("nginx:1.27", "app=registry.example.com/app@sha256:abc"),
        replicas=(("web", 3), ("db", 1)),
        common_labels=(("team", "shop"),),
        force_common_labels=True,
        label_without_selector=True,
        label_include_templates=True,
        common_annotations=(("note", "x"),),
        namespace="shop",
        patches=({"target": {"kind": "Deployment"}, "patch": "- op: remove\n  path: /x"},),
        components=("../../components/a",),
        ignore_missing_components=True,
        kube_version="1.29.3",
        api_versions=("v1/Pod", "apps/v1/Deployment"),
        given=got.given,
    )
    assert set(got.given) == set(overrides.PARAMETERS) - {"version"}


def test_kube_version_and_api_versions_replace_the_clusters_for_helm() -> None:
    env = {"KUBE_VERSION": "1.37.2", "KUBE_API_VERSIONS": "v1,apps/v1"}
    plain = resolve(env)
    assert (plain.kube_version, plain.kube_api_versions) == ("1.37.2", ("v1", "apps/v1"))
    env["ARGOCD_APP_PARAMETERS"] = app_params(kubeVersion="1.29", apiVersions=["x/v1/Y"])
    s = resolve(env)
    assert s.kube_version == "1.29" and s.kube_api_versions == ("x/v1/Y",)
    assert s.build_options() == []  # only with Helm enabled
    assert s.build_options(["--enable-helm"])[1:] == [
        "--helm-kube-version",
        "1.29",
        "--helm-api-versions",
        "x/v1/Y",
    ]


def test_empty_values_are_not_set() -> None:
    got = ov(namePrefix="", images=[], replicas={}, patches="")
    assert got == overrides.Overrides()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${ARGOCD_APP_REVISION}", "0123456789abcdef"),
        ("$ARGOCD_APP_REVISION_SHORT", "0123456"),
        ("tag-${ARGOCD_APP_REVISION_SHORT_8}-x", "tag-01234567-x"),
        ("$$ARGOCD_APP_NAME", "$ARGOCD_APP_NAME"),
        ("${ARGOCD_APP_NAME}.$ARGOCD_APP_NAMESPACE", "shop.prod"),
        ("$(touch /tmp/x)", "$(touch /tmp/x)"),
        ("${KUBE_VERSION}${ARGOCD_ENV_x}${NOPE}$1", ""),  # only the Application's variables
        ("a$", "a$"),
        ("${}x${", "x"),  # Go eats bad syntax
        ("${-}$-$@", ""),
        ("${ARGOCD_APP_NAME", "ARGOCD_APP_NAME"),  # Go eats only the unclosed "${"
    ],
)
def test_envsubst_is_argocds(text: str, expected: str) -> None:
    env = {
        "ARGOCD_APP_REVISION": "0123456789abcdef",
        "ARGOCD_APP_REVISION_SHORT": "0123456",
        "ARGOCD_APP_REVISION_SHORT_8": "01234567",
        "ARGOCD_APP_NAME": "shop",
        "ARGOCD_APP_NAMESPACE": "prod",
        "KUBE_VERSION": "1.37",
        "ARGOCD_ENV_x": "y",
    }
    assert overrides.envsubst(text, env) == expected


def test_images_and_label_values_are_substituted_annotations_only_when_asked() -> None:
    env = {"ARGOCD_APP_REVISION": "abc"}
    got = ov(
        env,
        images=["app:${ARGOCD_APP_REVISION}"],
        commonLabels={"rev": "$ARGOCD_APP_REVISION", "${ARGOCD_APP_REVISION}": "k"},
        commonAnnotations={"rev": "$ARGOCD_APP_REVISION"},
    )
    assert got.images == ("app:abc",)
    assert got.common_labels == (("rev", "abc"), ("${ARGOCD_APP_REVISION}", "k"))  # keys as given
    assert got.common_annotations == (("rev", "$ARGOCD_APP_REVISION"),)
    on = ov(
        env, commonAnnotations={"rev": "$ARGOCD_APP_REVISION"}, commonAnnotationsEnvsubst="true"
    )
    assert on.common_annotations == (("rev", "abc"),)
    assert ov(env, namePrefix="$ARGOCD_APP_REVISION-").name_prefix == "$ARGOCD_APP_REVISION-"


@pytest.mark.parametrize("value", NASTY)
def test_values_pass_as_data(value: str) -> None:
    got = ov(
        namePrefix=value,
        namespace=value,
        commonLabels={"k": value},
        commonAnnotations={"k": value},
        images=[f"app={value}:1"] if not value.startswith("-") else ["app:1"],
    )
    assert got.name_prefix == got.namespace == value
    commands = list(overrides.edit_commands(got))
    assert ["set", "nameprefix", "--", value] in commands
    assert ["set", "namespace", "--", value] in commands
    assert ["add", "label", "--", f"k:{value}"] in commands
    assert ["add", "annotation", "--", f"k:{value}"] in commands


def test_edit_commands_follow_argocds_order_and_flags() -> None:
    got = ov(
        namespace="n",
        components=["c"],
        commonAnnotations={"a": "1"},
        forceCommonAnnotations="true",
        commonLabels={"l": "1", "m": "2"},
        forceCommonLabels="true",
        labelWithoutSelector="true",
        labelIncludeTemplates="true",
        replicas={"web": "007"},
        images=["x:1", "y:2"],
        nameSuffix="-s",
        namePrefix="p-",
    )
    assert list(overrides.edit_commands(got)) == [
        ["set", "nameprefix", "--", "p-"],
        ["set", "namesuffix", "--", "-s"],
        ["set", "image", "--", "x:1", "y:2"],
        ["set", "replicas", "--", "web=7"],
        [
            "add",
            "label",
            "--force",
            "--without-selector",
            "--include-templates",
            "--",
            "l:1",
            "m:2",
        ],
        ["add", "annotation", "--force", "--", "a:1"],
        ["set", "namespace", "--", "n"],
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1.29", "1.29"),
        ("v1.29.3", "1.29.3"),
        (" v1.37.2+k3s1", "1.37.2"),
        ("1.29.3-eks.1", "1.29.3"),
        ("1.029", "1.29"),
    ],
)
def test_kube_version_parsed_as_argocd_does(raw: str, expected: str) -> None:
    assert overrides.parse_kube_version(raw) == expected


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image", ["nginx", "", "registry:5000/app", "-x:1", "--force", "app\n", "a b"]
)
def test_malformed_image_is_refused(image: str) -> None:
    message = refused(images=["ok:1", image])
    assert message.startswith("invalid setting images:"), message
    assert repr(image) in message


@pytest.mark.parametrize(
    "count", ["three", "", "1.5", " 3", "3 ", "0x10", "1_000", "9" * 20, "$(id)"]
)
def test_count_that_is_not_an_integer_is_refused(count: str) -> None:
    message = refused(replicas={"web": count})
    assert message.startswith("invalid setting replicas: count"), message
    assert "'web'" in message and "is not an integer" in message


@pytest.mark.parametrize(
    ("patches", "said"),
    [
        ("target: {kind: Deployment}", "is not a list"),
        ('{"patch": "x"}', "is not a list"),
        ("just text", "is not a list"),
        ("- [a]", "patch 1 (from parameter patches) is not a mapping"),
        ("- {path: p.yaml}\n- 3", "patch 2 (from parameter patches) is not a mapping"),
        ("- {patch: x, tagret: {kind: Service}}", "unknown key 'tagret'"),
        ("- {patch: x, target: {kind: [1]}}", "target.kind must be a string"),
        ("- {patch: x, target: {kinds: Service}}", "target has an unknown key 'kinds'"),
        ("- {patch: 1}", "patch must be a str"),
        ("- {patch: x, options: {allowNameChange: yes please}}", "options must be true or false"),
        ("- {patch: [unclosed", "is not valid YAML or JSON"),
    ],
)
def test_patches_that_are_not_a_list_of_patches_are_refused(patches: str, said: str) -> None:
    message = refused(patches=patches)
    assert message.startswith("invalid setting patches:"), message
    assert said in message, message


def test_patches_as_json_or_yaml_are_the_same() -> None:
    as_yaml = "- target:\n    kind: Deployment\n    name: web\n  patch: |-\n    - op: remove\n"
    as_json = json.dumps(
        [{"target": {"kind": "Deployment", "name": "web"}, "patch": "- op: remove"}]
    )
    assert ov(patches=as_yaml).patches == ov(patches=as_json).patches
    # omitempty, as Argo CD marshals KustomizePatch
    assert ov(
        patches='[{"path": "", "patch": "x", "target": {"name": ""}, "options": {}}]'
    ).patches == ({"patch": "x", "target": {}},)


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"images": "nginx:1"}, "images: must be an array parameter"),
        ({"components": {"a": "b"}}, "components: must be an array parameter"),
        ({"replicas": ["web=3"]}, "replicas: must be a map parameter"),
        ({"commonLabels": "a:b"}, "commonLabels: must be a map parameter"),
        ({"namePrefix": ["a"]}, "namePrefix: must be a string parameter"),
        ({"patches": {"a": "b"}}, "patches: must be a string parameter"),
        ({"forceCommonLabels": "yes"}, "forceCommonLabels: 'yes' (from parameter"),
        ({"kubeVersion": "latest"}, "kubeVersion: 'latest' is not a Kubernetes version"),
        ({"kubeVersion": "1"}, "kubeVersion: '1' is not a Kubernetes version"),
        ({"kubeVersion": "01.2"}, "kubeVersion: '01.2' is not a Kubernetes version"),
        ({"version": "v5.8.1"}, "version: (from parameter version) selects one of argocd-cm"),
        ({"replicas": {"-web": "3"}}, "replicas: name '-web'"),
        ({"commonLabels": {"--force": "x"}}, "commonLabels: key '--force'"),
        ({"commonAnnotations": {"-f": "x"}}, "commonAnnotations: key '-f'"),
        ({"components": ["-c"]}, "components: component '-c'"),
        ({"components": ["/etc"]}, "components: '/etc' (from parameter components) leaves"),
        ({"namepreffix": "x"}, "namepreffix: unknown parameter (confighash knows: strict"),
    ],
)
def test_wrong_types_and_values_are_refused(params: dict[str, Any], said: str) -> None:
    message = refused(**params)
    assert f"invalid setting {said}" in message, message


def test_wrong_array_items_and_map_values_are_refused() -> None:
    for item, said in [
        ({"name": "images", "array": ["a:1", 2]}, "images: must be an array parameter of strings"),
        ({"name": "replicas", "map": {"web": 3}}, "replicas: must be a map parameter of strings"),
        ({"name": "images", "string": "a:1", "array": ["a:1"]}, "must be an array parameter"),
    ]:
        with pytest.raises(SettingsError, match=said):
            resolve({"ARGOCD_APP_PARAMETERS": json.dumps([item])})
    twice = [{"name": "images", "array": ["a:1"]}, {"name": "images", "array": ["b:1"]}]
    with pytest.raises(SettingsError, match="images: parameter given twice"):
        resolve({"ARGOCD_APP_PARAMETERS": json.dumps(twice)})


def test_a_refused_parameter_is_one_line_and_empty_stdout(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\n")
    for params in (
        {"images": ["nginx"]},
        {"replicas": {"web": "x"}},
        {"patches": "a: b"},
        {"components": ["../../.."]},
    ):
        run = run_cli(
            ["build", str(tmp_path)], environ={"ARGOCD_APP_PARAMETERS": app_params(**params)}
        )
        line = assert_failed_cleanly(run)
        assert f"invalid setting {next(iter(params))}:" in line, line


# --- components and the repository --------------------------------------------------------------


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    write(repo / "base" / "kustomization.yaml", "resources: [cm.yaml]\n")
    write(repo / "base" / "cm.yaml", CM)
    for name in ("a", "b"):
        write(
            repo / "components" / name / "kustomization.yaml",
            f"""
            apiVersion: kustomize.config.k8s.io/v1alpha1
            kind: Component
            patches:
              - target: {{kind: ConfigMap}}
                patch: |-
                  - op: add
                    path: /data/{name}
                    value: "{name}"
            """,
        )
    write(repo / "app" / "kustomization.yaml", "resources: [../base]\n")
    return repo


CM = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
data:
  k: v
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


def build(app: Path, tmpdir: Path | None = None, **params: Any) -> list[dict[str, Any]]:
    environ = {"ARGOCD_APP_PARAMETERS": app_params(**params), "PATH": os.environ["PATH"]}
    if tmpdir is not None:
        environ["TMPDIR"] = str(tmpdir)
    run = run_cli(["build", "--allow-empty", str(app)], environ=environ)
    assert run.code == 0, run.stderr
    return [d for d in yaml.safe_load_all(run.stdout) if d]


@pytest.mark.parametrize(
    "component", ["../../..", "../../repo2", "../components/../../../x", "escape"]
)
def test_component_path_that_leaves_the_repository_is_refused(
    tmp_path: Path, component: str
) -> None:
    repo = _repo(tmp_path)
    (repo / "app" / "escape").symlink_to(tmp_path)  # inside lexically, outside through the link
    run = run_cli(
        ["build", str(repo / "app")],
        environ={"ARGOCD_APP_PARAMETERS": app_params(components=["../components/a", component])},
    )
    line = assert_failed_cleanly(run)
    assert f"invalid setting components: {component!r} (from parameter components) leaves" in line


def test_components_are_added(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (cm,) = build(repo / "app", components=["../components/a", "../components/b"])
    assert cm["data"] == {"k": "v", "a": "a", "b": "b"}


def test_ignore_missing_components_keeps_argocds_first_found_only(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    (cm,) = build(
        repo / "app",
        components=["../components/missing", "../components/b", "../components/a"],
        ignoreMissingComponents="true",
    )
    assert cm["data"] == {"k": "v", "b": "b"}  # Argo CD v3.6.1's loop stops at the first found
    (cm,) = build(
        repo / "app", components=["../components/missing"], ignoreMissingComponents="true"
    )
    assert cm["data"] == {"k": "v"}


# --- the working copy ---------------------------------------------------------------------------


def test_local_run_edits_a_copy_and_leaves_the_users_files_alone(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    write(repo / "app" / "kustomization.yaml", "# mine\nresources: [../base]\npatches: []\n")
    before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()}
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (cm,) = build(
        repo / "app",
        scratch,
        namePrefix="p-",
        commonLabels={"team": "shop"},
        patches=json.dumps(
            [{"patch": "- op: add\n  path: /data/z\n  value: z", "target": {"kind": "ConfigMap"}}]
        ),
        components=["../components/a"],
    )
    assert cm["metadata"] == {"name": "p-cm", "labels": {"team": "shop"}}
    assert cm["data"] == {"k": "v", "a": "a", "z": "z"}
    assert {p: p.read_bytes() for p in repo.rglob("*") if p.is_file()} == before
    assert list(scratch.iterdir()) == []  # the copy is gone


def test_patches_are_appended_to_the_kustomizations_own(tmp_path: Path) -> None:
    app = tmp_path / "app"
    write(app / "cm.yaml", CM)
    write(
        app / "kustomization.yaml",
        """
        resources: [cm.yaml]
        patches:
          - target: {kind: ConfigMap}
            patch: |-
              - op: replace
                path: /data/k
                value: own
        """,
    )
    extra = textwrap.dedent(
        """
        - target: {kind: ConfigMap}
          patch: |-
            - op: replace
              path: /data/k
              value: param
        """
    )
    (cm,) = build(app, patches=extra)
    assert cm["data"] == {"k": "param"}  # after the kustomization's own


def test_kubectl_only_fails_with_one_line(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:  # a stand-in is enough: confighash refuses before running it
        kubectl = str(tmp_path / "kubectl")
        Path(kubectl).write_text("#!/bin/sh\nexit 3\n")
        os.chmod(kubectl, 0o755)
    (tmp_path / "kustomization.yaml").write_text("resources: []\n")
    run = run_cli(
        ["build", "--kustomize", kubectl, str(tmp_path)],
        environ={"ARGOCD_APP_PARAMETERS": app_params(namePrefix="p-", images=["a:1"])},
    )
    line = assert_failed_cleanly(run)
    assert "namePrefix, images need kustomize edit, which kubectl kustomize cannot do" in line


def test_kustomize_edit_failure_is_one_line(tmp_path: Path) -> None:
    write(tmp_path / "kustomization.yaml", "resources: []\ncommonLabels: {team: a}\n")
    run = run_cli(
        ["build", str(tmp_path)],
        environ={
            "ARGOCD_APP_PARAMETERS": app_params(commonLabels={"team": "b"}),
            "PATH": os.environ["PATH"],
        },
    )
    line = assert_failed_cleanly(run)
    assert "kustomize edit add label failed" in line and "--force" in line, line
    assert "confighash-edit-" not in line  # the user's path, not the copy's


def test_patches_rewrite_types_scalars_as_argocds_go_yaml(tmp_path: Path) -> None:
    """Argo CD unmarshals the kustomization into ``any`` and marshals it back: go-yaml v2 types,
    float64 numbers, sorted keys; a string go-yaml would retype is quoted."""
    write(
        tmp_path / "kustomization.yaml",
        """
        # lost, as in Argo CD
        resources: [x.yaml]
        commonLabels: {quoted: "y", whole: 1.0, plain: y, hex: 0x10, octal: '007', big: 1e3}
        patches:
          - path: own.yaml
        """,
    )
    overrides.write_patches(str(tmp_path), [{"patch": "- op: x", "target": {"kind": "A"}}])
    assert (tmp_path / "kustomization.yaml").read_text() == textwrap.dedent(
        """\
        commonLabels:
          big: 1000
          hex: 16
          octal: "007"
          plain: true
          quoted: "y"
          whole: 1
        patches:
        - path: own.yaml
        - patch: '- op: x'
          target:
            kind: A
        resources:
        - x.yaml
        """
    )


def test_tmpdir_inside_the_app_is_not_copied_into_itself(tmp_path: Path) -> None:
    app = tmp_path / "app"
    write(app / "kustomization.yaml", "resources: [cm.yaml]\n")
    write(app / "cm.yaml", CM)
    (app / "tmp").mkdir()
    run = run_cli(
        ["build", str(app)],
        environ={
            "ARGOCD_APP_PARAMETERS": app_params(namePrefix="p-"),
            "PATH": os.environ["PATH"],
            "TMPDIR": str(app / "tmp"),
        },
    )
    assert run.code == 0, run.stderr
    assert b"name: p-cm" in run.stdout
    assert list((app / "tmp").iterdir()) == []
