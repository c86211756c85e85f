"""Metrics against hand computations and scikit-style references."""

import numpy as np
import pytest
from scipy import stats

from probcascade.exceptions import DataValidationError
from probcascade.calibration.metrics import ace, auroc, bin_indices, brier_score, ece, nll, reliability_table


def test_ece_by_hand():
    s = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    y = np.array([0, 0, 1, 0, 1, 1, 1, 1])
    # two quantile bins: {0.1..0.4} mean 0.25 acc 0.25 ; {0.6..0.9} mean 0.75 acc 1.0
    assert ece(s, y, n_bins=2) == pytest.approx(0.5 * 0 + 0.5 * 0.25)
    assert ace(s, y, n_bins=2) == pytest.approx(0.125)
    assert brier_score(s, y) == pytest.approx(np.mean((s - y) ** 2))
    assert nll(s, y) == pytest.approx(-np.mean(y * np.log(s) + (1 - y) * np.log(1 - s)))


def test_any_number_of_bins_and_uniform():
    rng = np.random.default_rng(0)
    s = rng.random(1000)
    y = (rng.random(1000) < s).astype(int)
    for b in (1, 3, 10, 17, 50):
        idx = bin_indices(s, b)
        assert idx.min() == 0 and idx.max() == b - 1
        assert np.bincount(idx).max() - np.bincount(idx).min() <= 1   # equal mass
    assert ece(s, y, 10) < 0.06                                        # calibrated by construction
    assert ece(s, y, 10, strategy="uniform") < 0.06
    tab = reliability_table(s, y, 10)
    assert (tab.acc_ci_low <= tab.accuracy).all() and (tab.accuracy <= tab.acc_ci_high).all()


def test_auroc_matches_mann_whitney():
    rng = np.random.default_rng(1)
    s = rng.random(300).round(2)  # ties
    y = (rng.random(300) < s).astype(int)
    u = stats.mannwhitneyu(s[y == 1], s[y == 0]).statistic
    assert auroc(s, y) == pytest.approx(u / (y.sum() * (1 - y).sum()))
    assert np.isnan(auroc(s, np.ones(300, int)))


def test_metric_errors():
    with pytest.raises(DataValidationError, match="n_bins"):
        bin_indices(np.array([0.5]), 0)
    with pytest.raises(DataValidationError, match="\\[0, 1\\]"):
        ece(np.array([1.5, 0.2]), np.array([1, 0]))
    with pytest.raises(DataValidationError, match="'correct'"):
        ece(np.array([0.5, 0.2]), np.array([2, 0]))
