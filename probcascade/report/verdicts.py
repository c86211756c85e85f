"""Plain-language verdicts for the report's tests: what a p-value says about the model, in one phrase.

The wording is deliberately graded rather than a pass/fail: a bootstrap p-value of ``1 / (B + 1)`` is the smallest
that ``B`` replicates can give, so "strong evidence" below 0.01 is as far as a small ``B`` can go.
"""

from __future__ import annotations

import math

__all__ = ["LEVELS", "markov_verdict", "p_value_verdict"]

#: (upper bound of the p-value, verdict), checked in order.
LEVELS = (
    (0.01, "strong evidence against the model (p < 0.01)"),
    (0.05, "some evidence against the model (p < 0.05)"),
    (0.10, "weak evidence against the model (p < 0.10)"),
    (math.inf, "consistent with the model (p >= 0.10)"),
)


def p_value_verdict(p: float, n_boot: int | None = None) -> str:
    """Verdict on a goodness-of-fit p-value (missing or NaN: "not tested"); with ``n_boot``, a p-value at the
    bootstrap's floor ``1 / (n_boot + 1)`` says so (a larger B could give a smaller one)."""
    if p is None or not math.isfinite(float(p)):
        return "not tested"
    text = next(text for bound, text in LEVELS if float(p) < bound)
    if n_boot is not None and float(p) <= 1.0 / (int(n_boot) + 1) + 1e-12:
        text += f", the least B = {int(n_boot)} can show"
    return text


def markov_verdict(log10_p_ancestor: float, coef_markov: float, coef_ancestor: float, alpha: float = 0.05) -> str:
    """Verdict on one row of the Markov table (Table 3 of the study): does the earlier ancestor add to the
    immediate predecessor when predicting correctness?"""
    if not math.isfinite(float(log10_p_ancestor)):
        return "not tested"
    if float(log10_p_ancestor) >= math.log10(alpha):
        return "holds: the ancestor adds nothing detectable"
    if abs(float(coef_ancestor)) < abs(float(coef_markov)):
        return "approximately holds: the ancestor adds less than the predecessor"
    return "violated: the ancestor adds more than the predecessor"
