"""probcascade: probabilistic modelling and rational tuning of LLM cascades.

The package implements the Markov-copula model of a cascade's calibrated confidences and its rational tuning from

    Michael J. Zellinger and Matt Thomson. "Rational Tuning of LLM Cascades via Probabilistic Modeling".
    Transactions on Machine Learning Research, 2025. arXiv:2501.09345.

referred to throughout the package as "the study", with its section, equation, table and algorithm numbers
(e.g. "eq. 11 of the study", "the study's Algorithm 1"). The softmax scaling of class logits, the choice of
calibration data and the binned cascading ensemble follow

    Karen Hovsepian, Dantong Liu and Sugumar Murugesan. "Label with Confidence: Effective Confidence Calibration
    and Ensembles in LLM-Powered Classification". GenAIECommerce workshop, 2024.

referred to as Hovsepian et al. (2024). Measurements behind the implementation choices: docs/design_notes.md.

Subpackages, in the order data flows: :mod:`~probcascade.data` (cascade data, synthetic data, selection) ->
:mod:`~probcascade.calibration` -> :mod:`~probcascade.distributions` (marginals, copulas) ->
:mod:`~probcascade.estimation` -> :mod:`~probcascade.joint` (the Markov-copula model of a cascade) ->
:mod:`~probcascade.gof` -> :mod:`~probcascade.policies` -> :mod:`~probcascade.tuning` ->
:mod:`~probcascade.evaluation`, with :mod:`~probcascade.plots` and :mod:`~probcascade.cli` on top. This module
re-exports the curated public API; everything else is reached through its subpackage.

Public entry points run in float64 (see :mod:`probcascade.precision`).
"""

from __future__ import annotations

from probcascade._version import __version__
from probcascade.calibration import CascadeCalibration, calibrate
from probcascade.data import CascadeData, load_benchmark, load_shared, make_synthetic_cascade, synthetic_train_test
from probcascade.estimation import fit_copula, fit_marginal
from probcascade.evaluation import error_cost_auc, route, score_policy
from probcascade.exceptions import DataValidationError, FitError, ProbcascadeError, ProbcascadeWarning, SeparationWarning
from probcascade.gof import copula_gof, goodness_of_fit, marginal_gof
from probcascade.joint import MarkovCopulaModel, fit_markov_copula
from probcascade.precision import float64
from probcascade.policies import BinnedEnsemblePolicy, Decisions, Policy, ThresholdPolicy, train_ensemble
from probcascade.summary import Summary
from probcascade.tuning import Frontier, TuneOptions, Tuner, get_tuner, grid_search, register_tuner, tune

__all__ = [
    "__version__",
    # data
    "CascadeData", "load_benchmark", "load_shared", "make_synthetic_cascade", "synthetic_train_test",
    # calibration
    "calibrate", "CascadeCalibration",
    # model
    "fit_marginal", "fit_copula", "fit_markov_copula", "MarkovCopulaModel",
    # goodness of fit
    "goodness_of_fit", "marginal_gof", "copula_gof",
    # policies and tuning
    "Policy", "Decisions", "ThresholdPolicy", "BinnedEnsemblePolicy", "train_ensemble", "tune", "grid_search", "Frontier", "TuneOptions", "Tuner",
    "get_tuner", "register_tuner",
    # evaluation
    "route", "score_policy", "error_cost_auc",
    # results, precision, errors
    "Summary", "float64", "ProbcascadeError", "DataValidationError", "FitError", "ProbcascadeWarning",
    "SeparationWarning",
]
