"""Guaranteed operating points: p-values, fixed-sequence testing, Learn-then-Test and Frontier.certify."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from probcascade.exceptions import DataValidationError
from probcascade.guarantees import (Certification, binomial_pvalues, calibration_scores, candidate_order,
                                    clopper_pearson_lower, cross_fit, fixed_sequence, hoeffding_bentkus_pvalues,
                                    learn_then_test, pvalues, select_cheapest)
from probcascade.tuning.frontier import Frontier


# -------------------------------------------------------------------------------------------- p-values
@pytest.mark.parametrize("n", [50, 300, 1000])
@pytest.mark.parametrize("pvalue", ["binomial", "hb"])
def test_pvalues_are_valid_exactly(n, pvalue):
    """P(p <= delta) <= delta when the accuracy equals the target (the boundary of the null), computed exactly by
    summing the binomial pmf over the outcomes that reject: no simulation noise."""
    s = np.arange(n + 1)
    for target in (0.3, 0.7, 0.9):
        p = pvalues(s, n, target, pvalue)
        for delta in (0.05, 0.1, 0.2):
            size = stats.binom.pmf(s, n, target)[p <= delta].sum()
            assert size <= delta + 1e-12


def test_binomial_pvalue_matches_clopper_pearson_and_hb_is_more_conservative():
    n, target, delta = 300, 0.7, 0.1
    s = np.arange(n + 1)
    p = binomial_pvalues(s, n, target)
    lo = clopper_pearson_lower(s, n, delta)
    # p <= delta exactly when the (1 - delta) lower Clopper-Pearson bound reaches the target (away from the tie
    # p == delta, which an integer count cannot hit here)
    np.testing.assert_array_equal(p <= delta, lo >= target)
    assert np.all(hoeffding_bentkus_pvalues(s, n, target) >= p - 1e-15)
    assert np.all(np.diff(p) <= 0)                   # more correct answers, smaller p-value


def test_fixed_sequence_and_cheapest():
    p = np.array([[0.01, 0.05, 0.2, 0.01], [0.5, 0.01, 0.01, 0.01], [0.0, 0.0, 0.0, 0.0]])
    cert = fixed_sequence(p, 0.1)
    np.testing.assert_array_equal(cert, [[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]])
    pos, ok = select_cheapest(cert, np.array([[3.0, 2.0, 1.0, 0.5]] * 3))
    np.testing.assert_array_equal(ok, [True, False, True])
    np.testing.assert_array_equal(pos[ok], [1, 3])


def test_candidate_order():
    acc = np.array([0.6, 0.8, 0.7, 0.8])
    cost = np.array([1.0, 3.0, 2.0, 4.0])
    np.testing.assert_array_equal(candidate_order(acc, cost, "accuracy"), [3, 1, 2, 0])
    np.testing.assert_array_equal(candidate_order(acc, cost, "cost"), [3, 1, 2, 0])
    with pytest.raises(DataValidationError, match="order"):
        candidate_order(acc, cost, "cheap")


# -------------------------------------------------------------------------------- a cascade with known truth
# Two models with independent uniform confidences, each correct with probability its confidence: a threshold t on
# model 1 has accuracy (1 - t^2)/2 + t/2 and cost c1 + t c2, so "accuracy >= 0.6" holds for t in [0.2764, 0.7236].
COSTS = np.array([1.0, 10.0])
GRID = np.linspace(0.0, 1.0, 41)[:, None]


def true_accuracy(t):
    return (1.0 - t**2) / 2 + t / 2


def draw(rng, shape):
    conf = rng.random(shape + (2,))
    return conf, (rng.random(conf.shape) < conf).astype(float)


def test_learn_then_test_certifies_and_reports(tmp_path):
    conf, correct = draw(np.random.default_rng(0), (2000,))
    acc, cost = true_accuracy(GRID[:, 0]), COSTS[0] + GRID[:, 0] * COSTS[1]
    res = learn_then_test(GRID, acc, cost, conf, correct, COSTS, target=0.6, delta=0.1, models=("a", "b"))
    assert isinstance(res, Certification) and res.certified and res.bound == 0.6
    assert res.cp_lower >= 0.6 and res.calibration_accuracy >= 0.6
    # the certified point is the cheapest of the leading run of p <= delta, and it is truly valid here
    frame = res.to_frame()
    run = frame[frame["certified"]]
    assert np.all(run["rank"].to_numpy() == np.arange(1, len(run) + 1))
    assert res.calibration_cost == pytest.approx(run["cal_cost"].min())
    assert true_accuracy(res.thresholds[0]) >= 0.6
    assert res.n_tested == res.n_certified + 1 and frame["chosen"].sum() == 1
    # the scores agree with the routing convention (stop at model 1 when conf > t)
    t = res.thresholds[0]
    stop = conf[:, 0] > t
    assert res.calibration_accuracy == pytest.approx(np.mean(np.where(stop, correct[:, 0], correct[:, 1])))
    d = res.to_dict()
    assert d["certified"] and set(d["thresholds"]) == {"a"} and "certified" in d["message"]
    text = str(res.summary())
    assert "Learn-then-Test" in text and "Certified bound" in text


def test_nothing_certified_is_said_plainly():
    conf, correct = draw(np.random.default_rng(1), (300,))
    acc, cost = true_accuracy(GRID[:, 0]), COSTS[0] + GRID[:, 0] * COSTS[1]
    res = learn_then_test(GRID, acc, cost, conf, correct, COSTS, target=0.7, delta=0.1)
    assert not res.certified and res.thresholds is None and res.bound is None and res.n_tested == 1
    assert res.message().startswith("nothing certified") and res.to_dict()["thresholds"] is None
    assert "nothing certified" in str(res.summary())


def test_validity_and_power_over_replicates():
    """Violation rate over 1000 calibration samples (n = 300) <= delta within sampling error, and the power-giving
    order (decreasing accuracy) certifies far more often than cheapest-first among the predicted-valid points."""
    rng = np.random.default_rng(2)
    reps, n, delta, target = 1000, 300, 0.1, 0.57
    conf, correct = draw(rng, (reps, n))
    acc, cost = true_accuracy(GRID[:, 0]), COSTS[0] + GRID[:, 0] * COSTS[1]
    succ, cal_cost = calibration_scores(conf, correct, COSTS, GRID, batch_size=16)
    assert succ.shape == (reps, len(GRID))
    # exact agreement with a direct count for one replicate
    stop = conf[5, :, 0][:, None] > GRID[:, 0][None]
    direct = np.where(stop, correct[5, :, 0][:, None], correct[5, :, 1][:, None]).sum(axis=0)
    np.testing.assert_array_equal(succ[5], direct)

    def run(order):
        p = pvalues(succ[:, order], n, target)
        pos, ok = select_cheapest(fixed_sequence(p, delta), cal_cost[:, order])
        return order[pos], ok

    idx, ok = run(candidate_order(acc, cost))
    violation = ok & (acc[idx] < target)
    # 3 binomial standard errors above delta: a valid procedure exceeds it with probability ~0.1 %
    assert violation.mean() <= delta + 3 * np.sqrt(delta * (1 - delta) / reps)
    valid = np.flatnonzero(acc >= target)
    _, ok_cheap = run(valid[np.argsort(cost[valid])])
    assert ok.mean() > 0.5 and ok.mean() > ok_cheap.mean() + 0.3


# ------------------------------------------------------------------------------------------ Frontier.certify
def test_frontier_certify_delegates_and_checks():
    conf, correct = draw(np.random.default_rng(3), (1500,))
    acc, cost = true_accuracy(GRID[:, 0]), COSTS[0] + GRID[:, 0] * COSTS[1]
    fr = Frontier.from_arrays(GRID, acc, cost, models=("a", "b"), method="test")
    res = fr.certify(conf, correct, COSTS, target=0.58, delta=0.05)
    direct = learn_then_test(GRID, acc, cost, conf, correct, COSTS, target=0.58, delta=0.05)
    assert res.certified and res.index == direct.index and res.models == ("a", "b") and res.method == "test"
    with pytest.raises(DataValidationError, match="correct"):
        fr.certify(conf, target=0.6)
    with pytest.raises(DataValidationError, match="0/1"):
        fr.certify(conf, conf, COSTS, target=0.6)
    with pytest.raises(DataValidationError, match="target"):
        fr.certify(conf, correct, COSTS, target=1.2)
    with pytest.raises(DataValidationError, match="pvalue"):
        fr.certify(conf, correct, COSTS, target=0.6, pvalue="exact")


def test_cross_fit_needs_split_delta_and_picks_cheapest():
    rng = np.random.default_rng(4)
    acc, cost = true_accuracy(GRID[:, 0]), COSTS[0] + GRID[:, 0] * COSTS[1]
    folds = [learn_then_test(GRID, acc, cost, *draw(rng, (1500,)), COSTS, target=0.58, delta=0.05) for _ in range(2)]
    best = cross_fit(folds, delta=0.1)
    assert best.calibration_cost == min(f.calibration_cost for f in folds if f.certified)
    with pytest.raises(DataValidationError, match="delta / 2"):
        cross_fit(folds, delta=0.05)
