"""The sequential rule (review.sequential): its looks, its spending, and its error rate under
"nothing changed" when cases are continued adaptively -- measured by simulation with fixed seeds."""

from __future__ import annotations

import random

import pytest

from promptctl.review.sequential import (
    Candidate,
    Look,
    choose_draws,
    look_weights,
    looks_of,
    obrien_fleming_spent,
    schedule,
    sequential_p,
)
from promptctl.review.stats import cmh_one_sided, fisher_exact_one_sided, holm


def test_schedule_doubles_up_to_the_cap() -> None:
    assert schedule(5, 40) == [5, 10, 20, 40]
    assert schedule(5, 30) == [5, 10, 20, 30]
    assert schedule(10, 10) == [10]
    assert schedule(10, 5) == [10]  # a cap below repeat: the fixed design
    with pytest.raises(ValueError):
        schedule(0, 10)


def test_spending_is_obrien_fleming_shaped_and_sums_to_one() -> None:
    w = look_weights([5, 10, 20, 40], 0.05)
    assert sum(w) == pytest.approx(1.0)
    assert w == sorted(w)  # almost nothing early, most at the last look
    assert w[-1] > 0.8 and w[0] < 1e-3
    assert look_weights([5], 0.05) == [1.0]
    assert obrien_fleming_spent(1.0, 0.05) == 0.05
    assert obrien_fleming_spent(0.0, 0.05) == 0.0
    # the classical value: O'Brien-Fleming spends about 0.0056 of 0.05 by half the information
    assert obrien_fleming_spent(0.5, 0.05) == pytest.approx(0.0056, abs=2e-4)


def _outcomes(statuses: list[str]) -> list[tuple[int, str]]:
    return list(enumerate(statuses))


def test_looks_need_every_sample_on_both_sides() -> None:
    base = _outcomes(["pass"] * 10)
    head = _outcomes(["fail"] * 7)  # samples 0..6 only: look 10 not reached
    looks = looks_of(base, head, [5, 10], look_weights([5, 10], 0.05))
    assert [lk.n for lk in looks] == [5]
    assert (looks[0].pass_base, looks[0].n_base, looks[0].pass_head, looks[0].n_head) == (5, 5, 0, 5)
    assert looks[0].p == fisher_exact_one_sided(5, 5, 0, 5)
    # a base error is missing data; a head error is not passing
    looks = looks_of(_outcomes(["pass", "error", "pass"]), _outcomes(["pass", "error", "fail"]), [3], [1.0])
    assert (looks[0].pass_base, looks[0].n_base, looks[0].pass_head, looks[0].n_head) == (2, 2, 1, 3)
    # a sample the gate left out (could not be evaluated) is missing data, not a look not reached
    looks = looks_of(_outcomes(["pass"] * 5), [(0, "pass"), (1, "fail"), (4, "fail")], [5], [1.0])
    assert (looks[0].pass_base, looks[0].n_base, looks[0].pass_head, looks[0].n_head) == (5, 5, 1, 3)


def test_sequential_p_is_the_weighted_minimum() -> None:
    looks = [Look(5, 5, 5, 0, 5, 0.004, 0.01), Look(10, 10, 10, 0, 10, 1e-5, 0.99)]
    assert sequential_p(looks) == pytest.approx(1e-5 / 0.99)
    assert sequential_p([Look(5, 5, 5, 5, 5, 1.0, 1.0)]) == 1.0
    assert sequential_p([]) == 1.0
    # one look with the whole weight: the fixed-sample Fisher p-value
    assert sequential_p([Look(5, 4, 5, 0, 5, 0.0238, 1.0)]) == pytest.approx(0.0238)


def test_choose_draws_most_suspicious_first_within_half_the_budget() -> None:
    cands = [
        Candidate("a", 0.30, 5, 10),
        Candidate("b", 0.001, 5, 10),
        Candidate("c", 1.0, 5, 10),  # head no worse: never continued
        Candidate("d", 0.20, 5, 10),
    ]
    assert choose_draws(cands, 40, last_round=False) == {"b": 10, "d": 10}  # 20 of 40
    assert choose_draws(cands, 40, last_round=True) == {"b": 10, "d": 10, "a": 10}
    assert choose_draws(cands, 9, last_round=True) == {}


def _draw(rng: random.Random, p: float, n: int) -> list[str]:
    return ["pass" if rng.random() < p else "fail" for _ in range(n)]


def _adaptive_trial(
    rng: random.Random,
    pb: list[float],
    ph: list[float],
    *,
    alpha: float,
    repeat: int,
    max_repeat: int,
    suite_cases: int = 20,
) -> tuple[bool, int]:
    """One gate decision with the rule as compare --gate applies it: Holm over sequential
    p-values at half alpha (all of it for one case on trial), CMH on the first look at the other
    half, continuation by ``choose_draws`` within 50 % extra samples of a suite of
    ``suite_cases`` cases, stopping once the gate fails."""
    m = len(pb)
    looks = schedule(repeat, max_repeat)
    alpha_cases = alpha if m == 1 else alpha / 2
    weights = look_weights(looks, alpha_cases / m)
    samples = [(_draw(rng, pb[i], max_repeat), _draw(rng, ph[i], max_repeat)) for i in range(m)]
    n = [repeat] * m
    budget = suite_cases * repeat  # half of the fixed design's 2 * suite_cases * repeat samples
    used = 2 * suite_cases * repeat
    suite = m > 1 and cmh_one_sided([_counts(samples[i], repeat) for i in range(m)]) < alpha / 2
    while True:
        seq = []
        cands = []
        for i in range(m):
            taken = looks_of(
                _outcomes(samples[i][0][: n[i]]), _outcomes(samples[i][1][: n[i]]), looks, weights
            )
            seq.append(sequential_p(taken))
            nxt = [x for x in looks if x > n[i]]
            if nxt:
                cands.append(Candidate(str(i), taken[-1].p, n[i], nxt[0]))
        failed = suite or any(p < alpha_cases for p in holm(seq))
        last = all(c.next_n == max_repeat for c in cands)
        draws = {} if failed else choose_draws(cands, budget, last_round=last)
        if not draws:
            return failed, used
        for key, to in draws.items():
            i = int(key)
            cost = 2 * (to - n[i])
            budget -= cost
            used += cost
            n[i] = to


def _counts(sample: tuple[list[str], list[str]], n: int) -> tuple[int, int, int, int]:
    b, h = sample[0][:n], sample[1][:n]
    return (b.count("pass"), n, h.count("pass"), n)


@pytest.mark.parametrize("p", [0.9, 0.5])
def test_one_case_looked_at_four_times_keeps_its_alpha(p: float) -> None:
    """Always continuing to every look (the worst case for the false-alarm rate): the sequential
    p-value is below alpha no more often than alpha; rejecting at any look at the plain alpha
    (what a naive gate would do) is not."""
    rng = random.Random(17)
    looks = schedule(5, 40)
    alpha = 0.05
    weights = look_weights(looks, alpha)
    trials, seq_hits, naive_hits = 4000, 0, 0
    for _ in range(trials):
        b, h = _draw(rng, p, 40), _draw(rng, p, 40)
        taken = looks_of(_outcomes(b), _outcomes(h), looks, weights)
        seq_hits += sequential_p(taken) < alpha
        naive_hits += any(lk.p < alpha for lk in taken)
    assert seq_hits / trials <= alpha
    if p == 0.5:
        assert naive_hits > seq_hits  # the inflation the spending prevents
        assert naive_hits / trials > alpha


def test_family_of_twenty_adaptive_cases_keeps_the_gate_at_alpha() -> None:
    """20 cases at 90 % on both sides, continued adaptively: false alarms <= alpha."""
    rng = random.Random(5)
    trials = 150
    alarms = sum(
        _adaptive_trial(rng, [0.9] * 20, [0.9] * 20, alpha=0.05, repeat=5, max_repeat=40)[0]
        for _ in range(trials)
    )
    assert alarms / trials <= 0.05


def test_a_collapsed_case_is_found_by_resampling() -> None:
    """One case on trial falling 90 % -> 0 %: caught every time, at a few extra samples."""
    rng = random.Random(9)
    runs = [_adaptive_trial(rng, [0.9], [0.0], alpha=0.05, repeat=5, max_repeat=40) for _ in range(40)]
    assert all(failed for failed, _used in runs)
    assert max(used for _failed, used in runs) <= 200 + 2 * 15  # at most to 20 a side


def test_one_case_on_trial_alone_keeps_alpha() -> None:
    rng = random.Random(23)
    trials = 1500
    alarms = sum(
        _adaptive_trial(rng, [0.9], [0.9], alpha=0.05, repeat=5, max_repeat=40)[0] for _ in range(trials)
    )
    assert alarms / trials <= 0.05


def test_gate_takes_the_sequential_p_values_for_the_cases() -> None:
    from promptctl.review.stats import CaseCounts, gate

    cases = [CaseCounts("a", 5, 5, 0, 5), CaseCounts("b", 5, 5, 5, 5)]
    fixed = gate(cases, alpha=0.05)
    assert [c.p for c in fixed.cases] == [fisher_exact_one_sided(5, 5, 0, 5), 1.0]
    seq = gate(cases, alpha=0.05, case_p=[1e-6, 1.0])
    assert [c.p for c in seq.cases] == [1e-6, 1.0] and seq.cases[0].significant
    assert seq.suite_p == fixed.suite_p  # the suite test still reads the counts
    with pytest.raises(ValueError):
        gate(cases, case_p=[0.5])
