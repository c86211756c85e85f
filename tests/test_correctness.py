"""Pairwise (deferral-aware) correctness: fitting, and the chain evaluation against Monte Carlo.

Ground truth: confidences drawn from a fitted Markov-copula model's own sampler, outcomes drawn from known
coefficients, P(correct_j | Phi_{j-1}, Phi_j) = sigmoid(alpha + beta logit Phi_j + gamma logit Phi_{j-1}).
"""

import numpy as np
import pytest
import jax

from probcascade import float64
from probcascade.calibration.calibrators import calibrate
from probcascade.joint.correctness import PairwiseCorrectness, fit_pairwise_correctness
from probcascade.exceptions import DataValidationError
from probcascade.joint.chain import cascade_metrics
from probcascade.joint.model import fit_markov_copula
from probcascade.data.synthetic import make_synthetic_cascade

N_MC = 100_000
TRUE = np.array([-0.3, 1.2, 0.5])     # a predecessor effect of the size measured on MedMCQA (gamma ~ 0.3-0.7)


@pytest.fixture(scope="module")
def fitted():
    data = make_synthetic_cascade(600, seed=21)
    phi = calibrate(data).predict(data)
    return fit_markov_copula(phi, data.models, correct=data.correct), phi, data


@pytest.fixture(scope="module")
def truth(fitted):
    """The fitted model with the known pairwise coefficients on every ordered pair, and draws from it."""
    import dataclasses
    model = fitted[0]
    corr = {(a, b): PairwiseCorrectness.from_coef(a, b, TRUE) for a in model.models for b in model.models if a != b}
    model = dataclasses.replace(model, correctness=corr, _tables={})
    return model, model.sample(N_MC, seed=4)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logit(p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def test_fit_structure_and_summary(fitted):
    model, phi, data = fitted
    k = len(model.models)
    assert len(model.correctness) == k * (k - 1)                 # every ordered pair
    pc = model.correctness[(model.models[0], model.models[1])]
    frame = pc.to_frame()
    assert list(frame.index) == ["intercept", f"logit phi[{model.models[1]}]", f"logit phi[{model.models[0]}]"]
    assert np.all(np.isfinite(frame.std_err)) and (frame.std_err > 0).all()
    cf = model.correctness_frame()
    assert len(cf) == 3 * k * (k - 1) and {"prev", "nxt", "term", "coef", "std_err"} <= set(cf.columns)
    assert "Pairwise correctness" in model.summary() and "Pairwise" not in fit_markov_copula(phi, data.models).summary()
    assert fit_markov_copula(phi, data.models).correctness_frame().empty
    p = pc.predict(phi[:, 0], phi[:, 1])
    assert p.shape == (phi.shape[0],) and np.all((p > 0) & (p < 1))


def test_recovers_known_coefficients(truth):
    """n = 1e5 outcomes drawn from TRUE: the MLE lies within 3.5 standard errors of the truth (per coefficient,
    3 pairs x 3 coefficients: a false alarm has probability < 0.5 %)."""
    model, x = truth
    rng = np.random.default_rng(8)
    phi = x[list(model.models)].to_numpy()
    correct = np.empty_like(phi, dtype=np.int64)
    correct[:, 0] = rng.random(len(phi)) < phi[:, 0]
    for j in range(1, phi.shape[1]):
        correct[:, j] = rng.random(len(phi)) < _sigmoid(TRUE @ np.stack([np.ones(len(phi)), _logit(phi[:, j]), _logit(phi[:, j - 1])]))
    fits = fit_pairwise_correctness(phi, correct, model.models, [(0, 1), (1, 2), (2, 3)])
    for f in fits.values():
        assert np.all(np.abs(f.coef - TRUE) <= 3.5 * f.fit.se), (f.prev, f.nxt, f.coef, f.fit.se)
    # a model whose predecessor does not matter: gamma is not significant (|z| < 3.5)
    correct[:, 1] = rng.random(len(phi)) < phi[:, 1]
    f = fit_pairwise_correctness(phi, correct, model.models, [(0, 1)])[(model.models[0], model.models[1])]
    assert abs(f.fit.z[2]) < 3.5 and abs(f.coef[1] - 1.0) < 3.5 * f.fit.se[1]


def test_identity_coefficients_give_the_study_model(fitted):
    import dataclasses
    model = fitted[0]
    ident = {key: PairwiseCorrectness.from_coef(*key, [0.0, 1.0, 0.0]) for key in model.correctness}
    m2 = dataclasses.replace(model, correctness=ident, _tables={})
    costs = np.array([1.0, 2.0, 5.0, 20.0, 60.0])
    cm_m, cm_p = m2.cascade(correctness="marginal"), m2.cascade(correctness="pairwise")
    lo, hi = cm_m.bounds
    T = lo + (hi - lo) * np.random.default_rng(1).random((6, 4))
    (pm, em), (pp, ep) = cm_m.metrics(T, costs), cm_p.metrics(T, costs)
    np.testing.assert_allclose(pp, pm, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ep, em, rtol=1e-13)


def test_pairwise_chain_vs_monte_carlo(truth):
    """Analytic P(Correct) under the pairwise model against Monte Carlo (outcome probabilities of the sampled
    confidences). The chain represents each state by its mean confidence in the ratio sigmoid(.)/v, so besides the
    chain's own within-bin error (1e-3, see test_markov_copula) there is a Jensen error over a bin, measured below
    1e-3 here; the tolerance is 3 SE + 2e-3, while ignoring the predecessor (the study's model) is off by 0.02-0.04."""
    model, x = truth
    costs = np.array([1.0, 2.0, 5.0, 20.0, 60.0])
    rng = np.random.default_rng(6)
    worst_study = 0.0
    for k in (2, 3, 5):
        cm = model.cascade(model.models[:k], correctness="pairwise")
        phi = x[list(cm.models)].to_numpy()
        lo, hi = cm.bounds
        T = lo + (hi - lo) * rng.uniform(0.2, 0.8, (4, k - 1))
        pc, ec = cm.metrics(T, costs[:k])
        pm, em = model.cascade(model.models[:k]).metrics(T, costs[:k])
        for t, p, e, p_study in zip(T, pc, ec, pm):
            answered = np.concatenate([phi[:, :-1] > t, np.ones((len(phi), 1), bool)], axis=1)
            j = answered.argmax(1)
            own = phi[np.arange(len(phi)), j]
            prev = phi[np.arange(len(phi)), np.maximum(j - 1, 0)]
            prob = np.where(j == 0, own, _sigmoid(TRUE[0] + TRUE[1] * _logit(own) + TRUE[2] * _logit(prev)))
            assert abs(p - prob.mean()) <= 3 * prob.std() / np.sqrt(len(prob)) + 2e-3, (k, t, p, prob.mean())
            worst_study = max(worst_study, abs(p_study - prob.mean()))
        np.testing.assert_allclose(ec, em, rtol=1e-12)               # costs do not depend on correctness
    assert worst_study > 0.01                                         # the check can tell the two models apart


def test_pairwise_gradient_matches_finite_differences(truth):
    model, _ = truth
    cm = model.cascade(correctness="pairwise")
    costs = np.array([1.0, 2.0, 5.0, 20.0, 60.0])
    lo, hi = cm.bounds
    t0 = lo + 0.45 * (hi - lo)
    with float64():
        f = lambda t: cascade_metrics(cm.params, cm.static_families, costs, t)[0]
        g = np.asarray(jax.grad(f)(jax.numpy.asarray(t0)))
        h = 1e-6
        fd = np.array([(f(t0 + h * e) - f(t0 - h * e)) / (2 * h) for e in np.eye(len(t0))])
    np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-7)


def test_bad_input_names_the_problem(fitted):
    model, phi, data = fitted
    with pytest.raises(DataValidationError, match=r"'correct' must have \d+ columns"):
        fit_markov_copula(phi, data.models, correct=data.correct[:, :2])
    bad = data.correct.copy().astype(float)
    bad[0, 2] = 0.5
    with pytest.raises(DataValidationError, match=data.models[2]):
        fit_markov_copula(phi, data.models, correct=bad)
    plain = fit_markov_copula(phi, data.models)
    with pytest.raises(DataValidationError, match="pass correct="):
        plain.cascade(correctness="pairwise")
    with pytest.raises(DataValidationError, match="joint='chain'"):
        model.cascade(joint="algorithm1", correctness="pairwise")
    with pytest.raises(DataValidationError, match="correctness"):
        model.cascade(correctness="bayes")
    with pytest.raises(DataValidationError, match="3 finite coefficients"):
        PairwiseCorrectness.from_coef("a", "b", [0.0, np.nan, 1.0])


def test_prior_keeps_small_samples_near_the_study_model(fitted):
    """20 queries: a weak prior (precision 1 around (0, 1, 0)) keeps every fit finite and within a few prior SDs of
    the study's model; a very strong prior returns the study's model itself; the fit goes through
    fit_markov_copula's correctness_ridge."""
    from probcascade.joint.correctness import IDENTITY
    model, phi, data = fitted
    pairs = [(0, 1), (1, 2), (2, 3), (3, 4)]
    few = fit_pairwise_correctness(phi[:20], data.correct[:20], data.models, pairs, ridge=1.0)
    for f in few.values():
        assert np.all(np.isfinite(f.coef)) and np.all(np.abs(f.coef - IDENTITY) < 4.0), f.coef
    strong = fit_pairwise_correctness(phi[:20], data.correct[:20], data.models, pairs, ridge=1e8)
    for f in strong.values():
        np.testing.assert_allclose(f.coef, IDENTITY, atol=1e-5)
    via_model = fit_markov_copula(phi[:200], data.models, correct=data.correct[:200], correctness_ridge=1e8)
    np.testing.assert_allclose(via_model.correctness[(data.models[0], data.models[1])].coef, IDENTITY, atol=1e-5)
