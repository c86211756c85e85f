"""Calibrators: agreement with statsmodels, Table 1 reproduction, separation, error messages."""


import numpy as np
import pandas as pd
import pytest

from probcascade.calibration.calibrators import LogisticCalibrator, PlattCalibrator, TemperatureCalibrator, calibrate, make_calibrator
from probcascade.estimation.logistic import fit_logistic
from probcascade.data.cascade import load_benchmark
from probcascade.exceptions import DataValidationError, FitError, SeparationWarning
from probcascade.data.synthetic import synthetic_train_test

sm = pytest.importorskip("statsmodels.api")

STUDY = [("mmlu_llama", "one-sided"), ("mmlu_qwen_oai", "one-sided"), ("medmcqa_llama", "one-sided"),
         ("medmcqa_qwen_oai", "one-sided"), ("truthfulqa_llama", "two-sided")]


def test_fit_logistic_matches_statsmodels_on_simulated_data():
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(500), rng.normal(size=500), rng.normal(size=500)])
    y = (rng.random(500) < 1 / (1 + np.exp(-(X @ [0.3, 1.0, -0.5])))).astype(float)
    ours = fit_logistic(X, y)
    ref = sm.Logit(y, X).fit(disp=0, tol=1e-12)
    np.testing.assert_allclose(ours.coef, ref.params, atol=1e-8)
    np.testing.assert_allclose(ours.se, ref.bse, atol=1e-8)
    np.testing.assert_allclose(ours.p_value, ref.pvalues, rtol=1e-6)
    assert ours.loglik == pytest.approx(ref.llf, abs=1e-8)
    assert ours.converged
    assert "log-likelihood" in ours.summary() and list(ours.to_frame().columns)[:4] == ["coef", "std_err", "z", "p_value"]


def test_single_outcome_is_a_clear_error():
    with pytest.raises(FitError, match="model 'tiny'.*single outcome"):
        LogisticCalibrator(model="tiny").fit(np.array([-0.1, -0.2, -0.3]), np.array([1, 1, 1]))


def test_separation_warns_and_stays_finite():
    lp = np.log(np.array([0.3, 0.4, 0.5, 0.9, 0.95, 0.99]))
    y = np.array([0, 0, 0, 1, 1, 1])
    with pytest.warns(SeparationWarning, match="model 'sep'"):
        cal = LogisticCalibrator(model="sep").fit(lp, y)
    assert cal.result_.separated
    p = cal.predict(lp)
    assert np.all(np.isfinite(p)) and p[0] < 0.5 < p[-1]


def test_certainty_is_legal_data():
    rng = np.random.default_rng(1)
    lp = -rng.exponential(0.5, 200)
    lp[:40] = 0.0  # certainty on 20% of queries
    y = (rng.random(200) < 0.7).astype(int)
    cal = LogisticCalibrator(model="gpt").fit(lp, y)
    assert np.all(np.isfinite(cal.predict(lp)))
    # certainty maps to the largest finite training value of xi (eq. 18)
    assert cal.predict(np.array([0.0]))[0] == pytest.approx(cal.predict(np.array([lp[40:].max()]))[0])


def test_platt_and_temperature():
    rng = np.random.default_rng(2)
    z = rng.normal(1.0, 2.0, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-z / 2.5))).astype(int)   # true temperature 2.5
    lp = -np.logaddexp(0.0, -z)                                          # raw p = sigmoid(z): overconfident
    t = TemperatureCalibrator(model="m").fit(lp, y)
    # SE of 1/T at n = 4000 is ~0.02 in T; 0.3 is > 10 SE
    assert t.temperature == pytest.approx(2.5, abs=0.3)
    p = PlattCalibrator(model="m").fit(lp, y)
    assert p.result_.coef[1] == pytest.approx(1 / 2.5, abs=0.05)
    assert make_calibrator("platt").method == "platt"
    with pytest.raises(DataValidationError, match="'method' must be one of"):
        make_calibrator("isotonic")


def test_calibrate_synthetic_report():
    train, test = synthetic_train_test(300, 2000, seed=3)
    cal = calibrate(train)
    rep = cal.report(test)
    t = rep.to_frame()
    assert list(t.index) == list(train.models)
    # data are calibrated by construction: ECE of a 2-parameter fit on n=300 should be small
    assert (t["ece"] < 0.06).all()
    assert (t["auroc"] > 0.6).all()
    assert {"model", "n", "accuracy", "cert_fraction", "ece", "brier", "auroc", "coef", "se", "p_value"} <= set(rep.to_records()[0])
    phi = cal.predict(test)
    assert phi.shape == (2000, 5) and np.all((phi > 0) & (phi < 1))
    assert "%ECE" in rep.summary()
    assert len(cal.coefficients()) == 10


def test_jit_cache_reused_for_same_shape():
    from probcascade.estimation.logistic import _newton
    train, _ = synthetic_train_test(300, 10, seed=4)
    calibrate(train)
    before = _newton._cache_size()
    calibrate(synthetic_train_test(300, 10, seed=5)[0])
    assert _newton._cache_size() == before


@pytest.mark.shared_data
@pytest.mark.parametrize("stem, transform", STUDY)
def test_table1_ece_and_cert_reproduced(shared_dir, reference_dir, stem, transform):
    ref = pd.read_csv(reference_dir / "paper_table1.csv")
    ref = ref[ref.benchmark == stem.split("_")[0]].set_index("model")
    train, test = load_benchmark(shared_dir, stem)
    rep = calibrate(train, transform=transform).report(test, n_bins=10).to_frame()
    for m in train.models:
        # Table 1 prints one decimal of a percentage: +-0.05 points of rounding plus our +-0.15 margin = 0.002
        assert abs(rep.loc[m, "ece"] - ref.loc[m, "pct_ece"] / 100) <= 0.002, m
        assert abs(rep.loc[m, "cert_fraction"] - ref.loc[m, "pct_cert"] / 100) <= 0.002, m
        assert abs(rep.loc[m, "accuracy"] - ref.loc[m, "pct_correct"] / 100) <= 0.0006, m


@pytest.mark.shared_data
@pytest.mark.parametrize("stem, transform", STUDY)
def test_coefficients_match_statsmodels(shared_dir, stem, transform):
    train, _ = load_benchmark(shared_dir, stem)
    cal = calibrate(train, transform=transform)
    for j, m in enumerate(train.models):
        c = cal.calibrators[m]
        X = c._design(train.logprob[:, j])
        ref = sm.Logit(train.correct[:, j], X).fit(disp=0, tol=1e-12)
        np.testing.assert_allclose(c.result_.coef, ref.params, atol=1e-5, err_msg=m)
        np.testing.assert_allclose(c.result_.se, ref.bse, atol=1e-5, err_msg=m)
