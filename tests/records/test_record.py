"""Run records on disk: atomic JSON per commit folder, read back, newest first, newer schemas refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptctl.errors import UsageError
from promptctl.records.merge import merge_records
from promptctl.records.record import (
    RUNS_DIR,
    DamagedRecord,
    latest_record,
    list_records,
    read_record,
    scan_local,
    write_record,
)
from tests.helpers import git, init_repo
from tests.records.rows import record, row


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    rec = record([row("a"), row("b", "fail")])
    path = write_record(tmp_path, rec)
    assert path.parent == tmp_path / RUNS_DIR / ("a" * 40)
    back = read_record(path)
    assert back.rows == rec.rows and back.commit == rec.commit and back.path == str(path)
    data = json.loads(path.read_text("utf-8"))
    assert data["summary"]["failed"] == 1 and data["schema_version"] == 1 and "path" not in data


def test_dirty_records_go_to_their_own_folder(tmp_path: Path) -> None:
    rec = record([row("a")])
    rec.dirty, rec.content_hash = True, "0123456789abcdef"
    assert write_record(tmp_path, rec).parent.name == "a" * 40 + "-dirty-0123456789ab"


def test_latest_record_and_listing(tmp_path: Path) -> None:
    assert latest_record(tmp_path) is None
    first = write_record(tmp_path, record([row("a")]))
    second = write_record(tmp_path, record([row("b")], commit="b" * 40))
    assert list_records(tmp_path) == [first, second]
    latest = latest_record(tmp_path)
    assert latest is not None and latest.commit == "b" * 40
    by_sha = latest_record(tmp_path, "a" * 40)
    assert by_sha is not None and by_sha.rows[0]["case"] == "a"


def test_a_record_from_a_newer_promptctl_is_refused(tmp_path: Path) -> None:
    path = write_record(tmp_path, record([row("a")]))
    data = json.loads(path.read_text("utf-8"))
    path.write_text(json.dumps({**data, "schema_version": 99}), "utf-8")
    with pytest.raises(UsageError, match="newer promptctl"):
        read_record(path)


def test_merging_shards(tmp_path: Path) -> None:
    one = write_record(tmp_path, record([row("a")]))
    two = write_record(tmp_path, record([row("b", "fail")]))
    merged = merge_records(tmp_path, [one, two])
    assert sorted(r["case"] for r in merged.rows) == ["a", "b"] and merged.complete
    other = write_record(tmp_path, record([row("c")], commit="c" * 40))
    with pytest.raises(UsageError, match="different commits"):
        merge_records(tmp_path, [one, other])


def test_a_damaged_record_is_refused_and_passed_over(tmp_path: Path) -> None:
    good = write_record(tmp_path, record([row("a")]))
    bad = write_record(tmp_path, record([row("b")]))
    data = json.loads(bad.read_text("utf-8"))
    bad.write_text(json.dumps({**data, "rows": [{**data["rows"][0], "status": "excellent"}]}), "utf-8")
    # the record schema is what judges a record damaged: one kind of error, one message, one hint
    with pytest.raises(
        DamagedRecord, match=r"damaged run record \(rows\[0\]\.status: 'excellent' is not one of"
    ) as e:
        read_record(bad)
    assert e.value.hint == f"delete it: rm '{bad}'" and e.value.path == bad
    truncated = write_record(tmp_path, record([row("c")]))
    truncated.write_text(truncated.read_text("utf-8")[:40], "utf-8")
    with pytest.raises(DamagedRecord, match="not valid JSON at line 1"):
        read_record(truncated)
    skipped: list[DamagedRecord] = []
    latest = latest_record(tmp_path, skipped=skipped)
    assert latest is not None and latest.path == str(good)
    assert [x.path for x in skipped] == [truncated, bad]


def test_a_record_written_with_an_incomplete_reason_is_read_with_it(tmp_path: Path) -> None:
    """Before ``selection.partial`` a record said why it was incomplete in ``incomplete_reason``:
    such a record passes the schema and is partial for that reason; new records never write it."""
    path = write_record(tmp_path, record([row("a")]))
    data = json.loads(path.read_text("utf-8"))
    reason = "stopped after 1 failing case (-x/--maxfail 1): 8 of 10 rows not run"
    path.write_text(json.dumps({**data, "complete": False, "incomplete_reason": reason}), "utf-8")
    back = read_record(path)
    assert back.partial == [reason] and not back.whole
    assert "incomplete_reason" not in back.to_dict() and "incomplete_reason" not in data


def test_records_tracked_by_git_are_not_listed(tmp_path: Path) -> None:
    init_repo(tmp_path, {"README.md": "x\n"})
    mine = write_record(tmp_path, record([row("a")]))
    committed = write_record(tmp_path, record([row("b")], commit="b" * 40))
    git(tmp_path, "add", "-f", str(committed))
    scan = scan_local(tmp_path)
    assert scan.paths == [mine] == list_records(tmp_path)
    assert len(scan.warnings) == 1 and "ignoring 1 run record tracked by git" in scan.warnings[0]
    assert latest_record(tmp_path, "b" * 40) is None


def test_merged_shards_are_whole_only_when_every_shard_is_there(tmp_path: Path) -> None:
    def shard(case: str, i: int, n: int, *extra: str) -> Path:
        rec = record([row(case)])
        rec.complete, rec.selection = False, {"shard": [i, n], "partial": [f"--shard {i}/{n}", *extra]}
        return write_record(tmp_path, rec)

    one, two, three = shard("a", 1, 3), shard("b", 2, 3), shard("c", 3, 3)
    partial = merge_records(tmp_path, [one, two])
    assert not partial.complete and partial.partial == ["shards 3/3 missing"]
    whole = merge_records(tmp_path, [one, two, three])
    assert whole.complete and whole.whole and len(whole.rows) == 3
    cut = shard("c", 3, 3, "--max-cost stopped it: 1 of 1 rows skipped")
    assert merge_records(tmp_path, [one, two, cut]).partial == ["--max-cost stopped it: 1 of 1 rows skipped"]
