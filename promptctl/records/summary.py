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


class _UnitTally:
    """One case x model's samples, counted as they come (what :func:`unit_outcome` decides on)."""

    __slots__ = (
        "case",
        "case_file",
        "errors",
        "fails",
        "first",
        "metrics",
        "min_rate",
        "n",
        "passes",
        "prompt",
        "scores",
        "skipped",
        "waiting",
    )

    def __init__(self, first: dict[str, Any], order: int = 0) -> None:
        self.first = order  # where its first sample is in the plan: the order units are listed in
        self.n = self.passes = self.fails = self.errors = self.skipped = self.waiting = 0
        self.scores: list[float] = []
        self.metrics: dict[str, list[float]] = {}
        self.min_rate: float = first.get("min_pass_rate", 1.0)
        self.prompt: str | None = first.get("prompt")
        self.case: str | None = first.get("case")
        self.case_file: str | None = first.get("case_file")

    def add(self, r: dict[str, Any]) -> None:
        self.n += 1
        st = r["status"]
        if st == "pass":
            self.passes += 1
        elif st == "fail":
            self.fails += 1
        elif st == "error":
            self.errors += 1
        elif st == "skipped":
            self.skipped += 1
        elif st == "pending":
            self.waiting += 1
        score = r.get("score")
        if score is not None:
            self.scores.append(score)
        for a in r.get("asserts", []):
            if a.get("metric") and not a.get("error") and not a.get("pending"):
                self.metrics.setdefault(a["metric"], []).append(a["score"])

    def outcome(self) -> UnitOutcome:
        passes, fails, errors, skipped = self.passes, self.fails, self.errors, self.skipped
        waiting = self.waiting
        judged = passes + fails + waiting
        min_rate = self.min_rate
        rate = pass_rate(passes, judged)
        if rate is None:
            status = "skipped" if skipped == self.n else "error"
        elif rate + 1e-12 >= min_rate:
            status = "error" if (errors or skipped) and min_rate >= 1.0 else "pass"
        elif waiting and (passes + waiting) / judged + 1e-12 >= min_rate:
            # the verdicts still to come decide it (an error decides first, as for a pass)
            status = "error" if (errors or skipped) and min_rate >= 1.0 else "pending"
        else:
            status = "fail"
        return UnitOutcome(
            status=status,
            samples=self.n,
            passes=passes,
            fails=fails,
            errors=errors,
            skipped=skipped,
            pass_rate=rate,
            min_pass_rate=min_rate,
            score=_fmean(self.scores) if self.scores else None,
            pending=waiting,
        )


def unit_outcome(samples: list[dict[str, Any]]) -> UnitOutcome:
    """The outcome of one case x model from its stored rows."""
    tally = _UnitTally(samples[0])
    for r in samples:
        tally.add(r)
    return tally.outcome()


class SummaryBuilder:
    """A run's summary from its rows seen one at a time, in any order: what :func:`summarize`
    computes from a list, without keeping the rows (a run streams them to its record). Keeps one
    small tally per case x model (with its scores and metric values) and one number per latency.

    Scores and metrics are weighted like the pass rate: each case x model once (the mean of its
    samples), so a case sampled ten times weighs no more than a case sampled once."""

    def __init__(self) -> None:
        self.units: dict[tuple[str, str], _UnitTally] = {}
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}  # rows per status
        self.rows = self.row_passes = self.row_judged = self.tokens_in = self.tokens_out = 0
        self.cache_hits = self.replays = self.live = 0
        self.cost: float | None = 0
        self.spent: float | None = 0

    def add(self, r: dict[str, Any], index: int | None = None) -> None:
        """One row; ``index``: its place in the plan when rows come in another order (units are
        then listed in plan order all the same)."""
        order = self.rows if index is None else index
        key = unit_key(r)
        tally = self.units.get(key)
        if tally is None:
            tally = self.units[key] = _UnitTally(r, order)
        elif order < tally.first:
            tally.first = order
        tally.add(r)
        self.rows += 1
        st = r["status"]
        self.statuses[st] = self.statuses.get(st, 0) + 1
        source = r.get("source")
        if st == "pass":
            self.row_passes += 1
            self.row_judged += 1
        elif st in ("fail", "pending"):
            self.row_judged += 1
        if st != "skipped":
            if r.get("latency_ms") is not None:
                self.latencies.append(r["latency_ms"])
            if source == "live" and st != "error":  # a call that failed produced nothing to price
                c = r.get("cost")
                self.spent = None if c is None or self.spent is None else self.spent + c
            if st != "error":
                c = r.get("cost")
                self.cost = None if c is None or self.cost is None else self.cost + c
        self.tokens_in += r.get("input_tokens") or 0
        self.tokens_out += r.get("output_tokens") or 0
        if source == "cache":
            self.cache_hits += 1
        elif source == "recording":
            self.replays += 1
        elif source == "live" and (r.get("attempts") or 0) > 0:
            self.live += 1

    def outcome(self, key: tuple[str, str]) -> UnitOutcome:
        """The outcome of one case x model (``(case_key, model)``) over the samples seen."""
        return self.units[key].outcome()

    def unit_statuses(self) -> list[tuple[tuple[str, str], int, str]]:
        """Each case x model seen: ``((case_key, model), rows, outcome status)``."""
        return [(key, t.n, t.outcome().status) for key, t in self.units.items()]

    def unit_rows(self) -> list[dict[str, Any]]:
        """One entry per case x model (in plan order): its identity and outcome."""
        ordered = sorted(self.units.items(), key=lambda item: item[1].first)
        return [
            {
                "case_key": case_key,
                "prompt": t.prompt,
                "case": t.case,
                "model": model,
                "case_file": t.case_file,
                **t.outcome().to_dict(),
            }
            for (case_key, model), t in ordered
        ]

    def summary(self) -> dict[str, Any]:
        counts = {"pass": 0, "fail": 0, "error": 0, "skipped": 0, "pending": 0}
        scores: list[float] = []
        metrics: dict[str, list[float]] = {}
        for tally in self.units.values():
            outcome = tally.outcome()
            counts[outcome.status] += 1
            if outcome.score is not None:
                scores.append(outcome.score)
            for name, values in tally.metrics.items():
                metrics.setdefault(name, []).append(_fmean(values))
        return {
            "units": len(self.units),
            "rows": self.rows,
            "passed": counts["pass"],
            "failed": counts["fail"],
            "errors": counts["error"],
            "skipped": counts["skipped"],
            "pending": counts["pending"],
            "pass_rate": pass_rate(counts["pass"], counts["pass"] + counts["fail"] + counts["pending"]),
            "row_pass_rate": pass_rate(self.row_passes, self.row_judged),
            "mean_score": _fmean(scores) if scores else None,
            "metrics": {k: _fmean(v) for k, v in sorted(metrics.items())},
            "input_tokens": self.tokens_in,
            "output_tokens": self.tokens_out,
            # Cost of what the outputs cost to produce; None when any price is unknown (never 0).
            "cost": self.cost,
            "spent": self.spent,
            "p50_latency_ms": _percentile(self.latencies, 0.5),
            "p95_latency_ms": _percentile(self.latencies, 0.95),
            "cache_hits": self.cache_hits,
            "replays": self.replays,
            "live": self.live,
        }


def unit_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per case x model of ``rows`` (in the order first seen): identity and outcome."""
    builder = SummaryBuilder()
    for r in rows:
        builder.add(r)
    return builder.unit_rows()


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The record's summary: one pass over the rows (it runs on every ``test`` and ``show``)."""
    builder = SummaryBuilder()
    for r in rows:
        builder.add(r)
    return builder.summary()
