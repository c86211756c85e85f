"""probcascade: probabilistic modelling and rational tuning of LLM cascades.

See the README for a tour.  Public entry points run in float64 (see :mod:`probcascade._x64`).
"""

from __future__ import annotations

from ._x64 import float64
from .exceptions import DataValidationError, FitError, SeparationWarning

__version__ = "0.1.0"

__all__ = ["float64", "DataValidationError", "FitError", "SeparationWarning", "__version__"]
