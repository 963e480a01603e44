"""Merging the records of a sharded run (``--shard I/N`` on several machines) into one."""

from __future__ import annotations

from pathlib import Path

from promptctl.errors import UsageError
from promptctl.records.record import Record, read_record, write_record


def merge_records(root: Path, paths: list[Path]) -> Record:
    """Combine shard records of one commit into one record (rows de-duplicated by row key)."""
    if not paths:
        raise UsageError("records merge: no record files given")
    recs = [read_record(p) for p in paths]
    commits = {(r.commit, r.dirty, r.content_hash) for r in recs}
    if len(commits) != 1:
        raise UsageError(
            "records merge: the records come from different commits or worktree states: "
            + ", ".join(sorted(str(c[0])[:12] for c in commits))
        )
    base = recs[0]
    rows: dict[tuple[str, str, int], dict[str, object]] = {}
    for rec in sorted(recs, key=lambda r: r.created_at):
        for row in rec.rows:
            rows[(str(row["case_key"]), str(row["model"]), int(row["sample"]))] = row
    partial = _merged_partial(recs)
    merged = Record(
        commit=base.commit,
        dirty=base.dirty,
        content_hash=base.content_hash,
        created_at=max(r.created_at for r in recs),
        command=["promptctl", "records", "merge"],
        config=base.config,
        rows=list(rows.values()),
        complete=not partial,
        selection={
            "merged_from": [str(p) for p in paths],
            "shards": [r.selection.get("shard") for r in recs],
            "partial": partial,
        },
    )
    write_record(root, merged)
    return merged


def _merged_partial(recs: list[Record]) -> list[str]:
    """Why the merge is not the whole suite: a shard missing, or a shard that was itself partial
    for another reason (a selection, a --max-cost stop, an interruption)."""
    other: list[str] = []
    shards: set[int] = set()
    totals: set[int] = set()
    for r in recs:
        for reason in r.partial:
            index, sep, total = reason.removeprefix("--shard ").partition("/")
            if reason.startswith("--shard ") and sep and index.isdigit() and total.isdigit():
                shards.add(int(index))
                totals.add(int(total))
            elif reason not in other:
                other.append(reason)
        if not r.partial:
            return []  # one record is the whole suite already
    if len(totals) > 1:
        other.append("shards of different splits: " + ", ".join(f"/{n}" for n in sorted(totals)))
    elif totals:
        (n,) = totals
        missing = sorted(set(range(1, n + 1)) - shards)
        if missing:
            other.append(f"shards {', '.join(f'{i}/{n}' for i in missing)} missing")
    return other
