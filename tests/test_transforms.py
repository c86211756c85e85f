"""Transforms of eq. 16-18: stability near p = 1 and p = 0, monotonicity, the infinity reassignment."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from probcascade.exceptions import DataValidationError
from probcascade.special import log1mexp
from probcascade.calibration.transforms import ConfidenceTransform, one_sided, two_sided


def test_one_sided_no_cancellation():
    # log p = -1e-12: 1 - p = 1e-12 (1 - 5e-13), xi = -log(1e-12) to 12 digits
    assert one_sided(np.array([-1e-12]))[0] == pytest.approx(-np.log(1e-12), rel=1e-12)
    # log p = -50: 1 - p = 1 - e^-50, xi = e^-50 (1 + O(e^-50)); naive -log(1 - exp(lp)) gives exactly 0
    assert one_sided(np.array([-50.0]))[0] == pytest.approx(np.exp(-50.0), rel=1e-12)
    assert one_sided(np.array([0.0]))[0] == np.inf
    assert one_sided(np.array([-np.inf]))[0] == 0.0


def test_two_sided_branches_and_continuity():
    lp = np.array([-1e-12, -50.0, np.log(0.5), np.log(0.5) - 1e-12, -np.inf, 0.0])
    xi = two_sided(lp)
    assert xi[0] == pytest.approx(-np.log(1e-12), rel=1e-12)
    assert xi[1] == pytest.approx(-50.0 + 2 * np.log(2.0), rel=1e-14)
    assert xi[2] == pytest.approx(np.log(2.0), rel=1e-14)
    assert xi[3] == pytest.approx(np.log(2.0), abs=1e-11)  # continuous at p = 1/2
    assert np.isneginf(xi[4]) and np.isposinf(xi[5])


@given(st.lists(st.floats(min_value=-700, max_value=0.0), min_size=2, max_size=30))
def test_transforms_monotone(lps):
    lp = np.sort(np.asarray(lps))
    for f in (one_sided, two_sided):
        xi = f(lp)
        assert np.all(xi[1:] >= xi[:-1])


@given(st.floats(min_value=-700, max_value=-1e-300))
def test_log1mexp_matches_mpmath_free_identity(x):
    # exp(log1mexp(x)) + exp(x) == 1 to within rounding of the larger term
    assert np.exp(log1mexp(np.array([x]))[0]) + np.exp(x) == pytest.approx(1.0, abs=4e-16)


def test_reassignment_learned_on_train():
    t = ConfidenceTransform("two-sided", model="m").fit(np.array([0.0, -0.1, -2.0, -np.inf, -1.0]))
    xi_train = two_sided(np.array([-0.1, -2.0, -1.0]))
    assert t.xi_max == xi_train.max() and t.xi_min == xi_train.min()
    out = t.transform(np.array([0.0, -np.inf, -0.5]))
    assert out[0] == t.xi_max and out[1] == t.xi_min and out[2] == two_sided(np.array([-0.5]))[0]


def test_transform_errors_name_model():
    with pytest.raises(DataValidationError, match="model 'gpt'.*certainty"):
        ConfidenceTransform("one-sided", model="gpt").fit(np.array([0.0, 0.0]))
    with pytest.raises(DataValidationError, match="model 'gpt'.*<= 0"):
        ConfidenceTransform("one-sided", model="gpt").fit(np.array([0.1]))
    with pytest.raises(DataValidationError, match="model 'gpt'.*not fitted"):
        ConfidenceTransform("one-sided", model="gpt").transform(np.array([-0.1]))
    with pytest.raises(DataValidationError, match="'kind' must be one of"):
        ConfidenceTransform("sideways")
