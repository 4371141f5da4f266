"""-f/--filename names the input file, as in kubectl, beside the positional forms (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import EXAMPLES, assert_failed_cleanly, run_cli


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = run_cli(["build", str(EXAMPLES / "overlays" / "production")])
    assert run.code == 0, run.stderr
    path = tmp_path_factory.mktemp("stream") / "rendered.yaml"
    path.write_bytes(run.stdout)
    return path


@pytest.mark.parametrize("flag", ["-f", "--filename"])
def test_stamp_reads_the_file_named_by_filename_as_by_the_positional(
    stream: Path, flag: str
) -> None:
    by_flag = run_cli(["stamp", flag, str(stream)])
    positional = run_cli(["stamp", str(stream)])
    assert by_flag.code == positional.code == 0
    assert by_flag.stdout == positional.stdout != b""


def test_stamp_filename_dash_reads_stdin(stream: Path) -> None:
    data = stream.read_bytes()
    assert run_cli(["stamp", "-f", "-"], data).stdout == run_cli(["stamp", "-"], data).stdout


def test_stamp_refuses_both_a_positional_file_and_filename(stream: Path) -> None:
    line = assert_failed_cleanly(run_cli(["stamp", "-f", str(stream), str(stream)]), code=2)
    assert "not both" in line


@pytest.mark.parametrize("flag", ["-f", "--filename", "--stream"])
def test_explain_reads_a_stream_with_filename_or_stream(stream: Path, flag: str) -> None:
    run = run_cli(["explain", flag, str(stream), "-o", "json"])
    assert run.code == 0, run.stderr
    assert b'"workloads"' in run.stdout


@pytest.mark.parametrize("command", ["stamp", "explain"])
def test_filename_is_in_each_reading_command_s_help(command: str) -> None:
    run = run_cli([command, "--help"])
    assert run.code == 0
    assert b"-f FILE, --filename FILE" in run.stdout
