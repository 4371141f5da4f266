"""The few exception types the library raises; the CLI turns each into one stderr line."""

from __future__ import annotations


class ConfighashError(Exception):
    """Base class: the input or the environment stops confighash from producing output."""


class InputError(ConfighashError):
    """A document in the stream is malformed or cannot be stamped safely."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where = where
        self.problem = problem


class RenderError(ConfighashError):
    """kustomize could not be found, failed, or ran out of time."""


class SettingsError(ConfighashError):
    """An option, environment variable or Argo CD parameter has an invalid value."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"invalid setting {name}: {problem}")
        self.name = name


class UsageError(ConfighashError):
    """The command line asks for something impossible; exit status 2, like an argparse error."""


class Stopped(RenderError):
    """A signal (SIGINT, SIGTERM) ended the run; the CLI exits 128 + its number, as shells do."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
