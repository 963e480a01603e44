"""One side of a comparison: the record of a revision (or of the worktree), from the cheapest
place that has it — a local run record, then a record shared through git notes, and only then a
run of the suite at that revision (through the cache and the committed recordings, so re-running
an unchanged base costs nothing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptctl.git.repo import content_hash, head_commit, is_dirty, resolve
from promptctl.records.notes import record_from_notes
from promptctl.records.record import Record, read_record, records_for_commit
from promptctl.records.run_record import run_and_record
from promptctl.run.suite_run import TestOptions
from promptctl.suite.project import open_project

Note = Callable[[str], None]

# Selection keys that make a record cover only part of the suite (not usable as "the" result).
_PARTIAL_SELECTION = ("paths", "keywords", "tags", "models", "shard", "last_failed")


@dataclass
class SideResult:
    """One side of a comparison: which revision, its record, and where the record came from."""

    label: str
    ref: str | None  # None: the worktree
    sha: str | None
    dirty: bool
    record: Record
    origin: str  # "record" | "git-note" | "ran"

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "ref": self.ref,
            "sha": self.sha,
            "dirty": self.dirty,
            "origin": self.origin,
            "record": self.record.path,
            "created_at": self.record.created_at,
            "complete": self.record.complete,
        }


def _is_full(rec: Record) -> bool:
    sel = rec.selection or {}
    return rec.complete and not any(sel.get(k) for k in _PARTIAL_SELECTION)


def _best_local(paths: list[Path]) -> Record | None:
    """The newest complete, whole-suite record among ``paths`` (they are sorted oldest first)."""
    for p in reversed(paths):
        try:
            rec = read_record(p)
        except (OSError, ValueError):
            continue
        if _is_full(rec):
            return rec
    return None


def _run(root: Path, ref: str | None, offline: bool, note: Note, trust_ref_config: bool = False) -> Record:
    project = open_project(root, ref, trust_config=trust_ref_config)
    try:
        outcome = run_and_record(
            project,
            TestOptions(offline=offline),
            argv=["promptctl", "test", *(["--ref", ref] if ref else [])],
        )
    finally:
        close = getattr(project.source, "close", None)
        if close is not None:
            close()
    st = outcome.run.stats
    note(
        f"  {outcome.run.rows_planned} rows: {st.replays} replayed, {st.cache_hits} cached, "
        f"{st.live_calls} live calls"
    )
    return outcome.record


def obtain(
    root: Path,
    ref: str | None,
    *,
    offline: bool = False,
    rerun: bool = False,
    note: Note = lambda _m: None,
    trust_ref_config: bool = False,
) -> SideResult:
    """The record for ``ref`` (None: the worktree): local record, git note, else a run (whose live
    calls are refused when the revision's config sends keys elsewhere, unless ``trust_ref_config``)."""
    if ref is None:
        head = head_commit(root)
        cfg = open_project(root).config
        paths = [p for p in (cfg.prompts_dir, cfg.cases_dir, "promptctl.yaml") if (root / p).exists()]
        if head is not None and not is_dirty(root, paths):
            side = obtain(
                root, head, offline=offline, rerun=rerun, note=note, trust_ref_config=trust_ref_config
            )
            side.label, side.ref = f"HEAD ({head[:10]})", None
            return side
        if head is not None and not rerun:
            folder = f"{head}-dirty-{content_hash(root, paths)[:12]}"
            mine = [p for p in records_for_commit(root, head, include_dirty=True) if p.parent.name == folder]
            rec = _best_local(mine)
            if rec is not None:
                return SideResult("worktree", None, head, True, rec, "record")
        note("worktree: running the suite (uncommitted changes, no record of this state yet)")
        return SideResult("worktree", None, head, True, _run(root, None, offline, note), "ran")
    sha = resolve(root, ref)
    label = ref if ref != sha else sha[:10]
    if not rerun:
        rec = _best_local(records_for_commit(root, sha))
        if rec is not None:
            return SideResult(label, ref, sha, False, rec, "record")
        rec = record_from_notes(root, sha)
        if rec is not None and _is_full(rec):
            return SideResult(label, ref, sha, False, rec, "git-note")
    note(f"{label}: running the suite at {sha[:10]} (no record of it yet)")
    return SideResult(label, ref, sha, False, _run(root, ref, offline, note, trust_ref_config), "ran")
