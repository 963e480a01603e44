"""``promptctl test --watch`` as a real process: a change reruns exactly the cases whose rendered
request (or checks) changed, a bad file shows its located error and the watch goes on, the warm
worker is held while nothing changes, Ctrl-C ends it with the last run's exit code."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from promptctl.execute.workers.control import stop_workers, worker_statuses
from tests.fakeserver import FakeServer
from tests.helpers import init_repo, invoke


class _Lines:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.q: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        out = proc.stdout

        def pump() -> None:
            for line in out:
                self.q.put(line)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, needle: str, timeout: float = 60) -> list[str]:
        """Lines up to (and with) the first one containing ``needle``."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.q.get(timeout=0.1)
            except queue.Empty:
                continue
            got.append(line)
            self.seen.append(line)
            if needle in line:
                return got
        raise AssertionError(
            f"no line with {needle!r} within {timeout} s; output so far:\n{''.join(self.seen)}"
        )


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] != b"Z"


def test_watch_reruns_what_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wdir = Path(tempfile.mkdtemp(prefix="pcw-", dir="/tmp"))
    wdir.chmod(0o700)
    monkeypatch.setenv("PROMPTCTL_WORKER_DIR", str(wdir))
    env = {
        **os.environ,
        "FAKE_KEY": "sk-test-0123456789abcdef",
        "PROMPTCTL_WORKERS": "1",
        "PROMPTCTL_WORKER_IDLE_TIMEOUT": "1",
    }
    cases = "prompt: echo\ncases:\n" + "".join(
        f"  - {{id: c{i}, vars: {{text: 'row {i}'}}, assert: [{{type: contains, value: row}}]}}\n"
        for i in range(3)
    )
    with FakeServer(spec={"mode": "echo"}) as srv:
        cfg = f"model: f\nmodels:\n  f:\n    model: openai/m\n    api_base: {srv.url}\n    api_key_env: FAKE_KEY\n"
        root = init_repo(
            tmp_path / "repo",
            {
                "promptctl.yaml": cfg,
                "prompts/echo.yaml": 'inputs: {text: {}}\ntemplate: "{{ text }}"\n',
                "cases/echo.yaml": cases,
            },
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "promptctl", "test", "--watch"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines = _Lines(proc)
        try:
            first = lines.until("watching prompts/, cases/ and promptctl.yaml")
            assert any("3 passed, 0 failed" in line for line in first), first
            assert srv.stats()["requests"] == 3
            [worker] = [w for w in worker_statuses()[1] if w.get("current")]
            time.sleep(2.5)  # over the idle timeout: held by the watch, still there
            assert _alive(worker["pid"])

            # The template changes: every case's request changed.
            (root / "prompts/echo.yaml").write_text('inputs: {text: {}}\ntemplate: "say {{ text }}"\n')
            got = lines.until("passed")
            assert any("rerunning 3 case(s)" in line for line in got), got
            assert srv.stats()["requests"] == 6

            # One case's vars change: that case only.
            (root / "cases/echo.yaml").write_text(cases.replace("'row 1'", "'row one'"))
            got = lines.until("passed")
            assert any("rerunning 1 case(s)" in line for line in got) and srv.stats()["requests"] == 7

            # Only an assertion changes: the case is re-validated from the cache, nothing is sent.
            (root / "cases/echo.yaml").write_text(
                cases.replace("'row 1'", "'row one'").replace("value: row}]}\n", "value: nope}]}\n", 1)
            )
            got = lines.until("failed")
            assert any("rerunning 1 case(s)" in line for line in got), got
            assert any("0 passed, 1 failed" in line for line in got) and srv.stats()["requests"] == 7

            # A bad file: its located error, and the watch goes on.
            (root / "cases/echo.yaml").write_text("prompt: echo\ncases:\n  - {id: c0, vars: [oops\n")
            got = lines.until("waiting for a fix")
            assert any(line.startswith("cases/echo.yaml:") for line in got), got

            # Fixed, and the same requests as before: the fix reruns c0 from the cache.
            (root / "cases/echo.yaml").write_text(cases.replace("'row 1'", "'row one'"))
            got = lines.until("passed")
            assert srv.stats()["requests"] == 7, got

            # A save without a change in what is sent or checked: nothing to rerun.
            os.utime(root / "prompts/echo.yaml")
            lines.until("nothing to rerun")
            assert _alive(worker["pid"])
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            finally:
                if proc.poll() is None:
                    proc.kill()
        assert proc.returncode == 0, "".join(lines.seen)  # the last run passed
    # Let go: the worker now exits after its idle second.
    deadline = time.monotonic() + 30
    while _alive(worker["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker["pid"])
    stop_workers()
    shutil.rmtree(wdir, ignore_errors=True)


def test_watch_refuses_a_revision(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo", {"promptctl.yaml": "model: m\n"})
    r = invoke("test", "--watch", "--ref", "HEAD", cwd=root)
    assert r.exit_code == 2 and "--watch reruns on changes in the worktree" in r.stderr
