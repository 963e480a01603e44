"""`promptctl test` end to end: the CLI entry point, litellm over real HTTP to a loopback server."""

from __future__ import annotations

import json
import signal
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakeserver import FakeServer
from tests.helpers import commit_all, init_repo, interrupt_cli_test, invoke, many_cases, write_files

KEY = "sk-test-0123456789abcdef0123456789"


def project_files(url: str, *, extra_cfg: str = "", cases: str | None = None) -> dict[str, str]:
    return {
        "promptctl.yaml": f"""
            model: fake
            concurrency: 4
            max_retries: 2
            retry_max_wait: 0.2
            timeout: 5
            models:
              fake:
                model: openai/gpt-4o-mini
                api_base: {url}
                api_key_env: FAKE_KEY
              other:
                model: openai/other-model
                api_base: {url}
                api_key_env: FAKE_KEY
            {extra_cfg}
        """,
        "prompts/echo.yaml": """
            inputs: {text: {}}
            params: {temperature: 0}
            template: "{{ text }}"
        """,
        "cases/echo.yaml": cases
        or """
            prompt: echo
            cases:
              - id: hello
                vars: {text: hello world}
                assert:
                  - type: contains
                    value: hello
              - id: bye
                vars: {text: goodbye}
                assert:
                  - type: contains
                    value: goodbye
                  - type: length
                    max: 100
        """,
    }


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


@pytest.fixture
def proj(tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FAKE_KEY", KEY)
    root = init_repo(tmp_path / "repo", project_files(server.url))
    return root


def test_pass_then_cached_rerun_makes_no_request(proj: Path, server: FakeServer) -> None:
    r = invoke("test", cwd=proj)
    assert r.exit_code == 0, r.output
    assert "2 passed, 0 failed, 0 errors" in r.stdout
    assert server.stats()["requests"] == 2
    server.reset()
    r2 = invoke("test", cwd=proj)
    assert r2.exit_code == 0
    assert server.stats()["requests"] == 0
    assert "2 cached" in r2.stdout
    r3 = invoke("test", "--no-cache", cwd=proj)
    assert r3.exit_code == 0 and server.stats()["requests"] == 2
    stats = invoke("cache", "stats", "--json", cwd=proj)
    assert json.loads(stats.stdout)["entries"] == 2
    assert invoke("cache", "clear", cwd=proj).exit_code == 0
    assert json.loads(invoke("cache", "stats", "--json", cwd=proj).stdout)["entries"] == 0


def test_failure_table_and_exit_1(proj: Path) -> None:
    write_files(
        proj,
        {
            "cases/echo.yaml": """
        prompt: echo
        cases:
          - id: wrong
            vars: {text: hello}
            assert:
              - type: contains
                value: banana
    """
        },
    )
    r = invoke("test", cwd=proj)
    assert r.exit_code == 1
    assert "wrong" in r.stdout and "banana" in r.stdout and "1 failed" in r.stdout
    assert invoke("test", "--fail-under", "0", cwd=proj).exit_code == 0


def test_duplicate_requests_sent_once(proj: Path, server: FakeServer) -> None:
    write_files(
        proj,
        {
            "cases/echo.yaml": """
        prompt: echo
        cases:
          - {id: a, vars: {text: same}, assert: [not_empty]}
          - {id: b, vars: {text: same}, assert: [not_empty]}
          - {id: c, vars: {text: same}, assert: [not_empty]}
    """
        },
    )
    r = invoke("test", cwd=proj)
    assert r.exit_code == 0, r.output
    assert server.stats()["requests"] == 1


def test_concurrency_bound_holds(proj: Path, server: FakeServer) -> None:
    server.configure(latency=0.15)
    cases = "prompt: echo\ncases:\n" + "".join(
        f"  - {{id: c{i}, vars: {{text: 'n{i}'}}, assert: [not_empty]}}\n" for i in range(24)
    )
    write_files(proj, {"cases/echo.yaml": cases})
    r = invoke("test", "-j", "3", cwd=proj)
    assert r.exit_code == 0, r.output
    st = server.stats()
    assert st["requests"] == 24
    assert st["max_in_flight"] == 3


def test_retries_then_success_and_exhausted_error(proj: Path, server: FakeServer) -> None:
    server.configure(faults=[{"kind": "429", "first": 1, "retry_after": 0.05}, {"kind": "500", "first": 1}])
    r = invoke("test", "-k", "hello", "--format", "json", cwd=proj)
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)["rows"][0]
    assert row["status"] == "pass" and row["retries"] == 2
    server.configure(faults=[{"kind": "500", "always": True, "message": "upstream exploded"}])
    r = invoke("test", "-k", "bye", "--no-cache", "--format", "json", cwd=proj)
    assert r.exit_code == 3, r.output
    row = json.loads(r.stdout)["rows"][0]
    assert row["status"] == "error" and "upstream exploded" in (row["error"] or "")


def test_fallback_answers_and_is_recorded(proj: Path, server: FakeServer) -> None:
    cfg = (
        (proj / "promptctl.yaml")
        .read_text()
        .replace("api_key_env: FAKE_KEY\n  other:", "api_key_env: FAKE_KEY\n    fallbacks: [other]\n  other:")
    )
    (proj / "promptctl.yaml").write_text(cfg)
    server.configure(faults=[{"kind": "500", "always": True, "match": "gpt-4o-mini"}])
    r = invoke("test", "-k", "hello", "--format", "json", cwd=proj)
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)["rows"][0]
    assert row["answered_by"] == "other" and row["model"] == "fake"


def test_record_then_offline_replay_then_stale(proj: Path, server: FakeServer) -> None:
    r = invoke("test", "--record", cwd=proj)
    assert r.exit_code == 0, r.output
    rec = proj / "cases/__recordings__/echo.yaml"
    text = rec.read_text()
    assert "hello world" in text and "fingerprint:" in text and "source: recorded from fake" in text
    server.reset()
    invoke("cache", "clear", cwd=proj)
    r = invoke("test", "--offline", cwd=proj)
    assert r.exit_code == 0, r.output
    assert "2 replayed" in r.stdout and server.stats()["requests"] == 0
    # Change the prompt: the recordings are stale; --offline must not call and must say how to refresh.
    write_files(
        proj,
        {"prompts/echo.yaml": 'inputs: {text: {}}\nparams: {temperature: 0}\ntemplate: "Echo: {{ text }}"\n'},
    )
    r = invoke("test", "--offline", "--format", "json", cwd=proj)
    assert r.exit_code == 3
    rows = json.loads(r.stdout)["rows"]
    assert all(row["status"] == "error" for row in rows)
    assert "stale" in rows[0]["error"] and "promptctl test --record" in rows[0]["error"]
    assert server.stats()["requests"] == 0
    # --live ignores recordings and calls the model
    r = invoke("test", "--live", cwd=proj)
    assert r.exit_code == 0 and server.stats()["requests"] == 2


def test_repeats_min_pass_rate_and_two_model_matrix(proj: Path, server: FakeServer) -> None:
    server.configure(spec={"mode": "bernoulli", "p": 0.5, "pass": "PASS", "fail": "FAIL", "seed": 3})
    write_files(
        proj,
        {
            "cases/echo.yaml": """
        prompt: echo
        models: [fake, other]
        repeat: 10
        cases:
          - id: coin
            vars: {text: flip}
            min_pass_rate: 0.1
            assert: [{type: equals, value: PASS}]
          - id: strict
            vars: {text: flip again}
            assert: [{type: equals, value: PASS}]
    """
        },
    )
    r = invoke("test", "--format", "json", cwd=proj)
    data = json.loads(r.stdout)
    assert len(data["rows"]) == 2 * 2 * 10
    assert {row["model"] for row in data["rows"]} == {"fake", "other"}
    s = data["summary"]
    assert s["units"] == 4
    # 'coin' needs 1 pass in 10 (p=0.5): passes on both models; 'strict' needs 10/10: fails.
    assert s["passed"] == 2 and s["failed"] == 2
    assert r.exit_code == 1
    samples = {row["sample"] for row in data["rows"]}
    assert samples == set(range(10))
    # distinct samples are distinct requests (not deduplicated into one)
    assert server.stats()["requests"] == 40


def test_output_formats_parse_back(proj: Path, tmp_path: Path) -> None:
    write_files(
        proj,
        {
            "cases/echo.yaml": """
        prompt: echo
        cases:
          - {id: ok, vars: {text: fine}, assert: [not_empty]}
          - {id: bad, vars: {text: fine too}, assert: [{type: contains, value: zebra}]}
    """
        },
    )
    out = tmp_path / "junit.xml"
    r = invoke("test", "--format", "junit", "-o", str(out), cwd=proj)
    assert r.exit_code == 1
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "2" and root.get("failures") == "1"
    cases = root.findall(".//testcase")
    assert len(cases) == 2 and len(root.findall(".//testcase/failure")) == 1
    md = invoke("test", "--format", "markdown", cwd=proj).stdout
    assert md.startswith("### ❌") and "| echo | bad | fake |" in md and "zebra" in md
    js = json.loads(invoke("test", "--format", "json", cwd=proj).stdout)
    assert js["summary"]["failed"] == 1
    bad = next(r for r in js["rows"] if r["case"] == "bad")
    assert bad["asserts"][0]["passed"] is False and "zebra" in bad["asserts"][0]["reason"]


def test_records_history_show_and_last_failed(proj: Path, server: FakeServer) -> None:
    write_files(
        proj,
        {
            "cases/echo.yaml": """
        prompt: echo
        cases:
          - {id: ok, vars: {text: fine}, assert: [not_empty]}
          - {id: bad, vars: {text: fine too}, assert: [{type: contains, value: zebra}]}
    """
        },
    )
    sha = commit_all(proj, "two cases")
    assert invoke("test", cwd=proj).exit_code == 1
    runs = list((proj / ".promptctl/runs" / sha).glob("*.json"))
    assert len(runs) == 1
    data = json.loads(runs[0].read_text())
    assert data["commit"] == sha and data["dirty"] is False and data["complete"] is True
    assert data["schema_version"] == 1 and data["versions"]["promptctl"]
    assert {r["case"] for r in data["rows"]} == {"ok", "bad"}
    assert not list((proj / ".promptctl/runs").rglob("*.tmp"))
    h = invoke("history", "--json", cwd=proj)
    hist = json.loads(h.stdout)
    assert hist[0]["commit"] == sha and hist[0]["subject"] == "two cases" and hist[0]["pass_rate"] == 0.5
    shown = json.loads(invoke("show", sha[:8], "--format", "json", cwd=proj).stdout)
    assert shown["summary"]["failed"] == 1
    server.reset()
    r = invoke("test", "--last-failed", "--no-cache", "--format", "json", cwd=proj)
    assert [row["case"] for row in json.loads(r.stdout)["rows"]] == ["bad"]
    # a dirty worktree is marked
    write_files(proj, {"prompts/echo.yaml": 'inputs: {text: {}}\ntemplate: "x {{ text }}"\n'})
    invoke("test", cwd=proj)
    dirty = [p for p in (proj / ".promptctl/runs").iterdir() if "-dirty-" in p.name]
    assert len(dirty) == 1 and dirty[0].name.startswith(sha)


def test_max_cost_skips_rest_with_exit_3(proj: Path, server: FakeServer) -> None:
    cases = "prompt: echo\ncases:\n" + "".join(
        f"  - {{id: c{i}, vars: {{text: 'word {i}'}}, assert: [not_empty]}}\n" for i in range(6)
    )
    write_files(proj, {"cases/echo.yaml": cases})
    r = invoke("test", "-j", "1", "--max-cost", "0.0000001", "--format", "json", cwd=proj)
    data = json.loads(r.stdout)
    statuses = [row["status"] for row in data["rows"]]
    assert statuses.count("skipped") >= 4, statuses
    assert r.exit_code == 3
    skipped = next(row for row in data["rows"] if row["status"] == "skipped")
    assert "--max-cost" in skipped["error"]


def test_dry_run_calls_nothing(proj: Path, server: FakeServer) -> None:
    r = invoke("test", "--dry-run", "--format", "json", cwd=proj)
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    assert plan["rows"] == 2 and plan["calls"] == 2 and server.stats()["requests"] == 0
    assert plan["estimated_cost_usd"] is not None and plan["estimated_cost_usd"] > 0
    invoke("test", cwd=proj)
    plan = json.loads(invoke("test", "--dry-run", "--format", "json", cwd=proj).stdout)
    assert plan["cached"] == 2 and plan["calls"] == 0


def test_no_api_key_in_anything_written(proj: Path, server: FakeServer) -> None:
    assert invoke("test", "--record", cwd=proj).exit_code == 0
    invoke("test", "--format", "junit", "-o", str(proj / "report.xml"), cwd=proj)
    assert server.stats()["auth_headers"][0] == f"Bearer {KEY}"  # the key was really used...
    for path in proj.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert KEY.encode() not in path.read_bytes(), path  # ...and never written down


def test_invalid_input_is_exit_2_before_any_call(proj: Path, server: FakeServer) -> None:
    write_files(
        proj, {"cases/echo.yaml": "prompt: echo\ncases:\n  - {id: a, vars: {text: x}, assert: [nope]}\n"}
    )
    r = invoke("test", cwd=proj)
    assert r.exit_code == 2 and "cases/echo.yaml:3:" in r.stderr
    assert server.stats()["requests"] == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_keeps_finished_rows_and_rerun_sends_only_the_rest(
    proj: Path, server: FakeServer, sig: int
) -> None:
    n = 12
    write_files(proj, {"cases/echo.yaml": many_cases(n)})
    server.configure(latency=0.4)
    run = interrupt_cli_test(proj, lambda: server.stats()["requests"], sig=sig, env={"FAKE_KEY": KEY})
    assert run.returncode == 130, (run.stdout, run.stderr)
    assert "interrupted" in run.stderr and "Traceback" not in run.stderr
    assert run.record["complete"] is False and run.record["interrupted"] is True
    done = len(run.record["rows"])
    assert run.record["selection"]["partial"] == [f"interrupted: {done} of {n} rows finished"]
    assert 0 < done < n
    server.configure(latency=0.0)
    server.reset()
    r = invoke("test", cwd=proj)
    assert r.exit_code == 0, r.output
    assert server.stats()["requests"] == n - done


def test_verbose_lists_every_case_and_show_reads_back(proj: Path) -> None:
    r = invoke("test", "-v", cwd=proj)
    assert r.exit_code == 0
    lines = [line for line in r.stdout.splitlines() if line.startswith("PASS")]
    assert {line.split()[2] for line in lines} == {"hello", "bye"}
    shown = invoke("show", "-v", cwd=proj)
    assert shown.exit_code == 0 and "hello" in shown.stdout and "2 passed" in shown.stdout
    md = invoke("show", "--format", "markdown", cwd=proj)
    assert md.stdout.startswith("### ✅")


def test_judge_goes_through_the_model_layer_and_prose_is_an_error(proj: Path, server: FakeServer) -> None:
    server.configure(
        spec={
            "mode": "rules",
            "rules": [
                {"match": "STRICT-RUBRIC", "reply": "I think it is pretty good."},
                {"match": "(?i)rubric", "reply": '{"score": 0.9, "reason": "polite and on topic"}'},
            ],
            "default": "Hello there, happy to help.",
        }
    )
    write_files(
        proj,
        {
            "cases/echo.yaml": """
        prompt: echo
        cases:
          - id: graded
            vars: {text: greet me}
            assert:
              - {type: judge, rubric: "Is the reply polite?", model: other, threshold: 0.8}
          - id: unparseable
            vars: {text: greet me again}
            assert:
              - {type: judge, rubric: "STRICT-RUBRIC polite?", model: other}
    """
        },
    )
    r = invoke("test", "--format", "json", cwd=proj)
    rows = {row["case"]: row for row in json.loads(r.stdout)["rows"]}
    assert rows["graded"]["status"] == "pass" and rows["graded"]["asserts"][0]["score"] == 0.9
    assert rows["unparseable"]["status"] == "error" and rows["unparseable"]["asserts"][0]["error"] is True
    assert r.exit_code == 3
    judged = [b for b in server.stats()["bodies"] if "rubric" in json.dumps(b).lower()]
    assert len(judged) == 2 and all(b["model"] == "other-model" for b in judged)
    server.reset()
    assert invoke("test", cwd=proj).exit_code == 3
    assert server.stats()["requests"] == 0  # outputs and judge answers both come from the cache


def test_selection_by_keyword_glob_negation_tag_and_path(proj: Path) -> None:
    write_files(
        proj,
        {
            "cases/echo.yaml": """
            prompt: echo
            cases:
              - {id: alpha-1, vars: {text: a}, tags: [smoke], assert: [not_empty]}
              - {id: alpha-2, vars: {text: b}, assert: [not_empty]}
              - {id: beta-1, vars: {text: c}, tags: [smoke], assert: [not_empty]}
        """,
            "cases/more.yaml": "prompt: echo\ncases:\n  - {id: gamma, vars: {text: d}, assert: [not_empty]}\n",
        },
    )

    def selected(*args: str) -> list[str]:
        r = invoke("test", *args, "--format", "json", cwd=proj)
        assert r.exit_code == 0, r.output
        return sorted(row["case"] for row in json.loads(r.stdout)["rows"])

    assert selected("-k", "alpha") == ["alpha-1", "alpha-2"]
    assert selected("-k", "*::*-1") == ["alpha-1", "beta-1"]
    assert selected("-k", "not alpha") == ["beta-1", "gamma"]
    assert selected("-k", "alpha-2", "-k", "gamma") == ["alpha-2", "gamma"]
    assert selected("--tag", "smoke") == ["alpha-1", "beta-1"]
    assert selected("cases/more.yaml") == ["gamma"]
    assert selected("prompts/echo.yaml") == ["alpha-1", "alpha-2", "beta-1", "gamma"]
    both = sorted(selected("--shard", "1/2") + selected("--shard", "2/2"))
    assert both == ["alpha-1", "alpha-2", "beta-1", "gamma"]
    assert invoke("test", "--shard", "3/2", cwd=proj).exit_code == 2


def test_failure_table_groups_repeated_samples_by_case(proj: Path, server: FakeServer) -> None:
    """With repeat, one line per failing case: its pass count, the most common reason, one output;
    a case that passed overall lists none of its failing samples."""
    server.configure(spec={"mode": "bernoulli", "p": 0.5, "pass": "PASS", "fail": "FAIL", "seed": 3})
    write_files(
        proj,
        {
            "cases/echo.yaml": """
        prompt: echo
        repeat: 10
        cases:
          - id: lenient
            vars: {text: flip}
            min_pass_rate: 0.1
            assert: [{type: equals, value: PASS}]
          - id: strict
            vars: {text: flip again}
            assert: [{type: equals, value: PASS}]
    """
        },
    )
    r = invoke("test", cwd=proj)
    assert r.exit_code == 1, r.output
    data = json.loads(invoke("show", "--format", "json", cwd=proj).stdout)
    strict = [row for row in data["rows"] if row["case"] == "strict"]
    passes = sum(row["status"] == "pass" for row in strict)
    lines = r.stdout.splitlines()
    table = lines[lines.index("Failures") + 1 :]
    assert table[0].split() == ["PROMPT", "CASE", "MODEL", "PASSED", "ASSERTION", "REASON", "OUTPUT"]
    body = [line for line in table[1:] if line.startswith("echo")]
    assert len(body) == 1, table  # one line for 'strict', none for 'lenient' (it passed overall)
    assert body[0].split()[:4] == ["echo", "strict", "fake", f"{passes}/10"]
    assert f"({10 - passes} of 10 samples)" in body[0] and "FAIL" in body[0]
