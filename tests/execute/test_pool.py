"""Live calls in model worker processes (``execute/pool.py``), through litellm's real HTTP stack
against the loopback fake server: same rows as in-process, concurrency bound across workers,
retries and fallbacks, a killed worker, interruption without orphans, and the early
missing-credentials error.

Every pool start pays litellm's import in fresh interpreters (~5 s on 2 cores), so the tests
share as few pools as they can."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptctl.execute.pool import WorkerPool, worker_count
from promptctl.execute.types import ModelRequest, ModelResponse, RetryPolicy, Target
from tests.fakeserver import FakeServer
from tests.helpers import init_repo, interrupt_cli_test, invoke, write_files

KEY = "sk-test-0123456789abcdef0123456789"
SAME: tuple[str, ...] = ("status", "output", "error", "attempts", "retries", "answered_by", "provider_model")
SAME += ("input_tokens", "output_tokens", "cost", "finish_reason")


def config(url: str, concurrency: int = 4) -> str:
    return f"""
model: fake
concurrency: {concurrency}
max_retries: 2
retry_max_wait: 0.2
timeout: 5
models:
  fake:
    model: openai/gpt-4o-mini
    api_base: {url}
    api_key_env: FAKE_KEY
    fallbacks: [other]
  other:
    model: openai/other-model
    api_base: {url}
    api_key_env: FAKE_KEY
"""


def cases(n: int, extra: str = "") -> str:
    body = "".join(
        f"  - {{id: c{i:02d}, vars: {{text: 'row {i} says hi'}}, assert: [not_empty]}}\n" for i in range(n)
    )
    return "prompt: echo\ncases:\n" + body + extra


ECHO = 'inputs: {text: {}}\nparams: {temperature: 0}\ntemplate: "{{ text }}"\n'


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            if int(stat[stat.rindex(b")") + 2 :].split()[1]) == pid:
                out.append(int(entry))
    return out


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] != b"Z"


def test_worker_count_and_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    assert worker_count(50, 64) == 0  # too few requests to pay for a worker's start-up
    assert worker_count(100_000, 64) == min(os.cpu_count() or 1, 8) or worker_count(100_000, 64) == 0
    assert worker_count(5, 64, requested=2) == 2 and worker_count(1, 64, requested=2) == 0
    assert worker_count(500, 64, requested=1) == 0 and worker_count(500, 3, requested=8) == 3
    monkeypatch.setenv("PROMPTCTL_WORKERS", "3")
    assert worker_count(10, 64) == 3 and worker_count(10, 64, requested=0) == 0
    monkeypatch.setenv("PROMPTCTL_WORKERS", "0")
    assert worker_count(100_000, 64) == 0
    assert WorkerPool(3, 8, RetryPolicy()).slots == [3, 3, 2]
    assert WorkerPool(4, 2, RetryPolicy()).slots == [1, 1]


def test_workers_answer_like_in_process_with_retries_fallbacks_and_missing_keys(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same project run with 2 workers and in-process: identical rows (retries, fallbacks,
    tokens, cost, the missing-key error) and the concurrency bound held across processes."""
    monkeypatch.setenv("FAKE_KEY", KEY)
    extra = (
        "  - {id: retry, vars: {text: 'retry-me please'}, assert: [not_empty]}\n"
        "  - {id: fallback, vars: {text: 'fallback-me please'}, assert: [not_empty]}\n"
    )
    nokey_file = "prompt: echo\nmodels: [gpt-4o-mini]\ncases:\n  - {id: nokey, vars: {text: 'no key'}, assert: [not_empty]}\n"
    root = init_repo(
        tmp_path / "repo",
        {
            "promptctl.yaml": config(server.url),
            "prompts/echo.yaml": ECHO,
            "cases/echo.yaml": cases(24, extra),
            "cases/nokey.yaml": nokey_file,
        },
    )
    faults = [
        {"kind": "429", "first": 1, "retry_after": 0.05, "match": "retry-me"},
        {"kind": "500", "always": True, "match": "gpt-4o-mini.*fallback-me|fallback-me.*gpt-4o-mini"},
    ]
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for workers in ("2", "0"):
        server.configure(faults=faults, latency=0.05)
        server.reset()
        monkeypatch.setenv("PROMPTCTL_WORKERS", workers)
        r = invoke("test", "--no-cache", "--format", "json", cwd=root)
        assert r.exit_code == 3, r.output  # the no-key row is an error
        data = json.loads(r.stdout)
        rows[workers] = {row["case"]: row for row in data["rows"]}
        st = server.stats()
        assert st["max_in_flight"] <= 4
        # 24 plain + retry (2 attempts) + fallback (primary fails 3x, fallback once); no-key: none
        assert st["requests"] == 24 + 2 + 4
    pooled, local = rows["2"], rows["0"]
    assert set(pooled) == set(local) and len(pooled) == 27
    for case, row in pooled.items():
        assert {k: row[k] for k in SAME} == {k: local[case][k] for k in SAME}, case
    assert all(pooled[f"c{i:02d}"]["status"] == "pass" for i in range(24))
    assert (pooled["retry"]["attempts"], pooled["retry"]["retries"]) == (2, 1)
    assert pooled["fallback"]["answered_by"] == "other" and pooled["fallback"]["status"] == "pass"
    nokey = pooled["nokey"]
    assert nokey["status"] == "error" and nokey["attempts"] == 0
    assert nokey["error"] == (
        "no API key for gpt-4o-mini: set OPENAI_API_KEY (or put it in .env); "
        "to use committed recordings instead run `promptctl test --offline`"
    )


def test_missing_key_is_reported_at_once_and_names_a_stale_recording(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", KEY)
    cfg = f"model: m\nmodels:\n  m:\n    model: openai/gpt-4o-mini\n    api_base: {server.url}\n    api_key_env: FAKE_KEY\n"
    root = init_repo(
        tmp_path / "repo", {"promptctl.yaml": cfg, "prompts/echo.yaml": ECHO, "cases/echo.yaml": cases(3)}
    )
    assert invoke("test", "--record", cwd=root).exit_code == 0
    # The alias now points at OpenAI itself, whose key is not set: recordings are stale.
    write_files(root, {"promptctl.yaml": "model: m\nmodels:\n  m:\n    model: gpt-4o-mini\n"})
    write_files(root, {"cases/echo.yaml": cases(4)})  # c03 has no recording at all
    server.reset()
    started = time.monotonic()
    r = invoke("test", "--format", "json", cwd=root)
    assert time.monotonic() - started < 30
    assert r.exit_code == 3, r.output
    by_case = {row["case"]: row for row in json.loads(r.stdout)["rows"]}
    assert all(row["status"] == "error" and row["attempts"] == 0 for row in by_case.values())
    assert by_case["c00"]["error"] == (
        "no API key for gpt-4o-mini: set OPENAI_API_KEY (or put it in .env); its recording is stale: "
        "the request changed since it was recorded; refresh with "
        "`promptctl test --record cases/echo.yaml -k c00`"
    )
    assert by_case["c03"]["error"].endswith(
        "to use committed recordings instead run `promptctl test --offline`"
    )
    assert server.stats()["requests"] == 0


def test_pool_kill_a_worker_then_close(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed mid-run: its in-flight calls become error rows at once, the rest finish on
    the other worker; close() leaves no process behind; the parent never imports litellm here."""
    monkeypatch.setenv("FAKE_KEY", KEY)
    server.configure(latency=0.3)
    target = Target(name="fake", model="openai/test-model", api_base=server.url, api_key_env="FAKE_KEY")

    def req(i: int) -> ModelRequest:
        return ModelRequest(target=target, messages=[{"role": "user", "content": f"hello {i}"}])

    async def main() -> tuple[list[ModelResponse], list[int], int]:
        pool = WorkerPool(2, 4, RetryPolicy(max_retries=1, base_delay=0.01, timeout=5))
        pool.start()
        try:
            warm = await asyncio.gather(*(pool.complete(req(i)) for i in range(4)))
            assert all(r.status == "ok" for r in warm), warm
            tasks = [asyncio.ensure_future(pool.complete(req(i))) for i in range(4, 16)]
            while server.stats()["requests"] < 6:  # 2 in flight on each worker
                await asyncio.sleep(0.01)
            victim = pool.workers[0]
            os.kill(victim.process.pid, signal.SIGKILL)
            results = await asyncio.wait_for(asyncio.gather(*tasks), 30)
            return [*warm, *results], pool.pids, pool.max_in_flight
        finally:
            pool.close()

    results, pids, max_in_flight = asyncio.run(main())
    errors = [r for r in results if r.status == "error"]
    assert 1 <= len(errors) <= 2, [r.error for r in errors]
    assert all("exited (killed by signal 9)" in (r.error or "") for r in errors)
    assert all(
        r.text == f"hello {i}" and r.answered_by == "fake" for i, r in enumerate(results) if r.status == "ok"
    )
    assert max_in_flight <= 4 and server.stats()["max_in_flight"] <= 4
    assert not any(_running(pid) for pid in pids)


def test_interrupted_cli_run_keeps_rows_and_leaves_no_worker(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 12
    root = init_repo(
        tmp_path / "repo",
        {"promptctl.yaml": config(server.url, 2), "prompts/echo.yaml": ECHO, "cases/echo.yaml": cases(n)},
    )
    server.configure(latency=0.4)
    run = interrupt_cli_test(
        root,
        lambda: server.stats()["requests"],
        env={"FAKE_KEY": KEY, "PROMPTCTL_WORKERS": "2"},
        while_running=lambda proc: _children(proc.pid),
    )
    workers = run.seen
    assert len(workers) == 2, workers
    assert run.returncode == 130, (run.stdout, run.stderr)
    assert "interrupted" in run.stderr and "Traceback" not in run.stderr
    assert not any(_running(pid) for pid in workers)
    done = len(run.record["rows"])
    assert run.record["interrupted"] is True and 0 < done < n
    server.configure(latency=0.0)
    server.reset()
    monkeypatch.setenv("FAKE_KEY", KEY)
    monkeypatch.setenv("PROMPTCTL_WORKERS", "0")
    assert invoke("test", cwd=root).exit_code == 0
    assert server.stats()["requests"] == n - done


def test_workers_start_isolated_from_the_repository(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Modules in the directory promptctl runs from (the repository under test) must not shadow
    litellm or promptctl inside a worker, nor PYTHON* variables reach it: it starts with
    `python -I` in a directory of its own."""
    monkeypatch.setenv("FAKE_KEY", KEY)
    marker = tmp_path / "PWNED"
    trap = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
    root = tmp_path / "repo"
    write_files(root, {"litellm.py": trap, "promptctl.py": trap, "tiktoken.py": trap, "startup.py": trap})
    monkeypatch.chdir(root)
    monkeypatch.setenv("PYTHONSTARTUP", str(root / "startup.py"))
    monkeypatch.setenv("PYTHONPATH", str(root))
    target = Target(name="fake", model="openai/test-model", api_base=server.url, api_key_env="FAKE_KEY")

    async def main() -> list[ModelResponse]:
        pool = WorkerPool(2, 4, RetryPolicy(max_retries=0, timeout=5))
        pool.start()
        try:
            reqs = [
                ModelRequest(target=target, messages=[{"role": "user", "content": f"hi {i}"}])
                for i in range(4)
            ]
            return await asyncio.wait_for(asyncio.gather(*(pool.complete(r) for r in reqs)), 120)
        finally:
            pool.close()

    results = asyncio.run(main())
    assert [r.text for r in results] == [f"hi {i}" for i in range(4)], [r.error for r in results]
    assert not marker.exists(), marker.read_text()
