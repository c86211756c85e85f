"""Evaluation on data: routing queries through threshold vectors or any policy, error-cost AUCs and paired
comparisons."""

from .auc import AUCResult, PairedComparison, curve_area, error_cost_auc, paired_wilcoxon, percent_change
from .routing import PolicyScore, Routing, route, score_policy

__all__ = ["Routing", "route", "PolicyScore", "score_policy", "AUCResult", "curve_area", "error_cost_auc",
           "PairedComparison", "paired_wilcoxon", "percent_change"]
