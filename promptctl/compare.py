"""``promptctl compare``: per-case result changes between two revisions, and the CI quality gate.

Each side's results come from the cheapest place that has them: a local run record of that
commit, then a record shared through git notes, and only then a run of the suite at that
revision (through the cache and the committed recordings, so re-running an unchanged base costs
nothing). The gate then asks whether HEAD is *worse*: with one sample per case a case going from
pass to fail is a regression; with repeated samples model noise is expected, so only a drop that
is statistically significant (``stats.gate``: per-case Fisher with a multiple-testing correction,
plus a suite-wide CMH test) fails the build.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from promptctl.errors import UsageError
from promptctl.git.repo import content_hash, head_commit, is_dirty, resolve
from promptctl.records import Record, group_units, read_record, records_for_commit, summarize, unit_outcome
from promptctl.stats import CaseCounts, Correction
from promptctl.stats import gate as stats_gate
from promptctl.suite.model import GateConfig
from promptctl.suite.project import open_project

Note = Callable[[str], None]

# Selection keys that make a record cover only part of the suite (not usable as "the" result).
_PARTIAL_SELECTION = ("paths", "keywords", "tags", "models", "shard", "last_failed")

TRANSITIONS = ("pass_to_fail", "still_failing", "fail_to_pass", "new", "removed", "still_passing")
TRANSITION_LABELS = {
    "pass_to_fail": "pass→fail",
    "fail_to_pass": "fail→pass",
    "still_failing": "still failing",
    "still_passing": "still passing",
    "new": "new",
    "removed": "removed",
}


@dataclass
class SideResult:
    """One side of a comparison: which revision, its record, and where the record came from."""

    label: str
    ref: str | None  # None: the worktree
    sha: str | None
    dirty: bool
    record: Record
    origin: str  # "record" | "git-note" | "ran"

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "ref": self.ref,
            "sha": self.sha,
            "dirty": self.dirty,
            "origin": self.origin,
            "record": self.record.path,
            "created_at": self.record.created_at,
            "complete": self.record.complete,
        }


def _is_full(rec: Record) -> bool:
    sel = rec.selection or {}
    return rec.complete and not any(sel.get(k) for k in _PARTIAL_SELECTION)


def _best_local(paths: list[Path]) -> Record | None:
    """The newest complete, whole-suite record among ``paths`` (they are sorted oldest first)."""
    for p in reversed(paths):
        try:
            rec = read_record(p)
        except (OSError, ValueError):
            continue
        if _is_full(rec):
            return rec
    return None


def _run(root: Path, ref: str | None, offline: bool, note: Note) -> Record:
    from promptctl.run.suite_run import TestOptions, run_tests

    project = open_project(root, ref)
    try:
        outcome = run_tests(
            project,
            TestOptions(offline=offline),
            argv=["promptctl", "test", *(["--ref", ref] if ref else [])],
        )
    finally:
        close = getattr(project.source, "close", None)
        if close is not None:
            close()
    st = outcome.stats
    note(
        f"  {outcome.rows_planned} rows: {st.replays} replayed, {st.cache_hits} cached, "
        f"{st.live_calls} live calls"
    )
    return outcome.record


def obtain(
    root: Path, ref: str | None, *, offline: bool = False, rerun: bool = False, note: Note = lambda _m: None
) -> SideResult:
    """The record for ``ref`` (None: the worktree): local record, git note, else a run."""
    from promptctl.notes import record_from_notes

    if ref is None:
        head = head_commit(root)
        cfg = open_project(root).config
        paths = [p for p in (cfg.prompts_dir, cfg.cases_dir, "promptctl.yaml") if (root / p).exists()]
        if head is not None and not is_dirty(root, paths):
            side = obtain(root, head, offline=offline, rerun=rerun, note=note)
            side.label, side.ref = f"HEAD ({head[:10]})", None
            return side
        if head is not None and not rerun:
            folder = f"{head}-dirty-{content_hash(root, paths)[:12]}"
            mine = [p for p in records_for_commit(root, head, include_dirty=True) if p.parent.name == folder]
            rec = _best_local(mine)
            if rec is not None:
                return SideResult("worktree", None, head, True, rec, "record")
        note("worktree: running the suite (uncommitted changes, no record of this state yet)")
        return SideResult("worktree", None, head, True, _run(root, None, offline, note), "ran")
    sha = resolve(root, ref)
    label = ref if ref != sha else sha[:10]
    if not rerun:
        rec = _best_local(records_for_commit(root, sha))
        if rec is not None:
            return SideResult(label, ref, sha, False, rec, "record")
        rec = record_from_notes(root, sha)
        if rec is not None and _is_full(rec):
            return SideResult(label, ref, sha, False, rec, "git-note")
    note(f"{label}: running the suite at {sha[:10]} (no record of it yet)")
    return SideResult(label, ref, sha, False, _run(root, ref, offline, note), "ran")


# -- comparing ----------------------------------------------------------------------------------
def _side_unit(samples: list[dict[str, Any]]) -> dict[str, Any]:
    u = unit_outcome(samples)
    n = len(samples)
    costs = [r.get("cost") for r in samples if r["status"] not in ("skipped", "error")]
    lats = [r["latency_ms"] for r in samples if r.get("latency_ms") is not None]
    return {
        "status": u["status"],
        "passes": u["passes"],
        "fails": u["fails"],
        "errors": u["errors"],
        "skipped": u["skipped"],
        "samples": n,
        "pass_rate": u["passes"] / n if n else None,  # errors and skips count as not passing
        "score": u["score"],
        "cost": None if any(c is None for c in costs) else sum(c for c in costs if c is not None),
        "latency_ms": statistics.fmean(lats) if lats else None,
        "provider_models": sorted({r["provider_model"] for r in samples if r.get("provider_model")}),
    }


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _outputs(samples: list[dict[str, Any]]) -> list[str | None]:
    return [r.get("output") for r in sorted(samples, key=lambda r: int(r["sample"]))]


def compare_units(base: Record, head: Record) -> list[dict[str, Any]]:
    """One entry per case × model on either side, regressions first."""
    bu, hu = group_units(base.rows), group_units(head.rows)
    out = []
    for key in list(hu) + [k for k in bu if k not in hu]:
        bs, hs = bu.get(key), hu.get(key)
        first = (hs or bs or [{}])[0]
        b = _side_unit(bs) if bs else None
        h = _side_unit(hs) if hs else None
        if b is None:
            transition = "new"
        elif h is None:
            transition = "removed"
        elif b["status"] == "pass":
            transition = "still_passing" if h["status"] == "pass" else "pass_to_fail"
        else:
            transition = "fail_to_pass" if h["status"] == "pass" else "still_failing"
        both = b is not None and h is not None
        out.append(
            {
                "case_key": key[0],
                "prompt": first.get("prompt"),
                "case": first.get("case"),
                "model": key[1],
                "transition": transition,
                "base": b,
                "head": h,
                "pass_rate_delta": _delta(b["pass_rate"], h["pass_rate"]) if b and h else None,
                "score_delta": _delta(b["score"], h["score"]) if b and h else None,
                "output_changed": (_outputs(bs) != _outputs(hs)) if both and bs and hs else None,
                "cost_delta": _delta(b["cost"], h["cost"]) if b and h else None,
                "latency_delta_ms": _delta(b["latency_ms"], h["latency_ms"]) if b and h else None,
                "provider_model_drift": bool(
                    b
                    and h
                    and b["provider_models"]
                    and h["provider_models"]
                    and b["provider_models"] != h["provider_models"]
                ),
            }
        )
    order = {t: i for i, t in enumerate(TRANSITIONS)}
    out.sort(key=lambda u: order[str(u["transition"])])
    return out


def _pair(a: float | None, b: float | None) -> dict[str, float | None]:
    return {"base": a, "head": b, "delta": _delta(a, b)}


def totals(base: Record, head: Record, units: list[dict[str, Any]]) -> dict[str, Any]:
    sb, sh = summarize(base.rows), summarize(head.rows)
    metrics = {
        m: _pair(sb["metrics"].get(m), sh["metrics"].get(m))
        for m in sorted(set(sb["metrics"]) | set(sh["metrics"]))
    }
    return {
        "units": {"base": sb["units"], "head": sh["units"]},
        "transitions": {t: sum(u["transition"] == t for u in units) for t in TRANSITIONS},
        "pass_rate": _pair(sb["pass_rate"], sh["pass_rate"]),
        "row_pass_rate": _pair(sb["row_pass_rate"], sh["row_pass_rate"]),
        "mean_score": _pair(sb["mean_score"], sh["mean_score"]),
        "metrics": metrics,
        "cost": _pair(sb["cost"], sh["cost"]),
        "p95_latency_ms": _pair(sb["p95_latency_ms"], sh["p95_latency_ms"]),
        "outputs_changed": sum(bool(u["output_changed"]) for u in units),
        "provider_model_drift": sum(u["provider_model_drift"] for u in units),
    }


# -- the gate -----------------------------------------------------------------------------------
@dataclass
class GateSettings:
    alpha: float = 0.05
    correction: str = "holm"
    pass_rate_tolerance: float = 0.0
    score_tolerance: float = 0.05
    max_cost_increase: float | None = None
    max_p95_latency_increase: float | None = None
    suite_share: float = 0.5

    @classmethod
    def from_config(cls, cfg: GateConfig, **overrides: Any) -> GateSettings:
        s = cls(
            alpha=cfg.alpha,
            correction=cfg.correction,
            pass_rate_tolerance=cfg.pass_rate_tolerance,
            score_tolerance=cfg.score_tolerance,
            max_cost_increase=cfg.max_cost_increase,
            max_p95_latency_increase=cfg.max_p95_latency_increase,
            suite_share=cfg.suite_share,
        )
        for k, v in overrides.items():
            if v is not None:
                setattr(s, k, v)
        if s.correction not in ("holm", "bh", "none"):
            raise UsageError(f"unknown correction '{s.correction}'; use holm, bh or none")
        if not 0.0 < s.alpha < 1.0:
            raise UsageError(f"alpha must be between 0 and 1, got {s.alpha}")
        if not 0.0 <= s.suite_share <= 1.0:
            raise UsageError(f"suite share must be between 0 and 1, got {s.suite_share}")
        return s


@dataclass
class GateResult:
    failed: bool
    causes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def _fmt_p(p: float) -> str:
    return f"{p:.3g}"


def _rel_increase(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    if a <= 0:
        return 0.0 if b <= 0 else float("inf")
    return b / a - 1.0


def _finite(v: float | None) -> float | None:
    return None if v is None or v == float("inf") else v


def run_gate(base: Record, head: Record, units: list[dict[str, Any]], s: GateSettings) -> GateResult:
    """Decide whether HEAD is a quality drop versus BASE. Only case × model present on both sides
    count (a new case is not a regression; a removed one is reported, not gated)."""
    causes: list[str] = []
    bu, hu = group_units(base.rows), group_units(head.rows)
    common = [k for k in hu if k in bu]
    by_key = {(u["case_key"], u["model"]): u for u in units}

    # 1. single-sample cases: a plain transition; repeated ones: significance.
    single, counts = [], []
    for k in common:
        bs, hs = bu[k], hu[k]
        if len(bs) == 1 and len(hs) == 1:
            single.append(k)
            if by_key[k]["transition"] == "pass_to_fail":
                causes.append(
                    f"regression: {k[0]} [{k[1]}] passed at base, {by_key[k]['head']['status']} at head"
                )
        else:
            pb = sum(r["status"] == "pass" for r in bs)
            nb = sum(r["status"] in ("pass", "fail") for r in bs)  # a base error is missing data
            ph = sum(r["status"] == "pass" for r in hs)
            counts.append(CaseCounts(f"{k[0]}\x00{k[1]}", pb, nb, ph, len(hs)))  # head errors = not passing
    stats_out: dict[str, Any] | None = None
    if counts:
        g = stats_gate(
            counts, alpha=s.alpha, correction=cast(Correction, s.correction), suite_share=s.suite_share
        )
        cases_out = []
        for c, t in zip(counts, g.cases, strict=True):
            case_key, model = c.key.split("\x00")
            cases_out.append(
                {
                    "case_key": case_key,
                    "model": model,
                    "pass_base": c.pass_base,
                    "n_base": c.n_base,
                    "pass_head": c.pass_head,
                    "n_head": c.n_head,
                    "p": t.p,
                    "p_adj": t.p_adj,
                    "significant": t.significant,
                }
            )
            if t.significant:
                causes.append(
                    f"regression: {case_key} [{model}] passes {c.pass_base}/{c.n_base} at base, "
                    f"{c.pass_head}/{c.n_head} at head (one-sided Fisher p={_fmt_p(t.p)}, "
                    f"{s.correction}-adjusted {_fmt_p(t.p_adj)} < {g.alpha_cases:g})"
                )
        if g.suite_significant:
            causes.append(
                f"suite-wide drop in pass counts across {len(counts)} repeated case(s) "
                f"(CMH p={_fmt_p(g.suite_p)} < {g.alpha_suite:g})"
            )
        stats_out = {
            "alpha": g.alpha,
            "alpha_cases": g.alpha_cases,
            "alpha_suite": g.alpha_suite,
            "correction": g.correction,
            "suite_p": g.suite_p,
            "suite_significant": g.suite_significant,
            "cases": cases_out,
        }

    # 2. overall pass rate of the single-sample cases (repeated ones are judged by the tests above:
    #    their raw rate moves with sampling noise).
    rate_out: dict[str, Any] | None = None
    if single:
        rb = sum(unit_outcome(bu[k])["status"] == "pass" for k in single) / len(single)
        rh = sum(unit_outcome(hu[k])["status"] == "pass" for k in single) / len(single)
        rate_out = {"base": rb, "head": rh, "delta": rh - rb, "units": len(single)}
        if rh < rb - s.pass_rate_tolerance - 1e-12:
            causes.append(
                f"pass rate dropped from {rb:.1%} to {rh:.1%} over {len(single)} case(s) "
                f"(tolerance {s.pass_rate_tolerance:.1%})"
            )

    # 3. metrics, cost and latency over the cases present on both sides.
    rows_b = [r for k in common for r in bu[k]]
    rows_h = [r for k in common for r in hu[k]]
    sb, sh = summarize(rows_b), summarize(rows_h)
    metrics_out = {}
    for m in sorted(set(sb["metrics"]) & set(sh["metrics"])):
        a, b = sb["metrics"][m], sh["metrics"][m]
        metrics_out[m] = {"base": a, "head": b, "delta": b - a}
        if b < a - s.score_tolerance - 1e-12:
            causes.append(
                f"metric '{m}' mean score dropped from {a:.3f} to {b:.3f} (tolerance {s.score_tolerance:g})"
            )
    cost_inc = _rel_increase(sb["cost"], sh["cost"])
    if s.max_cost_increase is not None and cost_inc is not None and cost_inc > s.max_cost_increase + 1e-12:
        causes.append(
            f"cost rose {cost_inc:+.1%} (${sb['cost']:.4f} → ${sh['cost']:.4f}; "
            f"budget +{s.max_cost_increase:.0%})"
        )
    lat_inc = _rel_increase(sb["p95_latency_ms"], sh["p95_latency_ms"])
    if (
        s.max_p95_latency_increase is not None
        and lat_inc is not None
        and lat_inc > s.max_p95_latency_increase + 1e-12
    ):
        causes.append(
            f"p95 latency rose {lat_inc:+.1%} ({sb['p95_latency_ms']:.0f} ms → "
            f"{sh['p95_latency_ms']:.0f} ms; budget +{s.max_p95_latency_increase:.0%})"
        )
    details = {
        "settings": s.__dict__.copy(),
        "common_units": len(common),
        "single_sample_units": len(single),
        "stats": stats_out,
        "pass_rate": rate_out,
        "metrics": metrics_out,
        "cost": {"base": sb["cost"], "head": sh["cost"], "relative_increase": _finite(cost_inc)},
        "p95_latency_ms": {
            "base": sb["p95_latency_ms"],
            "head": sh["p95_latency_ms"],
            "relative_increase": _finite(lat_inc),
        },
    }
    return GateResult(failed=bool(causes), causes=causes, details=details)


def gate_pvalue_lines(res: GateResult) -> list[str]:
    """The p-values behind the verdict (the most suspicious cases and the suite test)."""
    st = res.details.get("stats")
    if not st:
        return ["no repeated cases on both sides: per-case transitions decide (no statistical test)"]
    lines = [
        f"gate: alpha {st['alpha']:g} = cases {st['alpha_cases']:g} ({st['correction']}) + suite "
        f"{st['alpha_suite']:g}; suite CMH p={_fmt_p(st['suite_p'])}"
    ]
    worst = sorted(st["cases"], key=lambda c: c["p"])[:5]
    for c in worst:
        lines.append(
            f"  {c['case_key']} [{c['model']}]: {c['pass_base']}/{c['n_base']} → "
            f"{c['pass_head']}/{c['n_head']}, p={_fmt_p(c['p'])}, adjusted {_fmt_p(c['p_adj'])}"
            + (" (significant)" if c["significant"] else "")
        )
    return lines


# -- the whole comparison -------------------------------------------------------------------------
def compare_revisions(
    root: Path,
    base: str | None,
    head: str | None,
    *,
    gate: GateSettings | None = None,
    offline: bool = False,
    rerun: bool = False,
    note: Note = lambda _m: None,
) -> dict[str, Any]:
    """``promptctl compare [BASE] [HEAD]`` as JSON-ready data (``gate`` None: no verdict)."""
    from promptctl.review import default_base

    base_rev = base if base is not None else default_base(root)
    b = obtain(root, base_rev, offline=offline, rerun=rerun, note=note)
    h = obtain(root, head, offline=offline, rerun=rerun, note=note)
    units = compare_units(b.record, h.record)
    data: dict[str, Any] = {
        "base": b.to_dict(),
        "head": h.to_dict(),
        "totals": totals(b.record, h.record, units),
        "units": units,
        "gate": None,
    }
    if gate is not None:
        res = run_gate(b.record, h.record, units, gate)
        data["gate"] = {
            "failed": res.failed,
            "causes": res.causes,
            "pvalues": gate_pvalue_lines(res),
            **res.details,
        }
    return data


# -- rendering ------------------------------------------------------------------------------------
def _num(v: float | None, fmt: str = "{:+.3f}") -> str:
    return "-" if v is None else fmt.format(v)


def _pct(v: float | None, signed: bool = False) -> str:
    return "-" if v is None else (f"{v * 100:+.1f} pt" if signed else f"{v * 100:.1f}%")


def _cost(v: float | None, signed: bool = False) -> str:
    digits = 4 if v is None or abs(v) >= 0.01 or v == 0 else 6  # test suites often cost fractions of a cent
    return "-" if v is None else (f"{v:+.{digits}f}" if signed else f"${v:.{digits}f}")


def _ms(v: float | None, signed: bool = False) -> str:
    return "-" if v is None else (f"{v:+.0f} ms" if signed else f"{v:.0f} ms")


def unit_cells(u: dict[str, Any]) -> list[str]:
    def side(x: dict[str, Any] | None) -> str:
        return "-" if x is None else f"{x['status']} {x['passes']}/{x['samples']}"

    drift = ""
    if u["provider_model_drift"]:
        drift = ",".join(u["base"]["provider_models"]) + " → " + ",".join(u["head"]["provider_models"])
    changed = {True: "changed", False: "same", None: "-"}[u["output_changed"]]
    return [
        TRANSITION_LABELS[u["transition"]],
        u["prompt"] or "",
        u["case"] or "",
        u["model"],
        side(u["base"]),
        side(u["head"]),
        _pct(u["pass_rate_delta"], True),
        _num(u["score_delta"]),
        changed,
        _cost(u["cost_delta"], True),
        _ms(u["latency_delta_ms"], True),
        drift,
    ]


UNIT_COLUMNS = [
    "CHANGE",
    "PROMPT",
    "CASE",
    "MODEL",
    "BASE",
    "HEAD",
    "Δ PASS",
    "Δ SCORE",
    "OUTPUT",
    "Δ COST",
    "Δ LATENCY",
    "DRIFT",
]


def totals_lines(data: dict[str, Any]) -> list[str]:
    t = data["totals"]
    tr = t["transitions"]
    lines = [
        ", ".join(f"{tr[k]} {TRANSITION_LABELS[k]}" for k in TRANSITIONS if tr[k]) or "no cases",
        f"pass rate {_pct(t['pass_rate']['base'])} → {_pct(t['pass_rate']['head'])} "
        f"({_pct(t['pass_rate']['delta'], True)}) · mean score {_num(t['mean_score']['base'], '{:.3f}')} → "
        f"{_num(t['mean_score']['head'], '{:.3f}')} · cost {_cost(t['cost']['base'])} → "
        f"{_cost(t['cost']['head'])}"
        f" · p95 {_ms(t['p95_latency_ms']['base'])} → {_ms(t['p95_latency_ms']['head'])}"
        f" · outputs changed {t['outputs_changed']}"
        + (f" · provider model drift in {t['provider_model_drift']}" if t["provider_model_drift"] else ""),
    ]
    for m, v in t["metrics"].items():
        lines.append(
            f"metric {m}: {_num(v['base'], '{:.3f}')} → {_num(v['head'], '{:.3f}')} ({_num(v['delta'])})"
        )
    return lines


def gate_lines(data: dict[str, Any]) -> list[str]:
    g = data["gate"]
    if g is None:
        return []
    head = "gate: FAILED — quality drop" if g["failed"] else "gate: passed — no quality drop"
    return [head, *(f"  ✗ {c}" for c in g["causes"]), *g["pvalues"]]


def side_desc(s: dict[str, Any]) -> str:
    origin = {"record": "local record", "git-note": "git note", "ran": "ran now"}[s["origin"]]
    return f"{s['label']} ({origin})"


def to_markdown(data: dict[str, Any], *, max_rows: int = 200) -> str:
    from promptctl.report import md_escape

    g = data["gate"]
    icon = "" if g is None else ("❌ " if g["failed"] else "✅ ")
    out = [
        f"### {icon}promptctl compare — `{data['base']['label']}` → `{data['head']['label']}`",
        "",
        f"base: {side_desc(data['base'])} · head: {side_desc(data['head'])}",
        "",
        *totals_lines(data),
        "",
    ]
    if g is not None:
        out += ["**Gate: failed**" if g["failed"] else "**Gate: passed**", ""]
        out += [f"- {md_escape(c)}" for c in g["causes"]]
        out += [
            "",
            "<details><summary>Statistics</summary>",
            "",
            "```",
            *g["pvalues"],
            "```",
            "",
            "</details>",
            "",
        ]
    header = "| " + " | ".join(UNIT_COLUMNS) + " |\n|" + " --- |" * len(UNIT_COLUMNS)
    changed = [
        u
        for u in data["units"]
        if u["transition"] != "still_passing" or u["output_changed"] or u["provider_model_drift"]
    ]
    if changed:
        out += [
            header,
            *("| " + " | ".join(md_escape(c) for c in unit_cells(u)) + " |" for u in changed[:max_rows]),
        ]
        if len(changed) > max_rows:
            out.append(f"\n… and {len(changed) - max_rows} more")
    else:
        out.append("No case changed its result or output.")
    return "\n".join(out) + "\n"


def render_compare(data: dict[str, Any], fmt: str) -> str:
    import json

    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False, default=str)
    if fmt == "markdown":
        return to_markdown(data)
    raise UsageError(f"unknown --format '{fmt}'; use table, markdown or json")
