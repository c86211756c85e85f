"""Coverage of the posterior intervals of the frontier's P(Correct) on data simulated from the package's own model.

The generator is :data:`probcascade.data.DEFAULT_SPEC` (the package's Markov-copula model fitted on the shared MMLU
Llama training split) restricted to its first ``k`` models (default 3: the chain's first two links). For each
sample size n and replicate r, n queries are drawn (:func:`~probcascade.make_synthetic_cascade`, seed r), their
calibrated confidences recovered with the generator's calibrator, and the posterior of the marginals, copulas and
cell tables (:func:`~probcascade.posterior.models.cascade_model`, blocks ``marginals`` and ``copulas``) fitted for
all replicates of a sample size in one compiled program: by default NUTS
(:func:`~probcascade.posterior.batch.fit_nuts_batch`: ``--chains`` chains of ``--draws`` draws after ``--warmup``
warm-up iterations per replicate, each replicate's chains started near its point estimates), or with
``--method svi`` the old fast path, SVI with an ``AutoMultivariateNormal`` guide (``--steps`` Adam steps,
``--chains * --draws`` guide draws). Each pair's pseudo-observations are padded to n rows with zero-weight rows
(fixed shapes). The draws go through the exact chain evaluation
(:func:`~probcascade.posterior.predictive.draws_metrics`, ``lax.map`` over replicates, ``vmap`` over draws) at
three fixed threshold vectors (the generator's marginal quantiles 0.25, 0.5, 0.75 of every non-final model); a
replicate's 90 % equal-tailed interval covers when it contains the true P(Correct) (the same chain evaluation at
the true parameters, 4096-interval tables). Target: coverage 0.85-0.95.

``--support``: the support [lo, hi] of each marginal is the generator's (``generator``, default: the atoms of the
generator have mass 0.0035 each, so at small n the observed range is narrower than the true support and its end
points would be taken for atoms) or, as :func:`~probcascade.posterior.models.data_from_phi` does on real data, the
observed range (``observed``). ``--concentration``: the Dirichlet concentration of the marginal weights and of the
cell tables (:class:`~probcascade.posterior.models.Priors` ``weight_concentration`` and ``cell_concentration``;
the package's default is 1). The ordered coordinate of each marginal (``order_by``) is chosen once from the
generator's parameters (it must be the same in every vmapped replicate).
``--thin``: only every THIN-th draw goes through the chain evaluation (its cost per draw is of the order of the
sampling's). ``--first-replicate`` and ``--merge DIR ...``: split the replicates of a size over processes and
rebuild the report from their per-replicate CSVs (``posterior_coverage_synthetic_replicates.csv``).
``--quick``: a smoke run (n = 30 only, 4 replicates, few draws).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
from numpyro.infer import SVI, Predictive, Trace_ELBO, init_to_median
from numpyro.infer.autoguide import AutoMultivariateNormal
from scipy.stats import binomtest

from common import experiment_parser, markdown_table, write_table_report
from probcascade import float64
from probcascade.data.synthetic import DEFAULT_SPEC, make_synthetic_cascade
from probcascade.distributions.marginal import MarginalParams, icdf
from probcascade.estimation.copulas import pseudo_observations
from probcascade.joint.model import cell_of
from probcascade.posterior.batch import BatchData, fit_nuts_batch, stack_data
from probcascade.posterior.models import Priors, PosteriorData, cascade_model, data_from_phi
from probcascade.posterior.predictive import draws_metrics

SIZES = (30, 100, 300)
LEVELS = (0.25, 0.5, 0.75)
SITES = ("weights", "mix", "alpha", "beta", "theta", "cell")
BLOCKS = ("marginals", "copulas")


def truth(k: int):
    """(true MarginalParams (k,), table, theta, families, costs) of the generator's first k models."""
    m = DEFAULT_SPEC.marginal_params()
    marg = MarginalParams(*(np.asarray(z)[:k] for z in m))
    return (marg, np.asarray(DEFAULT_SPEC.table)[:k - 1], np.asarray(DEFAULT_SPEC.theta)[:k - 1],
            tuple(DEFAULT_SPEC.families[:k - 1]), np.asarray(DEFAULT_SPEC.cost_usd)[:k])


def order_from_truth(k: int) -> tuple[str, ...]:
    marg = truth(k)[0]
    out = []
    for j in range(k):
        a, b = np.asarray(marg.alpha[j]), np.asarray(marg.beta[j])
        gap = lambda z: float(np.min(np.diff(np.sort(z))))
        out.append("mean" if gap(np.log(a) - np.log(b)) >= gap(np.log(a + b)) else "kappa")
    return tuple(out)


def with_support(d: PosteriorData, lo, hi) -> PosteriorData:
    """``d`` on the support [lo, hi] (k,): confidences within 1e-9 of an end snap onto it (the generator's atoms,
    up to the calibrator's round trip), cells, cell counts and interior pseudo-observations recomputed."""
    phi = np.clip(d.phi, lo, hi)
    phi = np.where(np.abs(phi - lo) < 1e-9, lo, np.where(np.abs(phi - hi) < 1e-9, hi, phi))
    cells = np.column_stack([cell_of(phi[:, j], lo[j], hi[j]) for j in range(d.k)])
    counts = np.zeros((d.k - 1, 3, 3))
    uv = []
    for i in range(d.k - 1):
        np.add.at(counts[i], (cells[:, i], cells[:, i + 1]), 1.0)
        both = (cells[:, i] == 1) & (cells[:, i + 1] == 1)
        uv.append(np.column_stack([pseudo_observations(phi[both, i]), pseudo_observations(phi[both, i + 1])]))
    return dataclasses.replace(d, phi=phi, lo=np.asarray(lo, float), hi=np.asarray(hi, float),
                               cells=counts.reshape(d.k - 1, 9), uv=tuple(uv), uv_weight=())


def replicates(n: int, seeds, k: int, order_by, families, support: str) -> list[PosteriorData]:
    """The posterior data of every replicate (point EM fits for the chains' start; ``order_by`` fixed)."""
    marg = truth(k)[0]
    out = []
    for s in seeds:
        d = make_synthetic_cascade(n, seed=int(s))
        phi = DEFAULT_SPEC.calibrated(d.logprob)[:, :k]
        pd_ = data_from_phi(phi, d.correct[:, :k], d.models[:k], blocks=BLOCKS, family=families[0])
        pd_ = dataclasses.replace(pd_, order_by=tuple(order_by), families=tuple(families))
        out.append(with_support(pd_, marg.lo, marg.hi) if support == "generator" else pd_)
    return out


def fit_svi(batch: BatchData, priors: Priors, *, steps: int, draws: int, seed: int) -> dict:
    """SVI (AutoMultivariateNormal) vmapped over replicates: {site: (R, draws, ...)} guide draws."""
    def fit_one(key, arrays):
        data = batch.data(arrays)
        guide = AutoMultivariateNormal(cascade_model, init_loc_fn=init_to_median(num_samples=15))
        svi = SVI(cascade_model, guide, optax.adam(0.01), Trace_ELBO())
        state = svi.init(key, data, priors)
        state, _ = jax.lax.scan(lambda st, _: (svi.update(st, data, priors)[0], None), state, None, length=steps)
        pred = Predictive(cascade_model, guide=guide, params=svi.get_params(state), num_samples=draws,
                          return_sites=list(SITES))
        return pred(jax.random.fold_in(key, 1), data, priors)

    keys = jax.random.split(jax.random.PRNGKey(seed), batch.n_replicates)
    arrays = {k: jnp.asarray(v) for k, v in batch.arrays.items()}
    return {k: np.asarray(v) for k, v in jax.jit(jax.vmap(fit_one))(keys, arrays).items()}


def intervals(samples: dict, lo, hi, thresholds, costs, families, n_table: int):
    """The chain evaluation of each replicate's draws: (R, T) 5 %, 95 % quantiles and mean of P(Correct)."""
    k = lo.shape[1]

    def predict(x):
        s, lo_r, hi_r = x
        d = s["weights"].shape[0]
        marg = MarginalParams(jnp.broadcast_to(lo_r, (d, k)), jnp.broadcast_to(hi_r, (d, k)), s["weights"][..., 0],
                              s["weights"][..., 1], s["mix"], s["alpha"], s["beta"])
        pc, _ = draws_metrics(marg, s["cell"].reshape(d, k - 1, 3, 3), s["theta"], families, costs, thresholds,
                              n_table=n_table)
        return jnp.quantile(pc, 0.05, axis=0), jnp.quantile(pc, 0.95, axis=0), jnp.mean(pc, axis=0)

    s = {name: jnp.asarray(samples[name]) for name in SITES}
    return jax.jit(lambda s, lo, hi: jax.lax.map(predict, (s, lo, hi)))(s, jnp.asarray(lo), jnp.asarray(hi))


def coverage_table(reps: pd.DataFrame) -> pd.DataFrame:
    """Coverage per (n, threshold vector) from the per-replicate intervals (columns of :func:`replicate_frame`)."""
    rows = []
    for (n, level), g in reps.groupby(["n", "level"], sort=True):
        truth_t = float(g["true_p_correct"].iloc[0])
        covered = (g["lo"] <= truth_t) & (truth_t <= g["hi"])
        ci = binomtest(int(covered.sum()), len(g)).proportion_ci(0.95, method="wilson")
        rows.append({"n": int(n), "thresholds": g["thresholds"].iloc[0], "level": level, "true_p_correct": truth_t,
                     "replicates": len(g), "coverage": float(covered.mean()), "coverage_lo95": ci.low,
                     "coverage_hi95": ci.high, "mean_width": float((g["hi"] - g["lo"]).mean()),
                     "mean_bias": float((g["mean"] - truth_t).mean()), "below": float((truth_t < g["lo"]).mean()),
                     "above": float((truth_t > g["hi"]).mean())})
    return pd.DataFrame(rows)


def diagnostics_table(reps: pd.DataFrame, parts: pd.DataFrame) -> pd.DataFrame:
    """NUTS diagnostics per n over replicates, with the wall/CPU time of the runs that made them."""
    one = reps.drop_duplicates(["n", "seed"])
    rows = []
    for n, g in one.groupby("n", sort=True):
        p = parts[parts["n"] == n]
        rows.append({"n": int(n), "replicates": len(g), "share_divergent": float((g["divergences"] > 0).mean()),
                     "divergences_total": int(g["divergences"].sum()),
                     "max_r_hat_median": float(g["max_r_hat"].median()), "max_r_hat_max": float(g["max_r_hat"].max()),
                     "share_r_hat_gt_1.01": float((g["max_r_hat"] > 1.01).mean()),
                     "share_r_hat_gt_1.05": float((g["max_r_hat"] > 1.05).mean()),
                     "min_ess_median": float(g["min_ess"].median()), "mean_steps": float(g["mean_steps"].mean()),
                     "warmup": int(p["warmup"].iloc[0]), "draws": int(p["draws"].iloc[0]),
                     "max_tree_depth": int(p["max_tree_depth"].iloc[0]), "thin": int(p["thin"].iloc[0]),
                     "runs": len(p), "compile_s": float(p["compile_s"].sum()), "sample_s": float(p["sample_s"].sum()),
                     "wall_s": float(p["wall_s"].sum()), "cpu_s": float(p["cpu_s"].sum())})
    return pd.DataFrame(rows)


def write_report(args, reps: pd.DataFrame, parts: pd.DataFrame, notes_extra=()) -> None:
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    reps.to_csv(out / "posterior_coverage_synthetic_replicates.csv", index=False)
    parts.to_csv(out / "posterior_coverage_synthetic_runs.csv", index=False)
    frame = coverage_table(reps)
    first = parts.iloc[0]
    how = (f"NUTS ({first['chains']} chains, target acceptance 0.9; warm-up, draws per chain, max tree depth and "
           "thinning of the draws fed to the chain evaluation per n in the diagnostics table)"
           if first["method"] == "nuts" else
           f"SVI (AutoMultivariateNormal, Adam 0.01, {first['steps']} steps, {first['chains'] * first['draws']} draws)")
    notes = [f"Generator: DEFAULT_SPEC (MMLU Llama fit), first k = {first['k']} models "
             f"({', '.join(DEFAULT_SPEC.models[:int(first['k'])])}); posterior: {how} of the marginals, copulas and "
             f"cell tables, vmapped over the replicates of each n; support: {first['support']}; Dirichlet "
             f"concentration of the marginal weights and cell tables: {first['concentration']:g}; look-up tables of "
             f"{first['n_table']} intervals per draw. `coverage_lo95`/`coverage_hi95`: Wilson 95 % interval of the "
             "coverage over replicates; `mean_bias`: mean over replicates of (posterior mean - truth); "
             "`below`/`above`: share of replicates whose interval lies above/below the truth (the truth is below / "
             "above it). Target coverage 0.85-0.95. Per-replicate intervals: `posterior_coverage_synthetic_replicates.csv`.",
             *notes_extra]
    if (parts["method"] == "nuts").all():
        notes.append("NUTS diagnostics per n (`max_r_hat`: each replicate's largest split R-hat over its sampled "
                     "parameters; `min_ess`: its smallest effective sample size, NumPyro's estimator; times summed "
                     "over the runs of that n, which may have run in parallel):\n\n"
                     + markdown_table(diagnostics_table(reps, parts).astype(object), 3))   # object: ints stay ints
    write_table_report(__file__, out, "posterior_coverage_synthetic",
                       "Coverage of posterior P(Correct) intervals on simulated data", notes, frame,
                       "90 % posterior intervals of the frontier's P(Correct) vs the truth, n = 30, 100, 300", digits=3)


def _optional_float(text: str) -> float | None:
    """A float, or None for 'none'."""
    return None if text.strip().lower() == "none" else float(text)


def main(argv=None) -> int:
    ap = experiment_parser(__doc__)
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--first-replicate", type=int, default=0,
                    help="index of the first replicate (seed 1000 n + index): split a run over processes")
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--k", type=int, default=3, help="models of the generator's cascade (2..5)")
    ap.add_argument("--method", choices=("nuts", "svi"), default="nuts")
    ap.add_argument("--support", choices=("generator", "observed"), default="generator")
    ap.add_argument("--concentration", type=float, default=1.0,
                    help="Dirichlet concentration of the marginal weights and cell tables (package default 1)")
    ap.add_argument("--atom-concentration", type=_optional_float, default=Priors().atom_concentration,
                    help="Dirichlet concentration of the atoms and the cells involving an atom (Priors."
                         "atom_concentration; default: the package's, %(default)s; 'none': --concentration there "
                         "too, the package's prior before 2026-12-03)")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=300, help="NUTS warm-up iterations per chain")
    ap.add_argument("--draws", type=int, default=300, help="draws per chain (SVI: chains * draws guide draws)")
    ap.add_argument("--max-tree-depth", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=None, help="replicates vmapped together (default all)")
    ap.add_argument("--steps", type=int, default=2000, help="SVI steps per replicate")
    ap.add_argument("--n-table", type=int, default=256, help="intervals of each draw's marginal look-up tables")
    ap.add_argument("--thin", type=int, default=1, help="use every THIN-th draw in the chain evaluation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--merge", type=Path, nargs="+", default=None, metavar="DIR",
                    help="only rebuild the report in --out from the per-replicate CSVs of earlier runs' folders")
    ap.add_argument("--quick", action="store_true", help="smoke run: n = 30, 4 replicates, 30 + 30 draws, 50 steps")
    args = ap.parse_args(argv)
    if args.merge:
        reps = pd.concat([pd.read_csv(d / "posterior_coverage_synthetic_replicates.csv") for d in args.merge])
        parts = pd.concat([pd.read_csv(d / "posterior_coverage_synthetic_runs.csv") for d in args.merge])
        if reps.duplicated(["n", "seed", "level"]).any():
            raise SystemExit("--merge: the folders share replicates (same n and seed)")
        settings = parts.drop(columns=["first_replicate", "replicates", "compile_s", "sample_s", "wall_s", "cpu_s"])
        if settings.drop_duplicates().shape[0] != parts["n"].nunique():
            raise SystemExit("--merge: runs of the same n used different settings")
        write_report(args, reps.sort_values(["n", "seed", "level"]), parts.sort_values(["n", "first_replicate"]),
                     [f"Merged from {len(parts)} runs: {', '.join(str(d) for d in args.merge)}."])
        return 0
    if args.quick:
        args.sizes, args.replicates, args.steps, args.warmup, args.draws = [30], 4, 50, 30, 30
    k = args.k
    marg, table, theta, families, costs = truth(k)
    priors = Priors(weight_concentration=args.concentration, cell_concentration=args.concentration,
                    atom_concentration=args.atom_concentration)
    reps, parts = [], []
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
            seeds = 1000 * n + args.first_replicate + np.arange(args.replicates)
            batch = stack_data(replicates(n, seeds, k, order_by, families, args.support), priors)
            t_fit = time.perf_counter()
            diag = {"divergences": np.nan, "max_r_hat": np.nan, "min_ess": np.nan, "mean_steps": np.nan}
            compile_s = np.nan
            if args.method == "nuts":
                post = fit_nuts_batch(batch, draws=args.draws, warmup=args.warmup, chains=args.chains,
                                      seed=args.seed + n + args.first_replicate, priors=priors,
                                      max_tree_depth=args.max_tree_depth, batch_size=args.batch_size)
                samples = {name: post.draws(name)[:, ::args.thin] for name in SITES}
                diag = post.to_frame().drop(columns="replicate").to_dict("list")
                compile_s = post.info["compile_s"]
            else:
                samples = fit_svi(batch, priors, steps=args.steps, draws=args.chains * args.draws,
                                  seed=args.seed + n)
            fit_s = time.perf_counter() - t_fit
            lo, hi, mean = (np.asarray(z) for z in intervals(
                samples, batch.arrays["lo"], batch.arrays["hi"], jnp.asarray(thresholds), jnp.asarray(costs),
                families, args.n_table))
            for t, level in enumerate(LEVELS):
                reps.append(pd.DataFrame({"n": n, "seed": seeds, "level": level,
                                          "thresholds": ", ".join(f"{v:.3f}" for v in thresholds[t]),
                                          "true_p_correct": float(true_pc[t]), "lo": lo[:, t], "hi": hi[:, t],
                                          "mean": mean[:, t], **diag}))
            parts.append({"n": n, "first_replicate": args.first_replicate, "replicates": args.replicates,
                          "method": args.method, "support": args.support, "concentration": args.concentration,
                          "atom_concentration": args.atom_concentration,
                          "k": k, "chains": args.chains, "draws": args.draws, "warmup": args.warmup,
                          "max_tree_depth": args.max_tree_depth, "steps": args.steps, "n_table": args.n_table,
                          "thin": args.thin, "compile_s": compile_s, "sample_s": fit_s - (compile_s if
                          np.isfinite(compile_s) else 0.0), "wall_s": time.perf_counter() - t0,
                          "cpu_s": time.process_time() - c0})
            print(parts[-1], flush=True)
            print(coverage_table(pd.concat(reps[-len(LEVELS):])).to_string(), flush=True)
    write_report(args, pd.concat(reps, ignore_index=True), pd.DataFrame(parts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
