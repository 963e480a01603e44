"""Shape checks that need no reference: ``not_empty`` and ``length``.

``length`` counts ``chars`` as Unicode code points (``len(str)``): "é" is 1, "🙂" is 1, but a
flag or a ZWJ emoji family is several. ``words`` splits on Unicode whitespace, ``lines`` counts
``str.splitlines()`` and ``tokens`` uses the row model's tokenizer through the model layer
(``promptctl.execute.llm.count_tokens``, imported only when a token count is asked for).
"""

from __future__ import annotations

from promptctl.suite.model import Assertion, Case, Prompt
from promptctl.validate.registry import CheckError, Opt, Outcome, fail, ok, show, validator
from promptctl.validate.types import ValidationContext

UNITS = ("chars", "words", "lines", "tokens")


@validator("not_empty")
def not_empty(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """Output has at least one non-whitespace character."""
    if output.strip():
        return ok(f"output is not empty ({len(output)} chars)")
    return fail("output is empty" if not output else f"output is whitespace only: {show(output)}")


def count(text: str, unit: str, model: str) -> int:
    if unit == "chars":
        return len(text)
    if unit == "words":
        return len(text.split())
    if unit == "lines":
        return len(text.splitlines())
    if unit == "tokens":
        try:
            from promptctl.execute.llm import count_tokens
        except ImportError as e:  # pragma: no cover - depends on the model layer being installed
            raise CheckError(f"token counting unavailable: {e}") from e
        try:
            return int(count_tokens(model, text))
        except Exception as e:
            raise CheckError(f"cannot count tokens for model {model!r}: {e}") from e
    raise CheckError(f"unknown length unit {unit!r}")


def _lint_length(a: Assertion, case: Case | None, prompt: Prompt | None) -> list[str]:
    lo, hi = a.options.get("min"), a.options.get("max")
    if lo is None and hi is None:
        return ["'length' needs option 'min', 'max' or both"]
    if lo is not None and hi is not None and lo > hi:
        return [f"'length' min ({lo}) is greater than max ({hi})"]
    return []


@validator(
    "length",
    options={
        "min": Opt("integer", minimum=0, description="smallest accepted length (inclusive)"),
        "max": Opt("integer", minimum=0, description="largest accepted length (inclusive)"),
        "unit": Opt("string", enum=UNITS, default="chars", description="what is counted"),
    },
    lint=_lint_length,
)
def length(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """Output length within [min, max] in chars, words, lines or tokens."""
    unit = str(a.options.get("unit", "chars"))
    lo, hi = a.options.get("min"), a.options.get("max")
    if lo is None and hi is None:
        raise CheckError("'length' needs option 'min', 'max' or both")
    n = count(output, unit, ctx.model)
    want = (
        f"between {lo} and {hi}"
        if lo is not None and hi is not None
        else (f"at least {lo}" if lo is not None else f"at most {hi}")
    )
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        return fail(f"expected {want} {unit}, got {n}")
    return ok(f"{n} {unit} ({want})")
