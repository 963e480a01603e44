"""``promptctl worker status|stop`` through the CLI: what runs, whether this project uses it, stale
sockets, and stopping everything."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from promptctl.execute.workers.service import service_key, socket_path
from tests.fakeserver import FakeServer
from tests.helpers import init_repo, invoke


def test_status_then_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warm_workers: Path) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-0123456789abcdef")
    with FakeServer(spec={"mode": "echo"}) as srv:
        cfg = (
            f"model: f\nworkers: 1\nworker_idle_timeout: 120\nmodels:\n  f:\n    model: openai/m\n"
            f"    api_base: {srv.url}\n    api_key_env: FAKE_KEY\n"
        )
        root = init_repo(
            tmp_path / "repo",
            {
                "promptctl.yaml": cfg,
                "prompts/p.yaml": 'template: "hi"\n',
                "cases/p.yaml": "prompt: p\ncases:\n  - {id: a, assert: [not_empty]}\n",
            },
        )
        monkeypatch.delenv("PROMPTCTL_WORKERS")  # promptctl.yaml decides: 1 worker
        assert invoke("test", "--no-cache", cwd=root).exit_code == 0
    r = invoke("worker", "status", cwd=root)
    assert r.exit_code == 0, r.output
    assert "live runs here use up to 1 warm worker(s), each exiting after 120 s idle" in r.stdout
    assert "ready" in r.stdout and "promptctl 0.1.0, litellm 1.106.2" in r.stdout
    data = json.loads(invoke("worker", "status", "--json", cwd=root).stdout)
    current = [w for w in data["workers"] if w["current"]]
    assert len(current) == 1 and current[0]["calls"] >= 1 and current[0]["idle_timeout_s"] == 120
    assert data["directory"] == str(warm_workers)
    # A stale socket (its worker died without removing it) is listed, then removed by stop.
    stale = socket_path(warm_workers, service_key(), 7)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(stale))
    s.close()
    assert "a stale socket" in invoke("worker", "status", cwd=root).stdout
    monkeypatch.setenv("PROMPTCTL_WORKERS", "0")
    off = invoke("worker", "status", cwd=root)
    assert (
        "live runs here make their calls in-process: PROMPTCTL_WORKERS=0 turns warm workers off" in off.stdout
    )
    r = invoke("worker", "stop", cwd=root)
    assert r.exit_code == 0, r.output
    assert "stopped" in r.stdout and "removed 1 stale socket(s)" in r.stdout
    assert not stale.exists() and not list(warm_workers.glob("*.sock"))
    again = invoke("worker", "status", cwd=tmp_path)  # outside any project too
    assert again.exit_code == 0 and "no warm worker is running" in again.stdout
    assert "no warm worker is running" in invoke("worker", "stop", cwd=root).stdout


def test_ci_turns_workers_off_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMPTCTL_WORKERS")
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("PROMPTCTL_WORKER_DIR", str(tmp_path / "w"))
    r = invoke("worker", "status", cwd=tmp_path)
    assert r.exit_code == 0 and "make their calls in-process: CI is set" in r.stdout, r.output
