"""Would a Gaussian or Student-t copula fit the Llama confidence pairs better than the one-parameter families?

For every pair of Llama models on each benchmark and split: the interior x interior pseudo-observations that
``fit_markov_copula`` couples (calibrators and marginal supports from ``train``), the AIC of the best family of
:data:`probcascade.joint.model.AIC_FAMILIES` (maximum likelihood), and the AIC of a Gaussian (1 parameter) and a
Student-t copula (2 parameters) fitted by maximum likelihood with scipy. Negative dAIC: the elliptical copula fits
better. The package has no elliptical copulas; this checks whether that costs anything on the study's data.

    python experiments/elliptical_copulas.py [--data ../shared/data/llm_cascades] [--out experiments/results]
                                             [--benchmarks mmlu medmcqa truthfulqa] [--models K]

Writes ``elliptical_copulas.md`` and ``elliptical_copulas.csv`` (one row per pair and split) to ``--out``.
``--benchmarks`` and ``--models K`` (the first K models of each cascade) shrink the run (smoke test).
"""

from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import optimize, stats

from probcascade.estimation.copulas import fit_copula, pseudo_observations
from probcascade.joint.model import AIC_FAMILIES, cell_of, fit_markov_copula

from common import calibrated_benchmarks, experiment_parser


def gaussian_loglik(u, v, rho):
    x, y = stats.norm.ppf(u), stats.norm.ppf(v)
    return np.sum(-0.5 * np.log1p(-rho**2) - (rho**2 * (x**2 + y**2) - 2 * rho * x * y) / (2 * (1 - rho**2)))


def t_loglik(u, v, rho, nu):
    x, y = stats.t.ppf(u, nu), stats.t.ppf(v, nu)
    joint = stats.multivariate_t.logpdf(np.column_stack([x, y]), shape=[[1, rho], [rho, 1]], df=nu)
    return np.sum(joint - stats.t.logpdf(x, nu) - stats.t.logpdf(y, nu))


def main() -> None:
    args = experiment_parser(__doc__, subsets=True).parse_args()
    rows = []
    for bench, train, test, cal in calibrated_benchmarks(args.data, args.benchmarks, args.models):
        model = fit_markov_copula(cal.predict(train), train.models)
        for split, ds in (("train", train), ("test", test)):
            phi = cal.predict(ds)
            for i, j in combinations(range(len(train.models)), 2):
                mi, mj = (model.marginals[train.models[x]].params for x in (i, j))
                both = ((cell_of(phi[:, i], float(mi.lo), float(mi.hi)) == 1)
                        & (cell_of(phi[:, j], float(mj.lo), float(mj.hi)) == 1))
                u, v = pseudo_observations(phi[both, i]), pseudo_observations(phi[both, j])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    best = min((fit_copula(u, v, family=f, method="mle") for f in AIC_FAMILIES), key=lambda c: c.aic)
                g = optimize.minimize_scalar(lambda r: -gaussian_loglik(u, v, r), bounds=(-0.99, 0.99), method="bounded")
                rho0 = np.sin(np.pi * stats.kendalltau(u, v)[0] / 2)
                t = optimize.minimize(lambda p: -t_loglik(u, v, np.tanh(p[0]), np.exp(p[1])),
                                      [np.arctanh(np.clip(rho0, -0.95, 0.95)), np.log(5.0)], method="Nelder-Mead")
                rows.append({"benchmark": bench, "split": split, "pair": f"{train.models[i]} / {train.models[j]}",
                             "n": int(both.sum()), "best_family": best.family, "aic_best": best.aic,
                             "daic_gaussian": 2 * g.fun + 2 - best.aic, "daic_t": 2 * t.fun + 4 - best.aic})
    df = pd.DataFrame(rows)
    s = df.groupby(["benchmark", "split"], sort=False).agg(
        pairs=("pair", "size"), gaussian_better=("daic_gaussian", lambda d: int((d < 0).sum())),
        t_better=("daic_t", lambda d: int((d < 0).sum())), mean_daic_gaussian=("daic_gaussian", "mean"),
        mean_daic_t=("daic_t", "mean"))
    md = ["# Elliptical copulas vs the package's one-parameter families (Llama pairs)", "",
          "Command: `python experiments/elliptical_copulas.py`. dAIC = AIC(elliptical) − AIC(best of "
          f"{', '.join(AIC_FAMILIES)}), all by maximum likelihood on the interior pseudo-observations; negative: the "
          "elliptical copula fits better.", "",
          "| benchmark | split | pairs | Gaussian better | t better | mean dAIC Gaussian | mean dAIC t |",
          "|---|---|---|---|---|---|---|"]
    md += [f"| {r.benchmark} | {r.split} | {r.pairs} | {r.gaussian_better} | {r.t_better} | {r.mean_daic_gaussian:+.1f} | "
           f"{r.mean_daic_t:+.1f} |" for r in s.reset_index().itertuples()]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "elliptical_copulas.md").write_text("\n".join(md) + "\n")
    df.to_csv(args.out / "elliptical_copulas.csv", index=False)
    print("\n".join(md))


if __name__ == "__main__":
    main()
