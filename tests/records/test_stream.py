"""A record written row by row as rows finish: the same record as written at once, rows in plan
order whatever order they finished in, nothing half-written, no spool left behind; and a CLI run
that keeps no finished row in memory."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

from promptctl.records.record import RUNS_DIR, list_records, read_record, write_record
from promptctl.records.stream import RecordStream
from promptctl.records.summary import summarize, unit_rows
from tests.fakeserver import FakeServer
from tests.helpers import init_repo, invoke
from tests.records.rows import record, row


def _rows() -> list[dict[str, object]]:
    return [
        row("a"),
        row("b", "fail"),
        row("c", "error", error="boom", output=None),
        row("d", sample=1, metric=("m", 0.5)),
        row("d", sample=0, metric=("m", 0.7), latency_ms=None),
        row("e", "skipped", cost=None),
        row("f", "pass", source="cache", output="x" * 5000),
    ]


def test_streamed_record_equals_the_record_written_at_once(tmp_path: Path) -> None:
    rows = _rows()
    stream = RecordStream(tmp_path)
    for index in (3, 0, 6, 2, 5, 1, 4):  # any finishing order
        stream.add(index, rows[index])
    spools = list((tmp_path / RUNS_DIR).glob(".spool-*"))
    assert len(spools) == 1
    assert stream.summary() == summarize(rows)
    assert stream.builder.unit_rows() == unit_rows(rows)  # plan order, not finishing order
    streamed = record([])
    path = stream.finish(tmp_path, streamed)
    at_once = write_record(tmp_path / "other", record(rows))
    assert json.loads(path.read_text("utf-8")) == json.loads(at_once.read_text("utf-8"))
    back = read_record(path)
    assert back.rows == rows and streamed.path == str(path)
    assert not list((tmp_path / RUNS_DIR).glob(".spool-*")) and list_records(tmp_path) == [path]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left
    # What the failure table needs: the rows that did not pass, in plan order, output cut.
    assert [r["case"] for r in stream.attention] == ["b", "c", "e"]


def test_an_interrupted_stream_keeps_what_finished(tmp_path: Path) -> None:
    rows = _rows()
    stream = RecordStream(tmp_path)
    for index in (4, 1):
        stream.add(index, rows[index])
    path = stream.finish(tmp_path, record([]))
    data = json.loads(path.read_text("utf-8"))
    assert data["rows"] == [rows[1], rows[4]] and data["summary"] == summarize([rows[1], rows[4]])


def test_a_dead_process_spool_is_removed_and_a_live_one_kept(tmp_path: Path) -> None:
    runs = tmp_path / RUNS_DIR
    runs.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (runs / f".spool-{dead.pid}-00000000.jsonl").write_text("{}\n")
    (runs / f".spool-{os.getppid()}-11111111.jsonl").write_text("{}\n")
    stream = RecordStream(tmp_path)
    assert len(list(runs.glob(".spool-*"))) == 2  # nothing happens before the first row
    stream.add(0, {"status": "pass", "case_key": "p::c", "model": "m"})
    names = sorted(p.name for p in runs.glob(".spool-*"))
    assert f".spool-{dead.pid}-00000000.jsonl" not in names
    assert f".spool-{os.getppid()}-11111111.jsonl" in names and len(names) == 2
    stream.discard()
    assert [p.name for p in runs.glob(".spool-*")] == [f".spool-{os.getppid()}-11111111.jsonl"]


def test_cli_run_streams_rows_and_keeps_none(tmp_path: Path, monkeypatch: object) -> None:
    """`promptctl test` keeps no finished row in memory (no RowResult outlives its row), yet its
    record holds every row, in plan order, and the table lists the failures in plan order."""
    import pytest

    from promptctl.run.runner import RowResult

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("FAKE_KEY", "sk-test-0123456789abcdef")
    n = 24  # each row scans the whole heap (litellm's included): ~0.4 s a row
    cases = "".join(
        f"  - {{id: c{i:02d}, vars: {{text: 'row {i}'}}, assert: [{{type: contains, value: '{'row' if i % 7 else 'nope'}'}}]}}\n"
        for i in range(n)
    )
    seen: list[int] = []
    real_add = RecordStream.add

    def spy(self: RecordStream, index: int, data: dict[str, object]) -> None:
        gc.collect()
        seen.append(sum(isinstance(o, RowResult) for o in gc.get_objects()))
        real_add(self, index, data)

    monkeypatch.setattr(RecordStream, "add", spy)
    with FakeServer(spec={"mode": "echo"}, latency=0.01, jitter=0.02) as srv:
        cfg = f"model: f\nconcurrency: 8\nmodels:\n  f:\n    model: openai/m\n    api_base: {srv.url}\n    api_key_env: FAKE_KEY\n"
        root = init_repo(
            tmp_path / "repo",
            {
                "promptctl.yaml": cfg,
                "prompts/echo.yaml": 'inputs: {text: {}}\ntemplate: "{{ text }}"\n',
                "cases/echo.yaml": f"prompt: echo\ncases:\n{cases}",
            },
        )
        r = invoke("test", cwd=root)
    assert r.exit_code == 1, r.output
    assert len(seen) == n and max(seen) <= 8, seen  # only rows being finished, never all of them
    [path] = list_records(root)
    data = json.loads(path.read_text("utf-8"))
    assert [x["case"] for x in data["rows"]] == [f"c{i:02d}" for i in range(n)]
    failing = [f"c{i:02d}" for i in range(n) if i % 7 == 0]
    assert [x["case"] for x in data["rows"] if x["status"] == "fail"] == failing
    table = [line.split()[1] for line in r.stdout.splitlines() if line.startswith("echo ")]
    assert table == failing
    assert data["summary"]["failed"] == len(failing) and data["complete"] is True
    assert f"{n - len(failing)} passed, {len(failing)} failed" in r.stdout
