"""Validation: run a row's assertions on its output and score the row.

:func:`evaluate` is the only entry point the runner needs. It never raises for a broken check:
an unexpected exception inside a validator becomes an *error* result (``error=True``, never a
pass) with a one-line reason, so one bad assertion cannot abort a run of thousands of rows.
Cancellation (``asyncio.CancelledError``) and ``KeyboardInterrupt`` do propagate: Ctrl-C must
stop the run.

Importing this package is cheap (no rapidfuzz, sacrebleu, rouge_score, jsonschema or litellm):
the families import those inside their checks.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from promptctl.suite.model import Assertion, Case, Prompt

# The built-in validator families, one module each; importing one registers its assertion types.
# A new validator family is one new module here plus its name in this list.
from promptctl.validate import basic, custom, human, judge, perf, pii, semantic, similarity, structured, text
from promptctl.validate.registry import (
    CheckError,
    Outcome,
    ValidatorSpec,
    assertion_schemas,
    error,
    get,
    known_types,
    lint_assertion,
    one_line,
)
from promptctl.validate.transforms import KNOWN_TRANSFORMS, apply_transforms
from promptctl.validate.types import AssertionResult, JudgeCall, ValidationContext

if TYPE_CHECKING:
    from promptctl.suite.lint import AssertionLinter

FAMILIES = (basic, custom, human, judge, perf, pii, semantic, similarity, structured, text)
KNOWN_TYPES: tuple[str, ...] = tuple(known_types())

__all__ = [
    "KNOWN_TRANSFORMS",
    "KNOWN_TYPES",
    "AssertionResult",
    "JudgeCall",
    "ValidationContext",
    "assertion_schemas",
    "case_score",
    "evaluate",
    "evaluate_one",
    "lint_assertion",
    "lint_assertion_in",
    "row_passed",
]


def lint_assertion_in(root: str) -> AssertionLinter:
    """:func:`lint_assertion` plus the checks that need the repository at ``root``: a ``python``
    check's ``module:function`` imports and is callable (each target imported once)."""
    refs: dict[str, str | None] = {}

    def lint(a: Assertion, *, case: Case | None = None, prompt: Prompt | None = None) -> list[str]:
        problems = lint_assertion(a, case=case, prompt=prompt)
        if not problems and a.type == "python" and isinstance(a.value, str):
            if a.value not in refs:
                refs[a.value] = custom.check_ref(a.value, root)
            why = refs[a.value]
            if why is not None:
                problems.append(why)
        return problems

    return lint


def _start(a: Assertion, ctx: ValidationContext) -> Outcome | tuple[ValidatorSpec, str]:
    """The validator and the transformed output to check, or the error that prevents the check."""
    spec = get(a.type)
    if spec is None:
        return error(f"unknown assertion type {a.type!r}")
    try:
        output = apply_transforms(a.transform, ctx.output)
    except KeyError as e:
        return error(f"unknown transform {e.args[0]!r}")
    return spec, output


def _raised(a: Assertion, e: Exception) -> Outcome:
    if isinstance(e, CheckError):
        return error(one_line(str(e), 300))
    detail = one_line(str(e), 200)
    what = f"{type(e).__name__}: {detail}" if detail else type(e).__name__
    return error(f"internal error in {a.type!r} check: {what}")


def _settle(a: Assertion, result: Any) -> Outcome:
    if isinstance(result, tuple) and len(result) == 3:  # (passed, score, reason) from a plugin
        result = Outcome(bool(result[0]), float(result[1]), str(result[2]))
    if not isinstance(result, Outcome):
        return error(f"internal error in {a.type!r} check: returned {type(result).__name__}, not an Outcome")
    if not result.error and not (math.isfinite(result.score) and 0.0 <= result.score <= 1.0):
        return error(f"internal error in {a.type!r} check: score {result.score!r} outside [0, 1]")
    return result


def _check_sync(a: Assertion, spec: ValidatorSpec, output: str, ctx: ValidationContext) -> Outcome:
    try:
        result = spec.check(a, output, ctx)
    except Exception as e:  # never CancelledError/KeyboardInterrupt: those are BaseException
        return _raised(a, e)
    return _settle(a, result)


async def _check(a: Assertion, ctx: ValidationContext) -> Outcome:
    started = _start(a, ctx)
    if isinstance(started, Outcome):
        return started
    spec, output = started
    if not spec.is_async:
        return _check_sync(a, spec, output, ctx)
    try:
        result = await spec.check(a, output, ctx)  # type: ignore[misc]
    except Exception as e:  # never CancelledError/KeyboardInterrupt: those are BaseException
        return _raised(a, e)
    return _settle(a, result)


def _negate(o: Outcome) -> Outcome:
    """``not: true``: pass flips, score becomes 1 - score. An error stays an error, and a verdict
    still pending stays pending."""
    if o.error or o.pending:
        return o
    if o.passed:
        why = o.reason or "it passed"
        return Outcome(False, 1.0 - o.score, f"expected this check to fail (not), but {why}")
    return Outcome(True, 1.0 - o.score, f"check failed as required (not): {o.reason}" if o.reason else "")


def _result(a: Assertion, o: Outcome) -> AssertionResult:
    if a.negate:
        o = _negate(o)
    return AssertionResult(
        type=a.type,
        label=a.label,
        passed=o.passed and not o.error and not o.pending,
        score=0.0 if o.error or o.pending else o.score,
        reason=o.reason,
        metric=a.metric,
        weight=a.weight,
        error=o.error,
        pending=o.pending and not o.error,
    )


async def evaluate_one(a: Assertion, ctx: ValidationContext) -> AssertionResult:
    return _result(a, await _check(a, ctx))


async def evaluate(asserts: list[Assertion], ctx: ValidationContext) -> list[AssertionResult]:
    """Results of ``asserts`` on ``ctx.output``, in order.

    Async checks (``judge``, ``python``) of one row run concurrently; the model layer behind
    ``ctx.judge`` enforces the run's concurrency and rate limits. Synchronous checks run on the
    event loop without yielding, which keeps ``python``'s temporary ``sys.path`` change atomic.
    They are called directly, not wrapped in tasks: on a cached rerun of thousands of rows,
    three tasks per row cost more than the checks themselves.
    """
    results: list[AssertionResult | None] = [None] * len(asserts)
    pending: list[tuple[int, Assertion]] = []
    for i, a in enumerate(asserts):
        started = _start(a, ctx)
        if isinstance(started, Outcome):
            results[i] = _result(a, started)
        elif started[0].is_async:
            pending.append((i, a))
        else:
            results[i] = _result(a, _check_sync(a, started[0], started[1], ctx))
    if len(pending) == 1:
        i, a = pending[0]
        results[i] = await evaluate_one(a, ctx)
    elif pending:
        tasks = [asyncio.ensure_future(evaluate_one(a, ctx)) for _i, a in pending]
        try:
            done = await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            raise
        for (i, _a), r in zip(pending, done, strict=True):
            results[i] = r
    return [r for r in results if r is not None]


def case_score(results: list[AssertionResult]) -> float:
    """Weighted mean of the scores (errors count 0). No assertions: 1.0. All weights 0: the
    unweighted mean (weight 0 means "report only", but a score must still be defined)."""
    if not results:
        return 1.0
    total = sum(r.weight for r in results)
    if total <= 0:
        return sum(r.score for r in results) / len(results)
    return sum(r.score * r.weight for r in results) / total


def row_passed(results: list[AssertionResult]) -> bool:
    """Every assertion passed and none errored (no assertions: passed)."""
    return all(r.passed and not r.error for r in results)
