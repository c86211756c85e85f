"""Rational tuning: lambda schedule, frontier monotonicity, agreement of analytic and empirical accuracy."""

import numpy as np
import pandas as pd
import pytest

from probcascade.calibration.calibrators import calibrate
from probcascade.evaluation.routing import route
from probcascade.exceptions import DataValidationError
from probcascade.joint.model import fit_markov_copula
from probcascade.data.synthetic import make_synthetic_cascade
from probcascade.tuning.rational import _gap_targets, best_subcascade, lambda_grid, objective, tune


@pytest.fixture(scope="module")
def fitted():
    data = make_synthetic_cascade(500, seed=21)
    cal = calibrate(data)
    model = fit_markov_copula(cal.predict(data), data.models)
    return data, model


def test_lambda_grid():
    lam = lambda_grid([1e-5, 2e-5, 1e-4], r=0.5)
    assert np.allclose(lam[1:] / lam[:-1], 1.5)
    assert lam[0] == pytest.approx(1e-4 / 1.3e-4) and lam[-1] >= 1.5 / 2e-5
    with pytest.raises(DataValidationError, match="costs"):
        lambda_grid([1.0])
    with pytest.raises(DataValidationError, match="'r' must be"):
        lambda_grid([1.0, 2.0], r=0)


def test_frontier_monotone_and_spans_costs(fitted):
    data, model = fitted
    sub = data.models[:3]
    fr = tune(model, data.expected_costs, models=sub)
    f = fr.to_frame().sort_values("e_cost")
    assert fr.models == tuple(sub) and fr.k == 3
    # more cost never raises predicted error (tolerance: float rounding of the skyline)
    assert np.all(np.diff(f.p_correct.to_numpy()) >= -1e-12)
    costs = data.expected_costs.loc[list(sub)].to_numpy()
    assert f.e_cost.min() <= costs[0] * 1.05            # reaches (nearly) the cheapest model's cost
    assert f.e_cost.max() >= 0.5 * costs.sum()
    lo, hi = model.cascade(sub).bounds
    assert np.all((fr.thresholds > lo) & (fr.thresholds < hi))
    assert fr.info["n_lambdas"] > 10 and len(fr) > 10


def test_tuned_beats_random_thresholds(fitted):
    data, model = fitted
    cm = model.cascade()
    costs = data.expected_costs.to_numpy()
    fr = tune(model, costs)
    lo, hi = cm.bounds
    rand = lo + (hi - lo) * np.random.default_rng(0).random((400, 4))
    pc, ec = cm.metrics(rand, costs)
    # no random threshold vector lies above the tuned frontier by more than the optimiser tolerance
    f = fr.to_frame().sort_values("e_cost")
    best_at = np.interp(ec, f.e_cost, f.p_correct, left=-np.inf, right=f.p_correct.max())
    assert np.all(pc <= best_at + 2e-3)


def test_empirical_accuracy_matches_analytic_for_large_samples(fitted):
    """Data drawn from the model itself (n = 200k): routed accuracy equals the analytic P(Correct) for k = 2."""
    data, model = fitted
    sub = data.models[:2]
    cm = model.cascade(sub)
    costs = data.expected_costs.loc[list(sub)].to_numpy()
    fr = tune(model, costs, models=sub, infill_q=None)
    phi = cm.sample(200_000, seed=1)
    correct = (np.random.default_rng(2).random(phi.shape) < phi).astype(int)
    routed = route(phi, correct, costs, fr.thresholds)
    n = phi.shape[0]
    se = np.sqrt(fr.frame.p_correct * (1 - fr.frame.p_correct) / n)
    assert np.all(np.abs((1 - routed.error) - fr.frame.p_correct.to_numpy()) <= 3 * se + 1e-5)


def test_best_subcascade(fitted):
    data, model = fitted
    frs = {sub: tune(model, data.expected_costs, models=sub, n_restarts=2, infill_q=None)
           for sub in [data.models[:2], data.models[1:3], (data.models[0], data.models[2])]}
    budget = float(data.expected_costs.iloc[:3].sum())
    out = best_subcascade(frs, [budget, 1e-12])
    assert out.loc[0, "e_cost"] <= budget and out.loc[0, "k"] == 2
    assert pd.isna(out.loc[1, "models"]) and out.loc[1, "k"] == 0


def test_tune_bad_input(fitted):
    data, model = fitted
    with pytest.raises(DataValidationError, match="costs"):
        tune(model, [1.0, 2.0], models=data.models[:3])
    with pytest.raises(DataValidationError, match="at least 2"):
        tune(model, [1.0], models=data.models[:1])
    with pytest.raises(DataValidationError, match="no expected cost"):
        tune(model, pd.Series({"x": 1.0}), models=data.models[:2])


def test_gap_targets_split_wide_gaps():
    targets, left = _gap_targets(np.array([0.0, 0.1, 0.5, 1.0]), 0.2)
    # gap 0.1 stays; 0.4 is split once (0.3); 0.5 twice (thirds)
    assert np.allclose(targets, [0.3, 0.5 + 0.5 / 3, 0.5 + 1.0 / 3]) and list(left) == [1, 2, 2]
    t, _ = _gap_targets(np.array([1.0, 0.5, 0.0]), 0.2)           # descending order works the same way
    assert np.allclose(np.sort(t), [1 / 6, 2 / 6, 0.5 + 1 / 6, 0.5 + 2 / 6])
    assert _gap_targets(np.array([0.0, 0.01, 0.02]), 0.5)[0].size == 0


def _max_gap(fr):
    c = np.sort(fr.to_frame().e_cost.to_numpy())
    return np.diff(c).max() / (c[-1] - c[0])


def test_cost_gap_filling_closes_gaps_and_only_adds(fitted):
    """Cost-targeted solves split the gaps that the lambda sweep leaves, and never lose a point of the sweep."""
    data, model = fitted
    sub = data.models[:4]
    plain = tune(model, data.expected_costs, models=sub, max_cost_gap=None, infill_q=None)
    filled = tune(model, data.expected_costs, models=sub, max_cost_gap=0.02, infill_q=None)
    assert _max_gap(plain) > 0.04                      # the sweep alone leaves wide gaps on this model
    assert filled.info["n_gap_targets"] > 0 and plain.info["n_gap_targets"] == 0
    assert _max_gap(filled) < 0.045                    # the gaps close to near the 2 % spacing
    # every point of the sweep is weakly dominated by the filled frontier (it was one of its candidates)
    f = filled.to_frame()
    for c, p in plain.to_frame()[["e_cost", "p_correct"]].itertuples(index=False):
        assert np.any((f.e_cost <= c * (1 + 1e-12)) & (f.p_correct >= p - 1e-12))
    f = f.sort_values("e_cost")
    assert np.all(np.diff(f.p_correct.to_numpy()) >= -1e-12)               # still monotone
    # and no random threshold vector lies above its interpolation (the sweep alone can leave chords over gaps)
    cm = model.cascade(sub)
    lo, hi = cm.bounds
    rand = lo + (hi - lo) * np.random.default_rng(3).random((1000, 3))
    pc, ec = cm.metrics(rand, data.expected_costs.loc[list(sub)].to_numpy())
    assert np.all(pc <= np.interp(ec, f.e_cost, f.p_correct, left=-np.inf) + 1e-3)


def test_cost_target_objective_reaches_target(fitted):
    """With lam = 0 and a large rho the objective's minimiser has (nearly) the target cost: the penalty form."""
    import jax
    import jax.numpy as jnp
    data, model = fitted
    cm = model.cascade(data.models[:2])
    costs = data.expected_costs.iloc[:2].to_numpy()
    unit = jnp.asarray(costs / costs.sum())
    lo, hi = (jnp.asarray(b) for b in cm.bounds)
    zs = jnp.linspace(-8, 8, 4001)[:, None]
    target = 0.5 * (unit[0] + 1.0)
    vals = jax.vmap(lambda z: objective(cm.params, cm.static_families, unit, lo, hi, z, 0.0, target, 1e5))(zs)
    z_best = zs[int(np.argmin(np.asarray(vals)))]
    _, ec = cm.metrics(np.asarray(lo + (hi - lo) / (1 + jnp.exp(-z_best)))[None, :], unit)
    assert abs(float(ec[0]) - float(target)) < 1e-3
    with pytest.raises(DataValidationError, match="max_cost_gap"):
        tune(model, data.expected_costs, models=data.models[:2], max_cost_gap=1.5)
