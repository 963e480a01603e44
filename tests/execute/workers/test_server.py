"""The worker process itself: private socket and directory, no other user served, one worker per
slot however many start at once, status and stop, started isolated (``python -I``, a safe working
directory: a ``litellm.py`` in the repository is never imported)."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import sys
import time
from pathlib import Path

import pytest

from promptctl.execute.workers.client import WorkerClient
from promptctl.execute.workers.control import stop_workers, worker_statuses
from promptctl.execute.workers.protocol import recv_frame, send_frame
from promptctl.execute.workers.service import resolve_settings, service_key, socket_path, spawn


def _wait_for(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert path.exists(), f"no socket at {path}"


def _alive(pid: int) -> bool:
    try:
        stat_ = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat_[stat_.rindex(b")") + 2 : stat_.rindex(b")") + 3] != b"Z"


def test_private_socket_one_worker_per_slot_status_and_stop(
    worker_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTCTL_WORKER_DIR", str(worker_home))
    stop_workers()  # the slot free, whatever earlier tests left warm
    key = service_key()
    path = socket_path(worker_home, key, 0)
    # Three started at once for one slot (three runs starting together): one serves.
    procs = [spawn(worker_home, key, 0, 600) for _ in range(3)]
    _wait_for(path)
    deadline = time.monotonic() + 30
    while sum(p.poll() is None for p in procs) > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    serving = [p for p in procs if p.poll() is None]
    assert len(serving) == 1 and all(p.returncode == 0 for p in procs if p not in serving)
    assert stat.S_IMODE(worker_home.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_ISSOCK(path.stat().st_mode)
    [status] = [w for w in worker_statuses()[1] if w.get("index") == 0 and w.get("current")]
    assert status["pid"] == serving[0].pid and status["key"] == key and status["connections"] == 0
    assert status["versions"]["python"] == sys.version.split()[0]
    # Isolated: promptctl's own code, a working directory of its own, `python -I`.
    assert Path(f"/proc/{status['pid']}/cwd").resolve() == worker_home.resolve()
    assert b"\x00-I\x00" in Path(f"/proc/{status['pid']}/cmdline").read_bytes()
    _directory, stopped = stop_workers()
    assert {"socket": str(path), "pid": status["pid"], "stopped": True} in stopped
    assert not path.exists() and not _alive(status["pid"])


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user")
def test_another_user_is_not_served(
    worker_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Even with the directory and socket opened up to everyone, a connection from another uid is
    closed unread (SO_PEERCRED); with them as they are, it cannot even connect."""
    monkeypatch.setenv("PROMPTCTL_WORKER_DIR", str(worker_home))
    monkeypatch.setenv("PROMPTCTL_WORKERS", "1")
    client = asyncio.run(WorkerClient.open(resolve_settings(), demand=1, warn=pytest.fail))
    assert client is not None
    client.close()
    path = socket_path(worker_home, service_key(), 0)

    def as_nobody(chmod_open: bool) -> str:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: become uid 65534 and try
            os.close(read)
            try:
                os.setgid(65534)
                os.setuid(65534)
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(10)
                    s.connect(str(path))
                    send_frame(s, {"op": "status"})
                    answer = recv_frame(s)
                    outcome = "answered" if answer is not None else "closed"
            except PermissionError:
                outcome = "denied"
            except OSError as exc:
                outcome = f"closed ({exc.__class__.__name__})"
            os.write(write, outcome.encode())
            os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        with os.fdopen(read, "rb") as fh:
            return fh.read().decode()

    assert as_nobody(False) == "denied"
    worker_home.chmod(0o711)
    os.chmod(path, 0o666)
    try:
        assert as_nobody(True).startswith("closed")
    finally:
        os.chmod(path, 0o600)
        worker_home.chmod(0o700)
    [status] = [w for w in worker_statuses()[1] if w.get("index") == 0 and w.get("current")]
    assert status["calls"] == 0  # nothing was served to it


def test_a_repository_litellm_is_never_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, worker_home: Path
) -> None:
    """A ``litellm.py`` next to the run (and on PYTHONPATH) does not run in the worker."""
    from tests.fakeserver import FakeServer
    from tests.helpers import init_repo, invoke

    marker = tmp_path / "pwned"
    evil = f"import pathlib; pathlib.Path({str(marker)!r}).write_text('ran')\n"
    monkeypatch.setenv("PROMPTCTL_WORKER_DIR", str(worker_home))
    monkeypatch.setenv("PROMPTCTL_WORKERS", "1")
    monkeypatch.setenv("FAKE_KEY", "sk-test-0123456789")
    with FakeServer(spec={"mode": "echo"}) as srv:
        cfg = f"model: f\nmodels:\n  f:\n    model: openai/m\n    api_base: {srv.url}\n    api_key_env: FAKE_KEY\n"
        root = init_repo(
            tmp_path / "repo",
            {
                "promptctl.yaml": cfg,
                "litellm.py": evil,
                "prompts/p.yaml": 'template: "hi"\n',
                "cases/p.yaml": "prompt: p\ncases:\n  - {id: a, assert: [not_empty]}\n",
            },
        )
        stop_workers()  # a fresh worker, started from inside this repository
        monkeypatch.setenv("PYTHONPATH", str(root))
        r = invoke("test", "--no-cache", cwd=root)
    assert r.exit_code == 0, r.output
    assert not marker.exists()
    assert [w["calls"] for w in worker_statuses()[1] if w.get("current")] == [1]
