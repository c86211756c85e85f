"""How much can any threshold choice gain over grid search on the test data? (context for Table 7's k >= 3 margin)

For the k = 3 and k = 4 Llama cascades of each benchmark: grid search on ``train`` (the Table 7 baseline) against a
hindsight oracle, the Pareto set of a grid search run on ``test`` itself, scored on the 0/1 test correctness
(finer grid: 0.5 % mass steps for k = 3, 2.5 % for k = 4). No method tuned on train can expect to beat the oracle, so
its mean AUC change against grid search bounds what rational tuning can show on this test split; rational tuning's
own change is read from Table 7's CSV.

    python experiments/headroom.py [--data ../shared/data/llm_cascades] [--table7 experiments/results/table7.csv]
                                   [--out experiments/results] [--benchmarks mmlu medmcqa truthfulqa] [--models K]

Writes ``headroom.md`` to ``--out``. ``--benchmarks`` and ``--models K`` (the first K models of each cascade; k = 4
needs K >= 4) shrink the run (smoke test).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from probcascade.tuning.grid import grid_search
from probcascade.evaluation.auc import error_cost_auc
from probcascade.evaluation.routing import route

from common import RESULTS, calibrated_benchmarks, experiment_parser

STEP = {3: 0.005, 4: 0.025}


def main() -> None:
    ap = experiment_parser(__doc__, subsets=True)
    ap.add_argument("--table7", type=Path, default=RESULTS / "table7.csv",
                    help="Table 7 CSV with the rational-tuning AUCs (default: the committed results)")
    args = ap.parse_args()
    t7 = pd.read_csv(args.table7)
    rows = []
    for bench, train, test, cal in calibrated_benchmarks(args.data, args.benchmarks, args.models):
        p_tr, p_te = cal.predict(train), cal.predict(test)
        c_tr, c_te = train.expected_costs.to_numpy(), test.cost.mean(axis=0)
        for k, step in STEP.items():
            for idx in map(list, combinations(range(len(train.models)), k)):
                sub = tuple(train.models[i] for i in idx)
                ev = lambda th: route(p_te[:, idx], test.correct[:, idx], c_te[idx], th)
                gs = ev(grid_search(p_tr[:, idx], train.correct[:, idx], c_tr[idx], models=sub).thresholds)
                oracle = ev(grid_search(p_te[:, idx], test.correct[:, idx], c_te[idx], models=sub, step=step,
                                        offset=step / 2, accuracy="correct").thresholds)
                a = error_cost_auc(oracle.cost, oracle.error, gs.cost, gs.error)
                r = t7[(t7.benchmark == bench) & (t7.cascade == "->".join(sub))]
                rows.append({"benchmark": bench, "k": k, "cascade": "->".join(sub),
                             "oracle_vs_gs_pct": 100 * (a.auc_a / a.auc_b - 1),
                             "rt_vs_gs_pct": 100 * (r.auc_rt.iloc[0] / r.auc_gs.iloc[0] - 1) if len(r) else np.nan})
            print(bench, k, flush=True)
    df = pd.DataFrame(rows)
    g = df.groupby("benchmark", sort=False)[["oracle_vs_gs_pct", "rt_vs_gs_pct"]].mean()
    g.loc["pooled"] = df[["oracle_vs_gs_pct", "rt_vs_gs_pct"]].mean()
    md = ["# Headroom: hindsight oracle on test vs grid search on train (k = 3, 4)", "",
          "Command: `python experiments/headroom.py`. Mean per-cascade % change of the test AUC against grid search "
          "tuned on train (negative: better). `oracle`: grid search run on the test split itself (Pareto set of the "
          "test 0/1 correctness; 0.5 % mass steps for k = 3, 2.5 % for k = 4), a bound no tuning on train can be "
          f"expected to reach. `rational tuning`: from `{args.table7.name}`.", "",
          "| benchmark | oracle | rational tuning | share of the headroom |", "|---|---|---|---|"]
    for name, r in g.iterrows():
        md.append(f"| {name} | {r.oracle_vs_gs_pct:+.2f} % | {r.rt_vs_gs_pct:+.2f} % | "
                  f"{r.rt_vs_gs_pct / r.oracle_vs_gs_pct:.0%} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "headroom.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
