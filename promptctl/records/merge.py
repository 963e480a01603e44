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
    merged = Record(
        commit=base.commit,
        dirty=base.dirty,
        content_hash=base.content_hash,
        created_at=max(r.created_at for r in recs),
        command=["promptctl", "records", "merge"],
        config=base.config,
        rows=list(rows.values()),
        complete=all(r.complete for r in recs),
        selection={
            "merged_from": [str(p) for p in paths],
            "shards": [r.selection.get("shard") for r in recs],
        },
    )
    write_record(root, merged)
    return merged
