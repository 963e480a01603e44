"""``python -m bench`` at a tiny size: every benchmark's code path and correctness checks (rows
neither lost nor duplicated, retries counted, the interrupted rerun sending exactly the unfinished
rows, cached/replayed reruns not importing litellm). No timing assertions: timings are the
benchmark's business, on a quiet machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.__main__ import ALL, run_benchmarks, table
from bench.suites import Params
from bench.warm import MODES

REPO = Path(__file__).resolve().parents[1]


# Each live run pays litellm's import (~5 s of CPU here), so the smoke test keeps to a few of them
# and starts the longest chain (interrupt: two live runs) first. throughput_1k/10k are left out:
# their path (live rows through the CLI, the record, the server's counters) is the one faults and
# interrupt already take, and tests/execute/workers check the concurrency bound. warm_1k,
# warm_1k_slow and rows_100k run edit_loop's code (bench/warm.py `_measure`) at other sizes.
SMOKE = ["interrupt", "edit_loop", "first_token", "reruns", "faults", "startup"]
LEFT_OUT = {"throughput_1k", "throughput_10k", "warm_1k", "warm_1k_slow", "rows_100k"}


def test_every_benchmark_at_tiny_size_passes_its_checks(tmp_path: Path) -> None:
    assert set(SMOKE) | LEFT_OUT == set(ALL)
    results = run_benchmarks(SMOKE, Params.tiny(), base=tmp_path, jobs=2, log=lambda _s: None)
    by_name = {r.name: r for r in results}
    assert set(by_name) == {
        "startup_help",
        "startup_list",
        "cached_rerun",
        "replayed_rerun",
        "faults",
        "interrupt",
        *(f"loop10_{m}" for m in MODES),
        *(f"first_token_{m}" for m in MODES),
    }
    failed = {r.name: r.failed_checks() for r in results if r.failed_checks()}
    assert not failed, failed
    for r in results:
        assert r.runs and all(run["wall_s"] > 0 for run in r.runs)
    assert by_name["cached_rerun"].checks["litellm not imported"]
    assert by_name["replayed_rerun"].checks["litellm not imported"]
    interrupted = by_name["interrupt"].runs[0]
    assert interrupted["rerun_requests"] == interrupted["unfinished_rows"] > 0
    assert by_name["faults"].runs[0]["requests"] >= 20
    # Warm, cold and in-process runs each answered every row (checked above); the warm and cold
    # ones through a worker, whose memory was read.
    assert by_name["loop10_warm"].runs[0]["worker_rss_mb"] > 0
    assert by_name["loop10_inprocess"].runs[0]["worker_rss_mb"] == 0
    assert by_name["first_token_warm"].checks["the answer streamed"]
    assert "first token s" in table(results)
    assert "faults" in table(results) and "parent RSS MB" in table(results)
    assert not list(tmp_path.iterdir())  # the throwaway projects are gone


def test_cli_options_parse_and_reject_unknown_names(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    r = subprocess.run(
        [sys.executable, "-m", "bench", "--tiny", "--only", "startup", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    data = json.loads(out.read_text())
    assert data["machine"]["nproc"] and [x["name"] for x in data["results"]] == [
        "startup_help",
        "startup_list",
    ]
    bad = subprocess.run(
        [sys.executable, "-m", "bench", "--only", "nope"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "unknown benchmark" in bad.stderr
