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
    # no random threshold vector lies above the tuned frontier by more than the chords between its points: where
    # the frontier is not convex, eq. 11's sweep leaves cost gaps (closed only by max_cost_gap, tested below with
    # 1e-3); the Newton solver's converged points leave chords up to 2.04e-3 above the model on this cascade
    f = fr.to_frame().sort_values("e_cost")
    best_at = np.interp(ec, f.e_cost, f.p_correct, left=-np.inf, right=f.p_correct.max())
    assert np.all(pc <= best_at + 3e-3)


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
    # the Adam solver, for which the gap filling was tuned: from the Newton sweep's points the filled frontier still
    # had chords 3e-3 above the model at the cheap end of this cascade (an open issue of solver="newton")
    plain = tune(model, data.expected_costs, models=sub, max_cost_gap=None, infill_q=None, solver="adam")
    filled = tune(model, data.expected_costs, models=sub, max_cost_gap=0.02, infill_q=None, solver="adam")
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


def test_tune_many_equals_per_cascade(fitted):
    """All cascades of one length in one stacked solve give the frontiers of one tune call per cascade."""
    from probcascade.tuning.rational import tune_many
    data, model = fitted
    m = data.models
    subs = [(m[0], m[1]), (m[1], m[2]), (m[0], m[2]), (m[0], m[1], m[2])]
    kw = {"n_restarts": 2, "newton_steps": 4}
    many = tune_many(model, data.expected_costs, subs, **kw)
    assert many[0].info["n_stacked"] == 3 and many[3].info["n_stacked"] == 1
    for sub, fr in zip(subs, many):
        one = tune(model, data.expected_costs, models=sub, **kw)
        assert fr.models == sub
        # same algorithm on the same numbers; only the summation order of batched (vmapped) XLA kernels differs
        # (~1e-15 relative); the finite-difference Hessian (step 1e-5) and 4 unconverged Newton steps amplify it to
        # 2e-8 in thresholds here. Restarts that converge to the same optimum tie up to that rounding, so the Pareto
        # filter may keep one copy more or less: every point of either frontier has a twin in the other within 1e-6
        a, b = fr.to_frame(), one.to_frame()
        cols = [c for c in a.columns if c.startswith("threshold_")] + ["p_correct"]
        for x, y in ((a, b), (b, a)):
            dist = np.abs(x[cols].to_numpy()[:, None, :] - y[cols].to_numpy()[None, :, :]).max(axis=-1)
            assert dist.min(axis=1).max() < 1e-6
        assert abs(len(a) - len(b)) <= 2


def test_tabulated_split_matches_exact_split(fitted):
    """The chain's tabulated split of the threshold's bin (Newton solver) agrees with the exact split."""
    import jax.numpy as jnp
    from probcascade.joint.model import _metrics_batched
    from probcascade.precision import float64
    data, model = fitted
    cm = model.cascade()
    lo, hi = cm.bounds
    rng = np.random.default_rng(5)
    t = lo + (hi - lo) * rng.random((256, cm.k - 1)) ** rng.choice([0.2, 1.0, 5.0], (256, cm.k - 1))  # ends too
    costs = jnp.asarray(data.expected_costs.to_numpy() / data.expected_costs.sum())
    with float64():
        spec = cm.static_families
        pe, ee = _metrics_batched(cm.params, spec, costs, jnp.asarray(t))
        pt, et = _metrics_batched(cm.params, spec._replace(split="table"), costs, jnp.asarray(t))
    # tabulation error: <= 2e-7 on the three Llama benchmarks (docs/design_notes.md#faster-frontier); 1e-6 bound
    assert np.abs(np.asarray(pe) - np.asarray(pt)).max() < 1e-6
    assert np.abs(np.asarray(ee) - np.asarray(et)).max() < 1e-6


def test_adam_solver_still_available(fitted):
    """solver='adam' (exact split, earlier releases' solver) runs and reaches no better optima than Newton."""
    data, model = fitted
    sub = data.models[:2]
    new = tune(model, data.expected_costs, models=sub, infill_q=None)
    old = tune(model, data.expected_costs, models=sub, infill_q=None, solver="adam", n_steps=60)
    assert new.info["solver"] == "newton" and old.info["solver"] == "adam"
    # Adam's points lie on or below Newton's frontier (up to the chords between its points, as in the test above)
    f = new.to_frame().sort_values("e_cost")
    for c, p in old.to_frame()[["e_cost", "p_correct"]].itertuples(index=False):
        assert p <= np.interp(c, f.e_cost, f.p_correct, left=np.inf) + 2e-3   # chords of a concave frontier
    with pytest.raises(DataValidationError, match="solver"):
        tune(model, data.expected_costs, models=sub, solver="bfgs")
