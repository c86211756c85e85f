"""Cascades with abstention: the chain evaluation against Monte Carlo from the model's own sampler, the tuner
against brute force over a grid, the policy's routing rule and the frontier object.

Tolerances: Monte Carlo estimates from 3e4 draws within 3 standard errors, plus (k = 3 only) 1e-3 in probabilities
and 1 % in cost for the chain's one approximation, the within-bin position after a link (the same allowance as
tests/test_markov_copula.py, measured there at about 2e-4). For k = 2 the first link is exact, so only 2e-6 (the
look-up-table error) is added.
"""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from probcascade.exceptions import DataValidationError
from probcascade.joint.abstention import ABSTENTION_METRICS, abstention_metrics, predict_abstention
from probcascade.joint.model import fit_markov_copula
from probcascade.policies.abstention import AbstentionPolicy, route_abstention
from probcascade.policies.threshold import ThresholdPolicy
from probcascade.tuning.abstention import tune_abstention
from probcascade.tuning.abstention_frontier import AbstentionFrontier, pareto_mask_nd

pytestmark = pytest.mark.xdist_group("abstention")   # module fixtures (fit, tuner compilation) made once

N_MC = 30_000          # 1.5 s to draw (1e5: 6 s); SE about 3e-3 in the probabilities
COSTS = np.array([1.0, 2.0, 9.0])


@pytest.fixture(scope="module")
def model():
    """A Markov-copula model fitted on 400 correlated confidences of three models (drawn with NumPy: no JAX compile
    for the data; the Monte Carlo ground truth is the fitted model's own sampler)."""
    rng = np.random.default_rng(0)
    z = 0.8 * rng.normal(size=(400, 1)) + 0.6 * rng.normal(size=(400, 3)) + np.array([-0.3, 0.2, 0.6])
    return fit_markov_copula(0.2 + 0.78 * stats.norm.cdf(z), ["small", "medium", "large"])


@pytest.fixture(scope="module")
def draws(model):
    return model.cascade().sample(N_MC, seed=3)


def _random_vectors(cm, rng, n):
    """n (t, a) pairs inside the supports with a_j <= t_j, and one pair per kind of edge case."""
    lo, hi = np.asarray(cm.params.marg.lo), np.asarray(cm.params.marg.hi)
    t = lo[:-1] + (hi[:-1] - lo[:-1]) * rng.uniform(0.1, 0.9, (n, cm.k - 1))
    top = np.concatenate([t, np.broadcast_to(hi[-1], (n, 1))], axis=1)
    a = lo + (top - lo) * rng.uniform(0.0, 0.8, (n, cm.k))
    a[0] = -np.inf                                          # never abstain
    a[1, :-1] = t[1]                                        # a_j = t_j: nothing deferred from the first models
    return t, a


@pytest.mark.parametrize("k", [2, 3])
def test_metrics_vs_monte_carlo(model, draws, k):
    cm = model.cascade(model.models[:k])
    x = draws[:, :k]
    t, a = _random_vectors(cm, np.random.default_rng(k), 5)
    pred = predict_abstention(cm, t, a, COSTS[:k])
    np.testing.assert_allclose(pred["p_correct"] + pred["p_wrong"] + pred["p_abstain"], 1.0, atol=1e-12)
    extra_p, extra_c = (2e-6, 1e-6) if k == 2 else (1e-3, 0.01)
    n = len(x)
    for i in range(len(t)):
        exit_ = AbstentionPolicy(cm.models, t[i], a[i]).route(x, COSTS[:k])
        hit = np.where(exit_.abstain, 0.0, x[np.arange(n), exit_.exit])     # P(correct | phi) = phi (study's model)
        mc = {"p_correct": hit, "p_abstain": exit_.abstain.astype(float), "e_cost": exit_.cost}
        mc["p_wrong"] = 1.0 - mc["p_correct"] - mc["p_abstain"]
        for name in ABSTENTION_METRICS:
            est, se = mc[name].mean(), mc[name].std() / np.sqrt(n)
            tol = 3 * se + (extra_c * est if name == "e_cost" else extra_p)
            assert abs(pred[name][i] - est) <= tol, (k, i, name, pred[name][i], est, se)


def test_no_abstention_is_the_chain_evaluation(model):
    """a = -inf everywhere: the same numbers as the cascade's own evaluation (abstention adds nothing)."""
    cm = model.cascade()
    t, _ = _random_vectors(cm, np.random.default_rng(0), 6)
    pc, ec = cm.metrics(t, COSTS)
    pred = predict_abstention(cm, t, np.full(3, -np.inf), COSTS)
    np.testing.assert_allclose(pred["p_correct"], pc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(pred["e_cost"], ec, rtol=1e-12)
    np.testing.assert_allclose(pred["p_abstain"], 0.0, atol=1e-14)
    with pytest.raises(DataValidationError, match="joint='chain'"):
        predict_abstention(model.cascade(joint="algorithm1"), t, np.full(3, -np.inf), COSTS)


def test_gradients_match_finite_differences(model):
    import jax
    from probcascade import float64
    cm = model.cascade()
    t, a = _random_vectors(cm, np.random.default_rng(4), 3)
    t, a = t[2], a[2]
    weights = np.array([0.3, 1.0, 0.6, 0.05])                 # a mix of the four metrics
    with float64():
        f = lambda tt, aa: jax.numpy.dot(jax.numpy.stack(abstention_metrics(cm.params, cm.static_families, COSTS,
                                                                            tt, aa)), weights)
        gt, ga = jax.jit(jax.grad(f, argnums=(0, 1)))(jax.numpy.asarray(t), jax.numpy.asarray(a))
    grad = np.concatenate([np.asarray(gt), np.asarray(ga)])
    h = 1e-6
    steps = np.eye(t.size + a.size) * h                       # central differences, all in one batched evaluation
    x = np.concatenate([t, a])[None] + np.concatenate([steps, -steps])
    pred = predict_abstention(cm, x[:, : t.size], x[:, t.size:], COSTS)
    obj = sum(w * pred[name] for w, name in zip(weights, ABSTENTION_METRICS))
    fd = (obj[: t.size + a.size] - obj[t.size + a.size:]) / (2 * h)
    # central differences of the C1 piecewise-cubic tables: O(h) error near a node, far below 1e-4
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-4)


def _brute_force(cm, lam, nu, n_grid):
    """Least objective over a quantile grid of (t, a) with lo < a_j <= t_j (the tuner's domain)."""
    lo, hi = np.asarray(cm.params.marg.lo), np.asarray(cm.params.marg.hi)
    q = np.linspace(0.02, 0.98, n_grid)
    axes = [lo[j] + (hi[j] - lo[j]) * q for j in range(cm.k)]
    t_axes, a_axes = axes[:-1], axes
    mesh = np.meshgrid(*t_axes, *a_axes, indexing="ij")
    pts = np.stack([m.ravel() for m in mesh], axis=1)
    t, a = pts[:, : cm.k - 1], pts[:, cm.k - 1:]
    ok = np.all(a[:, :-1] <= t, axis=1)
    t, a = t[ok], a[ok]
    pred = predict_abstention(cm, t, a, COSTS[: cm.k])
    obj = pred["p_wrong"][:, None] + np.outer(pred["e_cost"], lam) + np.outer(pred["p_abstain"], nu)
    return obj.min(axis=0)


@pytest.mark.parametrize("k, n_grid, n_steps", [(2, 40, 150), pytest.param(3, 12, 400, marks=pytest.mark.slow)])
def test_tuner_vs_brute_force(model, k, n_grid, n_steps):
    """For every (lambda, nu) of the grid the tuned objective is at least as good as the best grid point up to the
    optimiser tolerance (1e-3, as in tests/test_tuning.py: a fixed number of Adam steps with a decaying step size
    stops that close to the optimum) and not much better (within 0.02: a grid this fine is close to the
    optimum), and every tuned a_j <= t_j."""
    cm = model.cascade(model.models[:k])
    lam = np.array([0.0, 0.02, 0.2])
    nu = np.array([0.2, 0.45, 0.7])
    fr = tune_abstention(cm, COSTS[:k], lam_grid=lam, nu_grid=nu, n_restarts=3, n_steps=n_steps)
    assert isinstance(fr, AbstentionFrontier) and len(fr) > 0
    assert np.all(fr.abstain[:, :-1] <= fr.thresholds + 1e-12)
    f = fr.frame
    lam_all, nu_all = np.repeat(lam, nu.size), np.tile(nu, lam.size)
    tuned = np.array([np.min(f.p_wrong + l * f.e_cost + v * f.p_abstain) for l, v in zip(lam_all, nu_all)])
    grid = _brute_force(cm, lam_all, nu_all, n_grid)
    assert np.all(tuned <= grid + 1e-3), np.c_[lam_all, nu_all, tuned, grid]
    assert np.all(tuned >= grid - 0.02), np.c_[lam_all, nu_all, tuned, grid]
    # abstention pays less as nu grows: the predicted abstention of the optimum falls with nu at fixed lambda
    best = lambda l, v: f.p_abstain.to_numpy()[np.argmin(f.p_wrong + l * f.e_cost + v * f.p_abstain)]
    assert best(0.0, 0.2) > best(0.0, 0.7)


def test_policy_routes_as_documented():
    conf = np.array([[0.10, 0.9, 0.9],     # abstains at model 0 (<= a_0)
                     [0.30, 0.9, 0.9],     # deferred, answered by model 1
                     [0.80, 0.1, 0.1],     # answered by model 0
                     [0.30, 0.15, 0.9],    # deferred, abstains at model 1
                     [0.30, 0.30, 0.60],   # reaches model 2, answers (> a_2)
                     [0.30, 0.30, 0.40]])  # reaches model 2, abstains (<= a_2)
    correct = np.array([[1, 1, 1], [0, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1]])
    pol = AbstentionPolicy(("a", "b", "c"), [0.5, 0.5], [0.2, 0.2, 0.5])
    dec = pol.route(conf, [1.0, 2.0, 4.0])
    np.testing.assert_array_equal(dec.exit, [0, 1, 0, 1, 2, 2])
    np.testing.assert_array_equal(dec.abstain, [True, False, False, True, False, True])
    np.testing.assert_allclose(dec.cost, [1, 3, 1, 3, 7, 7])
    s = pol.score(conf, correct, [1.0, 2.0, 4.0])
    assert s["p_abstain"] == pytest.approx(0.5) and s["p_correct"] == pytest.approx(2 / 6)
    assert s["error_answered"] == pytest.approx(1 / 3) and s["cost"] == pytest.approx(22 / 6)
    # without abstention it is the threshold cascade
    plain = AbstentionPolicy(("a", "b", "c"), [0.5, 0.5], [-np.inf] * 3).route(conf, [1.0, 2.0, 4.0])
    np.testing.assert_array_equal(plain.exit, ThresholdPolicy(("a", "b", "c"), [0.5, 0.5]).route(conf, [1, 2, 4]).exit)
    assert not plain.abstain.any()
    assert pol.to_dict()["abstain"] == [0.2, 0.2, 0.5] and "abstain" in repr(pol)
    with pytest.raises(DataValidationError, match="must not exceed"):
        AbstentionPolicy(("a", "b", "c"), [0.5, 0.5], [0.2, 0.6, 0.5])
    with pytest.raises(DataValidationError, match="'abstain' 3 values"):
        AbstentionPolicy(("a", "b", "c"), [0.5, 0.5], [0.2, 0.2])


def test_frontier_object_and_evaluation(model, draws):
    cm = model.cascade(model.models[:2])
    rng = np.random.default_rng(7)
    t, a = _random_vectors(cm, rng, 8)
    pred = predict_abstention(cm, t, a, COSTS[:2])
    fr = AbstentionFrontier.from_arrays(t, a, pred["p_correct"], pred["p_wrong"], pred["p_abstain"], pred["e_cost"],
                                        nu=np.full(8, 0.5), models=cm.models, method="test")
    assert {"lam", "nu", "threshold_1", "abstain_1", "abstain_2", "error_answered"} <= set(fr.to_frame().columns)
    np.testing.assert_allclose(fr.frame.error_answered, pred["p_wrong"] / (1 - pred["p_abstain"]))
    text = fr.summary().as_text()
    assert "Abstention frontier" in text and "error_answered" in text
    conf = draws[:500, :2]
    correct = (rng.random(conf.shape) < conf).astype(float)
    ev = fr.evaluate(conf, correct, COSTS[:2])
    for i in (0, 3, 7):                                       # the vectorised scores equal one policy's own
        s = fr.policy_at(i).score(conf, correct, COSTS[:2])
        assert ev.test_p_abstain[i] == pytest.approx(s["p_abstain"]) and ev.test_cost[i] == pytest.approx(s["cost"])
    np.testing.assert_allclose(ev[[f"share_{m}" for m in cm.models]].sum(axis=1), 1.0)
    assert fr.best(max_abstain=1.0).error_answered == fr.frame.error_answered.min()
    near = fr.near_abstention(float(fr.frame.p_abstain.iloc[2]), tol=0.0)
    assert len(near) >= 1 and np.all(np.diff(near.frame.e_cost) >= 0)
    with pytest.raises(DataValidationError, match="no point"):
        fr.best(max_cost=-1.0)


def test_pareto_mask_nd():
    pts = np.array([[1, 1, 1], [2, 2, 2], [1, 1, 1], [0, 3, 1], [1, 1, 0.5]], dtype=float)
    np.testing.assert_array_equal(pareto_mask_nd(pts), [False, False, False, True, True])
    rng = np.random.default_rng(0)
    x = rng.random((300, 3))
    keep = pareto_mask_nd(x, chunk=64)
    dominated = lambda i: np.any(np.all(x <= x[i], axis=1) & np.any(x < x[i], axis=1))
    assert all(keep[i] == (not dominated(i)) for i in range(len(x)))


def test_problem_input_and_bad_input(model):
    from probcascade.tuning.base import TuningProblem
    models = model.models[:2]
    problem = TuningProblem(models, COSTS[:2], np.zeros((1, 2)), np.zeros((1, 2)), joint_model=model)
    with pytest.raises(DataValidationError, match="nu_grid"):
        tune_abstention(problem, nu_grid=[-0.1])
    with pytest.raises(DataValidationError, match="joint model"):
        tune_abstention(TuningProblem(models, COSTS[:2], np.zeros((1, 2)), np.zeros((1, 2))))
    with pytest.raises(DataValidationError, match="costs"):
        tune_abstention(model, pd.Series([1.0], index=[models[0]]), models)
    with pytest.raises(DataValidationError, match="'abstain' 2 values"):
        route_abstention(np.full((3, 2), 0.5), np.ones((3, 2)), [1.0, 1.0], [0.5], [0.1])
