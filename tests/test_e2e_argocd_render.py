"""tests/e2e/argocd-render, the command anyone can run against the real Argo CD (issue 9).

Each run starts its own redis, cmp-server and repo-server, asks for manifests, and stops them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from e2e.argocd import ROOT, stamps, strip_annotations

pytestmark = pytest.mark.e2e

COMMAND = ROOT / "tests" / "e2e" / "argocd-render"
SERVERS = ("argocd-repo-server", "argocd-cmp-server", "redis-server", "confighash")


def _load_command() -> ModuleType:
    loader = SourceFileLoader("argocd_render", str(COMMAND))
    spec = spec_from_loader("argocd_render", loader)
    assert spec is not None
    module = module_from_spec(spec)
    loader.exec_module(module)
    return module


def _servers() -> set[int]:
    """Pids of every running process that an argocd-render could have started."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv0 = (entry / "cmdline").read_bytes().split(b"\0", 1)[0].decode()
        except OSError:
            continue
        if Path(argv0).name in SERVERS or argv0.endswith("/bin/confighash"):
            found.add(int(entry.name))
    return found


def render(*args: str | Path) -> subprocess.CompletedProcess[str]:
    before = _servers()
    run = subprocess.run(
        [sys.executable, str(COMMAND), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert _servers() - before == set(), "argocd-render left a server running"
    return run


def _objects(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_renders_the_example_overlay_as_the_repo_server_returns_it_stamped() -> None:
    run = render(ROOT / "examples" / "overlays" / "production")
    assert run.returncode == 0, run.stderr
    objects = _objects(run.stdout)
    kinds = {o["kind"] for o in objects}
    assert {"ConfigMap", "Secret", "Deployment"} <= kinds
    stamped = [o for o in objects if stamps(o)]
    assert stamped and all("confighash.dev/checksum" in stamps(o) for o in stamped)


def test_array_parameter_from_a_comma_list_equals_the_native_helm_render() -> None:
    chart = ROOT / "examples" / "chart"
    plugin = render("--param", "valueFiles=values-production.yaml", chart)
    assert plugin.returncode == 0, plugin.stderr
    native = render("--source-json", '{"helm": {"valueFiles": ["values-production.yaml"]}}', chart)
    assert native.returncode == 0, native.stderr
    assert strip_annotations(_objects(plugin.stdout)) == _objects(native.stdout)
    assert any(stamps(o) for o in _objects(plugin.stdout))


def test_failed_render_exits_1_with_confighash_message_and_prints_nothing(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    run = render(tmp_path)
    assert run.returncode == 1
    assert run.stdout == ""
    assert "confighash: error:" in run.stderr and "missing.yaml" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--param", "images"], "is not NAME=VALUE"),
        (["--param", "replicas=web"], "'web' is not KEY=VALUE"),
        (["--param", 'images=["a", 1]'], "must hold strings"),
        (["--source-json", "{", "."], "--source-json"),
        (["--source-json", "{}", "--param", "a=b"], "--source-json replaces the plugin source"),
    ],
    ids=["no-equals", "map-item-without-equals", "array-of-non-strings", "bad-json", "both"],
)
def test_usage_error_exits_2_naming_the_problem(args: list[str], needle: str) -> None:
    run = subprocess.run(
        [sys.executable, str(COMMAND), *args, *([] if args[-1] == "." else ["."])],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert run.returncode == 2
    assert run.stdout == ""
    assert needle in run.stderr


# --- parameter typing (no servers) ----------------------------------------------------------


def test_parameter_types_are_the_ones_plugin_yaml_declares() -> None:
    types = _load_command().declared_types(ROOT / "plugin.yaml")
    static = yaml.safe_load((ROOT / "plugin.yaml").read_text())["spec"]["parameters"]["static"]
    assert types == {p["name"]: p.get("collectionType", "string") for p in static}
    assert types["images"] == "array"
    assert types["valueFiles"] == "array"
    assert types["replicas"] == "map"
    assert types["patches"] == "string"  # a YAML or JSON list, as text
    assert types["annotation-prefix"] == "string"


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("array", "a:1,b:2", ["a:1", "b:2"]),
        ("array", '["a,b", "c"]', ["a,b", "c"]),
        ("array", "", []),
        ("map", "web=2,worker=3", {"web": "2", "worker": "3"}),
        ("map", '{"a=b": "c,d"}', {"a=b": "c,d"}),
        ("map", "", {}),
        ("string", '[{"patch": "x"}]', '[{"patch": "x"}]'),
        ("string", "$(rm -rf /) --flag", "$(rm -rf /) --flag"),
    ],
)
def test_param_value_follows_the_declared_type(kind: str, value: str, expected: object) -> None:
    assert _load_command().param_value(kind, value) == expected
