"""JSON of a run record, a comparison and a diff: everything, for scripts and other tools."""

from __future__ import annotations

import json
from typing import Any

from promptctl.records.record import Record


def record_json(record: Record) -> str:
    return json.dumps(record.to_dict(), indent=2, ensure_ascii=False)


def data_json(data: dict[str, Any]) -> str:
    """A comparison or a diff (JSON-ready data)."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)
