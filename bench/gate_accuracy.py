"""``python -m bench.gate_accuracy``: how often ``compare --gate`` is right, and what it costs.

A throwaway git project of N cases (``repeat: 5``) on one prompt; the fake server (its own
process) answers ``PASS`` or ``FAIL`` with a probability chosen per case and revision (the
rendered request names both: ``CASE c07 REV head``), seeded per trial. The base commit has every
case at ``REV base``; the head commit moves the scenario's changed cases to ``REV head``:

  a  equal quality: every case changed, 90 % -> 90 %        (false alarms)
  b  one case collapsing: c07 changed, 90 % -> 0 %           (detection)
  c  a broad drop: every case changed, 90 % -> 70 %          (detection)
  d  one case dropping: c07 changed, 90 % -> 60 %           (detection)
  e  equal quality, one case changed: c07, 90 % -> 90 %     (false alarms, the family of one)

Each trial forgets the cache and the records, then runs the library's ``compare_revisions`` (the
code ``promptctl compare --gate`` runs, with real HTTP through litellm to the server) twice on the
same samples: the fixed design (``gate.max_repeat`` unset: every case at ``repeat``), then the
adaptive one (``gate.max_repeat``), which reuses the fixed run's records and draws only the extra
samples. Reported per scenario and design: the share of trials that failed the gate, the samples
drawn (rows on both sides: what the calls would be with no cache) and the model calls the server
answered (the head's unchanged cases replay the base's cached answers).

Options: ``--trials N`` (default 40), ``--cases N`` (20), ``--repeat N`` (5), ``--max-repeat N``
(40), ``--seed S``, ``--only a,b``, ``--out PATH`` (JSON; default bench/gate_accuracy.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import KEY, KEY_ENV, ServerProcess, _git, clear_state, workdir

SCENARIOS: dict[str, tuple[str, str, float]] = {
    # name: (what, which cases change: "all" | "one", head pass probability of the changed cases)
    "a": ("equal quality, every case changed", "all", 0.9),
    "b": ("one case 90 % -> 0 %", "one", 0.0),
    "c": ("every case 90 % -> 70 %", "all", 0.7),
    "d": ("one case 90 % -> 60 %", "one", 0.6),
    "e": ("equal quality, one case changed", "one", 0.9),
}
BASE_P = 0.9


@dataclass
class Design:
    failed: list[bool] = field(default_factory=list)
    samples: list[int] = field(default_factory=list)
    calls: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        n = len(self.failed) or 1
        return {
            "fail_rate": sum(self.failed) / n,
            "samples_mean": sum(self.samples) / n,
            "samples_max": max(self.samples, default=0),
            "calls_mean": sum(self.calls) / n,
        }


@dataclass
class Scenario:
    name: str
    what: str
    fixed: Design = field(default_factory=Design)
    adaptive: Design = field(default_factory=Design)
    seconds: float = 0.0


def _changed(kind: str, n_cases: int) -> list[str]:
    return [f"c{i:02d}" for i in range(n_cases)] if kind == "all" else ["c07" if n_cases > 7 else "c00"]


def make_repo(root: Path, url: str, n_cases: int, repeat: int, changed: list[str]) -> tuple[str, str]:
    """The project, its base commit and its head commit (``changed`` cases at ``REV head``)."""
    if root.exists():
        shutil.rmtree(root)
    (root / "prompts").mkdir(parents=True)
    (root / "cases").mkdir()
    (root / ".gitignore").write_text(".promptctl/\n", "utf-8")
    (root / "promptctl.yaml").write_text(
        "model: fake\nconcurrency: 8\nmax_retries: 0\ntimeout: 30\n"
        f"models:\n  fake:\n    model: openai/gpt-4o-mini\n    api_base: {url}\n    api_key_env: {KEY_ENV}\n"
        "    price: {input: 0, output: 0}\n",
        "utf-8",
    )
    (root / "prompts" / "ask.yaml").write_text(
        'inputs: {id: {}, rev: {}}\ntemplate: "CASE {{ id }} REV {{ rev }}: answer"\n', "utf-8"
    )

    def cases(head: bool) -> str:
        lines = ["prompt: ask", f"repeat: {repeat}", "cases:"]
        for i in range(n_cases):
            cid = f"c{i:02d}"
            rev = "head" if head and cid in changed else "base"
            lines.append(
                f"  - {{id: {cid}, vars: {{id: {cid}, rev: {rev}}}, assert: [{{type: equals, value: PASS}}]}}"
            )
        return "\n".join(lines) + "\n"

    (root / "cases" / "ask.yaml").write_text(cases(False), "utf-8")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "base")
    base = _rev(root)
    (root / "cases" / "ask.yaml").write_text(cases(True), "utf-8")
    _git(root, "commit", "-q", "-am", "head")
    return base, _rev(root)


def _rev(root: Path) -> str:
    import subprocess

    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


def _spec(changed: list[str], p_head: float, seed: int) -> dict[str, Any]:
    return {
        "mode": "bernoulli",
        "p": BASE_P,
        "pass": "PASS",
        "fail": "FAIL",
        "seed": seed,
        "rules": [{"match": f"CASE {c} REV head", "p": p_head} for c in changed],
    }


def _samples(data: dict[str, Any]) -> int:
    return sum(
        (u["base"] or {}).get("samples", 0) + (u["head"] or {}).get("samples", 0) for u in data["units"]
    )


def run_scenario(
    name: str, work: Path, *, trials: int, n_cases: int, repeat: int, max_repeat: int, seed: int, log: Any
) -> Scenario:
    from promptctl.review.comparison import compare_revisions
    from promptctl.suite.model import GateConfig

    what, kind, p_head = SCENARIOS[name]
    out = Scenario(name, what)
    changed = _changed(kind, n_cases)
    started = time.perf_counter()
    with ServerProcess(0.0, spec=_spec(changed, p_head, seed)) as srv:
        root = work / f"gate-{name}"
        base, head = make_repo(root, srv.url, n_cases, repeat, changed)
        for t in range(trials):
            clear_state(root)
            srv.configure(spec=_spec(changed, p_head, seed * 1000 + t))
            srv.reset()
            fixed = compare_revisions(root, base, head, gate=GateConfig())
            calls_fixed = int(srv.stats()["requests"])
            adaptive = compare_revisions(root, base, head, gate=GateConfig(max_repeat=max_repeat))
            calls_all = int(srv.stats()["requests"])
            out.fixed.failed.append(bool(fixed["gate"]["failed"]))
            out.fixed.samples.append(_samples(fixed))
            out.fixed.calls.append(calls_fixed)
            out.adaptive.failed.append(bool(adaptive["gate"]["failed"]))
            out.adaptive.samples.append(_samples(adaptive))
            out.adaptive.calls.append(calls_all)
            log(
                f"  {name} trial {t + 1}/{trials}: fixed {'FAIL' if out.fixed.failed[-1] else 'pass'}, "
                f"adaptive {'FAIL' if out.adaptive.failed[-1] else 'pass'} "
                f"({out.adaptive.samples[-1]} samples, {calls_all} calls)"
            )
    out.seconds = time.perf_counter() - started
    return out


def table(results: list[Scenario]) -> str:
    head = (
        f"{'scenario':<40} {'fixed fails':>11} {'samples':>8} {'calls':>6}   "
        f"{'adaptive fails':>14} {'samples':>8} {'max':>5} {'calls':>6}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        f, a = r.fixed.summary(), r.adaptive.summary()
        n = len(r.fixed.failed)
        lines.append(
            f"{r.name}  {r.what:<37} {sum(r.fixed.failed):>3}/{n:<3} {f['fail_rate']:>4.0%} "
            f"{f['samples_mean']:>7.0f} {f['calls_mean']:>6.0f}   "
            f"{sum(r.adaptive.failed):>6}/{n:<3} {a['fail_rate']:>4.0%} {a['samples_mean']:>7.0f} "
            f"{a['samples_max']:>5.0f} {a['calls_mean']:>6.0f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.gate_accuracy", description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--cases", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--max-repeat", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "gate_accuracy.json")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    names = [n.strip() for n in (args.only or ",".join(SCENARIOS)).split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    os.environ.setdefault(KEY_ENV, KEY)

    def log(s: str) -> None:
        if not args.quiet:
            print(s, flush=True)

    results = []
    with workdir() as work:
        for name in names:
            log(f"{name}: {SCENARIOS[name][0]}")
            results.append(
                run_scenario(
                    name,
                    work,
                    trials=args.trials,
                    n_cases=args.cases,
                    repeat=args.repeat,
                    max_repeat=args.max_repeat,
                    seed=args.seed,
                    log=log,
                )
            )
    print(table(results))
    payload = {
        "machine": {"nproc": os.cpu_count(), "loadavg": os.getloadavg()},
        "params": {k: getattr(args, k) for k in ("trials", "cases", "repeat", "max_repeat", "seed")},
        "results": [
            {
                "name": r.name,
                "what": r.what,
                "seconds": r.seconds,
                "fixed": {**r.fixed.summary(), **r.fixed.__dict__},
                "adaptive": {**r.adaptive.summary(), **r.adaptive.__dict__},
            }
            for r in results
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n", "utf-8")
    print(f"JSON: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
