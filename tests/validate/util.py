"""Builders shared by the validator tests: assertions, contexts and a one-call runner."""

from __future__ import annotations

import asyncio
from typing import Any

from promptctl.execute.types import ModelResponse
from promptctl.suite.model import Assertion, Case, Config, Prompt
from promptctl.validate import AssertionResult, JudgeCall, ValidationContext, evaluate

_COMMON = {"threshold", "weight", "metric", "negate", "transform"}


def A(type: str, value: Any = None, **kw: Any) -> Assertion:
    """An assertion as the loader builds it: common keys as fields, the rest as options."""
    common = {k: v for k, v in kw.items() if k in _COMMON}
    options = {k: v for k, v in kw.items() if k not in _COMMON}
    return Assertion(type=type, value=value, options=options, **common)


def make_ctx(
    output: str = "",
    *,
    expected: Any = None,
    vars: dict[str, Any] | None = None,
    root: str = "/nonexistent-promptctl-root",
    response: ModelResponse | None = None,
    judge: JudgeCall | None = None,
    output_schema: dict[str, Any] | None = None,
    judge_model: str | None = None,
    extra: dict[str, Any] | None = None,
) -> ValidationContext:
    case = Case(id="c1", prompt="p", file="cases/p.yaml", vars=vars or {}, expected=expected)
    prompt = Prompt(name="p", path="prompts/p.yaml", output_schema=output_schema)
    config = Config(root=root, judge_model=judge_model)
    return ValidationContext(
        output=output,
        case=case,
        prompt=prompt,
        config=config,
        model="gpt-4o-mini",
        response=response,
        judge=judge,
        extra=extra or {},
    )


def run(a: Assertion, output: str, **ctx_kw: Any) -> AssertionResult:
    return asyncio.run(evaluate([a], make_ctx(output, **ctx_kw)))[0]


def passes(a: Assertion, output: str, **ctx_kw: Any) -> AssertionResult:
    r = run(a, output, **ctx_kw)
    assert r.passed and not r.error, f"expected pass: {r}"
    assert 0.0 <= r.score <= 1.0
    return r


def fails(a: Assertion, output: str, **ctx_kw: Any) -> AssertionResult:
    r = run(a, output, **ctx_kw)
    assert not r.passed and not r.error, f"expected a plain failure: {r}"
    assert r.reason and "\n" not in r.reason, r
    assert 0.0 <= r.score <= 1.0
    return r


def errors(a: Assertion, output: str, **ctx_kw: Any) -> AssertionResult:
    r = run(a, output, **ctx_kw)
    assert r.error and not r.passed and r.score == 0.0, f"expected an error result: {r}"
    assert r.reason and "\n" not in r.reason, r
    return r
