"""Does model j's correctness depend on its predecessor's confidence, given its own? (probcascade.joint.correctness)

For every adjacent Llama pair on the shared benchmarks: calibrate on ``train``, then fit
``correct_j ~ 1 + logit Phi_j + logit Phi_{j-1}`` on ``train`` and, separately, on ``test`` (same calibrators).
The study's model has gamma = 0; a positive gamma means that queries the predecessor was unsure about are answered
correctly less often than model j's own calibrated confidence says.

    python experiments/pairwise_correctness.py [--data ../shared/data/llm_cascades] [--out experiments/results]
                                               [--benchmarks mmlu medmcqa truthfulqa] [--models K]

Writes ``pairwise_correctness.csv`` and ``pairwise_correctness.md`` to ``--out``.
"""

from __future__ import annotations

import pandas as pd

from probcascade.joint.correctness import fit_pairwise_correctness

from common import calibrated_benchmarks, experiment_parser


def main() -> None:
    args = experiment_parser(__doc__, subsets=True).parse_args()
    rows = []
    for bench, train, test, cal in calibrated_benchmarks(args.data, args.benchmarks, args.models):
        adjacent = [(i, i + 1) for i in range(len(train.models) - 1)]
        for split, ds in (("train", train), ("test", test)):
            fits = fit_pairwise_correctness(cal.predict(ds), ds.correct, train.models, adjacent)
            for (prev, nxt), f in fits.items():
                a, b, g = f.coef
                rows.append({"benchmark": bench, "split": split, "n": ds.n_queries, "prev": prev, "nxt": nxt,
                             "alpha": a, "beta": b, "gamma": g, "se_gamma": f.fit.se[2], "z_gamma": f.fit.z[2],
                             "p_gamma": f.fit.p_value[2]})
    df = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "pairwise_correctness.csv", index=False)
    md = ["# Pairwise correctness: does the predecessor's confidence matter?", "",
          "Command: `python experiments/pairwise_correctness.py`. Logistic regression of model j's correctness on "
          "logit Phi_j and logit Phi_{j-1} (calibrators fitted on train; the regression on each split separately). "
          "The study's model is alpha = 0, beta = 1, gamma = 0.", "",
          "| benchmark | pair | gamma train (z) | gamma test (z) | beta test |", "|---|---|---|---|---|"]
    for (bench, prev, nxt), g in df.groupby(["benchmark", "prev", "nxt"], sort=False):
        tr, te = g[g.split == "train"].iloc[0], g[g.split == "test"].iloc[0]
        md.append(f"| {bench} | {prev} → {nxt} | {tr.gamma:+.2f} ({tr.z_gamma:+.1f}) | {te.gamma:+.2f} "
                  f"({te.z_gamma:+.1f}) | {te.beta:.2f} |")
    sig = df[(df.split == "test") & (df.p_gamma < 0.05)]
    md += ["", f"Adjacent pairs with gamma significant at 5 % on test: {len(sig)} of {int((df.split == 'test').sum())} "
           f"({', '.join(f'{r.benchmark} {r.prev}→{r.nxt} {r.gamma:+.2f}' for r in sig.itertuples())})."]
    (args.out / "pairwise_correctness.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
