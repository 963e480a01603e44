"""A margin for the gate (``gate.margin``) and pass^k (``gate.pass_k``, ``gate.min_pass_k``).

**Margin.** Without one, the gate asks "did the pass probability drop at all?". With a margin
``delta`` it asks "did it drop by more than ``delta``?" -- H0: ``p_base - p_head <= delta``, a
drop within the margin is acceptable (the non-inferiority framing of clinical trials, turned
into a gate: the change must be shown *worse by more than the margin* to fail). Fisher's exact
test conditions on the total passes, which only works for H0 "no difference", so a case is
tested with the exact *unconditional* test: the statistic is the observed drop
``D = x_b / n_b - x_h / n_h`` and the p-value is the largest ``P(D >= d_obs)`` over the nuisance
(the head's pass probability) on the boundary ``p_base = p_head + delta`` -- where the tail of a
monotone statistic is largest under H0 (Chan 1998; Röhmel & Mansmann 1999). The supremum is taken
over a fine grid (``_GRID`` points) plus the two ends.

The whole-suite test with a margin is the mean per-case drop minus ``delta`` against its
standard error (Agresti-Caffo adjusted proportions: one pass and one fail added per side), a
normal approximation -- CMH, like Fisher, only tests "no difference".

**pass^k** is the probability that ``k`` samples in a row pass, ``p^k`` -- the reliability a user
sees when a prompt runs k times (tau-bench's metric). From ``c`` passes in ``n`` samples, the
unbiased estimate is ``C(c, k) / C(n, k)`` (sampling k of the n without replacement).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from promptctl.review.stats import Stratum, normal_sf

_GRID = 200


def _pmf(n: int, p: float) -> list[float]:
    if p <= 0.0:
        return [1.0] + [0.0] * n
    if p >= 1.0:
        return [0.0] * n + [1.0]
    lp, lq = math.log(p), math.log1p(-p)
    return [
        math.exp(math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lp + (n - k) * lq)
        for k in range(n + 1)
    ]


def _tail(nb: int, nh: int, pb: float, ph: float, d_obs: float) -> float:
    """``P(x_b / nb - x_h / nh >= d_obs)`` for independent binomials."""
    fb, fh = _pmf(nb, pb), _pmf(nh, ph)
    cdf_h = [0.0] * (nh + 1)
    run = 0.0
    for i, v in enumerate(fh):
        run += v
        cdf_h[i] = run
    total = 0.0
    eps = 1e-12
    for xb, w in enumerate(fb):
        if w == 0.0:
            continue
        # x_h / nh <= xb / nb - d_obs
        limit = math.floor(nh * (xb / nb - d_obs) + eps)
        if limit >= 0:
            total += w * cdf_h[min(limit, nh)]
    return min(1.0, total)


def margin_drop_p(pass_base: int, n_base: int, pass_head: int, n_head: int, margin: float) -> float:
    """One-sided exact unconditional p-value for H1 "the head's pass probability is more than
    ``margin`` below the base's". An empty side carries no evidence: p = 1."""
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"margin must be in [0, 1), got {margin!r}")
    if n_base == 0 or n_head == 0:
        return 1.0
    d_obs = pass_base / n_base - pass_head / n_head
    if d_obs <= margin:
        return 1.0  # the observed drop is within the margin: no evidence against H0
    top = 1.0 - margin
    grid = [top * i / _GRID for i in range(_GRID + 1)]
    return max(_tail(n_base, n_head, ph + margin, ph, d_obs - 1e-12) for ph in grid)


def margin_suite_p(strata: Sequence[Stratum], margin: float) -> float:
    """One-sided p-value for H1 "across the cases, the head drops by more than ``margin`` on
    average": ``z = (mean drop - margin) / se`` with Agresti-Caffo adjusted proportions."""
    drops, var = [], 0.0
    for pb, nb, ph, nh in strata:
        if nb == 0 or nh == 0:
            continue
        drops.append(pb / nb - ph / nh)
        qb, qh = (pb + 1) / (nb + 2), (ph + 1) / (nh + 2)
        var += qb * (1 - qb) / (nb + 2) + qh * (1 - qh) / (nh + 2)
    if not drops or var <= 0:
        return 1.0
    m = len(drops)
    z = (sum(drops) / m - margin) / (math.sqrt(var) / m)
    return normal_sf(z)


def pass_hat_k(passes: int, n: int, k: int) -> float | None:
    """Unbiased estimate of pass^k from ``passes`` of ``n`` samples; None when ``n < k``."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if n < k:
        return None
    return math.comb(passes, k) / math.comb(n, k)
