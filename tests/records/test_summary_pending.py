"""Verdicts still pending (``human`` reviews nobody gave): never a pass, their own count, and
counted as not passed by the one pass rate, the exit code, compare and the gate."""

from __future__ import annotations

from typing import Any

import pytest

from promptctl.errors import EXIT_EXECUTION, EXIT_FAILED, EXIT_OK
from promptctl.records.run_record import exit_code_for
from promptctl.records.summary import summarize, unit_outcome
from promptctl.report.junit import record_junit
from promptctl.report.text import failures, summary_line
from promptctl.review.compare import compare_units
from promptctl.review.gate import run_gate
from promptctl.suite.model import GateConfig
from tests.records.rows import record, row


def pending_row(case: str, **kw: Any) -> dict[str, Any]:
    r = row(case, "pending", **kw)
    r["asserts"] = [
        {"type": "human", "label": "human", "passed": False, "score": 0.0, "metric": "q", "weight": 1.0,
         "reason": "this output is not reviewed yet; run `promptctl review`", "error": False, "pending": True}
    ]  # fmt: skip
    return r


@pytest.mark.parametrize(
    ("statuses", "min_rate", "status"),
    [
        (["pending"], 1.0, "pending"),
        (["pass", "pending"], 1.0, "pending"),
        (["pass", "fail", "pending"], 1.0, "fail"),  # whatever the verdict, it cannot reach 100 %
        (["pass", "pass", "pass", "fail", "pending"], 0.8, "pending"),  # the verdict decides it
        (["pass", "pass", "pass", "pass", "pending"], 0.8, "pass"),  # reached even if rejected
        (["pass", "pass", "fail", "fail", "pending"], 0.8, "fail"),
        (["error", "pending"], 1.0, "error"),
    ],
)
def test_a_case_with_pending_samples(statuses: list[str], min_rate: float, status: str) -> None:
    samples = [
        pending_row("c", sample=i, min_pass_rate=min_rate)
        if st == "pending"
        else row("c", st, sample=i, min_pass_rate=min_rate)
        for i, st in enumerate(statuses)
    ]
    u = unit_outcome(samples)
    assert u.status == status
    assert u.pending == statuses.count("pending")
    judged = len([s for s in statuses if s in ("pass", "fail", "pending")])
    assert u.pass_rate == statuses.count("pass") / judged  # pending counts as not passed


def test_summary_counts_pending_on_its_own_and_as_not_passed() -> None:
    s = summarize([row("a"), pending_row("b"), row("c", "fail", score=0.0)])
    assert (s["passed"], s["failed"], s["pending"], s["errors"]) == (1, 1, 1, 0)
    assert s["pass_rate"] == pytest.approx(1 / 3)
    assert s["row_pass_rate"] == pytest.approx(1 / 3)
    assert s["metrics"] == {}  # a pending score is no score
    assert summary_line(s).startswith("1 passed, 1 failed, 0 errors, 1 pending review · pass rate 33.3%")


def test_exit_code_pending_is_not_a_pass() -> None:
    s = summarize([row("a"), pending_row("b")])
    assert exit_code_for(s) == EXIT_FAILED
    assert exit_code_for(s, fail_under=0.5) == EXIT_OK  # --fail-under forgives it like a failure
    assert exit_code_for(summarize([row("a")])) == EXIT_OK


def test_reports_list_pending_rows() -> None:
    rec = record([row("a"), pending_row("b")])
    (entry,) = failures(rec)
    assert (entry["case"], entry["status"], entry["assertion"]) == ("b", "pending", "human (pending)")
    xml = record_junit(rec)
    assert 'failures="1"' in xml and "pending human review (promptctl review)" in xml


def test_compare_and_the_gate_treat_pending_as_not_passed() -> None:
    base = record([row("a"), row("b")])
    head = record([row("a"), pending_row("b", output="new output")], commit="b" * 40)
    pairs = compare_units(base, head)
    by_case = {p.case: p for p in pairs}
    assert by_case["b"].transition == "pass_to_fail"
    gate = run_gate(base, head, pairs, GateConfig())
    assert gate.failed
    assert "regression: p::b [m] passed at base, pending at head" in gate.causes


def test_exit_code_failures_beat_errors_unless_forgiven() -> None:
    """As pytest: failures and errors in one run exit 1; --fail-under forgives the failures, never
    the errors (then 3)."""
    s = summarize([row("a"), row("b", "fail", score=0.0), row("c", "error")])
    assert (s["failed"], s["errors"]) == (1, 1)
    assert exit_code_for(s) == EXIT_FAILED
    assert exit_code_for(s, fail_under=0.3) == EXIT_EXECUTION
