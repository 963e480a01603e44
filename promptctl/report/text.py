"""Plain-text pieces of every report for the terminal: a run's summary line, failures and cases,
a comparison's rows and totals (a diff: ``report.diff_text``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from promptctl.records.record import Record
from promptctl.records.summary import unit_rows
from promptctl.report.formatting import fmt_cost, fmt_ms, fmt_rate, ms, num, pct, usd


def summary_line(s: dict[str, Any]) -> str:
    parts = [f"{s['passed']} passed", f"{s['failed']} failed", f"{s['errors']} errors"]
    if s["skipped"]:
        parts.append(f"{s['skipped']} skipped")
    if s.get("pending"):
        parts.append(f"{s['pending']} pending review")
    score = "-" if s["mean_score"] is None else f"{s['mean_score']:.3f}"
    return (
        ", ".join(parts) + f" · pass rate {fmt_rate(s['pass_rate'])} · mean score {score}"
        f" · tokens {s['input_tokens']}/{s['output_tokens']} · cost {fmt_cost(s['cost'])}"
        f" · p50 {fmt_ms(s['p50_latency_ms'])} p95 {fmt_ms(s['p95_latency_ms'])}"
        f" · {s['cache_hits']} cached, {s['replays']} replayed, {s['live']} live"
    )


def failures(record: Record) -> list[dict[str, Any]]:
    """One entry per failing or erroring row: what broke and why, for the terminal table."""
    return failures_of(record.rows)


def failures_of(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`failures` of rows (a streamed run keeps only those that did not pass)."""
    out = []
    for r in rows:
        if r["status"] not in ("fail", "error", "skipped", "pending"):
            continue
        bad = [a for a in r.get("asserts", []) if not a["passed"] or a.get("error")]
        if r["status"] in ("error", "skipped") and not bad:
            out.append({**_ident(r), "assertion": r["status"], "reason": r.get("error") or "", "output": ""})
            continue
        for a in bad:
            out.append(
                {
                    **_ident(r),
                    "assertion": a["label"]
                    + (" (error)" if a.get("error") else " (pending)" if a.get("pending") else ""),
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
    """One entry per case x model: identity and outcome over its samples."""
    return unit_rows(record.rows)


# -- comparisons -----------------------------------------------------------------------------------
TRANSITIONS = ("pass_to_fail", "still_failing", "fail_to_pass", "new", "removed", "still_passing")
TRANSITION_LABELS = {
    "pass_to_fail": "pass→fail",
    "fail_to_pass": "fail→pass",
    "still_failing": "still failing",
    "still_passing": "still passing",
    "new": "new",
    "removed": "removed",
}


def unit_cells(u: dict[str, Any]) -> list[str]:
    def side(x: dict[str, Any] | None) -> str:
        return "-" if x is None else f"{x['status']} {x['passes']}/{x['samples']}"

    drift = ""
    if u["provider_model_drift"]:
        drift = ",".join(u["base"]["provider_models"]) + " → " + ",".join(u["head"]["provider_models"])
    changed = {True: "changed", False: "same", None: "-"}[u["output_changed"]]
    return [
        TRANSITION_LABELS[u["transition"]],
        u["prompt"] or "",
        u["case"] or "",
        u["model"],
        side(u["base"]),
        side(u["head"]),
        pct(u["pass_rate_delta"], True),
        num(u["score_delta"]),
        changed,
        usd(u["cost_delta"], True),
        ms(u["latency_delta_ms"], True),
        drift,
    ]


UNIT_COLUMNS = [
    "CHANGE",
    "PROMPT",
    "CASE",
    "MODEL",
    "BASE",
    "HEAD",
    "Δ PASS",
    "Δ SCORE",
    "OUTPUT",
    "Δ COST",
    "Δ LATENCY",
    "DRIFT",
]


def totals_lines(data: dict[str, Any]) -> list[str]:
    t = data["totals"]
    tr = t["transitions"]
    lines = [
        ", ".join(f"{tr[k]} {TRANSITION_LABELS[k]}" for k in TRANSITIONS if tr[k]) or "no cases",
        f"pass rate {pct(t['pass_rate']['base'])} → {pct(t['pass_rate']['head'])} "
        f"({pct(t['pass_rate']['delta'], True)}) · mean score {num(t['mean_score']['base'], '{:.3f}')} → "
        f"{num(t['mean_score']['head'], '{:.3f}')} · cost {usd(t['cost']['base'])} → "
        f"{usd(t['cost']['head'])}"
        f" · p95 {ms(t['p95_latency_ms']['base'])} → {ms(t['p95_latency_ms']['head'])}"
        f" · outputs changed {t['outputs_changed']}"
        + (f" · provider model drift in {t['provider_model_drift']}" if t["provider_model_drift"] else ""),
    ]
    for m, v in t["metrics"].items():
        lines.append(
            f"metric {m}: {num(v['base'], '{:.3f}')} → {num(v['head'], '{:.3f}')} ({num(v['delta'])})"
        )
    return lines


def gate_lines(data: dict[str, Any]) -> list[str]:
    g = data["gate"]
    if g is None:
        return []
    head = "gate: FAILED — quality drop" if g["failed"] else "gate: passed — no quality drop"
    return [head, *(f"  ✗ {c}" for c in g["causes"]), *g["pvalues"]]


def side_desc(s: dict[str, Any]) -> str:
    origin = {"record": "local record", "git-note": "git note", "ran": "ran now"}[s["origin"]]
    return f"{s['label']} ({origin})"
