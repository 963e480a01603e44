"""Runs that pick up from earlier ones, as in pytest: `-x` / `--maxfail N` stop starting calls after
the first failing cases; `--last-failed` keeps a failure set across runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakeserver import FakeServer
from tests.helpers import init_repo, invoke, write_files

KEY = "sk-test-0123456789abcdef0123456789"


def cases(spec: str) -> str:
    """'PFP' -> three cases c0..c2: P passes (its output contains 'word'), F fails."""
    out = "prompt: echo\ncases:\n"
    for i, kind in enumerate(spec):
        want = "word" if kind == "P" else "zebra"
        out += f"  - {{id: c{i}, vars: {{text: 'word {i}'}}, assert: [{{type: contains, value: {want}}}]}}\n"
    return out


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


@pytest.fixture
def proj(tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FAKE_KEY", KEY)
    return init_repo(
        tmp_path / "repo",
        {
            "promptctl.yaml": f"model: fake\nconcurrency: 1\nmodels:\n  fake:\n    model: openai/gpt-4o-mini\n"
            f"    api_base: {server.url}\n    api_key_env: FAKE_KEY\n",
            "prompts/echo.yaml": 'inputs: {text: {}}\ntemplate: "{{ text }}"\n',
            "cases/echo.yaml": cases("PFPFPPPPPP"),
        },
    )


def _record(root: Path) -> dict[str, Any]:
    data = json.loads(invoke("show", "--format", "json", cwd=root).stdout)
    assert isinstance(data, dict)
    return data


# -- -x / --maxfail ----------------------------------------------------------------------------------
def test_x_stops_starting_calls_after_the_first_failing_case(proj: Path, server: FakeServer) -> None:
    r = invoke("test", "-x", cwd=proj)
    assert r.exit_code == 1, r.output
    assert server.stats()["requests"] == 2  # c0 passed, c1 failed: nothing after it started
    assert "stopped after 1 failing case (-x/--maxfail 1): 8 of 10 rows not run" in r.stderr
    assert "1 passed, 1 failed" in r.stdout
    rec = _record(proj)
    # the one place a record says why it is not the suite: selection.partial (no incomplete_reason)
    assert rec["complete"] is False and "incomplete_reason" not in rec
    assert rec["selection"]["partial"] == [
        "stopped after 1 failing case (-x/--maxfail 1): 8 of 10 rows not run"
    ]
    assert [row["case"] for row in rec["rows"]] == ["c0", "c1"]


def test_x_on_replayed_rows_counts_only_what_finished(proj: Path) -> None:
    """The record's counts add up to its rows when -x stops before rows already answered by the
    cache are validated (they were looked up, never finished: not counted)."""
    assert invoke("test", cwd=proj).exit_code == 1  # fills the cache
    assert invoke("test", "-x", cwd=proj).exit_code == 1
    rec = _record(proj)
    st = rec["stats"]
    assert len(rec["rows"]) == 2 and st["cache_hits"] + st["replays"] + st["live_rows"] + st["not_run"] == 2


def test_maxfail_n_counts_failing_cases(proj: Path, server: FakeServer) -> None:
    r = invoke("test", "--maxfail", "2", cwd=proj)
    assert r.exit_code == 1
    assert server.stats()["requests"] == 4 and "2 failing cases" in r.stderr


def test_x_stops_replayed_and_cached_rows_too(proj: Path, server: FakeServer) -> None:
    assert invoke("test", cwd=proj).exit_code == 1  # fills the cache
    server.reset()
    r = invoke("test", "-x", "--format", "json", cwd=proj)
    assert [row["case"] for row in json.loads(r.stdout)["rows"]] == ["c0", "c1"]
    assert server.stats()["requests"] == 0


def test_x_waits_for_a_sampled_case_to_be_decided(proj: Path, server: FakeServer) -> None:
    """With repeat and min_pass_rate 0.5, one failing sample of four does not fail the case yet."""
    server.configure(spec={"mode": "rules", "rules": [{"match": "flaky", "reply": "no"}], "default": "ok"})
    write_files(
        proj,
        {
            "cases/echo.yaml": """
        prompt: echo
        cases:
          - {id: a, vars: {text: flaky}, repeat: 4, min_pass_rate: 0.5, assert: [{type: equals, value: ok}]}
          - {id: b, vars: {text: fine}, assert: [{type: equals, value: ok}]}
    """
        },
    )
    r = invoke("test", "-x", "--format", "json", cwd=proj)
    assert r.exit_code == 1
    rows = json.loads(r.stdout)["rows"]
    # 'a' can still reach 2/4 until its third failing sample; then it has failed and 'b' never runs
    assert [row["case"] for row in rows] == ["a", "a", "a"]


def test_a_passing_run_under_x_is_complete(proj: Path) -> None:
    write_files(proj, {"cases/echo.yaml": cases("PPP")})
    r = invoke("test", "-x", cwd=proj)
    assert r.exit_code == 0 and "stopped" not in r.stderr
    rec = _record(proj)
    assert rec["complete"] is True and rec["selection"]["partial"] == []


# -- --last-failed -------------------------------------------------------------------------------------
def _ran(root: Path, *args: str) -> list[str]:
    r = invoke("test", *args, "--format", "json", cwd=root)
    assert r.exit_code in (0, 1), r.output
    return [row["case"] for row in json.loads(r.stdout)["rows"]]


def _fix(root: Path, spec: str) -> None:
    write_files(root, {"cases/echo.yaml": cases(spec)})


def _failure_set(root: Path) -> list[str]:
    data = json.loads((root / ".promptctl/cache/lastfailed").read_text())
    assert isinstance(data["cases"], list)
    return list(data["cases"])


def test_last_failed_keeps_a_failure_set_across_runs(proj: Path) -> None:
    _fix(proj, "PFPF")
    assert _ran(proj) == ["c0", "c1", "c2", "c3"]
    assert _failure_set(proj) == ["echo::c1", "echo::c3"]
    # a passing -k run does not forget the failures elsewhere
    assert _ran(proj, "-k", "c0") == ["c0"]
    r = invoke("test", "--last-failed", "--format", "json", cwd=proj)
    assert [row["case"] for row in json.loads(r.stdout)["rows"]] == ["c1", "c3"]
    assert "--last-failed: rerunning 2 case(s) that failed or errored when they last ran" in r.stderr
    # a case that passes leaves the set; the rest stay
    _fix(proj, "PPPF")
    assert _ran(proj, "--lf") == ["c1", "c3"]
    assert _failure_set(proj) == ["echo::c3"]
    assert _ran(proj, "--lf") == ["c3"]
    _fix(proj, "PPPP")
    assert _ran(proj, "--lf") == ["c3"] and _failure_set(proj) == []
    # an empty set runs everything, and says so
    r = invoke("test", "--last-failed", cwd=proj)
    assert r.exit_code == 0 and "4 passed" in r.stdout
    assert "--last-failed: no known failures; running everything selected" in r.stderr


def test_last_failed_is_partial_only_when_it_narrowed_the_run(proj: Path) -> None:
    """A --last-failed run of known failures is not the suite; one that ran everything selected
    (no known failures) is, and compare may take it as the commit's result."""
    _fix(proj, "PF")
    _ran(proj)
    _ran(proj, "--lf")
    rec = _record(proj)
    assert rec["complete"] is False and rec["selection"]["partial"] == ["--last-failed"]
    _fix(proj, "PP")
    _ran(proj, "--lf")  # c1 passes now: the set is empty
    r = invoke("test", "--lf", cwd=proj)
    assert "no known failures; running everything selected" in r.stderr
    rec = _record(proj)
    assert rec["complete"] is True and rec["selection"]["partial"] == []
    _fix(proj, "PPF")
    _ran(proj)
    _fix(proj, "PP")  # the known failure's case is gone: --lf runs the whole suite
    r = invoke("test", "--lf", cwd=proj)
    assert "none of the 1 known failure(s) is among the selected cases" in r.stderr
    rec = _record(proj)
    assert rec["complete"] is True and rec["selection"]["partial"] == []


def test_known_failures_outside_the_selection_run_everything_selected(proj: Path) -> None:
    _fix(proj, "PFPF")
    _ran(proj)
    r = invoke("test", "--lf", "-k", "c0", "--format", "json", cwd=proj)
    assert [row["case"] for row in json.loads(r.stdout)["rows"]] == ["c0"]
    assert "none of the 2 known failure(s) is among the selected cases" in r.stderr
    r = invoke("test", "--lf", "-k", "c1", "-k", "c2", "--format", "json", cwd=proj)
    assert [row["case"] for row in json.loads(r.stdout)["rows"]] == ["c1"]
    assert "(1 more known failure(s) not selected)" in r.stderr


def test_an_unfinished_case_keeps_its_entry(proj: Path) -> None:
    _fix(proj, "FFF")
    _ran(proj)
    _fix(proj, "PPP")
    assert _ran(proj, "-x") == ["c0", "c1", "c2"]  # all pass: nothing stops
    assert _failure_set(proj) == []
    _fix(proj, "FFF")
    _ran(proj, "-x", "-k", "c0")
    assert _failure_set(proj) == ["echo::c0"]
    _ran(proj, "-x")  # stops after c0: c1 and c2 did not run, so they are still not known failures
    assert _failure_set(proj) == ["echo::c0"]


def test_a_damaged_failure_set_is_reported_and_rewritten(proj: Path) -> None:
    _fix(proj, "PF")
    path = proj / ".promptctl/cache/lastfailed"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    r = invoke("test", "--lf", "--format", "json", cwd=proj)
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "lastfailed is damaged" in r.stderr
    assert [row["case"] for row in json.loads(r.stdout)["rows"]] == ["c0", "c1"]
    assert _failure_set(proj) == ["echo::c1"]


def test_dry_run_plans_only_the_known_failures(proj: Path, server: FakeServer) -> None:
    _fix(proj, "PFPF")
    _ran(proj)
    plan = json.loads(invoke("test", "--lf", "--dry-run", "--format", "json", cwd=proj).stdout)
    assert plan["rows"] == 2 and plan["cached"] == 2


def test_a_run_at_another_revision_leaves_the_failure_set_alone(proj: Path) -> None:
    from tests.helpers import commit_all

    _fix(proj, "FF")
    commit_all(proj, "two failing")
    _ran(proj)
    _fix(proj, "PP")
    _ran(proj, "-k", "c0")
    assert _failure_set(proj) == ["echo::c1"]
    r = invoke("test", "--ref", "HEAD", cwd=proj)  # the committed suite still fails both
    assert r.exit_code == 1
    assert _failure_set(proj) == ["echo::c1"]
