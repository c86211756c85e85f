"""Routing policies: what a fitted routing rule is (:class:`Policy`, returning :class:`Decisions`) and its
implementations. The threshold cascade is tuned by :mod:`probcascade.tuning`; a new policy implements the protocol
and can then be scored by :func:`probcascade.evaluation.score_policy` and stored in a
:class:`~probcascade.Frontier`."""

from .base import Decisions, Policy
from .threshold import ThresholdPolicy, per_query_costs

__all__ = ["Policy", "Decisions", "ThresholdPolicy", "per_query_costs"]
