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
:func:`prob_correct_above` is the posterior of P(correct | Phi > phi) per model (the marginals alone).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from probcascade.distributions.marginal import MarginalParams, cdf, partial_expectation
from probcascade.exceptions import DataValidationError
from probcascade.joint.chain import cascade_metrics, chain_grid, static_families
from probcascade.joint.tables import CascadeParams, MarginalTable, table_arrays
from probcascade.posterior.results import PosteriorResult
from probcascade.precision import x64
from probcascade.validation import check_array, check_float, check_int

__all__ = ["PosteriorCascade", "posterior_cascade", "frontier_bands", "prob_correct_above", "N_TABLE_POSTERIOR"]

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


@jax.jit
def _above(marg: MarginalParams, phi):
    def one(p):
        pe = partial_expectation(p, phi[:, None])                 # (G, k)
        return pe / jnp.maximum(1.0 - cdf(p, phi[:, None]), 1e-300)
    return jax.vmap(one)(marg)


@x64
def prob_correct_above(result: PosteriorResult, phi) -> np.ndarray:
    """Posterior draws of P(correct | Phi_j > phi) = E[Phi_j 1{Phi_j > phi}] / P(Phi_j > phi), shape
    (draws, len(phi), k): the study's correctness model (a query is correct with probability its calibrated
    confidence) under each draw of the marginals."""
    phi = check_array(phi, "phi", ndim=1)
    m = MarginalParams(*map(jnp.asarray, result.marginal_draws()))
    return np.asarray(_above(m, jnp.asarray(phi)))
