"""The run of a suite and its record: a rerun follows every edit (prompt, partial, case, dataset,
{file:} var, recording), --last-failed, an interrupted-free record's contents, and exit codes."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from promptctl.errors import EXIT_EXECUTION, EXIT_FAILED, EXIT_OK, UsageError
from promptctl.execute.recordings.store import RecordingWriter
from promptctl.execute.types import ModelResponse
from promptctl.records.run_record import TestOutcome, exit_code_for, run_and_record
from promptctl.run.suite_run import TestOptions, dry_run, run_tests
from promptctl.suite.project import open_project

FILES = {
    "promptctl.yaml": """
        model: fake
        models:
          fake:
            model: openai/gpt-4o-mini
            api_base: http://127.0.0.1:9/v1
            api_key_env: FAKE_KEY
    """,
    "prompts/echo.yaml": """
        inputs: {text: {}, extra: {default: ""}}
        params: {temperature: 0}
        messages:
          - role: system
            content: "You echo things back. {% include '_partials/sig.j2' %}"
          - role: user
            content: "Please echo: {{ text }}{{ extra }}"
    """,
    "prompts/_partials/sig.j2": "Signed: v1",
    "cases/echo.yaml": """
        prompt: echo
        cases:
          - id: alpha
            vars: {text: one}
            assert: [not_empty]
          - id: beta
            vars: {text: two, extra: {file: extra.txt}}
            assert: [{type: contains, value: two}]
    """,
    "cases/extra.txt": "-file-v1",
    "cases/data.yaml": """
        prompt: echo
        dataset: data.jsonl
        defaults:
          assert: [not_empty]
    """,
    "cases/data.jsonl": '{"id": "d1", "text": "from dataset v1"}\n',
}


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    for rel, text in FILES.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"), "utf-8")
    return root


def _run(root: Path, **kw: Any) -> TestOutcome:
    return run_and_record(open_project(root), TestOptions(offline=True, **kw))


def _messages(out: TestOutcome) -> dict[str, str]:
    return {r.row.case.key: " | ".join(m["content"] for m in r.row.messages) for r in out.run.results}


def _record_outputs(root: Path, out: TestOutcome, text: str) -> None:
    writer = RecordingWriter(root)
    for r in out.run.results:
        said = f"{text} {r.row.case.id} {r.row.case.vars['text']}"
        resp = ModelResponse(status="ok", text=said, source="live", attempts=1)
        writer.add(r.row.case.file, r.row.case.id, r.row.model_name, r.row.sample, r.row.fingerprint, resp)
    writer.write()


@pytest.mark.parametrize(
    ("rel", "old", "new", "key", "expect"),
    [
        ("prompts/echo.yaml", "Please echo:", "Echo please:", "echo::alpha", "Echo please: one"),
        ("prompts/_partials/sig.j2", "v1", "v2", "echo::alpha", "Signed: v2"),
        ("cases/echo.yaml", "text: one", "text: uno", "echo::alpha", "Please echo: uno"),
        ("cases/data.jsonl", "dataset v1", "dataset v2", "echo::d1", "from dataset v2"),
        ("cases/extra.txt", "-file-v1", "-file-v2", "echo::beta", "two-file-v2"),
    ],
)
def test_a_rerun_follows_every_edit(proj: Path, rel: str, old: str, new: str, key: str, expect: str) -> None:
    first = _run(proj)
    assert first.run.rows_planned == 3
    path = proj / rel
    path.write_text(path.read_text("utf-8").replace(old, new), "utf-8")
    assert expect in _messages(_run(proj))[key]


def test_replays_follow_edits_to_recordings(proj: Path) -> None:
    first = _run(proj)
    assert {r.status for r in first.run.results} == {"error"}  # offline, nothing recorded yet
    _record_outputs(proj, first, "out v1")
    out = _run(proj)
    assert out.run.stats.replays == 3 and out.summary["passed"] == 3
    rec = proj / "cases/__recordings__/echo.yaml"
    rec.write_text(rec.read_text("utf-8").replace("out v1 alpha", "out v2 alpha"), "utf-8")
    assert "out v2 alpha one" in {r.response.text for r in _run(proj).run.results}


def test_the_record_of_a_run(proj: Path) -> None:
    first = _run(proj)
    _record_outputs(proj, first, "out")
    out = _run(proj, keywords=["alpha"])
    rec = out.record
    assert out.record_path is not None and Path(out.record_path).is_file()
    assert not rec.complete and not rec.interrupted and rec.selection["keywords"] == ["alpha"]
    assert rec.selection["partial"] == ["-k alpha"] and rec.partial == ["-k alpha"]
    assert rec.selection["rows"] == 1 and rec.stats["replays"] == 1
    assert [r["case_key"] for r in rec.rows] == ["echo::alpha"]
    assert rec.rows[0]["output"] == "out alpha one" and rec.rows[0]["source"] == "recording"


def test_last_failed_reruns_what_failed_or_errored(proj: Path) -> None:
    first = _run(proj)
    _record_outputs(proj, first, "out")
    rec = proj / "cases/__recordings__/echo.yaml"
    rec.write_text(rec.read_text("utf-8").replace("out beta two", "out beta tw"), "utf-8")  # now fails
    assert _run(proj).summary["failed"] == 1
    again = _run(proj, last_failed=True)
    assert [r.row.case.id for r in again.run.results] == ["beta"]
    assert again.run.notes == ["--last-failed: rerunning 1 case(s) that failed or errored when they last ran"]


def test_prompt_file_paths_select_their_cases(proj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(proj)
    out = run_tests(open_project(proj), TestOptions(offline=True, paths=["prompts/echo.yaml"]))
    assert out.rows_planned == 3
    with pytest.raises(UsageError, match="no prompt named 'nope'"):
        run_tests(open_project(proj), TestOptions(offline=True, paths=["prompts/nope.yaml"]))


def test_record_and_offline_contradict(proj: Path) -> None:
    with pytest.raises(UsageError, match="--record needs model calls"):
        run_tests(open_project(proj), TestOptions(offline=True, record=True))


def test_dry_run_counts_what_would_be_called(proj: Path) -> None:
    plan = dry_run(open_project(proj), TestOptions(offline=True))
    assert (plan["rows"], plan["cases"], plan["calls"], plan["offline_misses"]) == (3, 3, 0, 3)


@pytest.mark.parametrize(
    ("counts", "fail_under", "code"),
    [
        ({"passed": 3, "failed": 0, "errors": 0, "skipped": 0}, None, EXIT_OK),
        ({"passed": 2, "failed": 1, "errors": 0, "skipped": 0}, None, EXIT_FAILED),
        ({"passed": 2, "failed": 1, "errors": 0, "skipped": 0}, 0.6, EXIT_OK),
        ({"passed": 2, "failed": 1, "errors": 0, "skipped": 0}, 0.7, EXIT_FAILED),
        ({"passed": 3, "failed": 0, "errors": 1, "skipped": 0}, None, EXIT_EXECUTION),
        # --fail-under forgives failures, never errors (the rate leaves errors out)
        ({"passed": 9, "failed": 0, "errors": 1, "skipped": 0}, 0.5, EXIT_EXECUTION),
        ({"passed": 1, "failed": 0, "errors": 0, "skipped": 1}, None, EXIT_EXECUTION),
    ],
)
def test_exit_codes(counts: dict[str, int], fail_under: float | None, code: int) -> None:
    judged = counts["passed"] + counts["failed"]
    summary = {**counts, "pass_rate": counts["passed"] / judged if judged else None}
    assert exit_code_for(summary, fail_under) == code
