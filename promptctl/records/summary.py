"""What a run's rows add up to: each case x model's outcome over its samples, and the summary of
a whole run (counts, the pass rate, scores, tokens, cost, latency percentiles, sources)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    vs = sorted(values)
    k = (len(vs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(vs) - 1)
    return vs[lo] + (vs[hi] - vs[lo]) * (k - lo)


def unit_key(row: dict[str, Any]) -> tuple[str, str]:
    return (row["case_key"], row["model"])


def group_units(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    units: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        units.setdefault(unit_key(r), []).append(r)
    return units


def _fmean(values: list[float]) -> float:
    """``statistics.fmean`` (the same correctly rounded result) without importing statistics,
    which pulls in fractions, decimal and random on every run."""
    return math.fsum(values) / len(values)


def pass_rate(passes: int, judged: int) -> float | None:
    """The one pass rate: passes over judged. A row is judged when it got a verdict (``pass`` or
    ``fail``) or waits for a person's (``pending``: a ``human`` review nobody gave yet, counted as
    not passed, never as a pass); an ``error`` or ``skipped`` row has none and is left out (errors
    are reported and decide exit codes on their own). None when nothing was judged, never a
    made-up 0 or 1. The same rule rates a case's samples, the rows of a run, and the suite's cases."""
    return passes / judged if judged else None


@dataclass(frozen=True)
class UnitOutcome:
    """A case x model over its samples: passes when its pass rate reaches ``min_pass_rate``."""

    status: str  # pass | fail | error | skipped | pending
    samples: int
    passes: int
    fails: int
    errors: int
    skipped: int
    pass_rate: float | None
    min_pass_rate: float
    score: float | None
    pending: int = 0  # samples waiting for a human verdict (not passed)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def unit_outcome(samples: list[dict[str, Any]]) -> UnitOutcome:
    """The outcome of one case x model from its stored rows."""
    n = len(samples)
    passes = fails = errors = skipped = waiting = 0
    scores = []
    for r in samples:
        st = r["status"]
        if st == "pass":
            passes += 1
        elif st == "fail":
            fails += 1
        elif st == "error":
            errors += 1
        elif st == "skipped":
            skipped += 1
        elif st == "pending":
            waiting += 1
        score = r.get("score")
        if score is not None:
            scores.append(score)
    judged = passes + fails + waiting
    min_rate = samples[0].get("min_pass_rate", 1.0)
    rate = pass_rate(passes, judged)
    if rate is None:
        status = "skipped" if skipped == n else "error"
    elif rate + 1e-12 >= min_rate:
        status = "error" if (errors or skipped) and min_rate >= 1.0 else "pass"
    elif waiting and (passes + waiting) / judged + 1e-12 >= min_rate:
        # the verdicts still to come decide it (an error decides first, as for a pass)
        status = "error" if (errors or skipped) and min_rate >= 1.0 else "pending"
    else:
        status = "fail"
    return UnitOutcome(
        status=status,
        samples=n,
        passes=passes,
        fails=fails,
        errors=errors,
        skipped=skipped,
        pass_rate=rate,
        min_pass_rate=min_rate,
        score=_fmean(scores) if scores else None,
        pending=waiting,
    )


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The record's summary: one pass over the cases, one over the rows (it runs on every ``test``
    and ``show``)."""
    counts = {"pass": 0, "fail": 0, "error": 0, "skipped": 0, "pending": 0}
    units = group_units(rows)
    # Scores are weighted like the pass rate: each case x model once (the mean of its samples),
    # so a case sampled ten times weighs no more than a case sampled once.
    scores: list[float] = []
    metrics: dict[str, list[float]] = {}
    for samples in units.values():
        outcome = unit_outcome(samples)
        counts[outcome.status] += 1
        if outcome.score is not None:
            scores.append(outcome.score)
        unit_metrics: dict[str, list[float]] = {}
        for r in samples:
            for a in r.get("asserts", []):
                if a.get("metric") and not a.get("error") and not a.get("pending"):
                    unit_metrics.setdefault(a["metric"], []).append(a["score"])
        for name, values in unit_metrics.items():
            metrics.setdefault(name, []).append(_fmean(values))
    latencies: list[float] = []
    row_passes = row_judged = tokens_in = tokens_out = cache_hits = replays = live = 0
    cost: float | None = 0
    spent: float | None = 0
    for r in rows:
        st = r["status"]
        source = r.get("source")
        if st == "pass":
            row_passes += 1
            row_judged += 1
        elif st in ("fail", "pending"):
            row_judged += 1
        if st != "skipped":
            if r.get("latency_ms") is not None:
                latencies.append(r["latency_ms"])
            if source == "live" and st != "error":  # a call that failed produced nothing to price
                c = r.get("cost")
                spent = None if c is None or spent is None else spent + c
            if st != "error":
                c = r.get("cost")
                cost = None if c is None or cost is None else cost + c
        tokens_in += r.get("input_tokens") or 0
        tokens_out += r.get("output_tokens") or 0
        if source == "cache":
            cache_hits += 1
        elif source == "recording":
            replays += 1
        elif source == "live" and (r.get("attempts") or 0) > 0:
            live += 1
    return {
        "units": len(units),
        "rows": len(rows),
        "passed": counts["pass"],
        "failed": counts["fail"],
        "errors": counts["error"],
        "skipped": counts["skipped"],
        "pending": counts["pending"],
        "pass_rate": pass_rate(counts["pass"], counts["pass"] + counts["fail"] + counts["pending"]),
        "row_pass_rate": pass_rate(row_passes, row_judged),
        "mean_score": _fmean(scores) if scores else None,
        "metrics": {k: _fmean(v) for k, v in sorted(metrics.items())},
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        # Cost of what the outputs cost to produce; None when any price is unknown (never 0).
        "cost": cost,
        "spent": spent,
        "p50_latency_ms": _percentile(latencies, 0.5),
        "p95_latency_ms": _percentile(latencies, 0.95),
        "cache_hits": cache_hits,
        "replays": replays,
        "live": live,
    }
