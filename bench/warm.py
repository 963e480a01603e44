"""The warm-worker benchmarks (issue 13): the same work with no worker yet (cold), with one already
running (warm) and with every call in the promptctl process (workers off), side by side; memory at
100,000 rows; how soon ``promptctl run`` shows its first token.

Every run here uses a private worker directory under the benchmark's work directory
(``PROMPTCTL_WORKER_DIR``), so "cold" means cold (``promptctl worker stop`` before the run) and
no worker of another checkout or user is ever touched; the workers are stopped at the end.
A worker's peak memory is its ``VmHWM`` from ``/proc``, read before it is stopped.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.harness import (
    ServerProcess,
    _hwm_kb,
    clear_state,
    cli_env,
    latest_record,
    make_project,
    run_cli,
)
from bench.suites import Params, Result, _check_rc, _row_keys, _run_metrics

MODES = ("cold", "warm", "inprocess")


class Workers:
    """The benchmark's own warm workers: an environment for the runs, stop, and their memory."""

    def __init__(self) -> None:
        # Short, in /tmp: a socket's path must fit in 100 bytes whatever the work directory is.
        self.dir = Path(tempfile.mkdtemp(prefix="pcb-", dir="/tmp"))
        self.peak_mb: float = 0.0  # the largest VmHWM of any worker seen

    def env(self, mode: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = cli_env({"PROMPTCTL_WORKER_DIR": str(self.dir), **(extra or {})})
        env.pop("CI", None)  # workers are off by default under CI: these rows are about them
        if mode == "inprocess":
            env["PROMPTCTL_WORKERS"] = "0"
        elif env.get("PROMPTCTL_WORKERS") == "0":
            env.pop("PROMPTCTL_WORKERS")  # `--workers 0` is the in-process row's business
        return env

    def _cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "promptctl", "worker", *args],
            env=self.env("warm"),
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def pids(self) -> list[int]:
        r = self._cli("status", "--json")
        if r.returncode != 0:
            return []
        data = json.loads(r.stdout)
        return [int(w["pid"]) for w in data.get("workers", []) if w.get("pid") and w.get("current")]

    def note_memory(self) -> float:
        """The largest peak RSS of the running workers, in MB (and remember the largest seen)."""
        worst = max((_hwm_kb(pid) / 1024 for pid in self.pids()), default=0.0)
        self.peak_mb = max(self.peak_mb, worst)
        return worst

    def stop(self) -> None:
        self.note_memory()
        self._cli("stop")


@contextlib.contextmanager
def workers() -> Iterator[Workers]:
    w = Workers()
    try:
        yield w
    finally:
        w.stop()
        shutil.rmtree(w.dir, ignore_errors=True)


def _measure(
    p: Params, work: Path, n: int, latency: float, name: str, modes: tuple[str, ...]
) -> list[Result]:
    """``n`` distinct cases at ``latency``, each mode ``p.runs`` times, interleaved run by run
    (cold, warm, in-process, cold, ...) so a change in the machine's load touches every mode."""
    root = work / name
    ideal = n * latency / p.concurrency
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    checks: dict[str, dict[str, bool]] = {m: collections.defaultdict(lambda: True) for m in modes}
    with ServerProcess(latency) as srv, workers() as w:
        make_project(root, srv.url, n, concurrency=p.concurrency)
        if "warm" in modes and "cold" not in modes:
            first = run_cli(["test"], root, env=w.env("warm"))  # start the workers
            checks["warm"]["warm-up run exit 0"] &= _check_rc(first)
        for _ in range(p.runs):
            for mode in modes:
                if mode == "cold":
                    w.stop()
                clear_state(root)
                srv.reset()
                run = run_cli(["test", "-j", str(p.concurrency)], root, env=w.env(mode))
                rec = latest_record(root)
                st = srv.stats()
                ck = checks[mode]
                ck["exit 0"] &= _check_rc(run)
                ck["all rows recorded once"] &= len(rec["rows"]) == n and len(set(_row_keys(rec))) == n
                ck["all rows pass"] &= all(r["status"] == "pass" for r in rec["rows"])
                ck["one request per row"] &= st["requests"] == n
                ck["concurrency bound held"] &= st["max_in_flight"] <= p.concurrency
                if mode != "inprocess":
                    ck["no fallback to in-process calls"] &= "warning:" not in run.stderr
                worker_mb = w.note_memory() if mode != "inprocess" else 0.0
                runs[mode].append(
                    _run_metrics(
                        run,
                        ideal_s=ideal,
                        ratio=run.wall_s / ideal,
                        requests=st["requests"],
                        worker_rss_mb=worker_mb,
                    )
                )
    facts = {"latency_s": latency, "concurrency": p.concurrency}
    return [Result(f"{name}_{m}", n, runs[m], dict(checks[m]), facts) for m in modes]


def edit_loop(p: Params, work: Path) -> list[Result]:
    """The everyday loop: 10 cases that missed the cache, at latency L."""
    return _measure(p, work, p.n_loop, p.latency, "loop10", MODES)


def throughput_warm(p: Params, work: Path) -> list[Result]:
    """1,000 cases at latency L, concurrency C: cold, warm and in-process side by side."""
    return _measure(p, work, p.n_small, p.latency, "live1k", MODES)


def slow_warm(p: Params, work: Path) -> list[Result]:
    """1,000 cases at a slow model's latency (1 s), warm: how close to N x L / C."""
    return _measure(p, work, p.n_small, p.slow_latency, "live1k_slow", ("warm",))


def memory(p: Params, work: Path) -> list[Result]:
    """Parent and worker memory at ``p.n_huge`` rows (live, warm, server without latency)."""
    n = p.n_huge
    root = work / "rows_huge"
    runs: list[dict[str, float]] = []
    checks: dict[str, bool] = collections.defaultdict(lambda: True)
    with ServerProcess(0.0) as srv, workers() as w:
        make_project(root, srv.url, n, concurrency=p.concurrency)
        for _ in range(max(1, p.runs_huge)):
            clear_state(root)
            srv.reset()
            run = run_cli(["test", "-j", str(p.concurrency)], root, env=w.env("warm"), timeout=3600)
            rec = latest_record(root)  # read after the measurement: its memory is not promptctl's
            checks["exit 0"] &= _check_rc(run)
            checks["all rows recorded once"] &= len(rec["rows"]) == n and len(set(_row_keys(rec))) == n
            checks["one request per row"] &= srv.stats()["requests"] == n
            checks["no fallback to in-process calls"] &= "warning:" not in run.stderr
            del rec
            runs.append(_run_metrics(run, worker_rss_mb=w.note_memory(), rows=n))
    return [Result("rows_huge", n, runs, dict(checks), {"concurrency": p.concurrency})]


def _first_token(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> dict[str, Any]:
    """Run ``promptctl run`` with its stdout on a terminal (so it streams) and time the first byte
    of the answer and the exit."""
    master, slave = pty.openpty()
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    os.close(slave)
    first: float | None = None
    out = b""
    deadline = started + timeout
    try:
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the other end closed
                    break
                if not chunk:
                    break
                if first is None and chunk.strip():
                    first = time.perf_counter() - started
                out += chunk
            elif proc.poll() is not None:
                break
        proc.wait(max(1.0, deadline - time.perf_counter()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wall = time.perf_counter() - started
    stderr = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    return {"first_token_s": first, "wall_s": wall, "rc": proc.returncode, "out": out, "stderr": stderr}


def first_token(p: Params, work: Path) -> list[Result]:
    """``promptctl run`` streaming from a model whose first token takes L: the time to the first
    token on the terminal, and what promptctl adds to the model's own time (target 0.2 s warm)."""
    root = work / "first_token"
    latency = p.token_latency
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in MODES}
    checks: dict[str, dict[str, bool]] = {m: collections.defaultdict(lambda: True) for m in MODES}
    with ServerProcess(latency) as srv, workers() as w:
        make_project(root, srv.url, 1, concurrency=1)
        argv = [sys.executable, "-m", "promptctl", "run", "echo", "--var", "text=the first token"]
        for _ in range(p.runs):
            for mode in MODES:
                if mode == "cold":
                    w.stop()
                got = _first_token(argv, root, w.env(mode))
                ck = checks[mode]
                if got["rc"] != 0:
                    print(f"  ! promptctl run exited {got['rc']}: {got['stderr'].strip()[-500:]}")
                ck["exit 0"] &= got["rc"] == 0
                streamed = b"the first token" in got["out"] and got["first_token_s"] is not None
                ck["the answer streamed"] &= streamed
                if mode != "inprocess":
                    ck["no fallback to in-process calls"] &= "warning:" not in got["stderr"]
                ft = got["first_token_s"] if got["first_token_s"] is not None else got["wall_s"]
                runs[mode].append({"wall_s": got["wall_s"], "first_token_s": ft, "overhead_s": ft - latency})
    facts = {"model_first_token_s": latency}
    return [Result(f"first_token_{m}", 1, runs[m], dict(checks[m]), facts) for m in MODES]
