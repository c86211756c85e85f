"""NUTS posterior of each Llama cascade with the defaults: convergence, time, and interval coverage on the test set.

For each benchmark: the wall and CPU time of one full NUTS fit with :func:`probcascade.posterior.fit_posterior`'s
defaults (5 calibrators, 5 marginals, 4 adjacent copulas and cell tables, pairwise correctness), the largest R-hat,
smallest bulk ESS and the number of divergences over every reported parameter. Then the coverage check of issue
13: for every model and phi in {0.5, 0.7, 0.9} with at least 10 test queries of point-calibrated confidence
Phi > phi, whether the 90 % posterior *predictive* interval of the frequency of correct answers among those
queries contains the observed test frequency. Three predictives are compared (all over the same draws):

* ``model`` (the package's generative model): ``P_d = E_d[c_d(Phi) | Phi > phi]`` under draw d's marginal of Phi
  and draw d's calibrator c_d (:func:`~probcascade.posterior.predictive.prob_correct_above`), then
  ``Binomial(n_test, P_d) / n_test`` (:func:`~probcascade.posterior.predictive.predictive_frequency`);
* ``cond`` (conditional on the test queries' signals): the correct answers of the n_test selected queries drawn as
  ``Bernoulli(c_d(xi_i))`` with draw d's calibrator;
* ``study`` (the calibrator taken as exact, ``c(u) = u``, the marginal alone), and ``param`` (the ``model``
  interval of P_d itself, without the test set's binomial noise): what the first version of this table reported.

``--quick`` is a smoke run (few draws).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from common import TRANSFORM, calibrated_benchmarks, experiment_parser, markdown_table, write_table_report
from probcascade.posterior.fit import fit_posterior
from probcascade.posterior.predictive import prob_correct_above, predictive_frequency

PHIS = (0.5, 0.7, 0.9)
#: Draws used for the coverage intervals (a random subset of the fit's draws).
N_COVER = 1000
MIN_TEST = 10


def _interval(x: np.ndarray) -> tuple[float, float]:
    lo, hi = np.nanquantile(x, [0.05, 0.95])
    return float(lo), float(hi)


def coverage_rows(bench, res, cal, train, test, seed: int) -> list[dict]:
    """One row per (model, phi) with >= MIN_TEST test queries above phi: the intervals and whether they cover."""
    p_model = prob_correct_above(res, list(PHIS), n_draws=N_COVER, seed=seed)               # (D, P, k)
    p_study = prob_correct_above(res, list(PHIS), calibrators=False, n_draws=N_COVER, seed=seed)
    coef = res.draws("calib_coef")
    coef = coef[np.sort(np.random.default_rng(seed).choice(coef.shape[0], min(N_COVER, coef.shape[0]),
                                                            replace=False))]
    phi_train, phi_test = cal.predict(train), cal.predict(test)
    rng = np.random.default_rng(seed)
    rows = []
    for j, m in enumerate(train.models):
        xi_test = cal.calibrators[m].transform_.transform(test.logprob[:, j])
        for i, phi in enumerate(PHIS):
            sel = phi_test[:, j] > phi
            n = int(sel.sum())
            if n < MIN_TEST or not np.all(np.isfinite(p_model[:, i, j])):
                continue
            freq = float(test.correct[sel, j].mean())
            tr = phi_train[:, j] > phi
            eta = coef[:, j, 0][:, None] + coef[:, j, 1][:, None] * xi_test[sel][None, :]         # (D, n)
            cond = (rng.random(eta.shape) < 1.0 / (1.0 + np.exp(-eta))).mean(axis=1)
            row = {"benchmark": bench, "model": m, "phi": phi, "n_train": int(tr.sum()),
                   "train_freq": float(train.correct[tr, j].mean()) if tr.any() else float("nan"),
                   "n_test": n, "test_mean_phi": float(phi_test[sel, j].mean()), "test_freq": freq}
            for name, draws in (("model", predictive_frequency(p_model[:, i, j], n, seed=seed + 1)), ("cond", cond),
                                ("study", predictive_frequency(p_study[:, i, j], n, seed=seed + 2)),
                                ("param", p_model[:, i, j])):
                lo, hi = _interval(draws)
                row.update({f"{name}_lo": lo, f"{name}_hi": hi, f"{name}_covered": bool(lo <= freq <= hi)})
            rows.append(row)
    return rows


def main(argv=None) -> int:
    ap = experiment_parser(__doc__, subsets=True)
    ap.add_argument("--quick", action="store_true", help="smoke run: 30 warm-up steps, 30 draws x 2 chains")
    ap.add_argument("--draws", type=int, default=None, help="draws per chain (default: fit_posterior's)")
    ap.add_argument("--chains", type=int, default=None, help="chains (default: fit_posterior's)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    kw = {"draws": 30, "chains": 2, "warmup": 30} if args.quick else {
        k: v for k, v in (("draws", args.draws), ("chains", args.chains)) if v is not None}
    rows, cover = [], []
    for bench, train, test, cal in calibrated_benchmarks(args.data, args.benchmarks, args.models):
        t0, c0 = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fit_posterior(train, seed=args.seed, transform=TRANSFORM[bench], **kw)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        t = res.to_frame()
        a = res.idata.posterior.attrs
        rows.append({"benchmark": bench, "k": len(train.models), "n": train.n_queries, "warmup": int(a["warmup"]),
                     "draws": int(a["draws"]), "chains": int(a["chains"]), "parameters": len(t),
                     "max_r_hat": float(t["r_hat"].max()), "min_ess_bulk": float(t["ess_bulk"].min()),
                     "min_ess_tail": float(t["ess_tail"].min()), "divergences": res.divergences,
                     "mean_leapfrog": float(res.idata.sample_stats["n_steps"].mean()),
                     "order_by": ",".join(res.data.order_by), "wall_s": wall, "cpu_s": cpu})
        print(rows[-1], flush=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cover += coverage_rows(bench, res, cal, train, test, args.seed)
    conv, cov = pd.DataFrame(rows), pd.DataFrame(cover)
    notes = ["Convergence targets: R-hat <= 1.01, bulk ESS >= 400, no divergences; times are one fit on this machine "
             "(2 cores shared with other jobs: wall time depends on the load, CPU time less so). `order_by`: the "
             "coordinate whose ordering identifies each model's beta components (see probcascade.posterior.models).",
             "Coverage of the 90 % intervals: see posterior_coverage.md."]
    write_table_report(__file__, args.out, "posterior_convergence", "NUTS posterior of the Llama cascades", notes,
                       conv, "convergence and time of the default NUTS fit", digits=3)
    _coverage_report(args, cov)
    return 0


def _coverage_report(args, cov: pd.DataFrame) -> None:
    kinds = ("model", "cond", "study", "param")
    if len(cov):
        by = cov.groupby("benchmark", sort=False)[[f"{k}_covered" for k in kinds]].mean()
        by.loc["all"] = cov[[f"{k}_covered" for k in kinds]].mean()
        by.insert(0, "cases", cov.groupby("benchmark", sort=False).size().tolist() + [len(cov)])
        by = by.reset_index()
        by.columns = ["benchmark", "cases"] + [f"coverage_{k}" for k in kinds]
    else:
        by = pd.DataFrame()
    notes = [f"Cases: every (benchmark, model, phi in {list(PHIS)}) with at least {MIN_TEST} test queries of "
             "point-calibrated confidence above phi. A case is covered when the 90 % equal-tailed posterior "
             "predictive interval of the test frequency of correct answers contains the observed one (target "
             "0.85-0.95). Kinds: `model` = marginal x calibrator draw + binomial test noise (the package's "
             "generative model); `cond` = calibrator draw on the selected test queries' own signals + Bernoulli "
             "noise; `study` = marginal alone with the calibrator taken as exact + binomial noise; `param` = the "
             "interval of P(correct | Phi > phi) itself, no test noise.",
             "`train_freq` / `test_freq`: observed frequencies among training / test queries above phi; "
             "`test_mean_phi`: mean point-calibrated confidence of those test queries (a well-calibrated test set "
             "has test_mean_phi close to test_freq)."]
    args.out.mkdir(parents=True, exist_ok=True)
    cov.to_csv(args.out / "posterior_coverage.csv", index=False)
    cols = ["benchmark", "model", "phi", "n_train", "train_freq", "n_test", "test_mean_phi", "test_freq",
            "model_lo", "model_hi", "model_covered", "cond_covered", "study_covered", "param_covered"]
    md = "\n\n".join(["# Coverage of the posterior intervals of P(correct | Phi > phi) on the test sets",
                      "Comparison: 90 % posterior predictive intervals vs the test-set frequency of correct answers",
                      "Command: `python experiments/posterior_convergence.py` (same run as posterior_convergence.md)",
                      *notes, "## Coverage rate", markdown_table(by, 3) if len(by) else "(no cases)",
                      "## Cases", markdown_table(cov[cols], 3) if len(cov) else "(no cases)"]) + "\n"
    (args.out / "posterior_coverage.md").write_text(md)
    if len(by):
        print(by.to_string(index=False))


if __name__ == "__main__":
    raise SystemExit(main())
