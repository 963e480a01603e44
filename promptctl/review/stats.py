"""Statistics behind the CI quality gate: did the head revision make any case (or the suite) worse?

Each case is run ``n`` times on the base revision and ``n`` times on the head revision, and each
run passes or fails, so a case is a 2x2 table of pass/fail counts. Model outputs are random, so a
case going from 9/10 to 8/10 is usually noise; the gate must only fail when a drop is unlikely to
be noise, while still catching real regressions. This module is pure Python (``math`` only):
scipy is not a dependency and would cost a heavy import for a handful of formulas.

Two questions are asked, because they catch different regressions:

* **Per case** -- one-sided Fisher exact test per case, adjusted for multiplicity (Holm by default,
  Benjamini-Hochberg on request). Catches one case that broke badly.
* **Whole suite** -- one-sided Cochran-Mantel-Haenszel test with the cases as strata. Catches many
  small drops when no single case is significant on its own.

A metric's scores (a judge's grade, a similarity ratio) are tested per case too, on the per-sample
scores of both sides: a one-sided rank-sum (Wilcoxon-Mann-Whitney) test, exact at the sample
counts the gate sees, whose p-values join the per-case family above (one correction, one alpha).

The gate fails if either test rejects. Since under "no change" each test alone has false-alarm
probability at most its alpha, the union has at most the sum (Bonferroni); :func:`gate` therefore
splits the gate's alpha between the two (half each by default) so the overall false-alarm rate
stays at most ``alpha``.

All tests are **one-sided** (H1: head's pass probability is *lower*): the gate exists to block
regressions, an improvement must never fail a build, and spending the whole alpha on one tail
gives more power against drops than a two-sided test at the same false-alarm rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Correction = Literal["holm", "bh", "none"]

# Up to this many total runs in a table the Fisher tail is computed with exact integers
# (Python ints are arbitrary precision and int/int true division is correctly rounded, so the
# result is exact to the last bit). Beyond it, log-space terms avoid multi-thousand-digit ints.
_EXACT_LIMIT = 4000


def _check_counts(pass_base: int, n_base: int, pass_head: int, n_head: int) -> None:
    for name, v in (
        ("pass_base", pass_base),
        ("n_base", n_base),
        ("pass_head", pass_head),
        ("n_head", n_head),
    ):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"{name} must be an int, got {type(v).__name__}")
        if v < 0:
            raise ValueError(f"{name} must be >= 0, got {v}")
    if pass_base > n_base:
        raise ValueError(f"pass_base ({pass_base}) > n_base ({n_base})")
    if pass_head > n_head:
        raise ValueError(f"pass_head ({pass_head}) > n_head ({n_head})")


def fisher_exact_one_sided(pass_base: int, n_base: int, pass_head: int, n_head: int) -> float:
    """One-sided Fisher exact p-value for H1 "head's pass probability is lower than base's".

    Conditioning on the margins (total runs per side and total passes ``K``), the number of head
    passes ``X`` is hypergeometric under H0 (same pass probability on both sides): drawing
    ``n_head`` runs out of ``N = n_base + n_head`` of which ``K`` passed. The p-value is the lower
    tail ``P(X <= pass_head)``. Exact, so it stays valid at the small counts (5-20 samples) the
    gate sees, where normal approximations are poor. Equal to
    ``scipy.stats.fisher_exact([[pass_base, n_base - pass_base], [pass_head, n_head - pass_head]],
    alternative="greater")``.

    An empty side (``n_base == 0`` or ``n_head == 0``) carries no evidence: p = 1.
    """
    _check_counts(pass_base, n_base, pass_head, n_head)
    if n_base == 0 or n_head == 0:
        return 1.0
    total = n_base + n_head
    passes = pass_base + pass_head
    lo = max(0, passes - n_base)  # smallest possible head pass count given the margins
    if total <= _EXACT_LIMIT:
        num = sum(
            math.comb(passes, x) * math.comb(total - passes, n_head - x) for x in range(lo, pass_head + 1)
        )
        return min(1.0, num / math.comb(total, n_head))
    return _fisher_tail_log(passes, total, n_head, lo, pass_head)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _fisher_tail_log(passes: int, total: int, n_head: int, lo: int, hi: int) -> float:
    """Hypergeometric lower tail ``P(lo <= X <= hi)`` in log space (log-sum-exp), for huge tables."""
    denom = _log_comb(total, n_head)
    logs = [_log_comb(passes, x) + _log_comb(total - passes, n_head - x) - denom for x in range(lo, hi + 1)]
    m = max(logs)
    return min(1.0, math.exp(m) * math.fsum(math.exp(v - m) for v in logs))


def _check_pvalues(pvalues: Sequence[float]) -> None:
    for p in pvalues:
        if not (0.0 <= p <= 1.0):  # also rejects NaN
            raise ValueError(f"p-values must be in [0, 1], got {p!r}")


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (family-wise error control), in the input order.

    ``p_adj(i) = max_{j <= i} min(1, (m - j + 1) * p(j))`` over the ascending order. Uniformly more
    powerful than Bonferroni with the same guarantee (P(any false alarm) <= alpha), and valid under
    any dependence between cases -- which matters because cases share a prompt and a model.
    """
    _check_pvalues(pvalues)
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg step-up adjusted p-values (false-discovery-rate control), in input order.

    ``p_adj(i) = min_{j >= i} min(1, m / j * p(j))`` over the ascending order. More permissive than
    Holm for large suites: it bounds the expected share of false alarms among flagged cases rather
    than the chance of any false alarm, so use it when reporting many cases, not for a hard gate.
    """
    _check_pvalues(pvalues)
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 1.0
    for rank in range(m - 1, -1, -1):
        i = order[rank]
        running = min(running, min(1.0, m / (rank + 1) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def adjust(pvalues: Sequence[float], correction: Correction) -> list[float]:
    """Apply the named multiplicity correction (``"none"`` returns the p-values unchanged)."""
    if correction == "holm":
        return holm(pvalues)
    if correction == "bh":
        return benjamini_hochberg(pvalues)
    if correction == "none":
        _check_pvalues(pvalues)
        return list(pvalues)
    raise ValueError(f"unknown correction {correction!r} (expected 'holm', 'bh' or 'none')")


def normal_sf(z: float) -> float:
    """Upper tail of the standard normal, ``P(Z > z)``, accurate far into the tail via ``erfc``."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


Stratum = tuple[int, int, int, int]  # (pass_base, n_base, pass_head, n_head)


def cmh_one_sided(strata: Sequence[Stratum]) -> float:
    """One-sided Cochran-Mantel-Haenszel p-value for H1 "head passes less often, across cases".

    Each case is a stratum (a 2x2 table). Within a stratum, conditioning on its margins, the head
    pass count ``a`` has hypergeometric mean ``E = n_head * K / N`` and variance
    ``V = n_base * n_head * K * (N - K) / (N^2 * (N - 1))`` under H0. The statistic
    ``z = (sum(E - a) - 0.5) / sqrt(sum(V))`` (with the 0.5 continuity correction, which keeps the
    normal approximation conservative at small counts) is compared with the normal upper tail.

    Why CMH rather than pooling all runs into one two-proportion test: cases differ widely in
    difficulty, and pooling mixes them (Simpson's paradox if sample counts differ between sides;
    needlessly large variance from between-case spread otherwise). CMH only compares each case
    with itself and adds up the evidence, so twenty cases that each drop by 1-2 passes out of 10
    give a strong signal although no single case is significant. Cases that cannot inform the
    test (all pass or all fail on both sides, or an empty side) have ``V = 0`` and drop out.
    Returns 1.0 when no stratum is informative.
    """
    s = 0.0
    var = 0.0
    for pass_base, n_base, pass_head, n_head in strata:
        _check_counts(pass_base, n_base, pass_head, n_head)
        total = n_base + n_head
        if n_base == 0 or n_head == 0 or total < 2:
            continue
        passes = pass_base + pass_head
        s += n_head * passes / total - pass_head
        var += n_base * n_head * passes * (total - passes) / (total * total * (total - 1))
    if var <= 0.0:
        return 1.0
    z = (s - 0.5) / math.sqrt(var)
    return normal_sf(z)


# Up to this many samples in all the rank-sum test is the exact permutation distribution (~25 ms for
# 2 x 20 samples on the benchmark machine, growing steeply: 2 x 30 takes 0.2 s); beyond it, the
# normal approximation with the tie correction, which is close at 20 samples a side.
_RANK_EXACT_LIMIT = 40


def rank_sum_one_sided(base: Sequence[float], head: Sequence[float]) -> float:
    """One-sided Wilcoxon-Mann-Whitney p-value for H1 "head's scores tend to be lower".

    The per-sample scores of one case on both sides are pooled and ranked (tied scores share
    their mean rank); under H0 (same score distribution on both sides) every split of the pooled
    scores into ``len(head)`` and ``len(base)`` is equally likely, so the p-value is the share of
    splits whose head rank sum is at most the observed one. Computed exactly, conditioning on
    the ties, by counting splits group by group of equal scores (the exact permutation test on
    the ranks: valid at 5-20 samples, where approximations are poor, and for scores with many
    ties, such as 0/1 checks, where it equals Fisher's exact test). Beyond ``_RANK_EXACT_LIMIT``
    samples the normal approximation with the tie correction is used.

    Why ranks rather than a t-test on the means: scores are bounded, skewed and heavily tied
    (judge scores in steps of 0.1, similarity ratios), so normality cannot be assumed; a rank test
    needs no distribution and is not thrown by one outlying sample. An empty side carries no
    evidence: p = 1.
    """
    nb, nh = len(base), len(head)
    if nb == 0 or nh == 0:
        return 1.0
    for v in (*base, *head):
        if not math.isfinite(v):
            raise ValueError(f"scores must be finite, got {v!r}")
    pooled = sorted([(v, 0) for v in base] + [(v, 1) for v in head])
    groups: list[tuple[int, int]] = []  # (doubled mid-rank, size) per distinct score, ascending
    head_sum = 0  # observed head rank sum, doubled (integers throughout)
    i = 0
    while i < len(pooled):
        j = i
        while j < len(pooled) and pooled[j][0] == pooled[i][0]:
            j += 1
        rank2 = i + j + 1  # twice the mean of the ranks i+1 .. j
        groups.append((rank2, j - i))
        head_sum += rank2 * sum(side for _v, side in pooled[i:j])
        i = j
    total = nb + nh
    if total > _RANK_EXACT_LIMIT:
        return _rank_sum_normal(groups, nb, nh, head_sum)
    # ways[k][t]: splits of the groups seen so far putting k samples on the head side with doubled
    # rank sum t.
    ways: list[dict[int, int]] = [{0: 1}] + [{} for _ in range(nh)]
    for rank2, size in groups:
        nxt: list[dict[int, int]] = [{} for _ in range(nh + 1)]
        for k, by_sum in enumerate(ways):
            if not by_sum:
                continue
            for x in range(min(size, nh - k) + 1):
                c = math.comb(size, x)
                row = nxt[k + x]
                add = rank2 * x
                for t, w in by_sum.items():
                    row[t + add] = row.get(t + add, 0) + w * c
        ways = nxt
    dist = ways[nh]
    below = sum(w for t, w in dist.items() if t <= head_sum)
    return min(1.0, below / math.comb(total, nh))


def _rank_sum_normal(groups: list[tuple[int, int]], nb: int, nh: int, head_sum2: int) -> float:
    total = nb + nh
    mean = nh * (total + 1) / 2
    ties = sum(size**3 - size for _r, size in groups)
    var = nb * nh / 12 * ((total + 1) - ties / (total * (total - 1)))
    if var <= 0:
        return 1.0
    z = (mean - head_sum2 / 2 - 0.5) / math.sqrt(var)  # continuity-corrected lower tail
    return normal_sf(z)


@dataclass(frozen=True)
class ScoreTest:
    """A per-case test of a metric's scores (``rank_sum_one_sided``): its key and raw p-value,
    adjusted together with the per-case Fisher tests (the same alpha budget)."""

    key: str
    p: float


@dataclass(frozen=True)
class CaseCounts:
    """Pass counts of one case on both sides. ``key`` identifies the case (e.g. "prompt/case")."""

    key: str
    pass_base: int
    n_base: int
    pass_head: int
    n_head: int

    @property
    def stratum(self) -> Stratum:
        return (self.pass_base, self.n_base, self.pass_head, self.n_head)


@dataclass(frozen=True)
class CaseTest:
    """Per-case drop test: raw one-sided Fisher p, multiplicity-adjusted p, verdict at the case alpha."""

    key: str
    p: float
    p_adj: float
    significant: bool


def case_drop_tests(
    cases: Sequence[CaseCounts], alpha: float, correction: Correction = "holm"
) -> list[CaseTest]:
    """One-sided Fisher test per case, adjusted across the cases; ``significant`` is ``p_adj < alpha``.

    Results are in the input order.
    """
    _check_alpha(alpha)
    raw = [fisher_exact_one_sided(*c.stratum) for c in cases]
    adj = adjust(raw, correction)
    return [CaseTest(c.key, p, pa, pa < alpha) for c, p, pa in zip(cases, raw, adj, strict=True)]


def _check_alpha(alpha: float) -> None:
    if not (0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


@dataclass(frozen=True)
class GateStats:
    """Everything the gate decided, for the report. ``failed`` is the verdict.

    ``alpha_cases + alpha_suite == alpha``: the union of the two tests has false-alarm probability
    at most ``alpha`` under "nothing changed".
    """

    alpha: float
    alpha_cases: float
    alpha_suite: float
    correction: Correction
    cases: list[CaseTest] = field(default_factory=list)
    suite_p: float = 1.0
    suite_significant: bool = False
    scores: list[CaseTest] = field(default_factory=list)  # the per-case metric tests, adjusted

    @property
    def regressed_cases(self) -> list[CaseTest]:
        return [c for c in self.cases if c.significant]

    @property
    def failed(self) -> bool:
        return (
            self.suite_significant
            or any(c.significant for c in self.cases)
            or any(c.significant for c in self.scores)
        )


def gate(
    cases: Sequence[CaseCounts],
    alpha: float = 0.05,
    correction: Correction = "holm",
    suite_share: float = 0.5,
    scores: Sequence[ScoreTest] = (),
    case_p: Sequence[float] | None = None,
    suite_p: float | None = None,
) -> GateStats:
    """Run both drop tests and combine them into one verdict.

    ``suite_share`` is the part of ``alpha`` given to the whole-suite CMH test; the rest goes to the
    per-case tests. Splitting (rather than testing both at ``alpha``) is what keeps the gate's
    overall false-alarm rate at most ``alpha``: P(A or B) <= P(A) + P(B). With ``suite_share=0``
    only per-case tests run, with ``1`` only the suite test.

    ``scores`` are per-case tests of metric scores (``rank_sum_one_sided``): they join the
    per-case family, adjusted together with the Fisher tests, so the case alpha is spent once
    whatever the number of tests.

    ``case_p``, when given, are the cases' p-values in ``cases`` order (the sequential rule's,
    ``review.sequential``) instead of one Fisher test of their counts; the suite test still reads
    the counts, unless ``suite_p`` gives its p-value (the margin's suite test).
    """
    _check_alpha(alpha)
    if not (0.0 <= suite_share <= 1.0):
        raise ValueError(f"suite_share must be in [0, 1], got {suite_share!r}")
    alpha_suite = alpha * suite_share
    alpha_cases = alpha - alpha_suite
    if case_p is not None and len(case_p) != len(cases):
        raise ValueError(f"case_p has {len(case_p)} p-values for {len(cases)} cases")
    fixed = [fisher_exact_one_sided(*c.stratum) for c in cases] if case_p is None else list(case_p)
    raw = fixed + [t.p for t in scores]
    keys = [c.key for c in cases] + [t.key for t in scores]
    if alpha_cases > 0:
        adj = adjust(raw, correction)
        tests = [CaseTest(k, p, pa, pa < alpha_cases) for k, p, pa in zip(keys, raw, adj, strict=True)]
    else:
        tests = [CaseTest(k, p, 1.0, False) for k, p in zip(keys, raw, strict=True)]
    if suite_p is None:
        suite_p = cmh_one_sided([c.stratum for c in cases])
    return GateStats(
        alpha=alpha,
        alpha_cases=alpha_cases,
        alpha_suite=alpha_suite,
        correction=correction,
        cases=tests[: len(cases)],
        suite_p=suite_p,
        suite_significant=alpha_suite > 0 and suite_p < alpha_suite,
        scores=tests[len(cases) :],
    )
