"""Estimation: EM for the point-mass beta mixture, Kendall's tau, pseudo-observations and copula fits."""

from .logistic import LogisticFit, fit_logistic
from .marginal import MarginalFit, as_params, fit_marginal
from .copulas import CopulaFit, pseudo_observations, kendall_tau, kendall_tau_matrix, fit_copula, compare_copulas

__all__ = ["LogisticFit", "fit_logistic", "fit_marginal", "MarginalFit", "as_params", "CopulaFit", "pseudo_observations", "kendall_tau", "kendall_tau_matrix", "fit_copula", "compare_copulas"]
