"""String checks: ``equals``, ``contains``, ``icontains``, ``not_contains``, ``starts_with``,
``regex`` and ``one_of``.

``value`` may be one string or a list. With a list, ``contains``/``icontains``/``starts_with``/
``regex`` pass when ANY value matches (score 1/0); with ``all: true`` every value must match and
the score is the fraction that did, so a near miss still shows up in the case score.
``not_contains`` passes when NONE of the values occurs.

``equals`` strips surrounding whitespace on both sides by default (models add trailing
newlines; nobody means to test them) - ``strip: false`` compares exactly. A non-string ``value``
(or ``expected``) is compared as JSON: the output is parsed and compared structurally.
"""

from __future__ import annotations

import json
import re
from typing import Any

from promptctl.jsonutil import canonical_json
from promptctl.suite.model import Assertion
from promptctl.validate.registry import (
    CheckError,
    Opt,
    Outcome,
    by_fraction,
    compile_patterns,
    fail,
    ok,
    show,
    validator,
)
from promptctl.validate.types import ValidationContext

STR_OR_LIST = Opt(("string", "array"), required=True, items="string", description="a string or a list")
ALL = Opt("boolean", default=False, description="with a list: require every value (score = fraction)")
IGNORE_CASE = Opt("boolean", default=False, description="compare case-insensitively")


def values(a: Assertion) -> list[str]:
    v = a.value
    if v is None:
        raise CheckError(f"{a.type!r} requires `value`")
    items = v if isinstance(v, list) else [v]
    if not items:
        raise CheckError(f"{a.type!r} `value` is an empty list")
    return [x if isinstance(x, str) else str(x) for x in items]


def _list_check(
    a: Assertion, output: str, found: list[bool], vals: list[str], verb: str, *, force_all: bool = False
) -> Outcome:
    need_all = force_all or bool(a.options.get("all", False))
    matched = [v for v, f in zip(vals, found, strict=True) if f]
    missing = [v for v, f in zip(vals, found, strict=True) if not f]
    if len(vals) == 1:
        desc = f"{verb} {show(vals[0], 40)}"
        reason = (
            f"output {desc}: {show(output)}"
            if found[0]
            else f"expected output that {desc}, got {show(output)}"
        )
        return by_fraction(len(matched), 1, need_all, reason)
    if need_all:
        reason = (
            f"output {verb} all {len(vals)} values"
            if not missing
            else f"expected output that {verb} all of {len(vals)} values; missing {show(missing, 60)}, "
            f"got {show(output)}"
        )
    else:
        reason = (
            f"output {verb} {show(matched[0], 40)}"
            if matched
            else f"expected output that {verb} any of {show(vals, 60)}, got {show(output)}"
        )
    return by_fraction(len(matched), len(vals), need_all, reason)


def _fold(s: str, ignore_case: bool) -> str:
    return s.casefold() if ignore_case else s


@validator("contains", value=STR_OR_LIST, options={"all": ALL, "ignore_case": IGNORE_CASE})
def contains(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """Output contains the value (any of a list; all with ``all: true``)."""
    ic = bool(a.options.get("ignore_case", False))
    vals = values(a)
    out = _fold(output, ic)
    return _list_check(a, output, [_fold(v, ic) in out for v in vals], vals, "contains")


@validator("icontains", value=STR_OR_LIST, options={"all": ALL})
def icontains(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """Like ``contains``, case-insensitive (Unicode casefold)."""
    vals = values(a)
    out = output.casefold()
    return _list_check(a, output, [v.casefold() in out for v in vals], vals, "contains")


@validator("not_contains", value=STR_OR_LIST, options={"ignore_case": IGNORE_CASE})
def not_contains(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """Output contains none of the values."""
    ic = bool(a.options.get("ignore_case", False))
    vals = values(a)
    out = _fold(output, ic)
    present = [v for v in vals if _fold(v, ic) in out]
    if present:
        return fail(f"expected output without {show(present[0], 40)}, got {show(output)}")
    what = show(vals[0], 40) if len(vals) == 1 else f"any of {len(vals)} values"
    return ok(f"output does not contain {what}")


@validator("starts_with", value=STR_OR_LIST, options={"all": ALL, "ignore_case": IGNORE_CASE})
def starts_with(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """Output starts with the value (leading whitespace is not skipped; use ``transform: [strip]``)."""
    ic = bool(a.options.get("ignore_case", False))
    vals = values(a)
    out = _fold(output, ic)
    return _list_check(a, output, [out.startswith(_fold(v, ic)) for v in vals], vals, "starts with")


@validator(
    "regex",
    value=STR_OR_LIST,
    options={
        "all": ALL,
        "ignore_case": IGNORE_CASE,
        "multiline": Opt("boolean", default=False, description="^ and $ match at every line"),
        "dotall": Opt("boolean", default=False, description=". matches newlines too"),
        "fullmatch": Opt("boolean", default=False, description="the pattern must match the whole output"),
    },
    lint=compile_patterns,
)
def regex(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """Output matches the regular expression (Python ``re.search``; any of a list)."""
    flags = 0
    if a.options.get("ignore_case"):
        flags |= re.IGNORECASE
    if a.options.get("multiline"):
        flags |= re.MULTILINE
    if a.options.get("dotall"):
        flags |= re.DOTALL
    full = bool(a.options.get("fullmatch", False))
    vals = values(a)
    found = []
    for p in vals:
        try:
            rx = re.compile(p, flags)
        except re.error as e:
            raise CheckError(f"invalid regular expression {show(p, 40)}: {e}") from e
        found.append((rx.fullmatch(output) if full else rx.search(output)) is not None)
    return _list_check(a, output, found, vals, "matches")


@validator(
    "one_of",
    value=Opt("array", required=True, items="string", description="accepted answers"),
    options={"ignore_case": IGNORE_CASE},
)
def one_of(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """Output, stripped, equals one of the listed strings (a classification label)."""
    ic = bool(a.options.get("ignore_case", False))
    vals = values(a)
    got = _fold(output.strip(), ic)
    for v in vals:
        if _fold(v.strip(), ic) == got:
            return ok(f"output is {show(v, 40)}")
    return fail(f"expected one of {show(vals, 60)}, got {show(output.strip())}")


def reference(a: Assertion, ctx: ValidationContext) -> Any:
    """``value`` if given, else the case's ``expected``; error when neither exists."""
    if a.value is not None:
        return a.value
    if ctx.case.expected is not None:
        return ctx.case.expected
    raise CheckError(f"{a.type!r} has no `value` and case {ctx.case.id!r} has no `expected`")


@validator(
    "equals",
    value=Opt(
        ("string", "number", "integer", "boolean", "array", "object"),
        description="the exact expected output (default: the case's expected)",
    ),
    needs_expected=True,
    options={
        "ignore_case": IGNORE_CASE,
        "strip": Opt("boolean", default=True, description="ignore surrounding whitespace (both sides)"),
    },
)
def equals(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """Output equals the value (or ``expected``); a non-string reference is compared as JSON."""
    want = reference(a, ctx)
    strip = bool(a.options.get("strip", True))
    ic = bool(a.options.get("ignore_case", False))
    got = output.strip() if strip else output
    if not isinstance(want, str):
        try:
            parsed = json.loads(got)
        except ValueError:
            return fail(f"expected JSON equal to {show(canonical_json(want))}, got non-JSON {show(got)}")
        if canonical_json(parsed) == canonical_json(want):
            return ok("output equals the expected JSON value")
        return fail(f"expected {show(canonical_json(want))}, got {show(canonical_json(parsed))}")
    w = want.strip() if strip else want
    if _fold(got, ic) == _fold(w, ic):
        return ok(f"output equals {show(w, 40)}")
    return fail(f"expected {show(w)}, got {show(got)}")
