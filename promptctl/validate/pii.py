"""The ``pii`` validator: fails when the output contains personal data (the detector is
:mod:`promptctl.pii`, shared with redaction).

``types`` chooses the kinds (default: all); ``allow`` lists known values that are not a finding;
``region`` the phone regions. The reason names what was found *masked* (``j***@e***.com``): a
check must not copy the personal data it found into the run record.
"""

from __future__ import annotations

from typing import Any

from promptctl.pii import (
    DEFAULT_REGION,
    PII_TYPES,
    Finding,
    allowed_forms,
    detect,
    iban_ok,
    luhn_ok,
    mask,
    normalize,
    unknown_regions,
)
from promptctl.suite.model import Assertion
from promptctl.validate.registry import CheckError, Opt, Outcome, fail, ok, validator
from promptctl.validate.types import ValidationContext

__all__ = ["PII_TYPES", "Finding", "detect", "iban_ok", "luhn_ok", "mask", "normalize", "pii"]


# -- the validator ----------------------------------------------------------------------------------
def _str_list(a: Assertion, name: str) -> list[str] | None:
    raw = a.options.get(name)
    if raw is None:
        return None
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise CheckError(f"pii option {name!r} must be a string or a list of strings")
    return items


def _types(a: Assertion) -> list[str]:
    types = _str_list(a, "types") or list(PII_TYPES)
    unknown = [t for t in types if t not in PII_TYPES]
    if unknown:
        raise CheckError(f"pii: unknown type {unknown[0]!r}; use {', '.join(PII_TYPES)}")
    return types


def _regions(a: Assertion) -> list[str]:
    regions = [r.upper() for r in (_str_list(a, "region") or [DEFAULT_REGION])]
    bad = unknown_regions(regions)
    if bad:
        raise CheckError(f"pii: unknown region {bad[0]!r}; use ISO 3166 codes such as US, GB, DE, FR")
    return regions


def _lint(a: Assertion, _case: Any, _prompt: Any) -> list[str]:
    try:
        _types(a)
        _str_list(a, "allow")
        if a.options.get("region") is not None:  # phonenumbers is imported only to check one
            _regions(a)
    except CheckError as e:
        return [str(e)]
    return []


@validator(
    "pii",
    options={
        "types": Opt(
            ("string", "array"), items="string", description=f"kinds to look for: {', '.join(PII_TYPES)}"
        ),
        "allow": Opt(("string", "array"), items="string", description="known values that are not findings"),
        "region": Opt(
            ("string", "array"), items="string", description="phone regions, ISO 3166 (default US)"
        ),
    },
    lint=_lint,
)
def pii(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """The output holds no personal data: e-mail, phone, card, IBAN, IP address, secret (``types``)."""
    types, regions = _types(a), _regions(a)
    allowed = allowed_forms(_str_list(a, "allow") or [], types, regions)
    findings = [f for f in detect(output, types, regions) if f.normalized not in allowed]
    if not findings:
        return ok(f"no {', '.join(types)} found")
    shown = ", ".join(f"{f.type} {f.masked()}" for f in findings[:5])
    more = f" and {len(findings) - 5} more" if len(findings) > 5 else ""
    return fail(f"found {len(findings)} personal data item(s): {shown}{more}")
