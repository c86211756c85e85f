"""Distributions of calibrated confidence: the point-mass beta mixture (one model) and the bivariate copula families
(two models), as NumPyro ``Distribution`` s. The pure functional form of the marginal (``cdf(params, x)``, ...) is in
:mod:`probcascade.distributions.marginal`."""

from .copulas import COPULA_FAMILIES, ClaytonCopula, Copula, FrankCopula, GumbelCopula, IndependenceCopula, SurvivalGumbelCopula, get_family
from .marginal import MarginalParams, PointMassBetaMixture, stack_params

__all__ = ["MarginalParams", "PointMassBetaMixture", "stack_params", "Copula", "GumbelCopula", "ClaytonCopula",
           "FrankCopula", "SurvivalGumbelCopula", "IndependenceCopula", "COPULA_FAMILIES", "get_family"]
