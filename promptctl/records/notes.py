"""Run records shared through git notes (``refs/notes/promptctl``).

A commit's note holds one JSON record per line, so notes from two machines merge by a line union
(``union_lines``) without losing either side. A pull-request job pulls the notes and
compares against the base commit's record instead of re-running it.
"""

from __future__ import annotations

import json
from pathlib import Path

from promptctl.git.notes import notes_pull, notes_push, notes_read, notes_write
from promptctl.records.record import DamagedRecord, Record, list_records, masked_dict, read_record


def _note_records(text: str | None) -> list[Record]:
    out = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(Record.from_dict(json.loads(line), path="git-notes"))
        except (ValueError, TypeError):
            continue  # a foreign or damaged line: skip it, keep the others
    return out


def record_from_notes(root: Path, sha: str) -> Record | None:
    """The newest complete record attached to ``sha`` (else the newest at all)."""
    recs = _note_records(notes_read(root, sha))
    if not recs:
        return None
    recs.sort(key=lambda r: r.created_at)
    complete = [r for r in recs if r.complete]
    return (complete or recs)[-1]


def push(
    root: Path, remote: str = "origin", *, skipped: list[DamagedRecord] | None = None
) -> tuple[int, int]:
    """Attach every clean, complete local record to its commit's note and push the notes ref.
    Returns (records attached, commits touched); damaged record files are left out (and added
    to ``skipped``)."""
    by_commit: dict[str, list[str]] = {}
    for path in list_records(root):
        try:
            rec = read_record(path)
        except DamagedRecord as exc:
            if skipped is not None:
                skipped.append(exc)
            continue
        if rec.commit is None or rec.dirty or not rec.complete:
            continue
        by_commit.setdefault(rec.commit, []).append(
            json.dumps(masked_dict(rec), ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        )
    added = 0
    for sha, lines in by_commit.items():
        existing = notes_read(root, sha) or ""
        have = set(existing.splitlines())
        new = [line for line in lines if line not in have]
        if new:
            text = (
                existing + ("" if not existing or existing.endswith("\n") else "\n") + "\n".join(new) + "\n"
            )
            notes_write(root, sha, text)
            added += len(new)
    notes_push(root, remote)
    return added, len(by_commit)


def pull(root: Path, remote: str = "origin") -> list[str]:
    return notes_pull(root, remote)
