"""Fidelity: Argo CD must read exactly what kustomize meant, plus our annotations.

The judge is the Go oracle (tests/oracle/argocd_read.go): sigs.k8s.io/yaml over the stream, twice,
as the CMP sidecar and then the repo-server read a plugin's stdout. Every comparison is between the
oracle's reading of kustomize's own output and its reading of ours.
"""

from __future__ import annotations

import copy
import difflib
import io
import json
import random
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import corpus_target

from cmp import cli, edit, pipeline, stream
from cmp.annotations import AnnotationKeys
from cmp.yaml11 import resolve_plain

Oracle = Callable[[bytes], list[dict[str, Any]]]

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus"
TRICKY = SHARED / "reference" / "tricky-scalars.yaml"
RENDERS = sorted(CORPUS.glob("*/rendered/*.yaml"))
KEYS = AnnotationKeys()
POD_TEMPLATE_PATHS = {"CronJob": ("spec", "jobTemplate", "spec", "template")}


def test_corpus_is_present() -> None:
    assert len(RENDERS) >= 20, f"expected the shared corpus at {CORPUS}"


def _objects(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    errors = [line for line in lines if "error" in line]
    assert not errors, f"Argo CD would fail to read the stream: {errors[:3]}"
    return [line["object"] for line in lines]


def _template(obj: dict[str, Any]) -> dict[str, Any] | None:
    node: Any = obj
    for key in POD_TEMPLATE_PATHS.get(obj.get("kind", ""), ("spec", "template")):
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _strip_ours(obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The object without confighash's annotations, and those annotations."""
    obj = copy.deepcopy(obj)
    template = _template(obj)
    ours: dict[str, str] = {}
    if template is None:
        return obj, ours
    metadata = template.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    for key in [k for k in annotations if KEYS.owned(k)]:
        ours[key] = annotations.pop(key)
    if ours and not annotations:
        metadata.pop("annotations")
        if not metadata:
            template.pop("metadata")
    return obj, ours


def _expand(objects: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for obj in objects:
        if isinstance(obj.get("items"), list):
            yield from obj["items"]
        else:
            yield obj


def assert_faithful(oracle: Oracle, before: bytes, after: bytes, result: pipeline.Result) -> int:
    """Argo CD reads ``after`` as ``before`` plus exactly the planned annotations; returns
    the number of objects that gained annotations."""
    original = list(_expand(_objects(oracle(before))))
    stamped = list(_expand(_objects(oracle(after))))
    assert len(stamped) == len(original)
    planned = {
        (p.workload.identity.kind, p.workload.identity.name): p.annotations
        for p in result.plans
        if p.status == "stamped"
    }
    touched = 0
    for old, new in zip(original, stamped, strict=True):
        bare, ours = _strip_ours(new)
        assert bare == old, f"{old.get('kind')} {old['metadata'].get('name')} changed"
        identity = (new.get("kind"), new["metadata"].get("name"))
        assert ours == planned.get(identity, {}), identity
        assert all(isinstance(v, str) for v in ours.values())
        touched += bool(ours)
    assert touched == len(planned)
    return touched


def assert_only_insertions(before: bytes, after: bytes) -> None:
    """Untouched documents are byte-identical; stamped ones only gained annotation lines."""
    _, old_docs = stream.split(before)
    _, new_docs = stream.split(after)
    assert len(old_docs) == len(new_docs)
    for old, new in zip(old_docs, new_docs, strict=True):
        if old.raw == new.raw:
            continue
        diff = difflib.ndiff(
            old.raw.decode().splitlines(keepends=True), new.raw.decode().splitlines(keepends=True)
        )
        changes = [line for line in diff if line[:1] in "+-"]
        assert all(line.startswith("+ ") for line in changes), changes
        for line in changes:
            text = line[2:].strip()
            key = text.split(":", 1)[0]
            assert text in ("metadata:", "annotations:") or KEYS.owned(key), line


@pytest.mark.parametrize("render", RENDERS, ids=[f"{p.parts[-3]}/{p.name}" for p in RENDERS])
def test_stamped_corpus_render_reads_as_kustomize_output_plus_annotations(
    render: Path, oracle: Oracle
) -> None:
    before = render.read_bytes()
    result = pipeline.stamp(before, pipeline.Options())
    assert_faithful(oracle, before, result.output, result)
    assert_only_insertions(before, result.output)


def test_every_corpus_render_maps_to_its_sourcecorpus_target() -> None:
    assert all(corpus_target(r).is_dir() for r in RENDERS)


# Each corpus app is built with both kustomizes, named explicitly whatever PATH holds: kubectl's
# (v5.5.0 here, which rendered the corpus; what local users have) and the image's (the Dockerfile's
# KUSTOMIZE_VERSION, v5.8.1, from tests/e2e/build-tools). Both must print the committed render.
KUSTOMIZES = [
    pytest.param("kubectl", id="kubectl-kustomize"),
    pytest.param("image", id="image-kustomize", marks=pytest.mark.e2e),
]


@pytest.mark.parametrize("kustomize", KUSTOMIZES)
@pytest.mark.parametrize("render", RENDERS, ids=[f"{p.parts[-3]}/{p.name}" for p in RENDERS])
def test_confighash_build_of_corpus_app_equals_stamp_of_its_kustomize_render(
    render: Path, kustomize: str, oracle: Oracle, request: pytest.FixtureRequest
) -> None:
    """The real kustomize runs; its output (the committed render) plus our edit is what we print."""
    if kustomize == "kubectl":
        binary = shutil.which("kubectl")
        assert binary is not None, "kubectl (kustomize) is required"
    else:
        binary = str(request.getfixturevalue("tools") / "kustomize")
    out, err = io.BytesIO(), io.StringIO()
    argv = ["build", "--kustomize", binary, str(corpus_target(render))]
    status = cli.main(argv, environ={}, stdout=out, stderr=err)
    assert status == 0, err.getvalue()
    before = render.read_bytes()
    expected = pipeline.stamp(before, pipeline.Options())
    assert out.getvalue() == expected.output
    assert "Traceback" not in err.getvalue()


# --- tricky scalars ---------------------------------------------------------------------------


def _tricky_values() -> list[str]:
    rows = yaml.safe_load(TRICKY.read_text(encoding="utf-8"))["scalars"]
    # kustomize itself refuses the two rows it cannot write (DEL, U+FFFE): nothing to preserve.
    return [row["value"] for row in rows if row.get("kustomize") is not None]


TRICKY_VALUES = _tricky_values()
_LINE_BREAKS = {"\x85", "\u2028", "\u2029"}


def _tricky_app(directory: Path, values: list[str]) -> None:
    """A kustomize app whose stamped Deployment carries every value in every place."""
    env = [{"name": f"V{i:03d}", "value": v} for i, v in enumerate(values)]
    annotations = {f"example.com/a{i:03d}": v for i, v in enumerate(values)}
    labels = {f"l{i:03d}": v for i, v in enumerate(values)}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "tricky", "annotations": annotations},
        "spec": {
            "selector": {"matchLabels": {"app": "tricky"}},
            "template": {
                "metadata": {"labels": {"app": "tricky", **labels}, "annotations": annotations},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "example/app:1",
                            "args": values,
                            "env": env,
                            "envFrom": [{"configMapRef": {"name": "tricky-keys"}}],
                            "volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}],
                        }
                    ],
                    "volumes": [{"name": "cfg", "configMap": {"name": "tricky-values"}}],
                },
            },
        },
    }
    values_cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "tricky-values"},
        "data": {f"k{i:03d}": v for i, v in enumerate(values)},
    }
    keys_cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "tricky-keys"},
        # kustomize cannot read a key holding a YAML 1.1 line break (NEL, U+2028, U+2029).
        "data": {v: f"v{i:03d}" for i, v in enumerate(values) if v and not _LINE_BREAKS & set(v)},
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, obj in (("deploy", deployment), ("values", values_cm), ("keys", keys_cm)):
        # JSON is YAML, and it states every value as an exact string.
        (directory / f"{name}.json").write_text(json.dumps(obj, ensure_ascii=False), "utf-8")
    (directory / "kustomization.yaml").write_text(
        "resources:\n- deploy.json\n- values.json\n- keys.json\n", "utf-8"
    )


@pytest.fixture(scope="module")
def tricky_render(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    kubectl = shutil.which("kubectl")
    assert kubectl is not None, "kubectl (kustomize) is required"
    app = tmp_path_factory.mktemp("tricky")
    _tricky_app(app, TRICKY_VALUES)
    proc = subprocess.run([kubectl, "kustomize", str(app)], capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


@pytest.fixture(scope="module")
def tricky_readings(
    tricky_render: bytes, oracle: Oracle
) -> tuple[dict[str, Any], dict[str, Any], pipeline.Result]:
    result = pipeline.stamp(tricky_render, pipeline.Options())
    assert [p.status for p in result.plans] == ["stamped"]

    def by_name(stream_bytes: bytes) -> dict[str, Any]:
        return {o["metadata"]["name"]: o for o in _objects(oracle(stream_bytes))}

    return by_name(tricky_render), by_name(result.output), result


def test_tricky_stream_stamps_faithfully_in_place(
    tricky_render: bytes,
    tricky_readings: tuple[dict[str, Any], dict[str, Any], pipeline.Result],
    oracle: Oracle,
) -> None:
    result = tricky_readings[2]
    assert assert_faithful(oracle, tricky_render, result.output, result) == 1
    assert_only_insertions(tricky_render, result.output)


def test_tricky_stream_stamps_faithfully_when_reemitted(
    tricky_render: bytes, oracle: Oracle
) -> None:
    """The fallback path (compose → serialize) must be as faithful as the in-place edit."""
    result = pipeline.stamp(tricky_render, pipeline.Options())
    pieces, docs = stream.split(tricky_render)
    replacements = {}
    for p in result.plans:
        doc = docs[p.workload.identity.document - 1]
        assert p.workload.site is not None
        change = edit.Change(p.workload.site.path, p.annotations, KEYS.owned)
        text = edit.reemit(doc.raw.decode(), [change], doc.where, doc.line)
        replacements[doc.piece] = text.encode()
    reemitted = stream.join(pieces, replacements)
    assert reemitted != result.output  # the other path really ran
    assert_faithful(oracle, tricky_render, reemitted, result)


def _places(obj: dict[str, Any], i: int) -> dict[str, Any]:
    if obj["kind"] == "ConfigMap":
        return {"data": obj["data"].get(f"k{i:03d}")}
    template = obj["spec"]["template"]
    container = template["spec"]["containers"][0]
    return {
        "env": container["env"][i],
        "arg": container["args"][i],
        "label": template["metadata"]["labels"].get(f"l{i:03d}"),
        "annotation": template["metadata"]["annotations"].get(f"example.com/a{i:03d}"),
    }


@pytest.mark.parametrize("i", range(len(TRICKY_VALUES)), ids=[repr(v)[:40] for v in TRICKY_VALUES])
def test_tricky_value_reads_the_same_after_stamping(
    i: int, tricky_readings: tuple[dict[str, Any], dict[str, Any], pipeline.Result]
) -> None:
    before, after, _ = tricky_readings
    for name in ("tricky", "tricky-values"):
        assert _places(after[name], i) == _places(before[name], i)
    value = TRICKY_VALUES[i]
    if value:
        keys_before = before["tricky-keys"]["data"]
        keys_after = after["tricky-keys"]["data"]
        assert keys_after == keys_before


# --- the pure-Python resolver against go-yaml v2 ----------------------------------------------

_ALPHABET = "0123456789+-._eExXoObB:yYnN~tT"


def _fuzz_strings(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = {"y", "n", "08", "0o17", "1e3", "-.5", "+.5", ".5e3", "0X1F", "1_000", "1:20", "~"}
    while len(out) < count:
        out.add("".join(rng.choice(_ALPHABET) for _ in range(rng.randint(1, 8))))
    return sorted(out)


def test_resolve_plain_agrees_with_go_yaml_v2_on_fuzzed_scalars(oracle: Oracle) -> None:
    candidates = _fuzz_strings(3000, seed=7)
    docs = b"".join(f"---\nkind: X\nv: {s}\n".encode() for s in candidates)
    lines = oracle(docs)
    checked = 0
    for s, line in zip(candidates, lines, strict=True):
        got = line.get("object", {}).get("v", [])
        if isinstance(got, list | dict):
            continue  # not a plain scalar at all (syntax), nothing to resolve
        kind, _ = resolve_plain(s)
        expected = {"str": str, "bool": bool, "null": type(None)}.get(kind, (int, float))
        assert isinstance(got, expected) and not (kind != "bool" and isinstance(got, bool)), (
            s,
            kind,
            got,
        )
        checked += 1
    assert checked > 2000
