"""Evaluation on data: routing queries through threshold vectors or any policy, error-cost AUCs and paired
comparisons."""

from .auc import AUCResult, PairedComparison, curve_area, error_cost_auc, paired_wilcoxon, percent_change
from .rejection import (RiskCoverage, ThresholdCheck, accuracy_at_coverage, aurc, coverage_at_accuracy,
                        prediction_rejection_ratio, prediction_rejection_ratio_replicates, risk_coverage,
                        threshold_check)
from .routing import PolicyScore, Routing, route, score_policy
from .routing_analysis import (ParityResult, PrefixOutput, RoutingCurve, aiq, cascade_prefix_output, cost_quality_hull,
                               parity_routing_rate, routing_curve)
from .signals import AUROCResult, DeLongTest, auroc_delong, compare_signals, delong_test

__all__ = ["Routing", "route", "PolicyScore", "score_policy", "AUCResult", "curve_area", "error_cost_auc",
           "PairedComparison", "paired_wilcoxon", "percent_change",
           "RiskCoverage", "risk_coverage", "aurc", "prediction_rejection_ratio",
           "prediction_rejection_ratio_replicates", "accuracy_at_coverage",
           "coverage_at_accuracy", "ThresholdCheck", "threshold_check",
           "RoutingCurve", "routing_curve", "PrefixOutput", "cascade_prefix_output", "ParityResult",
           "parity_routing_rate", "aiq", "cost_quality_hull",
           "AUROCResult", "auroc_delong", "DeLongTest", "delong_test", "compare_signals"]
