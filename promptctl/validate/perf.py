"""Budget checks on the model call itself: ``latency`` and ``cost``.

Both read the row's :class:`ModelResponse`. A cached or replayed row carries the latency and
cost recorded when the call was really made (the cache stores them), so a replay judges the
original call rather than the ~0 ms lookup.

An unknown value is an *error*, never a pass: a budget you cannot measure is not met.
"""

from __future__ import annotations

from collections.abc import Callable

from promptctl.suite.model import Assertion
from promptctl.validate.registry import CheckError, Opt, Outcome, fail, ok, validator
from promptctl.validate.types import ValidationContext


@validator(
    "latency",
    options={"max_ms": Opt("number", required=True, minimum=0, description="slowest accepted call, ms")},
)
def latency(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """The model call took at most ``max_ms`` milliseconds."""
    ms = ctx.response.latency_ms if ctx.response is not None else None
    return _at_most("latency", ms, float(a.options["max_ms"]), ctx, lambda v: f"{v:.0f} ms", "{:g} ms")


@validator(
    "cost",
    options={"max_usd": Opt("number", required=True, minimum=0, description="costliest accepted call, USD")},
)
def cost(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """The model call cost at most ``max_usd`` US dollars (unknown price: error)."""
    usd = ctx.response.cost if ctx.response is not None else None
    return _at_most("cost", usd, float(a.options["max_usd"]), ctx, lambda v: f"${v:.6g}", "${:g}")


def _at_most(
    what: str,
    value: float | None,
    limit: float,
    ctx: ValidationContext,
    shown: Callable[[float], str],
    bound: str,
) -> Outcome:
    """Pass when the row's measured ``value`` is at most ``limit``; unknown is an error, never a pass."""
    if value is None:
        raise CheckError(f"{what} unknown for model {ctx.model}")
    if value > limit:
        return fail(f"expected {what} <= {bound.format(limit)}, got {shown(value)}")
    return ok(f"{what} {shown(value)} <= {bound.format(limit)}")
