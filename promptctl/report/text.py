"""Plain-text pieces of every report for the terminal: a run's summary line, failures and cases,
a comparison's rows and totals (a diff: ``report.diff_text``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from promptctl.records.record import Record
from promptctl.records.summary import UnitOutcome, group_units, unit_outcome, unit_rows
from promptctl.report.formatting import fmt_cost, fmt_ms, fmt_rate, ms, num, pct, trim, usd


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
    """One entry per case x model that did not pass overall, for the failure table: its pass count
    (``passed``, e.g. ``3/5``), the most common failure over its non-passing samples (the failing
    assertion, or ``error`` / ``skipped``, and its reason), how many samples showed it, and one
    example output of it. The failing samples of a case that passed overall (``min_pass_rate``
    below 1) are not failures and are not listed."""
    units = group_units(record.rows).items()
    return _failures((key, samples, unit_outcome(samples)) for key, samples in units)


def failures_of(
    rows: Iterable[dict[str, Any]], outcome_of: Callable[[tuple[str, str]], UnitOutcome]
) -> list[dict[str, Any]]:
    """:func:`failures` of a streamed run, which keeps only the rows that did not pass: each case x
    model's outcome (over all its samples) comes from ``outcome_of`` (the run's running tally)."""
    return _failures((key, samples, outcome_of(key)) for key, samples in group_units(list(rows)).items())


def _failures(
    units: Iterable[tuple[tuple[str, str], list[dict[str, Any]], UnitOutcome]],
) -> list[dict[str, Any]]:
    out = []
    for (_key, model), samples, outcome in units:
        if outcome.status == "pass":
            continue
        seen: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in samples:
            if r["status"] == "pass":
                continue
            for why in dict.fromkeys(_why(r)):
                seen.setdefault(why, []).append(r)
        if not seen:  # pragma: no cover - a unit that did not pass has a sample that did not
            continue
        (assertion, reason), example = max(seen.items(), key=lambda kv: len(kv[1]))
        first = samples[0]
        out.append(
            {
                "prompt": first["prompt"],
                "case": first["case"],
                "model": model,
                "status": outcome.status,
                "case_file": first.get("case_file"),
                "passes": outcome.passes,
                "samples": outcome.samples,
                "passed": f"{outcome.passes}/{outcome.samples}",
                "failing": outcome.samples - outcome.passes,
                "assertion": assertion,
                "reason": reason,
                "reason_samples": len(example),
                "output": example[0].get("output") or "",
                "sample": example[0].get("sample", 0),
            }
        )
    return out


def _why(r: dict[str, Any]) -> list[tuple[str, str]]:
    """What went wrong in one non-passing sample: (failing assertion, reason) pairs, or the
    row's own error when it got no verdict."""
    bad = [a for a in r.get("asserts", []) if not a["passed"] or a.get("error")]
    if r["status"] in ("error", "skipped") and not bad:
        return [(r["status"], r.get("error") or "")]

    def label(a: dict[str, Any]) -> str:
        return str(a["label"]) + (" (error)" if a.get("error") else " (pending)" if a.get("pending") else "")

    return [(label(a), a.get("reason", "")) for a in bad]


def failure_reason(f: dict[str, Any], width: int) -> str:
    """A failure's reason as the tables show it, trimmed to ``width``: with how many samples
    showed it when the case was sampled more than once."""
    reason = trim(f["reason"], width)
    if f["samples"] <= 1:
        return reason
    return f"{reason} ({f['reason_samples']} of {f['samples']} samples)"


def units(record: Record) -> list[dict[str, Any]]:
    """One entry per case x model: identity and outcome over its samples."""
    return unit_rows(record.rows)


# -- comparisons -----------------------------------------------------------------------------------
TRANSITIONS = (
    "pass_to_fail",
    "cannot_evaluate",
    "still_failing",
    "fail_to_pass",
    "new",
    "removed",
    "still_passing",
)
TRANSITION_LABELS = {
    "pass_to_fail": "pass→fail",
    "cannot_evaluate": "cannot evaluate",
    "fail_to_pass": "fail→pass",
    "still_failing": "still failing",
    "still_passing": "still passing",
    "new": "new",
    "removed": "removed",
}


def unit_cells(u: dict[str, Any]) -> list[str]:
    def side(x: dict[str, Any] | None) -> str:
        if x is None:
            return "-"
        return f"{x['status']} {x['passes']}/{x['samples']}" + (" unverified" if x.get("unverified") else "")

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
        ", ".join(f"{tr[k]} {TRANSITION_LABELS[k]}" for k in TRANSITIONS if tr.get(k)) or "no cases",
        f"pass rate {pct(t['pass_rate']['base'])} → {pct(t['pass_rate']['head'])} "
        f"({pct(t['pass_rate']['delta'], True)}) · mean score {num(t['mean_score']['base'], '{:.3f}')} → "
        f"{num(t['mean_score']['head'], '{:.3f}')} · cost {usd(t['cost']['base'])} → "
        f"{usd(t['cost']['head'])}"
        f" · p95 {ms(t['p95_latency_ms']['base'])} → {ms(t['p95_latency_ms']['head'])}"
        f" · outputs changed {t['outputs_changed']}"
        + (f" · model changed in {t['model_changes']}" if t.get("model_changes") else "")
        + (f" · provider model drift in {t['provider_model_drift']}" if t["provider_model_drift"] else ""),
    ]
    for m, v in t["metrics"].items():
        lines.append(
            f"metric {m}: {num(v['base'], '{:.3f}')} → {num(v['head'], '{:.3f}')} ({num(v['delta'])})"
        )
    return lines


def checks_lines(data: dict[str, Any]) -> list[str]:
    """The assertions and validator files that differ between the sides (each side is graded by
    its own): a reviewer must see a loosened check next to the results it changed."""
    c = data.get("checks") or {}
    out = []
    if c.get("error"):
        out.append(f"checks: cannot compare the sides' checks: {c['error']}")
    if c.get("assertions"):
        keys = c["assertions"]
        out.append(f"checks changed: assertions of {len(keys)} case(s): {', '.join(keys)}")
    if c.get("files"):
        out.append(
            "validator files changed: "
            + ", ".join(f"{f['path']} ({f['kind']}, {f['change']})" for f in c["files"])
        )
    if c.get("gate_settings"):
        out.append(
            "gate settings changed in promptctl.yaml (the base's judge this change; the new ones apply "
            "once it is merged): " + ", ".join(f"{k} {v[0]} → {v[1]}" for k, v in c["gate_settings"].items())
        )
    return out


def gate_lines(data: dict[str, Any]) -> list[str]:
    g = data["gate"]
    if g is None:
        return []
    verdict = g.get("verdict") or ("failed" if g["failed"] else "passed")
    head = {
        "failed": "gate: FAILED — quality drop",
        "cannot_evaluate": "gate: CANNOT EVALUATE — not a quality drop: " + cannot_evaluate_summary(g),
        "passed": "gate: passed — no quality drop",
    }[verdict]
    warnings = [f"  warning: {w}" for w in g.get("warnings") or []]
    lines = [head, *(f"  ✗ {c}" for c in g["causes"])]
    ce = g.get("cannot_evaluate") or {}
    if ce.get("rows") and verdict == "failed":
        lines.append(
            f"  and cannot evaluate {plural_rows(ce['rows'])} (the drop above decides the exit code):"
        )
    for r in ce.get("reasons") or []:
        lines += [f"  ? {r['reason']}", f"    next: {r['next_step']}"]
    lines += unverified_lines(g)
    return [*lines, *warnings, *g["pvalues"]]


def plural_rows(n: int) -> str:
    return f"{n} row{'' if n == 1 else 's'}"


def cannot_evaluate_summary(g: dict[str, Any]) -> str:
    """The verdict's reason: "cannot evaluate 5 rows", "unverified: 2 rows from recordings
    changed by this PR", or both, then "(exit 3)"."""
    ce = g.get("cannot_evaluate") or {}
    uv = g.get("unverified") or {}
    parts = []
    if ce.get("rows"):
        parts.append(f"cannot evaluate {plural_rows(ce['rows'])}")
    if uv.get("rows") and not uv.get("trusted"):
        parts.append(f"unverified: {plural_rows(uv['rows'])} from recordings changed by this PR")
    return "; ".join(parts) + " (exit 3)"


UNVERIFIED_NEXT = (
    "verify them with a key: a maintainer runs the gate with it (`promptctl compare --gate BASE HEAD`, "
    "where HEAD is the pull request's commit), or the branch is pushed to the repository itself, "
    "whose pull requests get the key; or accept them: `gate.trust_pr_recordings: true` on the base "
    "branch, or --trust-pr-recordings"
)


def unverified_lines(g: dict[str, Any]) -> list[str]:
    uv = g.get("unverified") or {}
    if not uv.get("rows") or uv.get("trusted"):
        return []
    shown = ", ".join(uv["cases"][:10]) + (
        f" and {len(uv['cases']) - 10} more" if len(uv["cases"]) > 10 else ""
    )
    return [
        f"  ? unverified: {plural_rows(uv['rows'])} answered only by recordings this pull request "
        f"changed, no key to call the model: {shown}",
        f"    next: {UNVERIFIED_NEXT}",
    ]


def claims_lines(data: dict[str, Any]) -> list[str]:
    """The recordings the head changed (claims), with the `source:` each says it came from."""
    c = data.get("claims") or {}
    if not c.get("files"):
        return []
    how = (
        "trusted"
        if c.get("trusted")
        else f"{c.get('verified', 0)} verified by a call, {c.get('unverified', 0)} replayed unverified"
    )
    out = [f"recordings changed by this pull request: {c['rows']} row(s) — {how}"]
    for f in c["files"]:
        src = f"source: {f['source']}" if f.get("source") else "no source: header"
        out.append(f"  {f['path']} ({f['change']}, {f['entries']} entries changed; {src})")
    return out


def side_desc(s: dict[str, Any]) -> str:
    origin = {
        "record": "local record",
        "git-note": "git note",
        "combined": f"combined from {len(s.get('pieces') or [])} records",
        "ran": "ran now",
    }[s["origin"]]
    partial = s.get("partial") or []
    return f"{s['label']} ({origin})" + (f" — partial: {'; '.join(partial)}" if partial else "")
