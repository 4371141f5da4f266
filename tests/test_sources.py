"""Source types as Argo CD v3.6.1 finds them, the directory renderer and the helm renderer's
arguments and refusals (issue 11); tests/test_e2e_sources.py compares with the real Argo CD."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from helpers import EXAMPLES, assert_failed_cleanly, run_cli

from cmp import directory, helm, renderers
from cmp.errors import RenderError, SettingsError

CHARTS = Path(__file__).parent / "fixtures" / "charts"


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _params(**values: str | list[str]) -> str:
    return json.dumps(
        [{"name": k, ("array" if isinstance(v, list) else "string"): v} for k, v in values.items()]
    )


# --- detection ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["kustomization.yaml"], "kustomize"),
        (["kustomization.yml"], "kustomize"),
        (["Kustomization"], "kustomize"),
        (["Chart.yaml"], "helm"),
        (["a.yaml", "b.json"], "directory"),
        ([], "directory"),
        # the walk's last match wins: Chart.yaml sorts before kustomization.yaml ...
        (["Chart.yaml", "kustomization.yaml"], "kustomize"),
        (["Chart.yaml", "Kustomization"], "kustomize"),
        # ... but a name that ends in Chart.yaml may sort after it
        (["kustomization.yaml", "values-Chart.yaml"], "helm"),
        (["MyChart.yaml"], "helm"),
        (["chart.yaml"], "directory"),  # the suffix is case-sensitive
        (["kustomization.YAML", "KUSTOMIZATION.yaml"], "directory"),
        (["Chart.yml"], "directory"),
    ],
)
def test_source_type_is_detected_as_argo_cds_discovery_does(
    tmp_path: Path, names: list[str], expected: str
) -> None:
    for name in names:
        (tmp_path / name).write_text("")
    assert renderers.detect(str(tmp_path)) == expected


def test_only_files_directly_in_the_directory_count(tmp_path: Path) -> None:
    _tree(tmp_path, {"sub/kustomization.yaml": "", "sub/Chart.yaml": "", "a.yaml": ""})
    (tmp_path / "Chart.yaml").mkdir()  # a directory named Chart.yaml does not count either
    assert renderers.detect(str(tmp_path)) == "directory"


def test_a_symbolic_link_counts_even_when_it_dangles(tmp_path: Path) -> None:
    (tmp_path / "Chart.yaml").symlink_to(tmp_path / "nowhere")
    assert renderers.detect(str(tmp_path)) == "helm"


def test_source_type_parameter_overrides_detection(tmp_path: Path) -> None:
    _tree(tmp_path, {"kustomization.yaml": "resources: [cm.yaml]\n", "cm.yaml": "kind: X\n"})
    env = {"ARGOCD_APP_PARAMETERS": _params(**{"source-type": "directory"})}
    run = run_cli(["build", str(tmp_path), "--allow-empty"], environ=env)
    assert run.code == 0, run.stderr
    assert b"kind: X" in run.stdout and b"resources" not in run.stdout


def test_unknown_source_type_is_refused() -> None:
    env = {"ARGOCD_APP_PARAMETERS": _params(**{"source-type": "jsonnet"})}
    line = assert_failed_cleanly(run_cli(["build", str(EXAMPLES / "plain")], environ=env))
    assert "source-type" in line and "auto, kustomize, helm, directory" in line


def test_options_of_another_source_type_are_refused(tmp_path: Path) -> None:
    env = {"ARGOCD_APP_PARAMETERS": _params(valueFiles=["values.yaml"])}
    line = assert_failed_cleanly(run_cli(["build", str(EXAMPLES / "plain")], environ=env))
    assert "valueFiles" in line and "directory source" in line
    env = {"ARGOCD_APP_PARAMETERS": _params(recurse="true")}
    production = str(EXAMPLES / "overlays/production")
    line = assert_failed_cleanly(run_cli(["build", production], environ=env))
    assert "recurse" in line and "kustomize source" in line


# --- directory ----------------------------------------------------------------------------------


def _cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def _names(data: bytes) -> list[str]:
    return [d["metadata"]["name"] for d in yaml.safe_load_all(data) if d]


def test_directory_reads_files_in_walk_order_with_recurse(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "b.yaml": _cm("b"),
            "a/z.yml": _cm("az"),
            "a.json": json.dumps({"kind": "ConfigMap", "metadata": {"name": "a"}}),
            "c.txt": _cm("ignored-extension"),
            "values.yaml": "replicas: 3\n",  # not a manifest: ignored, as Argo CD does
            "skip.yaml": "# +argocd:skip-file-rendering\n" + _cm("skipped"),
        },
    )
    root = str(tmp_path)
    assert _names(directory.render(root, root, directory.Options())) == ["a", "b"]
    options = directory.Options(recurse=True)
    # filepath.Walk: "a" (the directory) sorts before "a.json"
    assert _names(directory.render(root, root, options)) == ["az", "a", "b"]
    options = directory.Options(recurse=True, include="*.yml")  # * matches / too
    assert _names(directory.render(root, root, options)) == ["az"]
    options = directory.Options(recurse=True, exclude="{a/*,*.json}")
    assert _names(directory.render(root, root, options)) == ["b"]


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        ("*.yaml", "sub/x.yaml", True),
        ("{config.json,env-usw2/*}", "env-usw2/a.yaml", True),
        ("{config.json,env-usw2/*}", "other.json", False),
        ("[!a]*", "b.yaml", True),
        ("[!a]*", "a.yaml", False),
        ("?.yaml", "a.yaml", True),
        ("a\\*", "a*", True),
        ("[", "[", False),  # does not compile: matches nothing
    ],
)
def test_globs_are_gobwas_globs_without_separators(pattern: str, text: str, matches: bool) -> None:
    compiled = directory.glob_regex(pattern)
    assert (compiled is not None and compiled.fullmatch(text) is not None) is matches


def test_json_document_stays_json_when_stamped(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "plain", tmp_path / "plain")
    run = run_cli(["build", str(tmp_path / "plain")])
    assert run.code == 0, run.stderr
    (document,) = [d for d in run.stdout.decode().split("---\n") if '"Deployment"' in d]
    annotations = json.loads(document)["spec"]["template"]["metadata"]["annotations"]
    assert "configmap.confighash.dev/worker-config" in annotations


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"a.jsonnet": "{}"}, "jsonnet is not supported"),
        ({"a.yaml": _cm("a") + "---\nfoo: [\n"}, "failed to unmarshal a.yaml"),
        ({"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n"}, "failed to unmarshal"),
        ({"a.yaml": _cm("a") + "---\napiVersion: v1\n"}, "Object 'Kind' is missing"),
        ({"a.json": "{} {}"}, "only single objects are allowed in JSON files"),
        ({"a.json": "{"}, "failed to unmarshal a.json"),
        ({"a.json": "[]"}, "failed to unmarshal a.json"),
        ({"README.md": "no manifests"}, "the stream has no objects"),
    ],
)
def test_bad_directory_fails_with_a_named_error(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    _tree(tmp_path, files)
    line = assert_failed_cleanly(run_cli(["build", str(tmp_path)]))
    assert expected in line, line


def test_symbolic_link_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.yaml").write_text(_cm("out"))
    app = tmp_path / "repo" / "app"
    app.mkdir(parents=True)
    (tmp_path / "repo" / ".git").mkdir()
    (app / "a.yaml").symlink_to(tmp_path / "outside.yaml")
    (app / "gone.yaml").symlink_to(tmp_path / "missing.yaml")  # dangling: skipped
    line = assert_failed_cleanly(run_cli(["build", str(app)]))
    assert "illegal filepath in symlink" in line


# --- helm ---------------------------------------------------------------------------------------


def _request(chart: Path, root: Path | None = None, **kw: object) -> helm.Request:
    fields: dict[str, object] = {
        "directory": str(chart),
        "root": str(root or chart),
        "release_name": "rel",
        "namespace": None,
        "kube_version": None,
        "api_versions": (),
        "schemes": (),
    }
    fields.update(kw)
    return helm.Request(**fields)  # type: ignore[arg-type]


def test_template_arguments_follow_argo_cds_order(tmp_path: Path) -> None:
    _tree(tmp_path, {"Chart.yaml": "", "a.yaml": "", "b.yaml": "", "f.txt": ""})
    options = helm.Options(
        value_files=("b.yaml", "a.yaml", "b.yaml"),
        parameters=(helm.Parameter("x", "1,2"), helm.Parameter("y", "{a,b}", True)),
        file_parameters=(("z", "f.txt"),),
        skip_schema_validation=True,
        skip_tests=True,
    )
    request = _request(tmp_path, namespace="ns", kube_version="1.30.0", api_versions=("v1",))
    args = helm.template_args(options, request, "/x/extra.yaml", {})
    real = os.path.realpath(tmp_path)
    assert args == [
        "template", ".", "--name-template", "rel", "--namespace", "ns",
        "--kube-version", "1.30.0",
        "--set", "x=1\\,2", "--set-string", "y={a,b}", "--set-file", f"z={real}/f.txt",
        "--values", f"{real}/b.yaml", "--values", f"{real}/a.yaml",
        "--values", "/x/extra.yaml", "--api-versions", "v1",
        "--include-crds", "--skip-schema-validation", "--skip-tests",
    ]  # fmt: skip
    assert "--include-crds" not in helm.template_args(
        options._replace(skip_crds=True), request, None, {}
    )


def test_value_file_globs_keep_an_explicit_file_in_its_place(tmp_path: Path) -> None:
    _tree(tmp_path, {"values-a.yaml": "", "values-b.yaml": "", "values-c.yaml": ""})
    real = os.path.realpath(tmp_path)
    files = helm.value_files(["values-*.yaml", "values-a.yaml"], _request(tmp_path), False, {})
    assert files == [f"{real}/values-b.yaml", f"{real}/values-c.yaml", f"{real}/values-a.yaml"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../outside.yaml", "resolved to outside repository root"),
        ("/../../etc/passwd", "resolved to outside repository root"),
        (".", "repository root"),
        ("https://example.com/v.yaml", "URL scheme 'https' is not allowed"),
        ("values:prod.yaml", "URL scheme 'values' is not allowed"),  # Go's url.Parse sees one
        ("$values/x.yaml", "another source"),
        ("missing.yaml", "does not exist"),
        ("nothing-*.yaml", "the glob matched no files"),
    ],
)
def test_value_files_outside_the_repository_or_urls_are_refused(
    tmp_path: Path, raw: str, expected: str
) -> None:
    chart = tmp_path / "repo"
    chart.mkdir()
    with pytest.raises(SettingsError, match="valueFiles") as failure:
        helm.value_files([raw], _request(chart), False, {})
    assert expected in str(failure.value)


def test_missing_value_files_are_left_out_when_asked(tmp_path: Path) -> None:
    assert helm.value_files(["missing.yaml", "x-*.yaml"], _request(tmp_path), True, {}) == []


def test_allowed_url_scheme_passes_through(tmp_path: Path) -> None:
    request = _request(tmp_path, schemes=("https",))
    url = "https://example.com/v.yaml"
    assert helm.value_files([url], request, False, {}) == [url]


def test_set_values_are_substituted_with_the_applications_variables(tmp_path: Path) -> None:
    options = helm.Options(parameters=(helm.Parameter("rev", "$ARGOCD_APP_REVISION-$$x"),))
    args = helm.template_args(options, _request(tmp_path), None, {"ARGOCD_APP_REVISION": "abc"})
    assert args[4:6] == ["--set", "rev=abc-$x"]


@pytest.mark.parametrize(
    ("app", "expected"), [("shop", "shop"), ("team_shop", "shop"), ("", "chart")]
)
def test_release_name_defaults_to_the_applications_name(app: str, expected: str) -> None:
    environ = {"ARGOCD_APP_NAME": app} if app else {}
    assert helm.release_name("", environ, "/x/chart") == expected
    assert helm.release_name("given", environ, "/x/chart") == "given"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("parameters", "[{name: a}]", None),
        ("parameters", "{name: a}", "must be a list"),
        ("parameters", "[{name: a, value: 1}]", "must be a string: quote it"),
        ("parameters", "[{name: a, other: b}]", "is not a {name, value, forceString}"),
        ("fileParameters", "[{name: a, file: b}]", "must be a list of {name, path}"),
        ("valuesObject", "[1]", "must be an object"),
        ("valuesObject", "a: [", "is not YAML or JSON"),
        ("skipCrds", "yes", 'is not "true" or "false"'),
    ],
)
def test_helm_parameters_are_checked(name: str, value: str, expected: str | None) -> None:
    env = {"ARGOCD_APP_PARAMETERS": _params(**{name: value})}
    if expected is None:
        renderers.parse({name: (value, f"parameter {name}")})
        return
    line = assert_failed_cleanly(run_cli(["build", str(EXAMPLES / "chart")], environ=env))
    assert name in line and expected in line, line


def test_array_parameter_is_refused_as_a_string(tmp_path: Path) -> None:
    env = {"ARGOCD_APP_PARAMETERS": json.dumps([{"name": "valueFiles", "string": "a.yaml"}])}
    line = assert_failed_cleanly(run_cli(["build", str(EXAMPLES / "chart")], environ=env))
    assert "valueFiles" in line and "array parameter" in line


def test_chart_without_chart_yaml_is_refused(tmp_path: Path) -> None:
    env = {"ARGOCD_APP_PARAMETERS": _params(**{"source-type": "helm"})}
    line = assert_failed_cleanly(run_cli(["build", str(EXAMPLES / "plain")], environ=env))
    assert "no Chart.yaml" in line


def test_missing_helm_is_one_line(tmp_path: Path) -> None:
    line = assert_failed_cleanly(run_cli(["build", str(EXAMPLES / "chart")], environ={"PATH": ""}))
    assert "helm is not on PATH" in line


def test_render_error_keeps_no_scratch_path(tmp_path: Path) -> None:
    with pytest.raises(RenderError):
        helm.render(helm.Options(), _request(tmp_path), environ={}, path="")


# --- with the image's helm ----------------------------------------------------------------------


def _helm_env(tools: Path, **params: str | list[str]) -> dict[str, str]:
    env = {"PATH": f"{tools}:/usr/bin:/bin", "ARGOCD_APP_NAME": "shop"}
    return {**env, "ARGOCD_APP_PARAMETERS": _params(**params)} if params else env


def test_example_chart_per_environment_is_stamped(tools: Path) -> None:
    env = _helm_env(tools, valueFiles=["values-production.yaml"])
    run = run_cli(["build", str(EXAMPLES / "chart")], environ=env)
    assert run.code == 0, run.stderr
    (deployment,) = [d for d in yaml.safe_load_all(run.stdout) if d["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 3
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert set(annotations) == {
        "confighash.dev/checksum",
        "configmap.confighash.dev/shop-config",
        "secret.confighash.dev/shop-token",
    }


def test_dependency_build_writes_nothing_into_a_local_checkout(tools: Path, tmp_path: Path) -> None:
    charts = tmp_path / "charts"
    shutil.copytree(CHARTS / "needs-build", charts / "needs-build")
    shutil.copytree(CHARTS / "descheduler", charts / "descheduler")
    before = sorted(p.name for p in (charts / "needs-build").rglob("*"))
    run = run_cli(["build", str(charts / "needs-build")], environ=_helm_env(tools))
    assert run.code == 0, run.stderr
    assert b"kind: Deployment" in run.stdout
    assert sorted(p.name for p in (charts / "needs-build").rglob("*")) == before


def test_explain_names_the_charts_own_checksum_annotation(tools: Path) -> None:
    run = run_cli(["explain", str(CHARTS / "descheduler")], environ=_helm_env(tools))
    assert run.code == 0, run.stderr
    assert b"CronJob" in run.stdout and b"ConfigMap" in run.stdout
    assert b"also carries checksum/config, the chart's own digest" in run.stdout


def test_template_error_is_one_line(tools: Path, tmp_path: Path) -> None:
    _tree(tmp_path, {"Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n"})
    _tree(tmp_path, {"templates/x.yaml": "{{ .Values.nope.deeper }}\n"})
    line = assert_failed_cleanly(run_cli(["build", str(tmp_path)], environ=_helm_env(tools)))
    assert "helm template failed" in line and "nil pointer" in line


def test_diff_works_on_a_chart(tools: Path) -> None:
    env = _helm_env(tools)
    chart = str(EXAMPLES / "chart")
    run = run_cli(["diff", chart, chart], environ=env)
    assert run.code == 0, run.stderr


def test_diff_of_two_plain_directories_names_the_changed_source(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(EXAMPLES / "plain", old)
    shutil.copytree(EXAMPLES / "plain", new)
    config = new / "configmap.yaml"
    config.write_text(config.read_text().replace('CONCURRENCY: "4"', 'CONCURRENCY: "8"'))
    run = run_cli(["diff", str(old), str(new), "--exit-code"])
    assert run.code == 1, run.stderr
    assert b"worker" in run.stdout and b"CONCURRENCY" in run.stdout
