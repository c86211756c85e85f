"""Calibration and discrimination metrics of confidence scores against 0/1 correctness.

Binning follows §4.2 of the study: *adaptive* bins whose edges are the quantiles (deciles by default) of the
scores being evaluated; a score equal to an inner edge falls in the upper bin, the maximum in the last bin. Bins
can hold unequal counts when scores tie (e.g. certainty reassigned to one value).

* ECE  = sum_b (n_b / n) |mean(score_b) - mean(y_b)|     (weighted by bin size; Table 1's %ECE / 100)
* ACE  = (1/|B|) sum_b |mean(score_b) - mean(y_b)|       (eq. 2 of Hovsepian et al. 2024: unweighted mean over
  non-empty bins)
* Brier = mean((score - y)^2); NLL = -mean(y log s + (1-y) log(1-s)); AUROC = P(score_correct > score_wrong) + ties/2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from probcascade.validation import check_array, check_choice, check_int, check_matching_rows

__all__ = ["bin_indices", "reliability_table", "ece", "ace", "brier_score", "nll", "auroc", "calibration_metrics"]

def bin_indices(scores: np.ndarray, n_bins: int = 10, strategy: str = "quantile") -> np.ndarray:
    """Bin index of every score (0..n_bins-1); ``strategy`` is ``"quantile"`` (adaptive) or ``"uniform"``."""
    check_int(n_bins, "n_bins", low=1)
    check_choice(strategy, "strategy", ("quantile", "uniform"))
    s = check_array(scores, "scores", min_rows=1)
    if strategy == "quantile":
        edges = np.quantile(s, np.linspace(0.0, 1.0, int(n_bins) + 1))
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    return np.clip(np.searchsorted(edges, s, side="right") - 1, 0, int(n_bins) - 1)


def reliability_table(scores: np.ndarray, y: np.ndarray, n_bins: int = 10, strategy: str = "quantile") -> pd.DataFrame:
    """Per-bin count, mean score, accuracy and a 95% Wilson interval of the accuracy (non-empty bins only)."""
    s = check_array(scores, "scores", ndim=1, unit_interval=True, min_rows=1)
    t = check_array(y, "correct", ndim=1, binary=True)
    check_matching_rows("scores", s, "correct", t)
    idx = bin_indices(s, n_bins, strategy)
    frame = pd.DataFrame({"bin": idx, "score": s, "y": t}).groupby("bin").agg(
        n=("y", "size"), mean_score=("score", "mean"), accuracy=("y", "mean"), lo=("score", "min"), hi=("score", "max")
    )
    z = stats.norm.ppf(0.975)
    n, p = frame["n"].to_numpy(), frame["accuracy"].to_numpy()
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    frame["acc_ci_low"], frame["acc_ci_high"] = centre - half, centre + half
    return frame


def ece(scores: np.ndarray, y: np.ndarray, n_bins: int = 10, strategy: str = "quantile") -> float:
    """Expected calibration error with adaptive (quantile) bins by default."""
    tab = reliability_table(scores, y, n_bins, strategy)
    return float(np.sum(tab["n"] / tab["n"].sum() * np.abs(tab["mean_score"] - tab["accuracy"])))


def ace(scores: np.ndarray, y: np.ndarray, n_bins: int = 10) -> float:
    """Adaptive calibration error (eq. 2 of Hovsepian et al. 2024): unweighted mean gap over the non-empty quantile
    bins."""
    tab = reliability_table(scores, y, n_bins, "quantile")
    return float(np.mean(np.abs(tab["mean_score"] - tab["accuracy"])))


def brier_score(scores: np.ndarray, y: np.ndarray) -> float:
    s = check_array(scores, "scores", ndim=1, unit_interval=True, min_rows=1)
    t = check_array(y, "correct", ndim=1, binary=True)
    check_matching_rows("scores", s, "correct", t)
    return float(np.mean((s - t) ** 2))


def nll(scores: np.ndarray, y: np.ndarray, eps: float = 1e-15) -> float:
    """Mean negative log-likelihood (scores clipped to [eps, 1-eps])."""
    s = check_array(scores, "scores", ndim=1, unit_interval=True, min_rows=1)
    t = check_array(y, "correct", ndim=1, binary=True)
    check_matching_rows("scores", s, "correct", t)
    s = np.clip(s, eps, 1 - eps)
    return float(-np.mean(t * np.log(s) + (1 - t) * np.log1p(-s)))


def auroc(scores: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for predicting ``y`` (Mann-Whitney, ties count 1/2); NaN if one class."""
    s = check_array(scores, "scores", ndim=1, unit_interval=True, min_rows=1)
    t = check_array(y, "correct", ndim=1, binary=True)
    check_matching_rows("scores", s, "correct", t)
    n1, n0 = int(t.sum()), int((1 - t).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = stats.rankdata(s)
    return float((ranks[t == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def calibration_metrics(scores: np.ndarray, y: np.ndarray, n_bins: int = 10) -> dict[str, float]:
    """ECE, ACE, Brier, NLL and AUROC in one dict."""
    return {
        "ece": ece(scores, y, n_bins),
        "ace": ace(scores, y, n_bins),
        "brier": brier_score(scores, y),
        "nll": nll(scores, y),
        "auroc": auroc(scores, y),
    }
