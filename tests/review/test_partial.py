"""Partial runs are never the suite: a record of part of the suite (a selection, a --max-cost stop, an
interruption) says so, `history` shows it, and `compare` never takes it as a whole side — it combines
records whose union covers the suite exactly, else runs what is missing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptctl.git.notes import notes_write
from tests.fakeserver import FakeServer
from tests.helpers import invoke
from tests.review.common import KEY, commit, config, new_repo

PROMPT = """
    inputs: {text: {}}
    template: "{{ text }}"
"""
N = 6
CASES = "prompt: echo\ncases:\n" + "".join(
    f"  - {{id: c{i}, tags: [{'even' if i % 2 == 0 else 'odd'}], vars: {{text: 'word {i}'}}, "
    f"assert: [{{type: contains, value: word}}]}}\n"
    for i in range(N)
)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    monkeypatch.setenv("FAKE_KEY", KEY)
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


def repo(tmp_path: Path, srv: FakeServer) -> tuple[Path, str]:
    return new_repo(
        tmp_path / "repo",
        {"promptctl.yaml": config(srv.url), "prompts/echo.yaml": PROMPT, "cases/echo.yaml": CASES},
    )


def newest_record(root: Path) -> dict[str, Any]:
    paths = sorted((root / ".promptctl/runs").rglob("*.json"), key=lambda p: p.name)
    data: dict[str, Any] = json.loads(paths[-1].read_text("utf-8"))
    return data


def compare(root: Path, *args: str) -> tuple[dict[str, Any], str]:
    r = invoke("compare", *args, "--gate", "--format", "json", cwd=root)
    assert r.exit_code in (0, 1), r.output
    return json.loads(r.stdout), r.stderr


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["-k", "c1"], "-k c1"),
        (["--tag", "even"], "--tag even"),
        (["cases/echo.yaml"], "paths: cases/echo.yaml"),
        (["--shard", "1/2"], "--shard 1/2"),
        (["--model", "openai/other"], "--model openai/other"),
    ],
)
def test_a_selection_is_stored_as_partial(
    tmp_path: Path, server: FakeServer, args: list[str], reason: str
) -> None:
    root, _ = repo(tmp_path, server)
    assert invoke("test", *args, cwd=root).exit_code in (0, 1, 3)
    rec = newest_record(root)
    assert rec["complete"] is False and rec["selection"]["partial"] == [reason]
    assert invoke("test", cwd=root).exit_code == 0
    whole = newest_record(root)
    assert whole["complete"] is True and whole["selection"]["partial"] == []


def test_max_cost_cut_run_is_partial_and_never_a_side(tmp_path: Path, server: FakeServer) -> None:
    root, c0 = repo(tmp_path, server)
    c1 = commit(root, {"prompts/echo.yaml": PROMPT.replace('"{{ text }}"', '"{{ text | upper }}"')}, "upper")
    r = invoke("test", "-j", "1", "--max-cost", "0.0000001", cwd=root)
    assert r.exit_code == 1, r.output  # the one row that ran failed; the rest were skipped
    rec = newest_record(root)
    skipped = sum(row["status"] == "skipped" for row in rec["rows"])
    assert skipped >= N - 2 and rec["complete"] is False
    assert rec["selection"]["partial"] == [f"--max-cost stopped it: {skipped} of {N} rows skipped"]
    hist = invoke("history", cwd=root)
    assert f"partial: --max-cost stopped it: {skipped} of {N} rows skipped" in hist.stdout, hist.stdout
    data, _err = compare(root, c0, c1)
    assert data["head"]["origin"] in ("ran", "combined") and data["head"]["complete"] is True
    assert data["gate"]["failed"] is True
    assert {u["transition"] for u in data["units"]} == {"pass_to_fail"}  # every case judged, none skipped


def test_affected_run_does_not_make_the_rest_removed(tmp_path: Path, server: FakeServer) -> None:
    root, c0 = repo(tmp_path, server)
    edited = CASES.replace("word 1'", "word 1 edited'").replace("word 2'", "WORD 2'")
    c1 = commit(root, {"cases/echo.yaml": edited}, "edit two cases")
    r = invoke("test", "--affected", c0, "--no-cache", cwd=root)
    assert r.exit_code == 1 and server.stats()["requests"] == 2
    rec = newest_record(root)
    assert rec["complete"] is False and rec["selection"]["partial"] == [f"--affected {c0}"]
    assert rec["selection"]["affected"] == c0
    data, err = compare(root, c0)
    assert data["head"]["sha"] == c1 and data["head"]["origin"] == "combined"
    transitions = {u["case_key"]: u["transition"] for u in data["units"]}
    assert "removed" not in transitions.values() and len(transitions) == N
    assert transitions["echo::c2"] == "pass_to_fail"
    assert data["gate"]["failed"] is True
    assert "from earlier partial runs" in err and f"running the {N - 2} missing case(s)" in err


def test_shard_records_combine_into_a_side_without_a_call(tmp_path: Path, server: FakeServer) -> None:
    root, c0 = repo(tmp_path, server)
    for shard in ("1/2", "2/2"):
        assert invoke("test", "--shard", shard, "--no-cache", cwd=root).exit_code == 0
    recs = [json.loads(p.read_text()) for p in (root / ".promptctl/runs" / c0).glob("*.json")]
    assert len(recs) == 2 and not any(r["complete"] for r in recs)
    server.reset()
    data, err = compare(root, c0, c0)
    assert server.stats()["requests"] == 0
    assert data["base"]["origin"] == "combined" and len(data["base"]["pieces"]) == 2
    assert data["head"]["origin"] == "record"  # the combination was written as a whole record
    assert len(data["units"]) == N and data["gate"]["failed"] is False
    assert "all 6 rows from 2 earlier partial runs" in err
    hist = json.loads(invoke("history", "--json", cwd=root).stdout)
    assert [h["complete"] for h in hist] == [True, False, False]


def test_history_lists_records_from_git_notes_with_their_completeness(
    tmp_path: Path, server: FakeServer
) -> None:
    root, c0 = repo(tmp_path, server)
    assert invoke("test", "-k", "c1", cwd=root).exit_code == 0
    assert invoke("test", cwd=root).exit_code == 0
    rec = newest_record(root)
    rec["created_at"] = "2030-01-01T00:00:00.000000Z"  # a record of another machine, newer
    rec["rows"] = rec["rows"][:2]
    rec["complete"] = False
    rec["selection"] = {**rec["selection"], "partial": ["interrupted: 2 of 6 rows finished"]}
    notes_write(root, c0, json.dumps(rec) + "\n")
    h = json.loads(invoke("history", "--json", cwd=root).stdout)
    assert [x["source"] for x in h] == ["git note", "local", "local"]
    assert [x["complete"] for x in h] == [False, True, False]
    assert h[0]["partial"] == ["interrupted: 2 of 6 rows finished"] and h[2]["partial"] == ["-k c1"]
    table = invoke("history", cwd=root).stdout
    assert "git note" in table and "interrupted: 2 of 6 rows finished" in table and "whole suite" in table


def test_a_dirty_worktree_side_is_combined_as_that_dirty_state(tmp_path: Path, server: FakeServer) -> None:
    root, c0 = repo(tmp_path, server)
    (root / "prompts/echo.yaml").write_text('inputs: {text: {}}\ntemplate: "{{ text | upper }}"\n', "utf-8")
    assert invoke("test", "-k", "c1", cwd=root).exit_code == 1  # a partial run of the dirty state
    data, err = compare(root, c0)
    assert data["head"]["label"] == "worktree" and data["head"]["origin"] == "combined"
    assert data["head"]["dirty"] is True and "running the 5 missing case(s)" in err
    written = [
        p
        for p in (root / ".promptctl/runs").rglob("*.json")
        if json.loads(p.read_text())["command"] == ["promptctl", "compare"]
    ]
    assert len(written) == 1 and written[0].parent.name.startswith(f"{c0}-dirty-")
    rec = json.loads(written[0].read_text())
    assert rec["dirty"] is True and rec["complete"] is True and len(rec["rows"]) == N
    data, _ = compare(root, c0)  # the combination is now the dirty state's whole record
    assert data["head"]["origin"] == "record"


def test_a_worktree_dirty_only_in_a_validator_is_never_recorded_as_the_commit(
    tmp_path: Path, server: FakeServer
) -> None:
    cases = CASES.replace(
        "assert: [{type: contains, value: word}]", 'assert: [{type: python, value: "verdict:ok"}]'
    )
    root, c0 = new_repo(
        tmp_path / "repo",
        {
            "promptctl.yaml": config(server.url),
            "prompts/echo.yaml": PROMPT,
            "cases/echo.yaml": cases,
            "verdict.py": "def ok(output):\n    return True\n",
        },
    )
    (root / "verdict.py").write_text("def ok(output):\n    return False\n", "utf-8")
    assert invoke("test", "-k", "c1", cwd=root).exit_code == 1
    data, _ = compare(root, c0)
    assert data["head"]["origin"] == "combined" and data["head"]["dirty"] is True
    assert {u["transition"] for u in data["units"]} == {"pass_to_fail"}
    clean = root / ".promptctl/runs" / c0
    assert all(json.loads(p.read_text())["command"][1] != "compare" for p in clean.glob("*.json"))
