"""Bayesian tuning vs plug-in rational tuning in the low-sample limit (seed 002 §4.4.1, n <= 30; issue 13).

For each benchmark and each resample (seed) ``s``: the study's balanced training subset of at most 30 queries
(:func:`~probcascade.data.selection.balanced_pairs_subset` with ``seed=s``, as ``table7.py --low-sample`` draws
seed 0), calibrated on the subset with the study's transform; then, on contiguous sub-cascades of ``k >= 3``
models of the Llama cascade (default: 1b-3b-8b, 8b-70b-405b and the full 5-model cascade, whose lambda grids have
two lengths, so that the Bayesian solver compiles twice; ``--all-cascades``: also 3b-8b-70b and the 4-model ones):

* ``rt``: plug-in rational tuning (:func:`probcascade.tune`) on the point Markov-copula model with the package's
  default for that n (:func:`probcascade.tuning.recommended.recommended_model`: below n = 100 the study's model,
  Gumbel copulas and marginal correctness), default :class:`~probcascade.TuneOptions` (Newton solver, infilling);
* ``bayes``: Bayesian tuning (:func:`probcascade.posterior.tuning.bayes_tune`): thresholds minimising the
  posterior-expected objective over the NUTS posterior of the marginals and the copulas of the same calibrated
  confidences (the model of :class:`~probcascade.posterior.tuning.BayesianTuner`: blocks ``marginals`` and
  ``copulas``, the same copula family, 2 chains x 250 draws after 500 warm-up steps, 64 draws in the tuning);
* ``bayes_q``: its risk-averse variant (the posterior ``--quantile`` of the error plus lambda times the mean cost;
  ``--quantile 0`` leaves it out: one more compilation of the solver per cascade length);
* ``rt0``: plug-in rational tuning without eq. 13's infilling (``infill_q=None``), which Bayesian tuning does not
  do: separates "posterior vs point estimate" from "more frontier points".

One NUTS fit of the full cascade per resample serves every contiguous sub-cascade: the posterior factorises over
the models' marginals and the adjacent links' copulas and cell tables (independent priors, each likelihood term
reads one block's data; probcascade.posterior.models), so the draws of models i..j and links i..j-1 *are* the
posterior of the sub-cascade i..j. Each method's test curve (:func:`~probcascade.evaluation.routing.route` of its
thresholds on the test split, cumulative per-model test mean costs) is scored against ``rt``'s by
:func:`~probcascade.evaluation.auc.error_cost_auc` on the two curves' common cost range (the study's AUC), also
split into the cheap and the dear half of that range.

    python experiments/bayes_lowsample.py [--benchmarks mmlu medmcqa truthfulqa] [--resamples 20] [--start 0]
        [--draws 250] [--chains 2] [--warmup 500] [--tune-draws 64] [--quantile 0.9] [--out experiments/results]
    python experiments/bayes_lowsample.py --summarise A.csv [B.csv ...]     # rewrite the report from runs' CSVs

Writes ``bayes_lowsample.csv`` (one row per resample and cascade, with the NUTS diagnostics of the resample's fit)
and ``bayes_lowsample.md`` (per benchmark: mean test AUC of each method, mean difference, % change, paired
Wilcoxon p over resamples, wins/losses; by cascade length; NUTS diagnostics). ``--quick`` (smoke test): 30 warm-up
steps, 30 draws x 2 chains, 16 tuning draws, one restart and 20 Adam steps.
"""

from __future__ import annotations

import time
import warnings
from types import SimpleNamespace

import arviz as az
import numpy as np
import pandas as pd

from common import (TRANSFORM, area_on, calibrate_quietly, command_line, experiment_parser, load_cascade,
                    markdown_table, wilcoxon_or_nan)
from probcascade.data.selection import balanced_pairs_subset
from probcascade.evaluation.auc import error_cost_auc
from probcascade.evaluation.routing import route
from probcascade.exceptions import DataValidationError, FitError
from probcascade.joint.model import fit_markov_copula
from probcascade.posterior.fit import fit_posterior
from probcascade.posterior.models import data_from_phi
from probcascade.posterior.predictive import posterior_cascade
from probcascade.posterior.results import PosteriorResult
from probcascade.posterior.tuning import BayesianTuner, bayes_tune
from probcascade.tuning.options import TuneOptions
from probcascade.tuning.rational import tune
from probcascade.tuning.recommended import recommended_model

#: The posterior blocks Bayesian tuning conditions on (as BayesianTuner: the calibrated confidences only).
BLOCKS = ("marginals", "copulas")
#: Methods compared with plug-in rational tuning ("rt"), each on its common test cost range with rt's curve.
METHODS = ("bayes", "bayes_q", "rt0")


def contiguous_cascades(k: int, min_k: int = 3) -> list[tuple[int, ...]]:
    """Index tuples of every contiguous sub-cascade of ``k`` models with at least ``min_k`` models."""
    return [tuple(range(i, i + m)) for m in range(min_k, k + 1) for i in range(k - m + 1)]


def default_cascades(k: int) -> list[tuple[int, ...]]:
    """The first three models, the last three and all ``k``: on the Llama cascades both 3-model ones have lambda
    grids of the same length (29 lambdas), so the Bayesian solver compiles once per cascade length."""
    return list(dict.fromkeys([tuple(range(min(3, k))), tuple(range(max(k - 3, 0), k)), tuple(range(k))]))


def sub_posterior(res: PosteriorResult, lo: int, hi: int) -> PosteriorResult:
    """The posterior of the contiguous sub-cascade of models ``lo..hi-1`` of ``res``'s cascade: its models' marginals
    and its links' copulas and cell tables (exact, since the posterior factorises over them)."""
    if (lo, hi) == (0, res.data.k):
        return res
    post = res.idata.posterior.isel(model=slice(lo, hi), link=slice(lo, hi - 1))
    d = res.data
    data = data_from_phi(d.phi[:, lo:hi], d.correct[:, lo:hi], d.models[lo:hi],
                         None if d.costs is None else d.costs[lo:hi], family=d.families[0],
                         n_components=d.n_components, blocks=d.blocks, order_by=d.order_by[lo:hi])
    return PosteriorResult(az.InferenceData(posterior=post), data, res.priors)


def diagnostics(res: PosteriorResult) -> dict:
    """Largest R-hat (and its parameter; and over the copula block: tau, theta, cell tables), smallest bulk/tail
    ESS and divergences over the reported parameters of one NUTS fit."""
    t = res.to_frame()
    a = res.idata.posterior.attrs
    dep = t[t.index.str.startswith(("tau", "theta", "cell"))]
    return {"draws": int(a["draws"]), "chains": int(a["chains"]), "warmup": int(a["warmup"]),
            "r_hat_max": float(t["r_hat"].max()), "r_hat_worst": str(t["r_hat"].idxmax()),
            "r_hat_max_copulas": float(dep["r_hat"].max()), "ess_bulk_min": float(t["ess_bulk"].min()),
            "ess_tail_min": float(t["ess_tail"].min()), "divergences": res.divergences,
            "leapfrog_mean": float(np.asarray(res.idata.sample_stats["n_steps"]).mean())}


def score(curve, base, lo_hi_split: bool = True) -> dict:
    """AUC of test curve ``curve`` and of ``base`` (each a Routing) on their common cost range, and on its halves."""
    try:
        auc = error_cost_auc(curve.cost, curve.error, base.cost, base.error)
    except DataValidationError:          # a frontier collapsed to one test point: no common range
        return {"auc": np.nan, "auc_rt": np.nan, "lo": np.nan, "hi": np.nan, "cheap": np.nan, "cheap_rt": np.nan,
                "dear": np.nan, "dear_rt": np.nan}
    mid = 0.5 * (auc.lo + auc.hi)
    half = lambda ev, a, b: area_on(np.asarray(ev.cost), np.asarray(ev.error), a, b)
    return {"auc": auc.auc_a, "auc_rt": auc.auc_b, "lo": auc.lo, "hi": auc.hi,
            "cheap": half(curve, auc.lo, mid), "cheap_rt": half(base, auc.lo, mid),
            "dear": half(curve, mid, auc.hi), "dear_rt": half(base, mid, auc.hi)}


def run_resample(bench: str, train, test, seed: int, cfg: SimpleNamespace) -> list[dict]:
    """Rows of one resample: every contiguous k >= 3 cascade, each method scored against plug-in RT."""
    sub = train.take(balanced_pairs_subset(train.correct, target=30, seed=seed))
    cal = calibrate_quietly(sub, TRANSFORM[bench])
    phi_tr, phi_te = cal.predict(sub), cal.predict(test)
    choice = recommended_model(sub.n_queries)
    opts = TuneOptions(**choice.options, seed=seed, **cfg.tune)
    costs_tr, costs_te = sub.expected_costs.to_numpy(), test.cost.mean(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        point = fit_markov_copula(phi_tr, sub.models, correct=sub.correct, family=choice.family)
        a, b = min(c[0] for c in cfg.cascades), max(c[-1] for c in cfg.cascades) + 1     # the models fitted
        data = data_from_phi(phi_tr[:, a:b], sub.correct[:, a:b], sub.models[a:b], costs_tr[a:b],
                             family=choice.family, blocks=BLOCKS)
        t0 = time.perf_counter()
        res = fit_posterior(data, seed=seed, **cfg.nuts)
        nuts_s = time.perf_counter() - t0
    diag = diagnostics(res)
    tau_post = res.draws("tau").mean(axis=0)
    rows = []
    for idx in cfg.cascades:
        lo, hi = idx[0], idx[-1] + 1
        models = sub.models[lo:hi]
        t0 = time.perf_counter()
        fronts = {"rt": tune(point, costs_tr[lo:hi], models=models, options=opts),
                  "rt0": tune(point, costs_tr[lo:hi], models=models, options=opts.replace(infill_q=None))}
        t_rt = time.perf_counter() - t0
        t0 = time.perf_counter()
        pc = posterior_cascade(sub_posterior(res, lo - a, hi - a), n_draws=cfg.tune_draws, seed=seed, costs=costs_tr[lo:hi])
        fronts["bayes"] = bayes_tune(pc, costs_tr[lo:hi], options=opts)
        if cfg.quantile is not None:
            fronts["bayes_q"] = bayes_tune(pc, costs_tr[lo:hi], options=opts, quantile=cfg.quantile)
        t_bayes = time.perf_counter() - t0
        ev = {m: route(phi_te[:, lo:hi], test.correct[:, lo:hi], costs_te[lo:hi], f.thresholds)
              for m, f in fronts.items()}
        tau_pt = [point.pair(models[i], models[i + 1]).tau for i in range(len(models) - 1)]
        row = {"benchmark": bench, "resample": seed, "n_train": sub.n_queries, "cascade": "->".join(models),
               "k": len(models), "model": choice.family + "/" + choice.correctness,
               "tau_point_mean": float(np.mean(tau_pt)), "tau_post_mean": float(np.mean(tau_post[lo - a:hi - a - 1])),
               **{f"points_{m}": len(f) for m, f in fronts.items()}, "time_rt_s": t_rt, "time_bayes_s": t_bayes,
               "nuts_s": nuts_s, **diag}
        for m in METHODS:
            if m in ev:
                row.update({(f"{key}_{m}" if not key.endswith("_rt") else f"{key[:-3]}_rt_vs_{m}"): v
                            for key, v in score(ev[m], ev["rt"]).items()})
        rows.append(row)
        print(f"{bench:10s} s={seed:2d} n={sub.n_queries} {row['cascade']:45s} RT {row['auc_rt_vs_bayes']:.4f} "
              f"Bayes {row['auc_bayes']:.4f} (NUTS {nuts_s:.0f}s, R-hat {diag['r_hat_max']:.3f}, "
              f"tune {t_rt:.1f}s / {t_bayes:.1f}s)", flush=True)
    return rows


# ------------------------------------------------------------------------------------------------ report
def per_resample(df: pd.DataFrame, m: str) -> pd.DataFrame:
    """Per (benchmark, resample): mean AUC of method ``m`` and of RT over the cascades where both are defined."""
    g = df[df[f"auc_{m}"].notna() & df[f"auc_rt_vs_{m}"].notna()]
    return g.groupby(["benchmark", "resample"], sort=False)[[f"auc_{m}", f"auc_rt_vs_{m}"]].mean().reset_index()


def comparison_table(df: pd.DataFrame, m: str) -> pd.DataFrame:
    """One row per benchmark: method ``m`` vs plug-in RT; the test pairs resamples (each resample's mean over its
    cascades, so that the pairs are independent), and the k = 5 cascade alone."""
    rows = []
    pr = per_resample(df, m)
    for bench, g in pr.groupby("benchmark", sort=False):
        a, b = g[f"auc_{m}"].to_numpy(), g[f"auc_rt_vs_{m}"].to_numpy()
        w = wilcoxon_or_nan(a, b, alternative="two-sided")
        full = df[(df.benchmark == bench) & (df.k == df.k.max())]
        wf = wilcoxon_or_nan(full[f"auc_{m}"], full[f"auc_rt_vs_{m}"], alternative="two-sided")
        allp = df[(df.benchmark == bench)].dropna(subset=[f"auc_{m}", f"auc_rt_vs_{m}"])
        d_all = allp[f"auc_{m}"] - allp[f"auc_rt_vs_{m}"]
        rows.append({"benchmark": bench, "resamples": len(g),
                     "n_train": f"{df[df.benchmark == bench].n_train.min()}-{df[df.benchmark == bench].n_train.max()}",
                     "cascades": int(df[df.benchmark == bench].groupby("resample").size().max()),
                     "AUC RT": b.mean(), f"AUC {m}": a.mean(), "mean diff": (a - b).mean(), "%change": w.pct_change,
                     "p (Wilcoxon)": w.pvalue, "wins/losses": f"{int((a < b).sum())}/{int((a > b).sum())}",
                     f"k={int(df.k.max())} %change": wf.pct_change, f"k={int(df.k.max())} p": wf.pvalue,
                     "pairs wins/losses": f"{int((d_all < 0).sum())}/{int((d_all > 0).sum())}"})
    return pd.DataFrame(rows)


def by_k_table(df: pd.DataFrame, m: str) -> pd.DataFrame:
    rows = []
    for (bench, k), g in df.groupby(["benchmark", "k"], sort=False):
        pr = per_resample(g, m)
        a, b = pr[f"auc_{m}"].to_numpy(), pr[f"auc_rt_vs_{m}"].to_numpy()
        w = wilcoxon_or_nan(a, b, alternative="two-sided")
        rows.append({"benchmark": bench, "k": int(k), "resamples": len(pr), "AUC RT": b.mean(), f"AUC {m}": a.mean(),
                     "%change": w.pct_change, "p (Wilcoxon)": w.pvalue,
                     "wins/losses": f"{int((a < b).sum())}/{int((a > b).sum())}"})
    return pd.DataFrame(rows)


def halves_table(df: pd.DataFrame, m: str = "bayes") -> pd.DataFrame:
    """Where on the common cost range the difference sits: the mean AUC on its cheap and its dear half."""
    rows = []
    for bench, g in df.groupby("benchmark", sort=False):
        rows.append({"benchmark": bench, "cheap half RT": g[f"cheap_rt_vs_{m}"].mean(),
                     f"cheap half {m}": g[f"cheap_{m}"].mean(),
                     "cheap diff": (g[f"cheap_{m}"] - g[f"cheap_rt_vs_{m}"]).mean(),
                     "dear half RT": g[f"dear_rt_vs_{m}"].mean(), f"dear half {m}": g[f"dear_{m}"].mean(),
                     "dear diff": (g[f"dear_{m}"] - g[f"dear_rt_vs_{m}"]).mean(),
                     f"points RT / rt0 / {m}": f"{g.points_rt.mean():.1f} / {g.points_rt0.mean():.1f} / "
                                               f"{g[f'points_{m}'].mean():.1f}"})
    return pd.DataFrame(rows)


def diagnostics_table(df: pd.DataFrame) -> pd.DataFrame:
    """NUTS diagnostics of the fits (one per resample) and the copula dependence, point vs posterior mean."""
    fits = df.drop_duplicates(["benchmark", "resample"])
    full = df[df.k == df.k.max()]
    rows = []
    for bench, g in fits.groupby("benchmark", sort=False):
        f = full[full.benchmark == bench]
        worst = g.r_hat_worst.str.replace(r"\[.*", "", regex=True).value_counts()
        rows.append({"benchmark": bench, "fits": len(g), "max R-hat (worst fit)": g.r_hat_max.max(),
                     "max R-hat (median fit)": g.r_hat_max.median(),
                     "fits with R-hat <= 1.01": int((g.r_hat_max <= 1.01).sum()),
                     "worst parameter (fits)": ", ".join(f"{n} ({c})" for n, c in worst.items()),
                     "copula block: fits with R-hat <= 1.01": int((g.r_hat_max_copulas <= 1.01).sum()),
                     "min bulk ESS (median fit)": g.ess_bulk_min.median(),
                     "min bulk ESS (worst fit)": g.ess_bulk_min.min(), "divergences (total)": int(g.divergences.sum()),
                     "fits with divergences": int((g.divergences > 0).sum()),
                     "NUTS s (median)": g.nuts_s.median(), "tau point": f.tau_point_mean.mean(),
                     "tau posterior mean": f.tau_post_mean.mean()})
    return pd.DataFrame(rows)


def reading(df: pd.DataFrame) -> str:
    """The facts of the run in words: where Bayesian tuning is worse on average, and where on the cost range."""
    main = comparison_table(df, "bayes")
    halves = halves_table(df).set_index("benchmark")
    parts = []
    for _, r in main.iterrows():
        h = halves.loc[r.benchmark]
        verdict = "worse" if r["mean diff"] > 0 else "not worse"
        parts.append(f"{r.benchmark}: Bayesian tuning is {verdict} on average (mean AUC {r['AUC bayes']:.4f} vs "
                     f"{r['AUC RT']:.4f}, {r['%change']:+.2f} %, p = {r['p (Wilcoxon)']:.2g}, wins/losses "
                     f"{r['wins/losses']} over {r.resamples} resamples); the difference on the cheap half of the "
                     f"common cost range is {h['cheap diff']:+.4f}, on the dear half {h['dear diff']:+.4f}")
    return "; ".join(parts) + "."


def write_report(df: pd.DataFrame, out, commands: list[str], quantile, skipped: list[str]) -> str:
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "bayes_lowsample.csv", index=False)
    main = comparison_table(df, "bayes")
    comp = "; ".join(f"{r.benchmark} Bayes {r['AUC bayes']:.4f} vs RT {r['AUC RT']:.4f} ({r['%change']:+.2f} %, "
                     f"p = {r['p (Wilcoxon)']:.2g})" for _, r in main.iterrows())
    fit = df.drop_duplicates(["benchmark", "resample"])
    sections = [
        "# Bayesian vs plug-in rational tuning, n <= 30 (seed 002 §4.4.1; issue 13)",
        f"Comparison: {comp}",
        "Command: " + "; ".join(f"`{c}`" for c in commands),
        "Protocol: per benchmark, resamples = seeds of the study's balanced training subset (n <= 30, "
        "`balanced_pairs_subset(target=30, seed=s)`); per resample, calibration on the subset, the point model "
        f"({', '.join(sorted(df.model.unique()))}: `recommended_model(n)` below n = 100) for plug-in rational tuning "
        "(RT, default options), and one NUTS fit of the marginals and copulas of the compared cascades' models for "
        f"Bayesian tuning ({int(fit.draws.iloc[0])} draws x {int(fit.chains.iloc[0])} chains after "
        f"{int(fit.warmup.iloc[0])} warm-up steps; {int(fit.tune_draws.iloc[0])} draws in the tuning), shared by "
        f"the cascades (the posterior factorises). Cascades: {', '.join(df.cascade.unique())}. Test AUC = normalised area under the test error-cost curve on the common cost range "
        "of the method's and RT's curves (lower is better). `p (Wilcoxon)`: two-sided signed-rank test over "
        "resamples, each resample's AUC averaged over its cascades (the cascades of one resample share one training "
        "subset, so they are not independent pairs); `%change`: mean over resamples of 100 (method - RT) / RT; "
        "`wins/losses`: resamples where the method's mean AUC is lower / higher; `pairs wins/losses`: the same per "
        "(resample, cascade).",
        "## Bayesian tuning (posterior-expected objective) vs plug-in RT", markdown_table(main, 4),
        "### By cascade length", markdown_table(by_k_table(df, "bayes"), 4),
        "### Where on the cost range (mean AUC on the cheap and the dear half of the common range; all cascades)",
        markdown_table(halves_table(df), 4),
    ]
    if quantile is not None and "auc_bayes_q" in df:
        sections += [f"## Risk-averse Bayesian tuning (posterior {quantile:g}-quantile of the error) vs plug-in RT",
                     markdown_table(comparison_table(df, "bayes_q"), 4)]
    sections += ["## Plug-in RT without infilling (rt0) vs plug-in RT (what eq. 13's extra frontier points are "
                 "worth on the test set; Bayesian tuning has none)", markdown_table(comparison_table(df, "rt0"), 4),
                 "## NUTS diagnostics (one fit per resample) and copula dependence",
                 "`tau point`: Kendall's tau of the point model's adjacent pairs (mean over links and resamples); "
                 "`tau posterior mean`: the posterior mean of the same taus (Uniform(0, 1) prior for Gumbel). "
                 "`worst parameter`: the parameter with the largest R-hat, counted over fits. `NUTS s`: wall time of "
                 "one fit (compilation included; it depends on the machine's load).",
                 markdown_table(diagnostics_table(df), 4),
                 "## Reading (computed)", reading(df)]
    if skipped:
        sections.append("Skipped resamples (no fit possible): " + "; ".join(skipped))
    md = "\n\n".join(sections) + "\n"
    (out / "bayes_lowsample.md").write_text(md)
    return md


def main(argv=None) -> int:
    import sys
    from pathlib import Path

    ap = experiment_parser(__doc__, subsets=True)
    ap.add_argument("--resamples", type=int, default=20, help="successful resamples per benchmark (default 20)")
    ap.add_argument("--start", type=int, default=0, help="first seed of the resamples")
    ap.add_argument("--draws", type=int, default=BayesianTuner.draws, help="NUTS draws per chain")
    ap.add_argument("--chains", type=int, default=BayesianTuner.chains)
    ap.add_argument("--warmup", type=int, default=None, help="NUTS warm-up steps (default: fit_posterior's)")
    ap.add_argument("--tune-draws", type=int, default=BayesianTuner.n_draws, help="posterior draws in the tuning")
    ap.add_argument("--quantile", type=float, default=0.9, help="risk-averse variant's quantile (<= 0: off)")
    ap.add_argument("--full-only", action="store_true", help="only the full cascade")
    ap.add_argument("--cascade", type=int, nargs=2, metavar=("LO", "HI"), default=None,
                    help="only the cascade of models LO..HI-1 (0-based; the NUTS fit then covers those models only)")
    ap.add_argument("--all-cascades", action="store_true",
                    help="every contiguous k >= 3 sub-cascade (default: the first three models, the last three, all)")
    ap.add_argument("--quick", action="store_true", help="smoke run (see the module docstring)")
    ap.add_argument("--summarise", type=Path, nargs="+", default=None, metavar="CSV",
                    help="only rewrite the report from earlier runs' CSVs (concatenated)")
    args = ap.parse_args(argv)
    quantile = args.quantile if args.quantile > 0 else None
    if args.summarise:
        df = pd.concat([pd.read_csv(p) for p in args.summarise], ignore_index=True)
        order = df.benchmark.map({b: i for i, b in enumerate(TRANSFORM)})          # runs split over processes
        df = (df.assign(_order=order).drop_duplicates(["benchmark", "resample", "cascade"])
              .sort_values(["_order", "resample", "k"], kind="stable").drop(columns="_order").reset_index(drop=True))
        commands = list(dict.fromkeys(df.command))
        print(write_report(df, args.out, commands, quantile, []))
        return 0
    nuts = {"draws": args.draws, "chains": args.chains}
    if args.warmup is not None:
        nuts["warmup"] = args.warmup
    tune_kw = {}
    if args.quick:
        nuts, tune_kw = {"draws": 30, "chains": 2, "warmup": 30}, {"n_restarts": 1, "n_steps": 20}
        args.tune_draws = 16
    command = command_line(__file__, sys.argv[1:] if argv is None else argv)
    rows, skipped = [], []
    for bench in args.benchmarks:
        train, test = load_cascade(args.data, bench, n_models=args.models)
        k = len(train.models)
        cfg = SimpleNamespace(nuts=nuts, tune=tune_kw, tune_draws=args.tune_draws, quantile=quantile,
                              cascades=([tuple(range(k))] if args.full_only else contiguous_cascades(k)
                                        if args.all_cascades else [tuple(range(*args.cascade))] if args.cascade
                                        else default_cascades(k)))
        done, seed = 0, args.start
        while done < args.resamples and seed < args.start + 2 * args.resamples:
            try:
                new = run_resample(bench, train, test, seed, cfg)
            except (DataValidationError, FitError) as exc:
                skipped.append(f"{bench} seed {seed}: {exc}")
                print(f"{bench} seed {seed} skipped: {exc}", flush=True)
            else:
                rows += [{**r, "tune_draws": args.tune_draws, "command": command} for r in new]
                done += 1
                args.out.mkdir(parents=True, exist_ok=True)
                pd.DataFrame(rows).to_csv(args.out / "bayes_lowsample.csv", index=False)   # keep what is done
            seed += 1
    print(write_report(pd.DataFrame(rows), args.out, [command], quantile, skipped))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
