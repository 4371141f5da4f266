"""The command line: exit codes, one-line errors with nothing on stdout, and `build` with the real
kustomize (`kubectl kustomize`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import EXAMPLES, assert_failed_cleanly, envfrom_deployment, find, ours, run_cli, stamp

from cmp import __version__, pipeline

PRODUCTION = EXAMPLES / "overlays" / "production"
KUBECTL = shutil.which("kubectl")
ROOT = Path(__file__).resolve().parents[1]

SIMPLE = b"""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
data:
  a: x
---
""" + envfrom_deployment("ConfigMap/cm").encode()


def _environ(**extra: str) -> dict[str, str]:
    """A minimal environment in which kubectl can run."""
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return {**base, **extra}


@pytest.fixture(scope="module")
def production_render() -> bytes:
    assert KUBECTL is not None, "kubectl is required: the build tests must run"
    return subprocess.run(
        [KUBECTL, "kustomize", str(PRODUCTION)], check=True, capture_output=True, timeout=120
    ).stdout


def test_kubectl_is_on_path() -> None:
    assert KUBECTL is not None, "kubectl is required: the build tests must run"


# --- stamp and exit codes ----------------------------------------------------------------------


def test_stamp_from_stdin_exits_0_with_the_stamped_stream() -> None:
    run = run_cli(["stamp", "-"], SIMPLE)
    assert run.code == 0
    assert run.stderr == ""
    assert run.stdout == stamp(SIMPLE).output
    assert "confighash.dev/checksum" in ours(find(run.stdout, "Deployment", "web"))


def test_stamp_reads_stdin_by_default_and_a_file_by_name(tmp_path: Path) -> None:
    path = tmp_path / "render.yaml"
    path.write_bytes(SIMPLE)
    assert run_cli(["stamp"], SIMPLE).stdout == run_cli(["stamp", str(path)]).stdout
    assert run_cli(["stamp", str(path)]).stdout == stamp(SIMPLE).output


USAGE_ERRORS = [
    pytest.param([], id="no-command"),
    pytest.param(["frobnicate"], id="unknown-command"),
    pytest.param(["stamp", "--bogus"], id="unknown-option"),
    pytest.param(["stamp", "a.yaml", "b.yaml"], id="two-files"),
    pytest.param(["stamp", "-", "--", "--enable-helm"], id="passthrough-to-stamp"),
    pytest.param(["stamp", "--annotation-prefix"], id="option-without-value"),
    pytest.param(["--no-such-flag"], id="unknown-top-level-option"),
]


@pytest.mark.parametrize("argv", USAGE_ERRORS)
def test_wrong_usage_exits_2_with_one_error_line(argv: list[str]) -> None:
    run = run_cli(argv, SIMPLE)
    assert_failed_cleanly(run, code=2)


INPUT_ERRORS = [
    pytest.param(["stamp", "-"], b"kind: ConfigMap\nmetadata: {name: [\n", id="malformed-stdin"),
    pytest.param(["stamp", "/nonexistent/render.yaml"], b"", id="missing-file"),
    pytest.param(["stamp", "-"], b"kind: A\n---x\n", id="bad-separator"),
    pytest.param(
        ["stamp", "--secret-key-file", "/nonexistent/key", "-"], SIMPLE, id="missing-key-file"
    ),
    pytest.param(["stamp", "--annotation-prefix=Not_A_Domain", "-"], SIMPLE, id="bad-prefix"),
    pytest.param(["stamp", "-"], b"", id="empty-stream"),
    pytest.param(
        ["stamp", "--strict", "-"],
        SIMPLE.replace(b"name: cm\n", b"name: elsewhere\n", 2).replace(
            b"  name: elsewhere\ndata", b"  name: cm\ndata"
        )
        + b"        - secretRef:\n            name: missing\n",
        id="strict-missing-reference",
    ),
]


@pytest.mark.parametrize(("argv", "stdin"), INPUT_ERRORS)
def test_failure_exits_1_with_one_error_line_and_empty_stdout(
    argv: list[str], stdin: bytes
) -> None:
    assert_failed_cleanly(run_cli(argv, stdin), code=1)


def test_strict_failure_prints_only_the_error_even_with_other_warnings() -> None:
    # a consumed Secret gives the unkeyed warning; the missing reference fails under --strict
    data = (
        SIMPLE.replace(b"kind: ConfigMap", b"kind: Secret").replace(b"\ndata:", b"\nstringData:")
    ).replace(
        b"        - configMapRef:\n            name: cm\n",
        b"        - secretRef:\n            name: cm\n        - configMapRef:\n"
        b"            name: absent\n",
    )
    line = assert_failed_cleanly(run_cli(["stamp", "--strict", "-"], data))
    assert "ConfigMap absent" in line


def test_internal_error_is_one_line_without_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: bytes, opts: pipeline.Options) -> pipeline.Result:
        raise RuntimeError("boom")

    monkeypatch.setattr(pipeline, "stamp", broken)
    run = run_cli(["stamp", "-"], SIMPLE)
    assert run.code == 1
    assert run.stdout == b""
    assert "Traceback" not in run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith("confighash: ")
    assert "RuntimeError" in line
    assert "--debug" in line
    debug = run_cli(["stamp", "--debug", "-"], SIMPLE)
    assert debug.code == 1
    assert debug.stdout == b""
    assert "Traceback" in debug.stderr
    assert "boom" in debug.stderr


# --- version -----------------------------------------------------------------------------------


def test_version_via_main() -> None:
    run = run_cli(["--version"])
    assert run.code == 0
    assert run.stdout.decode().strip() == f"confighash {__version__}"


def test_version_via_python_dash_m() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cmp", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"confighash {__version__}"
    assert proc.stderr == ""


def test_python_dash_m_stamps_stdin_and_fails_cleanly() -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "cmp", "stamp", "-"],
        input=SIMPLE,
        capture_output=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert ok.returncode == 0
    assert ok.stdout == stamp(SIMPLE).output
    bad = subprocess.run(
        [sys.executable, "-m", "cmp", "stamp", "-"],
        input=b"- not a mapping\n",
        capture_output=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stdout == b""
    assert bad.stderr.decode().count("\n") == 1
    assert bad.stderr.startswith(b"confighash: error: document 1")
    usage = subprocess.run(
        [sys.executable, "-m", "cmp"], capture_output=True, timeout=60, cwd=ROOT, check=False
    )
    assert usage.returncode == 2
    assert usage.stdout == b""
    assert usage.stderr.decode().count("\n") == 1
    assert usage.stderr.startswith(b"confighash: error:")


# --- build -------------------------------------------------------------------------------------


def test_build_on_the_example_equals_stamp_of_kubectl_kustomize(production_render: bytes) -> None:
    run = run_cli(["build", str(PRODUCTION)], environ=_environ())
    assert run.code == 0, run.stderr
    assert run.stdout == stamp(production_render).output
    backend = ours(find(run.stdout, "Deployment", "prod-backend"))
    assert "configmap.confighash.dev/prod-backend-config" in backend
    assert "secret.confighash.dev/prod-backend-db" in backend
    report = ours(find(run.stdout, "CronJob", "prod-backend-report"))
    assert "secret.confighash.dev/prod-report-smtp" in report


def test_build_defaults_to_the_current_directory(
    production_render: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(PRODUCTION)
    run = run_cli(["build"], environ=_environ())
    assert run.code == 0, run.stderr
    assert run.stdout == stamp(production_render).output


@pytest.mark.parametrize(
    ("argv", "extra_env"),
    [
        pytest.param(["--kustomize", str(KUBECTL)], {}, id="flag-absolute-path"),
        pytest.param(["--kustomize", "kubectl"], {}, id="flag-name-on-path"),
        pytest.param([], {"KUSTOMIZE_BIN": str(KUBECTL)}, id="KUSTOMIZE_BIN"),
        pytest.param(
            ["--kustomize", str(KUBECTL)],
            {"KUSTOMIZE_BIN": "/nonexistent/kustomize"},
            id="flag-wins",
        ),
    ],
)
def test_build_with_an_explicit_kustomize(
    production_render: bytes, argv: list[str], extra_env: dict[str, str]
) -> None:
    run = run_cli(["build", *argv, str(PRODUCTION)], environ=_environ(**extra_env))
    assert run.code == 0, run.stderr
    assert run.stdout == stamp(production_render).output


@pytest.mark.parametrize(
    ("argv", "extra_env"),
    [
        pytest.param(["--kustomize", "/nonexistent/kustomize"], {}, id="flag"),
        pytest.param([], {"KUSTOMIZE_BIN": "/nonexistent/kustomize"}, id="KUSTOMIZE_BIN"),
        pytest.param(["--kustomize", "no-such-kustomize-binary"], {}, id="name-not-on-path"),
    ],
)
def test_missing_kustomize_binary_is_a_clean_error(
    argv: list[str], extra_env: dict[str, str]
) -> None:
    run = run_cli(["build", *argv, str(PRODUCTION)], environ=_environ(**extra_env))
    line = assert_failed_cleanly(run)
    assert "kustomize" in line
    assert "not found" in line


def test_no_kustomize_and_no_kubectl_on_path_is_a_clean_error(tmp_path: Path) -> None:
    run = run_cli(["build", str(PRODUCTION)], environ={"PATH": str(tmp_path)})
    line = assert_failed_cleanly(run)
    assert "kubectl" in line


def _broken_app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "kustomization.yaml").write_text("resources:\n- missing-resource.yaml\n")
    return app


def test_broken_kustomization_passes_on_kustomizes_message(tmp_path: Path) -> None:
    run = run_cli(["build", str(_broken_app(tmp_path))], environ=_environ())
    line = assert_failed_cleanly(run)
    assert "kustomize" in line
    assert "missing-resource.yaml" in line  # kustomize's own words


def test_build_of_a_directory_without_kustomization_or_manifests_fails_cleanly(
    tmp_path: Path,
) -> None:
    # no kustomization file and no Chart.yaml: a plain directory, as Argo CD finds it (issue 11)
    line = assert_failed_cleanly(run_cli(["build", str(tmp_path)], environ=_environ()))
    assert "the stream has no objects" in line


def _app_reading_outside_its_directory(tmp_path: Path) -> Path:
    (tmp_path / "shared.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  a: x\n"
    )
    app = tmp_path / "app"
    app.mkdir()
    (app / "kustomization.yaml").write_text("resources:\n- ../shared.yaml\n")
    return app


def test_arguments_after_double_dash_reach_kustomize(tmp_path: Path) -> None:
    app = _app_reading_outside_its_directory(tmp_path)
    refused = run_cli(["build", str(app)], environ=_environ())
    assert "security" in assert_failed_cleanly(refused) or "outside" in refused.stderr
    allowed = run_cli(
        ["build", str(app), "--", "--load-restrictor", "LoadRestrictionsNone"], environ=_environ()
    )
    assert allowed.code == 0, allowed.stderr
    assert b"name: shared" in allowed.stdout


def test_build_options_string_reaches_kustomize(tmp_path: Path) -> None:
    app = _app_reading_outside_its_directory(tmp_path)
    by_flag = run_cli(
        ["build", "--build-options", "--load-restrictor LoadRestrictionsNone", str(app)],
        environ=_environ(),
    )
    assert by_flag.code == 0, by_flag.stderr
    by_env = run_cli(
        ["build", str(app)],
        environ=_environ(CONFIGHASH_BUILD_OPTIONS="--load-restrictor LoadRestrictionsNone"),
    )
    assert by_env.code == 0, by_env.stderr
    assert by_flag.stdout == by_env.stdout


# --- empty streams -----------------------------------------------------------------------------

EMPTY_STREAMS = [
    pytest.param(b"", id="nothing"),
    pytest.param(b"\n\n", id="blank-lines"),
    pytest.param(b"# just a comment\n", id="comment"),
    pytest.param(b"---\n---\n", id="only-separators"),
    pytest.param(b"---\nnull\n", id="null-document"),
    pytest.param(b"~\n---\n# c\n", id="tilde-document"),
]


@pytest.mark.parametrize("data", EMPTY_STREAMS)
def test_empty_stream_is_refused(data: bytes) -> None:
    line = assert_failed_cleanly(run_cli(["stamp", "-"], data))
    assert "--allow-empty" in line


@pytest.mark.parametrize("data", EMPTY_STREAMS)
def test_empty_stream_is_passed_through_with_allow_empty(data: bytes) -> None:
    run = run_cli(["stamp", "--allow-empty", "-"], data)
    assert run.code == 0
    assert run.stdout == data
    assert run.stderr == ""


def test_build_of_an_empty_app_is_refused_unless_allowed(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\n")
    refused = run_cli(["build", str(tmp_path)], environ=_environ())
    assert "--allow-empty" in assert_failed_cleanly(refused)
    allowed = run_cli(["build", "--allow-empty", str(tmp_path)], environ=_environ())
    assert allowed.code == 0, allowed.stderr
    assert allowed.stdout.strip() in (b"", b"{}")


def test_build_options_value_of_a_single_dashed_word_is_taken_as_the_value(tmp_path: Path) -> None:
    """`--build-options "--enable-helm"` must not be read as an unknown flag of confighash's."""
    app = _app_reading_outside_its_directory(tmp_path)
    (tmp_path / "app" / "kustomization.yaml").write_text("resources:\n- cm.yaml\n")
    (tmp_path / "app" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n"
    )
    run = run_cli(["build", "--build-options", "--enable-helm", str(app)], environ=_environ())
    assert run.code == 0, run.stderr
    assert b"name: local" in run.stdout


def test_help_without_a_command_lists_all_four_commands() -> None:
    run = run_cli(["--help"])
    assert run.code == 0
    text = run.stdout.decode()
    for command in ("build", "stamp", "explain", "diff"):
        assert f"\n    {command} " in text, text


@pytest.mark.parametrize(
    ("command", "present", "absent"),
    [
        ("build", ["DIR", "--kustomize", "--build-options"], ["--stream", "--exit-code"]),
        ("stamp", ["FILE", "--strict", "--secret-key-file"], ["--kustomize", "--stream"]),
        ("explain", ["--stream", "--kustomize", "--output"], ["--exit-code"]),
        ("diff", ["OLD", "NEW", "--exit-code", "--kustomize"], ["--stream"]),
    ],
)
def test_each_command_parsed_on_its_own_keeps_its_own_options(
    command: str, present: list[str], absent: list[str]
) -> None:
    # main() builds only the parser of the command being run; its help must be complete
    run = run_cli([command, "--help"])
    assert run.code == 0, run
    text = run.stdout.decode()
    assert text.startswith(f"usage: confighash {command} "), text
    for word in present:
        assert word in text, (word, text)
    for word in absent:
        assert word not in text, (word, text)


@pytest.mark.parametrize("argv", [["build"], ["stamp"], ["explain"], ["diff", "old", "new"]])
def test_an_unknown_option_of_each_command_is_one_usage_error_line(argv: list[str]) -> None:
    line = assert_failed_cleanly(run_cli([*argv, "--no-such-option"]), code=2)
    assert "--no-such-option" in line
