"""``promptctl compare``: per case x model, what changed between two revisions' results —
transitions, pass-rate and score deltas, output changes, cost and latency, provider drift —
then totals and, with ``--gate``, the verdict (``review.gate``)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from promptctl.records.record import Record
from promptctl.records.summary import group_units, summarize, unit_outcome
from promptctl.report.text import TRANSITIONS
from promptctl.review.evaluable import split_rows


@dataclass(frozen=True)
class SideUnit:
    """One case x model on one side of a comparison."""

    status: str
    passes: int
    fails: int
    errors: int
    skipped: int
    samples: int
    pass_rate: float | None  # records.summary.pass_rate: passes over judged samples
    score: float | None
    cost: float | None
    latency_ms: float | None
    provider_models: list[str]
    unverified: int = 0  # samples only a recording the pull request changed answered (review.claims)

    @classmethod
    def of(cls, samples: list[dict[str, Any]]) -> SideUnit:
        u = unit_outcome(samples)
        costs = [r.get("cost") for r in samples if r["status"] not in ("skipped", "error")]
        lats = [r["latency_ms"] for r in samples if r.get("latency_ms") is not None]
        return cls(
            status=u.status,
            passes=u.passes,
            fails=u.fails,
            errors=u.errors,
            skipped=u.skipped,
            samples=u.samples,
            pass_rate=u.pass_rate,
            score=u.score,
            cost=None if any(c is None for c in costs) else sum(c for c in costs if c is not None),
            latency_ms=statistics.fmean(lats) if lats else None,
            provider_models=sorted({r["provider_model"] for r in samples if r.get("provider_model")}),
            unverified=sum(bool(r.get("unverified")) for r in samples),
        )

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class ComparisonPair:
    """One case x model present on either side: its transition and what moved. Across a model
    change the case is paired with itself (``base_model`` → ``head_model``) and judged like any
    other pair; ``model`` is the label ("gpt-4o-mini", or "gpt-4o → gpt-4o-mini")."""

    case_key: str
    prompt: str | None
    case: str | None
    model: str
    transition: str  # one of report.text.TRANSITIONS
    base: SideUnit | None
    head: SideUnit | None
    output_changed: bool | None
    base_model: str | None = None
    head_model: str | None = None

    @property
    def model_changed(self) -> bool:
        return (
            self.base_model is not None and self.head_model is not None and self.base_model != self.head_model
        )

    @property
    def pass_rate_delta(self) -> float | None:
        return _delta(self.base.pass_rate, self.head.pass_rate) if self.base and self.head else None

    @property
    def score_delta(self) -> float | None:
        return _delta(self.base.score, self.head.score) if self.base and self.head else None

    @property
    def cost_delta(self) -> float | None:
        return _delta(self.base.cost, self.head.cost) if self.base and self.head else None

    @property
    def latency_delta_ms(self) -> float | None:
        return _delta(self.base.latency_ms, self.head.latency_ms) if self.base and self.head else None

    @property
    def provider_model_drift(self) -> bool:
        b, h = self.base, self.head
        return bool(
            not self.model_changed
            and b
            and h
            and b.provider_models
            and h.provider_models
            and b.provider_models != h.provider_models
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_key": self.case_key,
            "prompt": self.prompt,
            "case": self.case,
            "model": self.model,
            "base_model": self.base_model,
            "head_model": self.head_model,
            "model_changed": self.model_changed,
            "transition": self.transition,
            "base": self.base.to_dict() if self.base else None,
            "head": self.head.to_dict() if self.head else None,
            "pass_rate_delta": self.pass_rate_delta,
            "score_delta": self.score_delta,
            "output_changed": self.output_changed,
            "cost_delta": self.cost_delta,
            "latency_delta_ms": self.latency_delta_ms,
            "provider_model_drift": self.provider_model_drift,
        }


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _sample_outputs(samples: list[dict[str, Any]]) -> list[str | None]:
    """A unit's outputs in sample order (what "the output changed" compares)."""
    return [r.get("output") for r in sorted(samples, key=lambda r: int(r["sample"]))]


UnitPairing = tuple[str, str | None, str | None]  # (case key, base model, head model)


def pair_units(
    base_units: dict[tuple[str, str], Any], head_units: dict[tuple[str, str], Any]
) -> list[UnitPairing]:
    """Which case × model of the base each case × model of the head is compared with.

    Models of one case with the same name pair up. What is left pairs across a model change
    when it is unambiguous — one model left on each side (the config's default, the prompt's
    ``model`` or the case file's ``models`` changed): the same case, run on another model. More
    than one left on a side cannot be told apart: the base's are reported removed and the head's
    new (so the gate, failing on removed cases, still cannot be passed by swapping models)."""
    by_case: dict[str, tuple[list[str], list[str]]] = {}
    for ck, m in head_units:
        by_case.setdefault(ck, ([], []))[1].append(m)
    for ck, m in base_units:
        by_case.setdefault(ck, ([], []))[0].append(m)
    out: list[UnitPairing] = []
    for ck, (bms, hms) in by_case.items():
        out += [(ck, m, m) for m in hms if m in bms]
        rest_b = [m for m in bms if m not in hms]
        rest_h = [m for m in hms if m not in bms]
        if len(rest_b) == 1 and len(rest_h) == 1:
            out.append((ck, rest_b[0], rest_h[0]))
        else:
            out += [(ck, None, m) for m in rest_h]
            out += [(ck, m, None) for m in rest_b]
    return out


def model_label(base_model: str | None, head_model: str | None) -> str:
    if base_model is not None and head_model is not None and base_model != head_model:
        return f"{base_model} → {head_model}"
    return str(head_model if head_model is not None else base_model)


def compare_units(base: Record, head: Record) -> list[ComparisonPair]:
    """One pair per case × model on either side (paired across model changes), regressions first."""
    bu, hu = group_units(base.rows), group_units(head.rows)
    out = []
    for ck, bm, hm in pair_units(bu, hu):
        bs = bu.get((ck, bm)) if bm is not None else None
        hs = hu.get((ck, hm)) if hm is not None else None
        first = (hs or bs or [{}])[0]
        b = SideUnit.of(bs) if bs else None
        h = SideUnit.of(hs) if hs else None
        transition = _transition(bs, hs)
        changed = (_sample_outputs(bs) != _sample_outputs(hs)) if bs and hs else None
        out.append(
            ComparisonPair(
                ck,
                first.get("prompt"),
                first.get("case"),
                model_label(bm, hm),
                transition,
                b,
                h,
                changed,
                bm,
                hm,
            )
        )
    order = {t: i for i, t in enumerate(TRANSITIONS)}
    out.sort(key=lambda p: order[p.transition])
    return out


def judged_status(samples: list[dict[str, Any]]) -> str | None:
    """A side's status over its rows that could be evaluated (None: none could)."""
    ok, _bad = split_rows(samples)
    return unit_outcome(ok).status if ok else None


def _transition(bs: list[dict[str, Any]] | None, hs: list[dict[str, Any]] | None) -> str:
    """The transition of one pair, judged on the rows that could be evaluated: a head with no
    such row, or a base with none while the head does not pass, cannot be evaluated — an error
    is not a regression."""
    if not bs:
        return "new"
    if not hs:
        return "removed"
    b, h = judged_status(bs), judged_status(hs)
    if h is None or (b is None and h != "pass"):
        return "cannot_evaluate"
    if b == "pass":
        return "still_passing" if h == "pass" else "pass_to_fail"
    return "fail_to_pass" if h == "pass" else "still_failing"


def _pair(a: float | None, b: float | None) -> dict[str, float | None]:
    return {"base": a, "head": b, "delta": _delta(a, b)}


def totals(base: Record, head: Record, pairs: list[ComparisonPair]) -> dict[str, Any]:
    sb, sh = summarize(base.rows), summarize(head.rows)
    metrics = {
        m: _pair(sb["metrics"].get(m), sh["metrics"].get(m))
        for m in sorted(set(sb["metrics"]) | set(sh["metrics"]))
    }
    return {
        "units": {"base": sb["units"], "head": sh["units"]},
        "transitions": {t: sum(p.transition == t for p in pairs) for t in TRANSITIONS},
        "pass_rate": _pair(sb["pass_rate"], sh["pass_rate"]),
        "row_pass_rate": _pair(sb["row_pass_rate"], sh["row_pass_rate"]),
        "mean_score": _pair(sb["mean_score"], sh["mean_score"]),
        "metrics": metrics,
        "cost": _pair(sb["cost"], sh["cost"]),
        "p95_latency_ms": _pair(sb["p95_latency_ms"], sh["p95_latency_ms"]),
        "outputs_changed": sum(bool(p.output_changed) for p in pairs),
        "provider_model_drift": sum(p.provider_model_drift for p in pairs),
        "model_changes": sum(p.model_changed for p in pairs),
    }
