"""Abstention on the Llama cascades: error among answered at 10 % and 20 % abstention against no abstention.

For each benchmark (MMLU, MedMCQA, TruthfulQA) a k = 3 Llama cascade (default llama3.2-1b -> llama3.1-8b ->
llama3.1-405b) is fitted on ``train`` (calibration with the study's transform, per-pair AIC copulas, the pairwise
correctness model) and tuned twice on the model: rational tuning without abstention (:func:`probcascade.tune`) and
with abstention (:func:`probcascade.tuning.abstention.tune_abstention`, one vmapped solve over a (lambda, nu) grid).
Both are scored on ``test`` (per-model test mean costs, as in Table 7). For a target abstention rate alpha the
abstention curve is the frontier points whose *predicted* abstention lies within ``--band`` of alpha (their
non-dominated subset in predicted cost and error among answered); its test error among answered is compared with
the no-abstention curve's test error on the cost range both cover (mean over that range, the study's AUC), and the
realised test abstention is reported. The analytic P(correct answer), P(wrong answer), P(abstain) and E[Cost] of
three points per alpha are checked against Monte Carlo from the fitted model's own sampler (``--mc`` draws;
correctness drawn from the same pairwise model), as z = (analytic - MC) / SE.

    python experiments/abstention_llama.py [--data ../shared/data/llm_cascades] [--out experiments/results]
        [--benchmarks mmlu medmcqa truthfulqa] [--cascade llama3.2-1b,llama3.1-8b,llama3.1-405b]
        [--steps 300] [--restarts 4] [--nus 31] [--mc 200000]

Writes ``abstention_llama.md``, ``abstention_llama.csv`` (one row per benchmark and alpha) and
``abstention_llama.png`` (test error among answered against test cost). Quick run (smoke test):
``--benchmarks mmlu --steps 20 --restarts 1 --nus 5 --mc 20000``.
"""

from __future__ import annotations

import time
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from probcascade.evaluation.auc import error_cost_auc  # noqa: E402
from probcascade.exceptions import DataValidationError  # noqa: E402
from probcascade.joint.model import fit_markov_copula  # noqa: E402
from probcascade.policies.abstention import AbstentionPolicy  # noqa: E402
from probcascade.tuning.abstention import default_nu_grid, tune_abstention  # noqa: E402
from probcascade.tuning.options import TuneOptions  # noqa: E402
from probcascade.tuning.rational import tune  # noqa: E402

from common import calibrated_benchmarks, command_line, experiment_parser, markdown_table  # noqa: E402

TARGETS = (0.10, 0.20)
DEFAULT_CASCADE = "llama3.2-1b,llama3.1-8b,llama3.1-405b"
METRICS = ("p_correct", "p_wrong", "p_abstain", "e_cost")


def monte_carlo(model, cm, fr, rows, costs, n: int, seed: int) -> pd.DataFrame:
    """Analytic metrics of frontier points ``rows`` against Monte Carlo from the model's own sampler: confidences from
    ``cm.sample``, each answered query correct with the pairwise model's probability (the first model: its Phi)."""
    x = cm.sample(n, seed=seed)
    models = cm.models
    out = []
    for i in rows:
        dec = AbstentionPolicy(models, fr.thresholds[i], fr.abstain[i]).route(x, costs)
        j = dec.exit
        own = x[np.arange(n), j]
        prev = x[np.arange(n), np.maximum(j - 1, 0)]
        prob = own.copy()
        for m in range(1, len(models)):
            sel = j == m
            prob[sel] = model.correctness[(models[m - 1], models[m])].predict(prev[sel], own[sel])
        answered = ~dec.abstain
        mc = {"p_correct": prob * answered, "p_wrong": (1 - prob) * answered, "p_abstain": dec.abstain.astype(float),
              "e_cost": dec.cost}
        for name in METRICS:
            unit = 1e6 if name == "e_cost" else 1.0                     # costs in USD per 1M queries
            est, se = unit * mc[name].mean(), unit * mc[name].std() / np.sqrt(n)
            pred = unit * float(fr.frame[name].iloc[i])
            out.append({"point": int(i), "metric": name, "analytic": pred, "monte_carlo": est, "se": se,
                        "z": (pred - est) / se if se > 0 else 0.0})
    return pd.DataFrame(out)


def main() -> None:
    ap = experiment_parser(__doc__)
    ap.add_argument("--benchmarks", nargs="+", default=["mmlu", "medmcqa", "truthfulqa"])
    ap.add_argument("--cascade", default=DEFAULT_CASCADE, help="models of the cascade, comma-separated (k >= 3)")
    ap.add_argument("--steps", type=int, default=300, help="Adam steps of both tuners")
    ap.add_argument("--restarts", type=int, default=4)
    ap.add_argument("--nus", type=int, default=31, help="abstention weights nu, evenly spaced in [0.05, 0.95]")
    ap.add_argument("--band", type=float, default=0.02, help="predicted abstention within alpha +- band")
    ap.add_argument("--mc", type=int, default=200_000, help="Monte Carlo draws per benchmark")
    args = ap.parse_args()
    cascade = tuple(args.cascade.split(","))
    opts = TuneOptions(family="aic", correctness="pairwise", n_steps=args.steps, n_restarts=args.restarts)
    nus = default_nu_grid(args.nus)
    rows, mc_rows, curves = [], [], {}
    for bench, train, test, cal in calibrated_benchmarks(args.data, args.benchmarks):
        idx = [train.models.index(m) for m in cascade]
        p_tr, p_te = cal.predict(train), cal.predict(test)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = fit_markov_copula(p_tr, train.models, family="aic", correct=train.correct)
        costs = train.expected_costs.to_numpy()[idx]
        c_te = test.cost.mean(axis=0)[idx]
        conf_te, corr_te = p_te[:, idx], test.correct[:, idx]
        t0 = time.perf_counter()
        plain = tune(model, costs, models=cascade, options=opts)
        t_plain = time.perf_counter() - t0
        t0 = time.perf_counter()
        fr = tune_abstention(model, costs, cascade, options=opts, nu_grid=nus)
        t_abst = time.perf_counter() - t0
        ev_plain = plain.evaluate(conf_te, corr_te, c_te)
        ev = fr.evaluate(conf_te, corr_te, c_te)
        curves[bench] = {0.0: (ev_plain.test_cost.to_numpy(), ev_plain.test_error.to_numpy())}
        cm = model.cascade(cascade, correctness="pairwise")
        mc_points = []
        for alpha in TARGETS:
            sel = ev.iloc[fr.rows_near(alpha, tol=args.band)]
            row = {"benchmark": bench, "cascade": "->".join(cascade), "alpha": alpha, "points": len(sel),
                   "n_test": len(conf_te)}
            if len(sel) >= 2:
                curves[bench][alpha] = (sel.test_cost.to_numpy(), sel.test_error_answered.to_numpy())
                try:
                    auc = error_cost_auc(sel.test_cost, sel.test_error_answered, ev_plain.test_cost,
                                         ev_plain.test_error)
                    lo, hi = auc.lo, auc.hi
                    on = sel[(sel.test_cost >= lo) & (sel.test_cost <= hi)]
                    row.update({"cost_lo_per_1M": lo * 1e6, "cost_hi_per_1M": hi * 1e6,
                                "test_error_answered": auc.auc_a, "test_error_no_abstention": auc.auc_b,
                                "change_pct": 100 * (auc.auc_a / auc.auc_b - 1),
                                "predicted_abstention": float(on.p_abstain.mean()) if len(on) else np.nan,
                                "test_abstention": float(on.test_p_abstain.mean()) if len(on) else np.nan,
                                "test_abstention_min": float(on.test_p_abstain.min()) if len(on) else np.nan,
                                "test_abstention_max": float(on.test_p_abstain.max()) if len(on) else np.nan,
                                "predicted_error_answered": float(on.error_answered.mean()) if len(on) else np.nan})
                except DataValidationError as exc:
                    print(f"{bench}: alpha {alpha}: no common cost range ({exc})", flush=True)
                order = np.argsort(sel.e_cost.to_numpy())
                picks = sel.index.to_numpy()[order[[0, len(order) // 2, -1]]]
                mc_points += [(alpha, int(p)) for p in dict.fromkeys(picks)]
            rows.append(row)
        mc = monte_carlo(model, cm, fr, [p for _, p in mc_points], costs, args.mc, seed=1)
        mc.insert(0, "alpha", np.repeat([a for a, _ in mc_points], len(METRICS)))
        mc.insert(0, "benchmark", bench)
        mc_rows.append(mc)
        print(f"{bench}: {len(plain)} plain / {len(fr)} abstention points ({t_plain:.1f} s / {t_abst:.1f} s); "
              f"MC max |z| {mc.z.abs().max():.2f}", flush=True)
        for r in rows[-len(TARGETS):]:
            print("   ", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}, flush=True)
    df = pd.DataFrame(rows)
    mcdf = pd.concat(mc_rows, ignore_index=True) if mc_rows else pd.DataFrame()
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "abstention_llama.csv", index=False)
    _plot(curves, args.out / "abstention_llama.png")
    (args.out / "abstention_llama.md").write_text(_report(df, mcdf, args, cascade, nus))
    print(f"wrote {args.out / 'abstention_llama.md'}")


def _plot(curves, path) -> None:
    fig, axes = plt.subplots(1, max(len(curves), 1), figsize=(4.5 * max(len(curves), 1), 3.6), squeeze=False)
    for ax, (bench, cs) in zip(axes[0], curves.items()):
        for alpha, (cost, err) in cs.items():
            o = np.argsort(cost)
            label = "no abstention" if alpha == 0 else f"{alpha:.0%} abstention (error among answered)"
            ax.plot(np.asarray(cost)[o] * 1e6, np.asarray(err)[o], marker=".", ms=3, lw=1, label=label)
        ax.set_title(bench)
        ax.set_xlabel("test cost per query (USD per 1M queries)")
        ax.set_ylabel("test error")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _report(df: pd.DataFrame, mc: pd.DataFrame, args, cascade, nus) -> str:
    cols = ["benchmark", "alpha", "points", "cost_lo_per_1M", "cost_hi_per_1M", "test_error_no_abstention",
            "test_error_answered", "change_pct", "predicted_abstention", "test_abstention", "test_abstention_min",
            "test_abstention_max", "predicted_error_answered"]
    table = df[[c for c in cols if c in df.columns]]
    argv = ["--benchmarks", *args.benchmarks, "--cascade", ",".join(cascade), "--steps", str(args.steps),
            "--restarts", str(args.restarts), "--nus", str(args.nus), "--mc", str(args.mc)]
    md = ["# Abstention on the Llama cascades: error among answered at 10 % and 20 % abstention", "",
          f"Command: `{command_line(__file__, argv)}`. Cascade {' -> '.join(cascade)}; fitted on train (calibration with "
          "the study's transform, AIC copulas, pairwise correctness), scored on test with per-model test mean costs. "
          f"Abstention frontier: P(wrong) + lambda E[Cost] + nu P(abstain) over eq. 12's lambda grid x {len(nus)} nu in "
          f"[{nus[0]:.2f}, {nus[-1]:.2f}] x {args.restarts} restarts, {args.steps} Adam steps, one vmapped solve. "
          f"alpha-curve: frontier points with predicted abstention within ±{args.band} of alpha (non-dominated in "
          "predicted cost and error among answered). Errors are means over the test cost range both curves cover "
          "(the study's AUC): `test_error_answered` (wrong among answered, alpha-curve) against "
          "`test_error_no_abstention` (rational tuning without abstention) at the same costs; `test_abstention`: "
          "realised test abstention rate of the alpha-curve points in that range (mean, min, max).", "",
          markdown_table(table, digits=4), ""]
    if len(mc):
        worst = mc.loc[mc.z.abs().idxmax()]
        within = (mc.z.abs() <= 3).mean()
        md += ["## Analytic against Monte Carlo", "",
               f"{args.mc} draws per benchmark from the fitted model's own sampler (`CascadeModel.sample`), correctness "
               "from the same pairwise model; three points per alpha (cheapest, median, costliest of the alpha-curve); "
               "`mean_se` of e_cost in USD per 1M queries. "
               f"{within:.0%} of the {len(mc)} comparisons within 3 SE; largest |z| = {abs(worst.z):.2f} "
               f"({worst.benchmark}, {worst.metric}, alpha {worst.alpha}).", "",
               markdown_table(mc.groupby(["benchmark", "metric"]).agg(max_abs_z=("z", lambda z: float(np.abs(z).max())),
                                                                       mean_se=("se", "mean")).reset_index(), digits=4),
               ""]
    return "\n".join(md)


if __name__ == "__main__":
    main()
