"""Goodness-of-fit report (seed §4.3): Markov logistic table, marginal/copula tests, JSON structure, real data."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from probcascade.calibration.calibrators import calibrate
from probcascade.data.cascade import load_benchmark
from probcascade.gof.markov import MARKOV_TABLE_COLUMNS, markov_logit_table
from probcascade.gof.report import GofReport, goodness_of_fit
from probcascade.exceptions import DataValidationError, IndependenceFallbackWarning
from probcascade.data.synthetic import make_synthetic_cascade, synthetic_train_test


def _frames(data, cal=None):
    cal = cal or calibrate(data)
    phi = pd.DataFrame(cal.predict(data), columns=list(data.models))
    return phi, pd.DataFrame(data.correct, columns=list(data.models))


@pytest.fixture(scope="module")
def synthetic_report() -> GofReport:
    # the demo report's goodness-of-fit call (tests/test_report.py, tests/test_cli.py::test_demo_runs): the tests
    # using this fixture run in the "demo" xdist group, on the worker where its bootstrap kernels are compiled
    train, test = synthetic_train_test(200, 300)
    return goodness_of_fit(train, test, n_boot=50, seed=0)


# ------------------------------------------------------------------------------------------------ markov table
def test_markov_table_shape_and_statsmodels_reference():
    data = make_synthetic_cascade(400, seed=3)
    phi, correct = _frames(data)
    table = markov_logit_table(phi, correct)
    models = list(data.models)
    assert list(table.columns) == list(MARKOV_TABLE_COLUMNS)
    assert table.index.name == "predicted"
    assert len(table) == 6  # k = 5: 1 + 2 + 3 regressions
    expected = [(models[i], models[j]) for i in range(2, 5) for j in range(i - 1)]
    assert list(zip(table.index, table["ancestor"])) == expected
    # reference: statsmodels' Logit MLE and Wald p-values (both Newton to 1e-12; 1e-6 relative is ample)
    for (pred, anc), (_, row) in zip(expected, table.iterrows()):
        i, j = models.index(pred), models.index(anc)
        X = sm.add_constant(np.column_stack([phi.iloc[:, i - 1], phi.iloc[:, j]]))
        ref = sm.Logit(correct.iloc[:, i].to_numpy(), X).fit(disp=0)
        np.testing.assert_allclose([row.coef_markov, row.coef_ancestor], ref.params[1:], rtol=1e-6)
        np.testing.assert_allclose([row.log10_p_markov, row.log10_p_ancestor], np.log10(ref.pvalues[1:]), rtol=1e-6)


def test_markov_table_markov_chain_favours_predecessor():
    # the synthetic cascade is Markov by construction, so over 6 regressions on 3000 queries the predecessor must
    # be more significant than the ancestor on average (observed gap: several orders of magnitude)
    data = make_synthetic_cascade(3000, seed=5)
    table = markov_logit_table(*_frames(data))
    assert table["log10_p_markov"].mean() < table["log10_p_ancestor"].mean() - 2
    assert np.isfinite(table.iloc[:, 1:].to_numpy(dtype=float)).all()


def test_markov_table_small_cascade_and_errors():
    data = make_synthetic_cascade(200, seed=1)
    phi, correct = _frames(data)
    assert len(markov_logit_table(phi.iloc[:, :2], correct.iloc[:, :2])) == 0  # no ancestor before j < i - 1
    with pytest.raises(DataValidationError, match="correct_frame"):
        markov_logit_table(phi, correct.iloc[:, ::-1])
    with pytest.raises(DataValidationError, match="correct_frame"):
        markov_logit_table(phi, correct.iloc[:10])
    bad = correct.copy()
    bad.iloc[0, 2] = 2
    with pytest.raises(DataValidationError, match="llama3.1-8b"):
        markov_logit_table(phi, bad)
    with pytest.raises(DataValidationError, match="phi_frame"):
        markov_logit_table(phi.to_numpy(), correct)


def test_markov_table_reproduces_table3_truthfulqa(shared_dir):
    # Table 3, TruthfulQA row of the study: earlier ancestors' log10 p from single regressions, Markov predictor
    # as log10 of the mean p over the regressions of that row; the paper prints 2 decimals, hence atol 0.006
    train, test = load_benchmark(shared_dir, "truthfulqa_llama")
    phi, correct = _frames(test, calibrate(train, transform="two-sided"))
    table = markov_logit_table(phi, correct)
    ancestors = {"llama3.1-8b": {"llama3.2-1b": -1.77}, "llama3.1-70b": {"llama3.2-1b": -0.30, "llama3.2-3b": -0.44},
                 "llama3.1-405b": {"llama3.2-1b": -0.20, "llama3.2-3b": -0.67, "llama3.1-8b": -0.59}}
    markov = {"llama3.1-8b": -0.42, "llama3.1-70b": -0.52, "llama3.1-405b": -1.55}
    for pred, row in ancestors.items():
        sub = table.loc[[pred]].set_index("ancestor")
        for anc, value in row.items():
            assert sub.loc[anc, "log10_p_ancestor"] == pytest.approx(value, abs=0.006)
        assert math.log10(np.mean(10.0 ** sub["log10_p_markov"])) == pytest.approx(markov[pred], abs=0.006)


# ------------------------------------------------------------------------------------------------ goodness_of_fit
def test_goodness_of_fit_rejects_mismatched_models():
    train, test = synthetic_train_test(200, 300)
    with pytest.raises(DataValidationError, match="'test'"):
        goodness_of_fit(train, test.subset(test.models[:3]), n_boot=50)
    with pytest.raises(DataValidationError, match="'test'"):
        goodness_of_fit(train, test.subset(test.models[::-1]), n_boot=50)
    with pytest.raises(DataValidationError, match="n_boot"):
        goodness_of_fit(train, test, n_boot=0)
    with pytest.raises(DataValidationError, match="'train'"):
        goodness_of_fit(train.logprob, test)


@pytest.mark.slow  # the first call compiles the bootstrap kernels of marginal_gof and copula_gof (~1 min)
@pytest.mark.xdist_group("demo")    # ... unless the demo report (same shapes) compiled them on this worker
def test_to_dict_structure(synthetic_report):
    d = synthetic_report.to_dict()
    json.dumps(d)  # JSON-ready
    assert list(d) == ["marginals", "copulas", "kendall_tau", "markov_table"]
    models = list(synthetic_report.models)
    assert [m["model"] for m in d["marginals"]] == models
    for m in d["marginals"]:
        assert set(m) == {"model", "sqrt_cvm", "p_value", "p_value_boot", "sqrt_cvm_refit", "p_value_refit", "params"}
        assert set(m["params"]) == {"lo", "hi", "w_lo", "w_hi", "mix", "alpha", "beta"}
        assert all(type(m[k]) is float for k in ("sqrt_cvm", "p_value", "p_value_boot", "sqrt_cvm_refit", "p_value_refit"))
        assert type(m["params"]["lo"]) is float and all(type(x) is float for x in m["params"]["mix"])
    assert [(c["model_a"], c["model_b"]) for c in d["copulas"]] == list(zip(models[:-1], models[1:]))
    for c in d["copulas"]:
        assert set(c) == {"model_a", "model_b", "family", "requested_family", "fallback", "tau_train", "tau", "theta",
                          "sqrt_n_cvm", "s_n", "p_value"}
        assert c["family"] == c["requested_family"] == "gumbel" and c["fallback"] is False
        assert all(type(c[k]) is float for k in ("tau", "theta", "sqrt_n_cvm", "s_n", "p_value"))
        assert c["theta"] >= 1.0  # Gumbel
        assert c["s_n"] == pytest.approx(c["sqrt_n_cvm"] * math.sqrt(
            next(p.gof.n for p in synthetic_report.pairs if p.model_a == c["model_a"])), rel=1e-12)
    assert d["kendall_tau"]["models"] == models
    tau = np.array(d["kendall_tau"]["matrix"])
    assert tau.shape == (5, 5) and np.allclose(tau, tau.T) and np.allclose(np.diag(tau), 1.0)
    assert len(d["markov_table"]) == 6
    assert set(d["markov_table"][0]) == {"predicted", *MARKOV_TABLE_COLUMNS}


@pytest.mark.slow
@pytest.mark.xdist_group("demo")
def test_p_values_and_tables(synthetic_report):
    r = synthetic_report
    d = r.to_dict()
    ps = [m[k] for m in d["marginals"] for k in ("p_value", "p_value_boot", "p_value_refit")] + [c["p_value"] for c in d["copulas"]]
    # Monte Carlo p-values (1 + #)/(B + 1) with B = 50
    assert all(1 / 51 - 1e-12 <= p <= 1.0 for p in ps)
    frame = r.to_frame()
    assert list(frame.index) == list(r.models)
    assert frame["n_test"].eq(300).all() and frame["n_train"].eq(200).all()
    assert all(p.gof.theta_estimated for p in r.pairs)  # composite null: theta re-estimated per bootstrap sample
    assert all(0 < p.gof.n <= 300 and 0 < p.n_train <= 200 for p in r.pairs)
    text = r.summary()
    for m in r.models:
        assert m in text
    assert "Kendall's tau" in text and "Table 3" in text
    # seeded: the same call gives the same report
    train, test = synthetic_train_test(200, 300)
    assert goodness_of_fit(train, test, n_boot=50, seed=0).to_dict() == d


@pytest.mark.slow
def test_truthfulqa_llama_adjacent_copulas(shared_dir):
    # Table 4 reports sqrt(n) CvM = 0.001 for TruthfulQA Llama pairs (0.003 on average over benchmarks);
    # we measured 0.0018 for the adjacent pairs, and allow twice the study's average
    train, test = load_benchmark(shared_dir, "truthfulqa_llama")
    # 1B and 3B are unrelated on the training interior (tau = -0.004): the Gumbel fit falls back to independence
    with pytest.warns(IndependenceFallbackWarning, match="Kendall"):
        r = goodness_of_fit(train, test, transform="two-sided", n_boot=100, seed=0)
    d = r.to_dict()
    assert len(d["copulas"]) == 4 and d["copulas"][0]["theta"] == 0.0
    assert d["copulas"][0]["family"] == "independence" and d["copulas"][0]["fallback"] is True
    assert d["copulas"][0]["tau_train"] <= 0.0 and "(llama3.2-1b, llama3.2-3b)" in r.fallback_note()
    assert np.mean([c["sqrt_n_cvm"] for c in d["copulas"]]) <= 0.006
    assert all(0.0 < c["p_value"] <= 1.0 for c in d["copulas"])
