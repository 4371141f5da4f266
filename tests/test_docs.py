"""docs/usage.md, plugin.yaml and the parser name the same parameters with the same types."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from cmp import overrides, renderers, settings

ROOT = Path(__file__).resolve().parents[1]
USAGE = ROOT / "docs" / "usage.md"


def _tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table of ``text``: its rows (header first, the --- row left out) of cells."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def documented_parameters() -> dict[str, str]:
    """Each parameter docs/usage.md lists in a table's Parameter column, with that row's type
    (the Type or Values cell) as written."""
    found: dict[str, str] = {}
    for header, *rows in _tables(USAGE.read_text()):
        if "Parameter" not in header:
            continue
        column = header.index("Parameter")
        kind = header.index("Type") if "Type" in header else header.index("Values")
        for row in rows:
            for name in re.findall(r"`([^`]+)`", row[column]):
                found[name] = row[kind]
    return found


def declared() -> dict[str, str]:
    plugin = yaml.safe_load((ROOT / "plugin.yaml").read_text())
    static = plugin["spec"]["parameters"]["static"]
    return {p["name"]: p.get("collectionType", "string") for p in static}


def test_usage_documents_every_parameter_plugin_yaml_announces_and_no_other() -> None:
    assert set(documented_parameters()) == set(declared())


def test_parser_knows_every_parameter_plugin_yaml_announces() -> None:
    parsed = set(settings.PARAMETER_DEFAULTS) | set(renderers.PARAMETERS)
    parsed |= {n for n in overrides.PARAMETERS if n != "version"}  # version is refused
    assert parsed == set(declared())


def test_documented_type_agrees_with_the_announced_collection_type() -> None:
    documented = documented_parameters()
    for name, kind in declared().items():
        text = documented[name]
        if kind in ("array", "map"):
            assert text.startswith(kind), (name, kind, text)
        else:
            assert not text.startswith(("array", "map")), (name, kind, text)
