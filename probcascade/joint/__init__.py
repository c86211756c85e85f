"""The joint model of a cascade: look-up tables of the marginals, the exact Markov-chain evaluation, the study's
Algorithm 1, the correctness model and :class:`MarkovCopulaModel`."""

from .tables import CascadeParams, ChainGrid, MarginalTable, build_table, table_cdf, table_partial_expectation
from .model import MarkovCopulaModel, CascadeModel, fit_markov_copula, cell_of, AIC_FAMILIES
from .chain import CHAIN_FAMILIES, ChainSpec, cascade_metrics
from .abstention import ABSTENTION_METRICS, abstention_metrics, predict_abstention
from .correctness import PairwiseCorrectness, fit_pairwise_correctness, ratio_matrix, check_correctness, CORRECTNESS

__all__ = ["CascadeParams", "ChainGrid", "MarginalTable", "build_table", "table_cdf", "table_partial_expectation", "MarkovCopulaModel", "CascadeModel", "fit_markov_copula", "cell_of", "AIC_FAMILIES", "cascade_metrics", "ChainSpec", "CHAIN_FAMILIES", "PairwiseCorrectness", "fit_pairwise_correctness", "ratio_matrix", "check_correctness", "CORRECTNESS", "abstention_metrics", "predict_abstention", "ABSTENTION_METRICS"]
