"""Comparison data made from hand-made records, as ``compare --format json`` writes it: for the
tests of the comparison's and the pull request's Markdown."""

from __future__ import annotations

from typing import Any

from promptctl.review.compare import compare_units, totals
from promptctl.review.gate import gate_pvalue_lines, gate_settings, run_gate
from promptctl.suite.model import GateConfig
from tests.records.rows import record, row


def side(label: str) -> dict[str, Any]:
    return {
        "label": label,
        "ref": label,
        "sha": label[0] * 40,
        "dirty": False,
        "origin": "ran",
        "record": None,
        "created_at": "2026-01-01T00:00:00Z",
        "complete": True,
    }


def comparison(
    base: list[dict[str, Any]], head: list[dict[str, Any]], *, gate: bool = True
) -> dict[str, Any]:
    b, h = record(base), record(head)
    pairs = compare_units(b, h)
    data: dict[str, Any] = {
        "base": side("base"),
        "head": side("head"),
        "totals": totals(b, h, pairs),
        "units": [p.to_dict() for p in pairs],
        "gate": None,
    }
    if gate:
        res = run_gate(b, h, pairs, gate_settings(GateConfig()))
        data["gate"] = {
            "failed": res.failed,
            "causes": res.causes,
            "warnings": res.warnings,
            "removed": res.removed,
            "pvalues": gate_pvalue_lines(res),
            **res.details,
        }
    return data


def a_pull_request() -> dict[str, Any]:
    """398 cases at base, 399 at head: 30 of `reply` pass→fail, 5 of `triage` fail→pass, 2 new, 1 removed, one repeated
    case that still passes but lost a fifth of its samples, 361 unchanged (20 with another output)."""
    base: list[dict[str, Any]] = []
    head: list[dict[str, Any]] = []
    for i in range(30):
        base.append(row(f"r{i:02d}", prompt="reply"))
        head.append(row(f"r{i:02d}", "fail", prompt="reply", output="changed"))
    for i in range(5):
        base.append(row(f"t{i}", "fail", prompt="triage"))
        head.append(row(f"t{i}", prompt="triage"))
    head += [row("new1", prompt="triage"), row("new2", prompt="triage")]
    base.append(row("gone", prompt="triage"))
    for s in range(5):  # 5/5 -> 4/5 with min_pass_rate 0.8: still passing, moved 20 points
        base.append(row("rep", sample=s, prompt="summarize", min_pass_rate=0.8))
        head.append(row("rep", "fail" if s == 4 else "pass", sample=s, prompt="summarize", min_pass_rate=0.8))
    for i in range(361):
        base.append(row(f"s{i:03d}", prompt="summarize"))
        head.append(row(f"s{i:03d}", prompt="summarize", output="other" if i < 20 else "out"))
    return comparison(base, head)
