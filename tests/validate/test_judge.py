from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from promptctl.execute.types import ModelResponse
from promptctl.validate import evaluate
from promptctl.validate.judge import parse_verdict
from promptctl.validate.registry import CheckError
from tests.validate.util import A, errors, fails, make_ctx, passes


class FakeJudge:
    """Records every call and answers with a fixed ModelResponse."""

    def __init__(self, text: str | None = None, *, status: str = "ok", error: str | None = None) -> None:
        self.response = ModelResponse(status=status, text=text, error=error)  # type: ignore[arg-type]
        self.calls: list[tuple[str, list[dict[str, str]], dict[str, Any]]] = []
        self.slots: list[int] = []

    async def __call__(
        self, model: str, messages: list[dict[str, str]], params: dict[str, Any], *, slot: int = 0
    ) -> ModelResponse:
        self.slots.append(slot)
        self.calls.append((model, messages, params))
        return self.response


RUBRIC = "The answer is polite."


def test_good_json_passes_and_prompt_is_rendered() -> None:
    j = FakeJudge('{"score": 0.9, "reason": "Polite and clear."}')
    r = passes(
        A("judge", rubric=RUBRIC), "Thank you {{ evil }}!", judge=j, expected="Thanks", vars={"q": "hi"}
    )
    assert r.score == pytest.approx(0.9)
    assert "Polite and clear." in r.reason
    model, messages, params = j.calls[0]
    assert model == "gpt-4o-mini" and params == {"temperature": 0}
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert RUBRIC in user and "Thank you {{ evil }}!" in user  # values are data, not templates
    assert "Thanks" in user and '"q": "hi"' in user


def test_judge_model_choice_and_fenced_answer() -> None:
    j = FakeJudge('```json\n{"score": 1, "reason": "ok"}\n```')
    passes(A("judge", rubric=RUBRIC), "x", judge=j, judge_model="judge-alias")
    passes(A("judge", rubric=RUBRIC, model="explicit"), "x", judge=j, judge_model="judge-alias")
    assert [c[0] for c in j.calls] == ["judge-alias", "explicit"]


def test_input_uses_rendered_messages_when_given() -> None:
    j = FakeJudge('{"score": 1, "reason": "ok"}')
    msgs = [{"role": "user", "content": "Translate: bonjour"}]
    passes(A("judge", rubric=RUBRIC), "hello", judge=j, extra={"messages": msgs})
    assert "Translate: bonjour" in j.calls[0][1][1]["content"]


def test_low_score_fails_threshold() -> None:
    j = FakeJudge('{"score": 0.4, "reason": "Curt."}')
    r = fails(A("judge", rubric=RUBRIC), "x", judge=j)
    assert r.reason == "judge score 0.40 < threshold 0.50: Curt."
    passes(A("judge", rubric=RUBRIC, threshold=0.3), "x", judge=j)


@pytest.mark.parametrize(
    "answer",
    [
        "The answer looks polite to me, I'd give it 0.8.",
        '{"reason": "no score"}',
        '{"score": 1.5, "reason": "too high"}',
        '{"score": -0.1, "reason": "too low"}',
        '{"score": "0.9", "reason": "string score"}',
        '{"score": true, "reason": "bool"}',
        "[0.9]",
        '{"score": 0.9, "reason": "x"} trailing prose',
        "",
    ],
)
def test_unparseable_answers_are_errors(answer: str) -> None:
    errors(A("judge", rubric=RUBRIC), "x", judge=FakeJudge(answer))
    # ...and negation never turns them into a pass
    errors(A("judge", rubric=RUBRIC, negate=True), "x", judge=FakeJudge(answer))


def test_error_status_and_missing_judge() -> None:
    r = errors(
        A("judge", rubric=RUBRIC), "x", judge=FakeJudge(status="error", error="RateLimitError: slow down")
    )
    assert "RateLimitError" in r.reason
    r = errors(A("judge", rubric=RUBRIC), "x")
    assert "no judge" in r.reason


def test_parse_verdict() -> None:
    assert parse_verdict('{"score": 0, "reason": "bad"}') == (0.0, "bad")
    assert parse_verdict(' {"score": 1} ') == (1.0, "")
    with pytest.raises(CheckError):
        parse_verdict('{"score": NaN}')


def test_user_override(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "_judge.yaml").write_text(
        "description: custom\nmessages:\n  - role: user\n    content: 'CUSTOM {{ rubric }} | {{ output }}'\n"
    )
    j = FakeJudge('{"score": 1, "reason": "ok"}')
    passes(A("judge", rubric="R"), "OUT", judge=j, root=str(tmp_path))
    assert j.calls[0][1] == [{"role": "user", "content": "CUSTOM R | OUT"}]


def test_broken_override_is_error(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "_judge.yaml").write_text(
        "messages:\n  - role: user\n    content: '{{ undefined_var }}'\n"
    )
    r = errors(A("judge", rubric="R"), "OUT", judge=FakeJudge('{"score": 1}'), root=str(tmp_path))
    assert "cannot render the judge prompt" in r.reason


def test_judges_run_concurrently() -> None:
    started = 0
    both = asyncio.Event()

    slots: list[int] = []

    async def judge(
        model: str, messages: list[dict[str, str]], params: dict[str, Any], *, slot: int = 0
    ) -> ModelResponse:
        nonlocal started
        started += 1
        slots.append(slot)
        if started == 2:
            both.set()
        await asyncio.wait_for(both.wait(), timeout=5)
        return ModelResponse(text='{"score": 1, "reason": "ok"}')

    ctx = make_ctx("x", judge=judge)
    ctx.case.asserts = [A("contains", "x"), A("judge", rubric="a"), A("judge", rubric="b")]
    results = asyncio.run(evaluate(ctx.case.asserts, ctx))
    assert [r.passed for r in results] == [True, True, True]
    assert sorted(slots) == [1, 2]  # each verdict is recorded under its assertion's position
