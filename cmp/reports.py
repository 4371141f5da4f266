"""Output formats of ``explain`` and ``diff``: pure functions from a report to text.

explain: ``table`` (a terminal), ``json`` and ``yaml`` (docs/explain.md), ``dot`` (Graphviz),
``mermaid``, and ``markdown`` (the mermaid graph in a fenced block, for a PR or a wiki).
diff: ``markdown`` (a pull-request comment) and ``json`` (docs/ci.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily: the CLI builds its parser from the formats below
    from cmp.diff import Because, DiffReport, Presence, Rollout
    from cmp.explain import Report, SourceUse, WorkloadReport
    from cmp.order import Position

EXPLAIN_FORMATS = ("table", "json", "yaml", "dot", "mermaid", "markdown")
TABLE_HEADER = ("KIND", "SOURCE", "VIA", "DIGEST", "SYNC", "KEYS")
# A column is as wide as its longest cell up to this; a longer cell shifts only its own row, as
# one long name should not push every other row of the table to the right.
MAX_CELL = 40
DIFF_FORMATS = ("markdown", "json")
DIFF_SCHEMA_VERSION = 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _clean(text: str) -> str:
    """One printable line: names come from the input, and a newline must not forge a row."""
    return _CONTROL.sub("?", text)


def _workload_name(namespace: str | None, name: str | None) -> str:
    shown = name if name is not None else "<unnamed>"
    return _clean(f"{namespace}/{shown}" if namespace else shown)


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# explain: table


def _keys_cell(s: SourceUse) -> str:
    text = "all keys" if s.keys is None else ", ".join(s.keys)
    if s.keys is not None and s.scope == "object":
        text += " (whole object digested)"
    if s.missing_keys:
        text += f" [missing: {', '.join(s.missing_keys)}]"
    return _clean(text)


def _source_name(s: SourceUse) -> str:
    text = s.name
    if s.produced_by is not None:
        text += f" (from {s.produced_by[0]} {s.produced_by[1]})"
    return _clean(text)


def _digest_cell(s: SourceUse, keyed: bool) -> str:
    if s.digest is not None:
        return s.digest
    return "withheld (unkeyed Secret)" if not keyed else "-"


def _sync_cell(position: Position) -> str:
    """Phase/wave, as in the SYNC column: ``Sync/0``, ``PreSync/-1 hook``, ``never``."""
    if position.phase is None:
        return "never"
    return f"{position.phase}/{position.wave}" + (" hook" if position.hook else "")


def _source_sync_cell(s: SourceUse) -> str:
    return _sync_cell(s.position) + (" LATE" if s.in_time is False else "")


def _status_line(w: WorkloadReport) -> str:
    head = f"{w.kind} {_workload_name(w.namespace, w.name)}"
    sync = f"; sync {_sync_cell(w.position)}"
    if w.stamped:
        return f"{head}: stamped{sync}"
    from cmp.explain import REASONS  # noqa: PLC0415

    return f"{head}: not stamped, {REASONS.get(w.reason or '', w.reason or 'unknown')}{sync}"


def table(report: Report) -> str:
    rows: list[tuple[str, ...] | str] = []
    for w in report.workloads:
        rows.append(_status_line(w))
        if w.stamped:
            checksum = w.checksum or "withheld: covers an unkeyed Secret digest (--secret-key-file)"
            rows.append(f"  checksum {checksum}")
        for s in w.sources:
            digest = _digest_cell(s, report.keyed)
            row = (s.kind, _source_name(s), ", ".join(s.via), digest, _source_sync_cell(s))
            rows.append((*row, _keys_cell(s)))
        for kind, name in w.ignored_sources:
            rows.append(f"  ignored {kind} {_clean(name)} (carries the ignore annotation)")
        for u in w.unresolved:
            keys = f", key {', '.join(u.keys)}" if u.keys else ""
            optional = "optional, " if u.optional else ""
            rows.append(
                _clean(f"  unresolved {u.kind} {u.name} ({optional}{u.via}{keys}): not in stream")
            )
        rows += [f"  warning: {_clean(text)}" for text in w.warnings]
    cells = [TABLE_HEADER, *(r for r in rows if isinstance(r, tuple))]
    last = len(TABLE_HEADER) - 1
    widths = [min(MAX_CELL, max(len(c[i]) for c in cells)) for i in range(last)] + [0]
    rows.insert(0, TABLE_HEADER)
    lines = []
    for r in rows:
        if isinstance(r, str):
            lines.append(r)
        else:
            padded = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r))
            lines.append(f"  {padded}".rstrip())
    stamped = sum(1 for w in report.workloads if w.stamped)
    total = len(report.workloads)
    lines.append(
        f"{total} workload{'s' if total != 1 else ''}: {stamped} stamped, "
        f"{total - stamped} not stamped (precision: {report.precision})"
    )
    lines += [f"warning: {_clean(text)}" for text in report.warnings]
    return "\n".join(lines) + "\n"


# explain: graphs


class _Graph:
    """Node ids for workloads, sources and unresolved references, shared by dot and mermaid."""

    def __init__(self, report: Report) -> None:
        self.workloads: list[tuple[str, WorkloadReport]] = []
        self.sources: dict[tuple[str, ...], tuple[str, list[str]]] = {}
        self.edges: list[tuple[str, str, str, bool]] = []  # from, to, label, solid
        for i, w in enumerate(report.workloads, 1):
            wid = f"w{i}"
            self.workloads.append((wid, w))
            for s in w.sources:
                label = [s.kind, s.name]
                if s.produced_by is not None:
                    label.append(f"from {s.produced_by[0]} {s.produced_by[1]}")
                sid = self._node(("s", s.kind, w.namespace or "", s.name), "s", label)
                keys = "all keys" if s.keys is None else ", ".join(s.keys)
                self.edges.append((wid, sid, f"{', '.join(s.via)}: {keys}", True))
            for u in w.unresolved:
                label = [u.kind, u.name, "not in the stream"]
                uid = self._node(("u", u.kind, w.namespace or "", u.name), "u", label)
                text = u.via + (", optional" if u.optional else "")
                self.edges.append((wid, uid, text, False))

    def _node(self, key: tuple[str, ...], prefix: str, label: list[str]) -> str:
        if key not in self.sources:
            self.sources[key] = (f"{prefix}{len(self.sources) + 1}", label)
        return self.sources[key][0]


def _dot_text(lines: Sequence[str]) -> str:
    escaped = [_clean(t).replace("\\", "\\\\").replace('"', '\\"') for t in lines]
    return '"' + "\\n".join(escaped) + '"'


def dot(report: Report) -> str:
    graph = _Graph(report)
    out = [
        "digraph confighash {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for wid, w in graph.workloads:
        state = "stamped" if w.stamped else f"not stamped: {w.reason}"
        label = _dot_text([w.kind, _workload_name(w.namespace, w.name), state])
        style = '"rounded,bold"' if w.stamped else '"rounded,dashed"'
        out.append(f"  {wid} [shape=box, style={style}, label={label}];")
    for key, (nid, lines) in graph.sources.items():
        style = "solid" if key[0] == "s" else "dashed"
        out.append(f"  {nid} [shape=note, style={style}, label={_dot_text(lines)}];")
    for src, dst, label, solid in graph.edges:
        style = "" if solid else ", style=dashed"
        out.append(f"  {src} -> {dst} [label={_dot_text([label])}{style}];")
    out.append("}")
    return "\n".join(out) + "\n"


def _mermaid_text(lines: Sequence[str]) -> str:
    def escape(text: str) -> str:
        for char, entity in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
            text = text.replace(char, entity)
        return _clean(text)

    return '"' + "<br/>".join(escape(t) for t in lines) + '"'


def mermaid(report: Report) -> str:
    graph = _Graph(report)
    out = ["flowchart LR"]
    unstamped = []
    for wid, w in graph.workloads:
        state = "stamped" if w.stamped else f"not stamped: {w.reason}"
        label = _mermaid_text([w.kind, _workload_name(w.namespace, w.name), state])
        out.append(f"  {wid}[{label}]")
        if not w.stamped:
            unstamped.append(wid)
    missing = []
    for key, (nid, lines) in graph.sources.items():
        out.append(f"  {nid}[({_mermaid_text(lines)})]")
        if key[0] == "u":
            missing.append(nid)
    for src, dst, label, solid in graph.edges:
        arrow = "-->" if solid else "-.->"
        out.append(f"  {src} {arrow}|{_mermaid_text([label])}| {dst}")
    if unstamped:
        out.append("  classDef unstamped stroke-dasharray: 5 5")
        out.append(f"  class {','.join(unstamped)} unstamped")
    if missing:
        out.append("  classDef missing stroke-dasharray: 2 2,fill:none")
        out.append(f"  class {','.join(missing)} missing")
    return "\n".join(out) + "\n"


_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*")
# Words a YAML 1.1 reader (go-yaml v2, PyYAML) takes for a boolean or null: always quoted.
_RESERVED = frozenset(
    "y Y yes Yes YES n N no No NO true True TRUE false False FALSE on On ON off Off OFF "
    "null Null NULL".split()
)


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, str):
        plain = _PLAIN.fullmatch(value) is not None and value not in _RESERVED
        return value if plain else json.dumps(value, ensure_ascii=False)
    return json.dumps(value)  # numbers, booleans, null: the same words in YAML


def _yaml_lines(value: Any, indent: str) -> list[str]:
    """Block YAML of JSON data; a string is plain only when no YAML reader can mistake it."""
    if isinstance(value, dict) and value:
        lines = []
        for key, item in value.items():
            name = _yaml_scalar(str(key))
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{indent}{name}:")
                lines += _yaml_lines(item, indent + "  ")
            else:
                lines.append(f"{indent}{name}: {_yaml_scalar(item) if item != {} else '{}'}")
        return lines
    if isinstance(value, list) and value:
        lines = []
        for item in value:
            nested = _yaml_lines(item, indent + "  ")
            lines.append(f"{indent}- {nested[0].lstrip()}")
            lines += nested[1:]  # nothing for a scalar, [] or {}: they are one line
        return lines
    if value == []:
        return [f"{indent}[]"]
    if value == {}:
        return [f"{indent}{{}}"]
    return [f"{indent}{_yaml_scalar(value)}"]


def _yaml(data: Any) -> str:
    return "\n".join(_yaml_lines(data, "")) + "\n"


EXPLAINERS: dict[str, Callable[[Report], str]] = {
    "table": table,
    "json": lambda report: _json(_explain_json(report)),
    "yaml": lambda report: _yaml(_explain_json(report)),
    "dot": dot,
    "mermaid": mermaid,
    "markdown": lambda report: f"```mermaid\n{mermaid(report)}```\n",
}


def _explain_json(report: Report) -> dict[str, Any]:
    from cmp.explain import to_json  # noqa: PLC0415

    return to_json(report)


def explain(report: Report, output: str) -> str:
    return EXPLAINERS[output](report)


# diff


def _code(text: str) -> str:
    """A Markdown code span that cannot break a table cell."""
    text = _clean(text).replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _because_text(b: Because) -> str:
    what = f"{b.kind} {_code(b.name)}"
    if b.produced_by is not None:
        what += f" (from {b.produced_by[0]} {_code(b.produced_by[1])})"
    detail = []
    if b.keys:
        label = "key" if len(b.keys) == 1 else "keys"
        detail.append(f"{label} " + ", ".join(_code(k) for k in b.keys))
    if b.parts:
        detail.append(", ".join(_code(p) for p in b.parts) + " of its spec")
    return f"{what} {b.change}" + (f": {'; '.join(detail)}" if detail else "")


# A stamp that appears or disappears, by why the unstamped side is unstamped: what happened to the
# workload, not to its sources (an ignored workload's sources were not removed).
_STAMP_WORDS = {
    ("added", "no-sources"): "newly stamped: it consumes a ConfigMap or Secret of the stream now",
    ("removed", "no-sources"): "no longer stamped: it consumes no ConfigMap or Secret of the "
    "stream now",
    ("added", "ignored"): "newly stamped: it no longer carries the ignore annotation",
    ("removed", "ignored"): "no longer stamped: it now carries the ignore annotation, so its stamp "
    "annotations are removed from its pod template",
    ("added", "no-template"): "newly stamped: it has a pod template now",
    ("removed", "no-template"): "no longer stamped: it has no pod template now",
}


def _stamp_text(r: Rollout) -> str:
    if r.stamp == "changed":
        return "stamp changed"
    words = _STAMP_WORDS.get((r.stamp, r.reason or ""))
    if words is not None:
        return words
    return (
        f"newly stamped (was {r.reason})"
        if r.stamp == "added"
        else f"no longer stamped (now {r.reason})"
    )


def _immutable_lines(report: DiffReport) -> list[str]:
    lines = []
    for c in report.immutable:
        what = f"{c.kind} {_code(_workload_name(c.namespace, c.name))}"
        changes = []
        if c.keys:
            label = "key" if len(c.keys) == 1 else "keys"
            changes.append(f"its data changes ({label} {', '.join(_code(k) for k in c.keys)})")
        if c.unset:
            changes.append("NEW no longer sets `immutable: true`")
        lines += [
            "",
            f"**The sync will fail**: {what} is `immutable: true` and {' and '.join(changes)}; "
            "the API server rejects that update. Give the new content a new name (for example "
            "a kustomize generator's hash suffix, or a versioned name) and point its consumers at "
            "it.",
        ]
    return lines


def _presence_lines(report: DiffReport) -> list[str]:
    lines = []
    for title, found in (
        (
            "Created (not restarts: their first pods start with the new configuration)",
            report.created,
        ),
        ("Deleted", report.deleted),
    ):
        if found:
            names = ", ".join(
                f"{w.kind} {_code(_workload_name(w.namespace, w.name))}" for w in found
            )
            lines += ["", f"{title}: {names}."]
    return lines


def markdown(report: DiffReport) -> str:
    count = len(report.rollouts)
    if not count:
        return (
            "\n".join(
                [
                    "**confighash**: no workload restarts. No change reaches a ConfigMap or "
                    "Secret that a pod template consumes.",
                    *_presence_lines(report),
                    *_immutable_lines(report),
                ]
            )
            + "\n"
        )
    noun = "workload restarts" if count == 1 else "workloads restart"
    lines = [
        f"**confighash**: {count} {noun} because of ConfigMap or Secret changes.",
        "",
        "| Workload | Stamp | Because |",
        "| --- | --- | --- |",
    ]
    for r in report.rollouts:
        workload = f"{r.kind} {_code(_workload_name(r.namespace, r.name))}"
        because = "<br>".join(_because_text(b) for b in r.because) or "-"
        lines.append(f"| {workload} | {_stamp_text(r)} | {because} |")
    lines += _presence_lines(report)
    lines += _immutable_lines(report)
    lines += ["", "Key names only: values are never shown."]
    return "\n".join(lines) + "\n"


def diff_json(report: DiffReport) -> dict[str, Any]:
    return {
        "version": DIFF_SCHEMA_VERSION,
        "rollouts": [
            {
                "kind": r.kind,
                "namespace": r.namespace,
                "name": r.name,
                "stamp": r.stamp,
                "reason": r.reason,
                "because": [
                    {
                        "kind": b.kind,
                        "name": b.name,
                        "change": b.change,
                        "keys": list(b.keys),
                        "parts": list(b.parts),
                        "producedBy": None
                        if b.produced_by is None
                        else {"kind": b.produced_by[0], "name": b.produced_by[1]},
                    }
                    for b in r.because
                ],
            }
            for r in report.rollouts
        ],
        "created": [_presence_json(w) for w in report.created],
        "deleted": [_presence_json(w) for w in report.deleted],
        "immutable": [
            {
                "kind": c.kind,
                "namespace": c.namespace,
                "name": c.name,
                "keys": list(c.keys),
                "immutableUnset": c.unset,
            }
            for c in report.immutable
        ],
    }


def _presence_json(w: Presence) -> dict[str, Any]:
    return {"kind": w.kind, "namespace": w.namespace, "name": w.name}


def diff(report: DiffReport, output: str) -> str:
    return markdown(report) if output == "markdown" else _json(diff_json(report))
