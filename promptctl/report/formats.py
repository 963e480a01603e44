"""Which format renders what: one module per format (``as_json``, ``junit``, ``markdown``,
``text``, ``html``); a new format is one new module plus its line in these tables."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptctl.errors import UsageError
from promptctl.records.record import Record
from promptctl.report import as_json, compare_markdown, diff_markdown, diff_text, html, junit, markdown

RECORD_FORMATS: dict[str, Callable[[Record], str]] = {
    "json": as_json.record_json,
    "junit": junit.record_junit,
    "markdown": markdown.record_markdown,
    "html": html.record_html,
}
COMPARISON_FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {
    "json": as_json.data_json,
    "markdown": compare_markdown.comparison_markdown,
    "html": html.comparison_html,
}
DIFF_FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {
    "json": as_json.data_json,
    "markdown": diff_markdown.diff_markdown,
    "table": diff_text.diff_text,
}


def _pick(table: dict[str, Callable[[Any], str]], fmt: str, allowed: str) -> Callable[[Any], str]:
    render = table.get(fmt)
    if render is None:
        raise UsageError(f"unknown --format '{fmt}'; use {allowed}")
    return render


def render_record(record: Record, fmt: str) -> str:
    return _pick(RECORD_FORMATS, fmt, "table, json, junit, markdown or html")(record)


def render_comparison(data: dict[str, Any], fmt: str) -> str:
    return _pick(COMPARISON_FORMATS, fmt, "table, markdown, json or html")(data)


def render_diff(data: dict[str, Any], fmt: str) -> str:
    return _pick(DIFF_FORMATS, fmt, "table, markdown or json")(data)


@dataclass(frozen=True)
class ReportFile:
    """One report a run writes to a file: ``-o FORMAT=FILE``, or ``-o FILE`` in ``--format``'s."""

    fmt: str
    path: Path


_FORMAT_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)=(.*)$", re.DOTALL)


def report_files(specs: list[str], fmt: str) -> list[ReportFile]:
    """The record reports ``-o`` asks for, checked before anything runs. ``FORMAT=FILE`` names its
    format; a bare ``FILE`` takes ``--format``'s (JSON when that is the terminal table). A prefix
    that looks like a format but is none is an error, not a file name (``./a=b`` is a file)."""
    out: list[ReportFile] = []
    for spec in specs:
        m = _FORMAT_PREFIX.match(spec)
        if m is not None:
            name, rest = m.group(1), m.group(2)
            if name not in RECORD_FORMATS:
                raise UsageError(
                    f"-o {spec}: unknown report format '{name}'; use "
                    + ", ".join(f"{f}=FILE" for f in RECORD_FORMATS)
                    + " (or ./FILE for a file name with '=')"
                )
            if not rest:
                raise UsageError(f"-o {spec}: no file name after '{name}='")
            out.append(ReportFile(name, Path(rest)))
        elif spec:
            out.append(ReportFile("json" if fmt == "table" else fmt, Path(spec)))
        else:
            raise UsageError("-o expects FILE or FORMAT=FILE, got an empty value")
    if fmt != "table":
        _pick(RECORD_FORMATS, fmt, "table, json, junit, markdown or html")
    seen: dict[str, str] = {}
    for r in out:
        key = os.path.normcase(os.path.abspath(r.path))
        if key in seen:
            raise UsageError(
                f"-o names {r.path} twice ({seen[key]} and {r.fmt}); give each report its own file"
            )
        seen[key] = r.fmt
        if r.path.is_dir():
            raise UsageError(f"-o {r.path}: is a directory; name a file")
    return out
