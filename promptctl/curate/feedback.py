"""``promptctl feedback import``, first half: reading and checking the feedback (and traces) files.

Input: a JSONL or CSV file, one piece of feedback per line (see ``FIELDS``): the input (``vars``,
or a ``trace_id`` found in a traces file), the ``output`` that was rated, a ``rating``, and
optionally a ``correction`` (the output it should have been) and a ``comment``. Each line becomes
a case appended to the chosen case file: its vars, ``expected`` from the correction (or the
output itself when it was rated good), tag ``feedback``, and the feedback in ``metadata``. A line
whose vars equal an existing case of the prompt (or an earlier line) is skipped as a duplicate.

Every line is checked before anything is written: a malformed line is an error at ``file:line``
(all of them in one run). ``curate.feedback_cases`` turns the checked lines into cases.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptctl.errors import InputError, Problem, UsageError
from promptctl.suggest import suggest

FIELDS = ("trace_id", "prompt", "vars", "output", "rating", "correction", "comment", "metadata")
POSITIVE = ("true", "1", "+1", "good", "up", "thumbs_up", "positive", "yes", "👍")
NEGATIVE = ("false", "0", "-1", "bad", "down", "thumbs_down", "negative", "no", "👎")


@dataclass
class Feedback:
    """One line of feedback, checked."""

    line: int
    vars: dict[str, Any]
    rating: bool  # True: the output was good
    rating_raw: Any
    output: str | None = None
    correction: str | None = None
    comment: str | None = None
    trace_id: str | None = None
    prompt: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def input_problems(problems: list[Problem]) -> InputError:
    """Problems in a feedback or traces file: not suite files, so `promptctl lint` does not see them."""
    err = InputError(problems)
    err.in_lint = False
    return err


def _rating(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (1, 0, -1):
        return value == 1
    if isinstance(value, str):
        v = value.strip().lower()
        if v in POSITIVE:
            return True
        if v in NEGATIVE:
            return False
    return None


def read_traces(path: Path, shown: str) -> dict[str, dict[str, Any]]:
    """Trace lines (JSONL: ``trace_id``, ``prompt``, ``vars``, ``output``; other fields ignored) by
    trace id; InputError at ``file:line`` for a line that is not such an object."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read traces file {shown}: {exc}") from None
    out: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(shown, n, exc.colno, f"invalid JSON: {exc.msg}"))
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("trace_id"), str):
            problems.append(
                Problem(shown, n, 1, "a trace line must be a JSON object with a string 'trace_id'")
            )
            continue
        out[obj["trace_id"]] = obj
    if problems:
        raise input_problems(problems)
    return out


def _raw_lines(
    text: str, shown: str, csv_file: bool, problems: list[Problem]
) -> list[tuple[int, dict[str, Any]]]:
    rows: list[tuple[int, dict[str, Any]]] = []
    if not csv_file:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(Problem(shown, n, exc.colno, f"invalid JSON: {exc.msg}"))
                continue
            if not isinstance(obj, dict):
                problems.append(Problem(shown, n, 1, "each line must be a JSON object"))
                continue
            rows.append((n, obj))
        return rows
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return rows
    except csv.Error as exc:
        problems.append(Problem(shown, reader.line_num, 1, f"invalid CSV: {exc}"))
        return rows
    for i, name in enumerate(header):
        if name not in FIELDS and not name.startswith("vars."):
            col = text.split("\n", 1)[0].find(name) + 1
            problems.append(
                Problem(shown, 1, max(col, 1), f"unknown column '{name}'{suggest(name, list(FIELDS))}"
                        " (or vars.NAME for one variable)")
            )  # fmt: skip
        if header.index(name) != i:
            problems.append(Problem(shown, 1, 1, f"column '{name}' appears twice"))
    start = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(shown, start, 1, f"invalid CSV: {exc}"))
            break
        at, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            problems.append(Problem(shown, at, 1, f"expected {len(header)} columns, got {len(record)}"))
            continue
        fields: dict[str, Any] = {}
        variables: dict[str, Any] = {}
        for name, cell in zip(header, record, strict=True):
            if name.startswith("vars."):
                variables[name[5:]] = cell
            elif name == "vars" and cell.strip():
                try:
                    fields["vars"] = json.loads(cell)
                except json.JSONDecodeError as exc:
                    problems.append(Problem(shown, at, 1, f"column 'vars': invalid JSON: {exc.msg}"))
            elif cell != "":
                fields[name] = cell
        if variables:
            given = fields.get("vars")
            fields["vars"] = {**(given if isinstance(given, dict) else {}), **variables}
        rows.append((at, fields))
    return rows


def read_feedback(path: Path, shown: str, traces: dict[str, dict[str, Any]] | None) -> list[Feedback]:
    """Every line of a feedback file, checked; InputError with every problem at ``file:line``."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read feedback file {shown}: {exc}") from None
    if path.suffix.lower() not in (".jsonl", ".csv"):
        raise UsageError(f"{shown}: feedback must be a .jsonl or .csv file")
    problems: list[Problem] = []
    out: list[Feedback] = []
    for n, obj in _raw_lines(text, shown, path.suffix.lower() == ".csv", problems):
        item = _check_line(obj, n, shown, traces, problems)
        if item is not None:
            out.append(item)
    if problems:
        raise input_problems(problems)
    return out


def _check_line(
    obj: dict[str, Any], n: int, shown: str, traces: dict[str, dict[str, Any]] | None, problems: list[Problem]
) -> Feedback | None:
    def bad(message: str) -> None:
        problems.append(Problem(shown, n, 1, message))

    before = len(problems)
    for key in obj:
        if key not in FIELDS:
            bad(f"unknown field '{key}'{suggest(str(key), list(FIELDS))}")
    trace_id = obj.get("trace_id")
    if trace_id is not None and not isinstance(trace_id, str):
        bad("'trace_id' must be a string")
        trace_id = None
    trace: dict[str, Any] = {}
    if trace_id is not None and ("vars" not in obj or "output" not in obj):
        if traces is None:
            bad(f"trace '{trace_id}' needs a traces file (--traces FILE), or give 'vars' and 'output'")
        elif trace_id not in traces:
            bad(f"trace '{trace_id}' is not in the traces file{suggest(trace_id, sorted(traces)[:200])}")
        else:
            trace = traces[trace_id]
    variables = obj.get("vars", trace.get("vars"))
    if variables is None:
        if trace_id is None:
            bad("no input: give 'vars' (an object), or a 'trace_id' with --traces FILE")
    elif not isinstance(variables, dict):
        bad(f"'vars' must be an object of variable names to values, got {type(variables).__name__}")
    if "rating" not in obj:
        bad("'rating' is required (good/bad, up/down, true/false, 1/-1 …)")
    rating = _rating(obj.get("rating"))
    if "rating" in obj and rating is None:
        good, worse = ", ".join(POSITIVE[:6]), ", ".join(NEGATIVE[:6])
        bad(f"'rating' {obj['rating']!r} is neither good ({good}) nor bad ({worse})")
    for key in ("output", "correction", "comment", "prompt"):
        value = obj.get(key, trace.get(key) if key in ("output", "prompt") else None)
        if value is not None and not isinstance(value, str):
            bad(f"'{key}' must be a string, got {type(value).__name__}")
    if "metadata" in obj and not isinstance(obj["metadata"], dict):
        bad("'metadata' must be an object")
    if len(problems) > before:
        return None
    return Feedback(
        line=n,
        vars=dict(variables or {}),
        rating=bool(rating),
        rating_raw=obj.get("rating"),
        output=obj.get("output", trace.get("output")),
        correction=obj.get("correction"),
        comment=obj.get("comment"),
        trace_id=trace_id,
        prompt=obj.get("prompt", trace.get("prompt")),
        metadata=dict(obj.get("metadata") or {}),
    )
