"""Markdown of a run record and a comparison: what a pull-request comment shows (a diff:
``report.diff_markdown``)."""

from __future__ import annotations

from typing import Any

from promptctl.records.record import Record
from promptctl.report.formatting import md_escape, trim
from promptctl.report.text import (
    UNIT_COLUMNS,
    failures,
    side_desc,
    summary_line,
    totals_lines,
    unit_cells,
)


def record_markdown(record: Record, *, title: str = "promptctl test") -> str:
    s = record.summary
    icon = "✅" if not (s["failed"] or s["errors"]) else ("❌" if s["failed"] else "⚠️")
    commit = (record.commit or "uncommitted")[:12] + (" (dirty)" if record.dirty else "")
    lines = [f"### {icon} {title} — `{commit}`", "", summary_line(s), ""]
    if s["metrics"]:
        lines += ["| metric | mean score |", "| --- | ---: |"]
        lines += [f"| {k} | {v:.3f} |" for k, v in s["metrics"].items()]
        lines.append("")
    fails = failures(record)
    if fails:
        lines += [
            "| prompt | case | model | assertion | reason | output |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for f in fails[:200]:
            lines.append(
                f"| {md_escape(f['prompt'])} | {md_escape(f['case'])} | {md_escape(f['model'])} | "
                f"{md_escape(f['assertion'])} | {md_escape(trim(f['reason'], 160))} | "
                f"{md_escape(trim(f['output'], 80))} |"
            )
        if len(fails) > 200:
            lines.append(f"\n… and {len(fails) - 200} more")
    else:
        lines.append("All cases passed.")
    return "\n".join(lines) + "\n"


def comparison_markdown(data: dict[str, Any], *, max_rows: int = 200) -> str:
    g = data["gate"]
    icon = "" if g is None else ("❌ " if g["failed"] else "✅ ")
    out = [
        f"### {icon}promptctl compare — `{data['base']['label']}` → `{data['head']['label']}`",
        "",
        f"base: {side_desc(data['base'])} · head: {side_desc(data['head'])}",
        "",
        *totals_lines(data),
        "",
    ]
    if g is not None:
        out += ["**Gate: failed**" if g["failed"] else "**Gate: passed**", ""]
        out += [f"- {md_escape(c)}" for c in g["causes"]]
        out += [
            "",
            "<details><summary>Statistics</summary>",
            "",
            "```",
            *g["pvalues"],
            "```",
            "",
            "</details>",
            "",
        ]
    header = "| " + " | ".join(UNIT_COLUMNS) + " |\n|" + " --- |" * len(UNIT_COLUMNS)
    changed = [
        u
        for u in data["units"]
        if u["transition"] != "still_passing" or u["output_changed"] or u["provider_model_drift"]
    ]
    if changed:
        out += [
            header,
            *("| " + " | ".join(md_escape(c) for c in unit_cells(u)) + " |" for u in changed[:max_rows]),
        ]
        if len(changed) > max_rows:
            out.append(f"\n… and {len(changed) - max_rows} more")
    else:
        out.append("No case changed its result or output.")
    return "\n".join(out) + "\n"
