"""NUTS on many same-shaped data sets at once: one compiled program ``vmap``-ed over replicates.

A simulation study (e.g. the coverage of posterior intervals over hundreds of simulated data sets) needs the
posterior of :func:`~probcascade.posterior.models.cascade_model` for every replicate. Running
:func:`~probcascade.posterior.fit.fit_posterior` in a Python loop would compile and run one MCMC per replicate;
:func:`fit_nuts_batch` instead builds NumPyro's functional NUTS (``numpyro.infer.util.initialize_model`` with
``dynamic_args=True`` gives the potential-energy and post-processing generators of the model for any data;
``numpyro.infer.hmc.hmc(potential_fn_gen=..., algo="NUTS")`` gives ``init_kernel``/``sample_kernel``) and runs it
with ``jax.lax.map`` over the flattened (replicate, chain) pairs (the chains of ``batch_size`` replicates are
``vmap``-ed together, by default all of them; one flat vmap compiles much faster than a vmap over chains nested in
one over replicates) and one ``jax.lax.scan`` over warm-up and sampling: one ``jit``, every chain with its own step
size and diagonal mass matrix (Stan's windowed adaptation, as ``MCMC`` does).

The data sets enter through :func:`stack_data`: a list of :class:`~probcascade.posterior.models.PosteriorData` of
the same cascade, number of queries, copula families, blocks and ordered coordinates becomes a :class:`BatchData`
(arrays with a leading replicate axis; each pair's pseudo-observations padded to n rows with zero-weight rows, the
model's ``uv_weight``) plus each replicate's point estimates (:func:`~probcascade.posterior.models.point_init`),
from which every chain starts, jittered by a uniform ``(-radius, radius)`` in the unconstrained space as
:func:`~probcascade.posterior.fit.init_near` does for a single fit. The calibrator block standardises its feature
with NumPy and cannot be traced over replicates: batch fits take the other blocks (``data_from_phi`` without ``xi``).

A vmapped ``while`` loop runs until the *longest* NUTS trajectory of the batch ends, so each iteration costs the
batch's deepest tree: ``max_tree_depth`` (default 8, 255 leapfrog steps) bounds it, and a smaller ``batch_size``
trades vectorisation for shallower maxima. The result, :class:`BatchPosterior`, holds the draws
``(R, chains, draws, ...)`` of every sampled and deterministic site, the divergences of each replicate, and the
split R-hat and effective sample size of every sampled site (NumPyro's ``split_gelman_rubin`` /
``effective_sample_size``, vectorised over replicates; not rank-normalised, unlike ArviZ's bulk ESS).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
from numpyro.distributions.transforms import biject_to
from numpyro.infer.hmc import hmc
from numpyro.infer.util import initialize_model

from probcascade.exceptions import DataValidationError
from probcascade.posterior.models import Priors, PosteriorData, cascade_model, point_init
from probcascade.posterior.results import ESS_MIN, RHAT_MAX
from probcascade.precision import x64
from probcascade.summary import Summary
from probcascade.validation import check_float, check_int

__all__ = ["BatchData", "BatchPosterior", "stack_data", "fit_nuts_batch"]

#: Fields of :class:`PosteriorData` that vary over replicates (stacked with a leading replicate axis).
_ARRAY_FIELDS = ("phi", "correct", "xi", "lo", "hi", "cells")
#: Fields that must agree across replicates (they shape the compiled program).
_STATIC_FIELDS = ("models", "families", "n_components", "blocks", "order_by", "transform")


@dataclass(frozen=True, eq=False)
class BatchData:
    """R same-shaped data sets of one cascade: ``template`` (replicate 0, padded like the others) fixes everything
    static; ``arrays`` maps the varying fields (``phi``, ``correct``, ``xi``, ``lo``, ``hi``, ``cells``, ``uv``
    (R, k-1, n, 2), ``uv_weight`` (R, k-1, n)) to stacked arrays; ``init`` the point estimates (constrained values,
    leading axis R) the chains start from."""

    template: PosteriorData
    arrays: dict
    init: dict

    @property
    def n_replicates(self) -> int:
        return int(self.arrays["phi"].shape[0])

    def data(self, arrays: dict) -> PosteriorData:
        """The :class:`PosteriorData` of one replicate's arrays (traceable: used inside the vmapped sampler)."""
        k = self.template.k
        return dataclasses.replace(self.template, **{f: arrays[f] for f in _ARRAY_FIELDS},
                                   uv=tuple(arrays["uv"][i] for i in range(k - 1)),
                                   uv_weight=tuple(arrays["uv_weight"][i] for i in range(k - 1)))


def _padded_uv(d: PosteriorData, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(k-1, n, 2) pseudo-observations padded with (0.5, 0.5) rows and (k-1, n) 0/1 weights."""
    uv, w = np.full((d.k - 1, n, 2), 0.5), np.zeros((d.k - 1, n))
    for i, u in enumerate(d.uv):
        keep = np.asarray(d.uv_weight[i]) > 0 if d.uv_weight else np.ones(len(u), bool)
        u = np.asarray(u)[keep]
        uv[i, :len(u)], w[i, :len(u)] = u, 1.0
    return uv, w


def stack_data(datas: Sequence[PosteriorData], priors: Priors | None = None) -> BatchData:
    """Stack same-shaped data sets (see the module docstring) for :func:`fit_nuts_batch`.

    Every data set needs the same models, number of queries, families, blocks, components and ``order_by`` (pass
    ``order_by`` to :func:`~probcascade.posterior.models.data_from_phi`, or replace it, so that all agree); the
    calibrator block is not supported. Each replicate's chains start at its :func:`point_init`.
    """
    datas = list(datas)
    if not datas:
        raise DataValidationError("stack_data: no data sets given")
    first = datas[0]
    if "calibrators" in first.blocks:
        raise DataValidationError("stack_data: the 'calibrators' block cannot be batched (build the data with "
                                  "data_from_phi without xi, or drop the block)")
    n = first.phi.shape[0]
    for r, d in enumerate(datas):
        for f in _STATIC_FIELDS:
            if getattr(d, f) != getattr(first, f):
                raise DataValidationError(f"stack_data: data set {r} has {f} = {getattr(d, f)!r}, data set 0 has "
                                          f"{getattr(first, f)!r} (every replicate must agree)")
        if d.phi.shape != first.phi.shape:
            raise DataValidationError(f"stack_data: data set {r} has phi of shape {d.phi.shape}, data set 0 has "
                                      f"{first.phi.shape}")
    priors = priors or Priors()
    padded = [_padded_uv(d, n) for d in datas]
    arrays = {f: np.stack([np.asarray(getattr(d, f), dtype=np.float64) for d in datas]) for f in _ARRAY_FIELDS}
    arrays["uv"] = np.stack([p[0] for p in padded])
    arrays["uv_weight"] = np.stack([p[1] for p in padded])
    inits = [point_init(d, priors) for d in datas]
    init = {name: np.stack([np.asarray(i[name], dtype=np.float64) for i in inits]) for name in inits[0]}
    template = dataclasses.replace(first, uv=tuple(padded[0][0]), uv_weight=tuple(padded[0][1]))
    return BatchData(template, arrays, init)


@dataclass(frozen=True, eq=False)
class BatchPosterior:
    """Posterior draws of R replicates: ``samples[site]`` is (R, chains, draws, ...); ``divergences`` (R,) counts
    divergent transitions after warm-up; ``r_hat`` / ``ess`` map every sampled site to its split R-hat / effective
    sample size (R, ...); ``mean_steps`` (R,) the mean leapfrog steps per iteration; ``info`` the settings and timings."""

    samples: dict
    divergences: np.ndarray
    r_hat: dict
    ess: dict
    mean_steps: np.ndarray
    info: dict

    @property
    def n_replicates(self) -> int:
        return int(self.divergences.shape[0])

    def draws(self, site: str) -> np.ndarray:
        """(R, chains * draws, ...) draws of ``site`` (chains pooled)."""
        x = self.samples[site]
        return x.reshape((x.shape[0], -1) + x.shape[3:])

    def max_r_hat(self) -> np.ndarray:
        """(R,) the largest split R-hat over every sampled parameter of each replicate."""
        return np.max(np.stack([v.reshape(self.n_replicates, -1).max(axis=1) for v in self.r_hat.values()]), axis=0)

    def min_ess(self) -> np.ndarray:
        """(R,) the smallest ESS over every sampled parameter of each replicate."""
        return np.min(np.stack([v.reshape(self.n_replicates, -1).min(axis=1) for v in self.ess.values()]), axis=0)

    def to_frame(self) -> pd.DataFrame:
        """One row per replicate: divergences, max R-hat, min ESS, mean leapfrog steps."""
        return pd.DataFrame({"replicate": np.arange(self.n_replicates), "divergences": self.divergences,
                             "max_r_hat": self.max_r_hat(), "min_ess": self.min_ess(),
                             "mean_steps": self.mean_steps})

    def summary(self) -> Summary:
        """Sampler settings, timings and the distribution of the per-replicate diagnostics over replicates."""
        t = self.to_frame()
        out = Summary(f"Batched NUTS over {self.n_replicates} replicates")
        out.add_dict({**self.info, "replicates with divergences": int((t["divergences"] > 0).sum()),
                      f"replicates with R-hat > {RHAT_MAX}": int((t["max_r_hat"] > RHAT_MAX).sum()),
                      f"replicates with ESS < {ESS_MIN}": int((t["min_ess"] < ESS_MIN).sum())},
                     ncols=2, float_format="{:.4g}")
        out.add_table(t.drop(columns="replicate").describe(percentiles=[0.5, 0.9]).T, "Per-replicate diagnostics",
                      float_format="{:.4g}")
        return out


def _unconstrained_init(batch: BatchData, trace: dict, z_template: dict) -> dict:
    """(R, ...) unconstrained start of every sampled site: the inverse transform of its point estimate, or the
    template's NumPyro start where ``point_init`` has none."""
    out = {}
    R = batch.n_replicates
    for name, z in z_template.items():
        if name in batch.init:
            t = biject_to(trace[name]["fn"].support)
            out[name] = jnp.asarray(t.inv(jnp.asarray(batch.init[name])))
        else:
            out[name] = jnp.broadcast_to(jnp.asarray(z), (R,) + jnp.shape(z))
    return out


@x64
def fit_nuts_batch(batch: BatchData, *, draws: int = 300, warmup: int = 300, chains: int = 2, seed: int = 0,
                   priors: Priors | None = None, target_accept: float = 0.9, max_tree_depth: int = 8,
                   radius: float = 0.1, batch_size: int | None = None,
                   sites: Sequence[str] | None = None) -> BatchPosterior:
    """NUTS on every replicate of ``batch`` in one compiled program (see the module docstring).

    Parameters
    ----------
    batch : from :func:`stack_data`
    draws, warmup, chains : posterior draws per chain, warm-up iterations, chains per replicate (vectorised)
    seed : seed of the sampler (replicate r, chain c gets its own key derived from it)
    priors : prior scales (:class:`~probcascade.posterior.models.Priors`)
    target_accept, max_tree_depth : NUTS step-size target and tree-depth cap
    radius : the chains' uniform jitter around the point estimates in the unconstrained space
    batch_size : replicates vmapped together (``jax.lax.map(..., batch_size=...)``); default all of them
    sites : sites to keep (default every sampled and deterministic site)
    """
    check_int(draws, "draws", low=1)
    check_int(warmup, "warmup", low=1)
    check_int(chains, "chains", low=1)
    check_int(seed, "seed", low=0)
    check_int(max_tree_depth, "max_tree_depth", low=1)
    check_float(target_accept, "target_accept", low=0.0, high=1.0, low_open=True, high_open=True)
    check_float(radius, "radius", low=0.0)
    if batch_size is not None:
        check_int(batch_size, "batch_size", low=1)
    priors = priors or Priors()
    t0, c0 = time.perf_counter(), time.process_time()
    key = jax.random.PRNGKey(seed)
    info = initialize_model(key, cascade_model, model_args=(batch.template, priors), dynamic_args=True)
    trace = info.model_trace
    sampled = [n for n, s in trace.items() if s["type"] == "sample" and not s["is_observed"]]
    kept = tuple(sites) if sites is not None else tuple(
        n for n, s in trace.items() if s["type"] in ("sample", "deterministic") and not s.get("is_observed", False)
        and not n.startswith("obs_"))
    z0 = _unconstrained_init(batch, trace, info.param_info.z)
    init_kernel, sample_kernel = hmc(potential_fn_gen=info.potential_fn, algo="NUTS")

    def one_chain(x):
        """One chain of one replicate: warm-up and sampling in one scan, then the constrained draws."""
        arrays, z_start, chain_key = x
        args = (batch.data(arrays), priors)
        k_jit, k_run = jax.random.split(chain_key)
        z = jax.tree_util.tree_map(
            lambda v, kk: v + jax.random.uniform(kk, jnp.shape(v), minval=-radius, maxval=radius),
            z_start, dict(zip(z_start, jax.random.split(k_jit, len(z_start)))))
        state = init_kernel(z, num_warmup=warmup, target_accept_prob=target_accept,
                            max_tree_depth=max_tree_depth, model_args=args, rng_key=k_run)

        def step(s, _):
            s = sample_kernel(s, model_args=args)
            return s, (s.z, s.diverging, s.num_steps)
        # one scan over warm-up and sampling (one copy of the NUTS kernel to compile); keep the last draws
        _, (zs, div, steps) = jax.lax.scan(step, state, None, length=warmup + draws)
        zs = jax.tree_util.tree_map(lambda v: v[warmup:], zs)
        post = jax.vmap(info.postprocess_fn(*args))(zs)
        return {n: post[n] for n in kept}, jnp.sum(div[warmup:]), jnp.mean(steps[warmup:])

    # one flat vmap over (replicate, chain) pairs: nested vmaps of the NUTS while loops compile far slower
    R = batch.n_replicates
    keys = jax.random.split(jax.random.fold_in(key, 1), R * chains)
    rep = lambda v: jnp.repeat(jnp.asarray(v), chains, axis=0)
    xs = ({k: rep(v) for k, v in batch.arrays.items()}, jax.tree_util.tree_map(rep, z0), keys)
    run = jax.jit(lambda xs: jax.lax.map(one_chain, xs, batch_size=chains * (batch_size or R)))
    compiled = run.lower(xs).compile()
    t1 = time.perf_counter()
    samples, div, steps = compiled(xs)
    samples = {k: v.reshape((R, chains) + v.shape[1:]) for k, v in samples.items()}
    div, steps = div.reshape(R, chains).sum(axis=1), steps.reshape(R, chains).mean(axis=1)
    samples = {k: np.asarray(v) for k, v in samples.items()}
    r_hat, ess = {}, {}
    for name in sampled:
        if name not in samples:
            continue
        x = np.moveaxis(samples[name], 0, 2)                   # (chains, draws, R, ...)
        ess[name] = np.asarray(effective_sample_size(x))
        r_hat[name] = (np.asarray(split_gelman_rubin(x)) if samples[name].shape[2] >= 4
                       else np.full(ess[name].shape, np.nan))
    meta = {"chains": chains, "draws": draws, "warmup": warmup, "seed": seed, "max_tree_depth": max_tree_depth,
            "target_accept": target_accept, "batch_size": batch_size or batch.n_replicates,
            "compile_s": t1 - t0, "time_s": time.perf_counter() - t0, "cpu_time_s": time.process_time() - c0}
    return BatchPosterior(samples, np.asarray(div), r_hat, ess, np.asarray(steps), meta)
