"""Markdown of a run record, a comparison and a diff: what a pull-request comment shows."""

from __future__ import annotations

import html
from typing import Any

from promptctl.records.record import Record
from promptctl.report.formatting import md_escape, trim
from promptctl.report.text import (
    UNIT_COLUMNS,
    diff_summary_line,
    failure_reason,
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
            "| prompt | case | model | passed | assertion | reason | output |",
            "| --- | --- | --- | ---: | --- | --- | --- |",
        ]
        for f in fails[:200]:
            lines.append(
                f"| {md_escape(f['prompt'])} | {md_escape(f['case'])} | {md_escape(f['model'])} | "
                f"{f['passed']} | {md_escape(f['assertion'])} | {md_escape(failure_reason(f, 160))} | "
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


def _md_fence(text: str, max_lines: int) -> str:
    lines = text.rstrip("\n").split("\n")
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], f"… {len(lines) - max_lines} more lines"]
    body = "\n".join(lines).replace("```", "`\u200b``")
    return f"```diff\n{body}\n```"


def diff_markdown(data: dict[str, Any], *, budget: int = 60_000, max_lines: int = 150) -> str:
    """A PR comment: summary, changed files, and one collapsed ``<details>`` per affected case,
    stopping before GitHub's comment limit (65,536 characters)."""
    s = data["summary"]
    out = [
        f"### promptctl diff — `{data['base']['label']}` → `{data['head']['label']}`",
        "",
        diff_summary_line(data),
        "",
    ]
    if data["changed_files"]:
        out.append("<details><summary>Changed files (" + str(len(data["changed_files"])) + ")</summary>\n")
        out += [f"- `{f['status']}` `{f['path']}` ({f['kind']})" for f in data["changed_files"]]
        out += ["", "</details>", ""]
    for side in ("base", "head"):
        for p in data["problems"][side]:
            out.append(f"> ⚠️ {side}: {p.replace(chr(10), ' ')}")
    size = sum(len(x) + 1 for x in out)
    shown = 0
    for e in data["affected"]:
        block = [
            f"<details><summary><code>{html.escape(e['case_key'])}</code> [{html.escape(e['model'])}] — "
            f"{e['change']}</summary>",
            "",
            _md_fence(e["diff"], max_lines),
            "",
        ]
        if e["output_diff"]:
            block += ["Recorded output:", "", _md_fence(e["output_diff"], max_lines), ""]
        block += ["</details>", ""]
        piece = sum(len(x) + 1 for x in block)
        if size + piece > budget:
            break
        out += block
        size += piece
        shown += 1
    if shown < len(data["affected"]):
        out.append(
            f"… {len(data['affected']) - shown} more affected case(s) not shown "
            "(run `promptctl diff` locally for all)"
        )
    if data["checks_changed"]:
        out.append("Checks changed (same requests): " + ", ".join(f"`{k}`" for k in data["checks_changed"]))
    if not s["affected"] and not data["checks_changed"]:
        out.append("No rendered request changed.")
    return "\n".join(out) + "\n"
