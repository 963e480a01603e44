"""Run records shared through git notes (``refs/notes/promptctl``).

A commit's note holds one JSON record per line, so notes from two machines merge by a line union
(``union_lines``) without losing either side. A pull-request job pulls the notes and
compares against the base commit's record instead of re-running it.
"""

from __future__ import annotations

import json
from pathlib import Path

from promptctl.git.notes import notes_pull, notes_push, notes_read, notes_write
from promptctl.records.record import (
    DamagedRecord,
    InvalidRecord,
    Record,
    list_records,
    masked_dict,
    read_records,
    record_from_data,
)


def note_records(text: str | None, sha: str) -> tuple[list[Record], list[str]]:
    """The records of commit ``sha``'s note, and a warning for every line that is not one.

    A note is data from another machine (fetched from a remote): each line is checked against the
    record schema, must be a clean record of this very commit, and is skipped otherwise."""
    out: list[Record] = []
    warnings: list[str] = []
    for i, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        where = f"git note of {sha[:10]}, line {i}"
        try:
            data = json.loads(line)
        except ValueError:
            warnings.append(f"{where}: not JSON; skipped")
            continue
        try:
            rec = record_from_data(data, path=f"git note of {sha[:10]}")
        except InvalidRecord as e:
            warnings.append(f"{where}: not a valid run record ({e}); skipped")
            continue
        if rec.commit != sha:
            warnings.append(
                f"{where}: the record is for commit {str(rec.commit)[:10]}, not {sha[:10]}; skipped"
            )
        elif rec.dirty:
            warnings.append(f"{where}: the record is of a dirty (uncommitted) worktree; skipped")
        else:
            out.append(rec)
    return out, warnings


def records_from_notes(root: Path, sha: str) -> tuple[list[Record], list[str]]:
    """Every valid record in the note of ``sha`` (oldest first) and the warnings for the others."""
    recs, warnings = note_records(notes_read(root, sha), sha)
    recs.sort(key=lambda r: r.created_at)
    return recs, warnings


def record_from_notes(root: Path, sha: str) -> tuple[Record | None, list[str]]:
    """The newest complete record attached to ``sha`` (else the newest at all), and warnings."""
    recs, warnings = records_from_notes(root, sha)
    if not recs:
        return None, warnings
    complete = [r for r in recs if r.whole]
    return (complete or recs)[-1], warnings


def push(
    root: Path, remote: str = "origin", *, skipped: list[DamagedRecord] | None = None
) -> tuple[int, int]:
    """Attach every clean, whole-suite local record to its commit's note and push the notes ref.
    Returns (records attached, commits touched); damaged record files are left out (and added
    to ``skipped``)."""
    by_commit: dict[str, list[str]] = {}
    for rec in read_records(list_records(root), skipped):  # unreadable ones are never shared
        if rec.commit is None or rec.dirty or not rec.whole:
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
