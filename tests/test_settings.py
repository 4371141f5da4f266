"""Settings from Argo CD's environment: precedence, parameter formats, booleans, build options.

Pure tests: every environment is a plain dict, nothing is run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from cmp import overrides, renderers, settings
from cmp.errors import SettingsError
from cmp.settings import Flags, resolve


def params(**values: str) -> str:
    """ARGOCD_APP_PARAMETERS as Argo CD writes it: Go's json.Marshal, keys sorted."""
    items = [{"name": k.replace("_", "-"), "string": v} for k, v in values.items()]
    return json.dumps(items, separators=(",", ":"), sort_keys=True)


# --- defaults ----------------------------------------------------------------------------------


def test_defaults_are_the_announced_ones() -> None:
    s = resolve({})
    assert (s.strict, s.include_jobs, s.include_image_pull_secrets, s.allow_empty) == (
        False,
        False,
        False,
        False,
    )
    assert s.annotation_prefix == "confighash.dev"
    assert s.timeout == settings.DEFAULT_TIMEOUT == 45
    assert s.build_options() == []
    assert s.namespace is None and s.secret_key_file is None and s.kustomize is None
    assert set(s.origins.values()) == {"default"}


def test_defaults_match_plugin_yaml() -> None:
    plugin = yaml.safe_load((Path(__file__).parents[1] / "plugin.yaml").read_text())
    static = plugin["spec"]["parameters"]["static"]
    announced = {p["name"]: p["string"] for p in static if p["name"] in settings.PARAMETER_DEFAULTS}
    assert announced == settings.PARAMETER_DEFAULTS
    # the kustomize options: every one but version (which a plugin cannot honour), with its type
    kinds = {p["name"]: p.get("collectionType", "string") for p in static}
    expected = {n: k for n, k in overrides.PARAMETERS.items() if n != "version"}
    expected |= renderers.PARAMETERS  # spec.source.helm's and spec.source.directory's
    assert {n: k for n, k in kinds.items() if n not in settings.PARAMETER_DEFAULTS} == {
        n: "string" if k == "boolean" else k for n, k in expected.items()
    }
    booleans = {
        p["name"]: p["string"] for p in static if overrides.PARAMETERS.get(p["name"]) == "boolean"
    }
    assert set(booleans.values()) == {"false"}


# --- precedence ---------------------------------------------------------------------------------


def test_parameter_beats_env_beats_default() -> None:
    environ = {"ARGOCD_ENV_strict": "false", "ARGOCD_APP_PARAMETERS": params(strict="true")}
    s = resolve(environ)
    assert s.strict is True and s.origins["strict"] == "parameter strict"
    s = resolve({"ARGOCD_ENV_strict": "true", "ARGOCD_APP_PARAMETERS": "null"})
    assert s.strict is True and s.origins["strict"] == "ARGOCD_ENV_strict"


@pytest.mark.parametrize("flag", [True, False])
def test_flag_beats_parameter_and_env(flag: bool) -> None:
    environ = {
        "ARGOCD_ENV_strict": str(not flag).lower(),
        "ARGOCD_APP_PARAMETERS": params(strict=str(not flag).lower()),
    }
    s = resolve(environ, Flags(strict=flag))
    assert s.strict is flag and s.origins["strict"] == "--strict"


def test_flag_beats_parameter_for_the_prefix() -> None:
    environ = {"ARGOCD_APP_PARAMETERS": params(annotation_prefix="from.param")}
    assert resolve(environ, Flags(annotation_prefix="from.flag")).annotation_prefix == "from.flag"
    assert resolve(environ).annotation_prefix == "from.param"


def test_json_parameters_are_authoritative_over_param_vars() -> None:
    environ = {
        "ARGOCD_APP_PARAMETERS": params(include_jobs="false"),
        "PARAM_INCLUDE_JOBS": "true",
        "PARAM_STRICT": "true",
    }
    s = resolve(environ)
    assert s.include_jobs is False
    assert s.strict is False  # not in the JSON: PARAM_STRICT is not consulted


def test_param_vars_are_the_fallback_when_the_json_is_absent() -> None:
    environ = {
        "PARAM_INCLUDE_JOBS": "true",
        "PARAM_ANNOTATION_PREFIX": "x.example.com",
        "PARAM_INCLUDE_IMAGE_PULL_SECRETS": "1",
    }
    s = resolve(environ)
    assert s.include_jobs and s.include_image_pull_secrets
    assert s.annotation_prefix == "x.example.com"
    assert s.origins["include-jobs"] == "PARAM_INCLUDE_JOBS"


def test_null_parameters_mean_none_and_ignore_param_vars() -> None:
    s = resolve({"ARGOCD_APP_PARAMETERS": "null", "PARAM_STRICT": "true"})
    assert s.strict is False and s.origins["strict"] == "default"


def test_env_is_used_without_any_parameters() -> None:
    environ = {"ARGOCD_ENV_include-jobs": "true", "ARGOCD_ENV_annotation-prefix": "env.example"}
    s = resolve(environ)
    assert s.include_jobs and s.annotation_prefix == "env.example"


def test_env_names_are_exact() -> None:
    # Argo CD passes plugin.env names unchanged: INCLUDE_JOBS is not include-jobs.
    assert resolve({"ARGOCD_ENV_INCLUDE_JOBS": "true"}).include_jobs is False


def test_empty_values_count_as_not_set() -> None:
    environ = {
        "ARGOCD_APP_PARAMETERS": params(strict="", annotation_prefix=""),
        "ARGOCD_ENV_strict": "true",
    }
    s = resolve(environ)
    assert s.strict is True and s.annotation_prefix == "confighash.dev"
    assert resolve({"ARGOCD_ENV_strict": "", "PARAM_STRICT": ""}).strict is False


def test_parameter_with_only_a_name_is_not_set() -> None:
    s = resolve({"ARGOCD_APP_PARAMETERS": '[{"name":"strict"}]', "ARGOCD_ENV_strict": "true"})
    assert s.strict is True


def test_escaped_json_from_go_is_decoded() -> None:
    raw = '[{"name":"annotation-prefix","string":"a\\u002eexample"}]'
    assert resolve({"ARGOCD_APP_PARAMETERS": raw}).annotation_prefix == "a.example"
    bad = '[{"name":"strict","string":"\\u003cyes\\u003e"}]'
    with pytest.raises(SettingsError, match="'<yes>'"):
        resolve({"ARGOCD_APP_PARAMETERS": bad})


def test_namespace_flag_beats_argocd_app_namespace() -> None:
    assert resolve({"ARGOCD_APP_NAMESPACE": "shop"}).namespace == "shop"
    assert resolve({"ARGOCD_APP_NAMESPACE": "shop"}, Flags(namespace="x")).namespace == "x"
    assert resolve({"ARGOCD_APP_NAMESPACE": ""}).namespace is None


def test_admin_settings_and_their_flags() -> None:
    environ = {
        "CONFIGHASH_TIMEOUT": "12.5",
        "CONFIGHASH_SECRET_KEY_FILE": "/etc/key",
        "KUSTOMIZE_BIN": "/bin/kz",
        "CONFIGHASH_BUILD_OPTIONS": "--enable-helm  --load-restrictor LoadRestrictionsNone",
        "TMPDIR": "/scratch",
    }
    s = resolve(environ)
    assert (s.timeout, s.secret_key_file, s.kustomize, s.tmpdir) == (
        12.5,
        "/etc/key",
        "/bin/kz",
        "/scratch",
    )
    assert s.admin_build_options == ("--enable-helm", "--load-restrictor", "LoadRestrictionsNone")
    flags = Flags(timeout="3", secret_key_file="/k2", kustomize="kz2", build_options="--x")
    s = resolve(environ, flags)
    assert (s.timeout, s.secret_key_file, s.kustomize) == (3.0, "/k2", "kz2")
    assert s.admin_build_options == ("--x",)
    assert s.secret_key_origin == "--secret-key-file"


# --- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("false", False), ("TRUE", True), ("False", False), ("1", True), ("0", False)],
)
def test_boolean_spellings(value: str, expected: bool) -> None:
    assert resolve({"ARGOCD_APP_PARAMETERS": params(allow_empty=value)}).allow_empty is expected


@pytest.mark.parametrize("value", ["yes", "no", "on", "off", "y", "2", "truee", " true"])
def test_other_boolean_values_are_refused(value: str) -> None:
    with pytest.raises(SettingsError) as info:
        resolve({"ARGOCD_ENV_include-jobs": value})
    message = str(info.value)
    assert message.startswith("invalid setting include-jobs:")
    assert "ARGOCD_ENV_include-jobs" in message and repr(value) in message


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("{", "ARGOCD_APP_PARAMETERS: is not valid JSON"),
        ('{"name":"strict"}', "ARGOCD_APP_PARAMETERS: is not a JSON list"),
        ('[{"string":"x"}]', "ARGOCD_APP_PARAMETERS: has an entry without a name"),
        ('[{"name":"stricy","string":"true"}]', "stricy: unknown parameter"),
        ('[{"name":"strict","array":["true"]}]', "strict: must be a string parameter"),
        ('[{"name":"strict","map":{"a":"b"}}]', "strict: must be a string parameter"),
        ('[{"name":"strict","string":true}]', "strict: must be a string parameter"),
        (params(strict="true")[:-1] + ',{"name":"strict","string":"false"}]', "given twice"),
    ],
)
def test_malformed_parameters(raw: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=r"^invalid setting ") as info:
        resolve({"ARGOCD_APP_PARAMETERS": raw})
    assert problem in str(info.value)


def test_invalid_prefix_names_its_origin() -> None:
    with pytest.raises(SettingsError, match=r"^invalid setting annotation-prefix: 'Bad_Prefix' "):
        resolve({"PARAM_ANNOTATION_PREFIX": "Bad_Prefix"})


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "inf", "nan"])
def test_invalid_timeouts(raw: str) -> None:
    with pytest.raises(SettingsError, match=r"^invalid setting CONFIGHASH_TIMEOUT:"):
        resolve({"CONFIGHASH_TIMEOUT": raw})
    with pytest.raises(SettingsError, match=r"^invalid setting --timeout:"):
        resolve({}, Flags(timeout=raw))


def test_missing_key_file_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        settings.read_secret_key(str(tmp_path / "nope"), "CONFIGHASH_SECRET_KEY_FILE")
    assert str(info.value).startswith("invalid setting CONFIGHASH_SECRET_KEY_FILE: cannot read")


# --- build options ------------------------------------------------------------------------------

ALLOW = {"CONFIGHASH_ALLOWED_BUILD_OPTIONS": "--enable-managedby-label, --helm-debug --reorder"}


def app_options(value: str, **extra: str) -> dict[str, str]:
    return {"ARGOCD_APP_PARAMETERS": params(build_options=value), **extra}


def test_allowlisted_app_options_follow_the_admin_options() -> None:
    environ = {**ALLOW, **app_options("--enable-managedby-label --reorder none")}
    environ["CONFIGHASH_BUILD_OPTIONS"] = "--load-restrictor LoadRestrictionsNone"
    s = resolve(environ)
    assert s.build_options(["--passed"]) == [
        "--load-restrictor",
        "LoadRestrictionsNone",
        "--enable-managedby-label",
        "--reorder",
        "none",
        "--passed",
    ]


def test_option_with_equals_value_is_checked_by_name() -> None:
    s = resolve({**ALLOW, **app_options("--reorder=legacy --helm-debug=true")})
    assert s.app_build_options == ("--reorder=legacy", "--helm-debug=true")


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        ("--enable-exec", "--enable-exec"),
        ("--enable-helm", "--enable-helm"),
        ("--load-restrictor LoadRestrictionsNone", "--load-restrictor"),
        ("--load-restrictor=LoadRestrictionsNone", "--load-restrictor"),
        ("--enable-managedby-label --enable-alpha-plugins", "--enable-alpha-plugins"),
        ("-o /tmp/out", "-o"),
        ("--reorde", "--reorde"),
    ],
)
def test_options_outside_the_allowlist_are_refused(value: str, refused: str) -> None:
    with pytest.raises(SettingsError) as info:
        resolve({**ALLOW, **app_options(value)})
    message = str(info.value)
    assert message.startswith(f"invalid setting build-options: option {refused} ")
    assert "CONFIGHASH_ALLOWED_BUILD_OPTIONS" in message
    assert "\n" not in message


def test_admin_only_options_say_so() -> None:
    with pytest.raises(SettingsError, match="run programs or touch files outside"):
        resolve(app_options("--enable-exec"))
    with pytest.raises(SettingsError) as info:
        resolve(app_options("--reorder none"))
    assert "run programs" not in str(info.value)


def test_admin_only_options_pass_when_the_admin_allowlists_them() -> None:
    environ = {"CONFIGHASH_ALLOWED_BUILD_OPTIONS": "--enable-helm", **app_options("--enable-helm")}
    assert resolve(environ).app_build_options == ("--enable-helm",)


def test_no_allowlist_means_no_app_options() -> None:
    with pytest.raises(SettingsError, match="option --enable-managedby-label"):
        resolve(app_options("--enable-managedby-label"))


def test_app_options_from_env_and_param_vars_are_checked_too() -> None:
    with pytest.raises(SettingsError, match=r"\(from ARGOCD_ENV_build-options\)"):
        resolve({"ARGOCD_ENV_build-options": "--enable-exec"})
    with pytest.raises(SettingsError, match=r"\(from PARAM_BUILD_OPTIONS\)"):
        resolve({"PARAM_BUILD_OPTIONS": "--enable-exec"})


@pytest.mark.parametrize(
    "value",
    ["../other", "--reorder none extra", "--reorder=none extra", "--", "--reorder -- x", "-"],
)
def test_positional_arguments_are_refused(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^invalid setting build-options: .* is not an option"):
        resolve({**ALLOW, **app_options(value)})


def test_admin_options_are_never_checked() -> None:
    s = resolve({"CONFIGHASH_BUILD_OPTIONS": "--enable-exec --enable-alpha-plugins"})
    assert s.build_options() == ["--enable-exec", "--enable-alpha-plugins"]


@pytest.mark.parametrize("raw", ["enable-helm", "--load-restrictor=LoadRestrictionsNone", "--"])
def test_malformed_allowlist(raw: str) -> None:
    with pytest.raises(SettingsError, match=r"^invalid setting CONFIGHASH_ALLOWED_BUILD_OPTIONS:"):
        resolve({"CONFIGHASH_ALLOWED_BUILD_OPTIONS": raw, **app_options("--x")})


# --- helm ---------------------------------------------------------------------------------------

KUBE = {
    "KUBE_VERSION": "1.29.3",
    "KUBE_API_VERSIONS": "apps/v1,apps/v1/Deployment,v1,v1/ConfigMap",
}


def test_helm_gets_the_cluster_versions_when_enabled() -> None:
    s = resolve({**KUBE, "CONFIGHASH_BUILD_OPTIONS": "--enable-helm"})
    assert s.build_options() == [
        "--enable-helm",
        "--helm-kube-version",
        "1.29.3",
        "--helm-api-versions",
        "apps/v1",
        "--helm-api-versions",
        "apps/v1/Deployment",
        "--helm-api-versions",
        "v1",
        "--helm-api-versions",
        "v1/ConfigMap",
    ]


def test_no_helm_no_versions() -> None:
    assert resolve(KUBE).build_options() == []
    s = resolve({**KUBE, "CONFIGHASH_BUILD_OPTIONS": "--enable-helm=false"})
    assert s.build_options() == ["--enable-helm=false"]


def test_helm_versions_given_explicitly_are_kept() -> None:
    s = resolve({**KUBE, "CONFIGHASH_BUILD_OPTIONS": "--enable-helm --helm-kube-version=1.30.0"})
    options = s.build_options()
    assert "1.29.3" not in options and "--helm-api-versions" in options


def test_helm_enabled_by_an_allowlisted_app_option() -> None:
    environ = {
        **KUBE,
        "KUBE_API_VERSIONS": "",
        "CONFIGHASH_ALLOWED_BUILD_OPTIONS": "--enable-helm",
        **app_options("--enable-helm"),
    }
    assert resolve(environ).build_options() == ["--enable-helm", "--helm-kube-version", "1.29.3"]


def test_empty_kube_version_adds_nothing() -> None:
    s = resolve({"KUBE_VERSION": "", "CONFIGHASH_BUILD_OPTIONS": "--enable-helm"})
    assert s.build_options() == ["--enable-helm"]


# --- precision ---------------------------------------------------------------------------------


def test_precision_defaults_to_key_and_follows_parameter_then_flag() -> None:
    assert resolve({}).precision == "key"
    environ = {"ARGOCD_APP_PARAMETERS": params(precision="object")}
    assert resolve(environ).precision == "object"
    assert resolve(environ, Flags(precision="key")).precision == "key"
    assert resolve({"ARGOCD_ENV_precision": "object"}).precision == "object"


def test_unknown_precision_is_refused_naming_its_origin() -> None:
    with pytest.raises(SettingsError, match=r"precision: 'keys' \(from parameter precision\)"):
        resolve({"ARGOCD_APP_PARAMETERS": params(precision="keys")})
