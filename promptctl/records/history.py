"""Reading run records back: the history over commits and one record by ref."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptctl.errors import UsageError
from promptctl.records.record import DamagedRecord, Record, latest_record, list_records, read_record


def history_rows(root: Path, *, limit: int = 20) -> list[dict[str, Any]]:
    """Newest first: one row per record with its commit's subject and date."""
    from promptctl.git.plumbing import find_repo_root
    from promptctl.git.repo import commit_info

    paths = list_records(root)[-limit:][::-1] if limit > 0 else list_records(root)[::-1]
    infos: dict[str, Any] = {}
    in_git = find_repo_root(root) is not None
    out = []
    for p in paths:
        try:
            rec = read_record(p)
        except (OSError, ValueError):
            continue
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
                "complete": rec.complete,
                "units": s["units"],
                "pass_rate": s["pass_rate"],
                "mean_score": s["mean_score"],
                "cost": s["cost"],
                "path": str(p),
            }
        )
    return out


def find_record(root: Path, ref: str | None, *, skipped: list[DamagedRecord] | None = None) -> Record:
    """The latest record of ``ref``'s commit (worktree records included), else its git note.
    Damaged record files are passed over and added to ``skipped``."""
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

    rec = record_from_notes(root, sha)
    if rec is not None:
        return rec
    raise UsageError(
        f"no run record for {ref} ({sha[:12]})",
        hint=f"run `promptctl test --ref {ref}` or fetch shared records with `promptctl records pull`",
    )
