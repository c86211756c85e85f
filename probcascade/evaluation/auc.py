"""Scoring error-cost curves: the study's AUC and paired comparisons of two tuning methods.

* :func:`error_cost_auc` is the study's performance metric (§4.4 and Table 7 of the study): the area under two
  test error-vs-cost curves over the cost range both cover, linearly interpolated and divided by that range, so it
  is a mean error rate (lower is better) and two methods are always compared on the same costs.
  :func:`curve_area` is the same area for one curve on a given range.
* :func:`paired_wilcoxon` and :func:`percent_change` compare two methods' AUCs paired by cascade (the study's
  significance test and its percentage improvements).

NumPy, SciPy and pandas only, no JAX: the curves are small and scored once, after tuning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple
import numpy as np
import pandas as pd
from scipy import stats
from probcascade.exceptions import DataValidationError
from probcascade.summary import Summary
from probcascade.validation import check_array, check_choice, check_float, check_matching_rows

__all__ = ["AUCResult", "curve_area", "error_cost_auc", "PairedComparison", "paired_wilcoxon", "percent_change"]

# ------------------------------------------------------------------------------------------------------- AUC
def _curve(cost, err, suffix: str) -> tuple[np.ndarray, np.ndarray]:
    """Sort one error-cost curve by cost; at duplicate costs keep the lowest error (the lower envelope).

    ``suffix`` completes the argument names in messages (``"_a"``: ``'cost_a'`` and ``'err_a'``).
    """
    x = check_array(cost, f"cost{suffix}").ravel()
    y = check_array(err, f"err{suffix}").ravel()
    check_matching_rows(f"cost{suffix}", x, f"err{suffix}", y)
    if x.size == 0:
        raise DataValidationError(f"'cost{suffix}' is empty: the curve has no points")
    order = np.lexsort((y, x))
    x, y = x[order], y[order]
    first = np.concatenate([[True], x[1:] != x[:-1]])
    return x[first], y[first]


def curve_area(cost, err, lo: float, hi: float) -> float:
    """Normalised area under one error-cost curve on ``[lo, hi]``.

    The curve is sorted by cost (duplicate costs keep their lowest error), linearly interpolated, integrated
    exactly (trapezoid rule on the curve's own knots) from ``lo`` to ``hi`` and divided by ``hi - lo``.  ``[lo, hi]``
    must lie inside the curve's cost range.
    """
    x, y = _curve(cost, err, "")
    lo, hi = check_float(lo, "lo"), check_float(hi, "hi")   # Python floats: no np.float64(...) in the messages
    if not hi > lo:
        raise DataValidationError(f"degenerate cost range: lo={lo!r} must be < hi={hi!r}")
    if lo < x[0] or hi > x[-1]:
        raise DataValidationError(f"cost range [{lo}, {hi}] is outside the curve's costs [{x[0]}, {x[-1]}]")
    knots = np.concatenate([[lo], x[(x > lo) & (x < hi)], [hi]])
    return float(np.trapezoid(np.interp(knots, x, y), knots) / (hi - lo))


class AUCResult(NamedTuple):
    """Normalised areas of two error-cost curves on their common cost range ``[lo, hi]``."""

    auc_a: float
    auc_b: float
    lo: float
    hi: float


def error_cost_auc(cost_a, err_a, cost_b, err_b) -> AUCResult:
    """Area under two error-vs-cost curves on the cost range both cover (§4.4 and Table 7 of the study).

    Each curve is sorted by cost and linearly interpolated; both are integrated from the larger of the two minimum
    costs to the smaller of the two maximum costs and divided by that range, so the AUC is a mean error rate over
    the common cost range (lower is better).  Points with the same cost keep the lowest error: a duplicate cost
    means two threshold vectors with the same mean cost, and the better one is achievable at that cost (on the
    study's reference curves the choice makes no difference: docs/design_notes.md#evaluation).

    Parameters
    ----------
    cost_a, err_a, cost_b, err_b : array_like, shape (m_a,), (m_a,), (m_b,), (m_b,)
        Mean cost per query and error rate of each point of curves ``a`` and ``b`` (any order).

    Returns
    -------
    AUCResult
        ``(auc_a, auc_b, lo, hi)``.

    Raises
    ------
    DataValidationError
        When a curve is empty or non-finite, or the common cost range is empty or a single point.
    """
    xa, _ = _curve(cost_a, err_a, "_a")
    xb, _ = _curve(cost_b, err_b, "_b")
    lo, hi = max(xa[0], xb[0]), min(xa[-1], xb[-1])
    if not hi > lo:
        raise DataValidationError(
            f"the cost ranges of the two curves do not overlap in an interval: a covers [{xa[0]}, {xa[-1]}], "
            f"b covers [{xb[0]}, {xb[-1]}]"
        )
    return AUCResult(curve_area(cost_a, err_a, lo, hi), curve_area(cost_b, err_b, lo, hi), float(lo), float(hi))


# ------------------------------------------------------------------------------------------ paired comparison
def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = check_array(a, "auc_a").ravel()
    b = check_array(b, "auc_b").ravel()
    check_matching_rows("auc_a", a, "auc_b", b)  # paired: the same cascades in the same order
    if a.size == 0:
        raise DataValidationError("'auc_a' and 'auc_b' are empty: no pairs to compare")
    if np.any(b == 0):
        raise DataValidationError("'auc_b' contains 0: the percentage change is undefined")
    return a, b


def percent_change(auc_a, auc_b) -> float:
    """Mean percentage change of ``a`` relative to ``b``, ``mean(100 * (a - b) / b)`` (Table 7's %Delta)."""
    a, b = _paired(auc_a, auc_b)
    return float(np.mean(100.0 * (a - b) / b))


@dataclass(frozen=True)
class PairedComparison:
    """Paired comparison of two methods' AUCs over the same cascades (Table 7).

    Attributes
    ----------
    n : number of pairs (cascades).
    mean_a, mean_b : mean AUC of each method.
    pct_change : mean of ``100 * (a - b) / b`` (negative: ``a`` has the lower, better AUC).
    pct_change_se : standard error of that mean (the error bars of Figures 6-7).
    statistic, pvalue : Wilcoxon signed-rank test on the paired differences (``scipy.stats.wilcoxon``).
    alternative : the alternative hypothesis on ``a - b`` (``"less"``: ``a`` tends to be smaller).
    """

    n: int
    mean_a: float
    mean_b: float
    pct_change: float
    pct_change_se: float
    statistic: float
    pvalue: float
    alternative: str

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame of the comparison."""
        return pd.DataFrame([self.__dict__])

    def summary(self) -> Summary:
        """Readable table of the comparison (a :class:`~probcascade.summary.Summary`)."""
        return Summary("Paired Wilcoxon signed-rank test of AUC").add_dict({
            "pairs": self.n,
            "mean AUC a": self.mean_a,
            "mean AUC b": self.mean_b,
            "% change (a vs b)": self.pct_change,
            "% change std. error": self.pct_change_se,
            "Wilcoxon statistic": self.statistic,
            f"p-value ({self.alternative})": self.pvalue,
        }, float_format="{:.4g}")


def paired_wilcoxon(auc_a, auc_b, alternative: str = "less") -> PairedComparison:
    """Wilcoxon signed-rank test of two methods' AUCs paired by cascade, with the mean percentage change.

    The study tests ``wilcoxon(auc_baseline, auc_method, alternative="greater")``; with ``a`` the method and ``b``
    the baseline the default ``alternative="less"`` (``a - b`` tends to be negative) is the same test.  (The study
    calls it a "rank-sum" test; paired by cascade it is the signed-rank test.)

    Parameters
    ----------
    auc_a, auc_b : array_like, shape (m,)
        AUCs of the two methods on the same ``m`` cascades, in the same order.
    alternative : {"less", "greater", "two-sided"}
        Alternative hypothesis on the paired differences ``a - b``.
    """
    a, b = _paired(auc_a, auc_b)
    if a.size < 2:
        raise DataValidationError(f"the paired test needs at least 2 pairs, got {a.size}")
    check_choice(alternative, "alternative", ("less", "greater", "two-sided"))
    if np.all(a == b):
        raise DataValidationError("'auc_a' and 'auc_b' are identical: the Wilcoxon test is undefined")
    res = stats.wilcoxon(a, b, alternative=alternative)
    pct = 100.0 * (a - b) / b
    se = float(np.std(pct, ddof=1) / np.sqrt(pct.size))
    return PairedComparison(
        n=int(a.size),
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        pct_change=float(pct.mean()),
        pct_change_se=se,
        statistic=float(res.statistic),
        pvalue=float(res.pvalue),
        alternative=alternative,
    )
