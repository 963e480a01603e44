"""The one pass rate, a case's outcome over its samples, and a run's summary."""

from __future__ import annotations

import pytest

from promptctl.records.summary import pass_rate, summarize, unit_outcome
from tests.records.rows import row


def test_pass_rate_is_passes_over_judged() -> None:
    assert pass_rate(3, 4) == 0.75
    assert pass_rate(0, 0) is None  # nothing judged: no rate, never a made-up 0 or 1


@pytest.mark.parametrize(
    ("statuses", "min_rate", "status", "rate"),
    [
        (["pass", "pass"], 1.0, "pass", 1.0),
        (["pass", "fail"], 1.0, "fail", 0.5),
        (["pass", "fail", "pass", "pass", "pass"], 0.8, "pass", 0.8),
        (["pass", "error"], 1.0, "error", 1.0),  # every sample must pass: an error is not a pass
        (["pass", "pass", "pass", "pass", "error"], 0.8, "pass", 1.0),  # errors are not judged
        (["error", "error"], 1.0, "error", None),
        (["skipped", "skipped"], 1.0, "skipped", None),
    ],
)
def test_unit_outcome(statuses: list[str], min_rate: float, status: str, rate: float | None) -> None:
    samples = [row("c", st, sample=i, min_pass_rate=min_rate) for i, st in enumerate(statuses)]
    u = unit_outcome(samples)
    assert (u.status, u.pass_rate, u.samples) == (status, rate, len(statuses))
    assert u.passes == statuses.count("pass") and u.errors == statuses.count("error")


def test_summary_counts_cases_rates_cost_and_sources() -> None:
    rows = [
        row("a", score=1.0, cost=0.01, latency_ms=100, source="cache"),
        row("b", "fail", score=0.0, cost=0.02, latency_ms=300),
        row("c", "error", error="boom", cost=None, latency_ms=None),
        row("d", metric=("quality", 0.5), source="recording"),
    ]
    s = summarize(rows)
    assert (s["units"], s["passed"], s["failed"], s["errors"], s["skipped"]) == (4, 2, 1, 1, 0)
    assert s["pass_rate"] == pytest.approx(2 / 3)  # the errored case has no verdict
    assert s["row_pass_rate"] == pytest.approx(2 / 3)
    assert s["metrics"] == {"quality": 0.5}
    assert s["cost"] == pytest.approx(0.031)  # an error row produced nothing to price
    assert (s["cache_hits"], s["replays"], s["live"]) == (1, 1, 2)
    assert s["p50_latency_ms"] == 100.0


def test_an_unknown_price_makes_the_cost_unknown() -> None:
    assert summarize([row("a", cost=0.01), row("b", cost=None)])["cost"] is None


def test_nothing_judged() -> None:
    s = summarize([row("a", "skipped")])
    assert s["pass_rate"] is None and s["row_pass_rate"] is None and s["skipped"] == 1


def test_mean_score_weighs_each_case_once_like_the_pass_rate() -> None:
    """A case sampled 4 times counts once in the mean score, as it counts once in the pass rate."""
    rows = [row("rep", score=0.0, sample=i) for i in range(4)] + [row("single", score=1.0)]
    s = summarize(rows)
    assert s["units"] == 2 and s["row_pass_rate"] == 1.0
    assert s["mean_score"] == pytest.approx(0.5)  # (mean 0.0 of 'rep' + 1.0 of 'single') / 2 cases


def test_metric_means_weigh_each_case_once() -> None:
    rows = [row("rep", metric=("quality", 0.2), sample=i) for i in range(3)] + [
        row("single", metric=("quality", 0.8))
    ]
    assert summarize(rows)["metrics"] == {"quality": pytest.approx(0.5)}
