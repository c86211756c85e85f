"""Goodness of fit (§4.3 of the study): Cramér-von Mises tests of the marginals, Kendall's-transform tests of the
copulas, the Markov-property check and the combined report."""

from .marginal import cvm_statistic, marginal_gof, MarginalGofResult
from .copula import CopulaGofResult, copula_gof, simulate_copula_gof, GOF_STATISTICS
from .markov import markov_logit_table
from .report import goodness_of_fit, GofReport, PairGof

__all__ = ["cvm_statistic", "marginal_gof", "MarginalGofResult", "CopulaGofResult", "copula_gof", "simulate_copula_gof", "GOF_STATISTICS", "markov_logit_table", "goodness_of_fit", "GofReport", "PairGof"]
