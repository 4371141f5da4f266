"""``python -m cmp``: the same as the ``confighash`` console script."""

from cmp.launch import entrypoint

entrypoint()
