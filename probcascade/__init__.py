"""probcascade: probabilistic modelling and rational tuning of LLM cascades.

Modules, in the order data flows: :mod:`~probcascade.data` -> :mod:`~probcascade.transforms` ->
:mod:`~probcascade.calibration` (and :mod:`~probcascade.softmax_scaling`, :mod:`~probcascade.selection`) ->
:mod:`~probcascade.marginals` -> :mod:`~probcascade.copulas` -> :mod:`~probcascade.markov_copula` ->
:mod:`~probcascade.tuning` (and :mod:`~probcascade.baselines`, :mod:`~probcascade.frontier`) ->
:mod:`~probcascade.evaluation` / :mod:`~probcascade.metrics` -> :mod:`~probcascade.pipeline` / :mod:`~probcascade.cli`.

Public entry points run in float64 (see :mod:`probcascade._x64`).
"""

from __future__ import annotations

from ._x64 import float64
from .calibration import CascadeCalibration, calibrate
from .data import CascadeData, load_benchmark, load_shared
from .exceptions import DataValidationError, FitError, SeparationWarning
from .frontier import Frontier
from .markov_copula import MarkovCopulaModel, fit_markov_copula
from .tuning import tune

__version__ = "0.1.0"

__all__ = [
    "float64", "CascadeData", "load_benchmark", "load_shared", "calibrate", "CascadeCalibration",
    "fit_markov_copula", "MarkovCopulaModel", "tune", "Frontier",
    "DataValidationError", "FitError", "SeparationWarning", "__version__",
]
