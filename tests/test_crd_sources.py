"""SealedSecret and ExternalSecret stand for the Secret their controller produces.

Fixtures: tests/fixtures/crd-sources/. A producer is digested over the part of its spec that
decides the Secret's content; a real Secret of the same name wins, with a warning; explain says
that a rotation at the secret store is not seen.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers import find, messages, ours, stamp
from oracle import objects

from cmp import cli, pipeline

Read = Callable[[bytes], list[dict[str, Any]]]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "crd-sources"
SEALED = (FIXTURES / "sealed-secret.yaml").read_text()
EXTERNAL = (FIXTURES / "external-secret.yaml").read_text()
SHADOWED = (FIXTURES / "shadowed.yaml").read_text()


def run(argv: list[str], data: bytes) -> tuple[int, str, str]:
    out, err = io.BytesIO(), io.StringIO()
    status = cli.main(argv, environ={}, stdin=io.BytesIO(data), stdout=out, stderr=err)
    return status, out.getvalue().decode("utf-8"), err.getvalue()


def stamped(text: str, kind: str, name: str, **options: Any) -> dict[str, str]:
    return ours(find(stamp(text.encode(), **options).output, kind, name))


def explain_json(text: str) -> dict[str, Any]:
    status, out, err = run(["explain", "--stream", "-", "-o", "json"], text.encode())
    assert status == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def workload(report: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [w for w in report["workloads"] if w["name"] == name]
    return found


# SealedSecret


def test_sealed_secrets_stand_for_the_secrets_they_produce() -> None:
    result = stamp(SEALED.encode())
    annotations = ours(find(result.output, "Deployment", "api"))
    assert sorted(annotations) == [
        "confighash.dev/checksum",
        "secret.confighash.dev/api-token",  # no template name: the SealedSecret's own
        "secret.confighash.dev/db",  # spec.template.metadata.name
    ]
    assert messages(result, "unresolved-ref") == []
    # Only ciphertext is digested: no warning about unkeyed digests of Secret values.
    assert messages(result, "unkeyed-secret-digest") == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("AgBy3i4OJSWK+PiTySYZZA9rO43cGDEqAx4ZQDmQf3MrWUjQeOJ08nCLUnTbr8wmZ8", "AgBz" + "Q" * 60),
        ("    type: Opaque\n", "    type: kubernetes.io/basic-auth\n"),
        ("    type: Opaque\n", "    type: Opaque\n    data:\n      dsn: 'x{{ .password }}'\n"),
    ],
    ids=["ciphertext", "template-type", "template-data"],
)
def test_sealed_content_changes_restart(old: str, new: str) -> None:
    assert old in SEALED
    before = stamped(SEALED, "Deployment", "api")
    after = stamped(SEALED.replace(old, new, 1), "Deployment", "api")
    assert after["secret.confighash.dev/db"] != before["secret.confighash.dev/db"]
    assert after["secret.confighash.dev/api-token"] == before["secret.confighash.dev/api-token"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("        app.kubernetes.io/part-of: shop\n", "        app.kubernetes.io/part-of: other\n"),
        ("  name: db-credentials\n", "  name: db-credentials\n  labels: {team: a}\n"),
    ],
    ids=["template-labels", "own-labels"],
)
def test_sealed_metadata_changes_restart_nothing(old: str, new: str) -> None:
    assert old in SEALED
    assert stamped(SEALED.replace(old, new, 1), "Deployment", "api") == stamped(
        SEALED, "Deployment", "api"
    )


def test_a_change_of_a_sealed_key_the_pod_does_not_read_still_restarts() -> None:
    # A producer's keys are not in the stream, so it is digested whole under any precision.
    old = "AgCtr8OJSWK+PiTySYZZA9rO43cGDEqAx4ZQDmQf3MrWUjQeOJ08nCLUnTbr8wmQ1"
    changed = SEALED.replace(old, "AgCtr9" + "R" * 60)
    assert stamped(changed, "Deployment", "api") != stamped(SEALED, "Deployment", "api")


def test_a_sealed_secret_in_another_namespace_does_not_resolve() -> None:
    moved = SEALED.replace(
        "  name: db-credentials\n  namespace: shop\n",
        "  name: db-credentials\n  namespace: other\n",
    )
    result = stamp(moved.encode())
    assert "secret.confighash.dev/db" not in ours(find(result.output, "Deployment", "api"))
    assert any("Secret shop/db" in m for m in messages(result, "unresolved-ref"))


def test_only_the_bitnami_group_is_a_sealed_secret() -> None:
    other = SEALED.replace("bitnami.com/v1alpha1", "example.com/v1")
    result = stamp(other.encode())
    assert ours(find(result.output, "Deployment", "api")) == {}
    assert len(messages(result, "unresolved-ref")) == 2


def test_an_ignored_sealed_secret_is_left_out() -> None:
    ignored = SEALED.replace(
        "  name: db-credentials\n",
        '  name: db-credentials\n  annotations:\n    confighash.dev/ignore: "true"\n',
    )
    annotations = stamped(ignored, "Deployment", "api")
    assert "secret.confighash.dev/db" not in annotations
    assert "secret.confighash.dev/api-token" in annotations


def test_stamped_output_reads_in_argo_cd_as_input_plus_annotations(oracle: Read) -> None:
    result = stamp(SEALED.encode())
    before, after = objects(oracle(SEALED.encode())), objects(oracle(result.output))
    assert len(before) == len(after) == 3
    assert before[:2] == after[:2]
    template = after[2]["spec"]["template"]
    added = template["metadata"].pop("annotations")
    assert after[2] == before[2]
    assert added == ours(find(result.output, "Deployment", "api"))


def test_explain_says_store_rotation_is_not_seen() -> None:
    report = explain_json(SEALED)
    api = workload(report, "api")
    assert api["stamped"] is True
    by_name = {s["name"]: s for s in api["sources"]}
    assert by_name["db"]["producedBy"] == {"kind": "SealedSecret", "name": "db-credentials"}
    assert by_name["db"]["scope"] == "object"
    assert by_name["db"]["keys"] == ["password"]
    assert by_name["db"]["digest"] is not None  # a digest of ciphertext is not withheld
    rotation = [w for w in api["warnings"] if "rotation at the secret store is not seen" in w]
    assert len(rotation) == 2
    status, table, _ = run(["explain", "--stream", "-"], SEALED.encode())
    assert status == 0
    assert "from SealedSecret db-credentials" in table
    assert "rotation at the secret store is not seen" in table


# ExternalSecret


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("        property: token\n", "        property: token2\n"),
        ("        key: secret/shared\n", "        key: secret/other\n"),
        ('          token: "{{ .token }}"\n', '          token: "{{ .token | upper }}"\n'),
        (
            "    name: vault\n    kind: ClusterSecretStore\n  target:",
            "    name: vault-b\n    kind: ClusterSecretStore\n  target:",
        ),
    ],
    ids=["data", "dataFrom", "template", "secretStoreRef"],
)
def test_external_secret_content_changes_restart(old: str, new: str) -> None:
    assert old in EXTERNAL
    before = stamped(EXTERNAL, "StatefulSet", "worker")
    after = stamped(EXTERNAL.replace(old, new, 1), "StatefulSet", "worker")
    assert after["secret.confighash.dev/api-secrets"] != before["secret.confighash.dev/api-secrets"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("  refreshInterval: 1h\n", "  refreshInterval: 5m\n"),
        ("    creationPolicy: Owner\n", "    creationPolicy: Merge\n"),
        ("          app.kubernetes.io/part-of: shop\n", "          app.kubernetes.io/part-of: x\n"),
    ],
    ids=["refreshInterval", "creationPolicy", "template-metadata"],
)
def test_external_secret_changes_that_decide_no_content_restart_nothing(old: str, new: str) -> None:
    assert old in EXTERNAL
    assert stamped(EXTERNAL.replace(old, new, 1), "StatefulSet", "worker") == stamped(
        EXTERNAL, "StatefulSet", "worker"
    )


def test_external_secret_without_target_name_produces_its_own_name() -> None:
    result = stamp(EXTERNAL.encode())
    cronjob = ours(find(result.output, "CronJob", "report"))
    assert "secret.confighash.dev/smtp" in cronjob
    assert messages(result, "unresolved-ref") == []


def test_explain_external_secret() -> None:
    report = explain_json(EXTERNAL)
    worker = workload(report, "worker")
    (source,) = worker["sources"]
    assert source["producedBy"] == {"kind": "ExternalSecret", "name": "api-keys"}
    assert source["via"] == ["envFrom"]
    assert any("rotation at the secret store is not seen" in w for w in worker["warnings"])


def test_diff_names_changed_keys_and_parts_of_an_external_secret(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    new = tmp_path / "new.yaml"
    old.write_text(EXTERNAL)
    new.write_text(
        EXTERNAL.replace("        property: token\n", "        property: token2\n").replace(
            "        key: secret/shared\n", "        key: secret/other\n"
        )
    )
    status, out, err = run(["diff", str(old), str(new), "-o", "json"], b"")
    assert status == 0, err
    (rollout,) = json.loads(out)["rollouts"]
    assert rollout["name"] == "worker"
    (because,) = rollout["because"]
    assert because["kind"] == "Secret"
    assert because["name"] == "api-secrets"
    assert because["change"] == "modified"
    assert because["keys"] == ["token"]
    assert because["parts"] == ["dataFrom"]
    assert because["producedBy"] == {"kind": "ExternalSecret", "name": "api-keys"}
    assert "secret/other" not in out and "token2" not in out


# A real Secret of the same name wins


def test_a_real_secret_wins_over_a_producer_with_a_warning() -> None:
    result = stamp(SHADOWED.encode())
    warned = messages(result, "shadowed-producer")
    assert len(warned) == 1
    assert (
        "SealedSecret shop/db" in warned[0] and "the Secret in the stream is digested" in warned[0]
    )
    (plan,) = [p for p in result.plans if p.workload.identity.name == "api"]
    (use,) = plan.uses
    assert use.source.origin is None
    # The real Secret's content decides the digest: changing it restarts, the ciphertext not.
    base = ours(find(result.output, "Deployment", "api"))
    assert (
        stamped(SHADOWED.replace("plain-in-the-stream", "other-value"), "Deployment", "api") != base
    )
    assert stamped(SHADOWED.replace("AgBy3i", "AgBy4i"), "Deployment", "api") == base


def test_the_real_secret_wins_in_either_order() -> None:
    docs = SHADOWED.split("---\n")
    swapped = "---\n".join([docs[1], docs[0], docs[2]])
    assert stamped(swapped, "Deployment", "api") == stamped(SHADOWED, "Deployment", "api")
    assert len(messages(stamp(swapped.encode()), "shadowed-producer")) == 1


def test_explain_reports_the_shadowing() -> None:
    report = explain_json(SHADOWED)
    api = workload(report, "api")
    assert api["sources"][0]["producedBy"] is None
    assert any("SealedSecret db also produces Secret db" in w for w in api["warnings"])
    assert any("also in the stream" in w for w in report["warnings"])


def test_pipeline_source_names_the_produced_secret() -> None:
    analysis = pipeline.analyze(SEALED.encode(), pipeline.Options())
    produced = sorted((s.origin or "", s.name or "") for s in analysis.sources)
    assert produced == [("SealedSecret", "api-token"), ("SealedSecret", "db")]
