"""Rejection, routing and signal-comparison metrics on hand-computed cases (issue 16, items 1-3)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from probcascade.evaluation import (
    accuracy_at_coverage,
    aiq,
    aurc,
    auroc_delong,
    compare_signals,
    coverage_at_accuracy,
    delong_test,
    parity_routing_rate,
    prediction_rejection_ratio,
    prediction_rejection_ratio_replicates,
    risk_coverage,
    routing_curve,
    threshold_check,
)
from probcascade.evaluation.routing_analysis import bootstrap_parity, cost_quality_hull
from probcascade.exceptions import DataValidationError

CONF = [0.9, 0.8, 0.7, 0.6]
CORRECT = [1, 1, 0, 1]


# ------------------------------------------------------------------------------------------------ rejection
def test_aurc_hand_computed():
    # errors by decreasing confidence 0,0,1,0 -> risks 0, 0, 1/3, 1/4
    rc = risk_coverage(CONF, CORRECT)
    assert rc.aurc == pytest.approx((0 + 0 + 1 / 3 + 1 / 4) / 4)
    assert aurc(CONF, CORRECT) == pytest.approx(7 / 48)
    # oracle order 0,0,0,1 -> risks 0,0,0,1/4
    assert rc.aurc_oracle == pytest.approx(1 / 16)
    assert rc.eaurc == pytest.approx(7 / 48 - 3 / 48)
    np.testing.assert_allclose(rc.coverage, [0.25, 0.5, 0.75, 1.0])
    assert list(rc.to_frame().columns) == ["coverage", "risk", "accuracy", "threshold"]


def test_aurc_ties_are_blocks():
    # all tied: every prefix has the expected accuracy 3/4
    assert aurc([0.5] * 4, CORRECT) == pytest.approx(1 / 4)
    # the tie result is the mean over all orders of the tied block
    conf, y = [0.9, 0.5, 0.5], [1, 0, 1]
    orders = [aurc([0.9, 0.6, 0.5], [1, 0, 1]), aurc([0.9, 0.6, 0.5], [1, 1, 0])]
    assert aurc(conf, y) == pytest.approx(np.mean(orders))


def test_prr_hand_computed():
    # kept accuracies by rejected share: 3/4, 2/3, 1, 1 -> A_unc = 41/48; oracle 45/48; random 3/4
    assert prediction_rejection_ratio(CONF, CORRECT) == pytest.approx(5 / 9)
    assert prediction_rejection_ratio(CONF, CORRECT) == pytest.approx(
        (1 - aurc(CONF, CORRECT) - 0.75) / (1 - 1 / 16 - 0.75))
    assert prediction_rejection_ratio([0.9, 0.8, 0.6, 0.7], CORRECT) == pytest.approx(1.0)  # oracle order
    # max_rejection = 0.5 (lm-polygraph's prr_0.5): j = 0, 1 -> accuracies 3/4, 2/3; oracle 3/4, 1
    assert prediction_rejection_ratio(CONF, CORRECT, max_rejection=0.5) == pytest.approx(
        ((3 / 4 + 2 / 3) / 2 - 3 / 4) / ((3 / 4 + 1) / 2 - 3 / 4))
    assert np.isnan(prediction_rejection_ratio(CONF, [1, 1, 1, 1]))


def test_prr_matches_lm_polygraph_without_ties():
    rng = np.random.default_rng(3)
    conf, y = rng.random(200), (rng.random(200) < 0.6).astype(float)

    def area(ue, target):  # lm-polygraph's PredictionRejectionArea (max_rejection = 1), ue: higher = less certain
        s = np.asarray(target)[np.argsort(ue)]
        return np.sum((np.cumsum(s) / np.arange(1, s.size + 1))[::-1]) / s.size

    a_unc, a_orc = area(-conf, y), area(-y, y)
    rand = np.mean([area(rng.permutation(y.size), y) for _ in range(300)])
    assert prediction_rejection_ratio(conf, y) == pytest.approx((a_unc - y.mean()) / (a_orc - y.mean()))
    assert prediction_rejection_ratio(conf, y) == pytest.approx((a_unc - rand) / (a_orc - rand), abs=0.03)


def test_accuracy_at_coverage_and_coverage_at_accuracy():
    assert accuracy_at_coverage(CONF, CORRECT, 0.5) == pytest.approx(1.0)
    assert accuracy_at_coverage(CONF, CORRECT, 0.75) == pytest.approx(2 / 3)
    assert accuracy_at_coverage(CONF, CORRECT, 0.6) == pytest.approx(2 / 3)  # ceil(0.6 * 4) = 3
    assert accuracy_at_coverage(CONF, CORRECT, 0.0) == pytest.approx(1.0)   # at least one answer
    assert accuracy_at_coverage([0.5, 0.5, 0.5, 0.9], [0, 1, 1, 1], 0.5) == pytest.approx((1 + 2 / 3) / 2)
    assert coverage_at_accuracy(CONF, CORRECT, 0.75) == pytest.approx(1.0)
    assert coverage_at_accuracy(CONF, CORRECT, 0.9) == pytest.approx(0.5)
    assert coverage_at_accuracy([0.9, 0.8], [0, 0], 0.5) == 0.0
    with pytest.raises(DataValidationError, match="'coverage'"):
        accuracy_at_coverage(CONF, CORRECT, 1.5)


def test_threshold_check_clopper_pearson():
    chk = threshold_check(CONF, CORRECT, [0.5, 0.65, 0.85, 0.95], level=0.9)
    np.testing.assert_array_equal(chk.n, [4, 3, 1, 0])
    np.testing.assert_array_equal(chk.n_correct, [3, 2, 1, 0])
    ci = stats.binomtest(2, 3).proportion_ci(confidence_level=0.9, method="exact")
    assert (chk.ci_low[1], chk.ci_high[1]) == pytest.approx((ci.low, ci.high))
    assert chk.ci_high[2] == 1.0 and np.isnan(chk.ci_low[3])
    np.testing.assert_array_equal(chk.holds, [True, True, True, False])
    frame = chk.to_frame()
    assert {"holds", "consistent", "ci_low"} <= set(frame.columns)
    assert "accuracy >= q" in chk.summary().as_text()
    with pytest.raises(DataValidationError, match="'correct'"):
        threshold_check(CONF, [1, 0.5, 0, 1])


# ------------------------------------------------------------------------------------------------- routing
SMALL_CONF = [0.1, 0.2, 0.3, 0.4, 0.5]
SMALL = [0, 0, 1, 1, 1]
LARGE = [1, 1, 0, 1, 1]


def test_routing_curve_hand_computed():
    rc = routing_curve(SMALL_CONF, SMALL, LARGE, cost=(1.0, 10.0))
    np.testing.assert_allclose(rc.accuracy, [0.6, 0.8, 1.0, 0.8, 0.8, 0.8])
    np.testing.assert_allclose(rc.rate, np.arange(6) / 5)
    np.testing.assert_allclose(rc.cost, 1 + 10 * rc.rate)
    assert rc.accuracy_small == 0.6 and rc.accuracy_large == 0.8


def test_parity_rate_hand_computed():
    res = parity_routing_rate(SMALL_CONF, SMALL, LARGE, n_boot=0, cost=(1.0, 10.0), latency=(0.1, 0.3))
    assert res.rate == pytest.approx(0.2)  # routing the least confident query already reaches 0.8
    assert res.accuracy == pytest.approx(0.8)
    assert res.cost_at_parity == pytest.approx(3.0) and res.cost_saved == pytest.approx(7.0)
    assert res.latency_speedup == pytest.approx(0.3 / (0.1 + 0.2 * 0.3))
    d = res.to_dict()["parity_routing_rate"]
    assert set(d) == {"rate", "ci_low", "ci_high"}
    # a tied block is valued at its expectation: gain 1/5 per routed query, parity needs all five
    assert parity_routing_rate([0.5] * 5, SMALL, LARGE, n_boot=0).rate == pytest.approx(1.0)
    # tolerance: the small model alone (0.6) is within 0.2 of the large one
    assert parity_routing_rate(SMALL_CONF, SMALL, LARGE, n_boot=0, tolerance=0.2).rate == 0.0
    # parity only at the end: the gain comes from the most confident query
    assert parity_routing_rate([0.1, 0.2, 0.3], [1, 1, 0], [1, 1, 1], n_boot=0).rate == pytest.approx(1.0)


def test_parity_rate_bootstrap_interval_and_seed():
    rng = np.random.default_rng(0)
    n = 400
    conf = rng.random(n)
    small = (rng.random(n) < conf).astype(float)
    large = (rng.random(n) < 0.8).astype(float)
    a = parity_routing_rate(conf, small, large, n_boot=200, seed=7)
    b = parity_routing_rate(conf, small, large, n_boot=200, seed=7)
    c = parity_routing_rate(conf, small, large, n_boot=200, seed=8)
    assert a.ci_low <= a.rate <= a.ci_high
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert (a.ci_low, a.ci_high) != (c.ci_low, c.ci_high)
    # the point estimate is the parity of the curve
    rc = routing_curve(conf, small, large)
    first = np.flatnonzero(rc.accuracy >= rc.accuracy_large - 1e-12)[0]
    assert a.rate == pytest.approx(rc.rate[first])


def test_bootstrap_is_vmapped_for_many_replicates():
    rng = np.random.default_rng(1)
    n = 300
    conf = np.round(rng.random(n), 2)  # many ties
    small = (rng.random(n) < conf).astype(float)
    large = (rng.random(n) < 0.75).astype(float)
    reps = bootstrap_parity(conf, small, large, n_boot=1000, seed=0, batch_size=1000)
    assert reps.shape == (1000,)
    assert np.all((reps >= 0) & (reps <= 1))
    assert np.unique(reps).size > 5  # replicates differ


def test_bootstrap_replicate_matches_resampled_point_estimate():
    import jax

    rng = np.random.default_rng(2)
    n = 50
    conf = np.round(rng.random(n), 1)
    small = (rng.random(n) < 0.5).astype(float)
    large = (rng.random(n) < 0.8).astype(float)
    reps = bootstrap_parity(conf, small, large, n_boot=3, seed=11, batch_size=2)
    # rebuild the first replicate's resample: the same keys and draws as the implementation
    from probcascade.precision import float64
    from probcascade.validation import padded_size
    with float64():
        key = jax.random.split(jax.random.key(11), 3)[0]
        idx = np.asarray(jax.random.randint(key, (padded_size(n),), 0, n))[:n]
    order = np.argsort(conf, kind="stable")
    sample = order[idx]
    res = parity_routing_rate(conf[sample], small[sample], large[sample], n_boot=0)
    assert reps[0] == pytest.approx(res.rate)


# ----------------------------------------------------------------------------------------------------- AIQ
def test_aiq_hand_computed():
    # (1, 0.6) lies below the chord from (0, 0.5) to (2, 0.9): hull is that chord, mean 0.7
    assert aiq([0, 1, 2], [0.5, 0.6, 0.9]) == pytest.approx(0.7)
    # above the chord: areas 0.65 + 0.85 over a range of 2
    assert aiq([0, 1, 2], [0.5, 0.8, 0.9]) == pytest.approx(0.75)
    # non-decreasing: quality falls after cost 1, the hull stays flat at 0.8
    assert aiq([0, 1, 2], [0.4, 0.8, 0.6]) == pytest.approx((0.6 + 0.8) / 2)
    hx, hy = cost_quality_hull([0, 1, 2], [0.4, 0.8, 0.6])
    np.testing.assert_allclose(hx, [0, 1]) and np.testing.assert_allclose(hy, [0.4, 0.8])
    # RouterBench's convention: integrate from the cheapest point, divide by the largest cost
    assert aiq([1, 2], [0.5, 0.7], lo=0.0) == pytest.approx(0.6 / 2)
    # the routing curve: (1, .6), (3, .8), (5, 1.0) then flat to 11
    assert routing_curve(SMALL_CONF, SMALL, LARGE, cost=(1.0, 10.0)).aiq() == pytest.approx(9.2 / 10)


# ------------------------------------------------------------------------------------------------- signals
def _delong_slow(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong (1988) by O(n^2) placement values: psi(x, y) = 1 if x > y, 1/2 if equal."""
    x, z = scores[:, y == 1], scores[:, y == 0]
    m, n = x.shape[1], z.shape[1]
    psi = (x[:, :, None] > z[:, None, :]) + 0.5 * (x[:, :, None] == z[:, None, :])
    v10, v01 = psi.mean(axis=2), psi.mean(axis=1)
    auc = v10.mean(axis=1)
    return auc, np.cov(v10) / m + np.cov(v01) / n


def test_delong_against_slow_reference_and_mannwhitney():
    rng = np.random.default_rng(5)
    n = 120
    y = (rng.random(n) < 0.55).astype(int)
    a = np.round(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.25, n), 1)  # rounded: ties
    b = np.round(rng.random(n), 1)
    auc_ref, cov_ref = _delong_slow(np.stack([a, b]), y)
    ra = auroc_delong(a, y)
    assert ra.auroc == pytest.approx(auc_ref[0])
    assert ra.se == pytest.approx(np.sqrt(cov_ref[0, 0]))
    u = stats.mannwhitneyu(a[y == 1], a[y == 0]).statistic
    assert ra.auroc == pytest.approx(u / (y.sum() * (n - y.sum())))
    t = delong_test(a, b, y)
    se = np.sqrt(cov_ref[0, 0] + cov_ref[1, 1] - 2 * cov_ref[0, 1])
    assert t.se == pytest.approx(se)
    assert t.z == pytest.approx((auc_ref[0] - auc_ref[1]) / se)
    assert t.pvalue == pytest.approx(2 * stats.norm.sf(abs(t.z)))
    assert ra.ci_low < ra.auroc < ra.ci_high


def test_delong_tiny_hand_case():
    # positives 0.8, 0.6; negatives 0.7, 0.2: pairs won 1, 1, 0, 1 -> AUROC 3/4
    r = auroc_delong([0.8, 0.6, 0.7, 0.2], [1, 1, 0, 0])
    assert r.auroc == pytest.approx(0.75)
    # V10 = (1, 1/2), V01 = (1/2, 1): var = 1/8 / 2 + 1/8 / 2
    assert r.se == pytest.approx(np.sqrt(0.125))
    with pytest.raises(DataValidationError, match="'correct'"):
        auroc_delong([0.1, 0.2], [1, 1])


def test_compare_signals_table():
    rng = np.random.default_rng(6)
    n = 200
    y = (rng.random(n) < 0.6).astype(int)
    good = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, n), 0, 1)
    noise = rng.random(n)
    table = compare_signals({"good": good, "noise": noise, "logit": np.log(good + 0.01)}, y)
    assert list(table["signal"]) == ["good", "noise", "logit"]
    assert {"auroc", "auroc_ci_low", "ece", "brier", "prr", "pvalue"} <= set(table.columns)
    assert (table["reference"] == "good").all()
    row = table.set_index("signal")
    assert np.isnan(row.loc["logit", "ece"]) and not np.isnan(row.loc["good", "ece"])
    assert row.loc["logit", "auroc"] == pytest.approx(row.loc["good", "auroc"])  # monotone transform
    assert row.loc["noise", "pvalue"] < 0.01
    assert row.loc["good", "prr"] == pytest.approx(prediction_rejection_ratio(good, y))
    with pytest.raises(DataValidationError, match="'reference'"):
        compare_signals({"good": good}, y, reference="missing")


@pytest.mark.parametrize("max_rejection", [1.0, 0.5])
def test_prr_replicates_match_the_direct_value_on_each_resample(max_rejection):
    # ties (confidences rounded to 0.1) exercise the block handling; the resample's duplicates are ties too
    rng = np.random.default_rng(11)
    n = 120
    conf = np.round(rng.random(n), 1)
    y = (rng.random(n) < conf).astype(float)
    idx = rng.integers(0, n, size=(25, n))
    reps = prediction_rejection_ratio_replicates(conf, y, idx, max_rejection=max_rejection)
    direct = [prediction_rejection_ratio(conf[i], y[i], max_rejection=max_rejection) for i in idx]
    np.testing.assert_allclose(reps, direct, rtol=0, atol=1e-12)
    with pytest.raises(DataValidationError, match="'index'"):
        prediction_rejection_ratio_replicates(conf, y, idx + n)


def test_ece_replicates_match_ece_on_each_resample():
    from probcascade.calibration import ece, ece_replicates

    rng = np.random.default_rng(12)
    x = rng.random(150)
    y = (rng.random(150) < x).astype(float)
    idx = rng.integers(0, 150, size=(10, 150))
    np.testing.assert_allclose(ece_replicates(x, y, idx), [ece(x[i], y[i]) for i in idx], atol=1e-12)
    np.testing.assert_allclose(ece_replicates(x, y, idx, estimator="equal_width"),
                               [ece(x[i], y[i], strategy="uniform") for i in idx], atol=1e-12)


def test_compare_signals_bootstrap_intervals():
    rng = np.random.default_rng(6)
    n = 300
    y = (rng.random(n) < 0.6).astype(int)
    good = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, n), 0, 1)
    table = compare_signals({"good": good, "logit": np.log(good + 0.01)}, y, n_boot=300, seed=1).set_index("signal")
    for m in ("ece", "brier", "prr"):
        # a percentile interval of a smooth statistic brackets the point estimate at n = 300 (the plug-in ECE is
        # biased upwards, so only its lower end is checked against the point)
        assert table.loc["good", f"{m}_ci_low"] <= table.loc["good", m]
        if m != "ece":
            assert table.loc["good", m] <= table.loc["good", f"{m}_ci_high"]
    assert np.isnan(table.loc["logit", "ece_ci_low"])           # not a probability: no ECE, no interval
    assert table.loc["logit", "prr_ci_low"] == pytest.approx(table.loc["good", "prr_ci_low"])  # same order, same rows
    # the 95% Brier interval is about 2 * 1.96 * sd((s - y)^2) / sqrt(n) wide (CLT); a factor of 1.5 either way
    # leaves room for the bootstrap's own noise at 300 replicates
    sd = np.std((good - y) ** 2) / np.sqrt(n)
    width = table.loc["good", "brier_ci_high"] - table.loc["good", "brier_ci_low"]
    assert 2 * 1.96 * sd / 1.5 < width < 2 * 1.96 * sd * 1.5
    off = compare_signals({"good": good}, y, n_boot=0)
    assert np.isnan(off.loc[0, "prr_ci_low"])
