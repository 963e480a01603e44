"""Live calls through warm model workers, end to end: litellm's real HTTP stack against the loopback
fake server, the real CLI, real worker processes (shared by the session: ``warm_workers``).

Same rows as in-process (retries, fallbacks, the missing-key error), the concurrency bound and an
alias's rpm held across workers, keys only in requests (never in a worker's environment), workers
reused by the next run, a killed worker and a worker that cannot be used falling back to
in-process calls with one warning, interruption cancelling the calls in the workers, and
``promptctl run`` streaming through a worker."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptctl.execute.workers.control import worker_statuses
from promptctl.execute.workers.protocol import encode, recv_frame
from promptctl.execute.workers.service import service_key, socket_path
from tests.fakeserver import FakeServer
from tests.helpers import init_repo, interrupt_cli_test, invoke

KEY = "sk-test-0123456789abcdef0123456789"
SAME: tuple[str, ...] = ("status", "output", "error", "attempts", "retries", "answered_by", "provider_model")
SAME += ("input_tokens", "output_tokens", "cost", "finish_reason")
ECHO = 'inputs: {text: {}}\nparams: {temperature: 0}\ntemplate: "{{ text }}"\n'


def config(url: str, concurrency: int = 4, extra: str = "") -> str:
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
{extra}"""


def cases(n: int, extra: str = "", prompt: str = "echo") -> str:
    body = "".join(
        f"  - {{id: c{i:02d}, vars: {{text: 'row {i} says hi'}}, assert: [not_empty]}}\n" for i in range(n)
    )
    return f"prompt: {prompt}\ncases:\n" + body + extra


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


def _current() -> list[dict[str, Any]]:
    return [w for w in worker_statuses()[1] if w.get("current")]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] != b"Z"


def test_workers_answer_like_in_process_and_stay_warm(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, warm_workers: Path
) -> None:
    """The same project run through 2 workers and in-process: identical rows (retries, fallbacks,
    tokens, cost, the missing-key error); the workers keep serving the next run."""
    monkeypatch.setenv("FAKE_KEY", KEY)
    extra = (
        "  - {id: retry, vars: {text: 'retry-me please'}, assert: [not_empty]}\n"
        "  - {id: fallback, vars: {text: 'fallback-me please'}, assert: [not_empty]}\n"
    )
    nokey = "prompt: echo\nmodels: [gpt-4o-mini]\ncases:\n  - {id: nokey, vars: {text: 'no key'}, assert: [not_empty]}\n"
    root = init_repo(
        tmp_path / "repo",
        {
            "promptctl.yaml": config(server.url),
            "prompts/echo.yaml": ECHO,
            "cases/echo.yaml": cases(600, extra),
            "cases/nokey.yaml": nokey,
        },
    )
    faults = [
        {"kind": "429", "first": 1, "retry_after": 0.05, "match": "retry-me"},
        {"kind": "500", "always": True, "match": "gpt-4o-mini.*fallback-me|fallback-me.*gpt-4o-mini"},
    ]
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for workers in ("2", "0"):
        server.configure(faults=faults, latency=0.01)
        server.reset()
        monkeypatch.setenv("PROMPTCTL_WORKERS", workers)
        r = invoke("test", "--no-cache", "--format", "json", cwd=root)
        assert r.exit_code == 3, r.output  # the no-key row is an error
        assert "warning" not in r.stderr, r.stderr
        rows[workers] = {row["case"]: row for row in json.loads(r.stdout)["rows"]}
        st = server.stats()
        assert st["max_in_flight"] <= 4
        # 600 plain + retry (2 attempts) + fallback (primary fails 3x, fallback once); no-key: none
        assert st["requests"] == 600 + 2 + 4
        assert {h for h in st["auth_headers"]} == {f"Bearer {KEY}"}
        if workers == "2":
            served = {w["pid"]: w["calls"] for w in _current()}
            assert len(served) == 2 and all(n > 0 for n in served.values()), served  # 606 calls: both
    pooled, local = rows["2"], rows["0"]
    assert set(pooled) == set(local) and len(pooled) == 603
    for case, row in pooled.items():
        assert {k: row[k] for k in SAME} == {k: local[case][k] for k in SAME}, case
    assert (pooled["retry"]["attempts"], pooled["retry"]["retries"]) == (2, 1)
    assert pooled["fallback"]["answered_by"] == "other" and pooled["fallback"]["status"] == "pass"
    assert pooled["nokey"]["status"] == "error" and pooled["nokey"]["attempts"] == 0
    assert pooled["nokey"]["error"] == (
        "no API key for gpt-4o-mini: set OPENAI_API_KEY (or put it in .env); "
        "to use committed recordings instead run `promptctl test --offline`"
    )
    # The next run reuses the same (warm) processes.
    before = {w["pid"]: w["calls"] for w in _current()}
    monkeypatch.setenv("PROMPTCTL_WORKERS", "2")
    server.configure(faults=[])
    assert invoke("test", "--no-cache", "cases/echo.yaml", "-k", "c00", cwd=root).exit_code == 0
    after = {w["pid"]: w["calls"] for w in _current()}
    assert set(after) == set(before) and sum(after.values()) == sum(before.values()) + 1


def test_keys_travel_with_requests_only(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, warm_workers: Path
) -> None:
    """A worker's environment holds no key (read from /proc), yet each request gets its own key
    from the caller: a changed key is used at once; an api_base without api_key_env gets the
    dummy key, never OPENAI_API_KEY."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-provider-key-never-to-a-custom-base")
    local = f"\n  local:\n    model: openai/local-model\n    api_base: {server.url}\n"
    root = init_repo(
        tmp_path / "repo",
        {
            "promptctl.yaml": config(server.url, extra=local),
            "prompts/echo.yaml": ECHO,
            "prompts/local.yaml": ECHO.replace("inputs", "model: local\ninputs"),
            "cases/echo.yaml": cases(2),
            "cases/local.yaml": cases(2, prompt="local"),
        },
    )
    for key in (KEY, KEY + "-rotated"):
        monkeypatch.setenv("FAKE_KEY", key)
        server.reset()
        r = invoke("test", "--no-cache", cwd=root)
        assert r.exit_code == 0, r.output
        assert sorted(server.stats()["auth_headers"]) == sorted([f"Bearer {key}"] * 2 + ["Bearer no-key"] * 2)
    for w in _current():
        environ = Path(f"/proc/{w['pid']}/environ").read_bytes()
        assert b"sk-" not in environ and b"FAKE_KEY" not in environ and b"OPENAI_API_KEY" not in environ


def test_concurrency_and_rpm_hold_across_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warm_workers: Path
) -> None:
    """-j bounds the calls in flight whichever worker takes them; an alias's rpm holds in total
    (each of the 2 workers spaces its calls twice as far apart)."""
    starts: list[float] = []

    def responder(req: dict[str, Any]) -> str:
        starts.append(time.monotonic())
        return "ok"

    monkeypatch.setenv("FAKE_KEY", KEY)
    with FakeServer(responder=responder, latency=0.05) as srv:
        rpm = f"\n  limited:\n    model: openai/limited\n    api_base: {srv.url}\n    api_key_env: FAKE_KEY\n    rpm: 300\n"
        root = init_repo(
            tmp_path / "repo",
            {
                "promptctl.yaml": config(srv.url, concurrency=3, extra=rpm),
                "prompts/echo.yaml": ECHO,
                "prompts/lim.yaml": ECHO.replace("inputs", "model: limited\ninputs"),
                "cases/echo.yaml": cases(300),
            },
        )
        r = invoke("test", "--no-cache", cwd=root)
        assert r.exit_code == 0, r.output
        assert srv.stats()["max_in_flight"] <= 3
        assert len({w["pid"] for w in _current()}) == 2
        (root / "cases/lim.yaml").write_text(cases(6, prompt="lim"))
        starts.clear()
        r = invoke("test", "--no-cache", "cases/lim.yaml", cwd=root)
        assert r.exit_code == 0, r.output
    # 300 rpm = one call per 0.2 s in total: each of the 2 workers spaces its calls 0.4 s apart,
    # so 6 calls (3 per worker, the first two at once) span 0.8 s; in-process one clock would
    # span 1.0 s, and without the share the 2 workers would finish within 0.4 s.
    spans = [round(s - starts[0], 2) for s in starts]
    assert len(starts) == 6 and starts[-1] - starts[0] >= 0.75, spans


def test_a_killed_worker_hands_its_calls_back(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, warm_workers: Path
) -> None:
    """A worker killed mid-run: the calls it had in flight are made in-process, with one warning;
    no row is lost or duplicated; the next run starts a replacement."""
    monkeypatch.setenv("FAKE_KEY", KEY)
    n = 40
    root = init_repo(
        tmp_path / "repo",
        {
            "promptctl.yaml": config(server.url, concurrency=8),
            "prompts/echo.yaml": ECHO,
            "cases/echo.yaml": cases(n),
        },
    )
    invoke("test", "--no-cache", "-k", "c00", cwd=root)  # both workers up
    victims = [w["pid"] for w in _current()]
    server.configure(latency=0.3)
    server.reset()

    def kill_when_busy() -> None:
        deadline = time.monotonic() + 30
        while server.stats()["requests"] < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(victims[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_when_busy)
    killer.start()
    r = invoke("test", "--no-cache", "--format", "json", cwd=root)
    killer.join()
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["rows"]
    assert len(rows) == n and len({row["case"] for row in rows}) == n
    assert all(row["status"] == "pass" for row in rows)
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"model worker {victims[0]} exited" in warnings[0], r.stderr
    assert "continue in this process" in warnings[0]
    server.configure(latency=0.0)
    assert invoke("test", "--no-cache", "-k", "c01", cwd=root).exit_code == 0
    pids = {w["pid"] for w in _current()}
    assert victims[0] not in pids and victims[1] in pids


def test_interrupt_cancels_the_calls_in_the_workers(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, warm_workers: Path
) -> None:
    """SIGINT mid-run: exit 130, the finished rows kept, the workers drop the run's calls at once
    (none left in flight, no connection) and stay warm; the rerun calls only what had not finished."""
    n = 12
    root = init_repo(
        tmp_path / "repo",
        {"promptctl.yaml": config(server.url, 2), "prompts/echo.yaml": ECHO, "cases/echo.yaml": cases(n)},
    )
    monkeypatch.setenv("FAKE_KEY", KEY)
    assert invoke("test", "--no-cache", "-k", "c00", cwd=root).exit_code == 0  # warm
    (root / ".promptctl" / "runs").rename(tmp_path / "runs-before")
    server.configure(latency=1.0)
    server.reset()
    run = interrupt_cli_test(
        root,
        lambda: server.stats()["requests"],
        env={"FAKE_KEY": KEY},
        after_requests=4,
        while_running=lambda _proc: {w["pid"] for w in _current()},
    )
    assert run.returncode == 130, (run.stdout, run.stderr)
    assert "interrupted" in run.stderr and "Traceback" not in run.stderr
    done = len(run.record["rows"])
    assert run.record["interrupted"] is True and 0 < done < n
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        current = _current()
        if all(w["in_flight"] == 0 and w["connections"] == 0 for w in current):
            break
        time.sleep(0.05)
    assert all(w["in_flight"] == 0 and w["connections"] == 0 for w in current), current
    assert {w["pid"] for w in current} == run.seen  # still warm
    server.configure(latency=0.0)
    server.reset()
    assert invoke("test", cwd=root).exit_code == 0
    assert server.stats()["requests"] == n - done


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path (a Unix socket path holds ~100 bytes; pytest's tmp_path under
    parallel workers is longer)."""
    import shutil
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="pct-", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_unusable_workers_fall_back_in_process_with_one_warning(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, warm_workers: Path, short_dir: Path
) -> None:
    monkeypatch.setenv("FAKE_KEY", KEY)
    root = init_repo(
        tmp_path / "repo",
        {"promptctl.yaml": config(server.url), "prompts/echo.yaml": ECHO, "cases/echo.yaml": cases(3)},
    )
    # 1. A worker directory that is not private (here: a symlink).
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.setenv("PROMPTCTL_WORKER_DIR", str(tmp_path / "link"))
    r = invoke("test", "--no-cache", cwd=root)
    assert r.exit_code == 0, r.output
    assert r.stderr.count("warning:") == 1 and "is not a directory" in r.stderr, r.stderr
    assert not list((tmp_path / "real").iterdir())
    # 2. Something else answering on the socket: another protocol.
    d = short_dir / "w"
    d.mkdir(mode=0o700)
    monkeypatch.setenv("PROMPTCTL_WORKER_DIR", str(d))
    monkeypatch.setenv("PROMPTCTL_WORKERS", "1")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path(d, service_key(), 0)))
    listener.listen(4)

    def impostor() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                recv_frame(conn)
                conn.sendall(encode({"op": "hello", "v": 999, "key": "other", "pid": 1}))

    threading.Thread(target=impostor, daemon=True).start()
    try:
        r = invoke("test", "--no-cache", cwd=root)
    finally:
        listener.close()
    assert r.exit_code == 0, r.output
    assert r.stderr.count("warning:") == 1 and "speaks protocol 999 for key other" in r.stderr, r.stderr
    [entry] = worker_statuses()[1]  # no worker was started next to it
    assert "not a worker of this promptctl" in entry["error"]
    # 3. A stale socket (its worker died without removing it): replaced, no warning.
    d = short_dir / "w2"
    d.mkdir(mode=0o700)
    monkeypatch.setenv("PROMPTCTL_WORKER_DIR", str(d))
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(socket_path(d, service_key(), 0)))
    stale.close()
    monkeypatch.setenv("PROMPTCTL_WORKER_IDLE_TIMEOUT", "1")
    r = invoke("test", "--no-cache", cwd=root)
    assert r.exit_code == 0 and "warning" not in r.stderr, r.output
    [worker] = [w for w in worker_statuses()[1] if w.get("current")]
    assert worker["idle_timeout_s"] == 1 and worker["calls"] == 3
    # ... and a worker idle for its idle timeout exits and removes its socket.
    deadline = time.monotonic() + 30
    while _alive(worker["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker["pid"]) and not socket_path(d, service_key(), 0).exists()


def test_a_call_needing_the_callers_environment_is_made_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warm_workers: Path
) -> None:
    """Azure needs more than one key variable: the worker hands the call back; in-process it
    fails exactly as it always did (no credentials), after one warning."""
    root = init_repo(
        tmp_path / "repo",
        {
            "promptctl.yaml": "model: azure/gpt-4o\n",
            "prompts/echo.yaml": ECHO,
            "cases/echo.yaml": cases(2),
        },
    )
    r = invoke("test", "--no-cache", "--format", "json", cwd=root)
    assert r.exit_code == 3, r.output
    assert r.stderr.count("warning:") == 1 and "azure/gpt-4o needs AZURE_API_BASE" in r.stderr, r.stderr
    monkeypatch.setenv("PROMPTCTL_WORKERS", "0")
    local = invoke("test", "--no-cache", "--format", "json", cwd=root)
    assert [row["error"] for row in json.loads(r.stdout)["rows"]] == [
        row["error"] for row in json.loads(local.stdout)["rows"]
    ]


def test_run_streams_through_a_warm_worker(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, warm_workers: Path
) -> None:
    from promptctl.run.one_call import run_once
    from promptctl.suite.project import open_project

    monkeypatch.setenv("FAKE_KEY", KEY)
    root = init_repo(
        tmp_path / "repo",
        {"promptctl.yaml": config(server.url), "prompts/echo.yaml": ECHO, "cases/echo.yaml": cases(1)},
    )
    before = sum(w["calls"] for w in _current())
    tokens: list[str] = []
    warnings: list[str] = []
    resp = run_once(
        open_project(root, None),
        "echo",
        {"text": "one two three four"},
        on_token=tokens.append,
        on_warning=warnings.append,
    )
    assert resp.status == "ok" and resp.text == "one two three four" and not warnings
    assert len(tokens) > 1 and "".join(tokens) == "one two three four"
    assert sum(w["calls"] for w in _current()) == before + 1
    assert server.stats()["auth_headers"] == [f"Bearer {KEY}"]


def test_a_key_the_provider_echoes_is_masked_by_the_worker(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, warm_workers: Path
) -> None:
    """The worker's environment holds no key, yet a key value the provider sends back (here the
    echo of a message that quotes it) is masked in what the worker returns, streamed or not, and
    in the run record: the request's own keys are masked like the environment's."""
    from promptctl.run.one_call import run_once
    from promptctl.suite.project import open_project

    monkeypatch.setenv("FAKE_KEY", KEY)
    quoted = cases(0) + f"  - {{id: leak, vars: {{text: 'the key is {KEY}'}}, assert: [not_empty]}}\n"
    root = init_repo(
        tmp_path / "repo",
        {"promptctl.yaml": config(server.url), "prompts/echo.yaml": ECHO, "cases/echo.yaml": quoted},
    )
    before = sum(w["calls"] for w in _current())
    r = invoke("test", "--no-cache", "--format", "json", cwd=root)
    assert r.exit_code == 0, r.output
    assert KEY not in r.output and "the key is ***" in r.stdout
    [record] = (root / ".promptctl" / "runs").glob("*/*.json")
    assert KEY not in record.read_text() and "the key is ***" in record.read_text()
    tokens: list[str] = []
    resp = run_once(open_project(root, None), "echo", {"text": f"again {KEY} here"}, on_token=tokens.append)
    assert resp.text == "again *** here" and "".join(tokens) == "again *** here"
    assert sum(w["calls"] for w in _current()) == before + 2  # both made by a worker
