"""Comparing confidence signals on the same answers (Bansal and Desai, "Labeling with Confidence"): AUROC with DeLong's variance, the paired DeLong
test, and one tidy table of AUROC, ECE, Brier score and PRR per signal.

AUROC here is the probability that a correct answer gets a higher signal than an incorrect one (ties count
1/2): correct answers are the positives. Its variance is DeLong, DeLong and Clarke-Pearson (1988), computed with
the midrank algorithm of Sun and Xu (2014), O(n log n) per signal: for positives ``X`` (``m``) and negatives
``Y`` (``n``), with midranks ``Tz`` in the pooled sample, ``Tx`` within ``X`` and ``Ty`` within ``Y``, the placement
values are ``V10_i = (Tz_i - Tx_i) / n`` and ``V01_j = 1 - (Tz_j - Ty_j) / m``, ``AUC = mean(V10)`` and
``Cov = S10 / m + S01 / n`` with ``S10, S01`` the sample covariances of the placement values across signals.

NumPy, SciPy and pandas only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from probcascade.calibration.corp import ece_replicates
from probcascade.calibration.metrics import ece
from probcascade.exceptions import DataValidationError
from probcascade.summary import Summary
from probcascade.validation import (
    check_array,
    check_choice,
    check_int,
    check_matching_rows,
    check_probability,
)

from .rejection import prediction_rejection_ratio, prediction_rejection_ratio_replicates

_ECE_ESTIMATOR = {"quantile": "equal_mass", "uniform": "equal_width"}   # ECE binning -> corp's estimator name

__all__ = ["AUROCResult", "auroc_delong", "DeLongTest", "delong_test", "compare_signals"]


# ------------------------------------------------------------------------------------------- DeLong core
def delong_placements(scores: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUROCs (k,) and placement values ``V10`` (k, m) and ``V01`` (k, n) of ``scores`` (k, N) by midranks."""
    pos, neg = correct == 1, correct == 0
    x, y = scores[:, pos], scores[:, neg]
    m, n = x.shape[1], y.shape[1]
    tx = stats.rankdata(x, axis=1)
    ty = stats.rankdata(y, axis=1)
    tz = stats.rankdata(np.concatenate([x, y], axis=1), axis=1)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return v10.mean(axis=1), v10, v01


def delong_covariance(scores: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROCs (k,) and their DeLong covariance matrix (k, k) for signals ``scores`` (k, N) on the same labels."""
    auc, v10, v01 = delong_placements(scores, correct)
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((auc.size, auc.size))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((auc.size, auc.size))
    return auc, s10 / m + s01 / n


def _labels(correct, n_min: int = 1) -> np.ndarray:
    y = check_array(correct, "correct", ndim=1, binary=True, min_rows=2)
    n1 = int(y.sum())
    if n1 < n_min or y.size - n1 < n_min:
        raise DataValidationError(
            f"'correct' must contain both correct (1) and incorrect (0) answers for an AUROC, got {n1} correct "
            f"out of {y.size}"
        )
    return y


def _signal(scores, name: str, y: np.ndarray) -> np.ndarray:
    s = check_array(scores, name, ndim=1)
    check_matching_rows(name, s, "correct", y)
    return s


# ------------------------------------------------------------------------------------------------- AUROC
class AUROCResult(NamedTuple):
    """AUROC of one signal with DeLong's standard error and a normal interval at ``level`` (clipped to [0, 1])."""

    auroc: float
    se: float
    ci_low: float
    ci_high: float
    level: float
    n_correct: int
    n_incorrect: int

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame."""
        return pd.DataFrame([self._asdict()])

    def summary(self) -> Summary:
        return Summary("AUROC (DeLong)").add_dict(self._asdict(), float_format="{:.4g}")


def _ci(auc: float, se: float, level: float) -> tuple[float, float]:
    z = stats.norm.ppf((1 + level) / 2)
    return float(max(0.0, auc - z * se)), float(min(1.0, auc + z * se))


def auroc_delong(scores, correct, *, level: float = 0.95) -> AUROCResult:
    """AUROC of ``scores`` for telling correct from incorrect answers, with DeLong's variance."""
    y = _labels(correct)
    s = _signal(scores, "scores", y)
    lev = check_probability(level, "level")
    auc, cov = delong_covariance(s[None, :], y)
    se = float(np.sqrt(max(cov[0, 0], 0.0)))
    lo, hi = _ci(float(auc[0]), se, lev)
    return AUROCResult(float(auc[0]), se, lo, hi, lev, int(y.sum()), int(y.size - y.sum()))


class DeLongTest(NamedTuple):
    """Paired DeLong test of ``AUROC_a - AUROC_b`` on the same answers (two-sided unless stated)."""

    auroc_a: float
    auroc_b: float
    difference: float
    se: float
    z: float
    pvalue: float
    alternative: str

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame."""
        return pd.DataFrame([self._asdict()])

    def summary(self) -> Summary:
        return Summary("Paired DeLong test of AUROC").add_dict(self._asdict(), float_format="{:.4g}")


def _test(auc: np.ndarray, cov: np.ndarray, i: int, j: int, alternative: str) -> DeLongTest:
    d = float(auc[i] - auc[j])
    var = float(cov[i, i] + cov[j, j] - 2 * cov[i, j])
    se = float(np.sqrt(max(var, 0.0)))
    if se > 0:
        z = d / se
    else:
        z = 0.0 if d == 0 else float(np.sign(d) * np.inf)
    p = {"two-sided": 2 * stats.norm.sf(abs(z)), "greater": stats.norm.sf(z), "less": stats.norm.cdf(z)}[alternative]
    return DeLongTest(float(auc[i]), float(auc[j]), d, se, float(z), float(min(p, 1.0)), alternative)


def delong_test(scores_a, scores_b, correct, *, alternative: str = "two-sided") -> DeLongTest:
    """Paired DeLong test: do two signals on the same answers have the same AUROC?

    ``alternative``: ``"two-sided"``, ``"greater"`` (a's AUROC is larger) or ``"less"``.
    """
    y = _labels(correct)
    a = _signal(scores_a, "scores_a", y)
    b = _signal(scores_b, "scores_b", y)
    alt = check_choice(alternative, "alternative", ("two-sided", "greater", "less"))
    auc, cov = delong_covariance(np.stack([a, b]), y)
    return _test(auc, cov, 0, 1, alt)


# ---------------------------------------------------------------------------------------- comparison table
def _columns(signals) -> dict[str, np.ndarray]:
    if isinstance(signals, pd.DataFrame):
        items = {str(c): signals[c].to_numpy() for c in signals.columns}
    elif isinstance(signals, Mapping):
        items = {str(k): v for k, v in signals.items()}
    else:
        raise DataValidationError(
            f"'signals' must be a DataFrame or a mapping of name -> scores, got {type(signals).__name__}")
    if not items:
        raise DataValidationError("'signals' is empty: give at least one signal column")
    return items


def compare_signals(signals, correct, *, reference: str | None = None, level: float = 0.95, n_bins: int = 10,
                    strategy: str = "quantile", n_boot: int = 1000, seed: int | None = 0) -> pd.DataFrame:
    """One row per confidence signal: AUROC with DeLong CI, ECE, Brier score, PRR and a paired DeLong test.

    Parameters
    ----------
    signals : DataFrame or mapping of name -> array_like (n,)
        Confidence signals for the same answers (higher: more confident).
    correct : array_like, shape (n,)
        0/1 correctness of each answer.
    reference : str, optional
        The signal the others are tested against (paired DeLong, two-sided); default the one of highest AUROC.
    level : float
        Level of the AUROC intervals.
    n_bins, strategy
        ECE binning (:func:`probcascade.calibration.metrics.ece`; ``"quantile"`` or ``"uniform"``).
    n_boot, seed
        Percentile bootstrap over answers for the ECE, Brier and PRR intervals at ``level``: one ``(n_boot, n)``
        draw of rows shared by every signal (paired replicates), each replicate re-binned for the ECE. ``n_boot = 0``
        gives NaN bounds.

    Returns
    -------
    DataFrame
        Columns ``signal, auroc, auroc_se, auroc_ci_low, auroc_ci_high, ece, ece_ci_low, ece_ci_high, brier,
        brier_ci_low, brier_ci_high, prr, prr_ci_low, prr_ci_high, reference, delta_auroc, z, pvalue``. ECE and Brier
        are NaN for a signal outside [0, 1] (not a probability); the reference's own test columns are NaN.
    """
    y = _labels(correct)
    cols = _columns(signals)
    names = list(cols)
    s = np.stack([_signal(v, f"signals[{k!r}]", y) for k, v in cols.items()])
    lev = check_probability(level, "level")
    check_int(n_bins, "n_bins", low=1)
    check_choice(strategy, "strategy", tuple(_ECE_ESTIMATOR))
    b = check_int(n_boot, "n_boot", low=0)
    seed = check_int(seed, "seed", low=0, allow_none=True)
    idx = np.random.default_rng(seed).integers(0, y.size, size=(b, y.size)) if b else None
    q = [(1 - lev) / 2, (1 + lev) / 2]

    def interval(reps) -> tuple[float, float]:
        if idx is None or reps is None or np.all(np.isnan(reps)):
            return float("nan"), float("nan")
        lo, hi = np.nanquantile(reps, q)
        return float(lo), float(hi)

    auc, cov = delong_covariance(s, y)
    if reference is None:
        ref = int(np.argmax(auc))
    else:
        ref = names.index(check_choice(reference, "reference", names))
    rows = []
    for i, name in enumerate(names):
        se = float(np.sqrt(max(cov[i, i], 0.0)))
        lo, hi = _ci(float(auc[i]), se, lev)
        prob = bool(np.all((s[i] >= 0) & (s[i] <= 1)))
        t = _test(auc, cov, i, ref, "two-sided") if i != ref else None
        reps = {"ece": None, "brier": None, "prr": None}
        if idx is not None:
            reps["prr"] = prediction_rejection_ratio_replicates(s[i], y, idx)
            if prob:
                reps["ece"] = ece_replicates(s[i], y, idx, n_bins=n_bins, estimator=_ECE_ESTIMATOR[strategy])
                reps["brier"] = np.mean((s[i][idx] - y[idx]) ** 2, axis=1)
        (e_lo, e_hi), (b_lo, b_hi), (p_lo, p_hi) = (interval(reps[k]) for k in ("ece", "brier", "prr"))
        rows.append({
            "signal": name, "auroc": float(auc[i]), "auroc_se": se, "auroc_ci_low": lo, "auroc_ci_high": hi,
            "ece": ece(s[i], y, n_bins, strategy) if prob else np.nan, "ece_ci_low": e_lo, "ece_ci_high": e_hi,
            "brier": float(np.mean((s[i] - y) ** 2)) if prob else np.nan, "brier_ci_low": b_lo,
            "brier_ci_high": b_hi,
            "prr": prediction_rejection_ratio(s[i], y), "prr_ci_low": p_lo, "prr_ci_high": p_hi,
            "reference": names[ref],
            "delta_auroc": np.nan if t is None else t.difference, "z": np.nan if t is None else t.z,
            "pvalue": np.nan if t is None else t.pvalue,
        })
    return pd.DataFrame(rows)
