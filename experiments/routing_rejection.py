"""Routing and rejection on the shared Llama data: parity routing rates with bootstrap intervals, risk-coverage.

For MMLU and MedMCQA (Llama), with confidences calibrated on train and everything scored on test:

* parity routing rate (the least share of queries, the small model's least confident, routed to the large model
  at which the routed system matches the large model's test accuracy; percentile bootstrap over test queries,
  B = 1000, 95 %) for llama3.1-8b -> llama3.1-405b and llama3.1-70b -> llama3.1-405b, with the mean cost per query
  at parity (the small model always runs) against the large model alone;
* every model's risk-coverage curve (plot), AURC, E-AURC and the prediction-rejection ratio.

    python experiments/routing_rejection.py [--data ../shared/data/llm_cascades] [--out experiments/results]
                                            [--benchmarks mmlu medmcqa] [--n-boot 1000]

Writes ``routing_rejection.md`` and ``routing_rejection_risk_coverage.png``.
"""

from __future__ import annotations

import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from common import calibrated_benchmarks, command_line, experiment_parser, markdown_table  # noqa: E402

from probcascade.evaluation.rejection import prediction_rejection_ratio, risk_coverage  # noqa: E402
from probcascade.evaluation.routing_analysis import parity_routing_rate  # noqa: E402

PAIRS = (("llama3.1-8b", "llama3.1-405b"), ("llama3.1-70b", "llama3.1-405b"))


def main(argv: list[str] | None = None) -> int:
    ap = experiment_parser(__doc__)
    ap.add_argument("--benchmarks", nargs="+", default=["mmlu", "medmcqa"], choices=["mmlu", "medmcqa", "truthfulqa"])
    ap.add_argument("--n-boot", type=int, default=1000)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    parity_rows, rc_rows, curves = [], [], {}
    for bench, _train, test, cal in calibrated_benchmarks(args.data, args.benchmarks):
        phi = cal.predict(test)
        cost = test.cost.mean(axis=0)
        for small, large in PAIRS:
            if small not in test.models or large not in test.models:
                continue
            i, j = test.index(small), test.index(large)
            res = parity_routing_rate(phi[:, i], test.correct[:, i], test.correct[:, j], cost=(cost[i], cost[j]),
                                      n_boot=args.n_boot, seed=0)
            parity_rows.append({"benchmark": bench, "small": small, "large": large, "acc small": res.accuracy_small,
                                "acc large": res.accuracy_large, "parity rate": res.rate, "ci low": res.ci_low,
                                "ci high": res.ci_high, "cost/query at parity ($/1M)": res.cost_at_parity * 1e6,
                                "large alone ($/1M)": res.cost_large * 1e6, "cost ratio": res.cost_ratio})
        for j, m in enumerate(test.models):
            rc = risk_coverage(phi[:, j], test.correct[:, j])
            curves[(bench, m)] = rc
            rc_rows.append({"benchmark": bench, "model": m, "accuracy": float(test.correct[:, j].mean()),
                            "AURC": rc.aurc, "E-AURC": rc.eaurc,
                            "PRR": prediction_rejection_ratio(phi[:, j], test.correct[:, j])})
    benches = list(dict.fromkeys(b for b, _ in curves))
    fig, axes = plt.subplots(1, len(benches), figsize=(5.2 * len(benches), 4), squeeze=False)
    for ax, bench in zip(axes[0], benches):
        for (b, m), rc in curves.items():
            if b == bench:
                ax.plot(rc.coverage, rc.risk, label=f"{m} (AURC {rc.aurc:.3f})")
        ax.set_title(f"{bench} (Llama, test)")
        ax.set_xlabel("coverage (share answered, most confident first)")
        ax.set_ylabel("risk (error among answered)")
        ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / "routing_rejection_risk_coverage.png", dpi=120)
    plt.close(fig)
    text = ["# Routing and rejection on the shared Llama data", "",
            f"Command: `{command_line(__file__, sys.argv[1:] if argv is None else argv)}` "
            f"({time.perf_counter() - t0:.0f} s). Calibrated on train (the study's transforms), scored on test.", "",
            "## Parity routing rate (Self-REF's Table 2 measure)", "",
            "The least share of queries (the small model's least confident) routed to the large model at which the "
            f"routed system's test accuracy reaches the large model's; 95 % percentile bootstrap over test queries "
            f"(B = {args.n_boot}). Cost at parity: the small model on every query plus the large one on the routed "
            "share (test mean costs).", "",
            markdown_table(pd.DataFrame(parity_rows), digits=4), "",
            "## Risk-coverage (every model)", "",
            "AURC: mean error among the k most confident answers over k = 1..n (lower is better); E-AURC: AURC minus "
            "the oracle's; PRR: prediction-rejection ratio (1 = oracle ordering, 0 = random). Curves: "
            "`routing_rejection_risk_coverage.png`.", "",
            markdown_table(pd.DataFrame(rc_rows), digits=4), ""]
    (args.out / "routing_rejection.md").write_text("\n".join(text))
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
