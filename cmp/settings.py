"""Settings that come from the environment, read once at the edge.

Precedence, highest first: a command-line flag, then the environment, then the built-in default.
No other module reads ``os.environ``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cmp.digest import prepare_key
from cmp.errors import SettingsError

MIN_KEY_BYTES = 16


@dataclass(frozen=True)
class Environment:
    namespace: str | None
    kustomize: str | None
    secret_key_file: str | None
    build_options: str
    timeout: float | None


def _timeout(raw: str | None, name: str) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(name, f"{raw!r} is not a number of seconds") from None
    if value <= 0:
        raise SettingsError(name, "must be greater than 0")
    return value


def from_environ(environ: Mapping[str, str]) -> Environment:
    """The settings the environment provides (Argo CD's, the sidecar admin's, the user's)."""
    return Environment(
        namespace=environ.get("ARGOCD_APP_NAMESPACE") or None,
        kustomize=environ.get("KUSTOMIZE_BIN") or None,
        secret_key_file=environ.get("CONFIGHASH_SECRET_KEY_FILE") or None,
        build_options=environ.get("CONFIGHASH_BUILD_OPTIONS", ""),
        timeout=_timeout(environ.get("CONFIGHASH_TIMEOUT"), "CONFIGHASH_TIMEOUT"),
    )


def parse_timeout(raw: str | None, name: str = "--timeout") -> float | None:
    return _timeout(raw, name)


def read_secret_key(path: str) -> bytes:
    """The digest key from a file; its content is never echoed in any message."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SettingsError("secret key file", f"cannot read {path}: {exc.strerror}") from None
    key = prepare_key(raw)
    if len(key) < MIN_KEY_BYTES:
        raise SettingsError(
            "secret key file", f"{path} holds {len(key)} bytes; use at least {MIN_KEY_BYTES}"
        )
    return key
