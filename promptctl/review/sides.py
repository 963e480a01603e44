"""One side of a comparison: the record of a revision (or of the worktree), from the cheapest
place that has it — a local run record, then a record shared through git notes, then the rows of
earlier partial runs of that revision (shards, ``-k``, ``--affected``, a run ``--max-cost``
stopped) when together they cover the suite exactly, and only then a run of what is still
missing (through the cache and the committed recordings, so re-running an unchanged base costs
nothing).

A partial record is never taken as the whole side: a case it did not run would show as removed.
Rows of partial records are used only where they answer the very request the suite plans now
(same case, model, sample and request fingerprint)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptctl.errors import PromptctlError
from promptctl.git.repo import content_hash, head_commit, is_dirty, resolve
from promptctl.records.notes import records_from_notes
from promptctl.records.provenance import state_paths
from promptctl.records.record import (
    DamagedRecord,
    Record,
    now_iso,
    read_records,
    records_for_commit,
    write_record,
)
from promptctl.records.run_record import run_and_record
from promptctl.review.claims import ClaimKey, row_key
from promptctl.review.evaluable import why_not_evaluable
from promptctl.run.suite_run import TestOptions, plan_tests
from promptctl.suite.load import Suite
from promptctl.suite.project import Project, open_project

Note = Callable[[str], None]
RowKey = tuple[str, str, int]


@dataclass
class SideResult:
    """One side of a comparison: which revision, its record, and where the record came from."""

    label: str
    ref: str | None  # None: the worktree
    sha: str | None
    dirty: bool
    record: Record
    origin: str  # "record" | "git-note" | "combined" | "ran"
    pieces: list[str] = field(default_factory=list)  # the records a combined side was made of

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "ref": self.ref,
            "sha": self.sha,
            "dirty": self.dirty,
            "origin": self.origin,
            "record": self.record.path,
            "created_at": self.record.created_at,
            "complete": self.record.whole,
            "partial": self.record.partial,
            "pieces": self.pieces,
        }


def _read_all(paths: list[Path], note: Note) -> list[Record]:
    """The records at ``paths``; a damaged one is passed over with a warning (as ``show`` does)."""
    damaged: list[DamagedRecord] = []
    out = list(read_records(paths, damaged))
    for exc in damaged:
        note(f"warning: skipped {exc.path}: damaged run record ({exc.why}); delete it")
    return out


def _redo(row: dict[str, Any], claims: frozenset[ClaimKey]) -> bool:
    """Whether a stored row is asked again rather than taken: it could not be evaluated (no key,
    a provider failure ...), or a recording the pull request changed answered it (a claim: with a
    key now, it is verified by a call)."""
    if why_not_evaluable(row) or row.get("unverified"):
        return True
    key = (row.get("case_file"), row.get("case"), row.get("model"), row.get("sample"))
    return row.get("source") == "recording" and key in claims


def _claimed_rows(claims: frozenset[ClaimKey]) -> frozenset[ClaimKey]:
    return frozenset(row_key(k) for k in claims)


def _newest_whole(recs: list[Record], claims: frozenset[ClaimKey] = frozenset()) -> Record | None:
    """The newest record of the whole suite with no row to ask again (``_redo``): those are
    asked again, the others taken from it."""
    whole = [r for r in recs if r.whole and not any(_redo(row, claims) for row in r.rows)]
    return max(whole, key=lambda r: r.created_at) if whole else None


def _close(project: Project) -> None:
    close = getattr(project.source, "close", None)
    if close is not None:
        close()


def _run(
    root: Path,
    ref: str | None,
    offline: bool,
    note: Note,
    only: set[str] | None = None,
    trust_ref_config: bool = False,
    claims: frozenset[ClaimKey] = frozenset(),
) -> Record:
    project = open_project(root, ref, trust_config=trust_ref_config)
    try:
        outcome = run_and_record(
            project,
            TestOptions(offline=offline, only_keys=only, claims=claims),
            argv=["promptctl", "test", *(["--ref", ref] if ref else [])],
        )
    finally:
        _close(project)
    note("  " + outcome.run.stats.counts_line(len(outcome.run.results)))
    return outcome.record


def _planned(root: Path, ref: str | None) -> tuple[dict[RowKey, str], dict[str, Any]]:
    """Every row the suite at ``ref`` plans (key -> request fingerprint), in plan order, and the
    resolved config. Loads and renders; calls nothing."""
    project = open_project(root, ref)
    try:
        _suite, rows, _notes = plan_tests(project, TestOptions())
    finally:
        _close(project)
    return {(r.case.key, r.model_name, r.sample): r.fingerprint for r in rows}, project.config.public_dict()


def _take(
    pieces: list[Record], wanted: dict[RowKey, str], claims: frozenset[ClaimKey] = frozenset()
) -> tuple[dict[RowKey, dict[str, Any]], list[Record]]:
    """The newest finished row of each planned key among ``pieces``, only where it answered the
    very request planned now; and the records that gave any."""
    have: dict[RowKey, dict[str, Any]] = {}
    used = []
    for rec in sorted(pieces, key=lambda r: r.created_at, reverse=True):
        took = 0
        for row in rec.rows:
            key = (row["case_key"], row["model"], row["sample"])
            if key in have or wanted.get(key) != row.get("fingerprint") or _redo(row, claims):
                continue
            have[key] = row
            took += 1
        if took:
            used.append(rec)
    return have, used


def _assemble(
    root: Path,
    ref: str | None,
    label: str,
    pieces: list[Record],
    *,
    offline: bool,
    note: Note,
    state: tuple[str | None, bool, str | None],
    trust_ref_config: bool = False,
    claims: frozenset[ClaimKey] = frozenset(),
) -> tuple[Record, str, list[str]]:
    """The side's record from the rows of earlier partial runs, running what they miss. ``state``
    is what the pieces are records of: (commit, dirty, content hash)."""
    wanted, config = _planned(root, ref)
    have, used = _take(pieces, wanted, _claimed_rows(claims))
    if not have:
        at = f" at {state[0][:10]}" if ref is not None and state[0] else ""
        note(f"{label}: running the suite{at} (no record of it yet)")
        return _run(root, ref, offline, note, trust_ref_config=trust_ref_config, claims=claims), "ran", []
    missing = {key[0] for key in wanted if key not in have}
    where = [r.path or "?" for r in used]
    if missing:
        note(
            f"{label}: {len(have)} of {len(wanted)} rows from earlier partial runs; running the "
            f"{len(missing)} missing case(s) (through the cache and recordings)"
        )
        fresh = _run(root, ref, offline, note, only=missing, trust_ref_config=trust_ref_config, claims=claims)
        for row in fresh.rows:
            key = (row["case_key"], row["model"], row["sample"])
            if key[0] in missing and key in wanted:
                have[key] = row
        where.append(fresh.path or "?")
    else:
        note(f"{label}: all {len(wanted)} rows from {len(used)} earlier partial runs")
    record = Record(
        commit=state[0],
        dirty=state[1],
        content_hash=state[2],
        created_at=now_iso(),
        command=["promptctl", "compare"],
        config=config,
        ref=ref,
    )
    record.rows = [have[k] for k in wanted if k in have]
    lacking = len(wanted) - len(record.rows)
    partial = [f"{lacking} of {len(wanted)} rows missing"] if lacking else []
    partial += [f"--max-cost stopped it: {n} rows skipped" for n in [_skipped(record.rows)] if n]
    record.complete = not partial
    record.selection = {"combined_from": where, "rows": len(wanted), "partial": partial}
    if record.whole:
        write_record(root, record)  # the next compare takes it as it is
    return record, "combined", where


def _skipped(rows: list[dict[str, Any]]) -> int:
    return sum(r["status"] == "skipped" for r in rows)


def obtain(
    root: Path,
    ref: str | None,
    *,
    offline: bool = False,
    rerun: bool = False,
    note: Note = lambda _m: None,
    trust_ref_config: bool = False,
    claims: frozenset[ClaimKey] = frozenset(),
) -> SideResult:
    """The record for ``ref`` (None: the worktree): a whole local record, a whole git note, else
    the rows of partial records completed by a run of what they miss, else a run (whose live calls
    are refused when the revision's config sends keys elsewhere, unless ``trust_ref_config``).
    ``claims``: the recording entries a pull request changed (``review.claims``): their rows are
    called when a key is there, else replayed and marked unverified; a stored row they answered is
    not taken."""
    mine_rows = _claimed_rows(claims)
    if ref is None:
        head = head_commit(root)
        project = open_project(root)
        try:
            suite: Suite | None = project.load()
        except PromptctlError:
            suite = None  # the run below reports it
        paths = state_paths(root, project.config, suite)
        if head is not None and not is_dirty(root, paths):
            side = obtain(
                root,
                head,
                offline=offline,
                rerun=rerun,
                note=note,
                trust_ref_config=trust_ref_config,
                claims=claims,
            )
            side.label, side.ref = f"HEAD ({head[:10]})", None
            return side
        if head is not None and not rerun:
            digest = content_hash(root, paths)
            folder = f"{head}-dirty-{digest[:12]}"
            mine = _read_all(
                [p for p in records_for_commit(root, head, include_dirty=True) if p.parent.name == folder],
                note,
            )
            rec = _newest_whole(mine, mine_rows)
            if rec is not None:
                return SideResult("worktree", None, head, True, rec, "record")
            if mine:
                rec, origin, pieces = _assemble(
                    root,
                    None,
                    "worktree",
                    mine,
                    offline=offline,
                    note=note,
                    state=(head, True, digest),
                    claims=claims,
                )
                return SideResult("worktree", None, head, True, rec, origin, pieces)
        note("worktree: running the suite (uncommitted changes, no record of this state yet)")
        rec = _run(root, None, offline, note, claims=claims)
        return SideResult("worktree", None, head, True, rec, "ran")
    sha = resolve(root, ref)
    label = ref if ref != sha else sha[:10]
    if rerun:
        note(f"{label}: running the suite at {sha[:10]} (--rerun)")
        rec = _run(root, ref, offline, note, trust_ref_config=trust_ref_config, claims=claims)
        return SideResult(label, ref, sha, False, rec, "ran")
    local = _read_all(records_for_commit(root, sha), note)
    rec = _newest_whole(local, mine_rows)
    if rec is not None:
        return SideResult(label, ref, sha, False, rec, "record")
    noted, warnings = records_from_notes(root, sha)
    for w in warnings:
        note(f"warning: {w}")
    rec = _newest_whole(noted, mine_rows)
    if rec is not None:
        return SideResult(label, ref, sha, False, rec, "git-note")
    rec, origin, pieces = _assemble(
        root,
        ref,
        label,
        local + noted,
        offline=offline,
        note=note,
        state=(sha, False, None),
        trust_ref_config=trust_ref_config,
        claims=claims,
    )
    return SideResult(label, ref, sha, False, rec, origin, pieces)


@dataclass
class Extension:
    """What drawing more samples of some cases on one side did: the rows it added to the side's
    record, and what it spent."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    spent: float = 0.0
    live_calls: int = 0
    not_run: int = 0  # rows the budget (or --offline without a recording) left unanswered


def extend(
    root: Path,
    side: SideResult,
    samples: dict[str, tuple[int, int]],
    *,
    offline: bool = False,
    max_cost: float | None = None,
    note: Note = lambda _m: None,
    trust_ref_config: bool = False,
    allow_unknown_cost: bool = False,
    claims: frozenset[ClaimKey] = frozenset(),
) -> Extension:
    """Draw samples ``first..end-1`` of the given cases on ``side`` (case key -> (first, end))
    through the cache and the recordings -- sample indexes at or beyond ``repeat`` are new samples
    with their own fingerprints, so nothing is paid twice -- and add the finished rows to the
    side's record (in memory: the record on disk stays the suite's run at its ``repeat``). Live
    calls of a revision whose config sends keys elsewhere are refused as for the side's own run,
    unless ``trust_ref_config``; ``claims`` (the head's) are recording entries a pull request
    changed, verified by a call as in the side's own run."""
    ref = None if side.ref is None else (side.sha or side.ref)
    project = open_project(root, ref, trust_config=trust_ref_config)
    try:
        outcome = run_and_record(
            project,
            TestOptions(
                offline=offline,
                only_keys=set(samples),
                samples=dict(samples),
                max_cost=max_cost,
                allow_unknown_cost=allow_unknown_cost,
                write_record=False,
                claims=claims,
            ),
            argv=["promptctl", "compare", "--gate"],
        )
    finally:
        _close(project)
    st = outcome.run.stats
    note(f"  {side.label}: " + st.counts_line(len(outcome.run.results)))
    have = {(r["case_key"], r["model"], r["sample"]) for r in side.record.rows}
    added = [
        r
        for r in outcome.record.rows
        if r["status"] != "skipped" and (r["case_key"], r["model"], r["sample"]) not in have
    ]
    side.record.rows.extend(added)
    return Extension(added, st.spent, st.live_calls, st.not_run)
