"""CORP reliability diagrams, the CORP Brier-score decomposition and ECE with its bins and a bootstrap interval.

One ECE number hides how it was binned and how uncertain it is; a reliability diagram without bands invites reading
noise as miscalibration.  This module returns the data behind the number:

* **CORP** (Consistent, Optimally binned, Reproducible, PAV-based; Dimitriadis, Gneiting & Jordan, PNAS 2021): the
  conditional event probability (CEP) P(y = 1 | forecast) is estimated by isotonic regression of the outcomes on the
  forecasts, fitted with the pool-adjacent-violators algorithm (``scipy.optimize.isotonic_regression``; equal
  forecasts are pooled first, so that they get one recalibrated value, as CORP requires).  No binning choice is made.
* **CORP decomposition** of the Brier score ``S = mean((x - y)^2)``: with ``x_hat`` the PAV-recalibrated forecasts
  and ``ybar`` the base rate, ``MCB = S(x) - S(x_hat)``, ``DSC = S(ybar) - S(x_hat)``, ``UNC = S(ybar)``, so that
  ``S = MCB - DSC + UNC`` holds as an identity (MCB >= 0 and DSC >= 0 by the optimality of PAV).
* **Consistency band** (what the CEP of a *calibrated* forecast with these forecast values looks like): outcomes
  ``y* ~ Bernoulli(x)`` are resampled, the PAV refitted, and pointwise quantiles taken.  Per distinct forecast value
  with ``c`` cases the resampled event count is ``Binomial(c, x)``, so the ``B`` replicates are one
  ``(B, m)`` binomial draw.  **Confidence band** (uncertainty of the estimated CEP): bootstrap over (x, y) pairs,
  drawn as one ``(B, n)`` integer array; multiplicities are aggregated per distinct forecast without a loop.
  The PAV refits loop over replicates (scipy's routine is one sequence at a time; each refit is O(n) in C), which
  is why ``n_boot`` defaults to a moderate 200.  Replicate curves are evaluated at up to ``max_points`` forecast
  values by linear interpolation between the fitted points (the curve the plot draws).
* **ECE estimators**, each with its per-bin table (bin edges, mean confidence, accuracy, count) and a bootstrap
  interval that accounts for the bias of the plug-in ECE (one ``(B, n)`` draw, binning vectorised; see
  :func:`ece_estimates`): ``equal_mass`` (the package's default
  :func:`~probcascade.calibration.metrics.ece`, quantile bins), ``equal_width`` (uniform bins) and
  ``debiased_l2``, Kumar, Liang & Ma (NeurIPS 2019)'s debiased l2 calibration error on equal-mass bins:
  ``sqrt(max(0, sum_b w_b [(conf_b - acc_b)^2 - acc_b (1 - acc_b) / (n_b - 1)]))`` (bins with n_b < 2 count 0),
  as in their ``calibration`` package.  The ECE sweep of Roelofs et al. (2022) is not implemented.

Everything is NumPy float64 (no JAX: the work is sorting, counting and a C isotonic routine).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import isotonic_regression

from probcascade.calibration.metrics import reliability_table
from probcascade.exceptions import DataValidationError
from probcascade.summary import Summary
from probcascade.validation import (
    check_array,
    check_choice,
    check_int,
    check_matching_rows,
    check_probability,
)

__all__ = [
    "ECE_ESTIMATORS",
    "ECE_INTERVALS",
    "CorpResult",
    "EceResult",
    "corp_decomposition",
    "corp_reliability",
    "ece_estimates",
    "ece_replicates",
    "pav_recalibrate",
]

#: ECE estimators computed by :func:`ece_estimates` (see the module docstring).
ECE_ESTIMATORS = ("equal_mass", "equal_width", "debiased_l2")

#: Bootstrap interval of each estimator under ``interval="auto"`` (see :func:`ece_estimates`): the basic (reverse
#: percentile) interval for the upward-biased plug-in ECEs, the percentile interval for the debiased estimator.
ECE_INTERVALS = {"equal_mass": "basic", "equal_width": "basic", "debiased_l2": "percentile"}


def _inputs(forecast, correct) -> tuple[np.ndarray, np.ndarray]:
    x = check_array(forecast, "forecast", ndim=1, unit_interval=True, min_rows=2)
    y = check_array(correct, "correct", ndim=1, binary=True)
    check_matching_rows("forecast", x, "correct", y)
    return x, y


def _pav(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Weighted isotonic (non-decreasing) fit of per-forecast means ``values`` with weights ``counts``."""
    return np.clip(isotonic_regression(values, weights=counts, increasing=True).x, 0.0, 1.0)


def _pooled(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct forecasts (sorted), the group of every case, the count and the event count per distinct forecast."""
    xu, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    return xu, inv, counts, np.bincount(inv, weights=y, minlength=xu.size)


def pav_recalibrate(forecast, correct) -> np.ndarray:
    """PAV-recalibrated forecast of every case: the isotonic regression of ``correct`` on ``forecast``.

    Cases with equal forecasts receive equal values (ties are pooled before PAV), so the result is a non-decreasing
    function of the forecast; it is the CORP estimate of the conditional event probability.
    """
    x, y = _inputs(forecast, correct)
    _, inv, counts, events = _pooled(x, y)
    return _pav(events / counts, counts)[inv]


def corp_decomposition(forecast, correct) -> dict[str, float]:
    """CORP decomposition of the Brier score: ``{"brier", "mcb", "dsc", "unc"}`` with brier = mcb - dsc + unc."""
    x, y = _inputs(forecast, correct)
    return _decompose(x, y, pav_recalibrate(x, y))


def _decompose(x: np.ndarray, y: np.ndarray, x_hat: np.ndarray) -> dict[str, float]:
    s = float(np.mean((x - y) ** 2))
    s_c = float(np.mean((x_hat - y) ** 2))
    s_r = float(np.mean((np.mean(y) - y) ** 2))
    return {"brier": s, "mcb": s - s_c, "dsc": s_r - s_c, "unc": s_r}


@dataclass(frozen=True)
class CorpResult:
    """A CORP reliability diagram with its bands and the Brier-score decomposition.

    ``forecast``/``cep`` are the distinct forecast values and their PAV-recalibrated values (the full curve);
    ``x`` are the points (all distinct forecasts, or ``max_points`` quantiles of them) where the bands are given;
    ``consistency_low/high`` is the band of a calibrated forecast (it surrounds the diagonal), ``confidence_low/high``
    the bootstrap band of the estimated CEP; ``hist_counts``/``hist_edges`` a 20-bin histogram of the forecasts.
    """

    forecast: np.ndarray
    cep: np.ndarray
    x: np.ndarray
    cep_at_x: np.ndarray
    consistency_low: np.ndarray
    consistency_high: np.ndarray
    confidence_low: np.ndarray
    confidence_high: np.ndarray
    brier: float
    mcb: float
    dsc: float
    unc: float
    n: int
    n_boot: int
    level: float
    hist_counts: np.ndarray = field(repr=False)
    hist_edges: np.ndarray = field(repr=False)

    def decomposition(self) -> dict[str, float]:
        """Brier score and its CORP components (``brier = mcb - dsc + unc``)."""
        return {"brier": self.brier, "mcb": self.mcb, "dsc": self.dsc, "unc": self.unc}

    def to_frame(self) -> pd.DataFrame:
        """One row per band point: forecast, CEP, consistency and confidence bands, whether the CEP is inside the
        consistency band."""
        return pd.DataFrame({
            "forecast": self.x, "cep": self.cep_at_x,
            "consistency_low": self.consistency_low, "consistency_high": self.consistency_high,
            "confidence_low": self.confidence_low, "confidence_high": self.confidence_high,
            "cep_in_consistency_band": (self.cep_at_x >= self.consistency_low - 1e-12)
            & (self.cep_at_x <= self.consistency_high + 1e-12),
        })

    def summary(self, title: str | None = None, max_rows: int = 20) -> Summary:
        """Decomposition, band settings and (thinned to ``max_rows``) the band table."""
        frame = self.to_frame()
        shown = frame.iloc[np.unique(np.linspace(0, len(frame) - 1, min(max_rows, len(frame))).round().astype(int))]
        out = Summary(title or "CORP reliability (PAV) and Brier decomposition")
        out.add_dict({"n": self.n, "Brier": self.brier, "MCB (miscalibration)": self.mcb,
                      "DSC (discrimination)": self.dsc, "UNC (uncertainty)": self.unc,
                      "band level": self.level, "bootstrap replicates": self.n_boot,
                      "CEP inside consistency band": float(frame["cep_in_consistency_band"].mean())},
                     ncols=2, float_format="{:.4g}")
        out.add_table(shown, "Reliability curve and bands", index=False, float_format="{:.3f}")
        out.add_text("Brier = MCB - DSC + UNC. The consistency band shows where the PAV curve of a calibrated forecast "
                     "falls; the confidence band is a pair bootstrap of the PAV curve (pointwise, percentile).")
        return out


def _eval_points(xu: np.ndarray, max_points: int) -> np.ndarray:
    return xu if xu.size <= max_points else np.unique(np.quantile(xu, np.linspace(0.0, 1.0, max_points)))


def _band(curves: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.quantile(curves, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return lo, hi


def corp_reliability(forecast, correct, *, n_boot: int = 200, level: float = 0.9, seed: int | None = 0,
                     max_points: int = 512) -> CorpResult:
    """CORP reliability curve of ``forecast`` against 0/1 ``correct`` with consistency and confidence bands.

    Parameters
    ----------
    forecast, correct : array-like
        Probabilities in [0, 1] and 0/1 outcomes, one per case.
    n_boot : int
        Replicates for each band (drawn in one vectorised draw; the PAV refits loop, O(n) each).
    level : float
        Pointwise level of both bands, in (0, 1).
    seed : int or None
        Seed of the NumPy generator.
    max_points : int
        Most points at which the bands are evaluated (the distinct forecasts, or that many quantiles of them).
    """
    x, y = _inputs(forecast, correct)
    n_boot = check_int(n_boot, "n_boot", low=1)
    level = check_probability(level, "level")
    seed = check_int(seed, "seed", low=0, allow_none=True)
    max_points = check_int(max_points, "max_points", low=2)
    rng = np.random.default_rng(seed)
    xu, inv, counts, events = _pooled(x, y)
    cep = _pav(events / counts, counts)
    xe = _eval_points(xu, max_points)

    # consistency: y* ~ Bernoulli(x) per case, i.e. Binomial(count, x) per distinct forecast, B at once
    sim_events = rng.binomial(np.broadcast_to(counts, (n_boot, xu.size)), np.broadcast_to(xu, (n_boot, xu.size)))
    curves = np.empty((n_boot, xe.size))
    for b in range(n_boot):  # PAV refits: scipy's isotonic_regression is not vectorised over sequences
        curves[b] = np.interp(xe, xu, _pav(sim_events[b] / counts, counts))
    cons_lo, cons_hi = _band(curves, level)

    # confidence: bootstrap over (x, y) pairs; multiplicities aggregated per distinct forecast in one pass
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    flat = (np.arange(n_boot)[:, None] * xu.size + inv[idx]).ravel()
    b_counts = np.bincount(flat, minlength=n_boot * xu.size).reshape(n_boot, xu.size)
    b_events = np.bincount(flat, weights=y[idx].ravel(), minlength=n_boot * xu.size).reshape(n_boot, xu.size)
    for b in range(n_boot):
        keep = b_counts[b] > 0
        curves[b] = np.interp(xe, xu[keep], _pav(b_events[b, keep] / b_counts[b, keep], b_counts[b, keep]))
    conf_lo, conf_hi = _band(curves, level)

    dec = _decompose(x, y, cep[inv])
    hist_counts, hist_edges = np.histogram(x, bins=20, range=(0.0, 1.0))
    return CorpResult(forecast=xu, cep=cep, x=xe, cep_at_x=np.interp(xe, xu, cep), consistency_low=cons_lo,
                      consistency_high=cons_hi, confidence_low=conf_lo, confidence_high=conf_hi, n=int(x.size),
                      n_boot=n_boot, level=level, hist_counts=hist_counts, hist_edges=hist_edges, **dec)


# -- ECE ---------------------------------------------------------------------------------------------------------

def _edges(x: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    """Bin edges exactly as :func:`probcascade.calibration.metrics.bin_indices` draws them."""
    if strategy == "quantile":
        return np.quantile(x, np.linspace(0.0, 1.0, n_bins + 1))
    return np.linspace(0.0, 1.0, n_bins + 1)


def _binned(xs: np.ndarray, ys: np.ndarray, n_bins: int, strategy: str) -> tuple[np.ndarray, ...]:
    """Per-replicate bin counts, confidence sums and event sums for replicate rows ``xs``/``ys`` of shape (B, n).

    The bin of a score is the number of inner edges <= it (what ``bin_indices``' searchsorted-and-clip computes);
    the comparison is broadcast over chunks of replicates to bound memory.
    """
    n_rep, n = xs.shape
    if strategy == "quantile":
        edges = np.quantile(xs, np.linspace(0.0, 1.0, n_bins + 1), axis=1).T
    else:
        edges = np.broadcast_to(np.linspace(0.0, 1.0, n_bins + 1), (n_rep, n_bins + 1))
    inner = edges[:, 1:-1]
    chunk = max(1, int(2e7 // max(1, n * max(1, n_bins - 1))))
    bins = np.empty((n_rep, n), dtype=np.int64)
    for start in range(0, n_rep, chunk):  # memory chunks, not replicates one by one
        sl = slice(start, start + chunk)
        bins[sl] = (xs[sl, :, None] >= inner[sl, None, :]).sum(-1)
    flat = (np.arange(n_rep)[:, None] * n_bins + bins).ravel()
    size = n_rep * n_bins

    def total(w):
        return np.bincount(flat, weights=w, minlength=size).reshape(n_rep, n_bins)

    return total(None), total(xs.ravel()), total(ys.ravel())


def _ece_values(counts: np.ndarray, conf_sum: np.ndarray, event_sum: np.ndarray, estimator: str) -> np.ndarray:
    """Estimator value per replicate row from per-bin counts and sums (empty bins contribute nothing)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        conf, acc = conf_sum / counts, event_sum / counts
        w = counts / counts.sum(axis=1, keepdims=True)
        if estimator == "debiased_l2":
            term = np.where(counts >= 2, (conf - acc) ** 2 - acc * (1 - acc) / (counts - 1), 0.0)
            return np.sqrt(np.maximum(np.sum(np.where(counts > 0, w * term, 0.0), axis=1), 0.0))
        return np.sum(np.where(counts > 0, w * np.abs(conf - acc), 0.0), axis=1)


_STRATEGY = {"equal_mass": "quantile", "equal_width": "uniform", "debiased_l2": "quantile"}


@dataclass(frozen=True)
class EceResult:
    """ECE by several estimators, each with a bootstrap interval and the per-bin table behind it.

    ``estimates`` has one row per estimator (value, ci_low, ci_high); ``tables[estimator]`` the bins (edges, mean
    confidence, accuracy, count, and the Wilson interval of the accuracy from
    :func:`~probcascade.calibration.metrics.reliability_table`); ``interval`` the interval kind asked for
    (``"auto"``, ``"basic"`` or ``"percentile"``) and ``methods`` the kind used per estimator (see
    :func:`ece_estimates`).
    """

    estimates: pd.DataFrame
    tables: dict[str, pd.DataFrame]
    n: int
    n_bins: int
    n_boot: int
    level: float
    interval: str = "auto"
    methods: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, estimator: str) -> float:
        return float(self.estimates.loc[estimator, "value"])

    def to_frame(self) -> pd.DataFrame:
        """Estimates with their intervals, one row per estimator."""
        return self.estimates.copy()

    def summary(self, title: str | None = None) -> Summary:
        out = Summary(title or f"Expected calibration error ({self.n_bins} bins, n = {self.n})")
        kinds = ", ".join(f"{k}: {v}" for k, v in self.methods.items())
        out.add_table(self.estimates, f"Estimates with {100 * self.level:g}% bootstrap intervals "
                                      f"({self.n_boot} replicates; {kinds})", float_format="{:.4f}")
        shown: dict[str, str] = {}
        for name, table in self.tables.items():
            same = next((k for k, v in shown.items() if v == _STRATEGY[name]), None)
            if same is None:  # debiased_l2 uses the equal-mass bins: print them once
                shown[name] = _STRATEGY[name]
                out.add_table(table, f"Bins: {name}", index=False, float_format="{:.3f}")
        out.add_text("equal_mass: quantile bins (the package's ECE); equal_width: uniform bins; debiased_l2: Kumar et "
                      "al. (2019) debiased l2 calibration error on equal-mass bins. Intervals: bootstrap over cases, "
                      "bins redrawn in every replicate; kind per estimator in the table title. The plug-in ECE is "
                      "biased upwards (noise in a bin's accuracy adds to |confidence - accuracy|) and its replicates "
                      "more so: 'basic' (reverse percentile) moves the interval down by the bootstrap bias, "
                      "'percentile' (the replicates' quantiles) does not."
                      + (" Each interval is widened, where needed, to contain the value beside it."
                         if self.interval == "auto" else ""))
        return out


def _bin_table(x: np.ndarray, y: np.ndarray, n_bins: int, strategy: str) -> pd.DataFrame:
    """``reliability_table`` with the bin edges added (the bins it omits are empty)."""
    edges = _edges(x, n_bins, strategy)
    tab = reliability_table(x, y, n_bins, strategy)
    b = tab.index.to_numpy()
    out = pd.DataFrame({"bin": b, "edge_low": edges[b], "edge_high": edges[b + 1], "mean_confidence": tab["mean_score"],
                        "accuracy": tab["accuracy"], "count": tab["n"], "acc_ci_low": tab["acc_ci_low"],
                        "acc_ci_high": tab["acc_ci_high"]})
    return out.reset_index(drop=True)


def ece_replicates(scores, correct, index, *, n_bins: int = 10, estimator: str = "equal_mass") -> np.ndarray:
    """The ``estimator`` ECE of every bootstrap replicate ``scores[index[b]], correct[index[b]]`` (``index``: an
    ``(n_boot, m)`` integer array), each replicate re-binned as in :func:`ece_estimates`; vectorised over replicates.
    Use one ``index`` for several signals to get paired replicates."""
    x, y = _inputs(scores, correct)
    n_bins = check_int(n_bins, "n_bins", low=1)
    name = check_choice(estimator, "estimator", ECE_ESTIMATORS)
    idx = check_array(index, "index", ndim=2, min_rows=1).astype(np.int64)
    if idx.min() < 0 or idx.max() >= x.size:
        raise DataValidationError(f"'index' must hold row numbers in [0, {x.size - 1}]")
    return _ece_values(*_binned(x[idx], y[idx], n_bins, _STRATEGY[name]), name)


def _interval(value: float, reps: np.ndarray, level: float, method: str) -> tuple[float, float]:
    """``method`` bootstrap interval of ``value`` from its replicates: ``"percentile"`` (the replicate quantiles) or
    ``"basic"`` (reverse percentile: ``2 value - q_high``, ``2 value - q_low``, clipped at 0, where ECE lives)."""
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    if method == "basic":
        lo, hi = max(0.0, 2.0 * value - hi), max(0.0, 2.0 * value - lo)
    return float(lo), float(hi)


def ece_estimates(scores, correct, *, n_bins: int = 10, estimators=ECE_ESTIMATORS, n_boot: int = 200,
                  level: float = 0.9, seed: int | None = 0, interval: str = "auto") -> EceResult:
    """ECE of ``scores`` against 0/1 ``correct`` by each estimator in ``estimators`` with a bootstrap interval.

    The ``equal_mass`` value equals :func:`probcascade.calibration.metrics.ece` (same bins, same formula) and the
    ``equal_width`` value equals ``ece(..., strategy="uniform")``.  The bootstrap is over cases: one
    ``(n_boot, n)`` draw of indices, every replicate re-binned (quantile edges from the replicate).

    **Interval** (``interval``).  The plug-in ECE is biased upwards: noise in a bin's accuracy adds to
    ``|confidence - accuracy|`` on average, most when the true gap is small.  A replicate is the plug-in ECE of a
    resample, which carries that noise once more, so the replicates sit above the estimate and the *percentile*
    interval (their quantiles) is shifted up by the bias and can exclude the estimate itself (TruthfulQA,
    llama3.2-1b, test split: ECE 0.0429, percentile interval [0.0470, 0.0972]).

    * ``"basic"``: the basic (reverse-percentile) interval ``[2 value - q_high, 2 value - q_low]``, clipped at 0.
      It treats ``replicate - value`` as an estimate of ``value - truth``, so the bootstrap's estimate of the bias
      moves the interval down instead of up.
    * ``"percentile"``: ``[q_low, q_high]``, the former interval.
    * ``"auto"`` (default): ``"basic"`` for the plug-in estimators (``equal_mass``, ``equal_width``) and
      ``"percentile"`` for ``debiased_l2`` (already bias-corrected: reversing its replicates moves it the wrong
      way), see :data:`ECE_INTERVALS`; the interval is then widened, where needed, to contain the estimate.

    Why basic rather than a bias-corrected percentile (BC/BCa) interval: in a simulation (``docs/design_notes.md``,
    "ECE bootstrap intervals"; forecasts Beta(2, 2), outcomes Bernoulli(g(p)), 200 data sets, 200 replicates,
    90 % intervals, 10 equal-width bins, n = 500) the true binned ECE was covered by the percentile / basic / BC
    interval in 0 % / 76 % / 7 % of data sets at true ECE 0.022 and 57 % / 84 % / 79 % at 0.064; BC(a) fails
    where the bias is large because the estimate then lies in the lower tail of the replicates (with fewer than
    5 % of them below it, z0 < -z and both BC quantiles ``Phi(2 z0 -+ z)`` fall below it).  The price of the basic interval: where every bin's gap is large
    (ECE 0.080, a uniform shift) it covers 77 % against the percentile's 86 %; and at a truly calibrated
    forecast (ECE 0, a boundary the bootstrap cannot handle) it covers 40 % (percentile: 0 %).  For "is it
    calibrated at all", read ``debiased_l2``'s interval (it covered 0 in 96 % of the calibrated data sets).
    In about 20 % of the data sets with a small true ECE the basic interval lies wholly below the estimate (the
    estimate is more biased than the truth is far from 0); ``"auto"`` then extends it up to the estimate, which only
    adds coverage and keeps the interval printed beside its value from excluding it.
    """
    x, y = _inputs(scores, correct)
    n_bins = check_int(n_bins, "n_bins", low=1)
    estimators = tuple(check_choice(e, "estimators", ECE_ESTIMATORS) for e in estimators)
    n_boot = check_int(n_boot, "n_boot", low=1)
    level = check_probability(level, "level")
    seed = check_int(seed, "seed", low=0, allow_none=True)
    interval = check_choice(interval, "interval", ("auto", "basic", "percentile"))
    idx = np.random.default_rng(seed).integers(0, x.size, size=(n_boot, x.size))
    rows, tables, sums, methods = [], {}, {}, {}
    for name in estimators:
        strategy = _STRATEGY[name]
        if strategy not in sums:
            sums[strategy] = (_binned(x[None, :], y[None, :], n_bins, strategy), _binned(x[idx], y[idx], n_bins, strategy))
        point, boot = sums[strategy]
        value = float(_ece_values(*point, name)[0])
        methods[name] = ECE_INTERVALS[name] if interval == "auto" else interval
        lo, hi = _interval(value, _ece_values(*boot, name), level, methods[name])
        if interval == "auto":
            lo, hi = min(lo, value), max(hi, value)
        rows.append({"estimator": name, "value": value, "ci_low": lo, "ci_high": hi})
        tables[name] = _bin_table(x, y, n_bins, strategy)
    estimates = pd.DataFrame(rows).set_index("estimator")
    return EceResult(estimates=estimates, tables=tables, n=int(x.size), n_bins=n_bins, n_boot=n_boot, level=level,
                     interval=interval, methods=methods)
