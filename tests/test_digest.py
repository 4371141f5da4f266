"""Digests cover exactly what a pod sees, unambiguously encoded, keyed for Secrets on request."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import find, messages, ours, run_cli, stamp

from cmp import digest

WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: app
        image: app:1
      volumes:
      - name: c
        configMap:
          name: {name}
      - name: s
        secret:
          secretName: {name}
"""


def with_workload(source: str, name: str = "src") -> bytes:
    return (source + "---\n" + WORKLOAD.format(name=name)).encode()


def annotations(source: str, **options: object) -> dict[str, str]:
    """Our annotations on a Deployment that mounts ``source`` (whole object) as a volume."""
    return ours(find(stamp(with_workload(source), **options).output, "Deployment", "web"))


def source_annotation(source: str, **options: object) -> str:
    found = {k: v for k, v in annotations(source, **options).items() if "/src" in k}
    assert len(found) == 1, found
    return next(iter(found.values()))


def secret(body: str) -> str:
    return "apiVersion: v1\nkind: Secret\nmetadata:\n  name: src\n" + body


def configmap(body: str) -> str:
    return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: src\n" + body


SAME_SECRET = [
    pytest.param("stringData:\n  a: x\n", "data:\n  a: eA==\n", id="stringData-equals-base64-data"),
    pytest.param(
        "data:\n  a: eQ==\nstringData:\n  a: x\n",
        "stringData:\n  a: x\n",
        id="stringData-overrides-data",
    ),
    pytest.param(
        "data:\n  a: eA==\nstringData:\n  b: z\n",
        "data:\n  a: eA==\n  b: eg==\n",
        id="stringData-merges-with-data",
    ),
    pytest.param(
        "data:\n  a: |\n    aGVsbG8gd29y\n    bGQ=\n",
        "stringData:\n  a: hello world\n",
        id="data-base64-folded-over-lines",
    ),
    pytest.param(
        "type: Opaque\ndata:\n  a: eA==\n", "data:\n  a: eA==\n", id="type-is-not-content"
    ),
    pytest.param(
        "data:\n  a: eA==\n  b: eQ==\n",
        "data:\n  b: eQ==\n  a: eA==\n",
        id="key-order-is-not-content",
    ),
    pytest.param("stringData:\n  a: x\n", 'stringData:\n  "a": "x"\n', id="quoting-is-not-content"),
    pytest.param("data: {}\n", "stringData: {}\n", id="empty-is-empty"),
]


@pytest.mark.parametrize(("left", "right"), SAME_SECRET)
def test_secret_digest_is_what_the_pod_sees(left: str, right: str) -> None:
    assert source_annotation(secret(left)) == source_annotation(secret(right))
    assert annotations(secret(left)) == annotations(secret(right))


SAME_CONFIGMAP = [
    pytest.param("binaryData:\n  a: eA==\n", "data:\n  a: x\n", id="binaryData-is-decoded"),
    pytest.param(
        "data:\n  a: x\nbinaryData:\n  b: eg==\n",
        "data:\n  a: x\n  b: z\n",
        id="binaryData-merges-with-data",
    ),
    pytest.param(
        "data:\n  f: |\n    line\n", 'data:\n  f: "line\\n"\n', id="block-scalar-equals-quoted"
    ),
    pytest.param("immutable: true\ndata:\n  a: x\n", "data:\n  a: x\n", id="immutable-flag"),
    pytest.param("data:\n  a: x\n", "data:\n  a: x\nbinaryData: {}\n", id="empty-binaryData"),
]


@pytest.mark.parametrize(("left", "right"), SAME_CONFIGMAP)
def test_configmap_digest_is_what_the_pod_sees(left: str, right: str) -> None:
    assert source_annotation(configmap(left)) == source_annotation(configmap(right))


METADATA_ONLY = [
    pytest.param("  labels:\n    team: a\n", id="label-added"),
    pytest.param("  annotations:\n    note: changed\n", id="annotation-added"),
    pytest.param("  annotations:\n    kubectl.kubernetes.io/last-applied: '{}'\n", id="kubectl"),
    pytest.param("  uid: 1234\n  resourceVersion: '7'\n", id="server-fields"),
]


@pytest.mark.parametrize("kind", ["ConfigMap", "Secret"])
@pytest.mark.parametrize("extra_metadata", METADATA_ONLY)
def test_metadata_only_edit_changes_no_annotation(kind: str, extra_metadata: str) -> None:
    field = "data:\n  a: eA==\n"
    plain = f"apiVersion: v1\nkind: {kind}\nmetadata:\n  name: src\n{field}"
    edited = f"apiVersion: v1\nkind: {kind}\nmetadata:\n  name: src\n{extra_metadata}{field}"
    assert annotations(plain) == annotations(edited)


CONTENT_CHANGES = [
    pytest.param("data:\n  a: x\n", "data:\n  a: z\n", id="value-changed"),
    pytest.param("data:\n  a: x\n", "data:\n  a: x\n  b: z\n", id="key-added"),
    pytest.param("data:\n  a: x\n  b: z\n", "data:\n  a: x\n", id="key-removed"),
    pytest.param("data:\n  a: x\n", "data:\n  b: x\n", id="key-renamed"),
    pytest.param("data:\n  a: x\n", "data:\n  a: 'x '\n", id="trailing-space"),
    pytest.param("data:\n  a: x\n", "data:\n  a: ''\n", id="emptied"),
    pytest.param("data:\n  a: x\n", "binaryData:\n  a: eQ==\n", id="binaryData-content"),
]


@pytest.mark.parametrize(("before", "after"), CONTENT_CHANGES)
def test_content_change_changes_the_source_annotation_and_checksum(before: str, after: str) -> None:
    old, new = annotations(configmap(before)), annotations(configmap(after))
    assert old["configmap.confighash.dev/src"] != new["configmap.confighash.dev/src"]
    assert old["confighash.dev/checksum"] != new["confighash.dev/checksum"]


def test_secret_content_change_changes_the_annotation() -> None:
    old = annotations(secret("stringData:\n  a: x\n"))
    new = annotations(secret("stringData:\n  a: z\n"))
    assert old["secret.confighash.dev/src"] != new["secret.confighash.dev/src"]
    assert old["confighash.dev/checksum"] != new["confighash.dev/checksum"]


COLLISIONS = [
    pytest.param({"a": b"1;b=2"}, {"a": b"1", "b": b"2"}, id="reloader-k=v;-join"),
    pytest.param({"ab": b"c"}, {"a": b"bc"}, id="key-value-boundary"),
    pytest.param({"a": b""}, {}, id="empty-value-vs-absent"),
    pytest.param({"a": b"x\nb: y"}, {"a": b"x", "b": b"y"}, id="yaml-like-join"),
]


@pytest.mark.parametrize(("left", "right"), COLLISIONS)
def test_encoding_is_unambiguous(left: dict[str, bytes], right: dict[str, bytes]) -> None:
    assert digest.encode_entries(left) != digest.encode_entries(right)
    assert digest.source_digest(left) != digest.source_digest(right)


def test_reloader_style_collision_gives_different_annotations_end_to_end() -> None:
    joined = annotations(configmap("data:\n  a: 1;b=2\n"))
    split = annotations(configmap('data:\n  a: "1"\n  b: "2"\n'))
    assert joined["configmap.confighash.dev/src"] != split["configmap.confighash.dev/src"]
    assert joined["confighash.dev/checksum"] != split["confighash.dev/checksum"]


def test_checksum_carries_the_scheme_tag() -> None:
    value = annotations(configmap("data:\n  a: x\n"))["confighash.dev/checksum"]
    assert re.fullmatch(rf"{digest.SCHEME}:[0-9a-f]{{32}}", value)
    assert value.startswith("v1:")


def test_source_annotations_are_short_hex() -> None:
    for key, value in annotations(configmap("data:\n  a: x\n")).items():
        if key != "confighash.dev/checksum":
            assert re.fullmatch(r"[0-9a-f]{12}", value)


# --- keyed Secret digests ----------------------------------------------------------------------

KEY = b"k3y-that-must-never-be-printed-0123456789"
OTHER_KEY = b"another-key-of-enough-length-987654321"
SECRET_STREAM = with_workload(
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: src\ndata:\n  a: x\n---\n"
    + secret("stringData:\n  password: hunter2\n")
)


def _key_file(tmp_path: Path, key: bytes, name: str = "key") -> str:
    path = tmp_path / name
    path.write_bytes(key + b"\n")
    return str(path)


def _stamped(args: list[str], environ: dict[str, str] | None = None) -> dict[str, str]:
    run = run_cli(["stamp", *args, "-"], SECRET_STREAM, environ)
    assert run.code == 0, run.stderr
    return ours(find(run.stdout, "Deployment", "web"))


def test_keyed_secret_digest_differs_from_unkeyed_and_depends_on_the_key(tmp_path: Path) -> None:
    unkeyed = _stamped([])
    keyed = _stamped(["--secret-key-file", _key_file(tmp_path, KEY)])
    other = _stamped(["--secret-key-file", _key_file(tmp_path, OTHER_KEY, "other")])
    again = _stamped(["--secret-key-file", _key_file(tmp_path, KEY, "same")])
    name = "secret.confighash.dev/src"
    assert len({unkeyed[name], keyed[name], other[name]}) == 3
    assert keyed == again
    assert len({unkeyed["confighash.dev/checksum"], keyed["confighash.dev/checksum"]}) == 2
    # ConfigMap digests are never keyed
    assert unkeyed["configmap.confighash.dev/src"] == keyed["configmap.confighash.dev/src"]


def test_key_file_from_the_environment(tmp_path: Path) -> None:
    by_flag = _stamped(["--secret-key-file", _key_file(tmp_path, KEY)])
    by_env = _stamped([], {"CONFIGHASH_SECRET_KEY_FILE": _key_file(tmp_path, KEY, "env")})
    assert by_flag == by_env


def test_key_flag_beats_the_environment(tmp_path: Path) -> None:
    environ = {"CONFIGHASH_SECRET_KEY_FILE": _key_file(tmp_path, OTHER_KEY, "env")}
    by_flag = _stamped(["--secret-key-file", _key_file(tmp_path, KEY)], environ)
    assert by_flag == _stamped(["--secret-key-file", _key_file(tmp_path, KEY, "k2")])


def test_the_key_never_appears_in_stdout_or_stderr(tmp_path: Path) -> None:
    key_file = _key_file(tmp_path, KEY)
    run = run_cli(["stamp", "--secret-key-file", key_file, "-"], SECRET_STREAM)
    assert run.code == 0
    for text in (run.stdout.decode(), run.stderr):
        assert KEY.decode() not in text
        assert KEY.hex() not in text
    assert "hunter2" not in run.stderr
    short = tmp_path / "short"
    short.write_bytes(b"tiny-secret")
    run = run_cli(["stamp", "--secret-key-file", str(short), "-"], SECRET_STREAM)
    assert run.code == 1
    assert run.stdout == b""
    assert "tiny-secret" not in run.stderr
    assert "secret key file" in run.stderr


UNKEYED_WARNING = [
    pytest.param(SECRET_STREAM.decode(), 1, id="one-Secret-consumed"),
    pytest.param(
        SECRET_STREAM.decode() + "---\n" + WORKLOAD.format(name="src").replace("web", "api"),
        1,
        id="two-workloads-consume-Secrets-still-once",
    ),
    pytest.param(
        secret("stringData:\n  a: x\n")
        + "---\n"
        + secret("stringData:\n  b: z\n").replace("name: src", "name: other"),
        0,
        id="Secrets-in-stream-but-not-consumed",
    ),
    pytest.param(
        with_workload(configmap("data:\n  a: x\n")).decode(), 0, id="only-ConfigMaps-consumed"
    ),
]


@pytest.mark.parametrize(("text", "count"), UNKEYED_WARNING)
def test_unkeyed_warning_once_and_only_when_a_secret_is_consumed(text: str, count: int) -> None:
    run = run_cli(["stamp", "-"], text.encode())
    assert run.code == 0
    lines = [line for line in run.stderr.splitlines() if "not keyed" in line]
    assert len(lines) == count
    assert all(line.startswith("confighash: warning:") for line in lines)
    assert len(messages(stamp(text.encode()), "unkeyed-secret-digest")) == count


def test_no_unkeyed_warning_with_a_key(tmp_path: Path) -> None:
    run = run_cli(["stamp", "--secret-key-file", _key_file(tmp_path, KEY), "-"], SECRET_STREAM)
    assert run.code == 0
    assert run.stderr == ""


def test_no_unkeyed_warning_when_the_secret_consumer_is_an_unstamped_job() -> None:
    text = SECRET_STREAM.decode().replace("apps/v1\nkind: Deployment", "batch/v1\nkind: Job")
    result = stamp(text.encode())
    assert messages(result, "unkeyed-secret-digest") == []
    assert len(messages(result, "job-not-stamped")) == 1


# --- annotation keys ---------------------------------------------------------------------------

NAME_PART = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
LONG_A = "a" * 70 + "-first"
LONG_B = "a" * 70 + "-second"


def _long_names_stream(*names: str) -> bytes:
    parts = []
    for name in names:
        parts.append(configmap("data:\n  a: x\n").replace("name: src", f"name: {name}"))
    volumes = "".join(
        f"      - name: v{i}\n        configMap:\n          name: {n}\n"
        for i, n in enumerate(names)
    )
    workload = WORKLOAD.split("      - name: c\n", maxsplit=1)[0] + volumes
    return ("---\n".join([*parts, workload])).encode()


def test_over_long_names_give_valid_deterministic_distinct_keys() -> None:
    data = _long_names_stream(LONG_A, LONG_B, "short")
    first = ours(find(stamp(data).output, "Deployment", "web"))
    second = ours(find(stamp(data).output, "Deployment", "web"))
    assert first == second
    keys = sorted(k for k in first if k.startswith("configmap."))
    assert len(keys) == 3
    assert "configmap.confighash.dev/short" in keys
    for key in keys:
        prefix, name = key.split("/")
        assert prefix == "configmap.confighash.dev"
        assert len(name) <= 63
        assert NAME_PART.fullmatch(name), name
    # the key of a long name does not depend on the other names in the stream
    alone = ours(find(stamp(_long_names_stream(LONG_A)).output, "Deployment", "web"))
    assert set(alone) - {"confighash.dev/checksum"} <= set(first)


def test_exactly_63_characters_is_kept_as_is() -> None:
    name = "b" * 63
    data = _long_names_stream(name)
    assert f"configmap.confighash.dev/{name}" in ours(find(stamp(data).output, "Deployment", "web"))


def test_annotation_prefix_replaces_the_prefix_everywhere() -> None:
    run = run_cli(["stamp", "--annotation-prefix", "example.org", "-"], SECRET_STREAM)
    assert run.code == 0
    assert b"confighash.dev" not in run.stdout
    stamped = ours(find(run.stdout, "Deployment", "web"), prefix="example.org")
    assert sorted(stamped) == [
        "configmap.example.org/src",
        "example.org/checksum",
        "secret.example.org/src",
    ]
    default = _stamped([])
    assert stamped["example.org/checksum"] == default["confighash.dev/checksum"]


def test_annotation_prefix_applies_to_the_ignore_control() -> None:
    ignored = SECRET_STREAM.replace(
        b"  name: web\n", b"  name: web\n  annotations:\n    example.org/ignore: 'true'\n"
    )
    run = run_cli(["stamp", "--annotation-prefix", "example.org", "-"], ignored)
    assert run.stdout == ignored
    run = run_cli(["stamp", "-"], ignored)  # not our prefix now: stamped as usual
    assert b"confighash.dev/checksum" in run.stdout


@pytest.mark.parametrize("prefix", ["Example.org", "-bad", "has/slash", "", "a" * 260])
def test_invalid_annotation_prefix_is_refused(prefix: str) -> None:
    run = run_cli(["stamp", f"--annotation-prefix={prefix}", "-"], SECRET_STREAM)
    assert run.code in (1, 2)
    assert run.stdout == b""
    assert "annotation-prefix" in run.stderr
