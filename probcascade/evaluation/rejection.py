"""Rejection (selective prediction) on data: answer only the most confident queries, abstain on the rest.

* :func:`risk_coverage` is the risk-coverage curve of one confidence signal and its area (AURC, Geifman et al.
  2019, with the excess over the oracle ordering, e-AURC).
* :func:`prediction_rejection_ratio` is PRR as lm-polygraph reports it (``PredictionRejectionArea`` normalised by
  its random and oracle values): ``(A_unc - A_rand) / (A_oracle - A_rand)`` with ``A`` the area under the
  accuracy-of-kept-answers vs rejected-share curve. 1 is an oracle ordering, 0 a random one.
* :func:`accuracy_at_coverage`, :func:`coverage_at_accuracy`: single operating points of the curve.
* :func:`threshold_check` is Appendix E of the study: accuracy among the queries with confidence ``>= q`` should be
  at least ``q``, with Clopper-Pearson bands on that accuracy.

Ties are handled as blocks. Answering the ``k`` most confident queries is ambiguous when confidences tie across
the ``k``-th position; every quantity at a share ``k / n`` is then its expectation over a random order inside the
tied block, which is the same as giving every member of a tied block the block's mean correctness
(:func:`sorted_with_tie_means`). Without ties this is the plain sort; lm-polygraph's ``np.argsort`` breaks ties by
position instead, so the two agree exactly when the confidences are distinct.

``correct`` may be 0/1 or a probability of correctness (an expected accuracy); :func:`threshold_check` needs 0/1.
NumPy and SciPy only: one sort per signal, no compilation.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from probcascade.exceptions import DataValidationError
from probcascade.summary import Summary
from probcascade.validation import (
    check_array,
    check_float,
    check_matching_rows,
    check_probability,
)

__all__ = ["RiskCoverage", "risk_coverage", "aurc", "prediction_rejection_ratio",
           "prediction_rejection_ratio_replicates", "accuracy_at_coverage",
           "coverage_at_accuracy", "ThresholdCheck", "threshold_check"]

_EPS = 1e-12


# ------------------------------------------------------------------------------------------------ helpers
def check_scored(conf, correct, *, binary: bool = False, conf_name: str = "conf") -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(conf, correct)``: finite 1-D confidences and 0/1 (or [0, 1]) correctness of equal length."""
    c = check_array(conf, conf_name, ndim=1, min_rows=1)
    y = check_array(correct, "correct", ndim=1, min_rows=1, binary=binary, unit_interval=not binary)
    check_matching_rows(conf_name, c, "correct", y)
    return c, y


def sorted_with_tie_means(conf: np.ndarray, values: np.ndarray, *, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(conf, values)`` sorted by confidence, each value replaced by the mean over its block of tied confidences.

    The prefix sums of the result are the expected prefix sums over a random order inside each tied block.
    """
    order = np.argsort(-conf if descending else conf, kind="stable")
    c, v = conf[order], values[order].astype(float)
    new = np.concatenate([[True], c[1:] != c[:-1]])
    block = np.cumsum(new) - 1
    sums = np.bincount(block, weights=v)
    counts = np.bincount(block)
    return c, (sums / counts)[block]


def _kept_accuracy(conf: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy of the ``k`` most confident answers for ``k = 1..n`` (ties as blocks), and the sorted confidences."""
    c, y = sorted_with_tie_means(conf, correct, descending=True)
    k = np.arange(1, y.size + 1)
    return np.cumsum(y) / k, c


def _oracle_accuracy(correct: np.ndarray) -> np.ndarray:
    y = np.sort(correct)[::-1]
    return np.cumsum(y) / np.arange(1, y.size + 1)


# ------------------------------------------------------------------------------------------- risk-coverage
class RiskCoverage(NamedTuple):
    """The risk-coverage curve of one signal and its areas.

    ``coverage[k - 1] = k / n`` is the share answered when the ``k`` most confident queries are answered,
    ``risk`` the error rate among them (ties as blocks), ``accuracy = 1 - risk`` and ``threshold`` the
    confidence of the ``k``-th most confident query. ``aurc`` is the mean of ``risk`` over ``k = 1..n``
    (lower is better), ``aurc_oracle`` the same for the ordering by correctness and ``eaurc`` their difference.
    """

    coverage: np.ndarray
    risk: np.ndarray
    accuracy: np.ndarray
    threshold: np.ndarray
    aurc: float
    aurc_oracle: float
    eaurc: float

    def to_frame(self) -> pd.DataFrame:
        """The curve as a DataFrame (columns ``coverage``, ``risk``, ``accuracy``, ``threshold``)."""
        return pd.DataFrame({"coverage": self.coverage, "risk": self.risk, "accuracy": self.accuracy,
                             "threshold": self.threshold})

    def summary(self) -> Summary:
        """AURC, its oracle value and e-AURC (a :class:`~probcascade.summary.Summary`)."""
        return Summary("Risk-coverage").add_dict({"queries": int(self.coverage.size), "AURC": self.aurc,
                                                  "oracle AURC": self.aurc_oracle, "e-AURC": self.eaurc},
                                                 float_format="{:.4g}")


def risk_coverage(conf, correct) -> RiskCoverage:
    """Risk-coverage curve of the confidence ``conf`` for answers scored by ``correct``.

    Parameters
    ----------
    conf : array_like, shape (n,)
        Any finite confidence signal (higher: more confident).
    correct : array_like, shape (n,)
        1 if the answer is correct, 0 if not (or a probability of correctness).
    """
    c, y = check_scored(conf, correct)
    acc, thr = _kept_accuracy(c, y)
    oracle = 1.0 - float(np.mean(_oracle_accuracy(y)))
    area = 1.0 - float(np.mean(acc))
    n = y.size
    return RiskCoverage(np.arange(1, n + 1) / n, 1.0 - acc, acc, thr, area, oracle, area - oracle)


def aurc(conf, correct) -> float:
    """Area under the risk-coverage curve, ``mean_k risk(k)`` over ``k = 1..n`` answered queries (lower is better)."""
    return risk_coverage(conf, correct).aurc


def prediction_rejection_ratio(conf, correct, *, max_rejection: float = 1.0) -> float:
    """Prediction-rejection ratio as lm-polygraph reports it (higher is better; 1: oracle, 0: random).

    ``A`` is the mean, over rejected shares ``j / n`` for ``j = 0 .. r - 1`` with ``r = int(max_rejection * n)``,
    of the accuracy of the ``n - j`` most confident answers. ``PRR = (A_unc - A_rand) / (A_oracle - A_rand)`` where
    ``A_oracle`` orders by correctness and ``A_rand`` is the expectation over random orders, the overall accuracy
    (lm-polygraph estimates it from 1000 shuffles; this is the limit). With ``max_rejection = 1``,
    ``A_unc = 1 - AURC``. NaN when all answers are equally correct (``A_oracle = A_rand``).
    """
    c, y = check_scored(conf, correct)
    m = check_float(max_rejection, "max_rejection", low=0.0, high=1.0, low_open=True)
    n = y.size
    r = int(m * n)
    if r < 1:
        raise DataValidationError(f"'max_rejection' = {m} rejects no query out of {n}: need max_rejection >= 1/n")
    acc, _ = _kept_accuracy(c, y)
    a_unc = float(np.mean(acc[n - r:]))
    a_orc = float(np.mean(_oracle_accuracy(y)[n - r:]))
    a_rand = float(np.mean(y))
    if abs(a_orc - a_rand) < _EPS:
        return float("nan")
    return (a_unc - a_rand) / (a_orc - a_rand)


def prediction_rejection_ratio_replicates(conf, correct, index, *, max_rejection: float = 1.0) -> np.ndarray:
    """:func:`prediction_rejection_ratio` of every bootstrap replicate ``conf[index[b]], correct[index[b]]``.

    ``index`` is a ``(n_boot, m)`` integer array of resampled rows. Vectorised over replicates (no loop): a resample
    keeps the original confidence order, so each replicate is a vector of multiplicities over the tied blocks of the
    original data, and its kept-accuracy curve is the piecewise-linear prefix sum over those blocks (ties as blocks,
    exactly as :func:`prediction_rejection_ratio` treats the duplicates of a resample). Replicates in which every
    answer is equally correct give NaN.
    """
    c, y = check_scored(conf, correct)
    idx = check_array(index, "index", ndim=2, min_rows=1).astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= c.size):
        raise DataValidationError(f"'index' must hold row numbers in [0, {c.size - 1}]")
    m = check_float(max_rejection, "max_rejection", low=0.0, high=1.0, low_open=True)
    n_boot, n = idx.shape
    r = int(m * n)
    if r < 1:
        raise DataValidationError(f"'max_rejection' = {m} rejects no query out of {n}: need max_rejection >= 1/n")
    order = np.argsort(-c, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(c.size)
    cs = c[order]
    block = (np.cumsum(np.concatenate([[True], cs[1:] != cs[:-1]])) - 1)[rank]   # block of each original row
    n_blocks = int(block.max()) + 1
    rows = np.repeat(np.arange(n_boot), n)
    flat = rows * n_blocks + block[idx].ravel()
    size = n_boot * n_blocks
    w = np.bincount(flat, minlength=size).reshape(n_boot, n_blocks).astype(float)
    hits = np.bincount(flat, weights=y[idx].ravel(), minlength=size).reshape(n_boot, n_blocks)
    cum_w, cum_h = np.cumsum(w, axis=1), np.cumsum(hits, axis=1)
    k = np.arange(n - r + 1, n + 1, dtype=float)                                    # answered counts kept
    # block holding the k-th answer of each replicate: searchsorted row by row through one offset flat search
    offset = (np.arange(n_boot) * (n + 1.0))[:, None]
    j = np.searchsorted((cum_w + offset).ravel(), (k[None, :] + offset).ravel(), side="left")
    j = j.reshape(n_boot, k.size) - (np.arange(n_boot) * n_blocks)[:, None]
    take = functools.partial(np.take_along_axis, axis=1)
    w_j, h_j = take(w, j), take(hits, j)
    before_w, before_h = take(cum_w, j) - w_j, take(cum_h, j) - h_j
    prefix = before_h + (k[None, :] - before_w) * h_j / w_j
    a_unc = np.mean(prefix / k, axis=1)
    total = cum_h[:, -1]
    a_orc = np.mean(np.minimum(k[None, :], total[:, None]) / k, axis=1)
    a_rand = total / n
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (a_unc - a_rand) / (a_orc - a_rand)
    return np.where(np.abs(a_orc - a_rand) < _EPS, np.nan, out)


def accuracy_at_coverage(conf, correct, coverage: float) -> float:
    """Accuracy of the ``ceil(coverage * n)`` most confident answers (at least one; ties as blocks)."""
    c, y = check_scored(conf, correct)
    cov = check_probability(coverage, "coverage", open=False)
    k = max(1, math.ceil(cov * y.size - 1e-9))
    acc, _ = _kept_accuracy(c, y)
    return float(acc[k - 1])


def coverage_at_accuracy(conf, correct, accuracy: float) -> float:
    """Largest share ``k / n`` such that the ``k`` most confident answers have accuracy ``>= accuracy`` (0 if none).

    Ties as blocks: inside a tied block the accuracy is its expectation over a random order, which a random
    tie-break realises.
    """
    c, y = check_scored(conf, correct)
    target = check_probability(accuracy, "accuracy", open=False)
    acc, _ = _kept_accuracy(c, y)
    ok = np.flatnonzero(acc >= target - 1e-9)
    return float((ok[-1] + 1) / y.size) if ok.size else 0.0


# -------------------------------------------------------------------------------- Appendix E threshold check
def clopper_pearson(k: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper-Pearson) interval for ``k`` successes out of ``n`` (NaN where ``n = 0``)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    a = (1.0 - level) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k > 0, stats.beta.ppf(a, k, n - k + 1), 0.0)
        hi = np.where(k < n, stats.beta.ppf(1 - a, k + 1, n - k), 1.0)
    empty = n == 0
    return np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)


class ThresholdCheck(NamedTuple):
    """Accuracy among the queries with confidence ``>= q`` for each threshold ``q`` (the study, Appendix E).

    ``holds``: the accuracy is at least ``q``; ``consistent``: the upper Clopper-Pearson bound at ``level`` is at
    least ``q`` (the data do not show the accuracy to be below ``q``). Both are False where no query passes.
    """

    threshold: np.ndarray
    n: np.ndarray
    n_correct: np.ndarray
    accuracy: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    level: float

    @property
    def holds(self) -> np.ndarray:
        return (self.n > 0) & (self.accuracy >= self.threshold - 1e-12)

    @property
    def consistent(self) -> np.ndarray:
        return (self.n > 0) & (self.ci_high >= self.threshold - 1e-12)

    def to_frame(self) -> pd.DataFrame:
        """One row per threshold."""
        return pd.DataFrame({"threshold": self.threshold, "n": self.n, "n_correct": self.n_correct,
                             "accuracy": self.accuracy, "ci_low": self.ci_low, "ci_high": self.ci_high,
                             "holds": self.holds, "consistent": self.consistent})

    def summary(self) -> Summary:
        """The table and how many thresholds hold (a :class:`~probcascade.summary.Summary`)."""
        used = self.n > 0
        return (Summary("Accuracy above a confidence threshold (P(correct | conf >= q) >= q)")
                .add_table(self.to_frame(), index=False, float_format="{:.4g}")
                .add_dict({"thresholds with data": int(used.sum()), "accuracy >= q": int(self.holds.sum()),
                           f"upper {self.level:.0%} bound >= q": int(self.consistent.sum())}))


def threshold_check(conf, correct, thresholds=None, *, level: float = 0.95) -> ThresholdCheck:
    """Appendix E of the study: is ``P(correct | conf >= q) >= q`` for each threshold ``q``?

    Parameters
    ----------
    conf : array_like, shape (n,)
        Calibrated confidences in [0, 1].
    correct : array_like, shape (n,)
        0/1 correctness.
    thresholds : array_like, optional
        Thresholds ``q`` in [0, 1]; default ``0, 0.05, ..., 0.95``.
    level : float
        Confidence level of the Clopper-Pearson bands.
    """
    c, y = check_scored(conf, correct, binary=True)
    check_array(c, "conf", unit_interval=True)
    q = np.round(np.arange(0.0, 1.0, 0.05), 2) if thresholds is None else \
        check_array(thresholds, "thresholds", ndim=1, min_rows=1, unit_interval=True)
    lev = check_float(level, "level", low=0.0, high=1.0, low_open=True, high_open=True)
    above = c[None, :] >= q[:, None]
    n = above.sum(axis=1)
    k = (above * y[None, :]).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    lo, hi = clopper_pearson(k, n, lev)
    return ThresholdCheck(q, n.astype(int), k.astype(int), acc, lo, hi, lev)
