"""confighash: stamp ConfigMap and Secret digests into the pod templates that consume them."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
