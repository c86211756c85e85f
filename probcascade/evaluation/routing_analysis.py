"""Confidence-based routing from a small to a large model (Chuang et al. 2024 (Self-REF) §3.3 and §5.1).

A query goes to the large model when the small model's confidence is among the lowest: routing a share ``r``
sends the ``r * n`` least confident queries to the large model and answers the rest with the small one.

* :func:`routing_curve`: system accuracy against the routing rate as the threshold sweeps (``n + 1`` points).
* :func:`parity_routing_rate`: the least routing rate at which the routed system is at least as accurate as the
  large model alone (Chuang et al. 2024 (Self-REF) Table 2, "Route"), with a percentile bootstrap interval, and the cost (and
  latency) saved at parity when per-query model costs are given (Chuang et al. 2024 (Self-REF) Table 1).
* :func:`cascade_prefix_output`: the same analysis for a cascade prefix ``M_1 .. M_j -> M_large``: the prefix's
  exit model's confidence and correctness play the small model's part, and the prefix's mean cost its cost.
* :func:`aiq` and :func:`cost_quality_hull`: RouterBench's Average Improvement in Quality, the area under the
  non-decreasing upper convex hull of (cost, quality) points divided by the cost range (RouterBench's
  ``calc_AIQ``; the hull is what mixing routers at random achieves). The study's error-cost AUC is
  :func:`probcascade.evaluation.error_cost_auc`.

Ties as blocks (as in :mod:`probcascade.evaluation.rejection`): a share that cuts a block of tied confidences is
valued at its expectation over a random order inside the block.

The bootstrap resamples queries; a resample keeps the original confidence order, so each replicate is a vector
of multiplicities over the tied blocks and the parity rate is found on the replicate's piecewise-linear gain
curve. The replicates are one compiled JAX call, vmapped (``jax.lax.map`` with ``batch_size``), in float64.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from probcascade.exceptions import DataValidationError
from probcascade.precision import x64
from probcascade.summary import Summary
from probcascade.validation import (
    check_array,
    check_float,
    check_int,
    check_matching_rows,
    check_probability,
    pad_rows,
    padded_size,
)

__all__ = ["RoutingCurve", "routing_curve", "PrefixOutput", "cascade_prefix_output", "ParityResult",
           "parity_routing_rate", "aiq", "cost_quality_hull"]

DEFAULT_BATCH = 256


# ------------------------------------------------------------------------------------------------ validation
def _pair(conf_small, correct_small, correct_large) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c = check_array(conf_small, "conf_small", ndim=1, min_rows=1)
    ys = check_array(correct_small, "correct_small", ndim=1, unit_interval=True)
    yl = check_array(correct_large, "correct_large", ndim=1, unit_interval=True)
    check_matching_rows("conf_small", c, "correct_small", ys)
    check_matching_rows("conf_small", c, "correct_large", yl)
    return c, ys, yl


def _blocks(conf: np.ndarray, gain: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ascending confidence order: ``(sorted conf, block id per sorted query, queries per block, gain per block)``."""
    order = np.argsort(conf, kind="stable")
    c, g = conf[order], gain[order]
    new = np.concatenate([[True], c[1:] != c[:-1]])
    block = np.cumsum(new) - 1
    return c, block, np.bincount(block).astype(float), np.bincount(block, weights=g)


# ------------------------------------------------------------------------------------------- routing curve
class RoutingCurve(NamedTuple):
    """System accuracy for every routing rate ``m / n``, ``m = 0..n`` (the ``m`` least confident go large).

    ``threshold[m]`` is the small model's confidence of the ``m``-th least confident query (the last one routed;
    ``-inf`` for ``m = 0``). ``cost`` is the mean cost per query when model costs were given, else None.
    """

    rate: np.ndarray
    accuracy: np.ndarray
    threshold: np.ndarray
    accuracy_small: float
    accuracy_large: float
    cost: np.ndarray | None = None

    def to_frame(self) -> pd.DataFrame:
        """The curve as a DataFrame (``rate``, ``accuracy``, ``threshold`` and ``cost`` when known)."""
        d = {"rate": self.rate, "accuracy": self.accuracy, "threshold": self.threshold}
        if self.cost is not None:
            d["cost"] = self.cost
        return pd.DataFrame(d)

    def aiq(self) -> float:
        """RouterBench's AIQ of the curve's (cost, accuracy) points (needs costs)."""
        if self.cost is None:
            raise DataValidationError("the routing curve has no costs: pass 'cost' to routing_curve to get its AIQ")
        return aiq(self.cost, self.accuracy)


def system_cost(rate, cost_small: float, cost_large: float, *, small_always_runs: bool = True):
    """Mean cost per query at routing rate ``rate``: ``cost_small + rate * cost_large`` when the small model answers
    every query first (a cascade), ``(1 - rate) * cost_small + rate * cost_large`` when routing is decided before."""
    r = np.asarray(rate, float)
    return cost_small + r * cost_large if small_always_runs else (1 - r) * cost_small + r * cost_large


def _costs(cost, name: str) -> tuple[float, float] | None:
    if cost is None:
        return None
    a = check_array(cost, name, shape=(2,), low=0.0)
    return float(a[0]), float(a[1])


def routing_curve(conf_small, correct_small, correct_large, *, cost=None,
                  small_always_runs: bool = True) -> RoutingCurve:
    """Accuracy of routing the least confident share of queries from the small to the large model.

    Parameters
    ----------
    conf_small : array_like, shape (n,)
        The small model's confidence per query (any finite signal; higher: more confident).
    correct_small, correct_large : array_like, shape (n,)
        Correctness (0/1 or a probability) of each model's answer to each query.
    cost : pair of float, optional
        ``(cost_small, cost_large)`` per query, for the curve's mean cost (see :func:`system_cost`).
    small_always_runs : bool
        Whether a routed query also paid for the small model (True: it was asked first and its confidence read).
    """
    c, ys, yl = _pair(conf_small, correct_small, correct_large)
    costs = _costs(cost, "cost")
    n = c.size
    cs, block, counts, gains = _blocks(c, yl - ys)
    per_query = (gains / counts)[block]
    acc = (ys.sum() + np.concatenate([[0.0], np.cumsum(per_query)])) / n
    rate = np.arange(n + 1) / n
    thr = np.concatenate([[-np.inf], cs])
    cost_curve = None if costs is None else system_cost(rate, *costs, small_always_runs=small_always_runs)
    return RoutingCurve(rate, acc, thr, float(ys.mean()), float(yl.mean()), cost_curve)


class PrefixOutput(NamedTuple):
    """What a cascade prefix hands on per query: the confidence and correctness of the model that answered (its
    exit model) and the cost the query paid. The "small" side of :func:`routing_curve` for a prefix."""

    conf: np.ndarray
    correct: np.ndarray
    cost: np.ndarray
    exit: np.ndarray


def cascade_prefix_output(policy, conf, correct, cost) -> PrefixOutput:
    """Route queries through ``policy`` (a threshold cascade over a prefix ``M_1 .. M_j``) and return, per query, the
    exit model's confidence and correctness and the cost paid.

    Routing the prefix's least confident answers to a larger model is then ``routing_curve(out.conf, out.correct,
    correct_large, cost=(out.cost.mean(), cost_large))``: the prefix always runs first (``small_always_runs``).

    Parameters
    ----------
    policy : Policy
        A policy that answers with its exit model's own answer (``Decisions.answer`` is None), e.g.
        :class:`probcascade.policies.ThresholdPolicy`; policies that aggregate answers have no single confidence.
    conf, correct : array_like, shape (n, j)
        Calibrated confidences and 0/1 correctness of the prefix's models, in cascade order.
    cost : array_like, shape (n, j) or (j,)
        Per-query (or expected) cost of each model.
    """
    c = check_array(conf, "conf", ndim=2, min_rows=1)
    y = check_array(correct, "correct", ndim=2, unit_interval=True)
    check_matching_rows("conf", c, "correct", y)
    if y.shape[1] != c.shape[1]:
        raise DataValidationError(f"'correct' must have shape {c.shape} like 'conf', got {y.shape}")
    d = policy.route(c, cost)
    if d.answer is not None:
        raise DataValidationError(f"the policy {getattr(policy, 'kind', type(policy).__name__)!r} aggregates answers: "
                                  "its final answer has no single model confidence to route on")
    rows = np.arange(c.shape[0])
    return PrefixOutput(c[rows, d.exit], y[rows, d.exit], np.asarray(d.cost, float), np.asarray(d.exit))


# ------------------------------------------------------------------------------------------- parity rate
def parity_from_blocks(weights: jax.Array, gains: jax.Array, tolerance) -> jax.Array:
    """Least routed share at parity on one (re)sample given per-block multiplicities and summed gains.

    ``weights[b]``: how many queries of the sample are in tied block ``b`` (ascending confidence; zero for
    padding), ``gains[b]``: their summed ``correct_large - correct_small``. The routed gain ``G(m)`` after routing
    ``m`` queries is piecewise linear with knots at the blocks' cumulative counts; parity is the least integer
    ``m`` with ``G(m) >= G(n) - tolerance * n``.
    """
    n = weights.sum()
    knots_c = jnp.concatenate([jnp.zeros(1, weights.dtype), jnp.cumsum(weights)])
    knots_g = jnp.concatenate([jnp.zeros(1, gains.dtype), jnp.cumsum(gains)])
    need = knots_g[-1] - tolerance * n
    eps = 1e-9 * jnp.maximum(n, 1.0)
    j = jnp.argmax(knots_g >= need - eps)  # first knot at parity; exists since G(n) >= need
    prev = jnp.maximum(j - 1, 0)
    w, g = weights[prev], gains[prev]
    slope = jnp.where(w > 0, g / jnp.where(w > 0, w, 1.0), 1.0)
    inside = jnp.ceil((need - knots_g[prev]) / jnp.where(slope > 0, slope, 1.0) - 1e-9)
    m = jnp.clip(knots_c[prev] + inside, knots_c[prev], knots_c[j])
    return jnp.where(j == 0, 0.0, m) / n


@functools.partial(jax.jit, static_argnames=("n_blocks", "batch_size"))
def _bootstrap_core(keys, block_of, gain, n, tolerance, *, n_blocks: int, batch_size: int) -> jax.Array:
    size = block_of.shape[0]
    valid = (jnp.arange(size) < n).astype(gain.dtype)  # draws beyond n (padding) count for nothing

    def one(key):
        idx = jax.random.randint(key, (size,), 0, n)
        b = block_of[idx]
        w = jnp.zeros(n_blocks, gain.dtype).at[b].add(valid)
        g = jnp.zeros(n_blocks, gain.dtype).at[b].add(valid * gain[idx])
        return parity_from_blocks(w, g, tolerance)

    return jax.lax.map(one, keys, batch_size=batch_size)  # vmapped over replicates within each batch


@x64
def bootstrap_parity(conf_small, correct_small, correct_large, *, n_boot: int = 1000, seed: int = 0,
                     tolerance: float = 0.0, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
    """``n_boot`` bootstrap replicates of the parity routing rate (queries resampled with replacement)."""
    c, ys, yl = _pair(conf_small, correct_small, correct_large)
    b = check_int(n_boot, "n_boot", low=1)
    s = check_int(seed, "seed")
    tol = check_float(tolerance, "tolerance", low=0.0, high=1.0)
    bs = check_int(batch_size, "batch_size", low=1)
    _, block, counts, _ = _blocks(c, yl - ys)
    order = np.argsort(c, kind="stable")
    gain = (yl - ys)[order]
    size = padded_size(c.size)
    block_p, _ = pad_rows(block, size, 0)
    gain_p, _ = pad_rows(gain, size, 0.0)
    keys = jax.random.split(jax.random.key(s), b)
    out = _bootstrap_core(keys, jnp.asarray(block_p), jnp.asarray(gain_p, jnp.float64), jnp.asarray(c.size),
                          jnp.asarray(tol, jnp.float64), n_blocks=padded_size(counts.size), batch_size=min(bs, b))
    return np.asarray(out)


class ParityResult(NamedTuple):
    """The parity routing rate with its percentile bootstrap interval and what parity saves.

    ``rate``: least share routed at which the routed system's accuracy is at least the large model's (minus
    ``tolerance``). ``accuracy``: the routed system's accuracy there. ``cost``/``latency`` fields are NaN unless
    the per-query ``(small, large)`` values were given: the routed system's mean at parity, the large model's,
    the saving ``large - routed`` and the speed-up ``large / routed``.
    """

    rate: float
    ci_low: float
    ci_high: float
    level: float
    n_boot: int
    accuracy: float
    accuracy_small: float
    accuracy_large: float
    tolerance: float
    cost_at_parity: float = float("nan")
    cost_large: float = float("nan")
    cost_saved: float = float("nan")
    cost_ratio: float = float("nan")
    latency_at_parity: float = float("nan")
    latency_large: float = float("nan")
    latency_saved: float = float("nan")
    latency_speedup: float = float("nan")

    def to_dict(self) -> dict:
        """Plain dict with ``parity_routing_rate`` as ``{rate, ci_low, ci_high}`` (the CLI's JSON shape)."""
        d = {k: v for k, v in self._asdict().items() if k not in ("rate", "ci_low", "ci_high")}
        return {"parity_routing_rate": {"rate": self.rate, "ci_low": self.ci_low, "ci_high": self.ci_high}, **d}

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame."""
        return pd.DataFrame([self._asdict()])

    def summary(self) -> Summary:
        """Readable table (a :class:`~probcascade.summary.Summary`)."""
        d = {"parity routing rate": self.rate, f"{self.level:.0%} CI low": self.ci_low,
             f"{self.level:.0%} CI high": self.ci_high, "bootstrap replicates": self.n_boot,
             "accuracy at parity": self.accuracy, "small model accuracy": self.accuracy_small,
             "large model accuracy": self.accuracy_large}
        if not np.isnan(self.cost_saved):
            d.update({"cost at parity": self.cost_at_parity, "cost (large only)": self.cost_large,
                      "cost saved": self.cost_saved, "cost ratio": self.cost_ratio})
        if not np.isnan(self.latency_saved):
            d.update({"latency at parity": self.latency_at_parity, "latency (large only)": self.latency_large,
                      "latency saved": self.latency_saved, "latency speed-up": self.latency_speedup})
        return Summary("Parity routing rate (small -> large)").add_dict(d, float_format="{:.4g}")


@x64
def parity_routing_rate(conf_small, correct_small, correct_large, *, cost=None, latency=None,
                        small_always_runs: bool = True, tolerance: float = 0.0, n_boot: int = 1000,
                        level: float = 0.95, seed: int = 0, batch_size: int = DEFAULT_BATCH) -> ParityResult:
    """Least routing rate at which routing the least confident queries matches the large model's accuracy.

    Parameters
    ----------
    conf_small, correct_small, correct_large : array_like, shape (n,)
        As in :func:`routing_curve`.
    cost, latency : pair of float, optional
        ``(small, large)`` per query; the routed system's mean is :func:`system_cost` at the parity rate.
    tolerance : float
        Parity means accuracy ``>= accuracy_large - tolerance`` (Chuang et al.'s (2024) "comparable performance").
    n_boot, level, seed : int, float, int
        Percentile bootstrap over queries (``n_boot = 0``: no interval, NaN bounds).
    """
    c, ys, yl = _pair(conf_small, correct_small, correct_large)
    tol = check_float(tolerance, "tolerance", low=0.0, high=1.0)
    lev = check_probability(level, "level")
    b = check_int(n_boot, "n_boot", low=0)
    costs, lats = _costs(cost, "cost"), _costs(latency, "latency")
    _, _, counts, gains = _blocks(c, yl - ys)
    rate = float(parity_from_blocks(jnp.asarray(counts), jnp.asarray(gains), tol))
    if b:
        reps = bootstrap_parity(c, ys, yl, n_boot=b, seed=seed, tolerance=tol, batch_size=batch_size)
        lo, hi = (float(v) for v in np.quantile(reps, [(1 - lev) / 2, (1 + lev) / 2]))
    else:
        lo = hi = float("nan")
    curve = routing_curve(c, ys, yl)
    m = round(rate * c.size)
    extra = {}
    for key, pair in (("cost", costs), ("latency", lats)):
        if pair is None:
            continue
        at = float(system_cost(rate, *pair, small_always_runs=small_always_runs))
        last = "cost_ratio" if key == "cost" else "latency_speedup"
        extra.update({f"{key}_at_parity": at, f"{key}_large": pair[1], f"{key}_saved": pair[1] - at,
                      last: pair[1] / at if at > 0 else float("inf")})
    return ParityResult(rate, lo, hi, lev, b, float(curve.accuracy[m]), curve.accuracy_small, curve.accuracy_large,
                        tol, **extra)


# ------------------------------------------------------------------------------------------------------ AIQ
def cost_quality_hull(cost, quality) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the non-decreasing upper convex hull of (cost, quality) points, by increasing cost.

    The hull is the best quality reachable at each cost by mixing points at random (upper concave envelope),
    cut at the point of highest quality (beyond it quality stays flat: spending more never has to hurt).
    """
    x = check_array(cost, "cost", ndim=1, min_rows=1)
    y = check_array(quality, "quality", ndim=1)
    check_matching_rows("cost", x, "quality", y)
    order = np.lexsort((-y, x))
    x, y = x[order], y[order]
    keep = np.concatenate([[True], x[1:] != x[:-1]])  # per cost, the best quality
    x, y = x[keep], y[keep]
    hull: list[int] = []
    for i in range(x.size):  # Andrew's monotone chain, upper hull
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            if (x[b] - x[a]) * (y[i] - y[a]) - (y[b] - y[a]) * (x[i] - x[a]) >= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    hx, hy = x[hull], y[hull]
    top = int(np.argmax(hy))  # first vertex of highest quality
    return hx[: top + 1], hy[: top + 1]


def aiq(cost, quality, *, lo: float | None = None, hi: float | None = None) -> float:
    """Average Improvement in Quality (RouterBench): mean of the non-decreasing convex hull over ``[lo, hi]``.

    ``(1 / (hi - lo)) * integral of hull(c) dc`` (RouterBench's definition), the hull extended flat at its highest
    quality up to ``hi`` and counting nothing below the cheapest point. Defaults: the points' cost range.
    RouterBench's ``calc_AIQ`` integrates from the cheapest point and divides by the largest cost: pass ``lo=0``
    (and the largest cost over all compared routers as ``hi``) to reproduce it. Compare routers on one range.
    """
    hx, hy = cost_quality_hull(cost, quality)
    c = check_array(cost, "cost", ndim=1)
    lo_ = float(c.min()) if lo is None else check_float(lo, "lo")
    hi_ = float(c.max()) if hi is None else check_float(hi, "hi")
    if not hi_ > lo_:
        raise DataValidationError(f"degenerate cost range: lo={lo_!r} must be < hi={hi_!r}")
    start = max(lo_, float(hx[0]))  # below the cheapest point nothing is reachable: it adds no area
    if not hi_ > start:
        return 0.0
    knots = np.unique(np.concatenate([[start, hi_], hx[(hx > start) & (hx < hi_)]]))
    vals = np.interp(knots, hx, hy)  # np.interp is flat beyond the last vertex
    return float(np.trapezoid(vals, knots) / (hi_ - lo_))
