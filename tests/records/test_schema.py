"""The record schema: what a stored record must look like before it is believed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from promptctl.records.notes import record_from_notes
from promptctl.records.record import list_records, read_record
from promptctl.records.schema import record_problems
from tests.fakeserver import FakeServer, last_user_message
from tests.helpers import git, invoke
from tests.records.rows import record, row
from tests.review.common import KEY, new_repo


def good() -> dict[str, Any]:
    return record([row("a"), row("b", "fail", metric=("quality", 0.2)), row("c", "error")]).to_dict()


def test_a_written_record_is_sound() -> None:
    assert record_problems(good()) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"schema_version": 99}, "schema_version 99 is newer than this promptctl reads (1)"),
        ({"schema_version": "1"}, "schema_version: expected an integer, got '1'"),
        ({"schema_version": 0}, "schema_version 0 is not a record version"),
        ({"rows": "all good"}, "rows: expected a list, got 'all good'"),
        ({"complete": 1}, "complete: expected true or false, got 1"),
        ({"commit": 7}, "commit: expected a string or null, got 7"),
        ({"created_at": None}, "created_at: expected a string, got None"),
        ({"rows": [5]}, "rows[0]: expected an object, got 5"),
        ({"rows": [{**row("a"), "status": "great"}]}, "rows[0].status: 'great' is not one of"),
        ({"rows": [{**row("a"), "score": 1.5}]}, "rows[0].score: 1.5 is outside [0, 1]"),
        ({"rows": [{**row("a"), "score": float("nan")}]}, "rows[0].score: expected a number or null"),
        ({"rows": [{**row("a"), "sample": True}]}, "rows[0].sample: expected an integer, got True"),
        ({"rows": [{**row("a"), "sample": -1}]}, "rows[0].sample: -1 is negative"),
        ({"rows": [{**row("a"), "case_key": "q::z"}]}, "rows[0].case_key: 'q::z' is not prompt::case"),
        ({"rows": [{**row("a"), "source": "imagination"}]}, "rows[0].source: 'imagination' is not one of"),
        ({"rows": [{**row("a"), "asserts": [{"type": "x"}]}]}, "rows[0].asserts[0]: missing 'label'"),
        (
            {
                "rows": [
                    {
                        **row("a", metric=("q", 0.5)),
                        "asserts": [{**row("a", metric=("q", 0.5))["asserts"][0], "score": "high"}],
                    }
                ]
            },
            "rows[0].asserts[0].score: expected a number, got 'high'",
        ),
        ({"rows": [row("a"), row("a")]}, "rows[1]: a second row for p::a [m] sample 0"),
    ],
)
def test_problems_are_named_with_their_place(change: dict[str, Any], problem: str) -> None:
    problems = record_problems({**good(), **change})
    assert problems and any(p.startswith(problem) for p in problems), problems


def test_missing_fields_and_not_an_object() -> None:
    data = good()
    del data["rows"]
    assert record_problems(data) == ["missing 'rows'"]
    assert record_problems([1, 2]) == ["not a JSON object (got list)"]
    assert len(record_problems({**good(), "rows": [{}] * 10})) == 3  # the first few, not thousands


# -- everything promptctl writes is a sound record ----------------------------------------------------
E2E_CONFIG = """
model: fake
judge_model: grader
embedding_model: emb
concurrency: 1
max_retries: 0
timeout: 5
models:
  fake: {{model: openai/gpt-4o-mini, api_base: "{url}", api_key_env: FAKE_KEY}}
  grader: {{model: openai/grader-model, api_base: "{url}", api_key_env: FAKE_KEY}}
  emb: {{model: openai/text-embedding-fake, api_base: "{url}", api_key_env: FAKE_KEY}}
"""
E2E_CASES = """
prompt: echo
cases:
  - id: sampled
    vars: {text: flaky}
    repeat: 3
    min_pass_rate: 0.5
    assert: [{type: contains, value: flaky}, {type: equals, value: never}]
  - id: judged
    vars: {text: thank you kindly}
    assert:
      - {type: judge, rubric: "Is it polite?", metric: tone}
      - {type: similar, value: thank you very kindly, threshold: 0.5}
  - id: reviewed
    vars: {text: a reply a person must read}
    assert: [{type: human}]
"""


def _e2e_answer(body: dict[str, Any]) -> str:
    if body["model"] == "grader-model":
        return json.dumps({"score": 0.9, "reason": "polite"})
    return last_user_message(body)


@pytest.mark.parametrize("extra", [[], ["-x"], ["-k", "judged"]], ids=["whole", "maxfail", "keyword"])
def test_every_record_a_run_writes_is_sound_and_shared_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str]
) -> None:
    """Records with what the other workflows add — pending ``human`` verdicts, ``similar`` with
    embeddings, judge verdicts, sampled cases, an ``-x`` stop, a selection — pass the record
    schema: read back (never "damaged"), pushed to notes when whole, read from notes."""
    monkeypatch.setenv("FAKE_KEY", KEY)
    with FakeServer(responder=_e2e_answer) as srv:
        root, sha = new_repo(
            tmp_path / "repo",
            {
                "promptctl.yaml": E2E_CONFIG.format(url=srv.url),
                "prompts/echo.yaml": 'inputs: {text: {}}\ntemplate: "{{ text }}"\n',
                "cases/echo.yaml": E2E_CASES,
            },
        )
        r = invoke("test", *extra, cwd=root)
        assert r.exit_code == (0 if "-k" in extra else 1), r.output
    (path,) = list_records(root)
    data = json.loads(path.read_text("utf-8"))
    assert record_problems(data) == []
    rec = read_record(path)
    statuses = {row["case"]: row["status"] for row in rec.rows}
    if not extra:
        assert statuses == {"judged": "pass", "reviewed": "pending", "sampled": "fail"}
        assert rec.whole and rec.partial == [] and "incomplete_reason" not in data
        assert any(a.get("pending") for row in rec.rows for a in row["asserts"])
    else:
        assert not rec.complete and rec.partial == data["selection"]["partial"] != []
        assert rec.partial[0].startswith("stopped after 1 failing case" if "-x" in extra else "-k judged")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(root, "remote", "add", "origin", str(bare))
    pushed = invoke("records", "push", cwd=root)
    from_notes, warnings = record_from_notes(root, sha)
    assert warnings == [] and "warning" not in pushed.stderr, pushed.output
    if not extra:
        assert pushed.exit_code == 0, pushed.output
        assert from_notes is not None and from_notes.whole and len(from_notes.rows) == len(rec.rows)
    else:  # a partial record is never shared as the commit's result
        assert pushed.exit_code == 2 and "no promptctl notes to push" in pushed.stderr
        assert from_notes is None
