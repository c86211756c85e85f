"""Capability calibration (seed 003): group/instance ECE on hand-computed cases, pass@k against simulation and the
unbiased estimator, and the greedy sample allocation against brute force."""

from __future__ import annotations

import itertools
from math import comb

import numpy as np
import pytest
from scipy import stats

from probcascade.calibration.capability import (
    allocate_samples,
    capability_calibration,
    pass_at_k,
    pass_at_k_unbiased,
)
from probcascade.calibration.metrics import ece
from probcascade.exceptions import DataValidationError
from probcascade.summary import Summary

# Two groups of two queries, both under-confident as tasks: A (conf 0.8, acc 1) and B (conf 0.4, acc 0.5).
P = np.array([0.9, 0.7, 0.6, 0.2])
Y = np.array([1, 1, 0, 1])
G = np.array(["A", "A", "B", "B"])


# ------------------------------------------------------------------------------------------------ capability ECE
def test_group_table_by_hand():
    res = capability_calibration(P, Y, G, n_bins=4)
    t = res.groups
    assert list(t.index) == ["A", "B"] and list(t["n"]) == [2, 2]
    np.testing.assert_allclose(t["accuracy"], [1.0, 0.5])
    np.testing.assert_allclose(t["mean_confidence"], [0.8, 0.4])
    np.testing.assert_allclose(t["gap"], [-0.2, -0.1])
    np.testing.assert_allclose(t["accuracy_se"], [0.0, 0.5 / np.sqrt(2)])
    np.testing.assert_allclose(t["instance_mae"], [(0.1 + 0.3) / 2, (0.1 + 0.3) / 2])


def test_group_and_instance_ece_by_hand():
    # group ECE: (2/4)|0.8 - 1| + (2/4)|0.4 - 0.5| = 0.15
    # instance MAE vs group accuracy: (|0.9-1| + |0.7-1| + |0.6-0.5| + |0.2-0.5|) / 4 = 0.2
    # 4 quantile bins of 4 distinct scores: one query per bin, so the instance ECE equals the MAE (0.2) and the
    # response ECE is mean |p - y| = (0.1 + 0.3 + 0.6 + 0.8) / 4 = 0.45
    res = capability_calibration(P, Y, G, n_bins=4)
    assert res.ece_group == pytest.approx(0.15)
    assert res.mae_instance == pytest.approx(0.2)
    assert res.ece_instance == pytest.approx(0.2)
    assert res.ece_response == pytest.approx(0.45)
    # one bin: |mean p - mean target| = |0.6 - 0.75| for both targets (mean a_g(i) = mean y)
    one = capability_calibration(P, Y, G, n_bins=1)
    assert one.ece_instance == pytest.approx(0.15) and one.ece_response == pytest.approx(0.15)
    assert one.accuracy == pytest.approx(0.75) and one.mean_confidence == pytest.approx(0.6)


def test_perfect_capability_calibration_has_zero_group_ece():
    # confidence equal to the group's accuracy on every query: capability-calibrated, though not response-calibrated
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    g = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.25] * 4 + [0.75] * 4)
    res = capability_calibration(p, y, g, n_bins=2)
    assert res.ece_group == pytest.approx(0.0) and res.mae_instance == pytest.approx(0.0)
    assert res.ece_instance == pytest.approx(0.0) and res.ece_response == pytest.approx(0.0)   # bins = groups here
    # the confidences reversed across the groups: every query is 0.5 off its group's accuracy
    res = capability_calibration(p[::-1], y, g, n_bins=2)
    assert res.ece_group == pytest.approx(0.5) and res.mae_instance == pytest.approx(0.5)


def test_matches_metrics_ece_and_bounds_on_random_data():
    rng = np.random.default_rng(0)
    n = 500
    g = rng.integers(0, 12, size=n)
    p = rng.uniform(size=n)
    y = (rng.uniform(size=n) < p).astype(int)
    for strategy in ("quantile", "uniform"):
        res = capability_calibration(p, y, g, n_bins=10, strategy=strategy)
        assert res.ece_response == pytest.approx(ece(p, y, 10, strategy))
        # triangle inequality: both the binned instance ECE and the group ECE are at most the unbinned MAE
        assert res.ece_instance <= res.mae_instance + 1e-12 and res.ece_group <= res.mae_instance + 1e-12
    assert res.n_groups == 12 and res.groups["n"].sum() == n


def test_summary_and_dict():
    res = capability_calibration(P, Y, G, n_bins=4)
    s = res.summary()
    assert isinstance(s, Summary) and "group ECE" in s.as_text() and "| A |" in s.as_markdown().replace("  ", " ")
    d = res.to_dict()
    assert d["n_groups"] == 2 and d["ece_group"] == pytest.approx(0.15)


@pytest.mark.parametrize("kwargs, match", [
    ({"confidence": [0.5, 1.2], "correct": [1, 0], "groups": ["a", "b"]}, "'confidence'"),
    ({"confidence": [0.5, 0.2], "correct": [1, 2], "groups": ["a", "b"]}, "'correct'"),
    ({"confidence": [0.5, 0.2], "correct": [1, 0], "groups": ["a"]}, "'groups'"),
    ({"confidence": [0.5, 0.2], "correct": [1, 0], "groups": ["a", None]}, "'groups' has 1 missing"),
    ({"confidence": [0.5, 0.2], "correct": [1, 0], "groups": ["a", "b"], "n_bins": 0}, "'n_bins'"),
    ({"confidence": [0.5, 0.2], "correct": [1, 0], "groups": ["a", "b"], "strategy": "x"}, "'strategy'"),
])
def test_capability_validation(kwargs, match):
    with pytest.raises(DataValidationError, match=match):
        capability_calibration(**kwargs)


# ------------------------------------------------------------------------------------------------ pass@k
def test_pass_at_k_values_and_broadcasting():
    assert pass_at_k(0.5, 1) == pytest.approx(0.5)
    assert pass_at_k(0.5, 3) == pytest.approx(1 - 0.125)
    assert pass_at_k(0.0, 5) == 0.0 and pass_at_k(1.0, 5) == 1.0
    out = pass_at_k(np.array([[0.1], [0.9]]), np.array([1, 2, 10]))
    np.testing.assert_allclose(out, 1 - (1 - np.array([[0.1], [0.9]])) ** np.array([1, 2, 10]))
    assert pass_at_k(1e-12, 1000) == pytest.approx(1e-9, rel=1e-6)   # no cancellation for small p


def test_pass_at_k_matches_simulated_repeated_sampling():
    """R independent rounds of k Bernoulli(p) samples per query; the share of rounds with a correct sample is a
    binomial proportion with SE sqrt(pi (1 - pi) / R), so 4 SE bounds a false alarm by ~6e-5 per comparison (and the
    seed is fixed, so the test is deterministic)."""
    rng = np.random.default_rng(20240603)
    p = np.array([0.02, 0.15, 0.4, 0.7, 0.95])
    reps = 20_000
    for k in (1, 3, 8):
        hits = (rng.uniform(size=(reps, p.size, k)) < p[None, :, None]).any(axis=2).mean(axis=0)
        pi = pass_at_k(p, k)
        se = np.sqrt(pi * (1 - pi) / reps)
        assert np.all(np.abs(hits - pi) <= 4 * se + 1e-12), (k, hits, pi)


def test_unbiased_estimator_exact_small_cases():
    assert pass_at_k_unbiased(5, 2, 2) == pytest.approx(1 - comb(3, 2) / comb(5, 2))   # 0.7
    assert pass_at_k_unbiased(10, 0, 3) == 0.0
    assert pass_at_k_unbiased(10, 10, 3) == 1.0
    assert pass_at_k_unbiased(5, 4, 2) == 1.0                                          # n - c < k
    assert pass_at_k_unbiased(4, 1, 1) == pytest.approx(0.25)                          # k = 1: c / n
    # against enumeration: the share of k-subsets of the n samples that hold a correct one
    for n in range(1, 7):
        for c in range(n + 1):
            samples = [1] * c + [0] * (n - c)
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(samples, k))
                assert pass_at_k_unbiased(n, c, k) == pytest.approx(sum(map(any, subsets)) / len(subsets))
    # vectorised, and stable for large n (binomial coefficients far beyond float range)
    np.testing.assert_allclose(pass_at_k_unbiased(np.array([5, 6]), np.array([2, 0]), 2), [0.7, 0.0])
    assert pass_at_k_unbiased(5000, 1, 10) == pytest.approx(10 / 5000)


def test_unbiased_estimator_expectation_is_the_formula():
    """E[estimate] over c ~ Binomial(n, p) equals 1 - (1 - p)^k exactly: the link between the two."""
    n = 12
    c = np.arange(n + 1)
    for p in (0.05, 0.3, 0.8):
        for k in (1, 4, 12):
            expected = np.sum(stats.binom.pmf(c, n, p) * pass_at_k_unbiased(np.full(n + 1, n), c, k))
            assert expected == pytest.approx(pass_at_k(p, k), abs=1e-12)


@pytest.mark.parametrize("call, match", [
    (lambda: pass_at_k(1.5, 2), "'p'"),
    (lambda: pass_at_k(0.5, 0), "'k'"),
    (lambda: pass_at_k(0.5, 2.0), "'k'"),
    (lambda: pass_at_k([0.5, 0.2], [1, 2, 3]), "'p' and 'k' do not broadcast"),
    (lambda: pass_at_k_unbiased(5, 6, 2), "'c' must be at most 'n'"),
    (lambda: pass_at_k_unbiased(5, 2, 6), "'k' must be at most 'n'"),
    (lambda: pass_at_k_unbiased(5, -1, 2), "'c'"),
])
def test_pass_at_k_validation(call, match):
    with pytest.raises(DataValidationError, match=match):
        call()


# ------------------------------------------------------------------------------------------------ allocation
def _brute_force(p: np.ndarray, budget: int, base: int) -> float:
    """Best expected solved count over every way of giving ``budget`` extra samples to the queries."""
    best = -1.0
    for extra in itertools.product(range(budget + 1), repeat=p.size):
        if sum(extra) == budget:
            m = base + np.array(extra)
            best = max(best, float(np.sum(np.where(m == 0, 0.0, 1 - (1 - p) ** m))))
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("base", [0, 1, 2])
def test_greedy_allocation_is_optimal(seed, base):
    rng = np.random.default_rng(seed)
    n = 3 + seed % 2                                       # 3 or 4 queries
    p = rng.uniform(0.02, 0.98, size=n)
    if seed == 5:
        p[0], p[1] = 0.0, 1.0                               # never / always solved: gain 0 (or 1 for a first sample)
    for budget in range(7):
        alloc = allocate_samples(p, budget, base=base)
        assert alloc.extra.sum() == budget and np.all(alloc.samples == base + alloc.extra)
        assert alloc.expected_solved == pytest.approx(_brute_force(p, budget, base), abs=1e-12)
        assert alloc.gain >= -1e-12


def test_allocation_by_hand():
    # base 1, p = (0.5, 0.9): gains 0.5*0.5^j = 0.25, 0.125, ...; 0.9*0.1^j = 0.09, 0.009, ...
    alloc = allocate_samples([0.5, 0.9], 3)
    np.testing.assert_array_equal(alloc.extra, [2, 1])                 # 0.25, 0.125, then 0.09 beats 0.0625
    alloc = allocate_samples([0.5, 0.9], 4)
    np.testing.assert_array_equal(alloc.extra, [3, 1])                 # then 0.0625 beats 0.009
    assert alloc.expected_solved == pytest.approx((1 - 0.5**4) + (1 - 0.1**2))
    assert alloc.baseline_solved == pytest.approx(1.4)


@pytest.mark.parametrize("call, match", [
    (lambda: allocate_samples([0.5, 1.1], 2), "'p'"),
    (lambda: allocate_samples([0.5], -1), "'budget'"),
    (lambda: allocate_samples([0.5], 2, base=-1), "'base'"),
    (lambda: allocate_samples([], 2), "'p'"),
])
def test_allocation_validation(call, match):
    with pytest.raises(DataValidationError, match=match):
        call()
