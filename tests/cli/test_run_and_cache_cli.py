"""`promptctl run` (one streamed call) and cache robustness, through the entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptctl.run.one_call import run_once
from promptctl.suite.project import open_project
from tests.cli.test_test_command import KEY, project_files
from tests.fakeserver import FakeServer
from tests.helpers import init_repo, invoke


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FAKE_KEY", KEY)
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield init_repo(tmp_path / "repo", project_files(srv.url)), srv


def test_run_prints_answer_and_usage(setup) -> None:  # type: ignore[no-untyped-def]
    root, srv = setup
    r = invoke("run", "echo", "--var", "text=ping pong", "--no-stream", cwd=root)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "ping pong"
    assert "[fake] tokens" in r.stderr and "latency" in r.stderr and "cost" in r.stderr
    assert srv.stats()["requests"] == 1


def test_run_streams_tokens(setup) -> None:  # type: ignore[no-untyped-def]
    root, srv = setup
    chunks: list[str] = []
    resp = run_once(open_project(root), "echo", {"text": "one two three four"}, on_token=chunks.append)
    assert resp.status == "ok" and "".join(chunks) == resp.text == "one two three four"
    assert len(chunks) > 1
    body = srv.stats()["bodies"][0]
    assert (body["stream"] if isinstance(body, dict) else '"stream": true' in body) is True


def test_run_failure_is_exit_3(setup) -> None:  # type: ignore[no-untyped-def]
    root, srv = setup
    srv.configure(faults=[{"kind": "500", "always": True}])
    r = invoke("run", "echo", "--var", "text=x", "--no-stream", cwd=root)
    assert r.exit_code == 3 and "error:" in r.stderr and "Traceback" not in r.output


def test_run_unknown_prompt_suggests(setup) -> None:  # type: ignore[no-untyped-def]
    root, _ = setup
    r = invoke("run", "ecko", cwd=root)
    assert r.exit_code == 2 and "did you mean 'echo'" in r.stderr


def test_corrupt_cache_is_reported_and_bypassed(setup) -> None:  # type: ignore[no-untyped-def]
    root, srv = setup
    cache = root / ".promptctl/cache/cache.sqlite3"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"this is not a database" * 100)
    r = invoke("test", cwd=root)
    assert r.exit_code == 0, r.output
    assert "warning: cache" in r.stderr and "unreadable" in r.stderr
    assert srv.stats()["requests"] == 2
    assert invoke("cache", "clear", cwd=root).exit_code == 0
    assert invoke("test", cwd=root).exit_code == 0
    srv.reset()
    assert invoke("test", cwd=root).exit_code == 0
    assert srv.stats()["requests"] == 0
