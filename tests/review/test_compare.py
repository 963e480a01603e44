"""`promptctl compare` (+ --gate) end to end against the loopback fake server, plus --ref on a dirty
worktree, shards merged, and records shared through git notes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakeserver import FakeServer
from tests.helpers import git, invoke, write_files
from tests.review.common import KEY, commit, config, new_repo

ECHO_PROMPT = """
    inputs: {text: {}}
    template: "{{ text }}"
"""
ECHO_CASES = """
    prompt: echo
    cases:
      - {id: hello, vars: {text: hello world}, assert: [{type: contains, value: hello}]}
      - {id: bye, vars: {text: goodbye}, assert: [{type: contains, value: goodbye}]}
      - {id: other, vars: {text: anything}, assert: [not_empty]}
"""


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    monkeypatch.setenv("FAKE_KEY", KEY)
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


def echo_repo(root: Path, srv: FakeServer) -> tuple[Path, str]:
    return new_repo(
        root,
        {"promptctl.yaml": config(srv.url), "prompts/echo.yaml": ECHO_PROMPT, "cases/echo.yaml": ECHO_CASES},
    )


def compare_json(root: Path, *args: str, code: int = 0) -> dict[str, Any]:
    r = invoke("compare", *args, "--format", "json", cwd=root)
    assert r.exit_code == code, r.output
    data: dict[str, Any] = json.loads(r.stdout)
    return data


def units(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {u["case_key"]: u for u in data["units"]}


def test_transitions_gate_and_reuse(tmp_path: Path, server: FakeServer) -> None:
    root, c0 = echo_repo(tmp_path / "repo", server)
    c1 = commit(
        root, {"prompts/echo.yaml": ECHO_PROMPT.replace('"{{ text }}"', '"{{ text | upper }}"')}, "upper"
    )
    c2 = commit(
        root,
        {
            "prompts/echo.yaml": ECHO_PROMPT.replace('"{{ text }}"', '"{{ text }}!"'),
            "cases/echo.yaml": ECHO_CASES.replace("other", "fresh"),
        },
        "no effect + case swap",
    )
    # c0 -> c1: both contains-cases break; both sides run now (no records yet)
    data = compare_json(root, c0, c1, "--gate", code=1)
    assert data["base"]["origin"] == "ran" and data["head"]["origin"] == "ran"
    u = units(data)
    assert u["echo::hello"]["transition"] == "pass_to_fail" and u["echo::bye"]["transition"] == "pass_to_fail"
    assert u["echo::other"]["transition"] == "still_passing" and u["echo::other"]["output_changed"] is True
    assert u["echo::hello"]["pass_rate_delta"] == -1.0 and u["echo::hello"]["output_changed"] is True
    assert data["totals"]["transitions"]["pass_to_fail"] == 2
    causes = data["gate"]["causes"]
    assert any("echo::hello [fake] passed at base, fail at head" in c for c in causes)
    assert any("pass rate dropped from 100.0% to 33.3%" in c for c in causes)
    assert data["gate"]["failed"] is True
    # the same comparison again reuses both records: no request
    server.reset()
    table = invoke("compare", c0, c1, "--gate", cwd=root)
    assert table.exit_code == 1 and server.stats()["requests"] == 0
    assert "pass→fail" in table.stdout and "gate: FAILED" in table.stdout
    assert "✗ regression: echo::bye [fake]" in table.stdout
    # c1 -> c2: fixed again, one case swapped; improvements never fail the gate, a case the head
    # no longer has does (unless allowed)
    data = compare_json(root, c1, c2, "--gate", code=1)
    u = units(data)
    assert u["echo::hello"]["transition"] == "fail_to_pass"
    assert u["echo::fresh"]["transition"] == "new" and u["echo::other"]["transition"] == "removed"
    assert [c.split(" — ")[0] for c in data["gate"]["causes"]] == [
        "removed at head: 1 case × model that base ran: echo::other [fake]"
    ]
    data = compare_json(root, c1, c2, "--gate", "--allow-removed")
    assert data["gate"]["failed"] is False and data["gate"]["causes"] == []
    # c0 -> c2 without --gate: exit 0, markdown report to a file
    out = tmp_path / "report.md"
    md = invoke("compare", c0, c2, "--format", "markdown", "-o", str(out), cwd=root)
    assert md.exit_code == 0, md.output
    text = out.read_text()
    assert "promptctl compare" in text and "| still passing |" in text and "| new |" in text


def test_worktree_head_errors_and_budgets(tmp_path: Path, server: FakeServer) -> None:
    root, c0 = echo_repo(tmp_path / "repo", server)
    assert invoke("test", cwd=root).exit_code == 0  # a local record of c0
    # dirty worktree: a longer prompt costs more; default HEAD is the worktree and is run
    write_files(
        root, {"prompts/echo.yaml": ECHO_PROMPT.replace('"{{ text }}"', '"{{ text }} ' + "pad " * 50 + '"')}
    )
    server.reset()
    data = compare_json(root, c0, "--gate", "--max-cost-increase", "0.5", code=1)
    assert data["base"]["origin"] == "record" and data["head"]["label"] == "worktree"
    assert data["head"]["origin"] == "ran" and server.stats()["requests"] == 3
    assert any(c.startswith("cost rose") and "budget +50%" in c for c in data["gate"]["causes"])
    assert compare_json(root, c0, "--gate")["gate"]["failed"] is False  # no budget set: fine
    # a provider failing after the retries is not a quality drop: the head cannot be evaluated (exit 3)
    write_files(root, {"prompts/echo.yaml": ECHO_PROMPT.replace('"{{ text }}"', '"{{ text }}?"')})
    server.configure(faults=[{"kind": "500", "always": True}])
    data = compare_json(root, "--gate", c0, code=3)
    assert {u["transition"] for u in data["units"]} == {"cannot_evaluate"}
    assert data["gate"]["causes"] == [] and data["gate"]["verdict"] == "cannot_evaluate"
    assert [r["kind"] for r in data["gate"]["cannot_evaluate"]["reasons"]] == ["provider"]


def test_provider_model_drift(tmp_path: Path, server: FakeServer) -> None:
    root, c0 = echo_repo(tmp_path / "repo", server)
    server.configure(reported_model="gpt-4o-mini-2024-07-18")
    assert invoke("test", cwd=root).exit_code == 0
    c1 = commit(root, {"prompts/echo.yaml": ECHO_PROMPT.replace('"{{ text }}"', '"{{ text }}."')}, "dot")
    server.configure(reported_model="gpt-4o-mini-2025-01-01")
    data = compare_json(root, c0, c1)
    assert all(u["provider_model_drift"] for u in data["units"])
    assert data["totals"]["provider_model_drift"] == 3


def test_ref_on_dirty_worktree_leaves_git_state_alone(tmp_path: Path, server: FakeServer) -> None:
    root, c0 = echo_repo(tmp_path / "repo", server)
    commit(root, {"cases/echo.yaml": ECHO_CASES.replace("hello world", "hello there")}, "edit case")
    write_files(
        root,
        {
            "prompts/echo.yaml": ECHO_PROMPT.replace('"{{ text }}"', '"DIRTY {{ text }}"'),
            "prompts/untracked.yaml": ECHO_PROMPT,
        },
    )
    before = git(root, "status", "--porcelain")
    r = invoke("render", "echo", "--case", "hello", "--ref", c0, cwd=root)
    assert r.exit_code == 0 and r.stdout.splitlines()[-1] == "hello world"
    t = invoke("test", "--ref", c0, "--format", "json", cwd=root)
    assert t.exit_code == 0, t.output
    rec = json.loads(t.stdout)
    assert rec["commit"] == c0 and rec["dirty"] is False
    assert {r["output"] for r in rec["rows"]} == {"hello world", "goodbye", "anything"}
    assert git(root, "status", "--porcelain") == before
    assert (root / "prompts/echo.yaml").read_text().find("DIRTY") >= 0


def test_shards_merged_equal_unsharded_run(tmp_path: Path, server: FakeServer) -> None:
    cases = "prompt: echo\ncases:\n" + "".join(
        f"  - {{id: c{i}, vars: {{text: 'v{i}'}}, assert: [{{type: contains, value: 'v{i % 3}'}}]}}\n"
        for i in range(8)
    )
    root, sha = new_repo(
        tmp_path / "repo",
        {"promptctl.yaml": config(server.url), "prompts/echo.yaml": ECHO_PROMPT, "cases/echo.yaml": cases},
    )
    runs = root / ".promptctl/runs" / sha
    full = json.loads(invoke("test", "--format", "json", cwd=root).stdout)
    files = []
    for shard in ("1/2", "2/2"):
        seen = set(runs.glob("*.json"))
        r = invoke("test", "--shard", shard, "--no-cache", cwd=root)
        assert r.exit_code in (0, 1), r.output
        (new,) = set(runs.glob("*.json")) - seen
        files.append(new)
        assert 0 < len(json.loads(new.read_text())["rows"]) < 8
    m = invoke("records", "merge", *map(str, files), cwd=root)
    assert m.exit_code == 0, m.output
    merged = json.loads(invoke("show", sha, "--format", "json", cwd=root).stdout)

    def key(rec: dict[str, Any]) -> list[tuple[Any, ...]]:
        return sorted((r["case_key"], r["model"], r["sample"], r["status"], r["output"]) for r in rec["rows"])

    assert key(merged) == key(full) and len(full["rows"]) == 8
    assert merged["complete"] is True and merged["selection"]["partial"] == []
    assert merged["summary"]["passed"] == full["summary"]["passed"]


def test_notes_shared_through_a_bare_remote(tmp_path: Path, server: FakeServer) -> None:
    root, c0 = echo_repo(tmp_path / "a", server)
    assert invoke("test", cwd=root).exit_code == 0
    c1 = commit(
        root, {"prompts/echo.yaml": ECHO_PROMPT.replace('"{{ text }}"', '"{{ text | upper }}"')}, "upper"
    )
    assert invoke("test", cwd=root).exit_code == 1
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    git(root, "remote", "add", "origin", str(bare))
    git(root, "push", "-q", "origin", "main")
    p = invoke("records", "push", cwd=root)
    assert p.exit_code == 0, p.output
    clone = tmp_path / "b"
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True)
    pulled = invoke("records", "pull", cwd=clone)
    assert pulled.exit_code == 0, pulled.output
    server.reset()
    show = invoke("show", c0, "--format", "json", cwd=clone)
    assert show.exit_code == 0, show.output
    assert json.loads(show.stdout)["commit"] == c0
    data = compare_json(clone, c0, "--gate", code=1)  # HEAD = clean worktree = c1
    assert data["base"]["origin"] == "git-note" and data["head"]["origin"] == "git-note"
    assert data["head"]["sha"] == c1
    assert units(data)["echo::hello"]["transition"] == "pass_to_fail"
    assert server.stats()["requests"] == 0


def test_diff_shows_recorded_output_changes(tmp_path: Path, server: FakeServer) -> None:
    root, _ = echo_repo(tmp_path / "repo", server)
    assert invoke("test", "--record", cwd=root).exit_code == 0
    c0 = commit(root, {}, "recordings")
    write_files(root, {"prompts/echo.yaml": ECHO_PROMPT.replace('"{{ text }}"', '"{{ text }} (v2)"')})
    assert invoke("test", "--record", cwd=root).exit_code == 0
    r = invoke("diff", c0, "--format", "json", cwd=root)  # HEAD = the worktree, recordings re-recorded
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    hello = next(e for e in data["affected"] if e["case_key"] == "echo::hello")
    out = next(g["diff"] for g in data["output_groups"] if g["id"] == hello["output_group"])
    assert "-hello world\n" in out and "+hello world (v2)\n" in out
    kinds = {f["path"]: f["kind"] for f in data["changed_files"]}
    assert kinds["cases/__recordings__/echo.yaml"] == "recording" and kinds["prompts/echo.yaml"] == "prompt"
    # a stale recording (prompt edited, not re-recorded) is not shown as the head's output
    write_files(root, {"prompts/echo.yaml": ECHO_PROMPT.replace('"{{ text }}"', '"{{ text }} (v3)"')})
    data = json.loads(invoke("diff", c0, "--format", "json", cwd=root).stdout)
    assert all(e["output_group"] is None for e in data["affected"]) and data["output_groups"] == []


def test_a_pull_request_cannot_loosen_the_gate_that_judges_it(tmp_path: Path, server: FakeServer) -> None:
    """The gate is judged by the BASE's `gate:` settings: a change that breaks cases and, in the same
    commit, sets alpha near 1, a huge tolerance and `removed: warn` still fails; the change of
    settings is reported."""
    root, c0 = echo_repo(tmp_path / "repo", server)
    loose = config(server.url) + (
        "\ngate: {alpha: 0.999, pass_rate_tolerance: 1.0, score_tolerance: 1.0, removed: warn, suite_share: 0.99}\n"
    )
    c1 = commit(
        root,
        {
            "promptctl.yaml": loose,
            "prompts/echo.yaml": ECHO_PROMPT.replace('"{{ text }}"', '"{{ text | upper }}"'),
            "cases/echo.yaml": ECHO_CASES.replace(
                "      - {id: other, vars: {text: anything}, assert: [not_empty]}\n", ""
            ),
        },
        "break the cases, delete one, loosen the gate",
    )
    data = compare_json(root, c0, c1, "--gate", code=1)
    assert data["gate"]["failed"] is True
    assert any("echo::hello [fake] passed at base, fail at head" in c for c in data["gate"]["causes"])
    assert any("removed at head" in c for c in data["gate"]["causes"])
    assert data["checks"]["gate_settings"]["removed"] == ["fail", "warn"]
    table = invoke("compare", c0, c1, "--gate", cwd=root)
    assert table.exit_code == 1 and "the base's judge this change" in table.output
    # once merged (the loose settings are the base's), they apply
    c2 = commit(root, {"prompts/echo.yaml": ECHO_PROMPT}, "unbreak")
    assert compare_json(root, c1, c2, "--gate")["gate"]["failed"] is False
