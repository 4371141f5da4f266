"""A deterministic, seeded generator of large kustomize-like streams for the benchmark.

The stream looks like ``kustomize build`` output (keys sorted, two-space indent, indentless
sequences, ``---`` between documents, resources in kustomize's legacy kind order):

- ``crds`` CustomResourceDefinitions of about ``crd_kb`` KB each (deep ``openAPIV3Schema``
  trees with long descriptions, as real CRDs have);
- per app: a ConfigMap (``cm_kb`` KB of config file plus a few variables, some of them strings
  that YAML 1.1 would mistype, always quoted), a Secret (base64 ``data``) and a Deployment that
  consumes both as volumes, through ``env[].valueFrom`` and through ``envFrom``;
- ``fillers`` Services: documents no one edits, to vary the number of documents alone.

The output depends only on the :class:`Spec` (no hash randomisation, no clock, no environment).
Run ``python bench/genstream.py --help`` to write a stream to a file.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Union

Value = Union[str, int, bool, "list[Value]", "dict[str, Value]"]

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*(?: [A-Za-z0-9_./()-]+)*")
# Words that a YAML 1.1 reader (go-yaml v2, PyYAML) types as something other than a string.
_YAML11_WORDS = frozenset(
    "y Y yes Yes YES n N no No NO true True TRUE false False FALSE on On ON off Off OFF "
    "null Null NULL".split()
)
# Strings Argo CD would mistype if written unquoted; the emitter double-quotes them.
TRICKY = ("y", "n", "NO", "on", "08", "0o17", "1e3", "-.5", "=", "2001-02-30", "~", "1:20")
_WORDS = (
    "the controller reconciles resource status when spec changes field value must be set "
    "otherwise defaults apply to each replica pod template selector label annotation "
    "deprecated since version use instead this object describes desired state of cluster "
    "scheduling policy affinity toleration volume mount secret config map key reference "
    "optional required minimum maximum pattern string integer boolean array list of items"
).split()


@dataclass(frozen=True)
class Spec:
    """What to generate. The defaults give about 27 MB, two thirds of it in 30 CRDs."""

    apps: int = 2000
    crds: int = 30
    crd_kb: int = 600
    cm_kb: int = 1
    fillers: int = 0
    seed: int = 20260501

    def describe(self) -> str:
        return (
            f"apps={self.apps} crds={self.crds}x{self.crd_kb}KB cm={self.cm_kb}KB "
            f"fillers={self.fillers} seed={self.seed}"
        )


# --- a small emitter in kustomize's style ---------------------------------------------------


def _scalar(text: str) -> str:
    if _PLAIN.fullmatch(text) and text not in _YAML11_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


def _literal_ok(text: str) -> bool:
    lines = text.rstrip("\n").split("\n")
    return (
        "\n" in text
        and not text.endswith("\n\n")
        and not lines[0].startswith(" ")
        and all(line == line.rstrip() and "\t" not in line for line in lines)
    )


def _value_lines(key: str, value: Value, indent: int) -> Iterator[str]:
    pad = " " * indent
    head = f"{pad}{_scalar(key)}:"
    if isinstance(value, dict):
        if value:
            yield head
            yield from _mapping_lines(value, indent + 2)
        else:
            yield f"{head} {{}}"
    elif isinstance(value, list):
        if value:
            yield head
            yield from _sequence_lines(value, indent)
        else:
            yield f"{head} []"
    elif isinstance(value, bool):
        yield f"{head} {'true' if value else 'false'}"
    elif isinstance(value, int):
        yield f"{head} {value}"
    elif _literal_ok(value):
        yield f"{head} {'|' if value.endswith(chr(10)) else '|-'}"
        yield from (f"{pad}  {line}" if line else "" for line in value.rstrip("\n").split("\n"))
    else:
        yield f"{head} {_scalar(value)}"


def _mapping_lines(mapping: dict[str, Value], indent: int) -> Iterator[str]:
    for key in sorted(mapping):
        yield from _value_lines(key, mapping[key], indent)


def _sequence_lines(items: list[Value], indent: int) -> Iterator[str]:
    pad = " " * indent
    for item in items:
        if isinstance(item, dict):
            lines = list(_mapping_lines(item, indent + 2))
            yield f"{pad}- {lines[0][indent + 2 :]}"
            yield from lines[1:]
        elif isinstance(item, (list, bool, int)):
            raise TypeError("the generator only nests mappings and strings in sequences")
        else:
            yield f"{pad}- {_scalar(item)}"


def emit(document: dict[str, Value]) -> str:
    """One document in kustomize's block style, ending with a newline."""
    return "\n".join(_mapping_lines(document, 0)) + "\n"


# --- the objects ------------------------------------------------------------------------------


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[:1].upper() + text[1:] + "."


def _description(rng: random.Random) -> str:
    """Mostly one short sentence, sometimes a paragraph: like controller-gen's doc comments."""
    sentences = rng.choice((1, 1, 1, 1, 1, 1, 2, 2, 3, 5))
    return "\n".join(_sentence(rng, rng.randrange(4, 12)) for _ in range(sentences))


def _schema(rng: random.Random, depth: int, budget: list[int]) -> dict[str, Value]:
    """A CRD schema node; ``budget[0]`` counts down the characters still wanted."""
    node: dict[str, Value] = {"description": _description(rng)}
    budget[0] -= len(str(node["description"])) + 30
    if depth == 0 or budget[0] <= 0:
        kind = rng.choice(("string", "integer", "boolean", "string", "array"))
        node["type"] = kind
        if kind == "string" and rng.random() < 0.3:
            node["enum"] = [rng.choice(_WORDS).capitalize() for _ in range(rng.randrange(2, 6))]
            budget[0] -= 40
        if kind == "integer":
            node["format"] = "int32"
            node["minimum"] = 0
        if kind == "array":
            node["items"] = {"type": "string"}
            node["x-kubernetes-list-type"] = "atomic"
        return node
    properties: dict[str, Value] = {}
    for i in range(rng.randrange(3, 9)):
        if budget[0] <= 0:
            break
        name = f"{rng.choice(_WORDS)}{rng.choice(_WORDS).capitalize()}{i}"
        properties[name] = _schema(rng, depth - 1, budget)
    node["properties"] = properties
    node["type"] = "object"
    if rng.random() < 0.4:
        node["required"] = [*sorted(rng.sample(sorted(properties), min(2, len(properties))))]
    if rng.random() < 0.2:
        node["x-kubernetes-preserve-unknown-fields"] = True
    return node


def crd(rng: random.Random, index: int, size_kb: int) -> dict[str, Value]:
    group = f"bench{index % 7}.example.com"
    plural = f"widgets{index}"
    budget = [size_kb * 1024 * 2 // 5]  # emitted YAML is about 2.5 times the counted text
    properties: dict[str, Value] = {}
    field = 0
    while budget[0] > 0:
        properties[f"field{field:03d}"] = _schema(rng, 4, budget)
        field += 1
    version: dict[str, Value] = {
        "name": "v1",
        "schema": {
            "openAPIV3Schema": {
                "description": _description(rng),
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"type": "object"},
                    "spec": {"properties": properties, "type": "object"},
                },
                "type": "object",
            }
        },
        "served": True,
        "storage": True,
        "subresources": {"status": {}},
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "annotations": {"controller-gen.kubebuilder.io/version": "v0.16.1"},
            "name": f"{plural}.{group}",
        },
        "spec": {
            "group": group,
            "names": {
                "kind": f"Widget{index}",
                "listKind": f"Widget{index}List",
                "plural": plural,
                "singular": f"widget{index}",
            },
            "scope": "Namespaced",
            "versions": [version],
        },
    }


def _names(i: int) -> tuple[str, str, str, str]:
    app = f"app-{i:05d}"
    return app, f"team-{i % 16:02d}", f"{app}-config", f"{app}-secret"


def _labels(app: str) -> dict[str, Value]:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "bench"}


def _config_file(rng: random.Random, size_kb: int) -> str:
    lines = ["# generated application configuration"]
    size = 0
    n = 0
    while size < size_kb * 1024:
        line = f"{rng.choice(_WORDS)}.{rng.choice(_WORDS)}.{n}: {_sentence(rng, 4)}"
        lines.append(line)
        size += len(line) + 1
        n += 1
    return "\n".join(lines) + "\n"


def configmap(rng: random.Random, i: int, size_kb: int) -> dict[str, Value]:
    app, namespace, cm, _ = _names(i)
    data: dict[str, Value] = {
        "LOG_LEVEL": rng.choice(("debug", "info", "warn")),
        "FEATURE_FLAG": rng.choice(TRICKY),
        "PORT": str(8000 + i % 1000),
        "app.yaml": _config_file(rng, size_kb),
    }
    return {
        "apiVersion": "v1",
        "data": data,
        "kind": "ConfigMap",
        "metadata": {"labels": _labels(app), "name": cm, "namespace": namespace},
    }


def secret(rng: random.Random, i: int) -> dict[str, Value]:
    app, namespace, _, name = _names(i)

    def b64(n: int) -> str:
        return base64.b64encode(rng.randbytes(n)).decode("ascii")

    return {
        "apiVersion": "v1",
        "data": {"password": b64(24), "token": b64(48), "tls.key": b64(240)},
        "kind": "Secret",
        "metadata": {"labels": _labels(app), "name": name, "namespace": namespace},
        "type": "Opaque",
    }


def service(i: int) -> dict[str, Value]:
    """A document no one edits, to vary the number of documents alone."""
    app, namespace, _, _ = _names(i)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"labels": _labels(app), "name": f"filler-{i:05d}", "namespace": namespace},
        "spec": {
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}],
            "selector": _labels(app),
            "type": "ClusterIP",
        },
    }


def _probe(path: str) -> dict[str, Value]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "initialDelaySeconds": 5,
        "periodSeconds": 10,
    }


def deployment(rng: random.Random, i: int) -> dict[str, Value]:
    app, namespace, cm, sec = _names(i)
    env: list[Value] = [
        {"name": "LOG_LEVEL", "valueFrom": {"configMapKeyRef": {"key": "LOG_LEVEL", "name": cm}}},
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"key": "password", "name": sec}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "MODE", "value": rng.choice(TRICKY)},
    ]
    container: dict[str, Value] = {
        "args": ["--config=/etc/app/app.yaml", f"--port={8000 + i % 1000}"],
        "env": env,
        "envFrom": [{"configMapRef": {"name": cm}}],
        "image": f"registry.example.com/bench/{app}:1.{i % 10}.{i % 7}",
        "imagePullPolicy": "IfNotPresent",
        "livenessProbe": _probe("/healthz"),
        "name": "app",
        "ports": [{"containerPort": 8000 + i % 1000, "name": "http", "protocol": "TCP"}],
        "readinessProbe": _probe("/ready"),
        "resources": {
            "limits": {"cpu": "500m", "memory": "256Mi"},
            "requests": {"cpu": "100m", "memory": "128Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
        },
        "volumeMounts": [
            {"mountPath": "/etc/app", "name": "config", "readOnly": True},
            {"mountPath": "/etc/tls", "name": "tls", "readOnly": True},
        ],
    }
    template_metadata: dict[str, Value] = {"labels": _labels(app)}
    if i % 3 == 0:  # some pod templates already carry annotations
        template_metadata["annotations"] = {
            "prometheus.io/port": "8080",
            "prometheus.io/scrape": "true",
        }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"labels": _labels(app), "name": app, "namespace": namespace},
        "spec": {
            "replicas": 1 + i % 3,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": _labels(app)},
            "template": {
                "metadata": template_metadata,
                "spec": {
                    "containers": [container],
                    "serviceAccountName": app,
                    "volumes": [
                        {"configMap": {"name": cm}, "name": "config"},
                        {"name": "tls", "secret": {"secretName": sec}},
                    ],
                },
            },
        },
    }


def documents(spec: Spec) -> Iterator[str]:
    """The documents of the stream, in kustomize's legacy kind order."""
    rng = random.Random(spec.seed)
    for c in range(spec.crds):
        yield emit(crd(random.Random(rng.getrandbits(64)), c, spec.crd_kb))
    apps = range(spec.apps)
    yield from (emit(configmap(random.Random(rng.getrandbits(64)), i, spec.cm_kb)) for i in apps)
    yield from (emit(secret(random.Random(rng.getrandbits(64)), i)) for i in apps)
    yield from (emit(service(f)) for f in range(spec.fillers))
    yield from (emit(deployment(random.Random(rng.getrandbits(64)), i)) for i in apps)


def generate(spec: Spec) -> bytes:
    """The whole stream as bytes, documents joined by ``---`` lines like kustomize's output."""
    return "---\n".join(documents(spec)).encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="file to write, or - for stdout")
    defaults = Spec()
    for field in ("apps", "crds", "crd_kb", "cm_kb", "fillers", "seed"):
        flag = "--" + field.replace("_", "-")
        parser.add_argument(flag, type=int, default=getattr(defaults, field))
    args = parser.parse_args(argv)
    spec = Spec(args.apps, args.crds, args.crd_kb, args.cm_kb, args.fillers, args.seed)
    data = generate(spec)
    if str(args.output) == "-":
        sys.stdout.buffer.write(data)
    else:
        args.output.write_bytes(data)
        print(f"{args.output}: {len(data):,} bytes ({spec.describe()})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
