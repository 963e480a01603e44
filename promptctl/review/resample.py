"""Adaptive sampling for ``compare --gate``: where a case's verdict is still open after its
``repeat`` samples, draw more of that case on both sides (``sides.extend``: through the cache and
the recordings), in rounds, until every case is decided, has reached ``gate.max_repeat``, or the
budget is spent -- ``gate.max_extra`` times the samples of the two sides' runs, and ``--max-cost``
dollars. Which cases and how far: ``sequential.choose_draws``; why it keeps the gate's
false-alarm rate: ``review.sequential``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptctl.records.summary import group_units
from promptctl.review.claims import ClaimKey
from promptctl.review.compare import compare_units
from promptctl.review.gate import Unit, run_gate
from promptctl.review.sequential import Candidate, choose_draws, schedule
from promptctl.review.sides import Note, SideResult, extend
from promptctl.suite.model import GateConfig


@dataclass
class Resampling:
    """What adaptive sampling did, for the report."""

    max_repeat: int
    budget_samples: int
    max_cost: float | None
    rounds: int = 0
    extra_samples: int = 0
    spent: float = 0.0
    live_calls: int = 0
    stopped: str | None = None  # why it stopped before every open case was decided
    first: dict[Unit, tuple[int, int, int, int]] = field(default_factory=dict)  # counts at repeat

    def to_dict(self, base_rows: list[dict[str, Any]], head_rows: list[dict[str, Any]]) -> dict[str, Any]:
        bu, hu = group_units(base_rows), group_units(head_rows)
        cases = []
        for (case_key, model), first in self.first.items():
            bs, hs = bu.get((case_key, model), []), hu.get((case_key, model), [])
            final = (
                sum(r["status"] == "pass" for r in bs),
                sum(r["status"] in ("pass", "fail") for r in bs),
                sum(r["status"] == "pass" for r in hs),
                len(hs),
            )
            if final != first:
                cases.append(
                    {"case_key": case_key, "model": model, "first": list(first), "final": list(final)}
                )
        return {
            "max_repeat": self.max_repeat,
            "budget_samples": self.budget_samples,
            "max_cost": self.max_cost,
            "rounds": self.rounds,
            "extra_samples": self.extra_samples,
            "spent": self.spent,
            "live_calls": self.live_calls,
            "stopped": self.stopped,
            "cases": cases,
        }


def resampled_line(c: dict[str, Any]) -> str:
    """``c7 [m]: 4/5 → 0/5, resampled to 18/20 → 0/20``."""
    a, b, x, y = c["first"]
    a2, b2, x2, y2 = c["final"]
    return f"{c['case_key']} [{c['model']}]: {a}/{b} → {x}/{y}, resampled to {a2}/{b2} → {x2}/{y2}"


def _counts(rows: list[dict[str, Any]], head: bool) -> tuple[int, int]:
    passes = sum(r["status"] == "pass" for r in rows)
    return passes, (len(rows) if head else sum(r["status"] in ("pass", "fail") for r in rows))


def resample(
    root: Path,
    b: SideResult,
    h: SideResult,
    s: GateConfig,
    *,
    on_trial: set[str] | None,
    repeats: dict[Unit, int],
    offline: bool = False,
    max_cost: float | None = None,
    note: Note = lambda _m: None,
    trust_ref_config: bool = False,
    allow_unknown_cost: bool = False,
    claims: frozenset[ClaimKey] = frozenset(),
    trust_claims: bool = False,
    head_claims: frozenset[ClaimKey] = frozenset(),
) -> Resampling:
    """Draw more samples of the open cases on both sides, in rounds (the rows are added to the
    sides' records in memory); return what it did. ``claims``/``trust_claims`` are the gate's (the
    recordings the pull request changed); ``head_claims`` the ones the head's runs must verify."""
    assert s.max_repeat is not None
    out = Resampling(
        max_repeat=s.max_repeat,
        budget_samples=math.floor(s.max_extra * (len(b.record.rows) + len(h.record.rows))),
        max_cost=max_cost,
    )
    bu, hu = group_units(b.record.rows), group_units(h.record.rows)
    for p in compare_units(b.record, h.record):
        if p.base is None or p.head is None:
            continue
        bs, hs = bu[(p.case_key, str(p.base_model))], hu[(p.case_key, str(p.head_model))]
        out.first[(p.case_key, p.model)] = (*_counts(bs, False), *_counts(hs, True))
    while True:
        res = run_gate(
            b.record,
            h.record,
            compare_units(b.record, h.record),
            s,
            on_trial=on_trial,
            repeats=repeats,
            claims=claims,
            trust_claims=trust_claims,
        )
        if res.failed:
            return out  # the verdict is reached: more samples cannot change it
        stats = res.details.get("stats") or {}
        cands: dict[str, Candidate] = {}
        last = True
        for c in stats.get("cases", []):
            looks = c.get("looks") or []
            if not looks or c["significant"]:
                continue
            plan = schedule(repeats.get((c["case_key"], c["model"])) or looks[0]["n"], s.max_repeat)
            n = looks[-1]["n"]
            later = [x for x in plan if x > n]
            if not later:
                continue
            last = last and later[0] == plan[-1]
            old = cands.get(c["case_key"])
            if old is None or looks[-1]["p"] < old.p:
                cands[c["case_key"]] = Candidate(c["case_key"], looks[-1]["p"], n, later[0])
        left = out.budget_samples - out.extra_samples
        draws = choose_draws(list(cands.values()), left, last_round=last)
        if not draws:
            if any(c.p < 1.0 for c in cands.values()):
                out.stopped = f"the budget of {out.budget_samples} extra samples (gate.max_extra) is spent"
            return out
        money = None if max_cost is None else max_cost - out.spent
        if money is not None and money <= 0:
            out.stopped = f"--max-cost ${max_cost:g} is spent"
            return out
        out.rounds += 1
        note(
            f"gate: drawing more samples of {len(draws)} undecided case(s) "
            f"(round {out.rounds}: "
            + ", ".join(f"{k} to {n}" for k, n in sorted(draws.items())[:5])
            + (" …" if len(draws) > 5 else "")
            + ")"
        )
        wanted = {k: (cands[k].n, n) for k, n in draws.items()}
        added = 0
        for side in (b, h):
            money = None if max_cost is None else max_cost - out.spent
            ext = extend(
                root,
                side,
                wanted,
                offline=offline,
                max_cost=money,
                note=note,
                trust_ref_config=trust_ref_config,
                allow_unknown_cost=allow_unknown_cost,
                claims=head_claims if side is h else frozenset(),
            )
            out.spent += ext.spent
            out.live_calls += ext.live_calls
            added += len(ext.rows)
            if ext.not_run:
                out.stopped = f"{ext.not_run} new samples not drawn on {side.label}" + (
                    f" (--max-cost ${max_cost:g})"
                    if max_cost is not None
                    else " (--offline without recordings)"
                )
        out.extra_samples += added
        if out.stopped or not added:
            out.stopped = out.stopped or "no new sample could be drawn"
            return out
