"""The Go oracle models how Argo CD reads plugin stdout (contract §2.7).

Each test pins one behaviour of the real pipeline (go-yaml v2 typing applied
twice, apimachinery's document splitter, Unstructured's kind check), so a broken
or too-lenient oracle fails here before it can bless bad plugin output.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from oracle import errors, objects

Read = Callable[[bytes], list[dict[str, Any]]]

CORPUS = sorted(Path("/work/shared/corpus").glob("*/rendered/*.yaml"))


def only_object(oracle: Read, stream: bytes) -> dict[str, Any]:
    objs = objects(oracle(stream))
    assert len(objs) == 1, objs
    obj: dict[str, Any] = objs[0]
    return obj


def test_plain_y_is_bool_but_quoted_y_is_string(oracle: Read) -> None:
    obj = only_object(oracle, b'kind: T\nplain: y\nquoted: "y"\n')
    assert obj["plain"] is True
    assert obj["quoted"] == "y"


def test_pyyaml_plain_y_is_misread(oracle: Read) -> None:
    # PyYAML (YAML 1.1 without y/n booleans) emits the string "y" unquoted.
    stream = yaml.safe_dump({"kind": "T", "v": "y"}).encode()
    assert b"v: y\n" in stream
    assert only_object(oracle, stream)["v"] is True


def test_leading_zero_08_is_a_number(oracle: Read) -> None:
    obj = only_object(oracle, b"kind: T\nv: 08\nq: '08'\n")
    assert obj["v"] == 8
    assert not isinstance(obj["v"], str)
    assert obj["q"] == "08"


def test_exponent_without_dot_is_a_number(oracle: Read) -> None:
    obj = only_object(oracle, b"kind: T\nv: 1e3\nq: '1e3'\n")
    assert obj["v"] == 1000
    assert obj["q"] == "1e3"
    # PyYAML reads 1e3 as a string and dumps it unquoted: Argo CD gets a number.
    assert yaml.safe_load("v: 1e3")["v"] == "1e3"
    assert only_object(oracle, yaml.safe_dump({"kind": "T", "v": "1e3"}).encode())["v"] == 1000


def test_separator_followed_by_text_is_an_error(oracle: Read) -> None:
    lines = oracle(b"kind: A\n--- foo\nkind: B\n")
    assert lines == [{"error": "invalid Yaml document separator: foo"}]
    with pytest.raises(AssertionError, match="the stream"):
        objects(lines)


def test_separator_followed_by_comment_is_valid(oracle: Read) -> None:
    lines = oracle(b"kind: A\n---  # comment\nkind: B\n")
    assert objects(lines) == [{"kind": "A"}, {"kind": "B"}]


def test_empty_documents_are_skipped(oracle: Read) -> None:
    stream = b"---\nkind: A\n---\n---\n\n# only a comment\n---\nnull\n---\n~\n---\nkind: B\n---\n"
    lines = oracle(stream)
    assert [line["doc"] for line in lines] == [0, 1]
    assert objects(lines) == [{"kind": "A"}, {"kind": "B"}]


def test_missing_kind_is_an_error_line(oracle: Read) -> None:
    lines = oracle(b"kind: A\n---\napiVersion: v1\nmetadata: {name: x}\n---\nkind: ''\n")
    assert lines[0] == {"doc": 0, "object": {"kind": "A"}}
    assert [line.get("doc") for line in errors(lines)] == [1, 2]
    assert all("Object 'Kind' is missing" in line["error"] for line in errors(lines))
    with pytest.raises(AssertionError, match="doc 1"):
        objects(lines)


def test_top_level_list_is_an_error_line(oracle: Read) -> None:
    lines = oracle(b"- kind: A\n")
    assert len(lines) == 1
    assert lines[0]["doc"] == 0
    assert "not a mapping" in lines[0]["error"]


def test_corpus_is_not_empty() -> None:
    assert len(CORPUS) >= 10, CORPUS


@pytest.mark.parametrize("path", CORPUS, ids=[f"{p.parent.parent.name}/{p.name}" for p in CORPUS])
def test_corpus_reads_without_errors(oracle: Read, path: Path) -> None:
    stream = path.read_bytes()
    lines = oracle(stream)
    assert errors(lines) == []
    # Count documents by composing (not constructing) them: PyYAML cannot construct
    # some valid documents (e.g. a plain "=" value, its YAML 1.1 value-key tag).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    expected = [
        node
        for node in yaml.compose_all(stream, Loader=loader)
        if node is not None and node.tag != "tag:yaml.org,2002:null"
    ]
    objs = objects(lines)
    assert len(objs) == len(expected)
    assert [o["kind"] for o in objs] == [kind_of(node) for node in expected]


def kind_of(node: yaml.Node) -> Any:
    assert isinstance(node, yaml.MappingNode), node
    for key, value in node.value:
        if key.value == "kind":
            return value.value
    return None
