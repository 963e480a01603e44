"""The gate's budget branches on hand-made records: pass-rate tolerance, a metric's score tolerance,
cost and p95 latency budgets, and the settings' checks."""

from __future__ import annotations

from typing import Any

import pytest

from promptctl.errors import UsageError
from promptctl.review.compare import compare_units
from promptctl.review.gate import GateResult, gate_settings, run_gate
from promptctl.suite.model import GateConfig
from tests.records.rows import record, row


def _gate(base: list[dict[str, Any]], head: list[dict[str, Any]], **settings: Any) -> GateResult:
    b, h = record(base), record(head)
    return run_gate(b, h, compare_units(b, h), gate_settings(GateConfig(), **settings))


def _causes(res: GateResult, word: str) -> list[str]:
    return [c for c in res.causes if word in c]


def test_pass_rate_tolerance() -> None:
    base = [row(f"c{i}") for i in range(10)]
    head = [row(f"c{i}", "fail" if i == 0 else "pass") for i in range(10)]
    strict = _gate(base, head)
    assert strict.failed and _causes(strict, "pass rate dropped from 100.0% to 90.0%")
    assert strict.details["pass_rate"] == {
        "base": 1.0,
        "head": 0.9,
        "delta": pytest.approx(-0.1),
        "units": 10,
    }
    tolerant = _gate(base, head, pass_rate_tolerance=0.15)
    assert not _causes(tolerant, "pass rate dropped")
    assert _causes(tolerant, "regression: p::c0 [m] passed at base, fail at head")  # the case itself still


def test_score_tolerance_per_metric() -> None:
    base = [row(f"c{i}", metric=("quality", 0.9)) for i in range(4)]
    head = [row(f"c{i}", metric=("quality", 0.8)) for i in range(4)]
    res = _gate(base, head)  # default tolerance 0.05
    assert res.failed and _causes(res, "metric 'quality' mean score dropped from 0.900 to 0.800")
    assert res.details["metrics"]["quality"]["delta"] == pytest.approx(-0.1)
    assert not _gate(base, head, score_tolerance=0.15).failed
    assert not _gate(head, base).failed  # a rise never fails


def test_latency_budget() -> None:
    base = [row(f"c{i}", latency_ms=100.0) for i in range(5)]
    head = [row(f"c{i}", latency_ms=200.0) for i in range(5)]
    assert not _gate(base, head).failed  # no budget set: reported, not gated
    res = _gate(base, head, max_p95_latency_increase=0.5)
    assert res.failed and _causes(res, "p95 latency rose +100.0% (100 ms → 200 ms; budget +50%)")
    assert res.details["p95_latency_ms"]["relative_increase"] == pytest.approx(1.0)
    assert not _gate(base, head, max_p95_latency_increase=1.5).failed


def test_cost_budget_and_unknown_cost() -> None:
    base = [row(f"c{i}", cost=0.01) for i in range(3)]
    head = [row(f"c{i}", cost=0.02) for i in range(3)]
    res = _gate(base, head, max_cost_increase=0.2)
    assert _causes(res, "cost rose +100.0%")
    unknown = [row(f"c{i}", cost=None) for i in range(3)]
    assert not _gate(base, unknown, max_cost_increase=0.2).failed  # an unknown price cannot be compared


def test_a_new_case_is_no_regression_a_removed_one_fails_unless_allowed() -> None:
    res = _gate([row("old")], [row("old"), row("new", "fail")])
    assert not res.failed and res.details["common_units"] == 1
    res = _gate([row("old"), row("gone", "fail")], [row("old")])
    assert res.failed and res.removed == ["p::gone [m]"]
    assert res.causes[0].startswith("removed at head: 1 case × model that base ran: p::gone [m]")
    res = _gate([row("old"), row("gone", "fail")], [row("old")], removed="warn")
    assert not res.failed and res.warnings[0].startswith("removed at head: 1 case × model")


def test_pairs_across_a_model_change() -> None:
    res = _gate(
        [row("a", model="big"), row("b", model="big")],
        [row("a", model="small"), row("b", "fail", model="small")],
    )
    assert res.failed and res.details["model_changes"] == 2 and res.removed == []
    assert res.causes[0] == "regression: p::b [big → small] passed at base, fail at head"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"correction": "bonferroni"}, "unknown correction 'bonferroni'"),
        ({"alpha": 1.5}, "alpha must be between 0 and 1"),
        ({"suite_share": 2.0}, "suite share must be between 0 and 1"),
        ({"removed": "ignore"}, "unknown gate.removed 'ignore'"),
    ],
)
def test_settings_are_checked(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        gate_settings(GateConfig(), **overrides)


def test_settings_take_the_config_then_the_command_line() -> None:
    cfg = GateConfig(alpha=0.01, score_tolerance=0.2)
    s = gate_settings(cfg, score_tolerance=None, pass_rate_tolerance=0.1)
    assert (s.alpha, s.score_tolerance, s.pass_rate_tolerance) == (0.01, 0.2, 0.1)
    assert cfg.pass_rate_tolerance == 0.0  # the config itself is left alone


def _sampled(passes: dict[str, int], n: int = 10, score: float | None = None) -> list[dict[str, Any]]:
    """``n`` samples per case, the first ``passes[case]`` passing; the metric 'accuracy' is the
    0/1 verdict (or ``score`` for every sample)."""
    return [
        row(
            case,
            "pass" if i < k else "fail",
            sample=i,
            min_pass_rate=0.5,
            metric=("accuracy", score if score is not None else (1.0 if i < k else 0.0)),
        )
        for case, k in passes.items()
        for i in range(n)
    ]


def test_metric_noise_over_repeated_samples_does_not_fail() -> None:
    # the real-model test's samples: accuracy 0.667 -> 0.600, every per-case p >= 0.5
    res = _gate(_sampled({"france": 10, "sea": 3, "color": 7}), _sampled({"france": 9, "sea": 2, "color": 7}))
    assert res.details["metrics"]["accuracy"]["delta"] == pytest.approx(-0.0667, abs=1e-3)  # reported
    assert not res.failed, res.causes
    tests = res.details["stats"]["scores"]
    assert len(tests) == 3 and all(t["p"] >= 0.5 and not t["significant"] for t in tests)


def test_a_real_metric_drop_over_repeated_samples_fails_with_its_statistic() -> None:
    base = _sampled({"a": 10, "b": 10, "c": 10}, score=0.9)
    head = [{**r, "asserts": [{**r["asserts"][0], "score": 0.5 + 0.01 * r["sample"]}]} for r in base]
    res = _gate(base, head)
    assert res.failed and not res.details["stats"]["suite_significant"]  # pass counts did not move
    causes = _causes(res, "metric 'accuracy' of p::a [m] dropped from 0.900 to 0.545 over 10/10 samples")
    assert causes and "one-sided rank-sum p=" in causes[0] and "holm-adjusted" in causes[0]
    # a significant drop within the tolerance is not a quality drop
    small = [{**r, "asserts": [{**r["asserts"][0], "score": 0.88 + 0.001 * r["sample"]}]} for r in base]
    assert not _gate(base, small).failed
    assert _gate(base, small, score_tolerance=0.0).failed


def test_sequential_cases_test_metrics_on_the_planned_samples_only() -> None:
    """The gate drew samples 5..9 because of the pass counts: a metric is tested on samples 0..4."""
    base = [row("c0", metric=("quality", 0.9), sample=i) for i in range(10)]
    head = [row("c0", metric=("quality", 0.9 if i < 5 else 0.1), sample=i) for i in range(10)]
    b, h = record(base), record(head)
    settings = gate_settings(GateConfig(), max_repeat=20)
    res = run_gate(b, h, compare_units(b, h), settings, repeats={("p::c0", "m"): 5})
    (score,) = res.details["stats"]["scores"]
    assert (score["n_base"], score["n_head"]) == (5, 5) and not score["significant"]
    assert res.details["stats"]["sequential"] is True
    fixed = _gate(base, head)  # the fixed design: all 10 samples were planned
    assert fixed.details["stats"]["scores"][0]["n_head"] == 10


def test_sequential_suite_test_reads_the_first_look_only() -> None:
    """Extra samples were drawn because of the first look: the suite test does not re-test them."""
    base = [row(f"c{c}", sample=i) for c in range(4) for i in range(10)]
    head = [row(f"c{c}", "pass" if i < 5 else "fail", sample=i) for c in range(4) for i in range(10)]
    b, h = record(base), record(head)
    repeats = {(f"p::c{c}", "m"): 5 for c in range(4)}
    res = run_gate(b, h, compare_units(b, h), gate_settings(GateConfig(), max_repeat=20), repeats=repeats)
    assert res.details["stats"]["suite_p"] == 1.0  # 5/5 -> 5/5 on every first look
    fixed = _gate(base, head)  # all 10 samples planned: 10/10 -> 5/10 everywhere
    assert fixed.details["stats"]["suite_p"] < 1e-6 and fixed.failed
