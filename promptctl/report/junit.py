"""JUnit XML of a run record, for CI systems: one <testcase> per case x model."""

from __future__ import annotations

from typing import Any

from promptctl.records.record import Record
from promptctl.records.summary import group_units
from promptctl.report.text import units


def record_junit(record: Record) -> str:
    """One <testcase> per case × model; samples are summarised in its message."""
    from xml.etree import ElementTree as ET  # only for JUnit: not on every `test` run

    s = record.summary
    suites = ET.Element(
        "testsuites",
        name="promptctl",
        tests=str(s["units"]),
        failures=str(s["failed"] + s.get("pending", 0)),
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
            failures=str(sum(u["status"] in ("fail", "pending") for u in us)),
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
            elif u["status"] == "pending":
                ET.SubElement(tc, "failure", message="pending human review (promptctl review)").text = detail
            elif u["status"] == "error":
                ET.SubElement(tc, "error", message=rate).text = detail
            elif u["status"] == "skipped":
                ET.SubElement(tc, "skipped", message=detail[:500])
            out = next((r.get("output") for r in samples if r.get("output")), None)
            if out:
                ET.SubElement(tc, "system-out").text = out
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
