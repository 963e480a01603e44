"""promptctl.review.stats: exact values, corrections, and the gate's error rates by simulation."""

from __future__ import annotations

import importlib.util
import math
import random
import subprocess
import sys
from fractions import Fraction

import pytest

from promptctl.review import stats
from promptctl.review.stats import (
    CaseCounts,
    benjamini_hochberg,
    case_drop_tests,
    cmh_one_sided,
    fisher_exact_one_sided,
    gate,
    holm,
)


def brute_force_fisher(pass_base: int, n_base: int, pass_head: int, n_head: int) -> Fraction:
    """P(head passes <= observed | margins), by enumerating every labelling of the passes."""
    total, passes = n_base + n_head, pass_base + pass_head
    tables = {x: math.comb(passes, x) * math.comb(total - passes, n_head - x) for x in range(n_head + 1)}
    return Fraction(sum(v for x, v in tables.items() if x <= pass_head), sum(tables.values()))


# ---------------------------------------------------------------------------- Fisher


def test_fisher_known_values() -> None:
    assert fisher_exact_one_sided(0, 10, 10, 10) == 1.0  # head better: no evidence of a drop
    assert fisher_exact_one_sided(10, 10, 0, 10) == pytest.approx(1 / 184756, rel=1e-12)
    # 5/10 vs 5/10: P(X <= 5) = 1/2 + P(X = 5)/2 with P(X = 5) = C(10,5)^2 / C(20,10)
    assert fisher_exact_one_sided(5, 10, 5, 10) == pytest.approx(0.5 + 63504 / 184756 / 2, rel=1e-12)
    assert 0.67 < fisher_exact_one_sided(5, 10, 5, 10) < 0.68
    # Fisher's lady tasting tea: [[3, 1], [1, 3]] one-sided p = 17/70
    assert fisher_exact_one_sided(3, 4, 1, 4) == pytest.approx(17 / 70, rel=1e-12)
    assert fisher_exact_one_sided(9, 10, 7, 10) > 0.05  # a single small drop is not significant
    assert fisher_exact_one_sided(0, 0, 3, 5) == 1.0
    assert fisher_exact_one_sided(3, 5, 0, 0) == 1.0
    assert fisher_exact_one_sided(0, 5, 0, 5) == 1.0
    assert fisher_exact_one_sided(5, 5, 5, 5) == 1.0


@pytest.mark.parametrize("n_base,n_head", [(10, 10), (5, 12), (20, 3), (1, 1)])
def test_fisher_matches_enumeration(n_base: int, n_head: int) -> None:
    for pb in range(n_base + 1):
        for ph in range(n_head + 1):
            assert fisher_exact_one_sided(pb, n_base, ph, n_head) == pytest.approx(
                float(brute_force_fisher(pb, n_base, ph, n_head)), rel=1e-12
            )


def test_fisher_log_space_path_matches_exact() -> None:
    for pb, nb, ph, nh in [(900, 1000, 850, 1000), (50, 100, 40, 100), (3000, 3000, 2990, 3000)]:
        exact = fisher_exact_one_sided(pb, nb, ph, nh)
        lo = max(0, pb + ph - nb)
        logged = stats._fisher_tail_log(pb + ph, nb + nh, nh, lo, ph)
        assert logged == pytest.approx(exact, rel=1e-9)
    # a table beyond the exact limit stays finite and sane
    p = fisher_exact_one_sided(4000, 5000, 3000, 5000)
    assert 0.0 <= p < 1e-100


@pytest.mark.skipif(
    importlib.util.find_spec("scipy") is None, reason="scipy not installed (cross-check only)"
)
def test_fisher_matches_scipy() -> None:
    from scipy.stats import fisher_exact  # type: ignore[import-not-found,import-untyped,unused-ignore]

    rng = random.Random(3)
    for _ in range(200):
        nb, nh = rng.randint(1, 30), rng.randint(1, 30)
        pb, ph = rng.randint(0, nb), rng.randint(0, nh)
        _, expected = fisher_exact([[pb, nb - pb], [ph, nh - ph]], alternative="greater")
        assert fisher_exact_one_sided(pb, nb, ph, nh) == pytest.approx(expected, rel=1e-9)


def test_fisher_rejects_bad_counts() -> None:
    with pytest.raises(ValueError):
        fisher_exact_one_sided(11, 10, 0, 10)
    with pytest.raises(ValueError):
        fisher_exact_one_sided(-1, 10, 0, 10)
    with pytest.raises(TypeError):
        fisher_exact_one_sided(1.5, 10, 0, 10)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- corrections


def test_holm_hand_computed() -> None:
    # sorted: 0.01*4=0.04, 0.02*3=0.06, 0.03*2=0.06 (monotone), 0.04*1=0.04 -> max-ed to 0.06
    assert holm([0.04, 0.01, 0.03, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == []
    assert holm([0.003]) == [0.003]


def test_bh_hand_computed() -> None:
    # sorted p: 0.01, 0.02, 0.03, 0.04 (m=4): raw m/i*p = 0.04, 0.04, 0.04, 0.04
    assert benjamini_hochberg([0.04, 0.01, 0.03, 0.02]) == pytest.approx([0.04, 0.04, 0.04, 0.04])
    # 0.01*3/1=0.03, 0.04*3/2=0.06, 0.05*3/3=0.05 -> step-up min from the top: 0.03, 0.05, 0.05
    assert benjamini_hochberg([0.05, 0.01, 0.04]) == pytest.approx([0.05, 0.03, 0.05])
    assert benjamini_hochberg([0.9, 0.8]) == pytest.approx([0.9, 0.9])
    assert benjamini_hochberg([]) == []


def test_corrections_are_monotone_capped_and_ordered() -> None:
    rng = random.Random(5)
    for _ in range(50):
        ps = [rng.random() ** 3 for _ in range(rng.randint(1, 30))]
        for adj in (holm(ps), benjamini_hochberg(ps)):
            assert all(p <= a <= 1.0 for p, a in zip(ps, adj, strict=True))
            order = sorted(range(len(ps)), key=lambda i: ps[i])
            assert all(adj[order[i]] <= adj[order[i + 1]] for i in range(len(ps) - 1))
        assert all(b <= h for b, h in zip(benjamini_hochberg(ps), holm(ps), strict=True))
    with pytest.raises(ValueError):
        holm([float("nan")])
    with pytest.raises(ValueError):
        benjamini_hochberg([1.5])


# ---------------------------------------------------------------------------- CMH


def test_cmh_equal_quality_gives_large_p() -> None:
    assert cmh_one_sided([(5, 10, 5, 10)] * 20) > 0.5
    assert cmh_one_sided([(9, 10, 9, 10), (3, 10, 3, 10), (10, 10, 10, 10)]) > 0.5
    assert cmh_one_sided([]) == 1.0
    assert cmh_one_sided([(10, 10, 10, 10), (0, 5, 0, 5)]) == 1.0  # nothing informative
    assert cmh_one_sided([(5, 10, 9, 10)] * 5) > 0.99  # improvements never look like drops


def test_cmh_catches_consistent_small_drops_no_single_case_shows() -> None:
    strata = [(9, 10, 7, 10)] * 20
    assert cmh_one_sided(strata) < 0.01
    assert all(fisher_exact_one_sided(*s) > 0.05 for s in strata)
    g = gate([CaseCounts(f"c{i}", *s) for i, s in enumerate(strata)])
    assert g.failed and g.suite_significant and not g.regressed_cases


def test_cmh_single_stratum_is_close_to_fisher() -> None:
    # with one stratum, CMH with continuity correction approximates the one-sided Fisher p
    for s in [(9, 20, 4, 20), (15, 30, 8, 30), (40, 50, 30, 50)]:
        assert cmh_one_sided([s]) == pytest.approx(fisher_exact_one_sided(*s), abs=0.02)


# ---------------------------------------------------------------------------- gate


def test_case_drop_tests_and_gate_report() -> None:
    cases = [CaseCounts("broken", 10, 10, 0, 10)] + [CaseCounts(f"ok{i}", 9, 10, 9, 10) for i in range(9)]
    tests = case_drop_tests(cases, alpha=0.025)
    assert [t.key for t in tests] == [c.key for c in cases]
    assert tests[0].significant and tests[0].p_adj == pytest.approx(tests[0].p * 10)
    assert not any(t.significant for t in tests[1:])
    g = gate(cases)
    assert g.failed and [c.key for c in g.regressed_cases] == ["broken"]
    assert g.alpha_cases + g.alpha_suite == pytest.approx(g.alpha)
    assert not gate([CaseCounts("same", 7, 10, 7, 10)]).failed
    with pytest.raises(ValueError):
        gate(cases, alpha=0)
    with pytest.raises(ValueError):
        gate(cases, suite_share=1.5)
    with pytest.raises(ValueError):
        case_drop_tests(cases, 0.05, "bonferroni")  # type: ignore[arg-type]


def _simulate_suite(rng: random.Random, base: list[float], head: list[float], n: int) -> list[CaseCounts]:
    def passes(q: float) -> int:
        return sum(rng.random() < q for _ in range(n))

    return [
        CaseCounts(f"c{i}", passes(b), n, passes(h), n)
        for i, (b, h) in enumerate(zip(base, head, strict=True))
    ]


def _rates(alpha: float, suite_share: float, n: int, suites: int, seed: int) -> tuple[float, float]:
    """(false-alarm rate at equal quality, detection rate of 0.9 -> 0.5 on 5 of 20 cases)."""
    rng = random.Random(seed)
    false_alarms = 0
    for _ in range(suites):
        quality = [rng.uniform(0.5, 1.0) for _ in range(20)]  # cases differ in difficulty
        false_alarms += gate(_simulate_suite(rng, quality, quality, n), alpha, suite_share=suite_share).failed
    detected = 0
    for _ in range(suites):
        suite = _simulate_suite(rng, [0.9] * 20, [0.5] * 5 + [0.9] * 15, n)
        detected += gate(suite, alpha, suite_share=suite_share).failed
    return false_alarms / suites, detected / suites


def test_gate_error_rates_by_simulation() -> None:
    """The gate's guarantee and its power, measured (seeded, ~1 s).

    Under "nothing changed" the overall false-alarm rate must stay <= alpha (the two tests split
    it). Measured rates (8000 suites) for the 0.9 -> 0.5 drop on 5/20 cases:
    10 samples: alpha 0.05 -> ~0.80 detected; alpha 0.10 split 0.2/0.8 -> ~0.92;
    15 samples: alpha 0.05 -> ~0.95.
    """
    fa, power = _rates(alpha=0.05, suite_share=0.5, n=15, suites=400, seed=1)
    assert fa <= 0.05
    assert power >= 0.9
    fa, power = _rates(alpha=0.1, suite_share=0.8, n=10, suites=600, seed=2)
    assert fa <= 0.1
    assert power >= 0.9
    fa, power = _rates(alpha=0.05, suite_share=0.5, n=10, suites=400, seed=3)
    assert fa <= 0.05
    assert power >= 0.7


def test_stats_imports_no_scipy() -> None:
    code = (
        "import sys, promptctl.review.stats; assert 'scipy' not in sys.modules and 'numpy' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------- rank-sum (metric scores)


def brute_force_rank_sum(base: list[float], head: list[float]) -> Fraction:
    """P(head rank sum <= observed) over every split of the pooled scores, by enumeration."""
    from itertools import combinations

    pooled = sorted(base + head)
    ranks = {v: Fraction(2 * pooled.index(v) + 1 + pooled.count(v), 2) for v in pooled}
    observed = sum(ranks[v] for v in head)
    splits = list(combinations(range(len(pooled)), len(head)))
    low = sum(1 for idx in splits if sum(ranks[pooled[i]] for i in idx) <= observed)
    return Fraction(low, len(splits))


@pytest.mark.parametrize("seed", range(12))
def test_rank_sum_matches_enumeration(seed: int) -> None:
    rng = random.Random(seed)
    levels = [0.0, 0.25, 0.5, 0.75, 1.0] if seed % 2 else [rng.random() for _ in range(30)]
    base = [rng.choice(levels) for _ in range(rng.randint(1, 7))]
    head = [rng.choice(levels) - (0.2 if seed % 3 == 0 else 0.0) for _ in range(rng.randint(1, 7))]
    assert stats.rank_sum_one_sided(base, head) == pytest.approx(
        float(brute_force_rank_sum(base, head)), rel=1e-12
    )


def test_rank_sum_on_pass_fail_scores_is_fisher() -> None:
    for pb, ph in [(8, 3), (6, 7), (10, 0), (0, 0), (5, 5)]:
        base = [1.0] * pb + [0.0] * (10 - pb)
        head = [1.0] * ph + [0.0] * (10 - ph)
        assert stats.rank_sum_one_sided(base, head) == pytest.approx(
            fisher_exact_one_sided(pb, 10, ph, 10), rel=1e-12
        )


def test_rank_sum_direction_and_edges() -> None:
    assert stats.rank_sum_one_sided([0.9] * 10, [0.1] * 10) < 1e-5  # a clear drop
    assert stats.rank_sum_one_sided([0.1] * 10, [0.9] * 10) == 1.0  # an improvement: no evidence
    assert stats.rank_sum_one_sided([0.5] * 10, [0.5] * 10) == 1.0  # all tied: no evidence
    assert stats.rank_sum_one_sided([], [0.1]) == 1.0 and stats.rank_sum_one_sided([0.5], []) == 1.0
    with pytest.raises(ValueError, match="finite"):
        stats.rank_sum_one_sided([float("nan")], [0.5])


@pytest.mark.parametrize("seed", range(4))
def test_rank_sum_normal_path_is_close_to_exact(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    base = [round(rng.random(), 1) for _ in range(25)]
    head = [round(rng.random() * (0.8 + 0.1 * seed), 1) for _ in range(25)]
    approx = stats.rank_sum_one_sided(base, head)  # 50 samples: the normal approximation
    monkeypatch.setattr(stats, "_RANK_EXACT_LIMIT", 50)
    exact = stats.rank_sum_one_sided(base, head)
    assert approx == pytest.approx(exact, abs=0.01)


def test_score_tests_share_the_case_alpha() -> None:
    counts = [CaseCounts("a", 9, 10, 9, 10)]
    res = gate(counts, alpha=0.05, scores=[stats.ScoreTest("a:quality", 0.02)])
    # Holm over two tests at alpha_cases 0.025: 0.02 * 2 = 0.04 > 0.025, not significant
    assert res.scores[0].p_adj == pytest.approx(0.04) and not res.scores[0].significant and not res.failed
    res = gate(counts, alpha=0.05, scores=[stats.ScoreTest("a:quality", 0.001)])
    assert res.scores[0].significant and res.failed and not res.cases[0].significant
