from __future__ import annotations

from promptctl.execute.types import ModelResponse
from tests.validate.util import A, errors, fails, passes


def test_latency() -> None:
    resp = ModelResponse(text="x", latency_ms=850.0, source="cache")
    passes(A("latency", max_ms=1000), "x", response=resp)
    r = fails(A("latency", max_ms=500), "x", response=resp)
    assert r.reason == "expected latency <= 500 ms, got 850 ms"
    errors(A("latency", max_ms=500), "x", response=ModelResponse(text="x"))
    errors(A("latency", max_ms=500), "x")


def test_cost() -> None:
    passes(A("cost", max_usd=0.01), "x", response=ModelResponse(cost=0.002))
    r = fails(A("cost", max_usd=0.001), "x", response=ModelResponse(cost=0.002))
    assert "0.002" in r.reason
    r = errors(A("cost", max_usd=1.0), "x", response=ModelResponse(cost=None))
    assert r.reason == "cost unknown for model gpt-4o-mini"


def test_cost_unknown_never_passes_even_negated() -> None:
    r = errors(A("cost", max_usd=1.0, negate=True), "x", response=ModelResponse(cost=None))
    assert r.reason == "cost unknown for model gpt-4o-mini"
