"""bench/genstream.py: the benchmark's input is deterministic, well-formed, and stamps correctly.

No timing here (bench/run.py measures speed); these tests only make sure the benchmark measures
the right thing: the same bytes on every run and machine, a stream Argo CD and PyYAML both read,
and a stamp that does what the tool promises on it.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from cmp import pipeline, stream
from cmp.annotations import AnnotationKeys

ROOT = Path(__file__).resolve().parents[1]
KEYS = AnnotationKeys()
Oracle = Callable[[bytes], list[dict[str, Any]]]


def _load_genstream() -> ModuleType:
    spec = importlib.util.spec_from_file_location("genstream", ROOT / "bench" / "genstream.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["genstream"] = module
    spec.loader.exec_module(module)
    return module


gen = _load_genstream()
SMALL = gen.Spec(apps=12, crds=2, crd_kb=30, fillers=3)


@pytest.fixture(scope="module")
def small() -> bytes:
    data: bytes = gen.generate(SMALL)
    return data


def _docs(data: bytes) -> list[Any]:
    return [d for d in yaml.load_all(data, Loader=yaml.CSafeLoader) if d is not None]


def _pod_annotations(obj: dict[str, Any]) -> dict[str, str]:
    annotations: dict[str, str] = obj["spec"]["template"]["metadata"].get("annotations") or {}
    return annotations


def test_same_spec_gives_the_same_bytes(small: bytes) -> None:
    assert gen.generate(SMALL) == small


def test_same_bytes_in_another_process_with_another_hash_seed(small: bytes) -> None:
    code = (
        "import hashlib, sys; sys.path.insert(0, 'bench'); import genstream as g; "
        "s = g.Spec(apps=12, crds=2, crd_kb=30, fillers=3); "
        "print(hashlib.sha256(g.generate(s)).hexdigest())"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == hashlib.sha256(small).hexdigest()


def test_another_seed_gives_another_stream(small: bytes) -> None:
    other = gen.generate(gen.Spec(apps=12, crds=2, crd_kb=30, fillers=3, seed=7))
    assert other != small
    assert len(stream.split(other)[1]) == len(stream.split(small)[1])


def test_stream_has_the_documents_the_spec_asks_for(small: bytes) -> None:
    kinds = Counter(d["kind"] for d in _docs(small))
    assert kinds == {
        "CustomResourceDefinition": 2,
        "ConfigMap": 12,
        "Secret": 12,
        "Service": 3,
        "Deployment": 12,
    }
    assert small.count(b"\n---\n") == sum(kinds.values()) - 1


def test_sizes_follow_the_spec() -> None:
    crd = gen.emit(gen.crd(random.Random(1), 0, 200)).encode()
    assert 150_000 < len(crd) < 260_000
    big = gen.generate(gen.Spec(apps=3, crds=0, cm_kb=16))
    small = gen.generate(gen.Spec(apps=3, crds=0, cm_kb=1))
    assert 3 * 14_000 < len(big) - len(small) < 3 * 17_000


def test_default_stream_is_in_the_issues_size_range() -> None:
    data = gen.generate(gen.Spec())
    assert 15 * 2**20 <= len(data) <= 50 * 2**20
    crd_bytes = sum(
        len(d.raw) for d in stream.split(data)[1] if b"\nkind: CustomResourceDefinition\n" in d.raw
    )
    assert crd_bytes > len(data) / 2  # "renders of tens of MB where most of the bytes are CRDs"


def test_tricky_values_are_quoted_so_both_readers_see_strings(small: bytes) -> None:
    for doc in _docs(small):
        if doc["kind"] == "ConfigMap":
            assert all(isinstance(v, str) for v in doc["data"].values())
    assert b'FEATURE_FLAG: "' in small or b"FEATURE_FLAG: " in small


def test_stamp_annotates_every_deployment_and_changes_nothing_else(small: bytes) -> None:
    result = pipeline.stamp(small, pipeline.Options())
    _, before = stream.split(small)
    _, after = stream.split(result.output)
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        if b"\nkind: Deployment\n" not in old.raw:
            assert new.raw == old.raw  # CRDs, ConfigMaps, Secrets, Services: byte for byte
            continue
        added = set(new.raw.decode().splitlines()) - set(old.raw.decode().splitlines())
        removed = set(old.raw.decode().splitlines()) - set(new.raw.decode().splitlines())
        assert not removed
        assert all(line.strip() == "annotations:" or "confighash.dev/" in line for line in added)
    for obj in _docs(result.output):
        if obj["kind"] == "Deployment":
            name = obj["metadata"]["name"]
            ours = {k for k in _pod_annotations(obj) if KEYS.owned(k)}
            assert ours == {
                KEYS.checksum,
                KEYS.source("ConfigMap", f"{name}-config"),
                KEYS.source("Secret", f"{name}-secret"),
            }


def test_stamp_is_idempotent_on_the_stream(small: bytes) -> None:
    once = pipeline.stamp(small, pipeline.Options()).output
    assert pipeline.stamp(once, pipeline.Options()).output == once


def test_a_changed_configmap_rolls_only_its_deployment(small: bytes) -> None:
    cm = b"  name: app-00005-config\n"
    start = small.index(cm)
    doc_start = small.rindex(b"\n---\n", 0, start)
    level = small.index(b"  LOG_LEVEL: ", doc_start)
    end = small.index(b"\n", level)
    changed = small[:level] + b"  LOG_LEVEL: changed-value" + small[end:]
    before = {
        o["metadata"]["name"]: _pod_annotations(o)
        for o in _docs(pipeline.stamp(small, pipeline.Options()).output)
        if o["kind"] == "Deployment"
    }
    after = {
        o["metadata"]["name"]: _pod_annotations(o)
        for o in _docs(pipeline.stamp(changed, pipeline.Options()).output)
        if o["kind"] == "Deployment"
    }
    differing = {name for name in before if before[name] != after[name]}
    assert differing == {"app-00005"}
    assert before["app-00005"][KEYS.checksum] != after["app-00005"][KEYS.checksum]


def _without_ours(obj: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    if obj.get("kind") != "Deployment":
        return obj
    metadata = obj["spec"]["template"]["metadata"]
    annotations = {
        k: v for k, v in (metadata.get("annotations") or {}).items() if not KEYS.owned(k)
    }
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    return obj


def test_argo_cd_reads_the_input_plus_only_our_annotations(oracle: Oracle, small: bytes) -> None:
    output = pipeline.stamp(small, pipeline.Options()).output
    read_in, read_out = oracle(small), oracle(output)
    assert not [line for line in read_in + read_out if "error" in line]
    objects_in = [line["object"] for line in read_in]
    objects_out = [line["object"] for line in read_out]
    assert [_without_ours(o) for o in objects_out] == objects_in
    stamped = [o for o in objects_out if any(KEYS.owned(k) for k in _annotations(o))]
    assert len(stamped) == SMALL.apps
    assert all(isinstance(v, str) for o in stamped for v in _annotations(o).values())


def _annotations(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") != "Deployment":
        return {}
    return obj["spec"]["template"]["metadata"].get("annotations") or {}


def test_tiny_stream_for_the_startup_measure_stamps() -> None:
    tiny = gen.generate(gen.Spec(apps=1, crds=0))
    result = pipeline.stamp(tiny, pipeline.Options())
    assert result.output != tiny
    assert KEYS.checksum.encode() in result.output
