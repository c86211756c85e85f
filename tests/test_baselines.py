"""Tests of the grid-search and Bayesian-optimisation baselines (probcascade.baselines)."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from probcascade.tuning.bo import bayesian_optimization
from probcascade.tuning.grid import grid_search, quantile_grid
from probcascade.evaluation.auc import curve_area
from probcascade.evaluation.routing import route
from probcascade.exceptions import DataValidationError
from probcascade.tuning.frontier import pareto_mask


def _synthetic(n=120, k=3, seed=0):
    """Positively correlated calibrated confidences, correctness drawn from them, increasing costs."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 1)) + 0.7 * rng.normal(size=(n, k))
    conf = 1.0 / (1.0 + np.exp(-(z + np.linspace(-0.5, 1.0, k))))
    correct = (rng.uniform(size=(n, k)) < conf).astype(float)
    costs = np.geomspace(1.0, 30.0, k) * 1e-5
    return conf, correct, costs


def _brute_force(conf, correct, costs, step, accuracy):
    """Score the full product grid with route() and keep the Pareto set."""
    k = conf.shape[1]
    grid = quantile_grid(conf[:, : k - 1], step)
    cands = np.array(list(itertools.product(*grid.T)))
    weight = correct if accuracy == "correct" else conf
    r = route(conf, weight, costs, cands)
    keep = pareto_mask(r.cost, 1.0 - r.error)
    order = np.argsort(r.cost[keep], kind="stable")
    return cands[keep][order], 1.0 - r.error[keep][order], r.cost[keep][order]


@pytest.mark.parametrize("accuracy", ["correct", "confidence"])
def test_grid_search_k2_equals_brute_force(accuracy):
    conf, correct, costs = _synthetic(k=2)
    f = grid_search(conf, correct, costs, accuracy=accuracy)
    thr, acc, cost = _brute_force(conf, correct, costs, 0.025, accuracy)
    assert f.info["n_candidates"] == 40
    np.testing.assert_allclose(f.thresholds, thr)
    np.testing.assert_allclose(f.frame["p_correct"], acc, atol=1e-12)
    np.testing.assert_allclose(f.frame["e_cost"], cost, rtol=1e-12)


def test_grid_search_k4_blocks_equal_brute_force():
    """Factorised scoring over blocks of the first model's candidates equals routing every combination."""
    conf, correct, costs = _synthetic(n=80, k=4, seed=1)
    f = grid_search(conf, correct, costs, step=0.1, accuracy="correct", max_block=150)  # 10 per model, 7 blocks
    thr, acc, cost = _brute_force(conf, correct, costs, 0.1, "correct")
    assert f.info["n_candidates"] == 1000
    np.testing.assert_allclose(f.frame["p_correct"], acc, atol=1e-12)
    np.testing.assert_allclose(f.frame["e_cost"], cost, rtol=1e-12)
    r = route(conf, correct, costs, f.thresholds)  # the returned thresholds achieve the reported scores
    np.testing.assert_allclose(1.0 - r.error, f.frame["p_correct"], atol=1e-12)


def test_quantile_grid_masses():
    x = np.linspace(0, 1, 1001)[:, None]
    np.testing.assert_allclose(quantile_grid(x)[:, 0], 0.01 + 0.025 * np.arange(40))
    np.testing.assert_allclose(quantile_grid(x, step=0.25, offset=0.0)[:, 0], [0, 0.25, 0.5, 0.75])


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(expected_costs=np.ones(2)), "cost"),
        (dict(expected_costs=np.ones((120, 3))), "expected_costs"),
        (dict(correct=np.ones((120, 2))), "correct"),
        (dict(models=("a", "b")), "models"),
        (dict(accuracy="labels"), "accuracy"),
        (dict(conf_scale=3.0), "calibrated"),
    ],
)
def test_grid_search_bad_input_names_argument(kwargs, word):
    conf, correct, costs = _synthetic()
    args = dict(conf=conf * kwargs.pop("conf_scale", 1.0), correct=correct, expected_costs=costs) | kwargs
    with pytest.raises(DataValidationError, match=word):
        grid_search(**args)


def test_bayesian_optimization_small_problem():
    conf, correct, costs = _synthetic(n=100, k=3, seed=2)
    lambdas = np.geomspace(1e2, 1e5, 5)
    a = bayesian_optimization(conf, correct, costs, lambdas, n_trials=25, seed=3, models=("s", "m", "l"))
    # seeded: reproducible. The study of the i-th lambda depends on lambdas 0..i only (its seed, seed + i, and the
    # previous optimum it starts from), so a rerun on the first two lambdas must find the same first two optima
    # (7 studies of 25 GP-sampler trials in all instead of 10 for a rerun on all five)
    b = bayesian_optimization(conf, correct, costs, lambdas[:2], n_trials=25, seed=3, models=("s", "m", "l"))
    optima = a.frame.dropna(subset=["lam"])
    pd.testing.assert_frame_equal(optima.iloc[:2].reset_index(drop=True),
                                  b.frame.dropna(subset=["lam"]).reset_index(drop=True))
    assert a.method == "bayesian_optimization" and a.models == ("s", "m", "l")
    assert list(optima["lam"]) == pytest.approx(lambdas)
    # larger lambda -> cheaper optimum: costs fall with lambda up to small optimiser noise
    assert optima["e_cost"].iloc[-1] < optima["e_cost"].iloc[0]
    assert np.all(np.diff(optima["e_cost"]) <= 0.1 * optima["e_cost"].max())
    r = route(conf, conf, costs, a.thresholds)
    np.testing.assert_allclose(a.frame["e_cost"], r.cost)
    with pytest.raises(DataValidationError, match="lambdas"):
        bayesian_optimization(conf, correct, costs, [], n_trials=2)


def _check_reference(shared_dir, reference_dir, bench, cascades=None):
    """Compare grid-search test AUCs with the study's; returns the number of frontier-size mismatches."""
    from probcascade.calibration.calibrators import calibrate
    from probcascade.data.cascade import load_benchmark

    train, test = load_benchmark(shared_dir, f"{bench}_llama")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = calibrate(train, transform="two-sided" if bench == "truthfulqa" else "one-sided")
    phi_tr, phi_te = cal.predict(train), cal.predict(test)
    ref = pd.read_csv(reference_dir / "paper_cascade_auc_llama.csv")
    ref = ref[(ref.benchmark == bench) & (ref.method == "grid_search")]
    if cascades is not None:
        ref = ref[ref.cascade.isin(cascades)]
    size_mismatches = 0
    for _, row in ref.iterrows():
        idx = [train.models.index(m) for m in row.cascade.split("->")]
        f = grid_search(phi_tr[:, idx], train.correct[:, idx], train.cost[:, idx].mean(axis=0))
        ev = f.evaluate(phi_te[:, idx], test.correct[:, idx], test.cost[:, idx].mean(axis=0))
        x = ev["test_cost"].to_numpy() * 1e6
        lo, hi = max(row.cost_lo_per_1M, x.min()), min(row.cost_hi_per_1M, x.max())
        assert lo - row.cost_lo_per_1M < 1e-3 and row.cost_hi_per_1M - hi < 1e-3  # ranges agree to rounding
        assert curve_area(x, ev["test_error"], lo, hi) == pytest.approx(row.auc_norm, abs=1e-4), row.cascade
        assert abs(len(f) - row.frontier_points) <= 1
        size_mismatches += len(f) != row.frontier_points
    return size_mismatches


@pytest.mark.shared_data
def test_grid_search_reproduces_reference_aucs(shared_dir, reference_dir):
    """Grid-search frontiers scored on test reproduce the study's grid-search AUCs (MMLU, k = 2, 3, 4).

    The reference AUCs are printed to 6 decimals and their cost range to 4 decimals (USD per 1M queries), hence the
    tolerance of 1e-4.  Test costs are the cumulative per-model *test-mean* costs at the exit model.
    """
    cascades = [
        "llama3.2-1b->llama3.1-70b",
        "llama3.2-1b->llama3.1-8b->llama3.1-70b",
        "llama3.2-1b->llama3.2-3b->llama3.1-8b->llama3.1-70b",
    ]
    assert _check_reference(shared_dir, reference_dir, "mmlu", cascades) == 0


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("bench", ["mmlu", "medmcqa", "truthfulqa"])
def test_grid_search_reproduces_all_reference_aucs(shared_dir, reference_dir, bench):
    """All 26 cascades per benchmark; frontier sizes may differ by one point (3 of 78, MedMCQA, float ties)."""
    assert _check_reference(shared_dir, reference_dir, bench) <= 3
