"""cmp.stream: the stream is cut where Argo CD cuts it, and joining the pieces gives it back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import RENDERS
from oracle import objects

from cmp import stream
from cmp.errors import InputError

Oracle = Callable[[bytes], list[dict[str, Any]]]


def _ids(paths: list[Path]) -> list[str]:
    return [f"{p.parent.parent.name}/{p.name}" for p in paths]


def test_corpus_is_present() -> None:
    assert len(RENDERS) >= 20


@pytest.mark.parametrize("path", RENDERS, ids=_ids(RENDERS))
def test_split_then_join_gives_back_every_corpus_render(path: Path) -> None:
    data = path.read_bytes()
    pieces, documents = stream.split(data)
    assert stream.join(pieces, {}) == data
    assert len(documents) == data.count(b"\n---\n") + 1  # kustomize writes plain separators


# (stream, the raw bytes of each document Argo CD would read, the first line of each)
EDGE_STREAMS = [
    pytest.param(b"kind: A\n---\nkind: B\n", [b"kind: A\n", b"kind: B\n"], [1, 3], id="plain"),
    pytest.param(
        b"kind: A\r\n---\r\nkind: B\r\n", [b"kind: A\r\n", b"kind: B\r\n"], [1, 3], id="crlf"
    ),
    pytest.param(
        b"\xef\xbb\xbfkind: A\n---\nkind: B\n",
        [b"\xef\xbb\xbfkind: A\n", b"kind: B\n"],
        [1, 3],
        id="bom-stays-on-first-document",
    ),
    pytest.param(
        b"kind: A\n---\nkind: B", [b"kind: A\n", b"kind: B"], [1, 3], id="no-trailing-newline"
    ),
    pytest.param(b"kind: A", [b"kind: A"], [1], id="single-document-no-newline"),
    pytest.param(
        b"kind: A\n--- # next one\nkind: B\n",
        [b"kind: A\n", b"kind: B\n"],
        [1, 3],
        id="separator-with-comment",
    ),
    pytest.param(
        b"kind: A\n---   \t\nkind: B\n",
        [b"kind: A\n", b"kind: B\n"],
        [1, 3],
        id="separator-with-trailing-blanks",
    ),
    pytest.param(b"---\nkind: A\n", [b"kind: A\n"], [2], id="leading-separator"),
    pytest.param(b"kind: A\n---\n", [b"kind: A\n"], [1], id="trailing-separator"),
    pytest.param(b"kind: A\n---", [b"kind: A\n"], [1], id="trailing-separator-no-newline"),
    pytest.param(
        b"---\n---\n\n---\nkind: A\n---\n---\nkind: B\n",
        [b"kind: A\n", b"kind: B\n"],
        [5, 8],
        id="empty-documents-skipped",
    ),
    pytest.param(
        b"# header\n---\nkind: A\n---\n  # only a comment\n\n---\nkind: B\n",
        [b"kind: A\n", b"kind: B\n"],
        [3, 8],
        id="comment-only-documents-skipped",
    ),
    pytest.param(
        b"kind: A\n# trailing comment\n---\nkind: B\n",
        [b"kind: A\n# trailing comment\n", b"kind: B\n"],
        [1, 4],
        id="comment-kept-with-its-document",
    ),
    pytest.param(
        b"a: |\n  text\n  ---\n  more\nkind: A\n",
        [b"a: |\n  text\n  ---\n  more\nkind: A\n"],
        [1],
        id="indented-dashes-are-content",
    ),
    pytest.param(b"", [], [], id="empty-stream"),
    pytest.param(b"\n\n# nothing\n", [], [], id="blank-and-comment-stream"),
    pytest.param(b"---\nnull\n", [b"null\n"], [2], id="null-document-is-a-document"),
]


@pytest.mark.parametrize(("data", "expected", "lines"), EDGE_STREAMS)
def test_split_edge_streams(data: bytes, expected: list[bytes], lines: list[int]) -> None:
    pieces, documents = stream.split(data)
    assert stream.join(pieces, {}) == data
    assert [d.raw for d in documents] == expected
    assert [d.line for d in documents] == lines
    assert [d.index for d in documents] == list(range(1, len(expected) + 1))
    assert all(pieces[d.piece].raw == d.raw for d in documents)


@pytest.mark.parametrize(("data", "expected", "lines"), EDGE_STREAMS)
def test_split_agrees_with_argocd_on_edge_streams(
    oracle: Oracle, data: bytes, expected: list[bytes], lines: list[int]
) -> None:
    _, documents = stream.split(data)
    ours = [yaml.safe_load(d.raw) for d in documents]
    assert [o for o in ours if o is not None] == objects(oracle(data))


def test_join_replaces_only_the_given_document() -> None:
    data = b"kind: A\r\n--- # x\r\nkind: B\r\n---\r\nkind: C"
    pieces, documents = stream.split(data)
    out = stream.join(pieces, {documents[1].piece: b"kind: Z\r\n"})
    assert out == b"kind: A\r\n--- # x\r\nkind: Z\r\n---\r\nkind: C"


@pytest.mark.parametrize(
    ("data", "line", "shown"),
    [
        pytest.param(b"kind: A\n---x\nkind: B\n", 2, "---x", id="text-glued-to-dashes"),
        pytest.param(b"kind: A\n--- {}\nkind: B\n", 2, "{}", id="flow-map-on-separator"),
        pytest.param(b"kind: A\n\n\n----\nkind: B\n", 4, "----", id="four-dashes"),
        pytest.param(b"--- kind: A\n", 1, "kind: A", id="content-on-first-separator"),
        pytest.param(b"kind: A\r\n--- !!map\r\n", 2, "!!map", id="tag-on-separator-crlf"),
        pytest.param(b"kind: A\n---x", 2, "---x", id="at-end-without-newline"),
    ],
)
def test_separator_with_trailing_content_is_refused_naming_the_line(
    data: bytes, line: int, shown: str
) -> None:
    with pytest.raises(InputError) as caught:
        stream.split(data)
    assert caught.value.where == f"line {line}"
    assert "invalid document separator" in str(caught.value)
    assert shown in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        pytest.param(b"apiVersion: v1\nkind: ConfigMap\n", b"ConfigMap", id="block"),
        pytest.param(b"kind: Secret\r\nmetadata: {}\r\n", b"Secret", id="crlf"),
        pytest.param(b"kind:   Deployment  \n", b"Deployment", id="blanks-around"),
        pytest.param(b'kind: "Deployment"\n', b"Deployment", id="double-quoted"),
        pytest.param(b"kind: 'CronJob'\n", b"CronJob", id="single-quoted"),
        pytest.param(b"spec:\n  kind: X\nkind: Service\n", b"Service", id="nested-kind-ignored"),
        pytest.param(b"kind: Service # a comment\n", None, id="comment-means-look-properly"),
        pytest.param(b'kind: "Service\n', None, id="unbalanced-quote"),
        pytest.param(b"kind:\n", None, id="empty-kind"),
        pytest.param(b"kind: A\nkind: B\n", None, id="two-kinds"),
        pytest.param(b"apiVersion: v1\nkind: List\nitems: []\n", None, id="list-read-per-item"),
        pytest.param(b"kind: ConfigMapList\nitems:\n- kind: ConfigMap\n", None, id="any-items"),
        pytest.param(b"{kind: Deployment}\n", None, id="flow-style"),
        pytest.param(b'{"kind": "Deployment"}\n', None, id="json"),
        pytest.param(b"metadata:\n  name: x\n", None, id="no-kind"),
        pytest.param(b"kind: ''\n", None, id="empty-quoted-kind"),
        pytest.param(b"kind: null\n", None, id="null-kind"),
        pytest.param(b"kind: ~\n", None, id="tilde-kind"),
        pytest.param(b"kind: 5\n", None, id="number-kind"),
        pytest.param(b"kind: Yes\n", None, id="bool-kind"),
        pytest.param(b"kind: !!str Deployment\n", None, id="tagged-kind"),
        pytest.param(b"kind: &k Deployment\n", None, id="anchored-kind"),
        pytest.param(b'kind: "Config\\x4dap"\n', None, id="escaped-kind"),
        pytest.param(b"kind: [\n", None, id="flow-start"),
    ],
)
def test_peek_kind(raw: bytes, kind: bytes | None) -> None:
    assert stream.peek_kind(raw) == kind


def test_document_where_names_position_and_line() -> None:
    _, documents = stream.split(b"kind: A\n---\n\n---\nkind: B\n")
    assert documents[1].where == "document 2 (line 5)"
