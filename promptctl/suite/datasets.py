"""Datasets: one case per row of a ``.jsonl`` or ``.csv`` file, every malformed row located.

Rows are ``(line, values)``: the line where the record starts, so a problem found later (a
duplicate id, a missing variable) points at it. A bad row is reported and left out; the rows
around it are still read, so one mistake does not hide the next.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from promptctl.errors import Problem
from promptctl.suite.yamlio import MAX_DEPTH, too_deep


def dataset_rows(text: str, path: str, problems: list[Problem]) -> list[tuple[int, dict[str, Any]]]:
    """The rows of the dataset at ``path`` (by its suffix: ``.jsonl`` or ``.csv``)."""
    if path.endswith(".jsonl"):
        return _jsonl_rows(text, path, problems)
    return _csv_rows(text, path, problems)


def _jsonl_rows(text: str, path: str, problems: list[Problem]) -> list[tuple[int, dict[str, Any]]]:
    rows: list[tuple[int, dict[str, Any]]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(path, n, exc.colno, f"invalid JSON: {exc.msg}"))
            continue
        except RecursionError:
            row = None
        if row is None or too_deep(row):  # deep values would break rendering and hashing later
            problems.append(Problem(path, n, 1, f"nesting deeper than {MAX_DEPTH} levels"))
            continue
        if not isinstance(row, dict):
            problems.append(Problem(path, n, 1, "each line must be a JSON object"))
            continue
        rows.append((n, row))
    return rows


def _csv_rows(text: str, path: str, problems: list[Problem]) -> list[tuple[int, dict[str, Any]]]:
    """(line, row) of every well-formed record; a ragged row or bad quoting is a problem at its
    line. An unterminated quote is reported where it opens and reading resumes on the next line,
    so it cannot swallow the rest of the file (and hide what is wrong there)."""
    lines = text.splitlines(keepends=True)
    header: list[str] | None = None
    header_line = 1
    rows: list[tuple[int, dict[str, Any]]] = []
    offset = 0  # lines before the text the current reader reads
    while offset < len(lines):
        reader = csv.reader(io.StringIO("".join(lines[offset:])), strict=True)
        start = offset + 1  # line where the next record starts
        try:
            for record in reader:
                line, start = start, offset + reader.line_num + 1
                if not record:
                    continue  # a blank line
                if header is None:
                    header, header_line = record, line
                    for i, name in enumerate(record):
                        if name in record[:i]:
                            problems.append(
                                Problem(path, line, 1, f"column '{name}' appears twice in the header")
                            )
                    continue
                if len(record) != len(header):
                    n, s = len(record), "" if len(record) == 1 else "s"
                    columns = f"{len(header)}: {', '.join(header)}"
                    message = f"row has {n} field{s} but the header (line {header_line}) has {columns}"
                    problems.append(Problem(path, line, 1, message))
                    continue
                rows.append((line, dict(zip(header, record, strict=True))))
            break
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                col = _open_quote_column(lines[start - 1]) if start <= len(lines) else 1
                problems.append(
                    Problem(
                        path,
                        start,
                        col,
                        "the quote opened here is never closed (it would swallow the rest of the file)",
                    )
                )
            else:
                problems.append(Problem(path, offset + reader.line_num, 1, f"bad quoting: {exc}"))
                start = offset + reader.line_num
            offset = start  # resume on the line after the broken record's first line
    return rows


def _open_quote_column(line: str) -> int:
    """1-based column of the quote that opens a field and is still open at the end of ``line``."""
    opened, in_quote, at_field_start = 0, False, True
    i = 0
    while i < len(line):
        ch = line[i]
        if in_quote:
            if ch == '"' and line[i + 1 : i + 2] == '"':
                i += 1
            elif ch == '"':
                in_quote = False
        elif ch == '"' and at_field_start:
            in_quote, opened = True, i + 1
        at_field_start = ch == "," and not in_quote
        i += 1
    return opened if in_quote else 1
