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

from probcascade.lazy import lazy_attributes

from probcascade._version import __version__

# The curated public API, imported on first use (PEP 562): ``import probcascade`` and the command line's ``--help``
# stay free of JAX; ``from probcascade import X``, ``probcascade.X`` and ``dir(probcascade)`` work as with eager imports.
_LAZY = {
    "probcascade.calibration": ("CascadeCalibration", "calibrate"),
    "probcascade.compilation_cache": ("enable_compilation_cache",),
    "probcascade.data": ("CascadeData", "load_benchmark", "load_shared", "make_synthetic_cascade",
                         "synthetic_train_test"),
    "probcascade.estimation": ("fit_copula", "fit_marginal"),
    "probcascade.evaluation": ("error_cost_auc", "route", "score_policy"),
    "probcascade.exceptions": ("DataValidationError", "FitError", "ProbcascadeError", "ProbcascadeWarning",
                               "SeparationWarning"),
    "probcascade.gof": ("copula_gof", "goodness_of_fit", "marginal_gof"),
    "probcascade.guarantees": ("Certification", "learn_then_test"),
    "probcascade.joint": ("MarkovCopulaModel", "fit_markov_copula"),
    "probcascade.posterior": ("fit_posterior",),
    "probcascade.precision": ("float64",),
    "probcascade.policies": ("BinnedEnsemblePolicy", "Decisions", "Policy", "ThresholdPolicy", "train_ensemble"),
    "probcascade.summary": ("Summary",),
    "probcascade.tuning": ("Frontier", "TuneOptions", "Tuner", "get_tuner", "grid_search", "register_tuner", "tune"),
}




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
    # guaranteed operating points (Learn-then-Test)
    "Certification", "learn_then_test",
    # policies and tuning
    "Policy", "Decisions", "ThresholdPolicy", "BinnedEnsemblePolicy", "train_ensemble", "tune", "grid_search", "Frontier", "TuneOptions", "Tuner",
    "get_tuner", "register_tuner",
    # evaluation
    "route", "score_policy", "error_cost_auc",
    # posterior uncertainty (NumPyro)
    "fit_posterior",
    # results, precision, compilation cache, errors
    "Summary", "float64", "enable_compilation_cache", "ProbcascadeError", "DataValidationError", "FitError", "ProbcascadeWarning",
    "SeparationWarning",
]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
