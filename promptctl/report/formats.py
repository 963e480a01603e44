"""Which format renders what: one module per format (``as_json``, ``junit``, ``markdown``,
``text``, ``html``); a new format is one new module plus its line in these tables."""

from __future__ import annotations

from collections.abc import Callable
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
