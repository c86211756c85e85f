"""Calibration-data selection (seed 000 §2.2.2) and the low-sample balanced-pairs protocol (seed 002 §4.4.1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probcascade.exceptions import DataValidationError, FitError
from probcascade.data.selection import balanced_pairs_subset, select_calibration_data, surrogate_error

METHODS = ("uniform", "stratified", "importance")


def _skewed_scores(size: int = 1000, seed: int = 0) -> np.ndarray:
    """A skewed surrogate error, as the seed observed for logit distributions."""
    return np.random.default_rng(seed).beta(0.5, 4.0, size=size)


# ---------------------------------------------------------------------------------------------------------- selection
@pytest.mark.parametrize("method", METHODS)
def test_reproducible_and_seed_dependent(method):
    s = _skewed_scores()
    a = select_calibration_data(s, 50, method, seed=11)
    b = select_calibration_data(s, 50, method, seed=11)
    c = select_calibration_data(s, 50, method, seed=12)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.array_equal(a.indices, c.indices)
    assert a.n == 50 and np.unique(a.indices).size == 50 and np.all(np.diff(a.indices) > 0)


def test_stratified_hits_every_stratum_proportionally():
    s = _skewed_scores(size=1003)
    sample = select_calibration_data(s, 60, "stratified", seed=1, n_strata=6)
    counts = np.bincount(sample.stratum, minlength=6)
    assert np.all(counts == 10)  # 6 strata of 167-168 queries: proportional allocation 60 * 167.2 / 1003 ~ 10
    # strata are score quantiles: every selected query lies in its stratum's score range
    order = np.argsort(s, kind="stable")
    edges = s[order][-(-np.arange(1, 6) * 1003 // 6)]  # first rank of stratum h is ceil(h N / n_strata)
    np.testing.assert_array_equal(np.searchsorted(edges, s[sample.indices], side="right"), sample.stratum)
    # proportional allocation is (near) self-weighting
    np.testing.assert_allclose(sample.weights, 1.0, atol=0.02)


def test_stratified_uneven_strata_allocation():
    # 10 queries, 3 strata (sizes 4, 3, 3), n = 5: quotas 2, 1.5, 1.5 -> largest remainder gives 2 + 2 + 1 or 2 + 1 + 2
    sample = select_calibration_data(np.arange(10.0), 5, "stratified", seed=0, n_strata=3)
    counts = np.bincount(sample.stratum, minlength=3)
    assert counts.sum() == 5 and counts[0] == 2 and sorted(counts[1:]) == [1, 2]
    # design weights n N_h / (N n_h)
    sizes = np.array([4, 3, 3])
    np.testing.assert_allclose(sample.weights, (5 * sizes / (10 * counts))[sample.stratum])


def test_importance_oversamples_high_error():
    s = _skewed_scores()
    top = s > np.quantile(s, 0.8)
    shares = [top[select_calibration_data(s, 50, m, seed=r).indices].mean() for m in ("uniform", "importance") for r in range(20)]
    uniform, importance = np.mean(shares[:20]), np.mean(shares[20:])
    assert uniform == pytest.approx(0.2, abs=0.03) and importance > 0.45


def test_importance_inclusion_probabilities_and_caps():
    s = np.array([100.0] + [1.0] * 99)  # the first query's raw share n * 100 / 199 exceeds 1: taken with certainty
    sample = select_calibration_data(s, 10, "importance", seed=0)
    assert 0 in sample.indices and sample.inclusion[sample.indices == 0][0] == 1.0
    np.testing.assert_allclose(sample.inclusion[sample.indices != 0], 9 / 99)
    # empirical inclusion frequencies match pi over many draws (binomial SE, 4 SE tolerance)
    s = _skewed_scores(size=200, seed=3)
    hits = np.zeros(200)
    reps = 2000
    for r in range(reps):
        hits[select_calibration_data(s, 20, "importance", seed=r).indices] += 1
    pi = np.minimum(1.0, 20 * s / s.sum())  # no capping at this skew (checked below)
    assert pi.max() < 1
    assert np.all(np.abs(hits / reps - pi) < 4 * np.sqrt(pi * (1 - pi) / reps) + 1e-3)


def test_importance_weights_make_weighted_mean_unbiased():
    # Monte Carlo over 4000 seeds: mean of the Horvitz-Thompson estimates mean(w * f[idx]) equals mean(f)
    rng = np.random.default_rng(5)
    s = _skewed_scores(size=400, seed=4) + 0.01  # strictly positive surrogate errors
    f = (rng.uniform(size=400) < 0.5 + s).astype(float)  # e.g. an error indicator correlated with the score
    reps = 4000
    est = np.empty(reps)
    naive = np.empty(reps)
    for r in range(reps):
        sample = select_calibration_data(s, 30, "importance", seed=r)
        est[r] = np.mean(sample.weights * f[sample.indices])
        naive[r] = f[sample.indices].mean()
    mc_se = est.std() / np.sqrt(reps)
    assert abs(est.mean() - f.mean()) < 4 * mc_se  # unbiased (4 Monte Carlo SE)
    assert naive.mean() - f.mean() > 10 * mc_se  # the unweighted mean is biased towards high-error queries


def test_defensive_mixture_covers_zero_scores():
    s = np.r_[np.zeros(50), np.ones(50)]
    with pytest.raises(DataValidationError, match="defensive"):
        select_calibration_data(s, 60, "importance")
    sample = select_calibration_data(s, 60, "importance", seed=0, defensive=0.2)
    assert np.any(sample.indices < 50) and np.all(np.isfinite(sample.weights))
    # without mixing, zero-score queries are never drawn
    assert np.all(select_calibration_data(s, 20, "importance", seed=0).indices >= 50)


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, 200),
    frac=st.floats(0.01, 1.0),
    n_strata=st.integers(1, 12),
    method=st.sampled_from(METHODS),
    seed=st.integers(0, 2**31),
)
def test_selection_properties(size, frac, n_strata, method, seed):
    n = max(1, int(frac * size))
    s = np.random.default_rng(seed).exponential(size=size)
    sample = select_calibration_data(s, n, method, seed=seed, n_strata=min(n_strata, n))
    assert sample.n == n and np.unique(sample.indices).size == n
    assert sample.indices.min() >= 0 and sample.indices.max() < size
    assert np.all((sample.inclusion > 0) & (sample.inclusion <= 1)) and np.all(np.isfinite(sample.weights))
    frame = sample.to_frame()
    assert list(frame.columns) == ["index", "stratum", "inclusion", "weight"] and len(frame) == n


def test_surrogate_error_and_summary():
    np.testing.assert_allclose(surrogate_error([0.9, 0.5, 0.7], [0.8, 0.6, 0.7]), [0.1, 0.1, 0.0])
    text = select_calibration_data(_skewed_scores(), 20, "stratified", n_strata=4).summary()
    assert "stratified" in text and "n_selected" in text


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"scores": np.array([[0.1, 0.2]]), "n": 1}, "scores"),
        ({"scores": np.array([0.1, np.nan]), "n": 1}, "scores"),
        ({"scores": np.array([0.1, 0.2]), "n": 3}, "n"),
        ({"scores": np.array([0.1, 0.2]), "n": 0}, "n"),
        ({"scores": np.array([0.1, 0.2]), "n": 1.5}, "n"),
        ({"scores": np.array([0.1, 0.2]), "n": 1, "method": "cluster"}, "method"),
        ({"scores": np.array([0.1, 0.2]), "n": 2, "method": "stratified", "n_strata": 3}, "n_strata"),
        ({"scores": np.array([0.1, -0.2]), "n": 1, "method": "importance"}, "scores"),
        ({"scores": np.array([0.0, 0.0]), "n": 1, "method": "importance"}, "scores"),
        ({"scores": np.array([0.1, 0.2]), "n": 1, "method": "importance", "defensive": 1.0}, "defensive"),
    ],
)
def test_selection_bad_input_names_argument(kwargs, argument):
    with pytest.raises(DataValidationError, match=argument):
        select_calibration_data(**kwargs)


def test_surrogate_error_shape_mismatch():
    with pytest.raises(DataValidationError, match="reference"):
        surrogate_error([0.1, 0.2], [0.1])


# ---------------------------------------------------------------------------------------------------------- balanced pairs
def _wide(path) -> pd.DataFrame:
    """Query x model 0/1 correctness in cascade order."""
    d = pd.read_csv(path)
    order = d.drop_duplicates("model").sort_values("model_rank")["model"]
    return d.pivot(index="query", columns="model", values="correct")[order]


@pytest.mark.shared_data
def test_balanced_pairs_on_benchmarks(shared_dir):
    sizes = []
    for path in sorted(shared_dir.glob("*_train.csv")):
        wide = _wide(path)
        for seed in range(25):
            idx = balanced_pairs_subset(wide, target=30, seed=seed)
            sub = wide.to_numpy()[idx]
            assert np.all(sub.max(axis=0) == 1) and np.all(sub.min(axis=0) == 0), (path.name, seed)
            assert np.all(np.diff(idx) > 0)
            sizes.append(idx.size)
    # the study: "the final number of sampled training examples lies between 20 and 30"
    assert 20 <= min(sizes) and max(sizes) <= 30


def test_balanced_pairs_reproducible_and_fill_up():
    rng = np.random.default_rng(0)
    correct = (rng.uniform(size=(300, 5)) < np.linspace(0.4, 0.9, 5)).astype(int)
    a = balanced_pairs_subset(correct, seed=3)
    np.testing.assert_array_equal(a, balanced_pairs_subset(correct, seed=3))
    assert not np.array_equal(a, balanced_pairs_subset(correct, seed=4))
    # more iterations fill the subset up to the target without exceeding it
    full = balanced_pairs_subset(correct, target=30, seed=3, n_iter=200)
    assert full.size in (29, 30)  # a pair (2 queries) that would overshoot 30 ends the sampling


def test_balanced_pairs_rare_outcome_is_always_included():
    correct = np.ones((100, 3), dtype=int)
    correct[17, 1] = 0  # model 1 is wrong exactly once
    correct[::2, 2] = 0
    correct[5, 0] = 0
    for seed in range(5):
        idx = balanced_pairs_subset(correct, target=20, seed=seed)
        assert 17 in idx and 5 in idx and idx.size <= 20


def test_balanced_pairs_errors():
    correct = np.ones((50, 3), dtype=int)
    correct[::2, 0] = 0
    correct[::3, 2] = 0
    with pytest.raises(FitError, match="model 1: answered every query correctly"):
        balanced_pairs_subset(correct)
    frame = pd.DataFrame(correct, columns=["small", "mid", "large"])
    frame["mid"] = 0
    with pytest.raises(FitError, match="mid: answered every query incorrectly"):
        balanced_pairs_subset(frame)
    correct[0, 1] = 0
    with pytest.raises(DataValidationError, match="target"):
        balanced_pairs_subset(correct, target=5)
    with pytest.raises(DataValidationError, match="n_iter"):
        balanced_pairs_subset(correct, n_iter=2)
    with pytest.raises(DataValidationError, match="correct"):
        balanced_pairs_subset(np.full((5, 2), 0.5))
    with pytest.raises(DataValidationError, match="models"):
        balanced_pairs_subset(correct, models=["a", "b"])
