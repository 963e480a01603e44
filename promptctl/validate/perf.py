"""Budget checks on the model call itself: ``latency`` and ``cost``.

Both read the row's :class:`ModelResponse`. A cached or replayed row carries the latency and
cost recorded when the call was really made (the cache stores them), so a replay judges the
original call rather than the ~0 ms lookup.

An unknown value is an *error*, never a pass: a budget you cannot measure is not met.
"""

from __future__ import annotations

from promptctl.spec import Assertion
from promptctl.validate.registry import CheckError, Opt, Outcome, fail, ok, validator
from promptctl.validate.types import ValidationContext


@validator(
    "latency",
    options={"max_ms": Opt("number", required=True, minimum=0, description="slowest accepted call, ms")},
)
def latency(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """The model call took at most ``max_ms`` milliseconds."""
    limit = float(a.options["max_ms"])
    ms = ctx.response.latency_ms if ctx.response is not None else None
    if ms is None:
        raise CheckError(f"latency unknown for model {ctx.model}")
    if ms > limit:
        return fail(f"expected latency <= {limit:g} ms, got {ms:.0f} ms")
    return ok(f"latency {ms:.0f} ms <= {limit:g} ms")


@validator(
    "cost",
    options={"max_usd": Opt("number", required=True, minimum=0, description="costliest accepted call, USD")},
)
def cost(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """The model call cost at most ``max_usd`` US dollars (unknown price: error)."""
    limit = float(a.options["max_usd"])
    usd = ctx.response.cost if ctx.response is not None else None
    if usd is None:
        raise CheckError(f"cost unknown for model {ctx.model}")
    if usd > limit:
        return fail(f"expected cost <= ${limit:g}, got ${usd:.6g}")
    return ok(f"cost ${usd:.6g} <= ${limit:g}")
