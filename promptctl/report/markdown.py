"""Markdown of a run record (a comparison: ``report.compare_markdown``; a diff:
``report.diff_markdown``; the pull-request report of both: ``report.pr_report``)."""

from __future__ import annotations

from promptctl.records.record import Record
from promptctl.report.formatting import md_escape, trim
from promptctl.report.text import (
    failure_reason,
    failures,
    summary_line,
)


def record_markdown(record: Record, *, title: str = "promptctl test") -> str:
    s = record.summary
    icon = "✅" if not (s["failed"] or s["errors"] or s.get("pending")) else ("❌" if s["failed"] else "⚠️")
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
