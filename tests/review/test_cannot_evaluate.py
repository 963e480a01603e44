"""An error is not a quality drop (issue 20): rows that could not be evaluated — no key, a stale
recording under --offline, a provider failing after the retries, --max-cost — are a third
verdict, "cannot evaluate" (exit 3), with the reason per model and the next step; a real drop
among the rows that could be judged still exits 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptctl.review.compare import compare_units
from promptctl.review.evaluable import why_not_evaluable
from promptctl.review.gate import GateResult, gate_settings, run_gate
from promptctl.suite.model import GateConfig
from tests.fakeserver import FakeServer
from tests.helpers import invoke
from tests.records.rows import record, row
from tests.review.common import KEY, commit, config, new_repo

NO_KEY = "no API key for openai/gpt-4o-mini: set OPENAI_API_KEY (or put it in .env)"


def _gate(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> GateResult:
    b, h = record(base), record(head)
    return run_gate(b, h, compare_units(b, h), gate_settings(GateConfig()))


def test_an_error_row_is_a_third_verdict_not_a_regression() -> None:
    base = [row(f"c{i}") for i in range(6)]
    head = [row(f"c{i}") for i in range(3)] + [
        row(f"c{i}", "error", output=None, error=NO_KEY) for i in range(3, 6)
    ]
    res = _gate(base, head)
    assert not res.failed and res.causes == []
    assert res.verdict == "cannot_evaluate" and res.exit_code == 3
    assert res.not_evaluated_rows == 3
    (why,) = res.not_evaluated
    assert why.kind == "no_key" and why.env == ["OPENAI_API_KEY"] and why.side == "head"
    assert "set `OPENAI_API_KEY`" in why.next_step
    assert "`promptctl test --record cases/p.yaml`" in why.next_step
    assert res.details["pass_rate"]["units"] == 3  # judged over the rows that could be judged
    pairs = compare_units(record(base), record(head))
    assert sum(p.transition == "cannot_evaluate" for p in pairs) == 3
    assert not any(p.transition == "pass_to_fail" for p in pairs)


def test_a_real_drop_beats_cannot_evaluate() -> None:
    base = [row("a"), row("b"), row("c")]
    head = [row("a", "fail"), row("b", "error", output=None, error=NO_KEY), row("c")]
    res = _gate(base, head)
    assert res.failed and res.verdict == "failed" and res.exit_code == 1
    assert any("regression: p::a [m]" in c for c in res.causes)
    assert not any("p::b" in c for c in res.causes)
    assert res.not_evaluated_rows == 1  # still reported


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (
            "error",
            "--offline: case 'x' of cases/p.yaml on model 'm' (sample 0) would need a model call",
            "offline",
        ),
        ("error", "environment variable FAKE_KEY is not set", "no_key"),
        ("error", "InternalServerError: 500 after 4 attempts", "provider"),
        ("skipped", "not run: --max-cost 0.01 USD reached (spent 0.0100 USD)", "max_cost"),
    ],
)
def test_kinds(status: str, error: str, kind: str) -> None:
    r = row("x", status, output=None, error=error)
    assert why_not_evaluable(r) == (kind, error)
    res = _gate([row("x")], [r])
    assert res.exit_code == 3 and res.not_evaluated[0].kind == kind


def test_a_failed_judge_call_cannot_be_evaluated_but_a_validator_error_counts() -> None:
    judge = row("x", "error")
    judge["asserts"] = [{"type": "judge", "passed": False, "score": 0.0, "error": True,
                         "reason": f"judge call to gpt-4o-mini failed: {NO_KEY}"}]  # fmt: skip
    assert why_not_evaluable(judge) == ("no_key", judge["asserts"][0]["reason"])
    broken = row("x", "error")
    broken["asserts"] = [{"type": "python", "passed": False, "score": 0.0, "error": True,
                          "reason": "check.py: ZeroDivisionError: division by zero"}]  # fmt: skip
    assert why_not_evaluable(broken) is None
    res = _gate([row("x")], [broken])
    assert res.exit_code == 1  # the head's own output broke its check: a regression


def test_repeated_samples_judge_only_what_could_be_evaluated() -> None:
    base = [row("x", sample=s) for s in range(10)]
    head = [row("x", sample=s) for s in range(6)] + [
        row("x", "error", sample=s, output=None, error=NO_KEY) for s in range(6, 10)
    ]
    res = _gate(base, head)
    assert res.exit_code == 3 and res.not_evaluated_rows == 4
    (case,) = res.details["stats"]["cases"]
    assert (case["pass_head"], case["n_head"]) == (6, 6) and not case["significant"]


def test_a_base_that_could_not_be_evaluated_hides_a_failing_head() -> None:
    res = _gate([row("x", "error", output=None, error=NO_KEY)], [row("x", "fail")])
    assert res.exit_code == 3 and res.not_evaluated[0].side == "base"
    assert "records push" in res.not_evaluated[0].next_step
    ok = _gate([row("x", "error", output=None, error=NO_KEY)], [row("x")])
    assert ok.exit_code == 0  # the head passes: nothing could have dropped


# -- end to end: the case ------------------------------------------------------------------

PROMPT = """
    inputs: {{q: {{}}}}
    template: "{wording} {{{{ q }}}}"
"""
CASES = """
    prompt: ask
    cases:
      - {id: one, vars: {q: first}, assert: [{type: contains, value: first}]}
      - {id: two, vars: {q: second}, assert: [{type: contains, value: second}]}
"""
OTHER = """
    inputs: {q: {}}
    template: "{{ q }}"
"""
OTHER_CASES = """
    prompt: other
    cases:
      - id: three
        vars: {{q: third}}
        assert: [{{type: contains, value: "{expect}"}}]
"""


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


def test_no_key_for_a_changed_prompt_exits_3_with_the_next_step(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, base = new_repo(
        tmp_path / "repo",
        {
            "promptctl.yaml": config(server.url),
            "prompts/ask.yaml": PROMPT.format(wording="Answer:"),
            "cases/ask.yaml": CASES,
            "prompts/other.yaml": OTHER,
            "cases/other.yaml": OTHER_CASES.format(expect="third"),
        },
    )
    monkeypatch.setenv("FAKE_KEY", KEY)
    assert invoke("test", "--record", cwd=root).exit_code == 0
    base = commit(root, {}, "recordings")
    head = commit(root, {"prompts/ask.yaml": PROMPT.format(wording="Please answer:")}, "reword")
    monkeypatch.delenv("FAKE_KEY")

    r = invoke("compare", base, head, "--gate", "--format", "json", cwd=root)
    assert r.exit_code == 3, r.output
    g = json.loads(r.stdout)["gate"]
    assert g["verdict"] == "cannot_evaluate" and not g["failed"] and g["causes"] == []
    (why,) = g["cannot_evaluate"]["reasons"]
    assert (why["model"], why["kind"], why["rows"], why["env"]) == ("fake", "no_key", 2, ["FAKE_KEY"])
    assert "gate: CANNOT EVALUATE — not a quality drop: cannot evaluate 2 rows (exit 3)" in r.stderr
    assert "? fake (head, 2 rows): no API key ($FAKE_KEY is not set)" in r.stderr
    assert "next: set `FAKE_KEY`" in r.stderr and "`promptctl test --record cases/ask.yaml`" in r.stderr
    assert "regression" not in r.output and "pass rate dropped" not in r.output

    md = invoke("compare", base, head, "--gate", "--format", "markdown", cwd=root)
    assert md.exit_code == 3
    assert "⛔ promptctl compare" in md.stdout and "**Gate: cannot evaluate**" in md.stdout
    assert "**next step:** set `FAKE_KEY`" in md.stdout and "cannot evaluate" in md.stdout
    assert "pass→fail" not in md.stdout and "regression: ask" not in md.stdout

    # --offline: the stale recordings are the reason, refreshing them the next step
    off = invoke("compare", base, head, "--gate", "--offline", "--rerun", "--format", "json", cwd=root)
    assert off.exit_code == 3, off.output
    (why,) = json.loads(off.stdout)["gate"]["cannot_evaluate"]["reasons"]
    assert (
        why["kind"] == "offline"
        and "refresh the recordings with `promptctl test --record" in why["next_step"]
    )

    # a real drop elsewhere in the same run: exit 1, and the rows without a key still reported
    worse = commit(root, {"cases/other.yaml": OTHER_CASES.format(expect="nowhere")}, "stricter")
    r = invoke("compare", base, worse, "--gate", "--format", "json", cwd=root)
    assert r.exit_code == 1, r.output
    g = json.loads(r.stdout)["gate"]
    assert g["verdict"] == "failed" and any("other::three" in c for c in g["causes"])
    assert g["cannot_evaluate"]["rows"] == 2
    assert "and cannot evaluate 2 rows (the drop above decides the exit code)" in r.stderr
