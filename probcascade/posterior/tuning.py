"""Bayesian tuning: thresholds that minimise the *posterior-expected* objective of eq. 11.

Rational tuning (:mod:`probcascade.tuning.rational`) minimises ``(1 - P(Correct)) + lambda E[Cost]`` under the
point estimate of the Markov-copula model. Here the same objective
(the exact chain evaluation, :func:`probcascade.joint.chain.cascade_metrics`) is averaged over posterior draws -
one ``vmap`` over draws inside the gradient - and minimised for every (lambda, restart) at once by Adam in one
``jit``-compiled loop, as the rational tuner does; the frontier is the Pareto set of the solutions, with
the posterior means of P(Correct) and E[Cost]. With ``quantile=q`` the error term is the posterior q-quantile of
``1 - P(Correct)`` instead of its mean (risk-averse: a frontier of errors that hold with probability q).

:class:`BayesianTuner` (registered as ``"bayes"``) fits the posterior of the marginals and copulas to the
problem's calibrated training confidences by NUTS and tunes on it.
"""

from __future__ import annotations

import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from probcascade.exceptions import DataValidationError
from probcascade.posterior.predictive import PosteriorCascade, posterior_cascade
from probcascade.posterior.results import PosteriorResult
from probcascade.precision import x64
from probcascade.tuning.frontier import Frontier, pareto_mask
from probcascade.tuning.options import TuneOptions
from probcascade.tuning.rational import lambda_grid
from probcascade.joint.chain import cascade_metrics
from probcascade.validation import check_float, check_int

__all__ = ["bayes_tune", "BayesianTuner"]


@partial(jax.jit, static_argnames=("spec", "n_steps", "risk"))
def _solve(params, spec, costs, lo, hi, z0, lam, q, n_steps: int, risk: bool):
    """Adam on the posterior-expected (or quantile) objective for a batch of (z0, lam); returns z and the
    posterior-mean (P(Correct), E[Cost]) at the solution."""
    def draws(z):          # (P(Correct), E[Cost]) under every draw: the chain evaluation vmapped over draws
        t = lo + (hi - lo) * jax.nn.sigmoid(z)
        return jax.vmap(lambda p: cascade_metrics(p, spec, costs, t))(params)

    def expected(z, lam_one):
        pc, ec = draws(z)
        err = jnp.quantile(1.0 - pc, q) if risk else jnp.mean(1.0 - pc)
        return err + lam_one * jnp.mean(ec)

    sched = optax.cosine_decay_schedule(0.3, max(n_steps, 1), alpha=0.02)
    opt = optax.chain(optax.scale_by_adam(), optax.scale_by_schedule(lambda c: -sched(c)))
    grad = jax.vmap(jax.grad(expected))

    def step(_, carry):
        z, state = carry
        g = grad(z, lam)
        g = jnp.where(jnp.isfinite(g), g, 0.0)
        updates, state = opt.update(g, state, z)
        return jnp.clip(optax.apply_updates(z, updates), -30.0, 30.0), state

    z, _ = jax.lax.fori_loop(0, n_steps, step, (z0, opt.init(z0)))
    pc, ec = jax.vmap(draws)(z)
    return z, jnp.mean(pc, axis=1), jnp.mean(ec, axis=1)


@x64
def bayes_tune(posterior: PosteriorResult | PosteriorCascade, costs=None, *, options: TuneOptions | None = None,
               n_draws: int = 64, quantile: float | None = None, seed: int = 0, **overrides) -> Frontier:
    """The Bayesian frontier: per lambda of :func:`~probcascade.tuning.rational.lambda_grid`, thresholds minimising
    the posterior mean (or, with ``quantile``, the posterior ``quantile`` of the error plus lambda times the mean
    cost) over ``n_draws`` posterior draws. ``options``: :class:`~probcascade.TuneOptions` (``r``, ``n_restarts``,
    ``n_steps``, ``seed``, ``lambdas`` are used)."""
    opt = (options or TuneOptions()).replace(**overrides) if overrides else (options or TuneOptions())
    t0 = time.perf_counter()
    pc = posterior if isinstance(posterior, PosteriorCascade) else posterior_cascade(posterior, n_draws=n_draws,
                                                                                    seed=seed, costs=costs)
    if pc.k < 2:
        raise DataValidationError(f"a cascade needs at least 2 models to tune, got {list(pc.models)}")
    costs = pc._costs(costs)
    risk = quantile is not None
    if risk:
        check_float(quantile, "quantile", low=0.0, high=1.0)
    lams = lambda_grid(costs, opt.r) if opt.lambdas is None else np.asarray(opt.lambdas, dtype=np.float64)
    scale = costs.sum()
    lo, hi = pc.bounds
    rng = np.random.default_rng(opt.seed)
    k1 = pc.k - 1
    starts = np.concatenate([np.zeros((1, k1)), np.full((1, k1), -2.0), np.full((1, k1), 2.0),
                             rng.normal(0.0, 2.0, (max(opt.n_restarts - 3, 0), k1))])[:max(opt.n_restarts, 1)]
    L, R = lams.size, starts.shape[0]
    z0 = jnp.asarray(np.tile(starts, (L, 1)))
    lam = jnp.asarray(np.repeat(lams * scale, R))
    z, p_mean, c_mean = _solve(pc.params, pc.spec, jnp.asarray(costs / scale), jnp.asarray(lo), jnp.asarray(hi), z0,
                               lam, float(quantile or 0.5), int(check_int(opt.n_steps, "n_steps", low=0)), risk)
    z, p_mean, c_mean = np.asarray(z), np.asarray(p_mean), np.asarray(c_mean) * scale
    lam_rep = np.repeat(lams, R)
    keep = pareto_mask(c_mean, p_mean)
    thr = lo + (hi - lo) / (1.0 + np.exp(-z[keep]))
    order = np.argsort(c_mean[keep])[::-1]
    info = {"n_lambdas": int(L), "n_restarts": int(R), "n_steps": int(opt.n_steps), "n_draws": pc.n_draws,
            "quantile": quantile, "time_s": time.perf_counter() - t0}
    return Frontier.from_arrays(thr[order], p_mean[keep][order], c_mean[keep][order], lam=lam_rep[keep][order],
                                models=pc.models, method="bayes_tuning", info=info)


class BayesianTuner:
    """Bayesian tuning (:func:`bayes_tune`) on a NUTS posterior of the marginals and copulas fitted to the problem's
    calibrated training confidences (2 chains x 250 draws; the tuning uses 64 of them)."""

    name = "bayes"
    needs_model = False
    draws, chains, n_draws = 250, 2, 64

    def frontier(self, problem, options: TuneOptions) -> Frontier:
        from probcascade.posterior.fit import fit_posterior
        from probcascade.posterior.models import data_from_phi

        data = data_from_phi(problem.conf, problem.correct, problem.models, problem.costs,
                             blocks=("marginals", "copulas"))
        res = fit_posterior(data, draws=self.draws, chains=self.chains, seed=options.seed)
        return bayes_tune(res, problem.costs, options=options, n_draws=self.n_draws, seed=options.seed)
