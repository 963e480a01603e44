"""The shape of a stored run record, checked before a record is believed.

A record read back may come from anywhere: a local file, or a git note fetched from a remote (data
of another machine, possibly of a pull request). Everything downstream (summaries, compare, the
gate) indexes rows and assertions by key and does arithmetic on their numbers, so a record is
checked here first — version, shape, types, one row per case × model × sample — and a bad one is
refused with the first problems found, never half-used and never a crash.
"""

from __future__ import annotations

import math
from typing import Any

SCHEMA_VERSION = 1
# "pending": a verdict waiting for a person (the ``human`` assertion of the review workflow).
STATUSES = ("pass", "fail", "error", "skipped", "pending")
SOURCES = ("live", "cache", "recording")

# (key, kinds, required): kinds are the accepted JSON types of the value.
_STR, _INT, _NUM, _BOOL, _NULL = "string", "integer", "number", "boolean", "null"
_RECORD_FIELDS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("commit", (_STR, _NULL), True),
    ("dirty", (_BOOL,), True),
    ("content_hash", (_STR, _NULL), False),
    ("created_at", (_STR,), True),
    ("command", ("list",), False),
    ("config", ("object",), False),
    ("rows", ("list",), True),
    ("complete", (_BOOL,), True),
    ("interrupted", (_BOOL,), False),
    ("incomplete_reason", (_STR, _NULL), False),  # written before selection.partial; read only
    ("selection", ("object",), False),
    ("stats", ("object",), False),
    ("versions", ("object",), False),
    ("ref", (_STR, _NULL), False),
)
_ROW_FIELDS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("case_key", (_STR,), True),
    ("prompt", (_STR,), True),
    ("case", (_STR,), True),
    ("model", (_STR,), True),
    ("sample", (_INT,), True),
    ("status", (_STR,), True),
    ("score", (_NUM, _NULL), False),
    ("min_pass_rate", (_NUM,), False),
    ("case_file", (_STR, _NULL), False),
    ("litellm_model", (_STR, _NULL), False),
    ("fingerprint", (_STR, _NULL), False),
    ("output", (_STR, _NULL), False),
    ("error", (_STR, _NULL), False),
    ("source", (_STR, _NULL), False),
    ("unverified", (_BOOL,), False),
    ("answered_by", (_STR, _NULL), False),
    ("provider_model", (_STR, _NULL), False),
    ("latency_ms", (_NUM, _NULL), False),
    ("input_tokens", (_INT, _NULL), False),
    ("output_tokens", (_INT, _NULL), False),
    ("cost", (_NUM, _NULL), False),
    ("finish_reason", (_STR, _NULL), False),
    ("attempts", (_INT, _NULL), False),
    ("retries", (_INT, _NULL), False),
    ("tags", ("list",), False),
    ("asserts", ("list",), True),
)
_ASSERT_FIELDS: tuple[tuple[str, tuple[str, ...], bool], ...] = (
    ("type", (_STR,), True),
    ("label", (_STR,), True),
    ("passed", (_BOOL,), True),
    ("score", (_NUM,), True),
    ("reason", (_STR,), False),
    ("metric", (_STR, _NULL), False),
    ("weight", (_NUM,), False),
    ("error", (_BOOL,), False),
    ("pending", (_BOOL,), False),  # a ``human`` verdict nobody gave yet
)
_KIND_WORDS = {
    _STR: "a string",
    _INT: "an integer",
    _NUM: "a number",
    _BOOL: "true or false",
    _NULL: "null",
    "list": "a list",
    "object": "an object",
}
MAX_PROBLEMS = 3


def _is(value: Any, kind: str) -> bool:
    if kind == _STR:
        return isinstance(value, str)
    if kind == _BOOL:
        return isinstance(value, bool)
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _NUM:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == _NULL:
        return value is None
    if kind == "list":
        return isinstance(value, list)
    return isinstance(value, dict)


def _fields(
    obj: dict[str, Any], spec: tuple[tuple[str, tuple[str, ...], bool], ...], where: str
) -> list[str]:
    out = []
    for key, kinds, required in spec:
        if key not in obj:
            if required:
                out.append(f"{where}missing '{key}'")
            continue
        if not any(_is(obj[key], k) for k in kinds):
            sep = "." if where else ""
            expected = " or ".join(_KIND_WORDS[k] for k in kinds)
            out.append(f"{where.rstrip(': ')}{sep}{key}: expected {expected}, got {_shown(obj[key])}")
    return out


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def version_problem(data: dict[str, Any]) -> str | None:
    """Why a record's ``schema_version`` cannot be read by this promptctl (None: it can)."""
    v = data.get("schema_version")
    if v is None or not _is(v, _INT):
        return f"schema_version: expected an integer, got {_shown(v)}"
    if v > SCHEMA_VERSION:
        return f"schema_version {v} is newer than this promptctl reads ({SCHEMA_VERSION}); upgrade promptctl"
    if v < 1:
        return f"schema_version {v} is not a record version"
    return None


def _row_problems(r: Any, i: int) -> list[str]:
    where = f"rows[{i}]: "
    if not isinstance(r, dict):
        return [f"rows[{i}]: expected an object, got {_shown(r)}"]
    out = _fields(r, _ROW_FIELDS, where)
    if _is(r.get("status"), _STR) and r["status"] not in STATUSES:
        out.append(f"rows[{i}].status: {r['status']!r} is not one of {', '.join(STATUSES)}")
    if _is(r.get("sample"), _INT) and r["sample"] < 0:
        out.append(f"rows[{i}].sample: {r['sample']} is negative")
    for key in ("score", "min_pass_rate"):
        v = r.get(key)
        if v is not None and _is(v, _NUM) and not 0.0 <= v <= 1.0:
            out.append(f"rows[{i}].{key}: {v} is outside [0, 1]")
    src = r.get("source")
    if _is(src, _STR) and src not in SOURCES:
        out.append(f"rows[{i}].source: {src!r} is not one of {', '.join(SOURCES)}")
    names = (r.get("case_key"), r.get("prompt"), r.get("case"))
    if all(_is(v, _STR) for v in names) and names[0] != f"{names[1]}::{names[2]}":
        out.append(f"rows[{i}].case_key: {names[0]!r} is not prompt::case")
    asserts = r.get("asserts")
    for j, a in enumerate(asserts if isinstance(asserts, list) else []):
        if not isinstance(a, dict):
            out.append(f"rows[{i}].asserts[{j}]: expected an object, got {_shown(a)}")
            continue
        out.extend(_fields(a, _ASSERT_FIELDS, f"rows[{i}].asserts[{j}]: "))
        if _is(a.get("score"), _NUM) and not 0.0 <= a["score"] <= 1.0:
            out.append(f"rows[{i}].asserts[{j}].score: {a['score']} is outside [0, 1]")
    return out


def record_problems(data: Any) -> list[str]:
    """What is wrong with a stored record (the first few problems; [] when it is sound)."""
    if not isinstance(data, dict):
        return [f"not a JSON object (got {type(data).__name__})"]
    v = version_problem(data)
    if v is not None:
        return [v]
    out = _fields(data, _RECORD_FIELDS, "")
    rows = data.get("rows")
    if isinstance(rows, list):
        seen: set[tuple[Any, ...]] = set()
        for i, r in enumerate(rows):
            bad = _row_problems(r, i)
            if bad:
                out.extend(bad)
                if len(out) >= MAX_PROBLEMS:
                    break
                continue
            key = (r["case_key"], r["model"], r["sample"])
            if key in seen:
                out.append(f"rows[{i}]: a second row for {key[0]} [{key[1]}] sample {key[2]}")
            seen.add(key)
    return out[:MAX_PROBLEMS]


def describe(problems: list[str]) -> str:
    """One line for a warning: the problems found, joined."""
    return "; ".join(problems)
