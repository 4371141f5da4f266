"""explain's table header and column widths, and the yaml and markdown forms (issue 13)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import CORPUS, EXAMPLES, envfrom_deployment, run_cli, y
from oracle import objects

from cmp import reports

Read = Callable[[bytes], list[dict[str, Any]]]
PRODUCTION = EXAMPLES / "overlays" / "production"
SOURCES = [PRODUCTION, CORPUS / "argo-cd" / "rendered" / "manifests_ha_cluster-install.yaml"]


def explain(source: Path, *extra: str) -> str:
    argv = ["explain", str(source)] if source.is_dir() else ["explain", "--stream", str(source)]
    run = run_cli([*argv, *extra])
    assert run.code == 0, run.stderr
    return run.stdout.decode("utf-8")


@pytest.mark.parametrize("source", SOURCES, ids=["example-production", "argo-cd-ha"])
def test_yaml_report_reads_as_the_json_report_in_pyyaml_and_in_argo_cd_s_reader(
    source: Path, oracle: Read
) -> None:
    as_json = json.loads(explain(source, "-o", "json"))
    text = explain(source, "-o", "yaml")
    assert yaml.safe_load(text) == as_json
    # Argo CD's reader (sigs.k8s.io/yaml) wants a kind; the report's keys are all at top level.
    [read] = objects(oracle(b"kind: Report\n" + text.encode()))
    assert read == {"kind": "Report", **as_json}


def test_yaml_quotes_what_a_yaml_1_1_reader_would_take_for_a_bool_or_number() -> None:
    text = reports._yaml(
        {"a": "y", "b": "off", "c": "1e5", "d": "0x1f", "e": "plain-word", "f": ""}
    )
    assert yaml.safe_load(text) == {
        "a": "y",
        "b": "off",
        "c": "1e5",
        "d": "0x1f",
        "e": "plain-word",
        "f": "",
    }
    assert 'a: "y"' in text and "e: plain-word" in text


def test_markdown_is_the_mermaid_graph_in_a_fenced_block() -> None:
    mermaid = explain(PRODUCTION, "-o", "mermaid")
    markdown = explain(PRODUCTION, "-o", "markdown")
    assert markdown == f"```mermaid\n{mermaid}```\n"


def test_table_starts_with_a_header_row_over_the_source_columns() -> None:
    lines = explain(PRODUCTION).splitlines()
    assert lines[0].split() == list(reports.TABLE_HEADER)
    header = lines[0]
    row = next(line for line in lines if line.strip().startswith("ConfigMap "))
    assert row.index("prod-") == header.index("SOURCE")


def test_one_long_source_name_does_not_widen_every_row() -> None:
    long_name = "a" * 200
    configmaps = y(
        f"""
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {long_name}
        data:
          k: v
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: short
        data:
          k: v
        ---
        """
    )
    stream = configmaps + envfrom_deployment(f"ConfigMap/{long_name}", "ConfigMap/short").encode()
    run = run_cli(["explain", "--stream", "-"], stream)
    assert run.code == 0, run.stderr
    out = run.stdout.decode("utf-8")
    short = next(line for line in out.splitlines() if " short " in line)
    header = out.splitlines()[0]
    assert short.index("envFrom") == header.index("VIA")
    assert header.index("VIA") <= len("  KIND       ") + reports.MAX_CELL + 2
