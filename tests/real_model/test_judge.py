"""`judge` with the real model as the judge: its verdict follows from what the judge really answered
(seen by the proxy), and an answer that is not the JSON verdict is an error, never a pass."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.real_model.conftest import cli, last_record
from tests.real_model.proxy import Exchange, RecordingProxy

pytestmark = pytest.mark.real_model

PROMPT = """
    inputs: {country: {}}
    params: {temperature: 0, max_tokens: 40}
    messages:
      - role: user
        content: "What is the capital of {{ country }}? Answer in one sentence."
"""
RUBRIC = "The answer names Paris as the capital of France."
CASES = f"""
    prompt: capital
    cases:
      - id: judged
        vars: {{country: France}}
        assert:
          - type: judge
            rubric: {RUBRIC}
      - id: judged-negated
        vars: {{country: France}}
        assert:
          - type: judge
            rubric: {RUBRIC}
            not: true
"""
# A judge prompt that asks for prose, so the judge's answer is certainly not the JSON verdict.
PROSE_JUDGE = """
    messages:
      - role: user
        content: "In one short sentence, say what you think of this answer: {{ output }}"
"""
FENCE = re.compile(r"\s*```(?:json)?[ \t]*\n(.*?)\n?[ \t]*```\s*", re.DOTALL | re.IGNORECASE)


def judge_score(answer: str | None) -> float | None:
    """The score of a well-formed verdict {"score": 0..1, "reason": "..."}, None for anything else."""
    if not answer or not answer.strip():
        return None
    m = FENCE.fullmatch(answer)
    try:
        data = json.loads(m.group(1) if m else answer)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("reason", ""), str):
        return None
    score = data.get("score")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        return None
    return float(score) if 0 <= score <= 1 else None


def judge_calls(proxy: RecordingProxy, marker: str) -> list[Exchange]:
    return [e for e in proxy.chats() if any(marker in str(m.get("content")) for m in e.messages)]


def check_rows(rows: list[dict[str, Any]], answers: list[str | None]) -> None:
    """Each row's verdict is the one the judge's real answer implies."""
    assert len(set(answers)) == 1, answers  # identical judge requests (temperature 0) are sent once
    score = judge_score(answers[0])
    for row in rows:
        (got,) = row["asserts"]
        negated = row["case"] == "judged-negated"
        if score is None:
            assert row["status"] == "error" and got["error"] is True and got["passed"] is False, row
            assert "judge" in got["reason"], got
        else:
            passes = (score >= 0.5) != negated
            assert got["error"] is False and got["passed"] is passes, (answers[0], row)
            assert row["status"] == ("pass" if passes else "fail")


def test_judge_verdict_follows_the_real_judge_answer(
    make_project: Callable[[dict[str, str]], Path], proxy: RecordingProxy
) -> None:
    root = make_project({"prompts/capital.yaml": PROMPT, "cases/capital.yaml": CASES})
    r = cli(root, "test")
    calls = judge_calls(proxy, "<rubric>")  # the built-in judge prompt
    assert calls, [e.messages for e in proxy.chats()]
    for e in calls:
        assert e.request["temperature"] == 0 and RUBRIC in str(e.messages)
        assert "Paris" in str(e.messages)  # the graded output is in the judge's prompt
    rows = last_record(root)["rows"]
    check_rows(rows, [e.text for e in calls])
    if judge_score(calls[0].text) is None:
        assert r.code == 3 and "0 passed" in r.stdout, r.output


def test_judge_answer_that_is_not_json_is_an_error_never_a_pass(
    make_project: Callable[[dict[str, str]], Path], proxy: RecordingProxy
) -> None:
    root = make_project(
        {"prompts/capital.yaml": PROMPT, "prompts/_judge.yaml": PROSE_JUDGE, "cases/capital.yaml": CASES}
    )
    r = cli(root, "test")
    calls = judge_calls(proxy, "say what you think of this answer")
    assert calls and all(e.status == 200 for e in calls)
    answer = calls[0].text
    assert judge_score(answer) is None, f"the judge unexpectedly answered a verdict: {answer!r}"
    rows = last_record(root)["rows"]
    check_rows(rows, [e.text for e in calls])
    # Negated or not, an unreadable judge approves nothing: every row is an error, exit 3.
    assert {row["status"] for row in rows} == {"error"}
    assert r.code == 3 and "0 passed, 0 failed, 2 errors" in r.stdout, r.output
    assert "judge answer is not JSON" in r.stdout, r.output
