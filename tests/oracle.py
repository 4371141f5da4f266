"""Helpers around the Go oracle (tests/oracle/argocd_read.go).

The oracle models how Argo CD turns a plugin's stdout into objects: the CMP
sidecar's split + YAML-to-JSON, the repo-server's second go-yaml v2 parse of that
JSON, and Unstructured's "kind must be set" check. It is its own Go module
(tests/oracle/go.mod and go.sum), pinned to the sigs.k8s.io/yaml and go-yaml v2
versions Argo CD v3.6.1 builds with, and built in module mode: the modules come
from the Go module cache, or from the module proxy (GOPROXY) on the first build.
The compiled packages are kept under the confighash-e2e cache, so a warm build
only links: measured 15 s cold (empty module and build caches), 0.4 s warm.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

ORACLE_MODULE = Path(__file__).resolve().parent / "oracle"
ORACLE_SOURCE = ORACLE_MODULE / "argocd_read.go"
BUILD_TIMEOUT_S = 300
RUN_TIMEOUT_S = 120


def build_cache() -> Path:
    """GOCACHE for the oracle build, under the e2e cache that tests/e2e/build-* also use."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "confighash-e2e" / "oracle" / "gocache"


def build_oracle(workdir: Path) -> Path:
    """Build the oracle binary into ``workdir`` and return its path.

    The build uses tests/oracle/go.mod and go.sum as committed (-mod=readonly): a module they do
    not pin fails the build instead of being added. Raises RuntimeError (never skips) when ``go``
    is missing or the build fails.
    """
    go = shutil.which("go")
    if go is None:
        raise RuntimeError(
            "the Go toolchain ('go') is not on PATH; the Argo CD oracle cannot be built "
            "(install Go >= 1.22; its modules come from the Go module proxy)"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    binary = workdir / "argocd_read"
    cache = build_cache()
    cache.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(  # module mode, whatever the caller's Go settings
        GO111MODULE="on",
        GOCACHE=str(cache),
        GOFLAGS="-mod=readonly -buildvcs=false",
        GOWORK="off",
        CGO_ENABLED="0",
    )
    proc = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=ORACLE_MODULE,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0 or not binary.is_file():
        raise RuntimeError(
            f"building the Argo CD oracle failed (exit {proc.returncode}):\n{proc.stderr}"
        )
    return binary


def argocd_read(binary: Path, stream: bytes) -> list[dict[str, Any]]:
    """Feed ``stream`` (a plugin's stdout) to the oracle; return its parsed lines."""
    proc = subprocess.run(
        [str(binary)],
        input=stream,
        capture_output=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"oracle exited {proc.returncode}: {proc.stderr.decode(errors='replace')}"
        )
    lines: list[dict[str, Any]] = [
        json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()
    ]
    return lines


def errors(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The error lines (per-document or stream-level) among the oracle's output."""
    return [line for line in lines if "error" in line]


def objects(lines: list[dict[str, Any]]) -> list[Any]:
    """The objects Argo CD would see; AssertionError naming the doc on any error line."""
    result: list[Any] = []
    for line in lines:
        if "error" in line:
            where = f"doc {line['doc']}" if "doc" in line else "the stream"
            raise AssertionError(f"Argo CD would fail to read {where}: {line['error']}")
        result.append(line["object"])
    return result
