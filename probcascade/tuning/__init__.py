"""Tuning: rational tuning of eq. 11 (gradient descent over a lambda sweep), grid search and Bayesian-optimisation
baselines behind one :class:`Tuner` protocol and registry, their options (:class:`TuneOptions`) and the
:class:`Frontier` they return."""

from .base import BayesianOptimizationTuner, GridTuner, RationalTuner, Tuner, TuningProblem, get_tuner, register_tuner, tuner_names
from .bo import bayesian_optimization
from .frontier import Frontier, infill, pareto_mask
from .grid import grid_search, quantile_grid
from .options import TuneOptions
from .rational import best_subcascade, lambda_grid, objective, tune

__all__ = ["Frontier", "TuneOptions", "Tuner", "TuningProblem", "register_tuner", "get_tuner", "tuner_names",
           "RationalTuner", "GridTuner", "BayesianOptimizationTuner", "tune", "lambda_grid", "objective",
           "best_subcascade", "grid_search", "quantile_grid", "bayesian_optimization", "pareto_mask", "infill"]
