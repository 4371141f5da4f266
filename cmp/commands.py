"""The ``explain`` and ``diff`` commands: get the streams, analyse them, format a report.

Rendering a directory and reading a file are passed in by the command line, which owns the
settings (kustomize binary, build options, timeout); everything else here is a pure function of
the streams. The report goes to stdout only when the whole command succeeded.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from cmp.errors import ConfighashError, UsageError
from cmp.model import Problem

if TYPE_CHECKING:  # imported where used: build and stamp never load explain, diff or git
    from cmp import diff, pipeline

Render = Callable[[str], bytes]  # a directory → its kustomize build output
Read = Callable[[str], bytes]  # a file path or "-" → its bytes

COMMANDS = ("explain", "diff")


class Outcome(NamedTuple):
    output: bytes
    problems: list[Problem]
    exit_status: int = 0


def run_explain(
    args: argparse.Namespace, options: pipeline.Options, build: Render, read: Read
) -> Outcome:
    if args.stream is not None and args.directory is not None:
        raise UsageError("explain takes DIR or -f/--stream FILE, not both")
    from cmp import explain, pipeline, reports  # noqa: PLC0415

    data = read(args.stream) if args.stream is not None else build(args.directory or ".")
    analysis = pipeline.analyze(data, options, explain=True)
    report = explain.explain(analysis, options)
    return Outcome(reports.explain(report, args.output).encode("utf-8"), [])


def _load(
    operand: diff.Operand, other: diff.Operand, label: str, build: Render, read: Read
) -> bytes:
    try:
        if operand.kind == "git":
            from cmp import diff, gitrev  # noqa: PLC0415

            assert operand.rev is not None
            with gitrev.worktree(diff.app_directory(operand, other), operand.rev) as path:
                return build(path)
        assert operand.path is not None
        if operand.kind == "directory":
            return build(operand.path)
        return read(operand.path)
    except UsageError:
        raise
    except ConfighashError as exc:
        raise ConfighashError(f"{label} ({operand}): {exc}") from None


def _analyze(data: bytes, options: pipeline.Options, label: str) -> pipeline.Analysis:
    from cmp import pipeline  # noqa: PLC0415

    try:
        return pipeline.analyze(data, options)
    except ConfighashError as exc:
        raise ConfighashError(f"{label}: {exc}") from None


def _refuse_empty(
    analysis: pipeline.Analysis, label: str, operand: diff.Operand, allowed: bool
) -> None:
    """build's rule: a render with no objects is refused unless --allow-empty accepts it."""
    from cmp import pipeline  # noqa: PLC0415

    if not allowed and pipeline.object_documents(analysis) == 0:
        raise ConfighashError(
            f"{label} ({operand}): the stream has no objects; build refuses it, because Argo CD "
            "would prune everything (pass --allow-empty to compare it anyway)"
        )


def run_diff(
    args: argparse.Namespace, options: pipeline.Options, build: Render, read: Read
) -> Outcome:
    from cmp import diff, reports  # noqa: PLC0415

    old = diff.parse_operand(args.old)
    new = diff.parse_operand(args.new)
    diff.check_operands(old, new)
    before = _analyze(_load(old, new, "OLD", build, read), options, "OLD")
    after = _analyze(_load(new, old, "NEW", build, read), options, "NEW")
    for label, operand, analysis in (("OLD", old, before), ("NEW", new, after)):
        _refuse_empty(analysis, label, operand, getattr(args, "allow_empty", False))
    report = diff.compare(before, after, options.prefix)
    status = 1 if args.exit_code and report.restarts else 0
    # A diff shows no digest, so the warning about unkeyed Secret digests does not apply to it.
    problems = [p for p in after.problems if p.code != "unkeyed-secret-digest"]
    return Outcome(reports.diff(report, args.output).encode("utf-8"), problems, status)


def add_parsers(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    parents: list[argparse.ArgumentParser],
    only: str | None = None,
) -> None:
    """The ``explain`` and ``diff`` subcommands (or ``only`` one), with the stamping and
    kustomize options."""
    if only in (None, "explain"):
        _add_explain(commands, parents)
    if only in (None, "diff"):
        _add_diff(commands, parents)


def _add_explain(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    parents: list[argparse.ArgumentParser],
) -> None:
    from cmp import reports  # noqa: PLC0415  (stamp and build need none of the report code)

    explain_parser = commands.add_parser(
        "explain",
        parents=parents,
        help="show, per workload, what it consumes and whether and why it is stamped",
        description="Show every workload in the stream: stamped or not and why, each "
        "ConfigMap and Secret it consumes (how, which keys, digest), unresolved references "
        "and warnings. Renders DIR (a kustomization, a Helm chart or a plain directory), or "
        "reads --stream.",
    )
    explain_parser.add_argument("directory", nargs="?", default=None, metavar="DIR")
    explain_parser.add_argument(
        "-f",
        "--filename",
        "--stream",
        dest="stream",
        metavar="FILE",
        help="read a rendered stream (FILE, or - for stdin); -f/--filename as in kubectl",
    )
    explain_parser.add_argument(
        "-o",
        "--output",
        choices=reports.EXPLAIN_FORMATS,
        default="table",
        help="table (default), json or yaml (docs/explain.md), dot, mermaid or markdown",
    )


def _add_diff(
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
    parents: list[argparse.ArgumentParser],
) -> None:
    from cmp import reports  # noqa: PLC0415

    diff_parser = commands.add_parser(
        "diff",
        parents=parents,
        help="list the workloads a change restarts, and which sources and keys cause it",
        description="Compare the stamps of OLD and NEW. Each is a directory to render, a "
        "rendered stream file, - for stdin, or git:REV[:DIR] for DIR (default: the other "
        "side's directory, else .) at revision REV, rendered in a temporary git worktree. "
        "Key names only: values are never shown.",
    )
    diff_parser.add_argument("old", metavar="OLD")
    diff_parser.add_argument("new", metavar="NEW")
    diff_parser.add_argument(
        "-o",
        "--output",
        choices=reports.DIFF_FORMATS,
        default="markdown",
        help="markdown (default, for a pull-request comment) or json (docs/ci.md)",
    )
    diff_parser.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 1 when any workload would restart, as git diff --exit-code",
    )


def run(args: argparse.Namespace, options: pipeline.Options, build: Render, read: Read) -> Outcome:
    if args.command == "explain":
        return run_explain(args, options, build, read)
    return run_diff(args, options, build, read)
