from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from oracle import argocd_read, build_oracle


@pytest.fixture(scope="session")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> Callable[[bytes], list[dict[str, Any]]]:
    """Argo CD's reading of a plugin stdout stream, as oracle lines (see tests/oracle.py)."""
    binary: Path = build_oracle(tmp_path_factory.mktemp("oracle"))

    def read(stream: bytes) -> list[dict[str, Any]]:
        return argocd_read(binary, stream)

    return read
