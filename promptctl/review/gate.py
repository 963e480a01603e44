"""The CI quality gate: is HEAD worse than BASE? With one sample per case a case going from pass
to fail is a regression; with repeated samples model noise is expected, so only a drop that is
statistically significant (``stats.gate``: per-case Fisher with a multiple-testing correction,
plus a suite-wide CMH test) fails the build. Then pass-rate, metric, cost and latency budgets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, cast

from promptctl.errors import UsageError
from promptctl.records.record import Record
from promptctl.records.summary import group_units, summarize, unit_outcome
from promptctl.review.claims import ClaimKey
from promptctl.review.compare import ComparisonPair
from promptctl.review.evaluable import Reason, reasons, split_rows
from promptctl.review.noninferiority import margin_drop_p, margin_suite_p, pass_hat_k
from promptctl.review.sequential import look_weights, looks_of, schedule, sequential_p
from promptctl.review.stats import (
    CaseCounts,
    Correction,
    ScoreTest,
    Stratum,
    cmh_one_sided,
    fisher_exact_one_sided,
    rank_sum_one_sided,
)
from promptctl.review.stats import gate as stats_gate
from promptctl.suite.model import GateConfig


def gate_settings(cfg: GateConfig, **overrides: Any) -> GateConfig:
    """The gate's settings: promptctl.yaml's ``gate:`` with the command line's non-None overrides."""
    s = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    if s.correction not in ("holm", "bh", "none"):
        raise UsageError(f"unknown correction '{s.correction}'; use holm, bh or none")
    if not 0.0 < s.alpha < 1.0:
        raise UsageError(f"alpha must be between 0 and 1, got {s.alpha}")
    if not 0.0 <= s.suite_share <= 1.0:
        raise UsageError(f"suite share must be between 0 and 1, got {s.suite_share}")
    if s.removed not in ("fail", "warn"):
        raise UsageError(f"unknown gate.removed '{s.removed}'; use fail or warn")
    if s.max_repeat is not None and s.max_repeat < 1:
        raise UsageError(f"gate.max_repeat must be at least 1, got {s.max_repeat}")
    if s.max_extra < 0:
        raise UsageError(f"gate.max_extra must be at least 0, got {s.max_extra}")
    if not 0.0 <= s.margin < 1.0:
        raise UsageError(f"gate.margin must be between 0 and 1, got {s.margin}")
    if s.pass_k < 1:
        raise UsageError(f"gate.pass_k must be at least 1, got {s.pass_k}")
    if s.min_pass_k is not None and not 0.0 <= s.min_pass_k <= 1.0:
        raise UsageError(f"gate.min_pass_k must be between 0 and 1, got {s.min_pass_k}")
    return s


Unit = tuple[str, str]  # (case key, model label)


def adaptive(s: GateConfig, repeat: int) -> bool:
    """Whether a case sampled ``repeat`` times a side is judged by the sequential rule."""
    return s.max_repeat is not None and s.max_repeat > repeat


def outcomes(rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(int(r["sample"]), str(r["status"])) for r in rows]


@dataclass
class GateResult:
    failed: bool
    causes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # "case [model]" the base ran and the head did not
    not_evaluated: list[Reason] = field(default_factory=list)  # rows with no answer to judge, by reason
    unverified: int = 0  # rows only a recording the pull request changed answered (not trusted)

    @property
    def not_evaluated_rows(self) -> int:
        return sum(r.rows for r in self.not_evaluated)

    @property
    def verdict(self) -> str:
        """The verdict: "failed" (a drop among the rows that could be judged: exit 1, whatever
        else), else "cannot_evaluate" (exit 3: rows that could not be judged, or that only the
        pull request's own recordings answered), else "passed"."""
        if self.failed:
            return "failed"
        return "cannot_evaluate" if self.not_evaluated or self.unverified else "passed"

    @property
    def exit_code(self) -> int:
        return {"failed": 1, "cannot_evaluate": 3, "passed": 0}[self.verdict]


def _listed(names: list[str], most: int = 10) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


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


def unverified_rows(rows: list[dict[str, Any]], claims: frozenset[ClaimKey]) -> list[dict[str, Any]]:
    """The rows a recording the pull request changed answered without a call verifying it:
    marked so by the run (its output or a judge verdict), or replayed from such a recording
    (``claims``: the changed entries; a row's output entry has the row's own key)."""
    return [
        r
        for r in rows
        if r.get("unverified")
        or (
            r.get("source") == "recording"
            and (r.get("case_file"), r.get("case"), r.get("model"), r.get("sample")) in claims
        )
    ]


def run_gate(
    base: Record,
    head: Record,
    pairs: list[ComparisonPair],
    s: GateConfig,
    *,
    on_trial: set[str] | None = None,
    repeats: dict[Unit, int] | None = None,
    claims: frozenset[ClaimKey] = frozenset(),
    trust_claims: bool = False,
) -> GateResult:
    """Decide whether HEAD is a quality drop versus BASE. Every case × model present on both sides
    is judged, across a model change too (``compare.pair_units``); a new case is not a regression;
    a case × model the base ran and the head did not fails the gate unless ``removed: warn``.
    ``claims``: the rows answered by recordings the pull request changed; replayed without a
    call verifying them they are judged, but cannot pass the gate unless ``trust_claims``.

    ``on_trial`` (case keys; None: all) are the cases the change touched (``diff.affected_keys``):
    the others cannot have been made worse by it and are only checked for provider drift (a
    warning). ``repeats`` are the samples a side each case × model was planned with before the
    gate drew more (default: the smaller side's count); with ``gate.max_repeat`` above it the case
    is judged by the sequential rule (``review.sequential``)."""
    causes: list[str] = []
    warnings: list[str] = []
    bu, hu = group_units(base.rows), group_units(head.rows)
    both = [p for p in pairs if p.base is not None and p.head is not None]
    # Only rows that could be evaluated are judged: an error is not a quality drop (see
    # review.evaluable). A pair with nothing to judge is left out and reported as such.
    rows_of: dict[tuple[str, str], tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    not_evaluated: list[tuple[str, dict[str, Any]]] = []
    for p in both:
        bs, hs = bu[(p.case_key, str(p.base_model))], hu[(p.case_key, str(p.head_model))]
        b_ok, b_bad = split_rows(bs)
        h_ok, h_bad = split_rows(hs)
        not_evaluated += [("head", r) for r in h_bad]
        if p.transition == "cannot_evaluate":
            if not h_bad:  # the base is what could not be evaluated
                not_evaluated += [("base", r) for r in b_bad]
            continue
        rows_of[(p.case_key, p.model)] = (b_ok or bs, h_ok)
    both = [p for p in both if (p.case_key, p.model) in rows_of]
    drift: list[dict[str, Any]] = []
    if on_trial is not None:
        for k in [k for k in rows_of if k[0] not in on_trial]:
            drift += _drift(k, *rows_of.pop(k), s.alpha)
        both = [p for p in both if (p.case_key, p.model) in rows_of]
    common = list(rows_of)
    repeats = {k: (repeats or {}).get(k) or min(len(v[0]), len(v[1])) for k, v in rows_of.items()}
    repeated = [k for k in common if not (len(rows_of[k][0]) == 1 and len(rows_of[k][1]) == 1)]
    sequential = {k: adaptive(s, repeats[k]) for k in repeated}
    for d in drift:
        warnings.append(
            f"drift: {d['case_key']} [{d['model']}] {d['what']} although the change left its request "
            "and checks as they were (the provider's doing, not the change's: not a cause)"
        )
    by_key = {(p.case_key, p.model): p for p in both}
    removed = [f"{p.case_key} [{p.model}]" for p in pairs if p.head is None]
    if removed:
        what = f"removed at head: {len(removed)} case × model that base ran: {_listed(removed)}"
        if s.removed == "warn":
            warnings.append(f"{what} (allowed by gate.removed: warn / --allow-removed)")
        else:
            causes.append(
                f"{what} — a case missing at head is not judged; if the removal is on purpose, set "
                "`gate.removed: warn` in promptctl.yaml or pass --allow-removed"
            )

    # 1. single-sample cases: a plain transition; repeated ones: significance.
    single, counts = [], []
    seq_p: list[float] = []
    seq_looks: list[list[dict[str, Any]]] = []
    # the suite test reads each case's first look only: which cases got more samples depended on
    # it, so a suite test of the extended counts would be a second, unplanned look
    suite_strata: list[Stratum] = []
    m_cases = max(1, len(repeated))
    one_on_trial = len(repeated) == 1 and all(sequential.values())
    alpha_cases_planned = s.alpha if one_on_trial else s.alpha * (1 - s.suite_share)
    pass_k: list[tuple[float | None, float | None]] = []

    def test(pb: int, nb: int, ph: int, nh: int) -> float:
        if s.margin > 0:
            return margin_drop_p(pb, nb, ph, nh, s.margin)
        return fisher_exact_one_sided(pb, nb, ph, nh)

    score_tests: list[ScoreTest] = []
    scored: list[tuple[tuple[str, str], str, list[float], list[float]]] = []
    for k in common:
        bs, hs = rows_of[k]
        if len(bs) == 1 and len(hs) == 1:
            single.append(k)
            pair = by_key[k]
            if pair.transition == "pass_to_fail" and pair.head is not None:
                causes.append(f"regression: {k[0]} [{k[1]}] passed at base, {pair.head.status} at head")
        else:
            pb = sum(r["status"] == "pass" for r in bs)
            nb = sum(r["status"] in ("pass", "fail") for r in bs)  # a base error is missing data
            ph = sum(r["status"] == "pass" for r in hs)
            counts.append(CaseCounts(f"{k[0]}\x00{k[1]}", pb, nb, ph, len(hs)))  # head errors = not passing
            looks = schedule(repeats[k], s.max_repeat if sequential[k] and s.max_repeat else repeats[k])
            weights = look_weights(looks, alpha_cases_planned / m_cases)
            taken = looks_of(outcomes(bs), outcomes(hs), looks, weights, test)
            seq_p.append(sequential_p(taken) if sequential[k] else test(pb, nb, ph, len(hs)))
            pass_k.append((pass_hat_k(pb, nb, s.pass_k), pass_hat_k(ph, len(hs), s.pass_k)))
            seq_looks.append([lk.__dict__ for lk in taken] if sequential[k] else [])
            first = taken[0] if sequential[k] and taken else None
            suite_strata.append(
                (first.pass_base, first.n_base, first.pass_head, first.n_head)
                if first
                else counts[-1].stratum
            )
            # a metric's scores are tested on the samples planned before the gate drew more: which
            # cases got more depended on their pass counts, so the extra samples are not a fixed design
            mb_rows, mh_rows = (
                ([r for r in rows if int(r["sample"]) < repeats[k]] for rows in (bs, hs))
                if sequential[k]
                else (bs, hs)
            )
            for m in sorted(_metrics_of(mb_rows) & _metrics_of(mh_rows)):
                sc_b, sc_h = _metric_scores(mb_rows, m, head=False), _metric_scores(mh_rows, m, head=True)
                scored.append((k, m, sc_b, sc_h))
                score_tests.append(ScoreTest(f"{k[0]}\x00{k[1]}\x00{m}", rank_sum_one_sided(sc_b, sc_h)))
    stats_out: dict[str, Any] | None = None
    if counts:
        g = stats_gate(
            counts,
            alpha=s.alpha,
            correction=cast(Correction, s.correction),
            suite_share=0.0 if one_on_trial else s.suite_share,
            scores=score_tests,
            case_p=seq_p if any(sequential.values()) or s.margin > 0 else None,
            suite_p=margin_suite_p(suite_strata, s.margin) if s.margin > 0 else cmh_one_sided(suite_strata),
        )
        cases_out = []
        for c, t, looks_out, (pk_b, pk_h) in zip(counts, g.cases, seq_looks, pass_k, strict=True):
            case_key, model = c.key.split("\x00")
            if s.min_pass_k is not None and pk_h is not None and pk_h < s.min_pass_k - 1e-12:
                causes.append(
                    f"pass^{s.pass_k} of {case_key} [{model}] is {pk_h:.2f} at head"
                    + (f" (base {pk_b:.2f})" if pk_b is not None else "")
                    + f", below gate.min_pass_k {s.min_pass_k:g} ({c.pass_head}/{c.n_head} passed)"
                )
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
                    "looks": looks_out,
                    "pass_k": {"k": s.pass_k, "base": pk_b, "head": pk_h},
                }
            )
            if t.significant:
                name = f"margin {s.margin:g} test" if s.margin > 0 else "one-sided Fisher"
                looked = "/".join(str(lk["n"]) for lk in looks_out)
                test_name = (
                    f"sequential {name} over looks at {looked} samples: p" if looks_out else f"{name} p"
                )
                causes.append(
                    f"regression: {case_key} [{model}] passes {c.pass_base}/{c.n_base} at base, "
                    f"{c.pass_head}/{c.n_head} at head ({test_name}={_fmt_p(t.p)}, "
                    f"{s.correction}-adjusted {_fmt_p(t.p_adj)} < {g.alpha_cases:g})"
                )
        scores_out = []
        for (k, m, sc_b, sc_h), t in zip(scored, g.scores, strict=True):
            mb, mh = _mean(sc_b), _mean(sc_h)
            dropped = mb is not None and mh is not None and mh < mb - s.score_tolerance - 1e-12
            scores_out.append(
                {
                    "case_key": k[0],
                    "model": k[1],
                    "metric": m,
                    "base": mb,
                    "head": mh,
                    "n_base": len(sc_b),
                    "n_head": len(sc_h),
                    "p": t.p,
                    "p_adj": t.p_adj,
                    "significant": t.significant and dropped,
                }
            )
            if t.significant and dropped:
                causes.append(
                    f"metric '{m}' of {k[0]} [{k[1]}] dropped from {mb:.3f} to {mh:.3f} over "
                    f"{len(sc_b)}/{len(sc_h)} samples (one-sided rank-sum p={_fmt_p(t.p)}, "
                    f"{s.correction}-adjusted {_fmt_p(t.p_adj)} < {g.alpha_cases:g}; "
                    f"tolerance {s.score_tolerance:g})"
                )
        if g.suite_significant:
            suite_test = f"mean drop beyond margin {s.margin:g}, z-test" if s.margin > 0 else "CMH"
            causes.append(
                f"suite-wide drop in pass counts across {len(counts)} repeated case(s) "
                f"({suite_test} p={_fmt_p(g.suite_p)} < {g.alpha_suite:g})"
            )
        stats_out = {
            "sequential": any(sequential.values()),
            "margin": s.margin,
            "max_repeat": s.max_repeat,
            "alpha": g.alpha,
            "alpha_cases": g.alpha_cases,
            "alpha_suite": g.alpha_suite,
            "correction": g.correction,
            "suite_p": g.suite_p,
            "suite_significant": g.suite_significant,
            "cases": cases_out,
            "scores": scores_out,
        }

    # 2. overall pass rate of the single-sample cases (repeated ones are judged by the tests above:
    #    their raw rate moves with sampling noise).
    rate_out: dict[str, Any] | None = None
    if single:
        rb = sum(unit_outcome(rows_of[k][0]).status == "pass" for k in single) / len(single)
        rh = sum(unit_outcome(rows_of[k][1]).status == "pass" for k in single) / len(single)
        rate_out = {"base": rb, "head": rh, "delta": rh - rb, "units": len(single)}
        if rh < rb - s.pass_rate_tolerance - 1e-12:
            causes.append(
                f"pass rate dropped from {rb:.1%} to {rh:.1%} over {len(single)} case(s) "
                f"(tolerance {s.pass_rate_tolerance:.1%})"
            )

    # 3. metrics: the mean score over the single-sample cases against the tolerance (repeated
    #    cases are judged per case by the rank-sum tests above: their raw mean moves with sampling
    #    noise), reported over every case; then cost and latency over the cases on both sides.
    rows_b = [r for k in common for r in rows_of[k][0]]
    rows_h = [r for k in common for r in rows_of[k][1]]
    sb, sh = summarize(rows_b), summarize(rows_h)
    one_b = summarize([r for k in single for r in rows_of[k][0]])["metrics"]
    one_h = summarize([r for k in single for r in rows_of[k][1]])["metrics"]
    metrics_out = {}
    for m in sorted(set(sb["metrics"]) & set(sh["metrics"])):
        a, b = sb["metrics"][m], sh["metrics"][m]
        metrics_out[m] = {"base": a, "head": b, "delta": b - a}
        if m in one_b and m in one_h:
            a1, b1 = one_b[m], one_h[m]
            metrics_out[m]["single_sample"] = {"base": a1, "head": b1, "delta": b1 - a1}
            if b1 < a1 - s.score_tolerance - 1e-12:
                causes.append(
                    f"metric '{m}' mean score dropped from {a1:.3f} to {b1:.3f} over the single-sample "
                    f"case(s) (tolerance {s.score_tolerance:g})"
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
        "settings": asdict(s),
        "common_units": len(common),
        "model_changes": sum(p.model_changed for p in both),
        "single_sample_units": len(single),
        "on_trial": None if on_trial is None else len(common),
        "drift": drift,
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
    unverified = unverified_rows(head.rows, claims)
    if unverified and trust_claims:
        warnings.append(
            f"trusted: {len(unverified)} row(s) replayed from recordings changed by this pull request "
            "(gate.trust_pr_recordings in the base's promptctl.yaml, or --trust-pr-recordings)"
        )
    details["unverified"] = {
        "rows": len(unverified),
        "trusted": trust_claims,
        "cases": sorted({f"{r['case_key']} [{r['model']}]" for r in unverified}),
        "case_files": sorted({str(r.get("case_file")) for r in unverified}),
    }
    why = reasons(not_evaluated)
    details["cannot_evaluate"] = {
        "rows": len(not_evaluated),
        "cases": len({(side, r["case_key"], r["model"]) for side, r in not_evaluated}),
        "reasons": [r.to_dict() for r in why],
    }
    return GateResult(
        failed=bool(causes),
        causes=causes,
        details=details,
        warnings=warnings,
        removed=removed,
        not_evaluated=why,
        unverified=0 if trust_claims else len(unverified),
    )


def _drift(k: Unit, bs: list[dict[str, Any]], hs: list[dict[str, Any]], alpha: float) -> list[dict[str, Any]]:
    """A case the change did not touch that did worse anyway: pass → fail with one sample, a
    drop with raw one-sided Fisher p < alpha over repeated samples."""
    pb = sum(r["status"] == "pass" for r in bs)
    nb = sum(r["status"] in ("pass", "fail") for r in bs)
    ph = sum(r["status"] == "pass" for r in hs)
    if len(bs) == 1 and len(hs) == 1:
        if unit_outcome(bs).status == "pass" and unit_outcome(hs).status != "pass":
            return [{"case_key": k[0], "model": k[1], "what": f"passed at base, {hs[0]['status']} at head"}]
        return []
    p = fisher_exact_one_sided(pb, nb, ph, len(hs))
    if p >= alpha:
        return []
    what = f"passes {pb}/{nb} at base, {ph}/{len(hs)} at head (one-sided Fisher p={_fmt_p(p)})"
    return [{"case_key": k[0], "model": k[1], "what": what, "p": p}]


def _metrics_of(rows: list[dict[str, Any]]) -> set[str]:
    return {a["metric"] for r in rows for a in r.get("asserts", []) if a.get("metric") and not a.get("error")}


def _metric_scores(rows: list[dict[str, Any]], metric: str, *, head: bool) -> list[float]:
    """One score per sample: the mean of its ``metric`` assertions. A sample without one (the
    call failed, the check errored) is missing data at the base and a 0 at the head, as errors
    count against the head in the pass counts."""
    out = []
    for r in sorted(rows, key=lambda r: int(r["sample"])):
        vals = [a["score"] for a in r.get("asserts", []) if a.get("metric") == metric and not a.get("error")]
        if vals:
            out.append(sum(vals) / len(vals))
        elif head:
            out.append(0.0)
    return out


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def gate_pvalue_lines(res: GateResult) -> list[str]:
    """The p-values behind the verdict (the most suspicious cases and the suite test)."""
    st = res.details.get("stats")
    if not st:
        return ["no repeated cases on both sides: per-case transitions decide (no statistical test)"]
    suite = "suite CMH" if not st.get("margin") else f"suite drop beyond margin {st['margin']:g}"
    lines = [
        f"gate: alpha {st['alpha']:g} = cases {st['alpha_cases']:g} ({st['correction']}) + suite "
        f"{st['alpha_suite']:g}; {suite} p={_fmt_p(st['suite_p'])}"
    ]
    if st.get("sequential"):
        lines.append(f"  sequential rule: looks doubling up to {st['max_repeat']} samples a side")
    worst = sorted(st["cases"], key=lambda c: c["p"])[:5]
    for c in worst:
        pk = c.get("pass_k") or {}
        shown = (
            f", pass^{pk['k']} {pk['base']:.2f} → {pk['head']:.2f}"
            if pk.get("base") is not None and pk.get("head") is not None
            else ""
        )
        lines.append(
            f"  {c['case_key']} [{c['model']}]: {c['pass_base']}/{c['n_base']} → "
            f"{c['pass_head']}/{c['n_head']}, p={_fmt_p(c['p'])}, adjusted {_fmt_p(c['p_adj'])}"
            + shown
            + (" (significant)" if c["significant"] else "")
        )
    for c in sorted(st.get("scores") or [], key=lambda c: c["p"])[:5]:
        lines.append(
            f"  {c['case_key']} [{c['model']}] metric {c['metric']}: mean {c['base']:.3f} → "
            f"{c['head']:.3f}, rank-sum p={_fmt_p(c['p'])}, adjusted {_fmt_p(c['p_adj'])}"
            + (" (a drop beyond the tolerance)" if c["significant"] else "")
        )
    return lines
