"""The ``confighash`` console script: ``--version`` is answered before the CLI is imported.

Importing the CLI (argparse, the settings and records) is a good part of a process's start;
printing the version needs none of it. Everything else goes to :func:`cmp.cli.entrypoint` unchanged.
"""

from __future__ import annotations

import sys


def entrypoint() -> None:
    if sys.argv[1:] == ["--version"]:
        from cmp import __version__  # noqa: PLC0415 (the point: import nothing else)

        try:
            if sys.stdout is None:
                raise OSError(9, "Bad file descriptor")
            sys.stdout.write(
                f"confighash {__version__}\n"
            )  # as argparse's version action prints it
            sys.stdout.flush()
        except OSError as exc:
            sys.stderr.write(
                f"confighash: error: cannot write the output to stdout: {exc.strerror}\n"
            )
            sys.stderr.flush()
            import os  # noqa: PLC0415

            os._exit(1)
        raise SystemExit(0)
    from cmp.cli import entrypoint as run  # noqa: PLC0415

    run()
