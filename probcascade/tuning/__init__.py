"""Tuning: rational tuning of eq. 11 (gradient descent over a lambda sweep), grid search and Bayesian-optimisation
baselines behind one :class:`Tuner` protocol and registry, their options (:class:`TuneOptions`) and the
:class:`Frontier` they return."""

from probcascade.lazy import lazy_attributes

# Imported on first use (PEP 562), so that the registry (.base) and the options (.options) load without JAX.
_LAZY = {
    "abstention": ("abstention_objective", "default_nu_grid", "tune_abstention"),
    "abstention_frontier": ("AbstentionFrontier", "pareto_mask_nd"),
    "base": ("BayesianOptimizationTuner", "GridTuner", "RationalTuner", "Tuner", "TuningProblem", "get_tuner",
             "register_tuner", "tuner_names"),
    "bo": ("bayesian_optimization",),
    "frontier": ("Frontier", "infill", "pareto_mask"),
    "grid": ("grid_search", "quantile_grid"),
    "options": ("TuneOptions",),
    "rational": ("best_subcascade", "lambda_grid", "objective", "tune", "tune_many"),
    "recommended": ("ModelChoice", "recommended_model", "resolve_model"),
}

__all__ = ["Frontier", "TuneOptions", "Tuner", "TuningProblem", "register_tuner", "get_tuner", "tuner_names",
           "RationalTuner", "GridTuner", "BayesianOptimizationTuner", "tune", "lambda_grid", "objective",
           "best_subcascade", "grid_search", "quantile_grid", "bayesian_optimization", "pareto_mask", "infill",
           "tune_abstention", "abstention_objective", "default_nu_grid", "AbstentionFrontier", "pareto_mask_nd",
           "ModelChoice", "recommended_model", "resolve_model", "tune_many"]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
