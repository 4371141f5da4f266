"""A consumed ConfigMap with a key written twice: Argo CD reads the last value, and so do we."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oracle import objects

from tests.helpers import envfrom_deployment, find, ours, stamp

Read = Callable[[bytes], list[dict[str, Any]]]

DEPLOYMENT = "---\n" + envfrom_deployment("ConfigMap/settings")


def _configmap(data: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n{data}"


TWICE = _configmap('  mode: "first"\n  mode: "last"\n') + DEPLOYMENT
LAST_ONLY = _configmap('  mode: "last"\n') + DEPLOYMENT
FIRST_ONLY = _configmap('  mode: "first"\n') + DEPLOYMENT


def test_argo_cd_reads_the_last_of_two_values_of_a_key(oracle: Read) -> None:
    configmaps = [o for o in objects(oracle(TWICE.encode())) if o["kind"] == "ConfigMap"]
    assert configmaps[0]["data"] == {"mode": "last"}


def test_duplicate_key_in_a_source_is_accepted_and_digested_as_its_last_value() -> None:
    result = stamp(TWICE)
    assert [p for p in result.problems if "duplicate" in p.message] == []
    twice = ours(find(result.output, "Deployment", "web"))
    assert twice == ours(find(stamp(LAST_ONLY).output, "Deployment", "web"))
    assert twice != ours(find(stamp(FIRST_ONLY).output, "Deployment", "web"))
