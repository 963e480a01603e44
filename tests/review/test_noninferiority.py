"""gate.margin (the exact unconditional test of a drop beyond a margin, its suite test) and pass^k,
on their own and through the gate on hand-made records."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from promptctl.review.compare import compare_units
from promptctl.review.gate import GateResult, gate_settings, run_gate
from promptctl.review.noninferiority import margin_drop_p, margin_suite_p, pass_hat_k
from promptctl.suite.model import GateConfig
from tests.records.rows import record, row


def test_margin_p_basics() -> None:
    assert margin_drop_p(9, 10, 8, 10, 0.1) == 1.0  # observed drop 0.1: within the margin
    assert margin_drop_p(5, 5, 5, 5, 0.0) == 1.0
    assert margin_drop_p(0, 0, 3, 5, 0.1) == 1.0  # an empty side: no evidence
    p0, p1, p3 = (margin_drop_p(9, 10, 5, 10, m) for m in (0.0, 0.1, 0.3))
    assert p0 < p1 < p3 < 1.0  # a wider margin needs a larger drop
    assert margin_drop_p(40, 40, 0, 40, 0.2) < 1e-10
    with pytest.raises(ValueError):
        margin_drop_p(1, 2, 1, 2, 1.0)


@pytest.mark.parametrize(("p_head", "margin"), [(0.7, 0.1), (0.4, 0.2)])
def test_margin_test_keeps_alpha_on_the_boundary(p_head: float, margin: float) -> None:
    """A drop of exactly the margin (the least favourable case of H0): rejections <= alpha."""
    rng = random.Random(4)
    n, trials, hits = 20, 1500, 0
    for _ in range(trials):
        xb = sum(rng.random() < p_head + margin for _ in range(n))
        xh = sum(rng.random() < p_head for _ in range(n))
        hits += margin_drop_p(xb, n, xh, n, margin) < 0.05
    assert hits / trials <= 0.05


def test_margin_suite_p() -> None:
    at_margin = [(9, 10, 8, 10)] * 10  # every case drops exactly 0.1
    assert margin_suite_p(at_margin, 0.1) == pytest.approx(0.5)
    assert margin_suite_p([(9, 10, 3, 10)] * 10, 0.1) < 1e-6
    assert margin_suite_p([], 0.1) == 1.0


def test_pass_hat_k_is_unbiased() -> None:
    assert pass_hat_k(4, 5, 3) == pytest.approx(0.4)
    assert pass_hat_k(5, 5, 3) == 1.0 and pass_hat_k(2, 5, 3) == 0.0
    assert pass_hat_k(2, 2, 3) is None
    n, k, p = 10, 3, 0.8
    expected = sum(
        math.comb(n, c) * p**c * (1 - p) ** (n - c) * (pass_hat_k(c, n, k) or 0.0) for c in range(n + 1)
    )
    assert expected == pytest.approx(p**k)
    with pytest.raises(ValueError):
        pass_hat_k(1, 2, 0)


def _rows(case: str, passes: int, n: int) -> list[dict[str, Any]]:
    return [row(case, "pass" if i < passes else "fail", sample=i) for i in range(n)]


def _gate(base: list[dict[str, Any]], head: list[dict[str, Any]], **settings: Any) -> GateResult:
    b, h = record(base), record(head)
    return run_gate(b, h, compare_units(b, h), gate_settings(GateConfig(), **settings))


def test_gate_margin_accepts_a_small_drop_and_fails_a_large_one() -> None:
    base = [r for i in range(10) for r in _rows(f"c{i}", 40, 40)]
    small = [r for i in range(10) for r in _rows(f"c{i}", 37, 40)]  # every case drops 7.5 points
    assert _gate(base, small).failed  # without a margin: significant on the suite
    res = _gate(base, small, margin=0.1)
    assert not res.failed, res.causes
    assert res.details["stats"]["margin"] == 0.1
    large = _rows("c0", 10, 40) + [r for i in range(1, 10) for r in _rows(f"c{i}", 40, 40)]
    res = _gate(base, large, margin=0.1)
    assert res.failed
    assert any("regression: p::c0 [m]" in c and "margin 0.1 test p=" in c for c in res.causes)


def test_gate_reports_pass_k_and_min_pass_k_gates_on_it() -> None:
    base = _rows("c0", 10, 10) + _rows("c1", 10, 10)
    head = _rows("c0", 8, 10) + _rows("c1", 10, 10)
    res = _gate(base, head)
    c0 = next(c for c in res.details["stats"]["cases"] if c["case_key"] == "p::c0")
    assert c0["pass_k"] == {"k": 3, "base": 1.0, "head": pytest.approx(56 / 120)}
    assert not res.failed  # 10/10 -> 8/10 is not significant
    res = _gate(base, head, min_pass_k=0.5)
    assert res.failed and res.causes == [
        "pass^3 of p::c0 [m] is 0.47 at head (base 1.00), below gate.min_pass_k 0.5 (8/10 passed)"
    ]
    res = _gate(base, head, pass_k=1, min_pass_k=0.5)
    assert not res.failed  # pass^1 = 0.8
    with pytest.raises(Exception, match=r"gate\.min_pass_k must be between 0 and 1"):
        gate_settings(GateConfig(), min_pass_k=1.5)
