"""Reports of a run record: JSON (every row), JUnit XML (for CI systems) and Markdown (for a PR).

These return strings; the CLI decides where they go (stdout or ``-o FILE``, written atomically).
"""

from __future__ import annotations

import json
from typing import Any

from promptctl.records import Record, group_units, unit_outcome


def trim(text: str | None, width: int = 120) -> str:
    if text is None:
        return ""
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def fmt_cost(cost: float | None) -> str:
    return "unknown" if cost is None else f"${cost:.4f}"


def fmt_ms(ms: float | None) -> str:
    return "-" if ms is None else (f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s")


def fmt_rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def summary_line(s: dict[str, Any]) -> str:
    parts = [f"{s['passed']} passed", f"{s['failed']} failed", f"{s['errors']} errors"]
    if s["skipped"]:
        parts.append(f"{s['skipped']} skipped")
    score = "-" if s["mean_score"] is None else f"{s['mean_score']:.3f}"
    return (
        ", ".join(parts) + f" · pass rate {fmt_rate(s['pass_rate'])} · mean score {score}"
        f" · tokens {s['input_tokens']}/{s['output_tokens']} · cost {fmt_cost(s['cost'])}"
        f" · p50 {fmt_ms(s['p50_latency_ms'])} p95 {fmt_ms(s['p95_latency_ms'])}"
        f" · {s['cache_hits']} cached, {s['replays']} replayed, {s['live']} live"
    )


def failures(record: Record) -> list[dict[str, Any]]:
    """One entry per failing or erroring row: what broke and why, for the terminal table."""
    out = []
    for r in record.rows:
        if r["status"] not in ("fail", "error", "skipped"):
            continue
        bad = [a for a in r.get("asserts", []) if not a["passed"] or a.get("error")]
        if r["status"] in ("error", "skipped") and not bad:
            out.append({**_ident(r), "assertion": r["status"], "reason": r.get("error") or "", "output": ""})
            continue
        for a in bad:
            out.append(
                {
                    **_ident(r),
                    "assertion": a["label"] + (" (error)" if a.get("error") else ""),
                    "reason": a.get("reason", ""),
                    "output": r.get("output") or "",
                }
            )
    return out


def _ident(r: dict[str, Any]) -> dict[str, Any]:
    case = r["case"] + (f" #{r['sample']}" if r.get("sample") else "")
    return {
        "prompt": r["prompt"],
        "case": case,
        "model": r["model"],
        "status": r["status"],
        "case_file": r.get("case_file"),
    }


def units(record: Record) -> list[dict[str, Any]]:
    out = []
    for (case_key, model), samples in group_units(record.rows).items():
        first = samples[0]
        out.append(
            {
                "case_key": case_key,
                "prompt": first["prompt"],
                "case": first["case"],
                "model": model,
                "case_file": first.get("case_file"),
                **unit_outcome(samples),
            }
        )
    return out


def to_json(record: Record) -> str:
    return json.dumps(record.to_dict(), indent=2, ensure_ascii=False)


def to_junit(record: Record) -> str:
    """One <testcase> per case × model; samples are summarised in its message."""
    from xml.etree import ElementTree as ET  # only for JUnit: not on every `test` run

    s = record.summary
    suites = ET.Element(
        "testsuites",
        name="promptctl",
        tests=str(s["units"]),
        failures=str(s["failed"]),
        errors=str(s["errors"]),
        skipped=str(s["skipped"]),
    )
    by_prompt: dict[str, list[dict[str, Any]]] = {}
    for u in units(record):
        by_prompt.setdefault(u["prompt"], []).append(u)
    rows_by_unit: dict[tuple[str, str], list[dict[str, Any]]] = group_units(record.rows)
    for prompt, us in by_prompt.items():
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=prompt,
            tests=str(len(us)),
            failures=str(sum(u["status"] == "fail" for u in us)),
            errors=str(sum(u["status"] == "error" for u in us)),
            skipped=str(sum(u["status"] == "skipped" for u in us)),
        )
        for u in us:
            samples = rows_by_unit[(u["case_key"], u["model"])]
            secs = sum((r.get("latency_ms") or 0) for r in samples) / 1000
            tc = ET.SubElement(
                suite,
                "testcase",
                classname=prompt,
                name=f"{u['case']} [{u['model']}]",
                file=u.get("case_file") or "",
                time=f"{secs:.3f}",
            )
            detail = "\n".join(
                f"sample {r['sample']}: {r['status']}: "
                + "; ".join(
                    f"{a['label']}: {a.get('reason', '')}" for a in r.get("asserts", []) if not a["passed"]
                )
                + (f"{r.get('error') or ''}" if r["status"] in ("error", "skipped") else "")
                for r in samples
                if r["status"] != "pass"
            )
            rate = f"{u['passes']}/{u['passes'] + u['fails']} samples passed (min {u['min_pass_rate']:g})"
            if u["status"] == "fail":
                ET.SubElement(tc, "failure", message=rate).text = detail
            elif u["status"] == "error":
                ET.SubElement(tc, "error", message=rate).text = detail
            elif u["status"] == "skipped":
                ET.SubElement(tc, "skipped", message=detail[:500])
            out = next((r.get("output") for r in samples if r.get("output")), None)
            if out:
                ET.SubElement(tc, "system-out").text = out
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(record: Record, *, title: str = "promptctl test") -> str:
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


def render(record: Record, fmt: str) -> str:
    if fmt == "json":
        return to_json(record)
    if fmt == "junit":
        return to_junit(record)
    if fmt == "markdown":
        return to_markdown(record)
    raise ValueError(fmt)
