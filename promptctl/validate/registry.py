"""The assertion registry: one entry per assertion ``type``, with the options it accepts.

Validators register themselves with :func:`validator` when their family module is imported; the
package (``promptctl/validate/__init__.py``) imports the built-in families by name, and the
registry never imports a family. The registry is the single source of
truth for what an assertion may say, so ``promptctl lint`` (:func:`lint_assertion`), the JSON
schema of case files (:func:`assertion_schemas`) and the README table cannot drift from what
the code actually runs.

Importing this module must stay cheap: ``lint`` runs on every edit and in pre-commit hooks, so
no family module imports rapidfuzz, sacrebleu, rouge_score, jsonschema or litellm at module
level; they are imported inside the check functions that need them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from promptctl.jsonutil import is_json_type, json_type_name
from promptctl.suggest import closest
from promptctl.suite.model import Assertion, Case, Prompt
from promptctl.validate.transforms import KNOWN_TRANSFORMS
from promptctl.validate.types import ValidationContext

JSON_TYPES = ("string", "number", "integer", "boolean", "array", "object", "null")


@dataclass(frozen=True)
class Outcome:
    """What a check function returns. ``error`` means "could not be evaluated" (never a pass,
    never flipped by ``not``); ``passed``/``score`` are then ignored. ``pending`` means "waiting
    for a verdict" (a ``human`` review nobody gave yet): never a pass, never flipped either."""

    passed: bool
    score: float
    reason: str = ""
    error: bool = False
    pending: bool = False


def ok(reason: str = "", score: float = 1.0) -> Outcome:
    return Outcome(True, score, reason)


def fail(reason: str, score: float = 0.0) -> Outcome:
    return Outcome(False, score, reason)


def error(reason: str) -> Outcome:
    return Outcome(False, 0.0, reason, error=True)


def pending(reason: str) -> Outcome:
    return Outcome(False, 0.0, reason, pending=True)


def graded(score: float, threshold: float, reason: str) -> Outcome:
    """A scored check: pass when ``score >= threshold``."""
    return Outcome(score >= threshold, score, reason)


def by_fraction(matched: int, total: int, need_all: bool, reason: str) -> Outcome:
    """List-valued checks: with ``all`` the score is the fraction matched, else 1/0 on "any"."""
    if need_all:
        return Outcome(matched == total, matched / total if total else 1.0, reason)
    return Outcome(matched > 0, 1.0 if matched > 0 else 0.0, reason)


class CheckError(Exception):
    """Raise inside a check function to produce an error result with exactly this message."""


SyncCheck: TypeAlias = Callable[[Assertion, str, ValidationContext], Outcome]
AsyncCheck: TypeAlias = Callable[[Assertion, str, ValidationContext], Awaitable[Outcome]]
# Extra semantic checks of one validator: (assertion, case or None, prompt or None) -> messages.
LintHook: TypeAlias = Callable[[Assertion, "Case | None", "Prompt | None"], list[str]]


@dataclass(frozen=True)
class Opt:
    """One accepted option (or the ``value`` field), described JSON-schema style.

    ``type`` is a JSON-schema type name or a tuple of them; ``items`` the item type of arrays.
    """

    type: str | tuple[str, ...]
    required: bool = False
    enum: tuple[Any, ...] | None = None
    items: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    default: Any = None
    description: str = ""

    @property
    def types(self) -> tuple[str, ...]:
        return (self.type,) if isinstance(self.type, str) else self.type

    def json_schema(self) -> dict[str, Any]:
        types = self.types
        out: dict[str, Any] = {"type": types[0] if len(types) == 1 else list(types)}
        if self.enum is not None:
            out["enum"] = list(self.enum)
        if self.items is not None:
            out["items"] = {"type": self.items}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.default is not None:
            out["default"] = self.default
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class ValidatorSpec:
    name: str
    check: SyncCheck | AsyncCheck
    options: Mapping[str, Opt]
    value: Opt | None  # None: the validator takes no ``value``
    needs_expected: bool  # compares to ``value`` or, when absent, the case's ``expected``
    is_async: bool
    default_threshold: float | None  # None: no score meaning, ``threshold`` is rejected
    lint: LintHook | None = None
    summary: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, ValidatorSpec] = {}


def validator(
    name: str,
    *,
    options: Mapping[str, Opt | str] | None = None,
    value: Opt | str | None = None,
    needs_expected: bool = False,
    is_async: bool = False,
    threshold: float | None = None,
    lint: LintHook | None = None,
    summary: str = "",
) -> Callable[[Any], Any]:
    """Register a check function under ``name``.

    ``options``: accepted option names -> :class:`Opt` (or a bare JSON type name).
    ``value``: what the ``value`` field may hold (None: not accepted).
    ``threshold``: the default pass threshold of a scored validator; None means the validator
    has no score semantics and ``threshold`` is a lint error.
    """

    def norm(o: Opt | str) -> Opt:
        return Opt(o) if isinstance(o, str) else o

    opts = {k: norm(v) for k, v in (options or {}).items()}
    val = norm(value) if value is not None else None

    def deco(fn: Any) -> Any:
        if name in _REGISTRY:
            raise ValueError(f"assertion type {name!r} registered twice")
        _REGISTRY[name] = ValidatorSpec(
            name=name,
            check=fn,
            options=opts,
            value=val,
            needs_expected=needs_expected,
            is_async=is_async,
            default_threshold=threshold,
            lint=lint,
            summary=summary or (fn.__doc__ or "").strip().split("\n")[0],
        )
        return fn

    return deco


def unregister(name: str) -> None:
    """Remove a validator (tests and plugins registering temporary types)."""
    _REGISTRY.pop(name, None)


def get(name: str) -> ValidatorSpec | None:
    return _REGISTRY.get(name)


def known_types() -> list[str]:
    return sorted(_REGISTRY)


# ---------------------------------------------------------------------------------------------
# lint


def type_ok(v: Any, t: str) -> bool:
    """An option value's JSON type (:func:`is_json_type`); a number must also be finite."""
    return is_json_type(v, t) and (t != "number" or math.isfinite(v))


def _check_opt(where: str, v: Any, o: Opt) -> list[str]:
    if not any(type_ok(v, t) for t in o.types):
        return [f"{where} must be {' or '.join(o.types)}, got {json_type_name(v)} {_short(v)}"]
    problems: list[str] = []
    if o.enum is not None and v not in o.enum:
        problems.append(f"{where} must be one of {', '.join(map(str, o.enum))}, got {_short(v)}")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if o.minimum is not None and v < o.minimum:
            problems.append(f"{where} must be >= {o.minimum:g}, got {v}")
        if o.maximum is not None and v > o.maximum:
            problems.append(f"{where} must be <= {o.maximum:g}, got {v}")
    if isinstance(v, list) and o.items is not None:
        bad = [x for x in v if not type_ok(x, o.items)]
        if bad:
            problems.append(f"{where} items must be {o.items}, got {json_type_name(bad[0])} {_short(bad[0])}")
        if not v:
            problems.append(f"{where} must not be an empty list")
    return problems


def _short(v: Any, n: int = 40) -> str:
    r = repr(v)
    return r if len(r) <= n else r[: n - 1] + "…"


def show(text: Any, n: int = 60) -> str:
    """A value as it appears in a one-line reason: repr (newlines escaped), trimmed to ~n chars."""
    if isinstance(text, str) and len(text) > n:
        return repr(text[:n]) + f"… ({len(text)} chars)"
    return _short(text, n + 2)


def one_line(msg: str, n: int = 200) -> str:
    """First line of a message, trimmed: reasons are shown in one table cell."""
    line = msg.strip().splitlines()[0] if msg.strip() else ""
    return line if len(line) <= n else line[: n - 1] + "…"


def _unknown(what: str, name: Any, known: list[str], where: str = "") -> str:
    """``unknown X 'containz'; did you mean 'contains'? known: a, b``."""
    msg = f"unknown {what} {name!r}{where}"
    close = closest(str(name), known)
    if close:
        msg += f"; did you mean {close!r}?"
    else:
        msg += ";"
    return f"{msg} known: {', '.join(known)}" if known else f"{msg} none are accepted"


def lint_assertion(a: Assertion, *, case: Case | None = None, prompt: Prompt | None = None) -> list[str]:
    """Static problems of one assertion, as messages (no location: the caller has ``a.loc``).

    ``case``/``prompt`` are optional context: with them, lint also reports a similarity check
    with neither ``value`` nor ``expected``, or a ``json_schema`` with no schema anywhere.
    """
    problems: list[str] = []
    spec = _REGISTRY.get(a.type)
    if spec is None:
        return [_unknown("assertion type", a.type, known_types())]

    # value
    if spec.value is None:
        if a.value is not None:
            problems.append(f"{a.type!r} takes no `value`")
    elif a.value is None:
        if spec.value.required:
            problems.append(f"{a.type!r} requires `value` ({' or '.join(spec.value.types)})")
        elif spec.needs_expected and case is not None and case.expected is None:
            problems.append(f"{a.type!r} compares to `value` or the case's `expected`, and neither is set")
    else:
        problems += _check_opt("`value`", a.value, spec.value)

    # options
    allowed = sorted(spec.options)
    for k, v in a.options.items():
        o = spec.options.get(k)
        if o is None:
            problems.append(_unknown("option", k, allowed, f" for {a.type!r}"))
        else:
            problems += _check_opt(f"option {k!r}", v, o)
    for k, o in spec.options.items():
        if o.required and k not in a.options:
            problems.append(f"{a.type!r} requires option {k!r} ({' or '.join(o.types)})")

    # threshold / weight
    if a.threshold is not None:
        if spec.default_threshold is None:
            problems.append(f"`threshold` has no meaning for {a.type!r} (it has no graded score); remove it")
        elif not type_ok(a.threshold, "number") or not 0.0 <= float(a.threshold) <= 1.0:
            problems.append(f"`threshold` must be a number in [0, 1], got {_short(a.threshold)}")
    if not type_ok(a.weight, "number") or a.weight < 0:
        problems.append(f"`weight` must be a number >= 0, got {_short(a.weight)}")

    # transforms
    for t in a.transform:
        if t not in KNOWN_TRANSFORMS:
            problems.append(_unknown("transform", t, list(KNOWN_TRANSFORMS)))

    # Semantic checks only once the shape is right, so one mistake gives one message.
    if spec.lint is not None and not problems:
        problems += spec.lint(a, case, prompt)
    return problems


def assertion_schemas() -> dict[str, dict[str, Any]]:
    """JSON-schema fragments per assertion type (for the case-file schema and the docs)."""
    out: dict[str, dict[str, Any]] = {}
    for name in known_types():
        spec = _REGISTRY[name]
        entry: dict[str, Any] = {
            "summary": spec.summary,
            "options": {k: o.json_schema() for k, o in sorted(spec.options.items())},
            "required_options": sorted(k for k, o in spec.options.items() if o.required),
            "value": spec.value.json_schema() if spec.value is not None else None,
            "value_required": bool(spec.value and spec.value.required),
            "uses_expected": spec.needs_expected,
            "default_threshold": spec.default_threshold,
        }
        out[name] = entry
    return out


def compile_patterns(a: Assertion, case: Case | None = None, prompt: Prompt | None = None) -> list[str]:
    """Lint hook shared by regex-like validators: every pattern must compile."""
    values = a.value if isinstance(a.value, list) else [a.value]
    problems = []
    for p in values:
        if isinstance(p, str):
            try:
                re.compile(p)
            except re.error as e:
                problems.append(f"invalid regular expression {_short(p)}: {e}")
    return problems


__all__ = [
    "CheckError",
    "Opt",
    "Outcome",
    "ValidatorSpec",
    "assertion_schemas",
    "by_fraction",
    "error",
    "fail",
    "get",
    "graded",
    "lint_assertion",
    "ok",
    "one_line",
    "pending",
    "show",
    "unregister",
    "validator",
]
