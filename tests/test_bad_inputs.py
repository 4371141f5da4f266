"""Bad input: a named error on one stderr line that says which document, nothing on stdout."""

from __future__ import annotations

import pytest
from helpers import CORPUS, assert_failed_cleanly, find, run_cli, stamp

from cmp.errors import InputError

GOOD_FIRST = b"apiVersion: v1\nkind: Service\nmetadata:\n  name: first\n---\n"


def _deployment(template: bytes) -> bytes:
    return b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n" + (
        b"spec:\n  template:\n" + template
    )


ENV_FROM = b"    spec:\n      containers:\n      - name: a\n        image: b\n        envFrom:\n"

# (stream, text the error must contain, how the document is named)
BAD_INPUTS = [
    pytest.param(
        b'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: "unterminated\n',
        "malformed YAML at line 12",
        "document 2 (line 6)",
        id="malformed-yaml-unterminated-quote",
    ),
    pytest.param(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n",
        "malformed YAML at line 9",
        "document 2 (line 6)",
        id="malformed-yaml-tab-indent",
    ),
    pytest.param(
        b"metadata: {name: x\napiVersion: v1\n",
        "malformed YAML",
        "document 2 (line 6)",
        id="malformed-yaml-without-kind-line",
    ),
    pytest.param(
        _deployment(b"    metadata: {labels: [}\n" + ENV_FROM),
        "malformed YAML",
        "document 2 (line 6)",
        id="malformed-yaml-in-a-workload",
    ),
    pytest.param(b"- a\n- b\n", "is a list, not a mapping", "document 2 (line 6)", id="list-doc"),
    pytest.param(b"hello\n", "is a string, not a mapping", "document 2 (line 6)", id="scalar-doc"),
    pytest.param(b"'42'\n", "not a mapping", "document 2 (line 6)", id="quoted-scalar-doc"),
    pytest.param(
        b"apiVersion: v1\nmetadata:\n  name: x\n", "has no kind", "document 2", id="missing-kind"
    ),
    pytest.param(
        b"apiVersion: v1\nkind: ''\nmetadata:\n  name: x\n",
        "has no kind",
        "document 2",
        id="empty-kind",
    ),
    pytest.param(
        b"apiVersion: v1\nkind: null\nmetadata:\n  name: x\n",
        "has no kind",
        "document 2",
        id="null-kind",
    ),
    pytest.param(
        b"apiVersion: v1\nkind: 5\nmetadata:\n  name: x\n",
        "kind is a",
        "document 2",
        id="number-kind",
    ),
    pytest.param(
        b"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  metadata:\n    name: x\n",
        "has no kind",
        "document 2 item 0",
        id="missing-kind-in-list-item",
    ),
    pytest.param(
        _deployment(
            b"    metadata:\n      annotations:\n        a: b\n      annotations:\n        c: d\n"
            + ENV_FROM
            + b"        - configMapRef:\n            name: cm\n"
        ),
        "duplicate key spec.template.metadata.annotations",
        "document 2 (line 6, Deployment shop/web)",
        id="duplicate-annotations-in-stamped-document",
    ),
    pytest.param(
        _deployment(b"    metadata:\n      labels: {a: b, a: c}\n" + ENV_FROM),
        "duplicate key spec.template.metadata.labels.a",
        "Deployment shop/web",
        id="duplicate-label-in-workload",
    ),
    pytest.param(
        b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: shop\n"
        b"data:\n  password: s3cr3t-Value!\n",
        "data.password is not valid base64",
        "document 2 (line 6, Secret shop/creds)",
        id="invalid-base64-in-secret-data",
    ),
    pytest.param(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\nbinaryData:\n  f: '@@@@'\n",
        "binaryData.f is not valid base64",
        "ConfigMap cm",
        id="invalid-base64-in-binaryData",
    ),
    pytest.param(
        b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ndata: [s3cr3t-Value]\n",
        "data is a list, not a mapping",
        "Secret creds",
        id="secret-data-is-a-list",
    ),
    pytest.param(
        b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  pin: 271828\n",
        "stringData.pin is a",
        "Secret creds",
        id="secret-stringData-value-is-a-number",
    ),
    pytest.param(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  debug: yes\n",
        "data.debug is a bool, not a string",
        "ConfigMap cm",
        id="configmap-data-value-is-a-yaml11-bool",
    ),
    pytest.param(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  nested:\n    a: b\n",
        "data.nested is a mapping, not a string",
        "ConfigMap cm",
        id="configmap-data-value-is-a-map",
    ),
    pytest.param(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata: text\n",
        "data is a string, not a mapping",
        "ConfigMap cm",
        id="configmap-data-is-a-string",
    ),
    pytest.param(
        _deployment(ENV_FROM + b"        - configMapRef:\n            name: 42\n"),
        "envFrom[0].configMapRef.name is a",
        "document 2 (line 6, Deployment shop/web)",
        id="reference-name-is-a-number",
    ),
    pytest.param(
        _deployment(ENV_FROM + b"        - secretRef:\n            name: [a]\n"),
        "envFrom[0].secretRef.name is a list, not a string",
        "Deployment shop/web",
        id="reference-name-is-a-list",
    ),
    pytest.param(
        _deployment(
            b"    spec:\n      containers: []\n      volumes:\n      - name: v\n"
            b"        secret:\n          secretName: {a: b}\n"
        ),
        "volumes[0].secret.secretName is a mapping, not a string",
        "Deployment shop/web",
        id="volume-secretName-is-a-map",
    ),
    pytest.param(
        _deployment(
            ENV_FROM.replace(b"envFrom", b"env")
            + b"        - name: A\n          valueFrom:\n            configMapKeyRef:\n"
            b"              name: true\n              key: k\n"
        ),
        "configMapKeyRef.name is a bool, not a string",
        "Deployment shop/web",
        id="reference-name-is-a-bool",
    ),
    pytest.param(
        b"kind: ConfigMap\n--- {}\nkind: Secret\n",
        "invalid document separator",
        "line 7",
        id="separator-with-trailing-content",
    ),
    pytest.param(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: \xff\xfe\n",
        "not valid UTF-8",
        "document 2 (line 6)",
        id="invalid-utf8",
    ),
    pytest.param(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: 17\n",
        "metadata.name is a",
        "document 2",
        id="name-is-a-number",
    ),
]

SECRET_VALUES = ["s3cr3t-Value", "271828", "hunter2"]


@pytest.mark.parametrize(("data", "problem", "where"), BAD_INPUTS)
def test_bad_input_is_a_named_error_with_empty_stdout(
    data: bytes, problem: str, where: str
) -> None:
    run = run_cli(["stamp", "-"], GOOD_FIRST + data)
    line = assert_failed_cleanly(run)
    assert problem in line
    assert where in line
    for value in SECRET_VALUES:
        assert value not in run.stderr


@pytest.mark.parametrize(("data", "problem", "where"), BAD_INPUTS)
def test_bad_input_raises_input_error_from_the_pipeline(
    data: bytes, problem: str, where: str
) -> None:
    with pytest.raises(InputError) as caught:
        stamp(GOOD_FIRST + data)
    assert problem in str(caught.value)
    assert where in str(caught.value)


def test_bad_input_fails_even_with_valid_documents_after_it() -> None:
    tail = b"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fine\n"
    run = run_cli(["stamp", "-"], GOOD_FIRST + b"- a\n" + tail)
    assert "document 2" in assert_failed_cleanly(run)


def test_invalid_base64_message_names_the_key_not_the_value() -> None:
    data = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ndata:\n  password: hunter2!\n"
    run = run_cli(["stamp", "-"], data)
    line = assert_failed_cleanly(run)
    assert "hunter2" not in line
    assert "password" in line


# --- the sourcegraph render whose imagePullSecrets is a mapping ---------------------------------

SOURCEGRAPH = CORPUS / "sourcegraph" / "rendered" / "examples_private-registry-relocated.yaml"


def test_sourcegraph_render_with_a_map_imagepullsecrets_is_present() -> None:
    text = SOURCEGRAPH.read_text()
    assert "imagePullSecrets:\n        name:" in text or "imagePullSecrets:\n      name:" in text


def test_map_imagepullsecrets_does_not_crash_by_default() -> None:
    data = SOURCEGRAPH.read_bytes()
    run = run_cli(["stamp", "-"], data)
    assert run.code == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "internal error" not in run.stderr
    assert run.stdout != data
    assert "imagePullSecrets" not in run.stderr  # not looked at without the option


def test_map_imagepullsecrets_is_a_warning_with_the_option() -> None:
    data = SOURCEGRAPH.read_bytes()
    run = run_cli(["stamp", "--include-image-pull-secrets", "-"], data)
    assert run.code == 0, run.stderr
    assert "internal error" not in run.stderr
    warnings = [line for line in run.stderr.splitlines() if "imagePullSecrets" in line]
    assert warnings
    assert all(w.startswith("confighash: warning: document ") for w in warnings)
    assert all("is a mapping, not a list" in w for w in warnings)
    # the rest of the stream is stamped as without the option
    assert run.stdout == run_cli(["stamp", "-"], data).stdout


def test_map_imagepullsecrets_fails_cleanly_under_strict() -> None:
    run = run_cli(
        ["stamp", "--strict", "--include-image-pull-secrets", "-"], SOURCEGRAPH.read_bytes()
    )
    assert run.code == 1
    assert run.stdout == b""
    assert "Traceback" not in run.stderr
    assert run.stderr.splitlines()[-1].startswith("confighash: error: document ")


def test_map_imagepullsecrets_workload_is_still_stamped() -> None:
    data = b"""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      imagePullSecrets:
        name: registry
      containers:
      - name: a
        image: b
        envFrom:
        - configMapRef:
            name: cm
"""
    result = stamp(data, include_image_pull_secrets=True)
    assert "confighash.dev/checksum" in str(find(result.output, "Deployment", "web"))
    assert [p.code for p in result.problems] == ["malformed"]
