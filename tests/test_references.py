"""Which workloads are stamped, and which references in their pod specs count."""

from __future__ import annotations

import textwrap

import pytest
from helpers import consumed, find, messages, ours, run_cli, stamp, y

SOURCES = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  a: x
---
apiVersion: v1
kind: Secret
metadata:
  name: app-secret
stringData:
  password: hunter2
---
"""

# A pod spec that mounts the ConfigMap app-config; {indent} places it under a template's spec.
POD_SPEC = """\
containers:
- name: app
  image: app:1
volumes:
- name: config
  configMap:
    name: app-config
"""


def _workload(header: str, spec_indent: int) -> str:
    """``header`` ends with the key that holds the pod spec; the pod spec goes under it."""
    return SOURCES + textwrap.dedent(header) + textwrap.indent(POD_SPEC, " " * spec_indent)


TEMPLATE_KINDS = [
    pytest.param("apps/v1", "Deployment", id="apps-Deployment"),
    pytest.param("extensions/v1beta1", "Deployment", id="extensions-Deployment"),
    pytest.param("apps/v1", "StatefulSet", id="StatefulSet"),
    pytest.param("apps/v1", "DaemonSet", id="DaemonSet"),
    pytest.param("apps/v1", "ReplicaSet", id="ReplicaSet"),
    pytest.param("v1", "ReplicationController", id="ReplicationController"),
    pytest.param("argoproj.io/v1alpha1", "Rollout", id="argo-Rollout"),
    pytest.param("apps.openshift.io/v1", "DeploymentConfig", id="openshift-DeploymentConfig"),
]


@pytest.mark.parametrize(("api_version", "kind"), TEMPLATE_KINDS)
def test_workload_with_spec_template_is_stamped(api_version: str, kind: str) -> None:
    header = f"""\
        apiVersion: {api_version}
        kind: {kind}
        metadata:
          name: web
        spec:
          template:
            spec:
        """
    result = stamp(_workload(header, 6))
    annotations = ours(find(result.output, kind, "web"))
    assert set(annotations) == {"confighash.dev/checksum", "configmap.confighash.dev/app-config"}
    assert annotations["confighash.dev/checksum"].startswith("v1:")
    assert consumed(result, "web") == [("ConfigMap", "app-config")]
    assert messages(result) == []


def test_cronjob_is_stamped_under_its_job_template() -> None:
    header = """\
        apiVersion: batch/v1
        kind: CronJob
        metadata:
          name: nightly
        spec:
          schedule: "0 1 * * *"
          jobTemplate:
            spec:
              template:
                spec:
        """
    result = stamp(_workload(header, 10))
    cronjob = find(result.output, "CronJob", "nightly")
    assert set(ours(cronjob)) == {"confighash.dev/checksum", "configmap.confighash.dev/app-config"}
    assert "template" not in cronjob["spec"]  # nothing written at the Deployment path


JOB = """\
    apiVersion: batch/v1
    kind: Job
    metadata:
      name: migrate
    spec:
      template:
        spec:
    """


def test_job_is_not_stamped_and_is_warned_about() -> None:
    data = _workload(JOB, 6).encode()
    result = stamp(data)
    assert result.output == data
    warnings = messages(result, "job-not-stamped")
    assert len(warnings) == 1
    assert "Job migrate" in warnings[0]
    assert "ConfigMap app-config" in warnings[0]
    assert "--include-jobs" in warnings[0]


def test_job_that_consumes_nothing_in_stream_is_not_warned_about() -> None:
    data = (textwrap.dedent(JOB) + textwrap.indent(POD_SPEC, " " * 6)).encode()
    result = stamp(data, strict=False)
    assert result.output == data
    assert messages(result, "job-not-stamped") == []


def test_job_is_stamped_with_include_jobs() -> None:
    result = stamp(_workload(JOB, 6), include_jobs=True)
    assert set(ours(find(result.output, "Job", "migrate"))) == {
        "confighash.dev/checksum",
        "configmap.confighash.dev/app-config",
    }
    assert messages(result, "job-not-stamped") == []


def test_job_warning_is_not_an_error_under_strict() -> None:
    run = run_cli(["stamp", "--strict", "-"], _workload(JOB, 6))
    assert run.code == 0
    assert run.stdout == y(_workload(JOB, 6))
    assert "confighash: warning:" in run.stderr


UNTOUCHED = [
    pytest.param(
        """\
        apiVersion: v1
        kind: Pod
        metadata:
          name: web
        spec:
        """,
        2,
        id="bare-Pod",
    ),
    pytest.param(
        """\
        apiVersion: v1
        kind: PodTemplate
        metadata:
          name: web
        template:
          spec:
        """,
        4,
        id="PodTemplate",
    ),
    pytest.param(
        """\
        apiVersion: example.com/v1
        kind: Deployment
        metadata:
          name: web
        spec:
          template:
            spec:
        """,
        6,
        id="Deployment-kind-of-another-api-group",
    ),
    pytest.param(
        """\
        kind: Deployment
        metadata:
          name: web
        spec:
          template:
            spec:
        """,
        6,
        id="Deployment-without-apiVersion",
    ),
]


@pytest.mark.parametrize(("header", "indent"), UNTOUCHED)
def test_objects_that_are_not_stamped_workloads_are_left_byte_identical(
    header: str, indent: int
) -> None:
    data = _workload(header, indent).encode()
    result = stamp(data)
    assert result.output == data
    assert messages(result) == []


# --- reference forms ---------------------------------------------------------------------------

IN_STREAM = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
data:
  key: value
---
apiVersion: v1
kind: Secret
metadata:
  name: sec
data:
  key: dmFsdWU=
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: unused
data:
  key: value
---
"""


def _deployment(pod_spec: str) -> str:
    header = """\
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
        spec:
          template:
            metadata:
              labels:
                app: web
            spec:
        """
    return IN_STREAM + textwrap.dedent(header) + textwrap.indent(textwrap.dedent(pod_spec), " " * 6)


VOLUME_FORMS = [
    pytest.param(
        """\
        volumes:
        - name: v
          configMap:
            name: cm
        """,
        [("ConfigMap", "cm")],
        id="volume-configMap",
    ),
    pytest.param(
        """\
        volumes:
        - name: v
          configMap:
            name: cm
            items:
            - key: key
              path: file
        """,
        [("ConfigMap", "cm")],
        id="volume-configMap-with-items",
    ),
    pytest.param(
        """\
        volumes:
        - name: v
          secret:
            secretName: sec
        """,
        [("Secret", "sec")],
        id="volume-secret-secretName",
    ),
    pytest.param(
        """\
        volumes:
        - name: v
          secret:
            name: sec
        """,
        [],
        id="volume-secret-name-is-not-the-field",
    ),
    pytest.param(
        """\
        volumes:
        - name: v
          projected:
            sources:
            - configMap:
                name: cm
            - serviceAccountToken:
                path: token
        """,
        [("ConfigMap", "cm")],
        id="projected-configMap",
    ),
    pytest.param(
        """\
        volumes:
        - name: v
          projected:
            sources:
            - secret:
                name: sec
        """,
        [("Secret", "sec")],
        id="projected-secret",
    ),
    pytest.param(
        """\
        volumes:
        - name: v
          projected:
            sources:
            - configMap:
                name: cm
            - secret:
                name: sec
        - name: w
          emptyDir: {}
        """,
        [("ConfigMap", "cm"), ("Secret", "sec")],
        id="projected-both",
    ),
    pytest.param(
        """\
        volumes:
        - name: v
          persistentVolumeClaim:
            claimName: cm
        """,
        [],
        id="other-volume-types-ignored",
    ),
]


@pytest.mark.parametrize(("pod_spec", "expected"), VOLUME_FORMS)
def test_volume_reference_forms(pod_spec: str, expected: list[tuple[str, str]]) -> None:
    spec = "containers:\n- name: app\n  image: app:1\n" + textwrap.dedent(pod_spec)
    result = stamp(_deployment(spec))
    assert consumed(result, "web") == expected
    keys = {f"{kind.lower()}.confighash.dev/{name}" for kind, name in expected}
    annotations = ours(find(result.output, "Deployment", "web"))
    assert set(annotations) == (keys | {"confighash.dev/checksum"} if keys else set())


CONTAINER_FORMS = [
    pytest.param(
        """\
        env:
        - name: A
          valueFrom:
            configMapKeyRef:
              name: cm
              key: key
        """,
        [("ConfigMap", "cm")],
        id="env-configMapKeyRef",
    ),
    pytest.param(
        """\
        env:
        - name: A
          valueFrom:
            secretKeyRef:
              name: sec
              key: key
        """,
        [("Secret", "sec")],
        id="env-secretKeyRef",
    ),
    pytest.param(
        """\
        envFrom:
        - configMapRef:
            name: cm
        """,
        [("ConfigMap", "cm")],
        id="envFrom-configMapRef",
    ),
    pytest.param(
        """\
        envFrom:
        - prefix: S_
          secretRef:
            name: sec
        """,
        [("Secret", "sec")],
        id="envFrom-secretRef",
    ),
    pytest.param(
        """\
        env:
        - name: A
          value: cm
        - name: B
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        """,
        [],
        id="plain-env-and-fieldRef-ignored",
    ),
]


@pytest.mark.parametrize("field", ["containers", "initContainers", "ephemeralContainers"])
@pytest.mark.parametrize(("container_spec", "expected"), CONTAINER_FORMS)
def test_container_reference_forms(
    field: str, container_spec: str, expected: list[tuple[str, str]]
) -> None:
    container = "- name: c\n  image: app:1\n" + textwrap.indent(
        textwrap.dedent(container_spec), "  "
    )
    spec = f"{field}:\n{container}"
    if field != "containers":
        spec = "containers:\n- name: main\n  image: app:1\n" + spec
    result = stamp(_deployment(spec))
    assert consumed(result, "web") == expected
    annotations = ours(find(result.output, "Deployment", "web"))
    for kind, name in expected:
        assert f"{kind.lower()}.confighash.dev/{name}" in annotations


def test_every_form_at_once_is_one_annotation_per_source() -> None:
    spec = """\
        containers:
        - name: app
          image: app:1
          envFrom:
          - configMapRef:
              name: cm
          env:
          - name: A
            valueFrom:
              secretKeyRef:
                name: sec
                key: key
        initContainers:
        - name: init
          image: app:1
          env:
          - name: B
            valueFrom:
              configMapKeyRef:
                name: cm
                key: key
        volumes:
        - name: v
          configMap:
            name: cm
        - name: s
          secret:
            secretName: sec
        """
    result = stamp(_deployment(spec))
    assert consumed(result, "web") == [("ConfigMap", "cm"), ("Secret", "sec")]
    assert sorted(ours(find(result.output, "Deployment", "web"))) == [
        "confighash.dev/checksum",
        "configmap.confighash.dev/cm",
        "secret.confighash.dev/sec",
    ]


PULL_SECRETS = """\
    containers:
    - name: app
      image: app:1
    imagePullSecrets:
    - name: sec
    """


def test_image_pull_secrets_are_not_consumed_by_default() -> None:
    data = _deployment(PULL_SECRETS).encode()
    result = stamp(data)
    assert consumed(result, "web") == []
    assert result.output == data


def test_image_pull_secrets_are_consumed_with_the_option() -> None:
    result = stamp(_deployment(PULL_SECRETS), include_image_pull_secrets=True)
    assert consumed(result, "web") == [("Secret", "sec")]
    assert "secret.confighash.dev/sec" in ours(find(result.output, "Deployment", "web"))


def test_missing_pull_secret_is_silent_without_the_option() -> None:
    spec = PULL_SECRETS.replace("name: sec", "name: registry")
    assert messages(stamp(_deployment(spec))) == []


# --- missing references ------------------------------------------------------------------------

MISSING = """\
    containers:
    - name: app
      image: app:1
      env:
      - name: A
        valueFrom:
          configMapKeyRef:
            name: elsewhere
            key: k
      - name: B
        valueFrom:
          configMapKeyRef:
            name: elsewhere
            key: other
      - name: C
        valueFrom:
          secretKeyRef:
            name: maybe
            key: k
            optional: true
      envFrom:
      - secretRef:
          name: maybe-too
          optional: true
    volumes:
    - name: v
      configMap:
        name: cm
    - name: w
      secret:
        secretName: not-here
        optional: false
    """


def test_optional_missing_is_silent_and_non_optional_missing_is_one_warning_per_reference() -> None:
    data = _deployment(MISSING).encode()
    result = stamp(data)
    warnings = messages(result, "unresolved-ref")
    assert len(warnings) == 3
    assert sum("ConfigMap elsewhere" in w for w in warnings) == 2
    assert sum("Secret not-here" in w for w in warnings) == 1
    assert not any("maybe" in w for w in warnings)
    assert all(w.startswith("document 4 (line ") and "Deployment web" in w for w in warnings)
    assert any("containers[0].env[1].valueFrom.configMapKeyRef" in w for w in warnings)
    assert messages(result) == warnings
    # what is in the stream is still stamped
    assert consumed(result, "web") == [("ConfigMap", "cm")]


def test_missing_reference_warning_is_printed_and_output_written() -> None:
    run = run_cli(["stamp"], _deployment(MISSING))
    assert run.code == 0
    assert b"configmap.confighash.dev/cm" in run.stdout
    warnings = run.stderr.splitlines()
    assert len(warnings) == 3
    assert all(w.startswith("confighash: warning: document 4") for w in warnings)


def test_strict_turns_a_missing_reference_into_an_error_with_empty_stdout() -> None:
    run = run_cli(["stamp", "--strict", "-"], _deployment(MISSING))
    assert run.code == 1
    assert run.stdout == b""
    assert "Traceback" not in run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith("confighash: error: document 4")
    assert "which is not in the stream" in line
    assert "(and 2 more)" in line


def test_strict_passes_when_only_optional_references_are_missing() -> None:
    spec = MISSING.replace("name: elsewhere\n", "name: elsewhere\n            optional: true\n")
    spec = spec.replace("optional: false", "optional: true")
    run = run_cli(["stamp", "--strict"], _deployment(spec))
    assert run.code == 0, run.stderr
    assert run.stderr == ""
    assert b"configmap.confighash.dev/cm" in run.stdout


# --- lists -------------------------------------------------------------------------------------

LIST_STREAMS = [
    pytest.param(
        """\
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: ConfigMap
          metadata:
            name: cm
          data:
            key: value
        - apiVersion: apps/v1
          kind: Deployment
          metadata:
            name: web
          spec:
            template:
              spec:
                containers:
                - name: app
                  image: app:1
                  envFrom:
                  - configMapRef:
                      name: cm
        """,
        id="List-with-source-and-workload",
    ),
    pytest.param(
        """\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: cm
        data:
          key: value
        ---
        apiVersion: apps/v1
        kind: DeploymentList
        items:
        - apiVersion: apps/v1
          kind: Deployment
          metadata:
            name: web
          spec:
            template:
              spec:
                containers:
                - name: app
                  image: app:1
                  envFrom:
                  - configMapRef:
                      name: cm
        """,
        id="any-object-with-items",
    ),
    pytest.param(
        """\
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: ConfigMap
          metadata:
            name: cm
          data:
            key: value
        ---
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: Service
          metadata:
            name: svc
        - apiVersion: apps/v1
          kind: Deployment
          metadata:
            name: web
          spec:
            template:
              metadata:
                labels:
                  app: web
              spec:
                containers:
                - name: app
                  image: app:1
                  envFrom:
                  - configMapRef:
                      name: cm
        """,
        id="source-and-workload-in-different-Lists",
    ),
]


@pytest.mark.parametrize("text", LIST_STREAMS)
def test_list_documents_are_processed_item_by_item(text: str) -> None:
    result = stamp(text)
    assert consumed(result, "web") == [("ConfigMap", "cm")]
    assert result.plans[0].workload.identity.item is not None
    annotations = ours(find(result.output, "Deployment", "web"))
    assert set(annotations) == {"confighash.dev/checksum", "configmap.confighash.dev/cm"}
    unstamped = y(text).split(b"---\n")
    stamped = result.output.split(b"---\n")
    assert len(stamped) == len(unstamped)
    assert stamped[:-1] == unstamped[:-1]  # only the workload's document changes


def test_warning_about_a_list_item_names_the_item() -> None:
    text = """\
        apiVersion: v1
        kind: List
        items:
        - apiVersion: apps/v1
          kind: Deployment
          metadata:
            name: web
            namespace: shop
          spec:
            template:
              spec:
                containers:
                - name: app
                  image: app:1
                  envFrom:
                  - configMapRef:
                      name: absent
        """
    (warning,) = messages(stamp(text))
    assert warning.startswith("document 1 item 0 (line 1, Deployment shop/web)")
    assert "ConfigMap shop/absent" in warning
