"""The embedded synthetic cascade: the package's own model with the stored MMLU Llama parameters (no shared data)."""

from __future__ import annotations

import dataclasses
import json
from importlib import resources

import numpy as np
import pytest

from probcascade.calibration.calibrators import calibrate
from probcascade.exceptions import DataValidationError
from probcascade.joint.model import fit_markov_copula
from probcascade.data.synthetic import DEFAULT_SPEC, DEMO_PARAMS_FILE, SyntheticCascadeSpec, _draw, load_spec, make_synthetic_cascade, synthetic_train_test

N = 20_000
N_REFIT = 8_000      # fit_markov_copula's Kendall's tau is O(n^2): 20000 queries would take ~15 s on two cores
SEED = 123


@pytest.fixture(scope="module")
def big():
    """One large draw: the generator's arrays and the CascadeData built from the same seed."""
    return _draw(N, SEED, DEFAULT_SPEC), make_synthetic_cascade(N, SEED)


def test_embedded_parameters_load():
    raw = json.loads(resources.files("probcascade.data").joinpath(DEMO_PARAMS_FILE).read_text())
    spec = DEFAULT_SPEC
    assert spec.models == ("llama3.2-1b", "llama3.2-3b", "llama3.1-8b", "llama3.1-70b", "llama3.1-405b")
    assert spec.provenance["n_train"] == raw["provenance"]["n_train"] == 285
    assert "mmlu_llama_train" in spec.provenance["source"]
    assert spec.families == ("gumbel",) * 4 and all(t >= 1.0 for t in spec.theta)
    assert all(b > 0 for b in spec.b1) and np.all(np.diff(spec.cost_usd) >= 0)
    # the cell tables are counts on one sample: they sum to 1 and their margins are the marginals' atoms
    assert np.allclose(spec.table.sum(axis=(1, 2)), 1.0)
    w = np.array([[float(p.w_lo), 1.0 - float(p.w_lo) - float(p.w_hi), float(p.w_hi)] for p in spec.marginals])
    assert np.allclose(spec.table.sum(axis=2), w[:-1]) and np.allclose(spec.table.sum(axis=1), w[1:])
    # the calibrator's one-sided range maps onto the marginals' support
    xi_lo, xi_hi = spec.xi_range()
    assert np.allclose(xi_lo, [m["calibrator"]["xi_min"] for m in raw["models"]])
    assert np.allclose(xi_hi, [m["calibrator"]["xi_max"] for m in raw["models"]])
    again = load_spec(resources.files("probcascade.data").joinpath(DEMO_PARAMS_FILE))
    assert again.theta == spec.theta and np.array_equal(again.table, spec.table)


def test_bad_spec_is_rejected():
    with pytest.raises(DataValidationError, match="wrong number"):
        dataclasses.replace(DEFAULT_SPEC, b0=DEFAULT_SPEC.b0[:3])
    with pytest.raises(DataValidationError, match="malformed"):
        SyntheticCascadeSpec.from_dict({"models": []})
    with pytest.raises(DataValidationError, match="'n' must be an integer >= 1"):
        make_synthetic_cascade(0)


def test_deterministic_per_seed():
    a, b, c = (make_synthetic_cascade(150, s) for s in (4, 4, 5))
    for f in ("logprob", "correct", "cost"):
        assert np.array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.logprob, c.logprob)
    tr, te = synthetic_train_test(50, 60, seed=4)
    assert (tr.n_queries, te.n_queries, tr.models) == (50, 60, DEFAULT_SPEC.models)
    assert np.array_equal(tr.logprob, a.logprob[:50])        # a draw is a prefix of any larger one
    assert not np.array_equal(te.logprob[:50], tr.logprob)


def test_data_is_the_draw(big):
    d, data = big
    assert np.array_equal(data.logprob, d["logprob"]) and np.array_equal(data.correct, d["correct"])
    assert np.isfinite(d["logprob"]).all() and (d["logprob"] < 0).all()      # no certainty in the MMLU Llama runs
    # the stored calibrator reproduces the generated calibrated confidence, atoms included
    assert np.abs(DEFAULT_SPEC.calibrated(d["logprob"]) - d["phi"]).max() < 1e-12
    # costs: stored mean (3 standard errors) and coefficient of variation, comonotone across models
    mean, cv = np.asarray(DEFAULT_SPEC.cost_usd), np.asarray(DEFAULT_SPEC.cost_cv)
    assert np.all(np.abs(d["cost"].mean(axis=0) - mean) < 3 * cv * mean / np.sqrt(N))
    assert np.allclose(d["cost"].std(axis=0) / d["cost"].mean(axis=0), cv, rtol=0.05)
    assert np.all(np.diff(np.argsort(d["cost"], axis=0), axis=1) == 0)


def test_refit_recovers_the_model(big):
    d, _ = big
    spec, n = DEFAULT_SPEC, N_REFIT
    model = fit_markov_copula(d["phi"][:n], spec.models, all_pairs=False)
    for m, p in zip(spec.models, spec.marginals):
        q = model.marginals[m].params
        assert float(q.lo) == float(p.lo) and float(q.hi) == float(p.hi)   # the atoms are drawn exactly
        for w_fit, w in ((float(q.w_lo), float(p.w_lo)), (float(q.w_hi), float(p.w_hi))):
            assert abs(w_fit - w) < 3 * np.sqrt(w * (1 - w) / n), (m, w_fit, w)
    for i, (a, b) in enumerate(zip(spec.models[:-1], spec.models[1:])):
        pf = model.pair(a, b)
        # Kendall's tau of the interior x interior pairs; Var(tau_hat) <= 2 (1 - tau^2) / n (Daniels 1950)
        tol = 3 * np.sqrt(2 * (1 - spec.tau[i] ** 2) / pf.n_interior)
        assert pf.family == "gumbel" and abs(pf.tau - spec.tau[i]) < tol, (a, b, pf.tau, spec.tau[i], tol)
        assert np.allclose(pf.table, spec.table[i], atol=4 * np.sqrt(0.25 / n))


def test_accuracy_matches_the_model(big):
    _, data = big
    m = DEFAULT_SPEC.mean_confidence()
    assert np.all((m > 0.35) & (m < 0.9)) and np.all(np.diff(m) > 0)         # 1B ~0.41 ... 405B ~0.81
    # correct ~ Bernoulli(Phi): the accuracy is binomial with mean E[Phi]
    assert np.all(np.abs(data.correct.mean(axis=0) - m) < 3 * np.sqrt(m * (1 - m) / N))


def test_calibration_recovers_the_stored_calibrator(big):
    d, data = big
    cal = calibrate(data, transform="one-sided")
    for j, mname in enumerate(data.models):
        fit = cal.calibrators[mname].result_
        true = np.array([DEFAULT_SPEC.b0[j], DEFAULT_SPEC.b1[j]])
        assert np.all(np.abs(fit.coef - true) < 4 * fit.se), (mname, fit.coef, true, fit.se)
    assert np.abs(cal.predict(data) - d["phi"]).max() < 0.05
