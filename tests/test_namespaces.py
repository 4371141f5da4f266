"""A reference resolves to the source of that name in the workload's own namespace."""

from __future__ import annotations

import pytest
from helpers import consumed, find, messages, ours, run_cli, stamp


def configmap(namespace: str | None, value: str, name: str = "config") -> str:
    ns = f"\n  namespace: {namespace}" if namespace else ""
    return f"""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}{ns}
data:
  setting: {value}
"""


def deployment(namespace: str | None, name: str = "web", source: str = "config") -> str:
    ns = f"\n  namespace: {namespace}" if namespace else ""
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}{ns}
spec:
  template:
    spec:
      containers:
      - name: app
        image: app:1
        envFrom:
        - configMapRef:
            name: {source}
"""


def stream(*documents: str) -> bytes:
    return "---\n".join(documents).encode()


def checksum_of(data: bytes, name: str = "web", **options: object) -> str:
    annotations = ours(find(stamp(data, **options).output, "Deployment", name))
    return annotations["confighash.dev/checksum"]


def test_same_name_in_two_namespaces_each_workload_gets_its_own_namespace_digest() -> None:
    both = stream(
        configmap("team-a", "alpha"),
        configmap("team-b", "beta"),
        deployment("team-a", "web-a"),
        deployment("team-b", "web-b"),
    )
    result = stamp(both)
    a = ours(find(result.output, "Deployment", "web-a"))
    b = ours(find(result.output, "Deployment", "web-b"))
    assert a["configmap.confighash.dev/config"] != b["configmap.confighash.dev/config"]
    # each equals what the workload gets with only its own namespace's ConfigMap in the stream
    only_a = stream(configmap("team-a", "alpha"), deployment("team-a", "web-a"))
    only_b = stream(configmap("team-b", "beta"), deployment("team-b", "web-b"))
    assert a["confighash.dev/checksum"] == checksum_of(only_a, "web-a")
    assert b["confighash.dev/checksum"] == checksum_of(only_b, "web-b")
    # and changing the other namespace's ConfigMap does not touch it
    changed_b = both.replace(b"beta", b"gamma")
    assert checksum_of(changed_b, "web-a") == a["confighash.dev/checksum"]
    assert checksum_of(changed_b, "web-b") != b["confighash.dev/checksum"]
    assert messages(result) == []


def test_order_of_the_namespaces_in_the_stream_does_not_matter() -> None:
    forward = stream(
        configmap("team-a", "alpha"), configmap("team-b", "beta"), deployment("team-b")
    )
    backward = stream(
        configmap("team-b", "beta"), configmap("team-a", "alpha"), deployment("team-b")
    )
    assert checksum_of(forward) == checksum_of(backward)


RESOLUTION = [
    pytest.param(None, None, None, True, id="unset-matches-unset"),
    pytest.param("shop", "shop", None, True, id="same-namespace"),
    pytest.param("shop", "other", None, False, id="different-namespace"),
    pytest.param(None, "shop", None, False, id="unset-source-does-not-match-a-namespaced-workload"),
    pytest.param("shop", None, None, False, id="namespaced-source-does-not-match-unset-workload"),
    pytest.param(None, "shop", "shop", True, id="default-namespace-applies-to-the-source"),
    pytest.param("shop", None, "shop", True, id="default-namespace-applies-to-the-workload"),
    pytest.param(None, None, "shop", True, id="default-namespace-applies-to-both"),
    pytest.param("shop", None, "other", False, id="default-namespace-is-not-a-wildcard"),
    pytest.param("other", "shop", "shop", False, id="explicit-namespace-beats-the-default"),
]


@pytest.mark.parametrize(("source_ns", "workload_ns", "default", "resolved"), RESOLUTION)
def test_namespace_resolution(
    source_ns: str | None, workload_ns: str | None, default: str | None, resolved: bool
) -> None:
    result = stamp(stream(configmap(source_ns, "v"), deployment(workload_ns)), namespace=default)
    if resolved:
        assert consumed(result, "web") == [("ConfigMap", "config")]
        assert messages(result) == []
    else:
        assert consumed(result, "web") == []
        (warning,) = messages(result, "unresolved-ref")
        shown = workload_ns or default
        assert (f"ConfigMap {shown}/config" if shown else "ConfigMap config,") in warning


def test_default_namespace_is_used_in_messages() -> None:
    (warning,) = messages(stamp(stream(deployment(None, source="absent")), namespace="shop"))
    assert "Deployment shop/web" in warning
    assert "ConfigMap shop/absent" in warning


CLI_NAMESPACE = [
    pytest.param(["--namespace", "shop"], {}, id="flag"),
    pytest.param(["-n", "shop"], {}, id="short-flag"),
    pytest.param([], {"ARGOCD_APP_NAMESPACE": "shop"}, id="argocd-env"),
    pytest.param(["--namespace", "shop"], {"ARGOCD_APP_NAMESPACE": "other"}, id="flag-beats-env"),
]


@pytest.mark.parametrize(("flags", "environ"), CLI_NAMESPACE)
def test_cli_namespace_default(flags: list[str], environ: dict[str, str]) -> None:
    data = stream(configmap("shop", "v"), deployment(None))
    run = run_cli(["stamp", *flags, "-"], data, environ)
    assert run.code == 0
    assert run.stderr == ""
    assert b"configmap.confighash.dev/config" in run.stdout


def test_cli_without_a_namespace_leaves_unset_unset() -> None:
    data = stream(configmap("shop", "v"), deployment(None))
    run = run_cli(["stamp", "-"], data, {"ARGOCD_APP_NAMESPACE": ""})
    assert run.code == 0
    assert run.stdout == data
    assert "ConfigMap config, which is not in the stream" in run.stderr


def test_default_namespace_is_not_written_into_the_output() -> None:
    data = stream(configmap(None, "v"), deployment(None))
    output = stamp(data, namespace="shop").output
    assert b"namespace" not in output
