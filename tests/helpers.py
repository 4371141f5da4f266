"""Small helpers shared by the behaviour tests: run the pipeline or the CLI, read the output back.

Test inputs are small inline YAML written for the case at hand; they avoid scalars PyYAML would
misread, so reading the output back with ``yaml.safe_load_all`` is safe here. Fidelity against
Argo CD's own reading is checked with the Go oracle where it matters (tests/test_edit.py,
tests/test_fidelity.py).
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cmp import cli, pipeline

CORPUS = Path("/work/shared/corpus")
RENDERS = sorted(CORPUS.glob("*/rendered/*.yaml"))
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CRONJOB_TEMPLATE = ("spec", "jobTemplate", "spec", "template")


def y(text: str) -> bytes:
    """Inline YAML written indented in a test, as stream bytes."""
    return textwrap.dedent(text).lstrip("\n").encode("utf-8")


def envfrom_deployment(*sources: str) -> str:
    """A Deployment ``web`` whose one container reads each source, ``"ConfigMap/cm"`` or
    ``"Secret/s"``, whole through envFrom, in that order."""
    refs = {"ConfigMap": "configMapRef", "Secret": "secretRef"}
    lines = [
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata:",
        "  name: web",
        "spec:",
        "  template:",
        "    spec:",
        "      containers:",
        "      - name: app",
        "        image: app:1",
        "        envFrom:",
    ]
    for source in sources:
        kind, _, name = source.partition("/")
        lines += [f"        - {refs[kind]}:", f"            name: {name}"]
    return "\n".join(lines) + "\n"


def fake_kustomize(tmp_path: Path, body: str) -> str:
    """The path of an executable ``/bin/sh`` script, ``body``, that stands in for kustomize."""
    script = tmp_path / "fake-kustomize"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return str(script)


def stamp(data: bytes | str, **options: Any) -> pipeline.Result:
    raw = y(data) if isinstance(data, str) else data
    return pipeline.stamp(raw, pipeline.Options(**options))


def docs(output: bytes) -> list[Any]:
    return [d for d in yaml.safe_load_all(output.decode("utf-8")) if d is not None]


def find(output: bytes, kind: str, name: str | None = None) -> dict[str, Any]:
    """The one object of ``kind`` (and ``name``) in ``output``, List items included."""
    found = []
    for doc in docs(output):
        for obj in doc["items"] if isinstance(doc.get("items"), list) else [doc]:
            if obj.get("kind") == kind and (name is None or obj["metadata"]["name"] == name):
                found.append(obj)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    result: dict[str, Any] = found[0]
    return result


def template_annotations(obj: dict[str, Any]) -> dict[str, str]:
    """The pod template annotations of a workload object ({} when it has none)."""
    path = CRONJOB_TEMPLATE if obj.get("kind") == "CronJob" else ("spec", "template")
    node: Any = obj
    for key in path:
        node = node[key]
    annotations: dict[str, str] = (node.get("metadata") or {}).get("annotations") or {}
    return annotations


def ours(obj: dict[str, Any], prefix: str = "confighash.dev") -> dict[str, str]:
    """Only confighash's annotations on a workload's pod template."""
    return {
        k: v
        for k, v in template_annotations(obj).items()
        if k == f"{prefix}/checksum" or k.startswith((f"configmap.{prefix}/", f"secret.{prefix}/"))
    }


def consumed(result: pipeline.Result, name: str) -> list[tuple[str, str]]:
    """(kind, name) of the sources the workload ``name`` was stamped with."""
    plans = [p for p in result.plans if p.workload.identity.name == name]
    assert len(plans) == 1, plans
    return [(s.kind, s.identity.name or "") for _, s in plans[0].consumed]


def messages(result: pipeline.Result, code: str | None = None) -> list[str]:
    return [str(p) for p in result.problems if code is None or p.code == code]


@dataclass(frozen=True)
class Run:
    code: int
    stdout: bytes
    stderr: str

    @property
    def error_line(self) -> str:
        """The single stderr line of a failed run, checked to be the only error line."""
        lines = self.stderr.splitlines()
        errors = [line for line in lines if not line.startswith("confighash: warning:")]
        assert len(errors) == 1, self.stderr
        return errors[0]


def run_cli(
    argv: list[str], stdin: bytes | str = b"", environ: dict[str, str] | None = None
) -> Run:
    raw = y(stdin) if isinstance(stdin, str) else stdin
    out, err = io.BytesIO(), io.StringIO()
    code = cli.main(
        argv,
        environ={} if environ is None else environ,
        stdin=io.BytesIO(raw),
        stdout=out,
        stderr=err,
    )
    return Run(code, out.getvalue(), err.getvalue())


def assert_failed_cleanly(run: Run, code: int = 1) -> str:
    """A failure: the exit code, empty stdout, one ``confighash: error:`` line, no traceback."""
    assert run.code == code, run
    assert run.stdout == b""
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("confighash: error:"), run.stderr
    return lines[0]


def corpus_target(render: Path) -> Path:
    """The kustomization directory a corpus render came from (its name joins the path with _)."""
    source = render.parents[1] / "source"
    parts = render.stem.split("_")
    if parts == ["root"]:
        return source

    def search(base: Path, rest: list[str]) -> Path | None:
        if not rest:
            return base if (base / "kustomization.yaml").is_file() else None
        for n in range(1, len(rest) + 1):
            found = search(base / "_".join(rest[:n]), rest[n:])
            if found is not None:
                return found
        return None

    found = search(source, parts)
    assert found is not None, f"no kustomization for {render}"
    return found


WORKLOAD_APIS = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "ReplicaSet": "apps/v1",
    "ReplicationController": "v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
}


def config_source(
    kind: str, name: str, data: dict[str, str], labels: dict[str, str] | None = None
) -> str:
    """A ConfigMap (``data``) or Secret (``stringData``) ``name`` holding ``data``, as YAML."""
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    field = "data" if kind == "ConfigMap" else "stringData"
    obj = {"apiVersion": "v1", "kind": kind, "metadata": metadata, field: data}
    return yaml.safe_dump(obj, sort_keys=False)


def workload(kind: str, name: str, *reads: str) -> str:
    """A ``kind`` (a key of WORKLOAD_APIS) ``name`` that the real API server accepts: selector,
    matching labels, one container. The container reads each of ``reads``: ``"ConfigMap/cm"`` or
    ``"Secret/s"`` whole through envFrom, ``"ConfigMap/cm/key"`` one key through env valueFrom."""
    refs = {
        "ConfigMap": ("configMapRef", "configMapKeyRef"),
        "Secret": ("secretRef", "secretKeyRef"),
    }
    env_from: list[dict[str, Any]] = []
    env: list[dict[str, Any]] = []
    for read in reads:
        source_kind, source, *key = read.split("/")
        whole, one = refs[source_kind]
        if key:
            env.append(
                {"name": f"V{len(env)}", "valueFrom": {one: {"name": source, "key": key[0]}}}
            )
        else:
            env_from.append({whole: {"name": source}})
    container: dict[str, Any] = {"name": "app", "image": "registry.example/app:1"}
    container.update({"envFrom": env_from} if env_from else {})
    container.update({"env": env} if env else {})
    labels = {"app": name}
    pod: dict[str, Any] = {"containers": [container]}
    if kind in ("Job", "CronJob"):
        pod["restartPolicy"] = "Never"
    template = {"metadata": {"labels": dict(labels)}, "spec": pod}  # copies: no YAML aliases
    spec: dict[str, Any]
    if kind == "CronJob":
        spec = {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        spec = {"template": template}
    elif kind == "ReplicationController":
        spec = {"selector": dict(labels), "template": template}
    else:
        spec = {"selector": {"matchLabels": labels}, "template": template}
        if kind == "StatefulSet":
            spec["serviceName"] = name
    obj = {
        "apiVersion": WORKLOAD_APIS[kind],
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }
    return yaml.safe_dump(obj, sort_keys=False)
