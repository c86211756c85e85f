"""Routing policies: what a fitted routing rule is (:class:`Policy`, returning :class:`Decisions`) and its
implementations: the threshold cascade (tuned by :mod:`probcascade.tuning`) and the binned cascading ensemble of
Hovsepian et al. (2024) (:mod:`.ensemble`). A new policy implements the protocol and can then be scored by
:func:`probcascade.evaluation.score_policy` and stored in a :class:`~probcascade.Frontier`."""

from .abstention import AbstentionDecisions, AbstentionPolicy, AbstentionScores, route_abstention
from .base import Decisions, Policy
from .ensemble import BinnedEnsemblePolicy, default_mus, train_ensemble, train_ensemble_sweep
from .ensemble_strategies import STRATEGIES, Answers, read_answers, register_strategy
from .ensemble_train import Binning
from .threshold import ThresholdPolicy, per_query_costs

__all__ = ["Policy", "Decisions", "ThresholdPolicy", "per_query_costs", "BinnedEnsemblePolicy", "Binning",
           "train_ensemble", "train_ensemble_sweep", "default_mus", "Answers", "read_answers", "STRATEGIES",
           "register_strategy", "AbstentionPolicy", "AbstentionDecisions", "AbstentionScores", "route_abstention"]
