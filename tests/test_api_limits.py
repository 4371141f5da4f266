"""What the API server refuses that confighash can see at render time.

Size: a ConfigMap or Secret whose data adds up to more than 1 MiB (core.MaxSecretSize, counted as
ValidateConfigMap and ValidateSecret count it) cannot be stored: a warning, an error under --strict.
Immutable: an ``immutable: true`` source whose data changes is rejected on update, which only a
diff can see; build, which has no history, says nothing of it.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from helpers import envfrom_deployment, run_cli

from cmp import sources
from cmp.model import Findings

LIMIT = 1024 * 1024


def configmap(name: str, data: dict[str, str], *, extra: str = "", binary: bytes = b"") -> str:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", f"  name: {name}"]
    lines += [extra] if extra else []
    if data:
        lines += ["data:"] + [f'  {k}: "{v}"' for k, v in data.items()]
    if binary:
        lines += ["binaryData:", f"  blob: {base64.b64encode(binary).decode()}"]
    return "\n".join(lines) + "\n"


def secret(name: str, raw: dict[str, bytes], string_data: dict[str, str] | None = None) -> str:
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", f"  name: {name}", "data:"]
    lines += [f"  {k}: {base64.b64encode(v).decode()}" for k, v in raw.items()]
    if string_data:
        lines += ["stringData:"] + [f'  {k}: "{v}"' for k, v in string_data.items()]
    return "\n".join(lines) + "\n"


def stream(*docs: str) -> bytes:
    return "---\n".join(docs).encode()


def too_large(data: bytes, *argv: str) -> list[str]:
    done = run_cli(["stamp", *argv, "-"], data)
    assert done.code == 0, done
    return [line for line in done.stderr.splitlines() if "bytes of data" in line]


# Size


def test_exactly_the_limit_is_stored_one_byte_more_is_not() -> None:
    # the keys do not count: only the values' lengths add up
    at = configmap("big", {"a": "x" * (LIMIT - 10), "long-key-name-not-counted": "y" * 10})
    assert too_large(stream(at)) == []
    over = configmap("big", {"a": "x" * (LIMIT - 10), "long-key-name-not-counted": "y" * 11})
    (line,) = too_large(stream(over))
    assert line == (
        "confighash: warning: document 1 (line 1, ConfigMap big): ConfigMap big holds 1048577 "
        "bytes of data, over the API server's limit of 1048576 bytes (1 MiB, the sum of its "
        "values' lengths): it cannot be stored, and the sync will fail"
    )


def test_a_configmap_counts_data_and_binary_data() -> None:
    half = LIMIT // 2
    assert too_large(stream(configmap("cm", {"a": "x" * half}, binary=b"\0" * half))) == []
    (line,) = too_large(stream(configmap("cm", {"a": "x" * half}, binary=b"\0" * (half + 1))))
    assert "holds 1048577 bytes" in line


def test_utf8_values_count_in_bytes_not_characters() -> None:
    # "é" is 2 bytes in UTF-8: Go's len() of a string counts bytes
    (line,) = too_large(stream(configmap("cm", {"a": "é" * (LIMIT // 2 + 1)})))
    assert "holds 1048578 bytes" in line


def test_a_secret_counts_decoded_bytes_with_string_data_merged() -> None:
    # base64 text is 4/3 of the data: the decoded bytes count, so this fits
    assert too_large(stream(secret("s", {"a": b"\1" * LIMIT}))) == []
    # stringData replaces a data key of the same name, as the API server merges them
    merged = secret("s", {"a": b"\1" * LIMIT}, {"a": "short"})
    assert too_large(stream(merged)) == []
    (line,) = too_large(stream(secret("s", {"a": b"\1" * LIMIT}, {"b": "!"})))
    assert "Secret s holds 1048577 bytes" in line


def test_strict_fails_on_a_too_large_source(tmp_path: Path) -> None:
    data = stream(configmap("big", {"a": "x" * (LIMIT + 1)}))
    done = run_cli(["stamp", "--strict", "-"], data)
    assert (done.code, done.stdout) == (1, b"")
    assert "ConfigMap big holds 1048577 bytes" in done.error_line
    assert "--strict is set" in done.error_line


def test_explain_lists_the_size_warning() -> None:
    data = stream(configmap("big", {"a": "x" * (LIMIT + 1)}), envfrom_deployment("ConfigMap/big"))
    done = run_cli(["explain", "-o", "json", "-f", "-"], data)
    assert done.code == 0, done
    (warning,) = json.loads(done.stdout)["warnings"]
    assert "ConfigMap big holds 1048577 bytes of data" in warning


def test_a_produced_secret_has_no_size_of_its_own() -> None:
    findings = Findings()
    produced = sources.Source(
        sources.Identity(1, 1, "SealedSecret", None, "s"),
        "Secret",
        {"a": b"x" * (LIMIT + 1)},
        origin="SealedSecret",
        target="s",
    )
    sources.check_size(produced, findings)
    assert findings.problems == []


# Immutable


def _app(value: str, immutable: str = "immutable: true") -> bytes:
    cm = configmap("frozen", {"k": value, "other": "o"}, extra=immutable)
    return stream(cm, envfrom_deployment("ConfigMap/frozen"))


@pytest.mark.parametrize("output", ["markdown", "json"])
def test_diff_reports_an_immutable_source_whose_data_changes(tmp_path: Path, output: str) -> None:
    (tmp_path / "old.yaml").write_bytes(_app("1"))
    (tmp_path / "new.yaml").write_bytes(_app("2"))
    done = run_cli(["diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml"), "-o", output])
    assert done.code == 0, done
    text = done.stdout.decode()
    if output == "json":
        assert json.loads(text)["immutable"] == [
            {
                "kind": "ConfigMap",
                "namespace": None,
                "name": "frozen",
                "keys": ["k"],
                "immutableUnset": False,
            }
        ]
    else:
        assert (
            "**The sync will fail**: ConfigMap `frozen` is `immutable: true` and its data changes "
            "(key `k`); the API server rejects that update. Give the new content a new name"
        ) in text
    assert '"1"' not in text and '"2"' not in text


def test_diff_reports_an_immutable_source_that_stops_being_immutable(tmp_path: Path) -> None:
    (tmp_path / "old.yaml").write_bytes(_app("1"))
    (tmp_path / "new.yaml").write_bytes(_app("1", immutable="immutable: false"))
    done = run_cli(["diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml"), "-o", "json"])
    (change,) = json.loads(done.stdout)["immutable"]
    assert (change["keys"], change["immutableUnset"]) == ([], True)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("immutable: true", "immutable: true"),  # same data: nothing to reject
        ("immutable: false", "immutable: true"),  # the cluster's copy is mutable: it may change
        ("", ""),
    ],
)
def test_diff_says_nothing_when_the_update_is_allowed(tmp_path: Path, old: str, new: str) -> None:
    (tmp_path / "old.yaml").write_bytes(_app("1", old))
    value = "1" if old == new == "immutable: true" else "2"
    (tmp_path / "new.yaml").write_bytes(_app(value, new))
    done = run_cli(["diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml"), "-o", "json"])
    assert json.loads(done.stdout)["immutable"] == []
    assert (
        "sync will fail"
        not in run_cli(
            ["diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml")]
        ).stdout.decode()
    )


def test_build_has_no_history_and_says_nothing_of_immutable() -> None:
    done = run_cli(["stamp", "-"], _app("1"))
    assert done.code == 0 and done.stderr == "", done
