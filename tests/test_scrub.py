"""cmp.scrub: kustomize's error text, reduced to one line without Secret values."""

from __future__ import annotations

import base64
import textwrap
from pathlib import Path

from cmp import scrub


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def test_kustomize_error_line_is_kept_and_dumps_are_dropped() -> None:
    stderr = (
        "# Warning: 'commonLabels' is deprecated. Please use 'labels' instead.\n"
        "Error: wrong node kind: expected ScalarNode but got SequenceNode: node contents:\n"
        "- hunter2\n"
        "  more: hunter3\n"
    )
    text = scrub.error_text(stderr, [])
    assert text.startswith("wrong node kind: expected ScalarNode but got SequenceNode")
    assert "hunter" not in text
    assert "3 more lines of kustomize output hidden" in text


def test_kubectl_klog_lines_are_unwrapped() -> None:
    quoted = (
        'E1126 05:40:50.410779   20570 run.go:72] "command failed" '
        'err="loading KV pairs: literal sources [x]: \\"quoted\\" here"\n'
    )
    assert scrub.error_text(quoted, []) == 'loading KV pairs: literal sources [x]: "quoted" here'
    multiline = (
        'E1126 05:40:50.861920   20577 run.go:72] "command failed" err=<\n'
        "\twrong node kind: expected ScalarNode but got SequenceNode: node contents:\n"
        "\t[hunter5]\n"
        " >\n"
    )
    text = scrub.error_text(multiline, [])
    assert text.startswith("wrong node kind")
    assert "hunter5" not in text and "1 more line " in text


def test_everything_after_a_data_key_is_cut() -> None:
    for stderr in (
        "Error: bad object map[apiVersion:v1 data:map[password:aHVudGVy] kind:Secret]",
        'Error: bad object {"kind":"Secret","data":{"password":"aHVudGVy"}}',
        "Error: bad object stringData: {token: hunter}",
        "Error: bad object binaryData=hunter",
    ):
        text = scrub.error_text(stderr, [])
        assert "hunter" not in text and "aHVudGVy" not in text
        assert text.endswith(scrub.REDACTED)
    assert scrub.error_text("Error: missing metadata: name", []) == "missing metadata: name"


def test_without_an_error_line_the_last_line_is_used() -> None:
    assert scrub.error_text("something\nwent wrong\n", []) == (
        "went wrong (1 more line of kustomize output hidden: they can quote input)"
    )
    assert scrub.error_text("", []) == "no message"


def test_values_are_redacted_whole_words_when_short() -> None:
    text = scrub.redact("pin 1234 in 12345 and hunter22 in xhunter22x", ["1234", "hunter22"])
    assert text == "pin [redacted] in 12345 and [redacted] in x[redacted]x"
    assert scrub.redact("a ab", ["a", "ab"]) == "a ab"  # too short to redact


def test_sensitive_values_of_secrets_generators_and_bases(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "base/kustomization.yaml": "resources: [secret.yaml]\n",
            "base/secret.yaml": f"""
                apiVersion: v1
                kind: ConfigMap
                metadata: {{name: cm}}
                data: {{plain: not-a-secret-value}}
                ---
                apiVersion: v1
                kind: Secret
                metadata: {{name: s}}
                data:
                  password: {base64.b64encode(b"decoded-password").decode()}
                stringData:
                  cert: |
                    -----BEGIN CERT-----
                    line-one-of-the-cert
                """,
            "app/kustomization.yaml": """
                resources: [../base]
                secretGenerator:
                - name: g
                  literals: [USER=literal-user]
                  envs: [db.env]
                  files: [key=tls.key]
                """,
            "app/db.env": "PASSWORD=env-password\n",
            "app/tls.key": "private-key-bytes\n",
            "elsewhere/secret.yaml": "kind: Secret\ndata: {x: not-reached-value}\n",
        },
    )
    values = scrub.sensitive_values(tmp_path / "app")
    for expected in (
        "decoded-password",
        "line-one-of-the-cert",
        "literal-user",
        "USER=literal-user",
        "env-password",
        "private-key-bytes",
    ):
        assert expected in values
    assert "not-a-secret-value" not in values  # ConfigMaps are not Secret data
    assert "not-reached-value" not in values  # not part of the build
    assert "password" not in values  # key names stay readable


def test_unparsable_secret_yields_its_values(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "secret.yaml": """
                apiVersion: v1
                kind: Secret
                metadata:
                  name: s
                stringData:
                  token: "unterminated-token
                  other: plain-other
                """
        },
    )
    values = scrub.sensitive_values(tmp_path)
    assert "unterminated-token" in values and "plain-other" in values
    assert "v1" not in values  # top-level keys' values are kept


def test_key_values() -> None:
    key = b"0123456789abcdef-key"
    assert {key.hex(), key.decode()} <= scrub.key_values(key)
    assert scrub.key_values(None) == set()
