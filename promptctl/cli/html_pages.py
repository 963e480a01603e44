"""``--format html``: what the HTML report shows beyond the record or comparison itself — the
history chart (every run record of the project, up to :data:`HISTORY_LIMIT`) and, for a run, the
rendered messages behind each row."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from promptctl.records.record import Record

HISTORY_LIMIT = 100


def record_page(root: Path, record: Record, messages: dict[str, list[dict[str, Any]]] | None) -> str:
    """``messages`` by request fingerprint (a run has them); None: rendered again at the record's
    revision (``show``)."""
    from promptctl.records.history import history_rows
    from promptctl.report.html import record_html

    if messages is None:
        from promptctl.review.rendered import rendered_messages

        messages = rendered_messages(root, record)
    return record_html(record, messages=messages, history=history_rows(root, limit=HISTORY_LIMIT))


def comparison_page(root: Path, data: dict[str, Any], records: dict[str, Record]) -> str:
    from promptctl.records.history import history_rows
    from promptctl.report.html import comparison_html

    return comparison_html(
        data,
        base=records.get("base"),
        head=records.get("head"),
        history=history_rows(root, limit=HISTORY_LIMIT),
    )
