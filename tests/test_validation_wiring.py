"""Every subpackage validates through probcascade.validation: a flag passed as a count (``True``) and a NaN in an
array are rejected by the public functions with a message that starts with the argument's name.

Each check fails before any fitting or compilation, so these tests are fast.
"""

from __future__ import annotations

import numpy as np
import pytest

from probcascade.exceptions import DataValidationError

NAN_1D = [0.2, np.nan, 0.4, 0.6, 0.8]
GOOD_1D = [0.2, 0.3, 0.4, 0.6, 0.8]


def _rejects(call, pattern: str) -> None:
    with pytest.raises(DataValidationError, match=pattern):
        call()


# -------------------------------------------------------------------------------------------------- data/
def test_data_rejects_bool_counts_and_nan():
    from probcascade.data import make_synthetic_cascade, select_calibration_data, balanced_pairs_subset

    _rejects(lambda: select_calibration_data(GOOD_1D, n=True), r"^'n' must be an integer in \[1, 5\]")
    _rejects(lambda: select_calibration_data(GOOD_1D, n=2, method="stratified", n_strata=True), r"^'n_strata'")
    _rejects(lambda: make_synthetic_cascade(n=True), r"^'n' must be an integer >= 1 .*got True")
    _rejects(lambda: balanced_pairs_subset(np.eye(8, 2, dtype=int), target=True), r"^'target' must be an integer")
    _rejects(lambda: select_calibration_data(NAN_1D, n=2), r"^'scores' contains NaN")


# ------------------------------------------------------------------------------------------- calibration/
def test_calibration_rejects_bool_counts_and_nan():
    from probcascade.calibration import ConfidenceTransform, ece
    from probcascade.calibration.metrics import bin_indices

    _rejects(lambda: bin_indices(GOOD_1D, n_bins=True), r"^'n_bins' must be an integer >= 1, got True")
    _rejects(lambda: ece(GOOD_1D, [1, 0, 1, 0, 1], n_bins=True), r"^'n_bins'")
    _rejects(lambda: ece(NAN_1D, [1, 0, 1, 0, 1]), r"^'scores' contains NaN")
    # per-model context kept in front of the argument's name
    _rejects(lambda: ConfidenceTransform(model="gpt").fit(np.log(NAN_1D)), r"^model 'gpt': 'raw_logprob' contains NaN")


# ---------------------------------------------------------------------------------------- distributions/
def test_distributions_copula_parameter_rejects_bool_and_nan():
    from probcascade.distributions import get_family
    from probcascade.gof import copula_gof

    # the copula parameter check of distributions/ (reached through the public goodness-of-fit test)
    _rejects(lambda: copula_gof(GOOD_1D, GOOD_1D, theta=True), r"^gumbel copula: 'theta' must be a number")
    _rejects(lambda: copula_gof(GOOD_1D, GOOD_1D, theta=np.nan), r"^gumbel copula: 'theta' must be a number")
    _rejects(lambda: get_family(True), r"^'family' must be one of")


# ------------------------------------------------------------------------------------------- estimation/
def test_estimation_rejects_bool_counts_and_nan():
    from probcascade.estimation import fit_copula, fit_marginal

    _rejects(lambda: fit_marginal(GOOD_1D, n_components=True), r"^'n_components' must be an integer >= 1, got True")
    _rejects(lambda: fit_marginal(GOOD_1D, n_iter=True), r"^'n_iter'")
    _rejects(lambda: fit_marginal(NAN_1D), r"^'phi' contains NaN")
    _rejects(lambda: fit_copula(NAN_1D, GOOD_1D), r"^'u' contains NaN")


# -------------------------------------------------------------------------------------------------- joint/
def test_joint_rejects_bool_counts_and_nan():
    from probcascade.joint import fit_markov_copula

    phi = np.column_stack([GOOD_1D, GOOD_1D[::-1]])
    _rejects(lambda: fit_markov_copula(phi, ["a", "b"], min_interior=True), r"^'min_interior' must be an integer")
    _rejects(lambda: fit_markov_copula(np.column_stack([GOOD_1D, NAN_1D]), ["a", "b"]),
             r"^'phi' column 1 \('b'\) contains NaN")


# ---------------------------------------------------------------------------------------------------- gof/
def test_gof_rejects_bool_counts_and_nan():
    from probcascade.gof import copula_gof, marginal_gof

    _rejects(lambda: copula_gof(GOOD_1D, GOOD_1D, n_boot=True), r"^'n_boot' must be an integer >= 1, got True")
    _rejects(lambda: marginal_gof(GOOD_1D, GOOD_1D, n_boot=True), r"^'n_boot' must be an integer >= 1, got True")
    _rejects(lambda: marginal_gof(GOOD_1D, GOOD_1D, seed=True), r"^'seed'")
    _rejects(lambda: copula_gof(GOOD_1D, NAN_1D), r"^'v' contains NaN")
    _rejects(lambda: marginal_gof(GOOD_1D, NAN_1D), r"^'test_phi' contains NaN")


# ------------------------------------------------------------------------------------------------ tuning/
def test_tuning_rejects_bool_counts_and_nan():
    from probcascade.tuning import TuneOptions, grid_search, infill, lambda_grid

    conf = np.tile(np.array(GOOD_1D)[:, None], (1, 2))
    correct = np.ones((5, 2))
    _rejects(lambda: TuneOptions(n_steps=True), r"^'n_steps' must be an integer")
    _rejects(lambda: grid_search(conf, correct, [1.0, 2.0], max_block=True), r"^'max_block' must be an integer")
    _rejects(lambda: infill([[0.0], [1.0]], [lambda t: t], max_rounds=True), r"^'max_rounds' must be an integer")
    _rejects(lambda: lambda_grid([1.0, np.nan]), r"^'costs' contains NaN")
    _rejects(lambda: grid_search(np.where(np.eye(5, 2) > 0, np.nan, conf), correct, [1.0, 2.0]),
             r"^'conf' column 0 contains NaN")


# -------------------------------------------------------------------------------------------- evaluation/
def test_evaluation_rejects_bool_counts_and_nan():
    from probcascade.evaluation import error_cost_auc, route

    conf = np.tile(np.array(GOOD_1D)[:, None], (1, 2))
    _rejects(lambda: route(conf, np.ones((5, 2)), [1.0, 2.0], [[0.5]], batch_size=True),
             r"^'batch_size' must be an integer >= 1, got True")
    _rejects(lambda: route(np.column_stack([GOOD_1D, NAN_1D]), np.ones((5, 2)), [1.0, 2.0], [[0.5]]),
             r"^'conf' column 1 contains NaN")
    _rejects(lambda: error_cost_auc([0.0, 1.0], [0.1, np.nan], [0.0, 1.0], [0.1, 0.1]), r"^'err_a' contains NaN")


# ---------------------------------------------------------------------------------------------- policies/
def test_policies_reject_nan():
    # a threshold policy has no count to pass; its arrays are checked the same way
    from probcascade.policies import ThresholdPolicy

    _rejects(lambda: ThresholdPolicy(("a", "b"), [np.nan]), r"^'thresholds' contains NaN")
    policy = ThresholdPolicy(("a", "b"), [0.5])
    _rejects(lambda: policy.route(np.column_stack([GOOD_1D, NAN_1D]), [1.0, 2.0]), r"^'conf' column 1 contains NaN")


# ------------------------------------------------------------------------------------------------- plots/
def test_plots_reject_bool_counts_and_nan():
    pytest.importorskip("matplotlib")
    from probcascade.distributions.marginal import MarginalParams
    from probcascade.plots.copulas import plot_copula_scatter
    from probcascade.plots.marginals import plot_marginal

    params = MarginalParams(lo=0.0, hi=1.0, w_lo=0.1, w_hi=0.1, mix=np.ones(1), alpha=np.ones(1), beta=np.ones(1))
    _rejects(lambda: plot_marginal(params, GOOD_1D, bins=True), r"^'bins' must be an integer >= 1, got True")
    _rejects(lambda: plot_marginal(params, NAN_1D), r"^'phi' contains NaN")
    _rejects(lambda: plot_copula_scatter(GOOD_1D, GOOD_1D, n_sample=True), r"^'n_sample' must be an integer")
    _rejects(lambda: plot_copula_scatter(NAN_1D, GOOD_1D), r"^'u' contains NaN")
