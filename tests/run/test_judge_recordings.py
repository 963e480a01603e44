"""Judge verdicts are recorded like model outputs: `test --record` writes them next to the outputs,
a run with no key replays the whole suite, judges included, a changed rubric (or output, or judge
model) makes the verdict stale; and the counts of what a run did add up, judge calls included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakeserver import FakeServer, last_user_message
from tests.helpers import invoke
from tests.review.common import KEY, commit, new_repo

CONFIG = """
model: fake
judge_model: grader
max_retries: 0
timeout: 5
models:
  fake: {{model: openai/gpt-4o-mini, api_base: "{url}", api_key_env: FAKE_KEY}}
  grader: {{model: openai/grader-model, api_base: "{url}", api_key_env: FAKE_KEY}}
"""
PROMPT = """
    inputs: {text: {}}
    template: "{{ text }}"
"""
CASES = """
    prompt: echo
    cases:
      - id: polite
        vars: {text: thank you kindly}
        assert:
          - {type: judge, rubric: "Is it polite?", metric: tone}
          - {type: contains, value: thank}
      - id: rude
        vars: {text: go away}
        assert:
          - {type: judge, rubric: "Is it polite?", metric: tone}
"""


def answer(body: dict[str, Any]) -> str:
    """The model echoes; the grader gives 0.9 to 'thank' and 0.1 to anything else."""
    if body["model"] == "grader-model":
        text = json.dumps(body["messages"])
        return json.dumps({"score": 0.9 if "thank you kindly" in text else 0.1, "reason": "graded"})
    return last_user_message(body)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    monkeypatch.setenv("FAKE_KEY", KEY)
    with FakeServer(responder=answer) as srv:
        yield srv


def project(tmp_path: Path, srv: FakeServer) -> tuple[Path, str]:
    return new_repo(
        tmp_path / "repo",
        {"promptctl.yaml": CONFIG.format(url=srv.url), "prompts/echo.yaml": PROMPT, "cases/echo.yaml": CASES},
    )


def rows(r: Any) -> dict[str, dict[str, Any]]:
    return {row["case"]: row for row in json.loads(r.stdout)["rows"]}


def test_judge_verdicts_are_recorded_and_replayed_without_a_key(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = project(tmp_path, server)
    rec = invoke("test", "--record", "--format", "json", cwd=root)
    assert rec.exit_code == 1, rec.output  # 'rude' fails its judge
    live = rows(rec)
    recording = yaml.safe_load((root / "cases/__recordings__/echo.yaml").read_text())
    entries = {(e["case"], e["model"]): e for e in recording["entries"]}
    assert set(entries) == {
        ("polite", "fake"),
        ("polite", "fake [judge 0]"),
        ("rude", "fake"),
        ("rude", "fake [judge 0]"),
    }
    assert json.loads(entries[("polite", "fake [judge 0]")]["output"])["score"] == 0.9
    commit(root, {}, "recordings")
    # a fork's pull request: no key, no cache; everything replays, the judges too
    monkeypatch.delenv("FAKE_KEY")
    server.reset()
    for args in ([], ["--offline"]):
        r = invoke("test", "--no-cache", "--format", "json", *args, cwd=root)
        assert r.exit_code == 1, r.output
        replayed = rows(r)
        assert server.stats()["requests"] == 0
        for case in ("polite", "rude"):
            assert replayed[case]["asserts"] == live[case]["asserts"]
            assert replayed[case]["status"] == live[case]["status"]


def test_a_changed_rubric_makes_the_verdict_stale(tmp_path: Path, server: FakeServer) -> None:
    root, _ = project(tmp_path, server)
    assert invoke("test", "--record", cwd=root).exit_code == 1
    commit(root, {"cases/echo.yaml": CASES.replace("Is it polite?", "Is it kind?")}, "new rubric")
    r = invoke("test", "--offline", "--no-cache", "--format", "json", cwd=root)
    assert r.exit_code == 3
    judge = rows(r)["polite"]["asserts"][0]
    assert judge["error"] is True
    assert judge["reason"] == (
        "judge call to grader failed: --offline: the verdict for case 'polite' (sample 0) is stale "
        "(rubric, output or judge model changed); refresh: `promptctl test --record cases/echo.yaml -k polite`"
    )
    # a live run re-grades only what changed: two judge calls, no model call for the outputs
    server.reset()
    live = invoke("test", "--no-cache", cwd=root)
    assert live.exit_code == 1
    assert [b["model"] for b in server.stats()["bodies"]] == ["grader-model", "grader-model"]


def test_counts_add_up_with_judge_calls(tmp_path: Path, server: FakeServer) -> None:
    root, c0 = project(tmp_path, server)
    c1 = commit(root, {"prompts/echo.yaml": PROMPT.replace('"{{ text }}"', '"{{ text }}!"')}, "bang")
    r = invoke("compare", c0, c1, "--format", "json", cwd=root)
    assert r.exit_code == 0, r.output
    lines = [ln.strip() for ln in r.stderr.splitlines() if "rows:" in ln]
    assert lines == [
        "2 rows: 0 replayed, 0 cached, 2 live; 2 judge verdicts: 0 replayed, 0 cached, 2 live (4 model calls)",
        "2 rows: 0 replayed, 0 cached, 2 live; 2 judge verdicts: 0 replayed, 0 cached, 2 live (4 model calls)",
    ]
    rec = json.loads(invoke("show", c1, "--format", "json", cwd=root).stdout)
    st = rec["stats"]
    assert (st["replays"], st["cache_hits"], st["live_rows"], st["not_run"]) == (0, 0, 2, 0)
    assert (st["judge_replays"], st["judge_cache_hits"], st["judge_live"], st["live_calls"]) == (0, 0, 2, 4)
    # again, through the cache
    r = invoke("compare", c0, c1, "--rerun", "--format", "json", cwd=root)
    lines = [ln.strip() for ln in r.stderr.splitlines() if "rows:" in ln]
    assert (
        lines[1]
        == "2 rows: 0 replayed, 2 cached, 0 live; 2 judge verdicts: 0 replayed, 2 cached, 0 live (0 model calls)"
    )


def test_max_cost_stops_judge_calls_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--max-cost is one rule for every call: once the rows have spent it, no judge call is made
    (its verdict is 'not run', counted), and the run exits 3."""
    monkeypatch.setenv("FAKE_KEY", KEY)
    asked: list[str] = []

    def counting(body: dict[str, Any]) -> str:
        asked.append(body["model"])
        return answer(body)

    with FakeServer(responder=counting) as srv:
        priced = (
            "model: fake\njudge_model: grader\nmax_retries: 0\ntimeout: 5\nmodels:\n"
            f'  fake: {{model: openai/gpt-4o-mini, api_base: "{srv.url}", api_key_env: FAKE_KEY,'
            " price: {input: 1000000, output: 1000000}}\n"
            f'  grader: {{model: openai/grader-model, api_base: "{srv.url}", api_key_env: FAKE_KEY,'
            " price: {input: 1, output: 1}}\n"
        )
        root, _ = new_repo(
            tmp_path / "repo",
            {"promptctl.yaml": priced, "prompts/echo.yaml": PROMPT, "cases/echo.yaml": CASES},
        )
        r = invoke("test", "--max-cost", "0.5", "-j", "1", "--no-cache", cwd=root)
    assert "grader-model" not in asked, asked
    assert asked.count("gpt-4o-mini") == 1
    assert r.exit_code == 3, r.output
    assert "--max-cost 0.5 USD reached" in r.output


def test_dry_run_counts_and_prices_the_judge_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--dry-run's estimate includes the judge calls the outputs will need, at the judge's price;
    an unpriced judge model makes the estimate unknown (named)."""
    monkeypatch.setenv("FAKE_KEY", KEY)

    def config(judge_price: str) -> str:
        return (
            "model: fake\njudge_model: grader\nmodels:\n"
            '  fake: {model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:9", api_key_env: FAKE_KEY,'
            " price: {input: 1, output: 1}}\n"
            '  grader: {model: openai/grader-model, api_base: "http://127.0.0.1:9", api_key_env: FAKE_KEY'
            f"{judge_price}}}\n"
        )

    files = {"prompts/echo.yaml": PROMPT, "cases/echo.yaml": CASES}
    root, _ = new_repo(tmp_path / "a", {"promptctl.yaml": config(", price: {input: 0, output: 0}"), **files})
    cheap = json.loads(invoke("test", "--dry-run", "--format", "json", cwd=root).stdout)
    root2, _ = new_repo(
        tmp_path / "b", {"promptctl.yaml": config(", price: {input: 1000, output: 1000}"), **files}
    )
    dear = json.loads(invoke("test", "--dry-run", "--format", "json", cwd=root2).stdout)
    assert cheap["calls"] == dear["calls"] == 2 and cheap["judge_calls"] == dear["judge_calls"] == 2
    assert cheap["estimated_cost_usd"] is not None and dear["estimated_cost_usd"] is not None
    # two judge calls of >= 456 tokens in and 256 out, at 0.001 USD per token
    assert dear["estimated_cost_usd"] - cheap["estimated_cost_usd"] >= 2 * (456 + 256) * 0.001
    root3, _ = new_repo(tmp_path / "c", {"promptctl.yaml": config(""), **files})
    unknown = json.loads(invoke("test", "--dry-run", "--format", "json", cwd=root3).stdout)
    assert unknown["estimated_cost_usd"] is None and unknown["unknown_price_models"] == [
        "openai/grader-model"
    ]
    text = invoke("test", "--dry-run", cwd=root2)
    assert "2 model calls, up to 2 judge calls" in text.output


def test_calls_never_sent_are_not_counted_as_model_calls(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the key nothing is sent: the counts say 0 model calls, not one per row."""
    root, _ = project(tmp_path, server)
    monkeypatch.delenv("FAKE_KEY")
    r = invoke("test", "--format", "json", cwd=root)
    assert r.exit_code == 3, r.output
    assert server.stats()["requests"] == 0
    data = json.loads(r.stdout)
    assert data["stats"]["live_calls"] == 0, data["stats"]
