from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from promptctl.execute.types import ModelResponse
from promptctl.suite.model import Assertion
from promptctl.validate import AssertionResult, case_score, evaluate, row_passed
from promptctl.validate.registry import Outcome, unregister, validator
from tests.validate.util import A, make_ctx, run


async def _judge_09(
    model: str, messages: list[dict[str, str]], params: dict[str, Any], *, slot: int = 0
) -> ModelResponse:
    return ModelResponse(text='{"score": 0.9, "reason": "fine"}')


# (assertion that passes on OUTPUT, assertion that fails on OUTPUT), one pair per family
OUTPUT = '{"answer": "Paris"}'
PAIRS: list[tuple[str, Assertion, Assertion]] = [
    ("basic", A("not_empty"), A("length", max=3)),
    ("text", A("contains", "Paris"), A("contains", "London")),
    ("text-all", A("regex", ["Paris", "answer"], all=True), A("regex", ["Paris", "Rome"], all=True)),
    ("structured", A("is_json"), A("json_schema", {"type": "array"})),
    ("schema", A("json_schema", {"required": ["answer"]}), A("json_schema", {"required": ["x"]})),
    ("similarity", A("levenshtein", OUTPUT), A("levenshtein", "completely different")),
    ("perf", A("latency", max_ms=1000), A("cost", max_usd=0.0001)),
    ("judge", A("judge", rubric="r"), A("judge", rubric="r", threshold=0.95)),
]


@pytest.mark.parametrize(("family", "good", "bad"), PAIRS, ids=[p[0] for p in PAIRS])
def test_not_flips_every_family(family: str, good: Assertion, bad: Assertion) -> None:
    kw: dict[str, Any] = {"response": ModelResponse(latency_ms=10.0, cost=0.01), "judge": _judge_09}
    g, b = run(good, OUTPUT, **kw), run(bad, OUTPUT, **kw)
    assert g.passed and not b.passed and not g.error and not b.error
    ng = run(replace(good, negate=True), OUTPUT, **kw)
    nb = run(replace(bad, negate=True), OUTPUT, **kw)
    assert not ng.passed and not ng.error and ng.score == pytest.approx(1 - g.score)
    assert ng.reason.startswith("expected this check to fail (not), but ")
    assert ng.label.startswith("not ")
    assert nb.passed and not nb.error and nb.score == pytest.approx(1 - b.score)


def test_not_keeps_errors(tmp_path: Path) -> None:
    for a in (A("cost", max_usd=1), A("judge", rubric="r"), A("equals"), A("json_schema")):
        r = run(replace(a, negate=True), "x")
        assert r.error and not r.passed and r.score == 0.0, r


def test_not_contains_vs_not_contains() -> None:
    assert run(A("not_contains", "x"), "abc").passed
    assert run(A("contains", "x", negate=True), "abc").passed
    assert not run(A("contains", "a", negate=True), "abc").passed


def test_metadata_copied() -> None:
    r = run(A("contains", "a", weight=2.5, metric="mentions_a"), "a")
    assert (r.type, r.label, r.metric, r.weight) == ("contains", "contains[mentions_a]", "mentions_a", 2.5)
    assert r.to_dict()["passed"] is True


def test_unknown_type_is_error_result() -> None:
    r = run(A("containz", "a"), "a")
    assert r.error and "unknown assertion type 'containz'" in r.reason


def _boom(a: Assertion, output: str, ctx: Any) -> Outcome:
    raise RuntimeError("kaboom\nwith a traceback-ish second line")


def _bad_score(a: Assertion, output: str, ctx: Any) -> Outcome:
    return Outcome(True, 1.5, "oops")


async def _cancel(a: Assertion, output: str, ctx: Any) -> Outcome:
    raise asyncio.CancelledError


@pytest.fixture
def broken_validators() -> Iterator[None]:
    validator("_test_boom")(_boom)
    validator("_test_bad_score")(_bad_score)
    validator("_test_cancel", is_async=True)(_cancel)
    try:
        yield
    finally:
        for name in ("_test_boom", "_test_bad_score", "_test_cancel"):
            unregister(name)


@pytest.mark.usefixtures("broken_validators")
def test_unexpected_exception_becomes_error_result() -> None:
    results = asyncio.run(evaluate([A("_test_boom"), A("contains", "x")], make_ctx("x")))
    assert results[0].error and not results[0].passed
    assert results[0].reason == "internal error in '_test_boom' check: RuntimeError: kaboom"
    assert results[1].passed
    r = run(A("_test_bad_score"), "x")
    assert r.error and "outside [0, 1]" in r.reason


@pytest.mark.usefixtures("broken_validators")
def test_cancellation_propagates() -> None:
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(evaluate([A("_test_cancel")], make_ctx("x")))
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(evaluate([A("contains", "x"), A("_test_cancel")], make_ctx("x")))


def test_order_is_preserved() -> None:
    asserts = [A("contains", c) for c in "abcdef"]
    results = asyncio.run(evaluate(asserts, make_ctx("ace")))
    assert [r.passed for r in results] == [True, False, True, False, True, False]


def _r(score: float, weight: float = 1.0, passed: bool = True, error: bool = False) -> AssertionResult:
    return AssertionResult(type="t", label="t", passed=passed, score=score, weight=weight, error=error)


def test_case_score_and_row_passed() -> None:
    assert case_score([]) == 1.0 and row_passed([])
    assert case_score([_r(1.0, 3), _r(0.0, 1, passed=False)]) == pytest.approx(0.75)
    assert case_score([_r(1.0, 0), _r(0.5, 0)]) == pytest.approx(0.75)
    assert row_passed([_r(1.0), _r(0.9)])
    assert not row_passed([_r(1.0), _r(0.0, passed=False)])
    assert not row_passed([_r(1.0), _r(0.0, passed=True, error=True)])


def test_not_is_python() -> None:
    assert not run(A("is_python", negate=True), "x = 1").passed
    r = run(A("is_python", negate=True), "def (")
    assert r.passed and r.score == 1.0 and "invalid Python" in r.reason
