"""Flags as kubectl and cobra/pflag users write them (issue 13): ``--flag=false``, no prefix
matching, Go durations, a ``version`` command, one exit status for every usage error, namespaces
checked as DNS labels, and no options a command would ignore."""

from __future__ import annotations

import argparse

import pytest
from helpers import assert_failed_cleanly, envfrom_deployment, run_cli

from cmp import __version__, cli
from cmp.errors import SettingsError
from cmp.settings import Flags, resolve

USAGE = 2  # README.md and docs/ci.md: 2 for wrong usage

# a Deployment that reads a ConfigMap absent from the stream: a warning, an error under --strict
MISSING_REFERENCE = envfrom_deployment("ConfigMap/absent")

BOOLEAN_FLAGS = ["--strict", "--include-jobs", "--include-image-pull-secrets", "--allow-empty"]
TRUE_SPELLINGS = ["1", "t", "T", "true", "TRUE", "True"]
FALSE_SPELLINGS = ["0", "f", "F", "false", "FALSE", "False"]


def _stamp_args(*words: str) -> argparse.Namespace:
    return cli.parser("stamp").parse_args(["stamp", *words])


# --- 1. --flag=true / --flag=false ------------------------------------------------------------


def test_strict_equals_false_turns_strict_off_even_when_the_parameter_sets_it() -> None:
    run = run_cli(["stamp", "--strict=false", "-"], MISSING_REFERENCE, {"PARAM_STRICT": "true"})
    assert run.code == 0, run
    assert "ConfigMap absent" in run.stderr  # a warning, not an error
    assert run.stdout


def test_strict_equals_true_fails_on_a_missing_reference() -> None:
    line = assert_failed_cleanly(run_cli(["stamp", "--strict=true", "-"], MISSING_REFERENCE))
    assert "--strict is set" in line


@pytest.mark.parametrize("flag", BOOLEAN_FLAGS)
@pytest.mark.parametrize("value", TRUE_SPELLINGS)
def test_every_boolean_flag_takes_each_parsebool_true_spelling(flag: str, value: str) -> None:
    args = _stamp_args(f"{flag}={value}")
    assert getattr(args, flag[2:].replace("-", "_")) is True


@pytest.mark.parametrize("flag", BOOLEAN_FLAGS)
@pytest.mark.parametrize("value", FALSE_SPELLINGS)
def test_every_boolean_flag_takes_each_parsebool_false_spelling(flag: str, value: str) -> None:
    args = _stamp_args(f"{flag}={value}")
    assert getattr(args, flag[2:].replace("-", "_")) is False


@pytest.mark.parametrize("flag", BOOLEAN_FLAGS)
def test_the_no_form_and_the_bare_flag_still_work(flag: str) -> None:
    dest = flag[2:].replace("-", "_")
    assert getattr(_stamp_args(flag), dest) is True
    assert getattr(_stamp_args(f"--no-{flag[2:]}"), dest) is False
    assert getattr(_stamp_args(), dest) is None


@pytest.mark.parametrize("value", ["bogus", "yes", "no", "", "tRuE", "2"])
def test_strict_with_a_value_parsebool_refuses_is_a_usage_error(value: str) -> None:
    line = assert_failed_cleanly(run_cli(["stamp", f"--strict={value}", "-"]), code=USAGE)
    assert "--strict" in line
    assert "invalid boolean value" in line


def test_strict_space_false_does_not_take_false_as_its_value() -> None:
    # as pflag: only `=` gives a boolean flag a value; `false` is the FILE operand
    args = _stamp_args("--strict", "false")
    assert args.strict is True
    assert args.file == "false"


# --- 2. no prefix matching --------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["stamp", "--stric", "-"],
        ["stamp", "--strict-", "-"],
        ["stamp", "--annotation", "x", "-"],
        ["stamp", "--prec=key", "-"],
        ["build", "--timeo", "30s"],
        ["build", "--build-opt", "--enable-helm"],
        ["diff", "--exit", "a", "b"],
        ["explain", "--str", "-"],
        ["--vers"],
    ],
)
def test_an_abbreviated_long_option_is_refused(argv: list[str]) -> None:
    assert_failed_cleanly(run_cli(argv), code=USAGE)


def test_build_options_value_starting_with_a_dash_still_reaches_the_option() -> None:
    args = cli.parser("build").parse_args(
        cli._attach_option_values(["build", "--build-options", "--enable-helm", "dir"])
    )
    assert args.build_options == "--enable-helm"
    assert args.directory == "dir"


# --- 3. Go durations for --timeout and CONFIGHASH_TIMEOUT --------------------------------------

DURATIONS = [
    ("30s", 30.0),
    ("2m", 120.0),
    ("1m30s", 90.0),
    ("1h", 3600.0),
    ("500ms", 0.5),
    ("1.5s", 1.5),
    ("1h2m3s", 3723.0),
    ("1.5h", 5400.0),
    (".5s", 0.5),
    ("2000us", 0.002),
    ("2000\u00b5s", 0.002),
    ("1000000000ns", 1.0),
    ("+1m", 60.0),
    ("90", 90.0),
    ("2.5", 2.5),
]
BAD_DURATIONS = ["0", "0s", "-1s", "-5", "abc", "1x", "1", "s", "1m30", "1 m", "1d", "inf", "nan"]
BAD_DURATIONS.remove("1")  # a plain number of seconds is valid


@pytest.mark.parametrize(("raw", "seconds"), DURATIONS)
def test_timeout_flag_takes_go_durations_and_plain_seconds(raw: str, seconds: float) -> None:
    assert resolve({}, Flags(timeout=raw)).timeout == pytest.approx(seconds)
    args = cli.parser("build").parse_args(["build", f"--timeout={raw}"])
    assert args.timeout == raw


@pytest.mark.parametrize(("raw", "seconds"), DURATIONS)
def test_confighash_timeout_takes_the_same_forms(raw: str, seconds: float) -> None:
    assert resolve({"CONFIGHASH_TIMEOUT": raw}).timeout == pytest.approx(seconds)


@pytest.mark.parametrize("raw", BAD_DURATIONS)
def test_a_bad_or_non_positive_timeout_flag_is_a_usage_error(raw: str) -> None:
    line = assert_failed_cleanly(run_cli(["build", f"--timeout={raw}", "."]), code=USAGE)
    assert "--timeout" in line


@pytest.mark.parametrize("raw", BAD_DURATIONS)
def test_a_bad_confighash_timeout_is_a_setting_error(raw: str) -> None:
    with pytest.raises(SettingsError, match=r"^invalid setting CONFIGHASH_TIMEOUT:"):
        resolve({"CONFIGHASH_TIMEOUT": raw})


# --- 4. version subcommand --------------------------------------------------------------------


def test_version_subcommand_prints_the_same_line_as_the_version_flag() -> None:
    flag = run_cli(["--version"])
    command = run_cli(["version"])
    assert command.code == 0, command
    assert command.stdout == flag.stdout == f"confighash {__version__}\n".encode()
    assert command.stderr == ""


def test_version_subcommand_takes_no_arguments() -> None:
    assert_failed_cleanly(run_cli(["version", "extra"]), code=USAGE)


# --- 5. one exit status for usage errors ------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["build", "--timeout", "soon", "."], id="bad-timeout"),
        pytest.param(["stamp", "--precision", "exact", "-"], id="bad-precision"),
        pytest.param(["stamp", "--strict=maybe", "-"], id="bad-boolean"),
        pytest.param(["stamp", "--namespace", "Bad_NS", "-"], id="bad-namespace"),
        pytest.param(["explain", "--output", "pdf", "-"], id="bad-output"),
    ],
)
def test_every_bad_flag_value_exits_with_the_usage_status(argv: list[str]) -> None:
    assert_failed_cleanly(run_cli(argv), code=USAGE)


# --- 6. namespaces are DNS labels -------------------------------------------------------------


@pytest.mark.parametrize(
    "namespace",
    ["Shop", "shop_1", "-shop", "shop-", "shop.prod", "a" * 64, "sh op", "sh\u00f6p"],
)
def test_a_namespace_that_is_not_a_dns_label_is_one_named_usage_error(namespace: str) -> None:
    forms = [[f"--namespace={namespace}"], ["--namespace", namespace], ["-n", namespace]]
    for words in forms[: 1 if namespace.startswith("-") else 3]:  # `-n -shop` is two options
        line = assert_failed_cleanly(run_cli(["stamp", *words, "-"]), code=USAGE)
        assert "invalid namespace" in line
        assert "DNS label" in line


@pytest.mark.parametrize("namespace", ["shop", "a", "0", "shop-prod-1", "a" * 63])
def test_a_dns_label_namespace_is_accepted(namespace: str) -> None:
    assert _stamp_args("-n", namespace).namespace == namespace


# --- 7. no options a command would ignore -----------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["explain", "--strict", "--stream", "-"],
        ["explain", "--no-strict", "--stream", "-"],
        ["explain", "--strict=true", "--stream", "-"],
        ["explain", "--allow-empty", "--stream", "-"],
    ],
)
def test_explain_and_diff_refuse_options_they_would_ignore(argv: list[str]) -> None:
    line = assert_failed_cleanly(run_cli(argv), code=USAGE)
    assert "unrecognized arguments" in line


def test_diff_keeps_strict_which_fails_it_on_a_missing_reference() -> None:
    args = cli.parser("diff").parse_args(["diff", "--strict=true", "a", "b"])
    assert args.strict is True


@pytest.mark.parametrize(
    ("command", "absent"),
    [("explain", ["--strict", "--allow-empty"])],
)
def test_help_does_not_offer_the_ignored_options(command: str, absent: list[str]) -> None:
    text = run_cli([command, "--help"]).stdout.decode()
    for word in absent:
        assert word not in text, (word, text)
