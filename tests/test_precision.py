"""Key-level precision: a source's digest covers only the keys the pod can see of it.

For every reference form, an edit of a key the pod never reads must leave the pod template alone,
and an edit of a key it reads must change it. ``--precision object`` digests whole objects.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from helpers import EXAMPLES, find, messages, ours, stamp, y
from oracle import objects

from cmp import cli, digest, pipeline

Read = Callable[[bytes], list[dict[str, Any]]]

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  a: "{a}"
  b: "{b}"
  c: "{c}"
"""
SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: sec
stringData:
  a: "{a}"
  b: "{b}"
  c: "{c}"
"""

# Pod specs, one per reference form, indented to sit under spec.template.spec. Each reads keys
# a (and maybe b) of its source, never c, unless it reads the whole object.
FORMS: dict[str, tuple[str, str, tuple[str, ...] | None]] = {
    # name: (kind, pod spec, keys read or None for all)
    "configMapKeyRef": (
        "ConfigMap",
        """
        containers:
          - name: app
            image: app
            env:
              - name: A
                valueFrom:
                  configMapKeyRef: {name: cfg, key: a}
        """,
        ("a",),
    ),
    "secretKeyRef": (
        "Secret",
        """
        containers:
          - name: app
            image: app
            env:
              - name: A
                valueFrom:
                  secretKeyRef: {name: sec, key: a}
        """,
        ("a",),
    ),
    "configMap volume items": (
        "ConfigMap",
        """
        containers: [{name: app, image: app}]
        volumes:
          - name: v
            configMap:
              name: cfg
              items:
                - {key: a, path: a.txt}
                - {key: b, path: b.txt}
        """,
        ("a", "b"),
    ),
    "secret volume items": (
        "Secret",
        """
        containers: [{name: app, image: app}]
        volumes:
          - name: v
            secret:
              secretName: sec
              items:
                - {key: b, path: b.txt}
        """,
        ("b",),
    ),
    "projected configMap items": (
        "ConfigMap",
        """
        containers: [{name: app, image: app}]
        volumes:
          - name: v
            projected:
              sources:
                - configMap:
                    name: cfg
                    items: [{key: a, path: a.txt}]
        """,
        ("a",),
    ),
    "projected secret items": (
        "Secret",
        """
        containers: [{name: app, image: app}]
        volumes:
          - name: v
            projected:
              sources:
                - serviceAccountToken: {path: token}
                - secret:
                    name: sec
                    items: [{key: a, path: a.txt}, {key: b, path: b.txt}]
        """,
        ("a", "b"),
    ),
    "configMapRef envFrom": (
        "ConfigMap",
        """
        containers:
          - name: app
            image: app
            envFrom: [{configMapRef: {name: cfg}}]
        """,
        None,
    ),
    "secretRef envFrom": (
        "Secret",
        """
        initContainers:
          - name: init
            image: app
            envFrom: [{secretRef: {name: sec}}]
        containers: [{name: app, image: app}]
        """,
        None,
    ),
    "configMap volume": (
        "ConfigMap",
        """
        containers: [{name: app, image: app}]
        volumes: [{name: v, configMap: {name: cfg}}]
        """,
        None,
    ),
    "secret volume": (
        "Secret",
        """
        containers: [{name: app, image: app}]
        volumes: [{name: v, secret: {secretName: sec}}]
        """,
        None,
    ),
    "projected configMap": (
        "ConfigMap",
        """
        containers: [{name: app, image: app}]
        volumes:
          - name: v
            projected: {sources: [{configMap: {name: cfg}}]}
        """,
        None,
    ),
    "projected secret": (
        "Secret",
        """
        containers: [{name: app, image: app}]
        volumes:
          - name: v
            projected: {sources: [{secret: {name: sec}}]}
        """,
        None,
    ),
    "ephemeral container keyRef": (
        "ConfigMap",
        """
        containers: [{name: app, image: app}]
        ephemeralContainers:
          - name: debug
            image: busybox
            env:
              - name: B
                valueFrom:
                  configMapKeyRef: {name: cfg, key: b}
        """,
        ("b",),
    ),
}


def deployment(spec: str, name: str = "app") -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), " " * 6)
    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n"
        f"  template:\n    spec:\n{body}\n"
    )


def stream(*documents: str) -> bytes:
    return "---\n".join(documents).encode("utf-8")


def sources(**values: str) -> tuple[str, str]:
    filled = {"a": "one", "b": "two", "c": "three"} | values
    return CONFIGMAP.format(**filled), SECRET.format(**filled)


def annotations(data: bytes, name: str = "app", **options: Any) -> dict[str, str]:
    result = stamp(data, **options)
    return ours(find(result.output, "Deployment", name))


def form_stream(form: str, **values: str) -> bytes:
    cm, secret = sources(**values)
    return stream(cm, secret, deployment(FORMS[form][1]))


@pytest.mark.parametrize("form", sorted(FORMS))
def test_editing_a_key_the_pod_does_not_read_restarts_nothing(form: str) -> None:
    keys = FORMS[form][2]
    before = annotations(form_stream(form))
    after = annotations(form_stream(form, c="changed"))
    assert before, "the workload must be stamped"
    if keys is None:  # the pod sees every key: c is read too
        assert after != before
    else:
        assert after == before


@pytest.mark.parametrize("form", sorted(FORMS))
def test_editing_a_key_the_pod_reads_changes_the_stamp(form: str) -> None:
    keys = FORMS[form][2] or ("a",)
    before = annotations(form_stream(form))
    for key in keys:
        after = annotations(form_stream(form, **{key: "changed"}))
        kind = FORMS[form][0].lower()
        name = "cfg" if kind == "configmap" else "sec"
        source_key = f"{kind}.confighash.dev/{name}"
        assert after[source_key] != before[source_key], key
        assert after["confighash.dev/checksum"] != before["confighash.dev/checksum"], key


@pytest.mark.parametrize("form", sorted(FORMS))
def test_precision_object_digests_the_whole_source(form: str) -> None:
    before = annotations(form_stream(form), precision="object")
    after = annotations(form_stream(form, c="changed"), precision="object")
    assert after != before


def test_whole_object_digest_is_the_same_under_both_precisions() -> None:
    data = form_stream("configMapRef envFrom")
    assert annotations(data) == annotations(data, precision="object")


def test_key_digest_differs_from_whole_object_digest_of_the_same_entries() -> None:
    entries = {"a": b"one"}
    assert digest.source_digest(entries, keys=("a",)) != digest.source_digest(entries)


def test_two_key_refs_to_one_source_digest_the_union_once() -> None:
    spec = """
    containers:
      - name: app
        image: app
        env:
          - name: A
            valueFrom:
              configMapKeyRef: {name: cfg, key: a}
      - name: sidecar
        image: side
        env:
          - name: B
            valueFrom:
              configMapKeyRef: {name: cfg, key: b}
    """
    cm, secret = sources()
    base = annotations(stream(cm, secret, deployment(spec)))
    assert sorted(base) == ["confighash.dev/checksum", "configmap.confighash.dev/cfg"]
    for key in ("a", "b"):
        cm2, _ = sources(**{key: "changed"})
        assert annotations(stream(cm2, secret, deployment(spec))) != base, key
    cm3, _ = sources(c="changed")
    assert annotations(stream(cm3, secret, deployment(spec))) == base
    # The digest is the one of the union, independent of which container reads which key.
    expected = digest.short(
        digest.source_digest({"a": b"one", "b": b"two", "c": b"three"}, keys=("a", "b"))
    )
    assert base["configmap.confighash.dev/cfg"] == expected


def test_a_key_ref_and_an_envfrom_of_one_source_digest_the_whole_object() -> None:
    spec = """
    containers:
      - name: app
        image: app
        env:
          - name: A
            valueFrom:
              configMapKeyRef: {name: cfg, key: a}
        envFrom: [{configMapRef: {name: cfg}}]
    """
    cm, secret = sources()
    cm2, _ = sources(c="changed")
    assert annotations(stream(cm, secret, deployment(spec))) != annotations(
        stream(cm2, secret, deployment(spec))
    )


def test_two_workloads_reading_different_keys_restart_independently() -> None:
    reads_a = FORMS["configMapKeyRef"][1]
    reads_b = FORMS["ephemeral container keyRef"][1]
    cm, secret = sources()
    cm2, _ = sources(a="changed")
    docs1 = stream(cm, secret, deployment(reads_a, "wa"), deployment(reads_b, "wb"))
    docs2 = stream(cm2, secret, deployment(reads_a, "wa"), deployment(reads_b, "wb"))
    assert annotations(docs1, "wa") != annotations(docs2, "wa")
    assert annotations(docs1, "wb") == annotations(docs2, "wb")
    # The per-source annotation is per (workload, source): the two workloads' values differ.
    assert (
        annotations(docs1, "wa")["configmap.confighash.dev/cfg"]
        != (annotations(docs1, "wb")["configmap.confighash.dev/cfg"])
    )


def test_secret_key_digest_is_canonical_over_data_and_string_data() -> None:
    spec = FORMS["secretKeyRef"][1]
    plain = "apiVersion: v1\nkind: Secret\nmetadata: {name: sec}\nstringData: {a: x, c: one}\n"
    encoded = "apiVersion: v1\nkind: Secret\nmetadata: {name: sec}\ndata: {a: eA==, c: dHdv}\n"
    assert annotations(stream(plain, deployment(spec))) == annotations(
        stream(encoded, deployment(spec))
    )


def test_image_pull_secrets_digest_the_whole_secret() -> None:
    spec = """
    containers: [{name: app, image: app}]
    imagePullSecrets: [{name: sec}]
    """
    cm, secret = sources()
    _, secret2 = sources(c="changed")
    before = annotations(stream(cm, secret, deployment(spec)), include_image_pull_secrets=True)
    after = annotations(stream(cm, secret2, deployment(spec)), include_image_pull_secrets=True)
    assert before and after != before


# Missing keys: "absent" is a state of its own.


def test_absent_key_never_encodes_like_a_present_value() -> None:
    absent = digest.encode_selection({}, ["a"])
    assert absent != digest.encode_selection({"a": b""}, ["a"])
    assert absent != digest.encode_selection({"a": b"\x00"}, ["a"])
    assert digest.source_digest({}, keys=["a"]) != digest.source_digest({"a": b""}, keys=["a"])
    # A selection never encodes like a whole object either.
    assert digest.encode_selection({}, []) != digest.encode_entries({})


MISSING = """
containers:
  - name: app
    image: app
    env:
      - name: D
        valueFrom:
          configMapKeyRef: {{name: cfg, key: d{optional}}}
"""


def test_a_missing_key_is_warned_about_and_its_arrival_restarts() -> None:
    spec = MISSING.format(optional="")
    cm, secret = sources()
    result = stamp(stream(cm, secret, deployment(spec)).decode())
    warned = messages(result, "missing-key")
    assert len(warned) == 1
    assert "key d of ConfigMap cfg" in warned[0]
    before = ours(find(result.output, "Deployment", "app"))
    assert before, "a workload reading a missing key is still stamped"
    with_d = cm.replace('  c: "three"\n', '  c: "three"\n  d: ""\n')
    assert annotations(stream(with_d, secret, deployment(spec))) != before
    # Other keys of the source still do not matter.
    cm2, _ = sources(a="changed")
    assert annotations(stream(cm2, secret, deployment(spec))) == before


def test_a_missing_key_of_an_optional_ref_is_silent_and_strict_fails_otherwise() -> None:
    cm, secret = sources()
    optional = stream(cm, secret, deployment(MISSING.format(optional=", optional: true")))
    assert messages(stamp(optional.decode()), "missing-key") == []
    required = stream(cm, secret, deployment(MISSING.format(optional="")))
    out, err = io.BytesIO(), io.StringIO()
    status = cli.main(
        ["stamp", "--strict", "-"], environ={}, stdin=io.BytesIO(required), stdout=out, stderr=err
    )
    assert status == 1
    assert out.getvalue() == b""
    assert "has no such key" in err.getvalue()


def test_missing_item_keys_of_a_volume_are_warned_about() -> None:
    spec = """
    containers: [{name: app, image: app}]
    volumes:
      - name: v
        secret:
          secretName: sec
          items: [{key: a, path: a}, {key: zz, path: zz}]
    """
    cm, secret = sources()
    warned = messages(stamp(stream(cm, secret, deployment(spec)).decode()), "missing-key")
    assert len(warned) == 1 and "key zz of Secret sec" in warned[0]


# The command line


def _cli(argv: list[str], data: bytes) -> tuple[int, bytes, str]:
    out, err = io.BytesIO(), io.StringIO()
    status = cli.main(argv, environ={}, stdin=io.BytesIO(data), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_cli_precision_option_on_stamp() -> None:
    before, after = form_stream("configMapKeyRef"), form_stream("configMapKeyRef", c="x")
    assert _cli(["stamp", "-"], before)[1] == _cli(["stamp", "-"], after)[1].replace(
        b'c: "x"', b'c: "three"'
    )
    obj_before = _cli(["stamp", "--precision", "object", "-"], before)[1]
    obj_after = _cli(["stamp", "--precision", "object", "-"], after)[1]
    assert ours(find(obj_before, "Deployment")) != ours(find(obj_after, "Deployment"))
    assert _cli(["stamp", "--precision", "bogus", "-"], before)[0] == 2


def test_cli_precision_option_on_build_of_the_example(oracle: Read) -> None:
    target = str(EXAMPLES / "overlays" / "production")
    status, key_level, _ = _cli(["build", target], b"")
    assert status == 0
    status, whole, _ = _cli(["build", "--precision", "object", target], b"")
    assert status == 0
    backend_key = ours(find(key_level, "Deployment", "prod-backend"))
    backend_whole = ours(find(whole, "Deployment", "prod-backend"))
    # envFrom and volumes read whole objects: equal; secretKeyRef sources differ.
    for name in ("prod-backend-config", "prod-backend-env", "prod-backend-logging"):
        key = f"configmap.confighash.dev/{name}"
        assert backend_key[key] == backend_whole[key]
    assert (
        backend_key["secret.confighash.dev/prod-backend-db"]
        != backend_whole["secret.confighash.dev/prod-backend-db"]
    )
    # What Argo CD reads differs only in our annotations.
    assert len(objects(oracle(key_level))) == len(objects(oracle(whole)))


def test_plan_records_the_union_of_keys_per_source() -> None:
    data = y(
        """
        apiVersion: v1
        kind: Secret
        metadata: {name: db}
        stringData: {username: u, password: p, unused: x}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: app}
        spec:
          template:
            spec:
              containers:
                - name: app
                  image: app
                  env:
                    - name: U
                      valueFrom: {secretKeyRef: {name: db, key: username}}
                    - name: P
                      valueFrom: {secretKeyRef: {name: db, key: password}}
        """
    )
    result = pipeline.stamp(data, pipeline.Options())
    (plan,) = result.plans
    (use,) = plan.uses
    assert use.keys == ("password", "username")
    assert len(use.refs) == 2
    assert [s.identity.name for _, s in plan.consumed] == ["db"]
