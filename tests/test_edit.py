"""The pod-template edit on every metadata layout: Argo CD reads the original object plus exactly
our annotations, and where a line edit is possible no other byte changes.

Each case is checked three ways: the output composes, the Go oracle's reading of the output equals
its reading of the input with our annotations added, and (for in-place layouts) every input line
survives in order, the new lines being only our annotations and the headers that hold them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from helpers import y
from oracle import objects

from cmp import pipeline
from cmp.annotations import AnnotationKeys
from cmp.edit import quote

Oracle = Callable[[bytes], list[dict[str, Any]]]
KEYS = AnnotationKeys()

SOURCE = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  k: v\n---\n"

ENV_FROM = """\
      containers:
      - name: app
        image: app:1
        envFrom:
        - configMapRef:
            name: cm
"""


def deployment(template_metadata: str, pod_spec: str = ENV_FROM) -> str:
    head = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n"
    return head + template_metadata + "    spec:\n" + pod_spec


# (workload document, True when a line edit is expected to handle it)
LAYOUTS = [
    pytest.param(
        deployment("    metadata:\n      annotations:\n        team: a\n        zz: last\n"),
        True,
        id="annotations-present",
    ),
    pytest.param(
        deployment(
            "    metadata:\n      annotations:\n        checksum/config: abc123\n"
            "      labels:\n        app: web\n"
        ),
        True,
        id="existing-checksum-config-kept",
    ),
    pytest.param(
        deployment("    metadata:\n      labels:\n        app: web\n"),
        True,
        id="annotations-absent",
    ),
    pytest.param(deployment(""), True, id="metadata-absent"),
    pytest.param(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n"
        "    spec:\n" + ENV_FROM + "    metadata:\n      labels:\n        app: web\n",
        True,
        id="metadata-after-spec",
    ),
    pytest.param(deployment("    metadata: {}\n"), False, id="metadata-flow-empty"),
    pytest.param(
        deployment("    metadata: {labels: {app: web}, annotations: {a: b}}\n"),
        False,
        id="metadata-flow-with-content",
    ),
    pytest.param(
        deployment("    metadata:\n      annotations: {}\n      labels:\n        app: web\n"),
        False,
        id="annotations-flow-empty",
    ),
    pytest.param(
        deployment("    metadata:\n      annotations: null\n      labels:\n        app: web\n"),
        False,
        id="annotations-null",
    ),
    pytest.param(
        deployment("    metadata:\n      annotations:\n      labels:\n        app: web\n"),
        False,
        id="annotations-empty-value",
    ),
    pytest.param(
        deployment("    metadata:\n      annotations: ~\n"),
        False,
        id="annotations-tilde",
    ),
    pytest.param(
        deployment(
            "    metadata:\n      annotations:\n        note: |\n          multi\n          line\n"
            "        y: n\n        plain: 08\n"
        ),
        True,
        id="annotations-with-block-scalar-and-tricky-values",
    ),
    pytest.param(
        deployment(
            "    metadata:\n      annotations:\n        # a comment\n        team: a  # trailing\n"
            "      # between\n      labels:\n        app: web\n"
        ),
        True,
        id="comments-kept",
    ),
    pytest.param(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n    name: web\nspec:\n    template:\n"
        "        metadata:\n            labels:\n                app: web\n        spec:\n"
        "            containers:\n                - name: app\n                  image: app:1\n"
        "                  envFrom:\n                      - configMapRef:\n"
        "                            name: cm\n",
        True,
        id="four-space-indent",
    ),
    pytest.param(
        deployment(
            "    metadata:\n      annotations:\n        confighash.dev/checksum: stale\n"
            "        configmap.confighash.dev/old: '0'\n        keep: me\n"
        ),
        True,
        id="stale-ours-replaced",
    ),
    pytest.param(
        deployment("    metadata:\n      labels: {app: web}\n"),
        True,
        id="flow-labels-block-metadata",
    ),
    pytest.param(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
        "  template: {spec: {containers: [{name: app, image: 'app:1', "
        "envFrom: [{configMapRef: {name: cm}}]}]}}\n",
        False,
        id="template-flow",
    ),
    pytest.param(
        '{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, '
        '"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:1", '
        '"envFrom": [{"configMapRef": {"name": "cm"}}]}]}}}}\n',
        False,
        id="json-document",
    ),
]


def _line_key(line: bytes) -> str:
    return line.strip().split(b":", 1)[0].strip(b'"').decode()


def _line_edit_only(before: bytes, after: bytes, ours: dict[str, str]) -> None:
    """Every input line other than our own annotations is kept in order; each added line is one
    of ours or a header holding them."""
    old = [x for x in before.splitlines(keepends=True) if not KEYS.owned(_line_key(x))]
    new = [x for x in after.splitlines(keepends=True) if not KEYS.owned(_line_key(x))]
    added: list[bytes] = []
    i = 0
    for line in new:
        if i < len(old) and line == old[i]:
            i += 1
        else:
            added.append(line)
    assert i == len(old), f"input line {old[i]!r} was changed or lost"
    assert all(_line_key(line) in ("annotations", "metadata") for line in added), added
    ours_lines = [x for x in after.splitlines() if KEYS.owned(_line_key(x))]
    assert sorted(_line_key(x) for x in ours_lines) == sorted(ours)


def _template(obj: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    node: Any = obj
    for key in path:
        node = node[key]
    assert isinstance(node, dict)
    return node


def _expected(obj: dict[str, Any], path: tuple[str | int, ...], ours: dict[str, str]) -> Any:
    """``obj`` as Argo CD read it from the input, with our annotations replacing any of ours."""
    result = copy.deepcopy(obj)
    template = _template(result, path)
    metadata = template.setdefault("metadata", {}) or {}
    template["metadata"] = metadata
    current = metadata.get("annotations") or {}
    kept = {k: v for k, v in current.items() if not KEYS.owned(k)}
    metadata["annotations"] = {**kept, **ours}
    return result


def _check(oracle: Oracle, data: bytes, in_place: bool | None) -> bytes:
    result = pipeline.stamp(data, pipeline.Options())
    (plan,) = [p for p in result.plans if p.status == "stamped"]
    ours = plan.annotations
    assert ours
    out = result.output
    for doc in yaml.compose_all(out.decode("utf-8-sig"), Loader=yaml.SafeLoader):
        assert doc is not None
    assert b"annotations: {}" not in out and b"annotations: null" not in out
    assert b"%YAML" not in out
    assert not any(line.startswith(b"---") and line.strip() != b"---" for line in out.splitlines())
    before, after = objects(oracle(data)), objects(oracle(out))
    assert len(before) == len(after)
    assert after[0] == before[0]  # the ConfigMap document is untouched
    site = plan.workload.site
    assert site is not None
    assert after[1:] == [_expected(before[1], site.path, ours), *before[2:]]
    if in_place:
        _line_edit_only(data, out, ours)
    assert pipeline.stamp(out, pipeline.Options()).output == out
    return out


@pytest.mark.parametrize(("workload", "in_place"), LAYOUTS)
def test_edit_layouts(oracle: Oracle, workload: str, in_place: bool) -> None:
    _check(oracle, SOURCE + workload.encode(), in_place)


@pytest.mark.parametrize(("workload", "in_place"), LAYOUTS)
def test_edit_layouts_crlf(oracle: Oracle, workload: str, in_place: bool) -> None:
    data = (SOURCE + workload.encode()).replace(b"\n", b"\r\n")
    out = _check(oracle, data, in_place)
    if in_place:
        assert b"\n" not in out.replace(b"\r\n", b"")


@pytest.mark.parametrize(("workload", "in_place"), LAYOUTS)
def test_edit_layouts_without_trailing_newline(
    oracle: Oracle, workload: str, in_place: bool
) -> None:
    data = SOURCE + workload.encode().rstrip(b"\n")
    out = _check(oracle, data, in_place)
    if in_place:
        assert not out.endswith(b"\n")


def test_existing_checksum_config_annotation_is_kept_verbatim(oracle: Oracle) -> None:
    workload = deployment("    metadata:\n      annotations:\n        checksum/config: abc123\n")
    out = _check(oracle, SOURCE + workload.encode(), True)
    assert b"        checksum/config: abc123\n" in out


def test_new_annotations_are_written_in_sorted_position(oracle: Oracle) -> None:
    workload = deployment("    metadata:\n      annotations:\n        a: first\n        zz: last\n")
    out = _check(oracle, SOURCE + workload.encode(), True).decode()
    order = [
        line.strip().split(":")[0].strip('"')
        for line in out.split("annotations:\n")[1].split("    spec:")[0].splitlines()
    ]
    assert order == sorted(order)


def test_document_after_the_stamped_one_is_untouched(oracle: Oracle) -> None:
    tail = (
        b"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports: [{port: 80}]\n"
    )
    data = SOURCE + deployment("").encode() + tail
    out = _check(oracle, data, True)
    assert out.endswith(tail)


LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: s
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: web
  spec:
    template:
{metadata}      spec:
        containers:
        - name: app
          image: app:1
          envFrom:
          - configMapRef:
              name: cm
"""


@pytest.mark.parametrize(
    ("metadata", "in_place"),
    [
        pytest.param("", True, id="no-metadata"),
        pytest.param("      metadata:\n        labels:\n          app: web\n", True, id="labels"),
        pytest.param("      metadata:\n        annotations: {}\n", False, id="flow-empty"),
    ],
)
def test_edit_list_item(oracle: Oracle, metadata: str, in_place: bool) -> None:
    data = SOURCE + LIST.format(metadata=metadata).encode()
    result = pipeline.stamp(data, pipeline.Options())
    (plan,) = [p for p in result.plans if p.status == "stamped"]
    assert plan.workload.site is not None
    assert plan.workload.site.path[:2] == ("items", 1)
    before, after = objects(oracle(data)), objects(oracle(result.output))
    assert after[0] == before[0]
    expected = copy.deepcopy(before[1])
    expected["items"][1] = _expected(before[1]["items"][1], ("spec", "template"), plan.annotations)
    assert after[1] == expected
    if in_place:
        _line_edit_only(data, result.output, plan.annotations)


def test_edit_keeps_a_byte_order_mark(oracle: Oracle) -> None:
    data = b"\xef\xbb\xbf" + SOURCE + deployment("").encode()
    out = _check(oracle, data, True)
    assert out.startswith(b"\xef\xbb\xbfapiVersion")


def test_bom_on_the_stamped_document_itself(oracle: Oracle) -> None:
    data = y(deployment("")).replace(b"apiVersion", b"\xef\xbb\xbfapiVersion", 1)
    data = data + b"---\n" + SOURCE.rstrip(b"-\n") + b"\n"
    result = pipeline.stamp(data, pipeline.Options())
    assert result.output.startswith(b"\xef\xbb\xbf")
    after = objects(oracle(result.output))
    assert "confighash.dev/checksum" in after[0]["spec"]["template"]["metadata"]["annotations"]


@pytest.mark.parametrize(
    "text",
    [chr(c) for c in range(128)]
    + ["v1:0123abcd", "", " padded ", 'a"b', "a\\b", "é", "日本", "\u2028", "\x85", "tab\there"],
)
def test_quote_writes_what_json_dumps_writes_on_the_plain_ascii_fast_path_too(text: str) -> None:
    assert quote(text) == json.dumps(text, ensure_ascii=False)
