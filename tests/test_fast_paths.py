"""The speed-ups in cmp.stream and cmp.nodes give exactly what the plain versions they replace give.

Each fast path is checked against a straightforward reference (the regular expression, the
composer with PyYAML's resolver, the walk that builds every path) on every corpus render, the
tricky scalars, and seeded random inputs. Timing lives in bench/, not here.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from helpers import RENDERS, run_cli

from cmp import __version__, kustomize, nodes, stream
from cmp.errors import InputError, RenderError

TRICKY = Path("/work/shared/reference/tricky-scalars.yaml")
SEPARATOR = re.compile(rb"^---(.*)$", re.MULTILINE)  # what stream.split used to search with
KIND_LINE = re.compile(rb"^kind:[ \t]*(.*?)[ \t]*\r?$", re.MULTILINE)
ITEMS_LINE = re.compile(rb"^items:", re.MULTILINE)


def _ids(paths: list[Path]) -> list[str]:
    return [f"{p.parent.parent.name}/{p.name}" for p in paths]


def _noise(seed: int, count: int = 300) -> Iterator[bytes]:
    """Short byte strings built from the characters the line scanners care about."""
    rng = random.Random(seed)
    atoms = [b"---", b"--", b"-", b"kind:", b"kind", b"items:", b" ", b"\t", b"\r", b"\n", b"#"]
    atoms += [b"x", b"Deployment", b'"', b"'", b":", b"\n---\n", b"\nkind: A\n", b"\xc3\xa9"]
    for _ in range(count):
        yield b"".join(rng.choice(atoms) for _ in range(rng.randrange(0, 25)))


def _lines_by_regex(data: bytes, prefix: bytes) -> list[tuple[int, int]]:
    pattern = re.compile(b"^" + re.escape(prefix) + b".*$", re.MULTILINE)
    return [(m.start(), m.end()) for m in pattern.finditer(data)]


# --- stream: literal search instead of a multiline regex ------------------------------------


@pytest.mark.parametrize("path", RENDERS, ids=_ids(RENDERS))
def test_separator_lines_are_the_regex_matches_on_the_corpus(path: Path) -> None:
    data = path.read_bytes()
    expected = [(m.start(), m.end()) for m in SEPARATOR.finditer(data)]
    assert list(stream._lines_starting(data, b"---")) == expected


@pytest.mark.parametrize("seed", range(5))
def test_line_search_matches_the_regex_on_random_bytes(seed: int) -> None:
    for data in _noise(seed):
        for prefix in (b"---", b"kind:", b"items:"):
            assert list(stream._lines_starting(data, prefix)) == _lines_by_regex(data, prefix)


@pytest.mark.parametrize("seed", range(5))
def test_kind_value_is_what_the_regex_captured(seed: int) -> None:
    for data in _noise(seed):
        found = [
            stream._kind_value(data[a + 5 : b]) for a, b in stream._lines_starting(data, b"kind:")
        ]
        assert found == KIND_LINE.findall(data), data


@pytest.mark.parametrize("seed", range(5))
def test_split_then_join_is_the_identity_on_random_streams(seed: int) -> None:
    for data in _noise(seed):
        try:
            pieces, _ = stream.split(data)
        except InputError:
            assert any(m.group(1).strip()[:1] not in (b"", b"#") for m in SEPARATOR.finditer(data))
            continue
        assert stream.join(pieces, {}) == data


@pytest.mark.parametrize("path", RENDERS, ids=_ids(RENDERS))
def test_peek_kind_sees_the_kind_lines_the_regex_saw(path: Path) -> None:
    for doc in stream.split(path.read_bytes())[1]:
        kinds = KIND_LINE.findall(doc.raw)
        if len(kinds) != 1 or ITEMS_LINE.search(doc.raw):
            assert stream.peek_kind(doc.raw) is None
        else:
            assert stream.peek_kind(doc.raw) in (None, kinds[0].strip(b"\"'"))


# --- nodes: the composer without PyYAML's resolver ---------------------------------------------


def _shape(node: yaml.Node) -> object:
    """Everything about a node except PyYAML's tag of a plain scalar."""
    marks = (node.start_mark.index, node.start_mark.line, node.start_mark.column)
    marks += (node.end_mark.index, node.end_mark.line, node.end_mark.column)
    if isinstance(node, yaml.ScalarNode):
        tag = "plain" if not node.style else node.tag
        return ("scalar", tag, node.value, node.style, nodes.scalar_type(node), marks)
    if isinstance(node, yaml.SequenceNode):
        return ("seq", node.tag, node.flow_style, marks, [_shape(n) for n in node.value])
    assert isinstance(node, yaml.MappingNode)
    pairs = [(_shape(k), _shape(v)) for k, v in node.value]
    return ("map", node.tag, node.flow_style, marks, pairs)


def _corpus_documents(max_bytes: int) -> Iterator[tuple[str, str]]:
    """Each distinct corpus document up to ``max_bytes`` (the renders share many documents)."""
    seen: set[bytes] = set()
    for path in RENDERS:
        for doc in stream.split(path.read_bytes())[1]:
            if len(doc.raw) <= max_bytes and doc.raw not in seen:
                seen.add(doc.raw)
                yield f"{path.name}:{doc.line}", doc.raw.decode("utf-8")


def _texts() -> Iterator[tuple[str, str]]:
    yield from _corpus_documents(300_000)
    yield "tricky", TRICKY.read_text(encoding="utf-8")
    yield "tags", "a: !!str 5\nb: !!int '7'\nc: ! x\nd: &x [1, {e: f}]\ng: *x\nh: ''\ni:\n"


def test_reading_composer_differs_from_pyyaml_only_in_plain_scalar_tags() -> None:
    checked = 0
    for where, text in _texts():
        reading = nodes.compose(text, where, 1)
        exact = nodes.compose(text, where, 1, exact_tags=True)
        assert (reading is None) == (exact is None), where
        if reading is not None and exact is not None:
            assert _shape(reading) == _shape(exact), where
            checked += 1
    assert checked > 300


def test_reemit_still_gets_pyyaml_tags() -> None:
    node = nodes.compose("a: 5\nb: y\nc: '5'\n", "doc", 1, exact_tags=True)
    assert isinstance(node, yaml.MappingNode)
    assert [v.tag.rsplit(":", 1)[-1] for _, v in node.value] == ["int", "str", "str"]


# --- nodes: the quick duplicate and alias walk --------------------------------------------


def _reference_check(root: yaml.Node, where: str) -> None:
    nodes._raise_for_duplicates_or_aliases(root, where)


def _outcome(check: object, text: str) -> str:
    root = nodes.compose(text, "doc", 1)
    if root is None:
        return "empty"
    try:
        check(root, "doc")  # type: ignore[operator]
    except InputError as exc:
        return str(exc)
    return "ok"


DUPLICATE_CASES = [
    "a: 1\nb: 2\n",
    "a: 1\na: 2\n",
    "a:\n  b: 1\n  c: {d: 1, d: 2}\n",
    "y: 1\ntrue: 2\n",
    "0x1: a\n1: b\n",
    "'y': 1\ntrue: 2\n",
    "a: &x {b: 1}\nc: *x\n",
    "a: &x 1\nb: 2\n",
    "l: [&x a, *x]\n",
    "<<: {a: 1}\nb: 2\n",
    "'<<': 1\nb: 2\n",
    "a:\n- b: 1\n  b: 2\n",
    "? [a]\n: 1\n? [b]\n: 2\n",
    "a: 'x & y'\na: 2\n",
]


@pytest.mark.parametrize("text", DUPLICATE_CASES)
def test_quick_walk_decides_like_the_full_walk(text: str) -> None:
    assert _outcome(nodes.check_unique_keys, text) == _outcome(_reference_check, text)


def test_quick_walk_decides_like_the_full_walk_on_the_corpus() -> None:
    for where, text in _corpus_documents(300_000):
        assert _outcome(nodes.check_unique_keys, text) == _outcome(_reference_check, text), where


def test_cached_index_follows_a_replaced_value_list() -> None:
    root = nodes.compose("a: 1\nb: 2\n", "doc", 1)
    assert isinstance(root, yaml.MappingNode)
    assert nodes.get(root, "b", "doc", "") is root.value[1][1]
    root.value = root.value[:1]
    assert nodes.get(root, "b", "doc", "") is None


def test_key_text_is_the_same_cached_or_not() -> None:
    keys = ["y", "Y", "yes", "0o17", "1_000", "0x1F", "~", "", "1e3", "name", "08", "<<", "-0"]
    for text in keys:
        node = yaml.ScalarNode("tag:yaml.org,2002:str", text, style="")
        first, second = nodes.key_text(node), nodes.key_text(node)
        assert first == second == nodes._plain_key_text(text)


# --- the console script -----------------------------------------------------------------------


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )


def test_console_script_is_the_launcher() -> None:
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert 'confighash = "cmp.launch:entrypoint"' in pyproject


def test_launcher_prints_the_version_without_importing_the_cli() -> None:
    code = (
        "import sys; sys.argv = ['confighash', '--version']\n"
        "from cmp.launch import entrypoint\n"
        "try:\n    entrypoint()\nexcept SystemExit as exc:\n"
        "    heavy = sorted(m for m in ('cmp.cli', 'cmp.pipeline', 'yaml') if m in sys.modules)\n"
        "    print(exc.code, heavy, file=sys.stderr)\n"
    )
    proc = _python(code)
    assert proc.stdout == f"confighash {__version__}\n"
    assert proc.stderr.strip() == "0 []"
    run = run_cli(["--version"])  # the CLI's own answer is the same text
    assert run.stdout.decode() == proc.stdout


@pytest.mark.parametrize("argv", [["--bogus"], ["--version", "--bogus"], ["--help"], []])
def test_launcher_hands_everything_else_to_the_cli(argv: list[str]) -> None:
    code = (
        "import sys; sys.argv = ['confighash', *sys.argv[1:]]\n"
        "from cmp.launch import entrypoint\nentrypoint()\n"
    )
    proc = _python(code, *argv)
    direct = run_cli(argv)
    assert (proc.returncode, proc.stdout) == (direct.code, direct.stdout.decode())


# --- build: the pipeline is imported while kustomize renders ---------------------------------


def test_importing_the_cli_loads_neither_pyyaml_nor_the_pipeline() -> None:
    proc = _python(
        "import sys, cmp.cli\n"
        "print(sorted(m for m in ('yaml', 'cmp.pipeline', 'cmp.explain', 'cmp.diff') "
        "if m in sys.modules))\n"
    )
    assert proc.stdout.strip() == "[]", proc.stderr


def test_build_calls_started_once_kustomize_runs() -> None:
    calls: list[int] = []
    script = "import sys; sys.stdout.write('kind: A\\n')"
    out = kustomize.build(
        [sys.executable, "-c", script], ".", [], env={}, started=lambda: calls.append(1)
    )
    assert out == b"kind: A\n"
    assert calls == [1]
    with pytest.raises(RenderError):
        kustomize.build(
            ["/nonexistent/kustomize"], ".", [], env={}, started=lambda: calls.append(2)
        )
    assert calls == [1]
