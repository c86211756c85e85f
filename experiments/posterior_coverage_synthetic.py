"""Coverage of the posterior intervals of the frontier's P(Correct) on data simulated from the package's own model.

The generator is :data:`probcascade.data.DEFAULT_SPEC` (the package's Markov-copula model fitted on the shared MMLU
Llama training split) restricted to its first ``k`` models (default 3: the chain's first two links). For each
sample size n and replicate r, n queries are drawn (:func:`~probcascade.make_synthetic_cascade`, seed r), their
calibrated confidences recovered with the generator's calibrator, and the posterior of the marginals, copulas and
cell tables (:func:`~probcascade.posterior.models.cascade_model`, blocks ``marginals`` and ``copulas``) fitted by
SVI with an ``AutoMultivariateNormal`` guide (the fast path: one program ``vmap``-ed over all replicates of a
sample size, fixed shapes by padding each pair's pseudo-observations with zero-weight rows). ``--draws`` guide draws
per replicate go through the exact chain evaluation
(:func:`~probcascade.posterior.predictive.draws_metrics`, ``lax.map`` over replicates, ``vmap`` over draws) at
three fixed threshold vectors (the generator's marginal quantiles 0.25, 0.5, 0.75 of every non-final model); a
replicate's 90 % equal-tailed interval covers when it contains the true P(Correct) (the same chain evaluation at
the true parameters, 4096-interval tables). Target: coverage 0.85-0.95. The ordered coordinate of each marginal
(``order_by``) is chosen once from the generator's parameters (it must be the same in every vmapped replicate).
``--quick``: a smoke run (n = 30 only, 4 replicates, few steps).
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
from numpyro.infer import SVI, Predictive, Trace_ELBO, init_to_median
from numpyro.infer.autoguide import AutoMultivariateNormal

from common import experiment_parser, write_table_report
from probcascade import float64
from probcascade.data.synthetic import DEFAULT_SPEC, make_synthetic_cascade
from probcascade.distributions.marginal import MarginalParams, icdf
from probcascade.joint.model import cell_of
from probcascade.estimation.copulas import pseudo_observations
from probcascade.posterior.models import Priors, cascade_model, data_from_phi
from probcascade.posterior.predictive import draws_metrics

SIZES = (30, 100, 300)
LEVELS = (0.25, 0.5, 0.75)
SITES = ("weights", "mix", "alpha", "beta", "theta", "cell")


def truth(k: int):
    """(true MarginalParams (k,), table, theta, families, costs) of the generator's first k models."""
    m = DEFAULT_SPEC.marginal_params()
    marg = MarginalParams(*(np.asarray(z)[:k] for z in m))
    return (marg, np.asarray(DEFAULT_SPEC.table)[:k - 1], np.asarray(DEFAULT_SPEC.theta)[:k - 1],
            tuple(DEFAULT_SPEC.families[:k - 1]), np.asarray(DEFAULT_SPEC.cost_usd)[:k])


def replicate_arrays(n: int, seeds, k: int):
    """Stacked fixed-shape arrays of the replicates: phi (R, n, k), lo/hi (R, k), cells (R, k-1, 9),
    uv (R, k-1, n, 2) padded with 0.5 and uv weights (R, k-1, n)."""
    out = {"phi": [], "lo": [], "hi": [], "cells": [], "uv": [], "w": []}
    for s in seeds:
        d = make_synthetic_cascade(n, seed=int(s))
        phi = DEFAULT_SPEC.calibrated(d.logprob)[:, :k]
        lo, hi = phi.min(axis=0), phi.max(axis=0)
        cells = np.column_stack([cell_of(phi[:, j], lo[j], hi[j]) for j in range(k)])
        counts, uvs, ws = [], [], []
        for i in range(k - 1):
            t = np.zeros((3, 3))
            np.add.at(t, (cells[:, i], cells[:, i + 1]), 1.0)
            counts.append(t.ravel())
            both = (cells[:, i] == 1) & (cells[:, i + 1] == 1)
            uv, w = np.full((n, 2), 0.5), np.zeros(n)
            if both.sum() >= 2:
                uv[:both.sum()] = np.column_stack([pseudo_observations(phi[both, i]),
                                                   pseudo_observations(phi[both, i + 1])])
                w[:both.sum()] = 1.0
            uvs.append(uv); ws.append(w)
        for key, v in (("phi", phi), ("lo", lo), ("hi", hi), ("cells", np.asarray(counts)), ("uv", np.asarray(uvs)),
                       ("w", np.asarray(ws))):
            out[key].append(v)
    return {key: jnp.asarray(np.stack(v)) for key, v in out.items()}


def order_from_truth(k: int) -> tuple[str, ...]:
    marg = truth(k)[0]
    out = []
    for j in range(k):
        a, b = np.asarray(marg.alpha[j]), np.asarray(marg.beta[j])
        gap = lambda z: float(np.min(np.diff(np.sort(z))))
        out.append("mean" if gap(np.log(a) - np.log(b)) >= gap(np.log(a + b)) else "kappa")
    return tuple(out)


def fit_and_cover(arrays, template, thresholds, true_pc, costs, families, *, steps: int, draws: int, seed: int):
    """SVI vmapped over replicates, then the chain evaluation of each replicate's draws: (R, T) lo, hi, mean."""
    priors = Priors()
    k = template.k

    def data_of(a):
        return dataclasses.replace(template, phi=a["phi"], lo=a["lo"], hi=a["hi"], cells=a["cells"],
                                   uv=tuple(a["uv"][i] for i in range(k - 1)),
                                   uv_weight=tuple(a["w"][i] for i in range(k - 1)))

    def fit_one(key, a):
        data = data_of(a)
        guide = AutoMultivariateNormal(cascade_model, init_loc_fn=init_to_median(num_samples=15))
        svi = SVI(cascade_model, guide, optax.adam(0.01), Trace_ELBO())
        state = svi.init(key, data, priors)
        state, _ = jax.lax.scan(lambda st, _: (svi.update(st, data, priors)[0], None), state, None, length=steps)
        pred = Predictive(cascade_model, guide=guide, params=svi.get_params(state), num_samples=draws,
                          return_sites=list(SITES))
        return pred(jax.random.fold_in(key, 1), data, priors)

    keys = jax.random.split(jax.random.PRNGKey(seed), arrays["phi"].shape[0])
    samples = jax.jit(jax.vmap(fit_one))(keys, arrays)

    def predict(x):
        s, lo, hi = x
        d = s["weights"].shape[0]
        marg = MarginalParams(jnp.broadcast_to(lo, (d, k)), jnp.broadcast_to(hi, (d, k)), s["weights"][..., 0],
                              s["weights"][..., 1], s["mix"], s["alpha"], s["beta"])
        pc, _ = draws_metrics(marg, s["cell"].reshape(d, k - 1, 3, 3), s["theta"], families, costs, thresholds)
        return jnp.quantile(pc, 0.05, axis=0), jnp.quantile(pc, 0.95, axis=0), jnp.mean(pc, axis=0)

    return jax.jit(lambda s, lo, hi: jax.lax.map(predict, (s, lo, hi)))(samples, arrays["lo"], arrays["hi"])


def main(argv=None) -> int:
    ap = experiment_parser(__doc__)
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--k", type=int, default=3, help="models of the generator's cascade (2..5)")
    ap.add_argument("--steps", type=int, default=2000, help="SVI steps per replicate")
    ap.add_argument("--draws", type=int, default=200, help="guide draws per replicate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="smoke run: n = 30, 4 replicates, 50 steps, 20 draws")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.replicates, args.steps, args.draws = [30], 4, 50, 20
    k = args.k
    marg, table, theta, families, costs = truth(k)
    rows = []
    with float64(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mj = MarginalParams(*map(jnp.asarray, marg))
        thresholds = np.column_stack([np.asarray(icdf(MarginalParams(*(z[j] for z in mj)), jnp.asarray(LEVELS)))
                                      for j in range(k - 1)])                                   # (T, k-1)
        true_pc, _ = draws_metrics(MarginalParams(*(jnp.asarray(z)[None] for z in marg)), jnp.asarray(table)[None],
                                   jnp.asarray(theta)[None], families, jnp.asarray(costs), jnp.asarray(thresholds),
                                   n_table=4096)
        true_pc = np.asarray(true_pc)[0]
        order_by = order_from_truth(k)
        for n in args.sizes:
            t0, c0 = time.perf_counter(), time.process_time()
            seeds = 1000 * n + np.arange(args.replicates)
            arrays = replicate_arrays(n, seeds, k)
            d0 = make_synthetic_cascade(n, seed=int(seeds[0]))
            template = data_from_phi(np.asarray(arrays["phi"][0]), d0.correct[:, :k], d0.models[:k],
                                     blocks=("marginals", "copulas"), order_by=order_by, family=families[0])
            template = dataclasses.replace(template, families=families)
            lo, hi, mean = (np.asarray(z) for z in fit_and_cover(
                arrays, template, jnp.asarray(thresholds), true_pc, jnp.asarray(costs), families,
                steps=args.steps, draws=args.draws, seed=args.seed + n))
            covered = (lo <= true_pc) & (true_pc <= hi)
            for t in range(len(LEVELS)):
                rows.append({"n": n, "thresholds": ", ".join(f"{v:.3f}" for v in thresholds[t]),
                             "level": LEVELS[t], "true_p_correct": float(true_pc[t]),
                             "replicates": args.replicates, "coverage": float(covered[:, t].mean()),
                             "mean_width": float((hi - lo)[:, t].mean()),
                             "mean_bias": float((mean[:, t] - true_pc[t]).mean()),
                             "below": float((true_pc[t] < lo[:, t]).mean()),
                             "above": float((true_pc[t] > hi[:, t]).mean()),
                             "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0})
                print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    notes = [f"Generator: DEFAULT_SPEC (MMLU Llama fit), first k = {k} models ({', '.join(DEFAULT_SPEC.models[:k])}); "
             f"posterior: SVI (AutoMultivariateNormal, Adam 0.01, {args.steps} steps, {args.draws} draws) of the "
             f"marginals, copulas and cell tables, vmapped over {args.replicates} replicates per n; ordered "
             f"coordinates {order_by}. `below`/`above`: share of replicates whose interval lies above/below the truth "
             "(the truth is below / above it). Target coverage 0.85-0.95."]
    write_table_report(__file__, args.out, "posterior_coverage_synthetic",
                       "Coverage of posterior P(Correct) intervals on simulated data", notes, frame,
                       "90 % posterior intervals of the frontier's P(Correct) vs the truth, n = 30, 100, 300", digits=3)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
