"""``python -m cmp``: the same as the ``confighash`` console script."""

from cmp.cli import entrypoint

entrypoint()
