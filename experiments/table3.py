"""The study's Table 3: the Markov property of the Llama cascade by logistic regression, beside the published values.

Each model from the third on (8B, 70B, 405B) has its test correctness regressed on the calibrated confidences of its
immediate predecessor (the Markov predictor) and one earlier ancestor, for every earlier ancestor
(:func:`probcascade.gof.markov.markov_logit_table`; calibrators fitted on ``train`` with the study's transform,
regressions on ``test``). As in the study, the Markov predictor's entry is log10 of its p-value averaged over the
regressions of that row, the ancestor's the log10 p-value of its one regression. The published numbers are
transcribed from the seed's Table 3 (no reference CSV exists for it).

    python experiments/table3.py [--data ../shared/data/llm_cascades] [--out experiments/results]
                                 [--benchmarks mmlu medmcqa truthfulqa]

Writes ``table3.csv`` and ``table3.md``; takes seconds.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from probcascade.gof.markov import markov_logit_table

from common import calibrated_benchmarks, experiment_parser, write_table_report

#: The study's Table 3 (Llama): (benchmark, predicted) -> log10 p of [1B, 3B, 8B, 70B] up to the Markov predictor.
PUBLISHED = {
    ("mmlu", "8b"): (-2.66, -26.86), ("mmlu", "70b"): (-0.52, -3.48, -13.71),
    ("mmlu", "405b"): (-0.78, -2.41, -6.32, -25.78),
    ("medmcqa", "8b"): (-1.85, -26.40), ("medmcqa", "70b"): (-0.26, -2.72, -4.35),
    ("medmcqa", "405b"): (-0.23, -0.82, -2.45, -24.63),
    ("truthfulqa", "8b"): (-1.77, -0.42), ("truthfulqa", "70b"): (-0.30, -0.44, -0.52),
    ("truthfulqa", "405b"): (-0.20, -0.67, -0.59, -1.55),
}


def size(model: str) -> str:
    """'llama3.1-70b' -> '70b' (the study's column labels)."""
    return model.rsplit("-", 1)[-1]


def table_rows(bench: str, models: tuple[str, ...], tab: pd.DataFrame) -> list[dict]:
    """One row per predicted model: log10 p of each earlier ancestor and (averaged p) of the Markov predictor."""
    rows = []
    for i, predicted in enumerate(models[2:], start=2):
        sub = tab.loc[[predicted]]
        pub = PUBLISHED.get((bench, size(predicted)), ())
        row = {"benchmark": bench, "predicted": predicted}
        for j in range(i):
            if j == i - 1:     # the Markov predictor: mean p over this row's regressions
                ours = float(np.log10(np.mean(10.0 ** sub.log10_p_markov.to_numpy())))
                coef = float(sub.coef_markov.mean())
            else:
                r = sub[sub.ancestor == models[j]].iloc[0]
                ours, coef = float(r.log10_p_ancestor), float(r.coef_ancestor)
            row[f"log10p {size(models[j])}"] = ours
            row[f"paper {size(models[j])}"] = pub[j] if j < len(pub) else np.nan
            row[f"coef {size(models[j])}"] = coef
        ours = [row[f"log10p {size(m)}"] for m in models[:i]]
        row["markov_predictor"] = size(models[i - 1])
        row["smallest_p"] = size(models[int(np.argmin(ours))])
        row["paper_smallest_p"] = size(models[int(np.argmin(pub))]) if pub else None
        rows.append(row)
    return rows


def main() -> None:
    ap = experiment_parser(__doc__, subsets=True)
    args = ap.parse_args()
    rows = []
    for bench, train, test, cal in calibrated_benchmarks(args.data, args.benchmarks, args.models):
        phi = pd.DataFrame(cal.predict(test), columns=list(test.models))
        correct = pd.DataFrame(test.correct, columns=list(test.models))
        rows += table_rows(bench, test.models, markov_logit_table(phi, correct))
    df = pd.DataFrame(rows)
    sizes = [c.split(" ", 1)[1] for c in df.columns if c.startswith("log10p ")]
    df = df[["benchmark", "predicted", *[f"{w} {z}" for z in sizes for w in ("log10p", "paper", "coef")],
             "markov_predictor", "smallest_p", "paper_smallest_p"]]
    diff = np.nanmax(np.abs(df[[f"log10p {z}" for z in sizes]].to_numpy(float)
                            - df[[f"paper {z}" for z in sizes]].to_numpy(float)))
    hits = int((df.smallest_p == df.markov_predictor).sum())
    known = df.paper_smallest_p.notna()
    paper_hits = int((df.paper_smallest_p[known] == df.markov_predictor[known]).sum())
    comparison = (f"the Markov predictor has the smallest p-value in {hits} of {len(df)} rows (published: {paper_hits} "
                  f"of {int(known.sum())}); ours {'matches' if (df.smallest_p == df.paper_smallest_p)[known].all() else 'differs from'} "
                  "the published choice of smallest p in every row; largest |log10 p - published| "
                  f"{diff:.2f}")
    notes = ["`log10p <model>`: log10 of the Wald p-value of that model's calibrated confidence when predicting the "
             "`predicted` model's test correctness together with the immediate predecessor (the last filled "
             "column: the Markov predictor, its p averaged over the row's regressions); `coef`: the logistic "
             "coefficients (the Markov predictor's averaged). `paper <model>`: the seed's Table 3 (its TriviaQA, XSum "
             "and GSM8K rows have no shared data)."]
    print(write_table_report(__file__, args.out, "table3", "Table 3: the Markov property by logistic regression (Llama, test)",
                             notes, df, comparison, digits=2))


if __name__ == "__main__":
    main()
