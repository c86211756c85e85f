"""Guaranteed operating points: threshold vectors whose accuracy is certified >= a target with probability >= 1 - delta
over the labelled calibration sample (Learn-then-Test with fixed-sequence testing over candidates ordered by the
fitted model, :mod:`.certify`; p-values and the testing procedure, :mod:`.ltt`). The usual entry point is
:meth:`probcascade.Frontier.certify`."""

from probcascade.lazy import lazy_attributes

_LAZY = {
    "certify": ("Certification", "ORDERS", "calibration_scores", "cross_fit", "learn_then_test", "candidate_order"),
    "ltt": ("PVALUES", "binomial_pvalues", "clopper_pearson_lower", "fixed_sequence", "hoeffding_bentkus_pvalues",
            "pvalues", "select_cheapest"),
}

__all__ = ["Certification", "learn_then_test", "cross_fit", "calibration_scores", "candidate_order", "ORDERS", "PVALUES",
           "pvalues", "binomial_pvalues", "hoeffding_bentkus_pvalues", "fixed_sequence", "clopper_pearson_lower",
           "select_cheapest"]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
