"""Posterior predictive of a cascade: P(Correct) and E[Cost] of threshold vectors under every posterior draw.

:func:`posterior_cascade` turns the draws of a :class:`~probcascade.posterior.results.PosteriorResult` into a
:class:`PosteriorCascade`: the :class:`~probcascade.joint.tables.CascadeParams` of the exact Markov-chain evaluation
(:mod:`probcascade.joint.chain`) with a leading draw axis - marginal look-up tables
(:func:`~probcascade.joint.tables.table_arrays`, ``n_table`` intervals) and the chain grid
(:func:`~probcascade.joint.chain.chain_grid`), both built by one ``vmap`` over draws. Its :meth:`~PosteriorCascade.metrics`
evaluates the package's own :func:`~probcascade.joint.chain.cascade_metrics` with one ``vmap`` over draws (and one
over threshold vectors) inside one ``jit``: no second implementation of the objective, no Python loop over draws.

:func:`frontier_bands` adds credible bands to a :class:`~probcascade.Frontier` (equal-tailed intervals of P(Correct)
and E[Cost] over draws, and the posterior probability that a point beats a target accuracy or budget);
:func:`prob_correct_above` is the posterior of P(correct | Phi > phi) per model, where Phi is the point-calibrated
confidence: under draw d it is ``E_d[c_d(Phi) | Phi > phi]``, the draw's marginal of Phi averaged against the
draw's calibrator ``c_d`` (the probability of a correct answer at the signal whose point-calibrated confidence is
Phi; :func:`calibration_draws`), so that both the calibration and the confidence distribution are uncertain;
:func:`predictive_frequency` adds the binomial noise of a test set of a given size (the posterior *predictive* of
the frequency of correct answers among its queries with Phi > phi).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from probcascade.distributions.marginal import MarginalParams, cdf, interior_cdf
from probcascade.exceptions import DataValidationError
from probcascade.joint.chain import cascade_metrics, chain_grid, static_families
from probcascade.joint.tables import CascadeParams, MarginalTable, table_arrays
from probcascade.posterior.results import PosteriorResult
from probcascade.precision import x64
from probcascade.validation import check_array, check_float, check_int

__all__ = ["PosteriorCascade", "posterior_cascade", "frontier_bands", "prob_correct_above", "calibration_draws",
           "draws_metrics",
           "predictive_frequency", "N_TABLE_POSTERIOR", "N_GRID_ABOVE"]

#: Intervals of each draw's marginal look-up tables (the point model uses 4096; 512 keeps 1000 draws of a k = 5
#: cascade near 100 MB and changes P(Correct) by < 1e-5, far below the posterior spread).
N_TABLE_POSTERIOR = 512


@dataclass(frozen=True, eq=False)
class PosteriorCascade:
    """The chain-evaluation parameters of every posterior draw (``params`` has a leading draw axis)."""

    models: tuple[str, ...]
    params: CascadeParams
    families: tuple[str, ...]
    costs: np.ndarray | None = None

    @property
    def k(self) -> int:
        return len(self.models)

    @property
    def n_draws(self) -> int:
        return int(np.shape(self.params.theta)[0])

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) of the first k-1 models (the same in every draw: the observed range)."""
        return np.asarray(self.params.marg.lo[0, :-1]), np.asarray(self.params.marg.hi[0, :-1])

    @property
    def spec(self):
        return static_families(jax.tree_util.tree_map(lambda z: z[0], self.params), self.families)

    @x64
    def metrics(self, thresholds, costs=None) -> tuple[np.ndarray, np.ndarray]:
        """(P(Correct), E[Cost]) of shape (draws, T) for thresholds (T, k-1) (or (k-1,): shape (draws,))."""
        costs = self._costs(costs)
        t = check_array(thresholds, "thresholds", finite="allow-inf")
        if t.ndim == 0 or t.shape[-1] != self.k - 1:
            raise DataValidationError(f"'thresholds' must have {self.k - 1} values per vector for cascade "
                                      f"{list(self.models)}, got shape {t.shape}")
        flat = t.reshape(-1, self.k - 1)
        pc, ec = _metrics_draws(self.params, self.spec, jnp.asarray(costs), jnp.asarray(flat))
        shape = (self.n_draws,) + t.shape[:-1]
        return np.asarray(pc).reshape(shape), np.asarray(ec).reshape(shape)

    def _costs(self, costs):
        costs = self.costs if costs is None else costs
        if costs is None:
            raise DataValidationError("'costs' is needed (the expected cost per query of each model)")
        try:
            return check_array(costs, "costs", shape=(self.k,))
        except DataValidationError as exc:
            raise DataValidationError(f"cascade {list(self.models)}: {exc}") from exc


@partial(jax.jit, static_argnums=(1,))
def _metrics_draws(params, spec, costs, thresholds):
    """One vmap over draws of the vmapped chain evaluation: (draws, T) arrays."""
    per_draw = lambda p: jax.vmap(lambda t: cascade_metrics(p, spec, costs, t))(thresholds)
    return jax.vmap(per_draw)(params)


@partial(jax.jit, static_argnums=(3, 4))
def _build(marg: MarginalParams, table, theta, families, n_table):
    """CascadeParams with chain grid for every draw (marg: (D, k) batch)."""
    def one(m, tab, th):
        tabs = jax.vmap(lambda mi: table_arrays(mi, n_table))(m)
        mt = MarginalTable(m.lo, m.hi, m.w_lo, m.w_hi, tabs)
        params = CascadeParams(mt, tab, th)
        return params._replace(chain=chain_grid(params, families, m))
    return jax.vmap(one)(marg, table, theta)


@x64
def posterior_cascade(result: PosteriorResult, *, n_draws: int | None = None, seed: int = 0,
                      n_table: int = N_TABLE_POSTERIOR, costs=None) -> PosteriorCascade:
    """The :class:`PosteriorCascade` of ``result``'s full cascade (its adjacent links are the ones fitted).

    ``n_draws``: use a random subset of that many draws (default all), chosen with ``seed``.
    """
    if result.data.k < 2:
        raise DataValidationError("the posterior predictive needs a cascade of at least 2 models")
    check_int(n_table, "n_table", low=16)
    marg = result.marginal_draws()
    table, theta = result.cell_tables(), result.draws("theta")
    total = marg.lo.shape[0]
    if n_draws is not None:
        check_int(n_draws, "n_draws", low=1)
        if n_draws < total:
            idx = np.sort(np.random.default_rng(seed).choice(total, n_draws, replace=False))
            marg = MarginalParams(*(np.asarray(z)[idx] for z in marg))
            table, theta = table[idx], theta[idx]
    params = _build(MarginalParams(*map(jnp.asarray, marg)), jnp.asarray(table), jnp.asarray(theta),
                    tuple(result.data.families), int(n_table))
    costs = result.data.costs if costs is None else costs
    return PosteriorCascade(result.models, params, tuple(result.data.families),
                            None if costs is None else np.asarray(costs, dtype=np.float64))


def draws_metrics(marg: MarginalParams, table, theta, families: tuple[str, ...], costs, thresholds,
                  n_table: int = N_TABLE_POSTERIOR):
    """(P(Correct), E[Cost]), each (draws, T), of cascades given by a leading draw axis of ``marg`` (draws, k),
    ``table`` (draws, k-1, 3, 3) and ``theta`` (draws, k-1), at thresholds (T, k-1). Pure and traceable (what
    :class:`PosteriorCascade` does in one call, for use inside ``jit``/``vmap``/``lax.map`` over data sets, e.g.
    over the replicates of a simulation); with a single draw of the true parameters it is the exact truth."""
    params = _build(marg, table, theta, tuple(families), int(n_table))
    spec = static_families(jax.tree_util.tree_map(lambda z: z[0], params), tuple(families))
    return _metrics_draws(params, spec, costs, thresholds)


def _interval(x: np.ndarray, prob: float):
    a = (1.0 - prob) / 2.0
    return np.quantile(x, a, axis=0), np.quantile(x, 1.0 - a, axis=0)


def frontier_bands(pc: PosteriorCascade, frontier, prob: float = 0.9, costs=None, *,
                   target_accuracy: float | None = None, budget: float | None = None) -> pd.DataFrame:
    """The frontier's points with posterior mean and equal-tailed ``prob`` intervals of P(Correct) and E[Cost].

    Columns added to ``frontier.frame``: ``p_correct_mean``, ``p_correct_lo``, ``p_correct_hi``, ``e_cost_mean``,
    ``e_cost_lo``, ``e_cost_hi``; with ``target_accuracy``, ``prob_accuracy`` = P(P(Correct) >= target | data);
    with ``budget``, ``prob_budget`` = P(E[Cost] <= budget | data).
    """
    check_float(prob, "prob", low=0.0, high=1.0, low_open=True, high_open=True)
    if tuple(frontier.models) != tuple(pc.models):
        raise DataValidationError(f"the frontier's models {list(frontier.models)} are not the posterior's cascade "
                                  f"{list(pc.models)}")
    p_draws, c_draws = pc.metrics(frontier.thresholds, costs)
    out = frontier.frame.copy()
    for name, d in (("p_correct", p_draws), ("e_cost", c_draws)):
        lo, hi = _interval(d, prob)
        out[f"{name}_mean"], out[f"{name}_lo"], out[f"{name}_hi"] = d.mean(axis=0), lo, hi
    if target_accuracy is not None:
        out["prob_accuracy"] = (p_draws >= target_accuracy).mean(axis=0)
    if budget is not None:
        out["prob_budget"] = (c_draws <= budget).mean(axis=0)
    return out


#: Intervals of the quadrature of ``E_d[c_d(Phi) 1{Phi > phi}]`` over the interior of each marginal.
N_GRID_ABOVE = 512


@partial(jax.jit, static_argnums=(4,))
def _above(marg: MarginalParams, a, b, phi, n_grid: int):
    """(draws, P, k): ``E[c(Phi) | Phi > phi]`` with ``c(u) = sigmoid(a + b logit u)`` per draw and model: the atoms
    exactly, the interior by the midpoint rule on ``n_grid`` cells of the interior cdf between ``max(phi, lo)`` and
    ``hi`` (``a = 0, b = 1`` gives ``E[Phi | Phi > phi]``)."""
    t = jnp.linspace(0.0, 1.0, n_grid + 1)

    def one(p, a_d, b_d):
        c = lambda u: jax.nn.sigmoid(a_d + b_d * (jnp.log(u) - jnp.log1p(-u)))      # (..., k)
        start = jnp.maximum(phi[:, None], p.lo)                                     # (P, k)
        x = start[:, None, :] + (p.hi - start)[:, None, :] * t[:, None]            # (P, G + 1, k)
        g = interior_cdf(p, x)
        mass = jnp.diff(g, axis=1)                                                    # interior_cdf(lo) = 0
        mid = 0.5 * (x[:, 1:] + x[:, :-1])
        inner = (1.0 - p.w_lo - p.w_hi) * jnp.sum(mass * c(jnp.clip(mid, 1e-12, 1.0 - 1e-12)), axis=1)
        atoms = (jnp.where(p.lo > phi[:, None], p.w_lo * c(jnp.clip(p.lo, 1e-12, 1 - 1e-12)), 0.0)
                 + jnp.where(p.hi > phi[:, None], p.w_hi * c(jnp.clip(p.hi, 1e-12, 1 - 1e-12)), 0.0))
        return (atoms + inner) / jnp.maximum(1.0 - cdf(p, phi[:, None]), 1e-300)
    return jax.vmap(one)(marg, a, b)


def calibration_draws(result: PosteriorResult) -> tuple[np.ndarray, np.ndarray]:
    """(a, b), each (draws, k): under draw d, a query whose point-calibrated confidence is u is correct with
    probability ``sigmoid(a + b logit u)``. The point calibrator is ``logit u = b0 + b1 xi`` (recovered exactly from
    the data's ``xi`` and ``phi``) and draw d's is ``c0 + c1 xi``, so ``a = c0 - c1 b0 / b1``, ``b = c1 / b1``."""
    d = result.data
    if "calibrators" not in d.blocks:
        raise DataValidationError("the posterior has no calibrator block (fit with blocks including 'calibrators')")
    coef = result.draws("calib_coef")                                             # (D, k, 2)
    a, b = np.empty(coef.shape[:2]), np.empty(coef.shape[:2])
    for j, m in enumerate(d.models):
        u = d.phi[:, j]
        ok = (u > 1e-12) & (u < 1.0 - 1e-12)
        X = np.column_stack([np.ones(ok.sum()), d.xi[ok, j]])
        if ok.sum() < 2 or np.ptp(d.xi[ok, j]) == 0:
            raise DataValidationError(f"model '{m}': the point calibrator cannot be recovered from its confidences")
        b0, b1 = np.linalg.lstsq(X, np.log(u[ok]) - np.log1p(-u[ok]), rcond=None)[0]
        a[:, j], b[:, j] = coef[:, j, 0] - coef[:, j, 1] * b0 / b1, coef[:, j, 1] / b1
    return a, b


@x64
def prob_correct_above(result: PosteriorResult, phi, *, calibrators: bool = True, n_draws: int | None = None,
                       seed: int = 0, n_grid: int = N_GRID_ABOVE) -> np.ndarray:
    """Posterior draws of P(correct_j | Phi_j > phi) for the point-calibrated confidence Phi_j, shape
    (draws, len(phi), k): ``E_d[c_d(Phi_j) | Phi_j > phi]`` under each draw's marginal and calibrator
    (:func:`calibration_draws`). With ``calibrators=False`` (or a posterior without the calibrator block) the
    calibrator is taken as exact, ``c(u) = u``: the study's correctness model, ``E_d[Phi_j | Phi_j > phi]``.
    ``n_draws``: a random subset of that many draws (chosen with ``seed``)."""
    phi = check_array(phi, "phi", ndim=1)
    check_int(n_grid, "n_grid", low=8)
    m = result.marginal_draws()
    if calibrators and "calibrators" in result.data.blocks:
        a, b = calibration_draws(result)
    else:
        a, b = np.zeros(m.lo.shape), np.ones(m.lo.shape)
    if n_draws is not None and check_int(n_draws, "n_draws", low=1) < a.shape[0]:
        idx = np.sort(np.random.default_rng(seed).choice(a.shape[0], n_draws, replace=False))
        m, a, b = MarginalParams(*(np.asarray(z)[idx] for z in m)), a[idx], b[idx]
    return np.asarray(_above(MarginalParams(*map(jnp.asarray, m)), jnp.asarray(a), jnp.asarray(b), jnp.asarray(phi),
                             int(n_grid)))


def predictive_frequency(p_draws, n, seed: int = 0) -> np.ndarray:
    """Posterior predictive of an observed frequency: ``Binomial(n, p) / n`` for every draw ``p`` of ``p_draws``
    (``n`` broadcasts against it; entries with ``n == 0`` are NaN)."""
    p = np.clip(np.asarray(p_draws, dtype=np.float64), 0.0, 1.0)
    n = np.broadcast_to(np.asarray(n, dtype=np.int64), p.shape)
    k = np.random.default_rng(seed).binomial(np.maximum(n, 1), np.nan_to_num(p))
    return np.where(n > 0, k / np.maximum(n, 1), np.nan)
