"""Empirical evaluation of LLM cascades: routing, error-cost curves, their area (AUC) and paired comparisons.

Conventions (seed 002, eq. 1): the cascade is ``M_1 -> ... -> M_k``; a query stops at the first model ``i < k``
whose calibrated confidence is *strictly* above its threshold, ``phi_i > threshold_i``, and otherwise moves on; the
last model always answers.  The cost of a query is the sum of the costs of every model it visited.

* :func:`route` scores many threshold vectors at once on per-query data: error rate, mean cost and the share of
  queries answered by each model.  The core (:func:`route_core`) is pure JAX, vmapped over threshold vectors and
  mapped over fixed-size batches of them (``jax.lax.map(..., batch_size=...)``) so that memory stays bounded.
* :func:`error_cost_auc` is the study's performance metric (seed 002 §4.4, Table 7): the area under the test
  error-vs-cost curve over the cost range both curves cover, divided by that range.
* :func:`paired_wilcoxon` and :func:`percent_change` compare two methods' AUCs paired by cascade.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import stats

from ._x64 import x64
from .exceptions import DataValidationError

__all__ = [
    "Routing",
    "route",
    "route_core",
    "AUCResult",
    "curve_area",
    "error_cost_auc",
    "PairedComparison",
    "paired_wilcoxon",
    "percent_change",
]

DEFAULT_BATCH = 1024


# ------------------------------------------------------------------------------------------------ validation
def _as_matrix(x, name: str, n: int | None = None, k: int | None = None) -> np.ndarray:
    """``x`` as a finite float64 (n, k) matrix; errors name the argument."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise DataValidationError(f"'{name}' must be a 2-D (n_queries, n_models) array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise DataValidationError(f"'{name}' has {arr.shape[0]} queries (rows), expected {n} as in 'conf'")
    if k is not None and arr.shape[1] != k:
        raise DataValidationError(f"'{name}' has {arr.shape[1]} models (columns), expected {k} as in 'conf'")
    if not np.all(np.isfinite(arr)):
        raise DataValidationError(f"'{name}' contains NaN or infinite values")
    return arr


def validate_cascade_data(conf, correct, cost) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check per-query cascade data and return ``(conf, correct, cumcost)``.

    ``cumcost`` is (n, k): the cost a query incurs when it exits at model ``j`` (the sum of the costs of models
    ``1..j``), from per-query costs (n, k) or per-model expected costs (k,).
    """
    conf = _as_matrix(conf, "conf")
    n, k = conf.shape
    if n == 0:
        raise DataValidationError("'conf' has no queries")
    if k < 2:
        raise DataValidationError(f"a cascade needs at least 2 models, 'conf' has {k} column(s)")
    correct = _as_matrix(correct, "correct", n, k)
    if np.any((correct < 0) | (correct > 1)):
        raise DataValidationError("'correct' must lie in [0, 1] (0/1 correctness, or a probability of correctness)")
    cost_arr = np.asarray(cost, dtype=np.float64)
    if cost_arr.ndim == 1:
        if cost_arr.shape[0] != k:
            raise DataValidationError(f"'cost' as a per-model vector must have {k} entries, got {cost_arr.shape[0]}")
        if not np.all(np.isfinite(cost_arr)):
            raise DataValidationError("'cost' contains NaN or infinite values")
        cost_arr = np.broadcast_to(cost_arr, (n, k))
    else:
        cost_arr = _as_matrix(cost_arr, "cost", n, k)
    if np.any(cost_arr < 0):
        raise DataValidationError("'cost' must be non-negative")
    return conf, correct, np.cumsum(cost_arr, axis=1)


def validate_thresholds(thresholds, k: int) -> np.ndarray:
    """``thresholds`` as a float64 array (..., k-1); +-inf allowed (always / never defer), NaN not."""
    thr = np.asarray(thresholds, dtype=np.float64)
    if thr.ndim == 0 or thr.shape[-1] != k - 1:
        raise DataValidationError(
            f"'thresholds' must have shape (..., {k - 1}) for a cascade of {k} models, got shape {thr.shape}"
        )
    if np.any(np.isnan(thr)):
        raise DataValidationError("'thresholds' contains NaN")
    return thr


# ------------------------------------------------------------------------------------------------------ core
def exit_onehot(conf: jnp.ndarray, thresholds: jnp.ndarray) -> jnp.ndarray:
    """One-hot (n, k) indicator of the model that answers each query, for one threshold vector (k-1,).

    A query exits at the first model ``i < k`` with ``conf[:, i] > thresholds[i]`` (strict), else at model ``k``.
    """
    n = conf.shape[0]
    accept = jnp.concatenate([conf[:, :-1] > thresholds, jnp.ones((n, 1), dtype=bool)], axis=1)
    reached = jnp.cumprod(jnp.concatenate([jnp.ones((n, 1), dtype=bool), ~accept[:, :-1]], axis=1), axis=1)
    return (accept & reached.astype(bool)).astype(conf.dtype)


def _route_one(conf, correct, cumcost, thresholds):
    onehot = exit_onehot(conf, thresholds)
    error = jnp.mean(jnp.sum(onehot * (1.0 - correct), axis=1))
    cost = jnp.mean(jnp.sum(onehot * cumcost, axis=1))
    return error, cost, jnp.mean(onehot, axis=0)


def route_core(conf, correct, cumcost, thresholds, batch_size: int = DEFAULT_BATCH):
    """Pure-JAX routing of many threshold vectors (T, k-1): returns error (T,), mean cost (T,), shares (T, k).

    ``cumcost`` is the (n, k) cost of a query that exits at each model (cumulative over visited models).  Threshold
    vectors are vmapped in batches of ``batch_size`` (``jax.lax.map``), so peak memory is about
    ``batch_size * n * k`` numbers.  Call under float64 (``probcascade.float64()``).
    """
    fn = lambda t: _route_one(conf, correct, cumcost, t)  # noqa: E731
    return jax.lax.map(fn, thresholds, batch_size=min(batch_size, thresholds.shape[0]))


_route_jit = jax.jit(route_core, static_argnames=("batch_size",))


class Routing(NamedTuple):
    """Result of :func:`route`: arrays with the leading shape of the thresholds."""

    error: np.ndarray
    cost: np.ndarray
    shares: np.ndarray


@x64
def route(conf, correct, cost, thresholds, batch_size: int = DEFAULT_BATCH) -> Routing:
    """Route queries through a cascade for every threshold vector and score the outcome.

    Parameters
    ----------
    conf : array_like, shape (n, k)
        Calibrated confidence of each model on each query (only the first ``k-1`` columns are used for routing).
    correct : array_like, shape (n, k)
        1 if the model's answer is correct, else 0 (probabilities of correctness in [0, 1] are accepted too; the
        error is then an expected error).
    cost : array_like, shape (n, k) or (k,)
        Per-query cost of each model (USD), or per-model expected costs.  A query costs the sum of the costs of
        the models it visited; with a (k,) vector that is the cumulative expected cost at its exit model.
    thresholds : array_like, shape (..., k-1)
        Confidence thresholds; ``+inf`` always defers, ``-inf`` never does.  A query stops at model ``i < k``
        when ``conf[:, i] > thresholds[..., i]``.
    batch_size : int
        Number of threshold vectors vmapped at once (bounds memory to about ``batch_size * n * k`` numbers).

    Returns
    -------
    Routing
        ``error`` (...), ``cost`` (...) - the mean cost per query - and ``shares`` (..., k), the fraction of
        queries answered by each model (rows sum to 1).
    """
    conf, correct, cumcost = validate_cascade_data(conf, correct, cost)
    k = conf.shape[1]
    thr = validate_thresholds(thresholds, k)
    lead = thr.shape[:-1]
    flat = thr.reshape(-1, k - 1)
    if flat.shape[0] == 0:
        return Routing(np.zeros(lead), np.zeros(lead), np.zeros(lead + (k,)))
    if batch_size < 1:
        raise DataValidationError(f"'batch_size' must be a positive integer, got {batch_size}")
    t = flat.shape[0]
    # pad the number of vectors to a power of two (or a multiple of the batch) so that calls with similar numbers
    # of thresholds share one compilation; padding rows always defer and are dropped
    padded = 1 << (t - 1).bit_length() if t <= batch_size else -(-t // batch_size) * batch_size
    flat = np.concatenate([flat, np.full((padded - t, k - 1), np.inf)])
    err, c, shares = _route_jit(
        jnp.asarray(conf), jnp.asarray(correct), jnp.asarray(cumcost), jnp.asarray(flat), batch_size=int(batch_size)
    )
    return Routing(
        np.asarray(err)[:t].reshape(lead), np.asarray(c)[:t].reshape(lead), np.asarray(shares)[:t].reshape(lead + (k,))
    )


# ------------------------------------------------------------------------------------------------------- AUC
def _curve(cost, err, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Sort one error-cost curve by cost; at duplicate costs keep the lowest error (the lower envelope)."""
    x = np.asarray(cost, dtype=np.float64).ravel()
    y = np.asarray(err, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise DataValidationError(f"'cost_{name}' and 'err_{name}' have different lengths ({x.size} vs {y.size})")
    if x.size == 0:
        raise DataValidationError(f"curve '{name}' is empty")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise DataValidationError(f"curve '{name}' contains NaN or infinite costs or errors")
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
    x, y = _curve(cost, err, "a")
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
    """Area under two error-vs-cost curves on the cost range both cover (seed 002 §4.4, Table 7).

    Each curve is sorted by cost and linearly interpolated; both are integrated from the larger of the two minimum
    costs to the smaller of the two maximum costs and divided by that range, so the AUC is a mean error rate over
    the common cost range (lower is better).  Points with the same cost keep the lowest error: a duplicate cost
    means two threshold vectors with the same mean cost, and the better one is achievable at that cost.  On the
    78 reference grid-search test curves (Llama; MMLU, MedMCQA, TruthfulQA) there are 57 duplicate costs, all but
    one from vectors that route the test queries identically; keeping the lowest, mean or highest error reproduces
    the reference AUCs equally well (mean absolute deviation 2.6e-6 to 2.7e-6, the rounding of the reference).

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
    xa, _ = _curve(cost_a, err_a, "a")
    xb, _ = _curve(cost_b, err_b, "b")
    lo, hi = max(xa[0], xb[0]), min(xa[-1], xb[-1])
    if not hi > lo:
        raise DataValidationError(
            f"the cost ranges of the two curves do not overlap in an interval: a covers [{xa[0]}, {xa[-1]}], "
            f"b covers [{xb[0]}, {xb[-1]}]"
        )
    return AUCResult(curve_area(cost_a, err_a, lo, hi), curve_area(cost_b, err_b, lo, hi), float(lo), float(hi))


# ------------------------------------------------------------------------------------------ paired comparison
def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise DataValidationError(f"'auc_a' and 'auc_b' must be paired (same length), got {a.size} and {b.size}")
    if a.size == 0 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise DataValidationError("'auc_a' and 'auc_b' must be non-empty and finite")
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

    def summary(self) -> str:
        """Readable table of the comparison."""
        rows = [
            ("pairs", f"{self.n}"),
            ("mean AUC a", f"{self.mean_a:.4f}"),
            ("mean AUC b", f"{self.mean_b:.4f}"),
            ("% change (a vs b)", f"{self.pct_change:+.2f} +- {self.pct_change_se:.2f}"),
            ("Wilcoxon statistic", f"{self.statistic:.4g}"),
            (f"p-value ({self.alternative})", f"{self.pvalue:.3g}"),
        ]
        width = max(len(r[0]) for r in rows)
        lines = ["Paired Wilcoxon signed-rank test of AUC", "=" * (width + 16)]
        lines += [f"{name:<{width}}  {value:>14}" for name, value in rows]
        return "\n".join(lines)


def paired_wilcoxon(auc_a, auc_b, alternative: str = "less") -> PairedComparison:
    """Wilcoxon signed-rank test of two methods' AUCs paired by cascade, with the mean percentage change.

    The study tests ``wilcoxon(auc_baseline, auc_method, alternative="greater")``; with ``a`` the method and ``b``
    the baseline the default ``alternative="less"`` (``a - b`` tends to be negative) is the same test.  (The seed
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
    if alternative not in ("less", "greater", "two-sided"):
        raise DataValidationError(f"'alternative' must be 'less', 'greater' or 'two-sided', got {alternative!r}")
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
