"""Helpers around the Go oracle (tests/oracle/argocd_read.go).

The oracle models how Argo CD turns a plugin's stdout into objects: the CMP
sidecar's split + YAML-to-JSON, the repo-server's second go-yaml v2 parse of that
JSON, and Unstructured's "kind must be set" check. It is built with the Debian
packaged sigs.k8s.io/yaml (GOPATH mode, no network).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

ORACLE_SOURCE = Path(__file__).resolve().parent / "oracle" / "argocd_read.go"
GOPATH = "/usr/share/gocode"
BUILD_TIMEOUT_S = 300
RUN_TIMEOUT_S = 120


def build_oracle(workdir: Path) -> Path:
    """Build the oracle binary into ``workdir`` and return its path.

    Raises RuntimeError (never skips) when ``go`` is missing or the build fails.
    """
    go = shutil.which("go")
    if go is None:
        raise RuntimeError(
            "the Go toolchain ('go') is not on PATH; the Argo CD oracle cannot be built "
            "(Debian: apt-get install golang-go golang-k8s-sigs-yaml-dev)"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    binary = workdir / "argocd_read"
    cache = workdir / "gocache"
    cache.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update(
        GO111MODULE="off",
        GOPATH=GOPATH,
        GOCACHE=str(cache),
        GOFLAGS="",
        GOPROXY="off",
        CGO_ENABLED="0",
    )
    proc = subprocess.run(
        [go, "build", "-o", str(binary), str(ORACLE_SOURCE)],
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
