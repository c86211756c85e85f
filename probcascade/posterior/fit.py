"""Fitting the posterior of :func:`~probcascade.posterior.models.cascade_model`: NUTS (default) or SVI.

NUTS runs its chains vectorised on one device (``chain_method="vectorized"``: one compiled program advances every
chain, no process per chain), seeded, in float64. SVI fits an ``AutoNormal`` (mean-field) or
``AutoMultivariateNormal`` guide with Adam and draws from it: seconds instead of tens of seconds, at the price of
the guide's shape (mean-field under-states correlated uncertainty; measured against NUTS in docs/design_notes.md).
Both return a :class:`~probcascade.posterior.results.PosteriorResult` wrapping an ``arviz.InferenceData``.
"""

from __future__ import annotations

import time
from functools import partial

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions.transforms import biject_to
from numpyro.infer import MCMC, NUTS, SVI, Trace_ELBO, init_to_uniform
from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal
import optax

from probcascade.data.cascade import CascadeData
from probcascade.posterior.models import BLOCKS, Priors, PosteriorData, cascade_model, point_init, prepare_data
from probcascade.posterior.results import PosteriorResult, dims_of
from probcascade.precision import x64
from probcascade.validation import check_choice, check_int

__all__ = ["fit_posterior", "METHODS"]

#: Posterior methods: NUTS (exact up to Monte Carlo error) and SVI guides.
METHODS = ("nuts", "svi", "svi-mvn")


def _coords(data: PosteriorData) -> dict:
    m = data.n_components
    return {"model": list(data.models), "term": ["const", "xi"], "weight": ["w_lo", "w_hi"] + [f"comp_{j}" for j in range(m)],
            "component": list(range(m)), "link": [f"{a}->{b}" for a, b in zip(data.models[:-1], data.models[1:])],
            "cell_rc": [f"{r}{c}" for r in "LIH" for c in "LIH"], "coef": ["alpha", "beta", "gamma"]}


def init_near(site=None, values: dict | None = None, radius: float = 0.1):
    """NumPyro init strategy (use ``init_near(values=..., radius=...)``): each chain starts at ``values``
    (constrained point estimates) moved by a uniform ``(-radius, radius)`` jitter in the unconstrained space (so that
    the chains' starts differ and R-hat can see disagreement); sites without a value start as ``init_to_uniform``."""
    if site is None:
        return partial(init_near, values=values or {}, radius=radius)
    if site["type"] != "sample" or site["is_observed"]:
        return None
    if site["name"] not in values:
        return init_to_uniform(site)
    t = biject_to(site["fn"].support)
    z = t.inv(jnp.asarray(values[site["name"]]))
    jitter = jax.random.uniform(site["kwargs"]["rng_key"], jnp.shape(z), minval=-radius, maxval=radius)
    return t(z + jitter)


def _to_idata(samples: dict, data: PosteriorData, sample_stats: dict | None, chains: int, info: dict) -> az.InferenceData:
    posterior = {k: np.asarray(v) for k, v in samples.items() if not k.startswith("obs_")}
    coords = _coords(data)
    dims = dims_of(posterior, data)
    obs = data.observed()
    obs_dims = {"xi": ["query", "model"], "correct": ["query", "model"], "phi": ["query", "model"],
                "cells": ["link", "row", "col"], "costs": ["model"]}
    idata = az.from_dict(posterior=posterior, sample_stats=sample_stats, observed_data=obs, coords=coords,
                         dims={**dims, **obs_dims})
    idata.posterior.attrs.update(info)
    return idata


@x64
def fit_posterior(
    train: CascadeData | PosteriorData,
    *,
    method: str = "nuts",
    draws: int = 1000,
    chains: int = 4,
    warmup: int | None = None,
    seed: int = 0,
    priors: Priors | None = None,
    family: str = "gumbel",
    n_components: int = 2,
    transform: str | None = None,
    blocks=BLOCKS,
    target_accept: float = 0.9,
    dense_mass: bool = False,
    svi_steps: int = 3000,
    progress: bool = False,
) -> PosteriorResult:
    """Posterior of the calibrators, marginals, copulas and pairwise correctness of ``train``'s cascade.

    Parameters
    ----------
    train : CascadeData (calibrated here with the point calibrators) or a prepared
        :class:`~probcascade.posterior.models.PosteriorData`
    method : {"nuts", "svi", "svi-mvn"}
        NUTS (default), or SVI with an ``AutoNormal`` / ``AutoMultivariateNormal`` guide.
    draws, chains, warmup : int
        Posterior draws per chain, chains (vectorised), warm-up steps (default 500: the sampler starts near the
        point estimates, see :func:`init_near`, and the chains of the shared Llama fits are stationary well
        before; experiments/results/posterior_convergence.md).
    seed : int
        Seed of the sampler (results are reproducible for a given seed).
    priors : Priors, optional
        Prior scales (see :class:`~probcascade.posterior.models.Priors`).
    family, n_components, transform, blocks
        Copula family of every link, beta components per marginal, confidence transform, and which blocks to fit.
    """
    check_choice(method, "method", METHODS)
    check_int(draws, "draws", low=1)
    check_int(chains, "chains", low=1)
    check_int(seed, "seed", low=0)
    priors = priors or Priors()
    data = train if isinstance(train, PosteriorData) else prepare_data(
        train, transform=transform, family=family, n_components=n_components, blocks=blocks)
    warmup = 500 if warmup is None else check_int(warmup, "warmup", low=1)
    key = jax.random.PRNGKey(seed)
    t0 = time.perf_counter()
    c0 = time.process_time()
    if method == "nuts":
        kernel = NUTS(cascade_model, target_accept_prob=target_accept, init_strategy=init_near(values=point_init(data, priors)),
                      dense_mass=dense_mass)
        mcmc = MCMC(kernel, num_warmup=warmup, num_samples=draws, num_chains=chains, chain_method="vectorized",
                    progress_bar=progress)
        mcmc.run(key, data, priors, extra_fields=("diverging", "num_steps", "accept_prob", "energy"))
        samples = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
        extra = mcmc.get_extra_fields(group_by_chain=True)
        stats = {"diverging": np.asarray(extra["diverging"]), "n_steps": np.asarray(extra["num_steps"]),
                 "acceptance_rate": np.asarray(extra["accept_prob"]), "energy": np.asarray(extra["energy"])}
    else:
        guide_cls = AutoNormal if method == "svi" else AutoMultivariateNormal
        guide = guide_cls(cascade_model, init_loc_fn=init_near(values=point_init(data, priors), radius=0.0))
        svi = SVI(cascade_model, guide, optax.adam(0.01), Trace_ELBO())
        res = svi.run(key, svi_steps, data, priors, progress_bar=progress)
        from numpyro.infer import Predictive

        from numpyro import handlers

        tr = handlers.trace(handlers.seed(cascade_model, 0)).get_trace(data, priors)
        sites = [n for n, site in tr.items() if site["type"] in ("sample", "deterministic")
                 and not site.get("is_observed", False) and not n.startswith("obs_")]
        pred = Predictive(cascade_model, guide=guide, params=res.params, num_samples=draws * chains,
                          return_sites=sites)
        out = pred(jax.random.fold_in(key, 1), data, priors)
        samples = {k: np.asarray(v).reshape((chains, draws) + np.shape(v)[1:]) for k, v in out.items()
                   if not k.startswith("obs_")}
        stats = None
    info = {"method": method, "draws": draws, "chains": chains, "warmup": warmup if method == "nuts" else 0,
            "seed": seed, "family": data.families[0] if data.families else "", "n_components": data.n_components,
            "transform": data.transform, "n": int(data.phi.shape[0]),
            "time_s": time.perf_counter() - t0, "cpu_time_s": time.process_time() - c0}
    idata = _to_idata(samples, data, stats, chains, info)
    return PosteriorResult(idata, data, priors)
