"""The benchmarks themselves. Each returns one or more result rows: per-run metrics (the runner
takes medians) and correctness checks, which must hold at any size: the smoke test runs these
very functions at a tiny size and asserts only the checks, never a time."""

from __future__ import annotations

import collections
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import (
    REPO,
    Run,
    ServerProcess,
    clear_state,
    imports_litellm,
    latest_record,
    make_project,
    run_cli,
    send_signal,
    wait_until,
)


@dataclass
class Params:
    runs: int = 3
    latency: float = 0.1  # seconds per request at the server
    concurrency: int = 64
    n_small: int = 1000  # throughput_1k, cached_1k, replay_1k
    n_large: int = 10000  # throughput_10k
    n_faults: int = 5000
    fault_rate: float = 0.2
    fault_timeout: float = 1.0  # client timeout in the faults project; "slow" faults stall 3x this
    n_interrupt: int = 1000
    interrupt_latency: float | None = None  # default: latency
    interrupt_concurrency: int | None = None  # default: concurrency
    startup_runs: int = 5
    # bench/warm.py (issue 13)
    n_loop: int = 10  # edit_loop: the cases an edit sends again
    slow_latency: float = 1.0  # warm_1k_slow
    n_huge: int = 100_000  # rows_100k
    runs_huge: int = 1
    token_latency: float = 0.5  # first_token: the model's own time to its first token

    @classmethod
    def tiny(cls) -> Params:
        """Smoke-test size: every code path, seconds of work."""
        return cls(
            runs=1,
            latency=0.01,
            concurrency=8,
            n_small=20,
            n_large=20,
            n_faults=20,
            fault_timeout=0.5,
            n_interrupt=20,
            interrupt_latency=0.25,
            interrupt_concurrency=2,
            startup_runs=1,
            n_loop=3,
            slow_latency=0.05,
            n_huge=50,
            token_latency=0.05,
        )


@dataclass
class Result:
    name: str
    n: int | None
    runs: list[dict[str, float]]
    checks: dict[str, bool]
    facts: dict[str, Any]

    def failed_checks(self) -> list[str]:
        return [k for k, ok in self.checks.items() if not ok]


def _run_metrics(run: Run, **more: float) -> dict[str, float]:
    return {
        "wall_s": run.wall_s,
        "cpu_s": run.cpu_s,
        "maxrss_mb": run.maxrss_mb,
        "parent_rss_mb": run.parent_rss_mb,
        "tree_rss_mb": run.tree_rss_mb,
        **more,
    }


def _check_rc(run: Run, expected: int = 0) -> bool:
    if run.returncode != expected:
        print(
            f"  ! {' '.join(run.argv)} exited {run.returncode} (wanted {expected})\n"
            f"    stderr: {run.stderr.strip()[-800:]}"
        )
        return False
    return True


def _row_keys(rec: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(r["case_key"], r["model"], r["sample"]) for r in rec["rows"]]


# --------------------------------------------------------------------------------------------


def throughput(p: Params, work: Path, n: int, name: str) -> Result:
    """N distinct cases through live calls: wall (start-up included) against the ideal N x L / C."""
    root = work / name
    ideal = n * p.latency / p.concurrency
    runs: list[dict[str, float]] = []
    checks: dict[str, bool] = collections.defaultdict(lambda: True)
    with ServerProcess(p.latency) as srv:
        make_project(root, srv.url, n, concurrency=p.concurrency)
        for _ in range(p.runs):
            clear_state(root)
            srv.reset()
            run = run_cli(["test", "-j", str(p.concurrency)], root)
            rec = latest_record(root)
            st = srv.stats()
            checks["exit 0"] &= _check_rc(run)
            checks["all rows recorded"] &= len(rec["rows"]) == n and len(set(_row_keys(rec))) == n
            checks["all rows pass"] &= all(r["status"] == "pass" for r in rec["rows"])
            checks["one request per row"] &= st["requests"] == n
            checks["concurrency bound held"] &= st["max_in_flight"] <= p.concurrency
            runs.append(
                _run_metrics(
                    run,
                    ideal_s=ideal,
                    ratio=run.wall_s / ideal,
                    requests=st["requests"],
                    max_in_flight=st["max_in_flight"],
                )
            )
    return Result(name, n, runs, dict(checks), {"latency_s": p.latency, "concurrency": p.concurrency})


def startup(p: Params, work: Path) -> list[Result]:
    """``promptctl --help`` and ``promptctl list`` on this repository's example suite."""
    out = []
    for name, args in (("startup_help", ["--help"]), ("startup_list", ["list"])):
        runs, ok = [], True
        for _ in range(p.startup_runs):
            run = run_cli(args, REPO)
            ok &= _check_rc(run)
            runs.append(_run_metrics(run))
        out.append(Result(name, None, runs, {"exit 0": ok}, {"cwd": str(REPO)}))
    return out


def reruns(p: Params, work: Path) -> list[Result]:
    """A fully cached rerun and a fully replayed one of N cases; neither may import litellm.

    One live run fills the cache; plain ``promptctl test`` reruns are then all cache hits. A
    ``--record`` run (answered from the cache, so still no call) writes recordings; plain reruns
    are then all replays (recordings come before the cache)."""
    n = p.n_small
    root = work / "reruns"
    cached: list[dict[str, float]] = []
    replayed: list[dict[str, float]] = []
    c_checks: dict[str, bool] = collections.defaultdict(lambda: True)
    r_checks: dict[str, bool] = collections.defaultdict(lambda: True)
    with ServerProcess(p.latency) as srv:
        make_project(root, srv.url, n, concurrency=p.concurrency)
        first = run_cli(["test"], root)
        c_checks["setup run exit 0"] &= _check_rc(first)
        for _ in range(p.runs):
            clear_state(root, cache=False)
            srv.reset()
            run = run_cli(["test"], root)
            rec = latest_record(root)
            c_checks["exit 0"] &= _check_rc(run)
            c_checks["no request"] &= srv.stats()["requests"] == 0
            c_checks["every row from the cache"] &= rec["stats"]["cache_hits"] == n and len(rec["rows"]) == n
            cached.append(_run_metrics(run))
        c_checks["litellm not imported"] = not imports_litellm(["test"], root)

        rec_run = run_cli(["test", "--record"], root)
        r_checks["record run exit 0"] &= _check_rc(rec_run)
        r_checks["record run made no request"] &= srv.stats()["requests"] == 0
        for _ in range(p.runs):
            # Recordings are consulted before the response cache, so every row is a replay even
            # with the cache left in place; the plan cache stays too, as on any rerun.
            clear_state(root, cache=False)
            srv.reset()
            run = run_cli(["test"], root)
            rec = latest_record(root)
            r_checks["exit 0"] &= _check_rc(run)
            r_checks["no request"] &= srv.stats()["requests"] == 0
            r_checks["every row replayed"] &= rec["stats"]["replays"] == n and len(rec["rows"]) == n
            replayed.append(_run_metrics(run))
        clear_state(root, cache=True)
        r_checks["litellm not imported"] = not imports_litellm(["test"], root)
    return [
        Result("cached_rerun", n, cached, dict(c_checks), {}),
        Result("replayed_rerun", n, replayed, dict(r_checks), {}),
    ]


def _fault_mix(rate: float, timeout: float) -> list[dict[str, Any]]:
    """Four kinds sharing ``rate`` equally. The server tries faults in order and the first that
    fires wins, so each later one's probability is scaled to keep the shares equal."""
    share = rate / 4
    kinds: list[dict[str, Any]] = [
        {"kind": "429", "retry_after": 0.2},
        {"kind": "500"},
        {"kind": "drop"},
        {"kind": "slow", "seconds": 3 * timeout},
    ]
    out = []
    for i, k in enumerate(kinds):
        out.append({**k, "p": share / (1 - share * i), "seed": 11 + i})
    return out


def faults(p: Params, work: Path) -> Result:
    """N calls with ``fault_rate`` of responses faulty: none lost or duplicated, every row ends in a
    final status, and every transient fault is retried (unless it was a row's last allowed try)."""
    n = p.n_faults
    root = work / "faults"
    runs: list[dict[str, float]] = []
    checks: dict[str, bool] = collections.defaultdict(lambda: True)
    facts: dict[str, Any] = {}
    with ServerProcess(p.latency) as srv:
        max_retries = 4
        make_project(
            root,
            srv.url,
            n,
            concurrency=p.concurrency,
            timeout=p.fault_timeout,
            max_retries=max_retries,
            retry_max_wait=1.0,
        )
        for _ in range(p.runs):
            clear_state(root)
            srv.configure(faults=_fault_mix(p.fault_rate, p.fault_timeout), reset=True)
            run = run_cli(["test"], root)
            rec = latest_record(root)
            st = srv.stats()
            keys = _row_keys(rec)
            statuses = collections.Counter(r["status"] for r in rec["rows"])
            by = st["by_status"]
            faulty = sum(v for k, v in by.items() if k != "200")
            errors = [r for r in rec["rows"] if r["status"] == "error"]
            row_retries = sum(r["retries"] for r in rec["rows"])
            row_attempts = sum(r["attempts"] for r in rec["rows"])
            checks["exit 0 or 3 (3: a row exhausted its retries)"] &= run.returncode in (0, 3) or _check_rc(
                run
            )
            checks["no row lost"] &= len(set(keys)) == n
            checks["no row duplicated"] &= len(keys) == len(set(keys))
            checks["every row has a final status"] &= set(statuses) <= {"pass", "fail", "error", "skipped"}
            checks["record retries == sum of row retries"] &= rec["stats"]["retries"] == row_retries
            checks["every HTTP attempt is in the record"] &= row_attempts == st["requests"]
            checks["errors only after exhausting retries"] &= all(
                r["attempts"] == max_retries + 1 for r in errors
            )
            checks["every transient fault retried"] &= row_retries == faulty - len(errors)
            checks["some faults were served"] &= faulty > 0 or n < 20
            runs.append(
                _run_metrics(
                    run,
                    requests=st["requests"],
                    faulty=faulty,
                    retries=row_retries,
                    errors=len(errors),
                    fault_share=faulty / max(1, st["requests"]),
                    ideal_s=n * p.latency / p.concurrency,
                )
            )
            facts = {
                "by_status": by,
                "statuses": dict(statuses),
                "fault_mix": _fault_mix(p.fault_rate, p.fault_timeout),
            }
    return Result("faults", n, runs, dict(checks), facts)


def interrupt(p: Params, work: Path) -> Result:
    """SIGINT once half the requests have been sent, then a rerun: it must send exactly the rows
    the interrupted run did not finish (the finished ones are in the cache and the record)."""
    n = p.n_interrupt
    latency = p.interrupt_latency if p.interrupt_latency is not None else p.latency
    conc = p.interrupt_concurrency or p.concurrency
    root = work / "interrupt"
    runs: list[dict[str, float]] = []
    checks: dict[str, bool] = collections.defaultdict(lambda: True)
    with ServerProcess(latency) as srv:
        make_project(root, srv.url, n, concurrency=conc)
        for _ in range(p.runs):
            clear_state(root)
            srv.reset()

            def halfway(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
                reached = wait_until(
                    lambda: proc.poll() is not None or srv.stats()["requests"] >= n // 2, timeout=600
                )
                sent_at = time.perf_counter()
                requests_at_signal = srv.stats()["requests"]
                send_signal(proc, signal.SIGINT)
                return {
                    "reached": reached and proc.poll() is None,
                    "signal_t": sent_at,
                    "requests_at_signal": requests_at_signal,
                }

            started = time.perf_counter()
            run = run_cli(["test", "-j", str(conc)], root, during=halfway)
            stop_s = (started + run.wall_s) - run.extra["signal_t"]
            rec = latest_record(root)
            done = len(rec["rows"])
            keys = _row_keys(rec)
            checks["signal sent mid-run"] &= bool(run.extra["reached"])
            checks["exit 130"] &= _check_rc(run, 130)
            checks["record marked interrupted"] &= rec["interrupted"] is True and rec["complete"] is False
            checks["finished rows kept (0 < done < n)"] &= 0 < done < n
            checks["no duplicated row"] &= len(keys) == len(set(keys))
            srv.reset()
            rerun = run_cli(["test", "-j", str(conc)], root)
            sent = srv.stats()["requests"]
            final = latest_record(root)
            checks["rerun exit 0"] &= _check_rc(rerun)
            checks["rerun requests == unfinished rows"] &= sent == n - done
            checks["rerun record complete"] &= final["complete"] is True and len(final["rows"]) == n
            runs.append(
                {
                    "wall_s": run.wall_s,
                    "stop_after_signal_s": stop_s,
                    "done_rows": done,
                    "requests_at_signal": run.extra["requests_at_signal"],
                    "rerun_requests": sent,
                    "unfinished_rows": n - done,
                    "rerun_wall_s": rerun.wall_s,
                }
            )
    return Result("interrupt", n, runs, dict(checks), {"latency_s": latency, "concurrency": conc})
