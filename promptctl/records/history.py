"""Reading run records back: the history over commits and one record by ref."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from promptctl.errors import UsageError
from promptctl.records.record import (
    DamagedRecord,
    Record,
    latest_record,
    list_records,
    read_records,
    scan_local,
)


def _all_records(
    root: Path, warn: Callable[[str], None], skipped: list[DamagedRecord] | None
) -> list[tuple[Record, str]]:
    """Every trusted record with its source: local files, then records from git notes (a record
    pushed from here is in both: listed once, as "local, git note"). Damaged local files are
    passed over (and added to ``skipped``)."""
    from promptctl.git.plumbing import find_repo_root

    out: dict[tuple[str | None, str, bool], tuple[Record, str]] = {}
    for rec in read_records(list_records(root), skipped):
        out[(rec.commit, rec.created_at, rec.dirty)] = (rec, "local")
    if find_repo_root(root) is not None:
        from promptctl.git.notes import notes_read_all
        from promptctl.records.notes import note_records

        for sha, text in notes_read_all(root).items():
            recs, warnings = note_records(text, sha)
            for w in warnings:
                warn(w)
            for rec in recs:
                key = (rec.commit, rec.created_at, rec.dirty)
                if key in out:
                    out[key] = (out[key][0], "local, git note")
                else:
                    out[key] = (rec, "git note")
    return sorted(out.values(), key=lambda e: e[0].created_at, reverse=True)


def history_rows(
    root: Path,
    *,
    limit: int = 20,
    warn: Callable[[str], None] = lambda _m: None,
    skipped: list[DamagedRecord] | None = None,
) -> list[dict[str, Any]]:
    """Newest first: one row per record (local and from git notes) with its commit's subject and
    date, whether it is the whole suite (else why not) and where it came from. Damaged record
    files are passed over (and added to ``skipped``)."""
    from promptctl.git.plumbing import find_repo_root
    from promptctl.git.repo import commit_info

    entries = _all_records(root, warn, skipped)
    if limit > 0:
        entries = entries[:limit]
    infos: dict[str, Any] = {}
    in_git = find_repo_root(root) is not None
    out = []
    for rec, source in entries:
        info: Any = None
        if rec.commit and in_git:
            if rec.commit not in infos:
                try:
                    infos[rec.commit] = commit_info(root, rec.commit)
                except Exception:  # commit gone (rebased away): still list the record
                    infos[rec.commit] = None
            info = infos[rec.commit]
        s = rec.summary
        out.append(
            {
                "commit": rec.commit,
                "short": (rec.commit or "none")[:10],
                "dirty": rec.dirty,
                "date": rec.created_at,
                "subject": info["subject"] if info else None,
                "complete": rec.whole,
                "partial": rec.partial,
                "units": s["units"],
                "pass_rate": s["pass_rate"],
                "mean_score": s["mean_score"],
                "cost": s["cost"],
                "source": source,
                "path": rec.path if source != "git note" else None,
            }
        )
    return out


def find_record(
    root: Path,
    ref: str | None,
    *,
    skipped: list[DamagedRecord] | None = None,
    warn: Callable[[str], None] = lambda _m: None,
) -> Record:
    """The latest record of ``ref``'s commit (worktree records included), else its git note.
    Damaged record files are passed over and added to ``skipped``; ``warn`` receives a warning
    for every other record passed over (tracked by git, a bad note line)."""
    for w in scan_local(root).warnings:
        warn(w)
    if ref is None:
        rec = latest_record(root, skipped=skipped)
        if rec is None:
            raise UsageError("no run records yet", hint="run `promptctl test`")
        return rec
    from promptctl.git.repo import resolve

    sha = resolve(root, ref)
    rec = latest_record(root, sha, include_dirty=False, skipped=skipped) or latest_record(
        root, sha, include_dirty=True, skipped=skipped
    )
    if rec is not None:
        return rec
    from promptctl.records.notes import record_from_notes

    rec, warnings = record_from_notes(root, sha)
    for w in warnings:
        warn(w)
    if rec is not None:
        return rec
    raise UsageError(
        f"no run record for {ref} ({sha[:12]})",
        hint=f"run `promptctl test --ref {ref}` or fetch shared records with `promptctl records pull`",
    )
