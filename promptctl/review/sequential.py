"""The gate's sequential rule: look at a case's pass counts more than once, draw more samples only
where the answer is still open, and keep the family-wise false-alarm rate at alpha anyway.

A case starts at its ``repeat`` samples a side. Where the first look is ambiguous the gate draws
more samples of that case (both sides), doubling up to ``gate.max_repeat``: the looks are at
``repeat, 2 * repeat, 4 * repeat, ..., max_repeat`` samples a side, fixed before any data is seen.
Looking repeatedly at a growing sample and stopping at the first "significant" look inflates the
false-alarm rate (with five looks at alpha = 0.05 each, to about 0.14 for a normal statistic), so
each look spends only a share of the case's alpha:

* **Alpha spending** (Lan & DeMets 1983) with the **O'Brien-Fleming** shape
  ``alpha(t) = 2 - 2 * Phi(z_{alpha/2} / sqrt(t))``, ``t = n / max_repeat``: almost nothing is spent
  at the early looks, so a case that needs every sample is tested at nearly the full alpha at the
  last look (the power against a moderate drop, 90 % -> 60 %, is decided there), while a collapse
  (5/5 -> 0/5, then 10/10 -> 0/10) is still significant early enough to stop.
* The looks are combined with the **union bound** rather than the joint normal distribution of
  classical group-sequential boundaries: a case's *sequential p-value* is
  ``min_j p_j / w_j`` over the looks taken, ``p_j`` the exact one-sided Fisher p-value of the first
  ``n_j`` samples of both sides and ``w_j`` look ``j``'s share of the spending (``sum w_j = 1``).
  ``P(min_j p_j / w_j <= u) <= sum_j P(p_j <= w_j u) <= u`` under "no change" whatever the
  correlation between looks, for any ``u``: a valid p-value. Exact at 5-40 samples, where the
  normal approximation behind Pocock/O'Brien-Fleming boundaries is poor, and it stays valid under
  any rule for which cases are continued -- stopping early only removes looks, which can only raise
  the minimum. The price is some conservatism (the looks are correlated, the bound ignores it).
* The sequential p-values of the cases on trial form one family, adjusted with Holm (or BH) like
  the fixed-sample gate's: with one look (``max_repeat == repeat``) the rule *is* the fixed gate.
  The suite-wide test reads each case's first look only (the continuation depended on it).

Why not anytime-valid confidence sequences (Howard et al. 2021) or e-values: they allow looking
after every sample, which the gate does not need (it draws in a few rounds through a batch runner),
and pay for it with wider bounds -- at 5-40 samples a side they detect 90 % -> 60 % far less often
than a test that spends its alpha at three or four planned looks.

Which cases are continued is a separate, data-dependent choice (it does not affect validity): the
undecided cases whose head does worse than its base (interim p < 1), most suspicious first, within
a budget of extra samples (``gate.max_extra`` times the fixed design's samples); every round but the
last spends at most half of what is left, so a collapse found late still gets its samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from promptctl.review.stats import fisher_exact_one_sided, normal_sf


def schedule(repeat: int, max_repeat: int) -> list[int]:
    """The looks, in samples a side: ``repeat``, doubling, capped at ``max_repeat`` (its last look).
    ``max_repeat <= repeat``: one look, the fixed-sample design."""
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    looks = [repeat]
    while looks[-1] < max_repeat:
        looks.append(min(max_repeat, 2 * looks[-1]))
    return looks


def _z_upper(a: float) -> float:
    """``z`` with ``P(Z > z) = a`` (bisection on ``normal_sf``: no scipy)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if normal_sf(mid) > a:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def obrien_fleming_spent(t: float, alpha: float) -> float:
    """Lan-DeMets O'Brien-Fleming-type spending: the alpha spent by information fraction ``t``."""
    if t <= 0:
        return 0.0
    if t >= 1:
        return alpha
    return min(alpha, 2.0 * normal_sf(_z_upper(alpha / 2) / math.sqrt(t)))


def look_weights(looks: Sequence[int], alpha: float) -> list[float]:
    """Each look's share of the spending (they sum to 1), from the O'Brien-Fleming shape at
    ``alpha`` (the level a case is tested at: the shape depends on it)."""
    if not (0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    last = looks[-1]
    out, before = [], 0.0
    for n in looks:
        spent = obrien_fleming_spent(n / last, alpha)
        out.append((spent - before) / alpha)
        before = spent
    return out


@dataclass(frozen=True)
class Look:
    """One look at a case: the pass counts of its first ``n`` samples a side and their Fisher p."""

    n: int
    pass_base: int
    n_base: int
    pass_head: int
    n_head: int
    p: float
    weight: float


Outcome = tuple[int, str]  # (sample index, "pass" | "fail" | "error" | ...)


def looks_of(
    base: Sequence[Outcome],
    head: Sequence[Outcome],
    looks: Sequence[int],
    weights: Sequence[float],
    test: Callable[[int, int, int, int], float] = fisher_exact_one_sided,
) -> list[Look]:
    """The looks the samples reach: look ``n`` is reached when samples up to ``n-1`` were drawn
    on both sides, and reads the samples below ``n`` that are there (a sample the gate could not
    evaluate, left out by the caller, is missing data). A base error is missing data (not counted);
    a head row counts whatever its status (an error given here is not passing). ``test`` gives a
    look's p-value from its counts (Fisher's exact test; the margin's test with ``gate.margin``)."""
    bmap, hmap = dict(base), dict(head)
    out = []
    for n, w in zip(looks, weights, strict=True):
        if max(bmap, default=-1) < n - 1 or max(hmap, default=-1) < n - 1:
            break
        bs = [bmap[i] for i in range(n) if i in bmap]
        hs = [hmap[i] for i in range(n) if i in hmap]
        pb = sum(s == "pass" for s in bs)
        nb = sum(s in ("pass", "fail") for s in bs)
        ph = sum(s == "pass" for s in hs)
        out.append(Look(n, pb, nb, ph, len(hs), test(pb, nb, ph, len(hs)), w))
    return out


def sequential_p(looks: Sequence[Look]) -> float:
    """``min_j p_j / w_j`` over the looks taken, capped at 1 (see the module's docstring)."""
    best = 1.0
    for lk in looks:
        if lk.weight > 0:
            best = min(best, lk.p / lk.weight)
    return best


@dataclass(frozen=True)
class Candidate:
    """An undecided case on trial that could be continued: its interim p and next look."""

    key: str
    p: float
    n: int  # samples a side now
    next_n: int  # samples a side at its next look


def choose_draws(candidates: Sequence[Candidate], budget: int, *, last_round: bool) -> dict[str, int]:
    """Which cases to continue this round, to which look (key -> samples a side): the most
    suspicious first (smallest interim p, ties by key), each costing ``2 * (next_n - n)`` samples,
    within ``budget`` -- or half of it when later rounds may still need samples."""
    limit = budget if last_round else budget // 2
    out: dict[str, int] = {}
    spent = 0
    for c in sorted(candidates, key=lambda c: (c.p, c.key)):
        if c.p >= 1.0 or c.next_n <= c.n:
            continue
        cost = 2 * (c.next_n - c.n)
        if spent + cost > limit:
            continue
        out[c.key] = c.next_n
        spent += cost
    return out
