"""Plumbing for the benchmarks: the fake server as a process, throwaway projects, and running the
CLI as a measured subprocess.

Why measure from the outside: the numbers a user feels include interpreter start-up, imports,
git calls, writing the run record and exiting; an in-process timer would hide all of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
KEY_ENV = "BENCH_FAKE_API_KEY"
KEY = "sk-bench-0123456789abcdef0123456789"
CASES_PER_FILE = 1000
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# --------------------------------------------------------------------------------------------
# The fake server, as its own process
# --------------------------------------------------------------------------------------------


class ServerProcess:
    """``python -m tests.fakeserver`` in a subprocess: it must not share a GIL (or a core's worth of
    scheduling luck) with the process being measured."""

    def __init__(self, latency: float, *, spec: dict[str, Any] | None = None) -> None:
        self.latency = latency
        self.spec = spec or {"mode": "echo"}
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> ServerProcess:
        cmd = [
            sys.executable,
            "-m",
            "tests.fakeserver",
            "--port",
            "0",
            "--latency",
            str(self.latency),
            "--no-record-bodies",
            "--spec",
            json.dumps(self.spec),
        ]
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.proc.kill()
            raise RuntimeError(f"fake server did not start (got {line!r})")
        self.port = int(line)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_stats"))

    def reset(self) -> None:
        self._call("POST", "/_reset", {})

    def configure(self, **changes: Any) -> None:
        self._call("POST", "/_config", changes)


# --------------------------------------------------------------------------------------------
# Projects
# --------------------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.invalid",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=root,
        check=True,
        capture_output=True,
    )


def make_project(
    root: Path,
    url: str,
    n_cases: int,
    *,
    concurrency: int,
    timeout: float = 30.0,
    max_retries: int = 4,
    retry_max_wait: float = 30.0,
) -> Path:
    """A committed git project with ``n_cases`` distinct cases (so no request is deduplicated),
    split into case files of at most 1,000, all on one alias pointing at the fake server."""
    if root.exists():
        shutil.rmtree(root)
    (root / "prompts").mkdir(parents=True)
    (root / "cases").mkdir()
    (root / "promptctl.yaml").write_text(
        f"model: fake\nconcurrency: {concurrency}\nmax_retries: {max_retries}\n"
        f"retry_max_wait: {retry_max_wait}\ntimeout: {timeout}\n"
        f"models:\n  fake:\n    model: openai/gpt-4o-mini\n    api_base: {url}\n    api_key_env: {KEY_ENV}\n",
        "utf-8",
    )
    (root / "prompts" / "echo.yaml").write_text(
        "description: Echo the text back.\ninputs: {text: {}}\nparams: {temperature: 0}\n"
        'template: "{{ text }}"\n',
        "utf-8",
    )
    for f, start in enumerate(range(0, n_cases, CASES_PER_FILE)):
        lines = ["prompt: echo", "cases:"]
        for i in range(start, min(n_cases, start + CASES_PER_FILE)):
            lines.append(
                f"  - {{id: c{i:05d}, vars: {{text: 'row {i} says hello'}}, "
                f"assert: [not_empty, {{type: contains, value: 'row {i}'}}]}}"
            )
        (root / "cases" / f"bench{f:02d}.yaml").write_text("\n".join(lines) + "\n", "utf-8")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "bench project")
    return root


def clear_state(root: Path, *, cache: bool = True, runs: bool = True, recordings: bool = False) -> None:
    """Forget what earlier runs left, so the next run is a first run again."""
    if cache:
        shutil.rmtree(root / ".promptctl" / "cache", ignore_errors=True)
    if runs:
        shutil.rmtree(root / ".promptctl" / "runs", ignore_errors=True)
    if recordings:
        shutil.rmtree(root / "cases" / "__recordings__", ignore_errors=True)


def records(root: Path) -> list[Path]:
    base = root / ".promptctl" / "runs"
    return sorted(base.glob("*/*.json"), key=lambda p: p.stat().st_mtime_ns) if base.is_dir() else []


def latest_record(root: Path) -> dict[str, Any]:
    found = records(root)
    if not found:
        raise AssertionError(f"no run record under {root}/.promptctl/runs")
    return dict(json.loads(found[-1].read_text("utf-8")))


# --------------------------------------------------------------------------------------------
# Measured CLI runs
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One CLI subprocess: wall time, exit code, output, and memory."""

    argv: list[str]
    wall_s: float
    returncode: int
    stdout: str
    stderr: str
    maxrss_mb: float  # ru_maxrss from wait4: the largest single process of the tree
    tree_rss_mb: float  # peak of the summed RSS of the process and its descendants (polled)
    parent_rss_mb: float  # peak RSS of the promptctl process alone (VmHWM, polled)
    cpu_s: float  # user + system CPU of the process (and its reaped children)
    extra: dict[str, Any] = field(default_factory=dict)


def _children_map() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        out.setdefault(ppid, []).append(int(entry.name))
    return out


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def _hwm_kb(pid: int) -> int:
    """Peak RSS of one process so far (``VmHWM``): exact however briefly the peak lasted."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return 0


class _TreeRss(threading.Thread):
    """Polls the summed RSS of a process tree (promptctl plus any worker it may start) and the
    high-water mark of the promptctl process itself."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_kb, self.parent_hwm_kb = pid, interval, 0, 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            pids = [self.pid]
            kids = _children_map()
            i = 0
            while i < len(pids):
                pids.extend(kids.get(pids[i], []))
                i += 1
            self.peak_kb = max(self.peak_kb, sum(_rss_kb(p) for p in pids))
            self.parent_hwm_kb = max(self.parent_hwm_kb, _hwm_kb(self.pid))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    # BENCH_PROMPTCTL_PATH: measure another copy of the package (say, a "before" checkout).
    path = os.environ.get("BENCH_PROMPTCTL_PATH", str(REPO))
    env.update({KEY_ENV: KEY, "PYTHONPATH": path, "NO_COLOR": "1", "COLUMNS": "200"})
    env.update(extra or {})
    return env


def run_cli(
    args: list[str],
    cwd: Path,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 900.0,
    python_flags: list[str] | None = None,
    during: Callable[[subprocess.Popen[bytes]], dict[str, Any] | None] | None = None,
) -> Run:
    """Run ``python -m promptctl ARGS`` and measure it. ``during(proc)`` runs while it is alive (the
    interruption benchmark sends its signal from there) and may return extra facts to keep."""
    argv = [sys.executable, *(python_flags or []), "-m", "promptctl", *args]
    out_path = cwd / ".bench-stdout"
    err_path = cwd / ".bench-stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env or cli_env(), stdout=out, stderr=err, stdin=subprocess.DEVNULL
        )
        poller = _TreeRss(proc.pid)
        poller.start()
        extra: dict[str, Any] = {}
        try:
            if during is not None:
                extra = during(proc) or {}
            deadline = started + timeout
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    proc.kill()
                    _, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.002)
            wall = time.perf_counter() - started
        finally:
            poller.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout = out_path.read_text("utf-8", "replace")
    stderr = err_path.read_text("utf-8", "replace")
    out_path.unlink(missing_ok=True)
    err_path.unlink(missing_ok=True)
    return Run(
        argv=argv[1:],
        wall_s=wall,
        returncode=proc.returncode,
        stdout=stdout,
        stderr=stderr,
        maxrss_mb=usage.ru_maxrss / 1024,
        tree_rss_mb=poller.peak_kb / 1024,
        # The last poll may miss the final tens of ms; never report less than the tree's share.
        parent_rss_mb=(poller.parent_hwm_kb or usage.ru_maxrss) / 1024,
        cpu_s=usage.ru_utime + usage.ru_stime,
        extra=extra,
    )


def imports_litellm(args: list[str], cwd: Path) -> bool:
    """Whether ``promptctl ARGS`` imports litellm (``-X importtime`` lists every module loaded)."""
    run = run_cli(args, cwd, python_flags=["-X", "importtime"])
    return any(
        line.rstrip().endswith((" litellm", "| litellm")) or "| litellm." in line
        for line in run.stderr.splitlines()
        if line.startswith("import time:")
    )


def wait_until(pred: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    return False


def send_signal(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)


@contextlib.contextmanager
def workdir(keep: bool = False, base: Path | None = None) -> Iterator[Path]:
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="promptctl-bench-", dir=base))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)
