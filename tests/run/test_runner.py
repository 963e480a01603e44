"""The runner on its own: each row answered by a recording, then the cache, else (offline) an error
naming the fix; assertions decide the row's status; results arrive as each row finishes."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptctl.execute.cache import ResponseCache
from promptctl.execute.recordings.store import Recordings, RecordingWriter
from promptctl.execute.types import ModelResponse
from promptctl.git.sources import WorktreeSource
from promptctl.run.options import RunOptions
from promptctl.run.plan import Row, build_plan
from promptctl.run.runner import RowResult, Runner, row_status, run_rows
from promptctl.suite.config import load_config
from promptctl.suite.load import load_suite
from promptctl.suite.render import make_renderer
from promptctl.validate.types import AssertionResult
from tests.helpers import write_files

FILES = {
    "promptctl.yaml": "model: openai/gpt-4o-mini\n",
    "prompts/echo.yaml": "inputs: {text: {}}\ntemplate: 'Echo {{ text }}'\n",
    "cases/echo.yaml": """
        prompt: echo
        cases:
          - {id: recorded, vars: {text: one}, assert: [{type: contains, value: one}]}
          - {id: cached, vars: {text: two}, assert: [{type: contains, value: two}]}
          - {id: missing, vars: {text: three}, assert: [not_empty]}
    """,
}


def _rows(root: Path) -> list[Row]:
    write_files(root, FILES)
    suite = load_suite(load_config(root), WorktreeSource(root))
    return build_plan(suite, make_renderer(suite))


def _ok(text: str) -> ModelResponse:
    return ModelResponse(status="ok", text=text, source="live", attempts=1, cost=0.001, latency_ms=5.0)


def test_recordings_then_cache_then_an_offline_error(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    by_id = {r.case.id: r for r in rows}
    writer = RecordingWriter(tmp_path)
    rec = by_id["recorded"]
    writer.add(rec.case.file, rec.case.id, rec.model_name, rec.sample, rec.fingerprint, _ok("one!"))
    writer.write()
    cache = ResponseCache.for_root(tmp_path)
    cache.put(by_id["cached"].fingerprint, _ok("not it"), model="openai/gpt-4o-mini")
    cache.flush()
    seen: list[RowResult] = []
    runner = Runner(
        load_config(tmp_path),
        RunOptions(offline=True),
        cache=cache,
        recordings=Recordings(WorktreeSource(tmp_path)),
        on_result=seen.append,
    )
    results = {r.row.case.id: r for r in run_rows(runner, rows)}
    cache.close()
    assert len(seen) == 3 and runner.elapsed is not None
    assert (results["recorded"].response.source, results["recorded"].status) == ("recording", "pass")
    assert (results["cached"].response.source, results["cached"].status) == ("cache", "fail")
    missing = results["missing"]
    assert missing.status == "error" and missing.score is None
    assert missing.response.error is not None
    assert "it has no recording; refresh with `promptctl test --record cases/echo.yaml -k missing`" in (
        missing.response.error
    )
    st = runner.stats
    assert (st.replays, st.cache_hits, st.live_calls) == (1, 1, 0)


def test_a_stale_recording_is_named_as_such(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    writer = RecordingWriter(tmp_path)
    for r in rows:
        writer.add(r.case.file, r.case.id, r.model_name, r.sample, "0" * 64, _ok("old"))
    writer.write()
    runner = Runner(
        load_config(tmp_path), RunOptions(offline=True), recordings=Recordings(WorktreeSource(tmp_path))
    )
    results = run_rows(runner, rows)
    assert all("its recording is stale" in (r.response.error or "") for r in results)


def _assertion(passed: bool, error: bool = False) -> AssertionResult:
    return AssertionResult(type="t", label="t", passed=passed, score=1.0 if passed else 0.0, error=error)


@pytest.mark.parametrize(
    ("status", "asserts", "expected"),
    [
        ("ok", [], "pass"),
        ("ok", [_assertion(True), _assertion(True)], "pass"),
        ("ok", [_assertion(True), _assertion(False)], "fail"),
        ("ok", [_assertion(False, error=True)], "error"),
        ("ok", [_assertion(False), _assertion(False, error=True)], "fail"),  # a definite failure wins
        ("error", [], "error"),
        ("skipped", [], "skipped"),
    ],
)
def test_row_status(status: str, asserts: list[AssertionResult], expected: str) -> None:
    assert row_status(ModelResponse(status=status), asserts) == expected  # type: ignore[arg-type]
