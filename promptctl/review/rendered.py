"""The rendered messages behind a run record's rows, for reports that show them (``--format
html``): a record stores outputs, not requests, so the suite is planned again at the record's
revision and matched by request fingerprint. A row whose request no longer renders the same
(the worktree changed since a dirty run, a commit that is gone) simply has none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptctl.errors import PromptctlError
from promptctl.records.record import Record
from promptctl.review.diff import open_side


def rendered_messages(root: Path, record: Record) -> dict[str, list[dict[str, Any]]]:
    """Request fingerprint -> rendered messages, for every request of the suite at the revision
    ``record`` was run on (the worktree for a dirty or commit-less record)."""
    ref = record.ref or (None if record.dirty or record.commit is None else record.commit)
    try:
        side = open_side(root, ref)
    except (PromptctlError, OSError, ValueError):
        return {}
    try:
        return {
            fp: [dict(m) for m in unit.messages]
            for unit in side.units.values()
            if unit.messages is not None
            for fp in unit.fingerprints
        }
    finally:
        side.close()
