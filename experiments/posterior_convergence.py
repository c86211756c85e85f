"""NUTS posterior of each Llama cascade (defaults: 4 chains x 1000 draws): convergence and interval coverage.

For each benchmark: the wall and CPU time of one full NUTS fit (5 calibrators, 5 marginals, 4 adjacent copulas and
cell tables, pairwise correctness), the largest R-hat, smallest bulk ESS and the number of divergences over every
parameter; then the coverage check of issue 13: for every model and phi in {0.5, 0.7, 0.9}, whether the 90 %
posterior interval of P(correct | Phi > phi) (the study's correctness model under each draw of the marginal)
contains the test-set frequency of correct answers among test queries with calibrated confidence > phi.
``--quick`` is a smoke run (few draws, first models only).
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from common import TRANSFORM, calibrated_benchmarks, experiment_parser, write_table_report
from probcascade.posterior.fit import fit_posterior
from probcascade.posterior.predictive import prob_correct_above

PHIS = (0.5, 0.7, 0.9)


def main(argv=None) -> int:
    ap = experiment_parser(__doc__, subsets=True)
    ap.add_argument("--quick", action="store_true", help="smoke run: 30 draws x 2 chains")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    draws, chains = (30, 2) if args.quick else (args.draws, args.chains)
    rows, cover = [], []
    for bench, train, test, cal in calibrated_benchmarks(args.data, args.benchmarks, args.models):
        t0, c0 = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fit_posterior(train, draws=draws, chains=chains, seed=args.seed, transform=TRANSFORM[bench])
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        t = res.to_frame()
        rows.append({"benchmark": bench, "k": len(train.models), "n": train.n_queries, "draws": draws,
                     "chains": chains, "parameters": len(t), "max_r_hat": float(t["r_hat"].max()),
                     "min_ess_bulk": float(t["ess_bulk"].min()), "min_ess_tail": float(t["ess_tail"].min()),
                     "divergences": res.divergences, "wall_s": wall, "cpu_s": cpu})
        print(rows[-1], flush=True)
        phi_test = cal.predict(test)
        draws_above = prob_correct_above(res, list(PHIS))               # (draws, phi, k)
        for j, m in enumerate(train.models):
            for i, phi in enumerate(PHIS):
                sel = phi_test[:, j] > phi
                if sel.sum() < 10:
                    continue
                lo, hi = np.quantile(draws_above[:, i, j], [0.05, 0.95])
                freq = float(test.correct[sel, j].mean())
                cover.append({"benchmark": bench, "model": m, "phi": phi, "n_test": int(sel.sum()),
                              "post_lo": lo, "post_hi": hi, "test_freq": freq, "covered": bool(lo <= freq <= hi)})
    conv = pd.DataFrame(rows)
    cov = pd.DataFrame(cover)
    rate = float(cov["covered"].mean()) if len(cov) else float("nan")
    notes = [f"Coverage of the 90 % intervals of P(correct | Phi > phi) over {len(cov)} (benchmark, model, phi) cases: "
             f"{rate:.3f} (target 0.85-0.95).",
             "Convergence targets: R-hat <= 1.01, bulk ESS >= 400, no divergences; times are one fit on this machine "
             "(2 shared cores: wall time depends on the load, CPU time less so)."]
    write_table_report(__file__, args.out, "posterior_convergence", "NUTS posterior of the Llama cascades", notes,
                       conv, "convergence and time of the default NUTS fit", digits=3)
    cov.to_csv(args.out / "posterior_coverage.csv", index=False)
    print(f"coverage {rate:.3f} over {len(cov)} cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
