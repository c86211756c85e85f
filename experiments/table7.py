"""Reproduce Table 7 of the study: test AUC of rational tuning vs grid search on all 26 Llama cascades.

Thresholds are tuned on ``train`` (n ~ 300) and scored on ``test``; the AUC is the study's (common cost range of the
two curves, linear interpolation, normalised by the range; costs are cumulative per-model test mean costs at the exit
model, which is what the reference CSV's cost bounds match).

    python experiments/table7.py [--data ../shared/data/llm_cascades] [--benchmarks mmlu medmcqa truthfulqa]
                                 [--low-sample] [--out experiments/results] [--models K]

Writes ``table7[_lowsample].csv`` (one row per cascade) and ``table7[_lowsample].md`` (summary by benchmark with
the study's reference means and paired Wilcoxon tests). Rational tuning uses per-pair AIC copula families, the exact
chain evaluation and, for Table 7, the pairwise correctness model (``--correctness marginal`` is the study's model).
A quick run (smoke test): ``--benchmarks mmlu --models 3 --restarts 1 --steps 20`` (the 4 cascades of the first
3 models); the study's reference columns are filled only when ``<data>/../../reference`` has its CSV.
"""

from __future__ import annotations

import sys
import time
from itertools import combinations
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from probcascade.tuning.grid import grid_search
from probcascade.calibration.calibrators import calibrate
from probcascade.exceptions import DataValidationError
from probcascade.evaluation.auc import error_cost_auc
from probcascade.evaluation.routing import route
from probcascade.joint.model import fit_markov_copula
from probcascade.data.selection import balanced_pairs_subset
from probcascade.tuning.rational import tune

from common import (MODELS, TRANSFORM, area_on, command_line, experiment_parser, load_cascade, reference_dir,
                    wilcoxon_or_nan)

#: The study's Table 8 (n <= 30, all model families): benchmark -> (RT AUC, GS AUC, % change RT vs GS).
STUDY_TABLE8 = {"mmlu": (0.293, 0.308, -5.51), "medmcqa": (0.399, 0.416, -4.18), "truthfulqa": (0.449, 0.442, 1.60)}


def run_benchmark(data_dir: Path, bench: str, low_sample: bool, seed: int = 0, ref: pd.DataFrame | None = None,
                  fit_kwargs: dict | None = None, tune_kwargs: dict | None = None,
                  curves: dict | None = None, n_models: int | None = None) -> pd.DataFrame:
    """One benchmark's rows (cascades of its first ``n_models`` models, default all); ``curves`` (if given) receives
    the test curves of the full cascade."""
    train, test = load_cascade(data_dir, bench, n_models=n_models)
    if low_sample:
        train = train.take(balanced_pairs_subset(train.correct, target=30, seed=seed))
    cal = calibrate(train, transform=TRANSFORM[bench])
    phi_tr, phi_te = cal.predict(train), cal.predict(test)
    t0 = time.perf_counter()
    model = fit_markov_copula(phi_tr, train.models, correct=train.correct, **(fit_kwargs or {}))
    fit_s = time.perf_counter() - t0
    costs_tr = train.expected_costs.to_numpy()
    costs_te = test.cost.mean(axis=0)
    rows = []
    for k in range(2, len(train.models) + 1):
        for idx in combinations(range(len(train.models)), k):
            idx = list(idx)
            sub = tuple(train.models[i] for i in idx)
            t0 = time.perf_counter()
            fr_rt = tune(model, costs_tr[idx], models=sub, **(tune_kwargs or {}))
            t_rt = time.perf_counter() - t0
            t0 = time.perf_counter()
            fr_gs = grid_search(phi_tr[:, idx], train.correct[:, idx], costs_tr[idx], models=sub)
            t_gs = time.perf_counter() - t0
            ev_rt = route(phi_te[:, idx], test.correct[:, idx], costs_te[idx], fr_rt.thresholds)
            ev_gs = route(phi_te[:, idx], test.correct[:, idx], costs_te[idx], fr_gs.thresholds)
            if curves is not None and k == len(train.models):
                curves[bench] = {"rational tuning": fr_rt.evaluate(phi_te[:, idx], test.correct[:, idx], costs_te[idx]),
                                 "grid search": fr_gs.evaluate(phi_te[:, idx], test.correct[:, idx], costs_te[idx])}
            try:
                auc = error_cost_auc(ev_rt.cost, ev_rt.error, ev_gs.cost, ev_gs.error)
            except DataValidationError as exc:    # n <= 30: a frontier can collapse to one test point
                print(f"{bench:10s} {'->'.join(sub):60s} no AUC: {exc}", flush=True)
                auc = SimpleNamespace(auc_a=np.nan, auc_b=np.nan, lo=np.nan, hi=np.nan)
            name = "->".join(sub)
            ref_rt = ref_lo = ref_hi = np.nan
            if ref is not None:
                r = ref[(ref.benchmark == bench) & (ref.cascade == name) & (ref.method == "rational_tuning")]
                if len(r):
                    ref_rt, ref_lo, ref_hi = float(r.auc_norm.iloc[0]), float(r.cost_lo_per_1M.iloc[0]) / 1e6, float(r.cost_hi_per_1M.iloc[0]) / 1e6
            on_ref = (lambda ev: area_on(np.asarray(ev.cost), np.asarray(ev.error), ref_lo, ref_hi)) if np.isfinite(ref_lo) else (lambda ev: np.nan)
            rows.append({"benchmark": bench, "cascade": name, "k": k, "auc_rt": auc.auc_a, "auc_gs": auc.auc_b,
                         "auc_rt_refrange": on_ref(ev_rt), "auc_gs_refrange": on_ref(ev_gs), "study_auc_rt": ref_rt,
                         "cost_lo_per_1M": auc.lo * 1e6, "cost_hi_per_1M": auc.hi * 1e6, "points_rt": len(fr_rt),
                         "points_gs": len(fr_gs), "time_rt_s": t_rt, "time_gs_s": t_gs, "fit_s": fit_s,
                         "n_train": train.n_queries})
            print(f"{bench:10s} {rows[-1]['cascade']:60s} RT {auc.auc_a:.4f} GS {auc.auc_b:.4f} "
                  f"({t_rt:.2f}s / {t_gs:.2f}s)", flush=True)
    return pd.DataFrame(rows)


def summarise(df: pd.DataFrame, ref: pd.DataFrame | None) -> str:
    lines = ["| benchmark | cascades | RT (ours) | GS (ours) | %Δ vs GS | p (Wilcoxon) | RT k≥3 | GS k≥3 | %Δ k≥3 | study RT | study GS | ours RT vs study RT on the study's cost range (cascades covered) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for bench, g in df.groupby("benchmark", sort=False):
        g = g[g.auc_rt.notna() & g.auc_gs.notna()]          # cascades whose two test curves share a cost range
        cmp_all = wilcoxon_or_nan(g.auc_rt, g.auc_gs)
        g3 = g[g.k >= 3]
        cmp3 = wilcoxon_or_nan(g3.auc_rt, g3.auc_gs)
        s_rt = s_gs = float("nan")
        if ref is not None:
            r = ref[ref.benchmark == bench]
            s_rt = r[r.method == "rational_tuning"].auc_norm.mean()
            s_gs = r[r.method == "grid_search"].auc_norm.mean()
        cov = g.auc_rt_refrange.notna()
        ours_ref = f"{g.auc_rt_refrange[cov].mean():.4f} vs {g.study_auc_rt[cov].mean():.4f} ({cov.sum()})"
        lines.append(f"| {bench} | {len(g)} | {g.auc_rt.mean():.4f} | {g.auc_gs.mean():.4f} | {cmp_all.pct_change:+.2f} | "
                     f"{cmp_all.pvalue:.2g} | {g3.auc_rt.mean():.4f} | {g3.auc_gs.mean():.4f} | {cmp3.pct_change:+.2f} | "
                     f"{s_rt:.4f} | {s_gs:.4f} | {ours_ref} |")
    return "\n".join(lines)


def comparison(df: pd.DataFrame, ref: pd.DataFrame | None, low_sample: bool) -> str:
    """One line for experiments/run_all.py's index: mean RT and GS AUC and the mean % change per benchmark, beside
    the study's (its per-cascade reference CSV for Table 7, the published Table 8 means for ``low_sample``)."""
    parts = []
    for bench, g in df.groupby("benchmark", sort=False):
        g = g[g.auc_rt.notna() & g.auc_gs.notna()]
        ours = wilcoxon_or_nan(g.auc_rt, g.auc_gs)
        pub = STUDY_TABLE8.get(bench) if low_sample else None
        if ref is not None and not low_sample and (ref.benchmark == bench).any():
            r = ref[ref.benchmark == bench].pivot(index="cascade", columns="method", values="auc_norm")
            p = wilcoxon_or_nan(r.rational_tuning, r.grid_search)
            pub = (r.rational_tuning.mean(), r.grid_search.mean(), p.pct_change)
        text = f"{bench} RT {g.auc_rt.mean():.4f} vs GS {g.auc_gs.mean():.4f} ({ours.pct_change:+.2f} %)"
        parts.append(text + (f", published {pub[0]:.4f} vs {pub[1]:.4f} ({pub[2]:+.2f} %)" if pub else ""))
    return "; ".join(parts)


def plot_curves(curves: dict, path: Path, n_models: int = len(MODELS["llama"])) -> None:
    """Test error-cost curves of the full (``n_models``-model) cascade, one panel per benchmark."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from probcascade.plots import plot_frontier

    fig, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 3.8), squeeze=False)
    for ax, (bench, frames) in zip(axes[0], curves.items()):
        plot_frontier(frames, ax=ax, which="test", markersize=3)
        ax.set_title(f"{bench}, all {n_models} Llama models (test)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = experiment_parser(__doc__, subsets=True)
    ap.add_argument("--low-sample", action="store_true", help="Table 8: balanced n <= 30 training subsets")
    ap.add_argument("--family", default="aic",
                    help="copula family of every pair, or 'aic' (default): per pair the family with the smallest AIC")
    ap.add_argument("--theta-method", default="tau", choices=["tau", "mle"])
    ap.add_argument("--r", type=float, default=0.5, help="lambda growth rate of eq. 12")
    ap.add_argument("--infill-q", type=float, default=0.1, help="infilling mass q of eq. 13")
    ap.add_argument("--max-cost-gap", type=float, default=None,
                    help="split cost gaps of the lambda sweep wider than this fraction of the cost range by cost-targeted "
                         "solves (tune(max_cost_gap=...); default: off, the study's sweep)")
    ap.add_argument("--restarts", type=int, default=4)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--solver", choices=["newton", "adam"], default="newton",
                    help="rational tuning's solver (adam: the solver of the results before issue 18; --steps is its step count)")
    ap.add_argument("--joint", default="chain", choices=["chain", "algorithm1"],
                    help="evaluation of k >= 3 cascades: the Markov chain (default) or the study's Algorithm 1")
    ap.add_argument("--correctness", default=None, choices=["marginal", "pairwise"],
                    help="P(correct) of the answering model: its calibrated confidence (the study's model) or the "
                         "pairwise model given its predecessor's confidence too (probcascade.correctness). Default: "
                         "pairwise for Table 7 (n ~ 300), marginal for --low-sample (n <= 30), where three extra "
                         "coefficients per pair are too noisy (see table7_lowsample_pairwise.md)")
    ap.add_argument("--correctness-ridge", type=float, default=0.0,
                    help="prior precision of the pairwise correctness coefficients towards the study's model "
                         "(0: maximum likelihood)")
    ap.add_argument("--summarise", type=Path, default=None, metavar="CSV",
                    help="only rewrite the Markdown summary of an earlier run's CSV")
    ap.add_argument("--tag", default="", help="suffix of the output files (ablations)")
    args = ap.parse_args()
    if args.correctness is None:
        args.correctness = "marginal" if args.low_sample else "pairwise"
    fit_kwargs = {"family": args.family, "theta_method": args.theta_method}
    if args.correctness_ridge:
        fit_kwargs["correctness_ridge"] = args.correctness_ridge
    tune_kwargs = {"r": args.r, "infill_q": args.infill_q, "n_restarts": args.restarts, "n_steps": args.steps,
                   "joint": args.joint, "correctness": args.correctness, "solver": args.solver}
    if args.max_cost_gap is not None:
        tune_kwargs["max_cost_gap"] = args.max_cost_gap
    ref_path = reference_dir(args.data) / "paper_cascade_auc_llama.csv"
    ref = pd.read_csv(ref_path) if ref_path.exists() and not args.low_sample else None
    stem = ("table7_lowsample" if args.low_sample else "table7") + (f"_{args.tag}" if args.tag else "")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.summarise is not None:
        df = pd.read_csv(args.summarise)
    else:
        curves: dict = {}
        df = pd.concat([run_benchmark(args.data, b, args.low_sample, ref=ref, fit_kwargs=fit_kwargs,
                                      tune_kwargs=tune_kwargs, curves=curves, n_models=args.models)
                        for b in args.benchmarks], ignore_index=True)
        df.to_csv(args.out / f"{stem}.csv", index=False)
        if curves:
            plot_curves(curves, args.out / f"{stem}_frontiers.png", args.models or len(MODELS["llama"]))
    md = f"# {'Table 8 (n <= 30)' if args.low_sample else 'Table 7'}: test AUC, rational tuning vs grid search\n\n"
    argv = sys.argv[1:]
    if "--summarise" in argv:                     # the run that made the CSV, not the re-summary
        i = argv.index("--summarise")
        argv = argv[:i] + argv[i + 2:]
    cmd = command_line(__file__, argv)
    md += f"Comparison: {comparison(df, ref, args.low_sample)}\n\n"
    md += f"Command: `{cmd}`  \nModel: {fit_kwargs}; tuning: {tune_kwargs}\n\n"
    md += summarise(df, ref) + "\n\nThe AUC of two curves depends on the cost range they share; the last column scores our rational-tuning test curve on the exact cost range of the study's own comparison (from the reference CSV) beside the study's RT on the same cascades, which is the like-for-like comparison. It covers only the cascades whose test curve spans the study's range: the study's range often starts above the cheapest model's cost (one of its two curves stopped short), while both of ours reach it, so our own RT/GS range includes the high-error cheap end that the study's normalised AUC leaves out.\n"
    if args.low_sample:
        md += ("\nThe study's Table 8 (n <= 30; its means are over all its model families, not Llama alone, so only the "
               "direction compares): RT vs GS AUC " + ", ".join(f"{b} {rt:.3f} vs {gs:.3f} ({d:+.2f} %)"
                                                           for b, (rt, gs, d) in STUDY_TABLE8.items()) + ".\n")
    (args.out / f"{stem}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
