"""The study's Table 2: test ECE of logistic calibration with the transforms of eq. 16/17 (%ECE) and without them
(%ECE_TF), and the change %Δ = 100 (ECE - ECE_TF) / ECE_TF, beside the published values.

Per benchmark and model family of the shared data, :func:`probcascade.calibrate` is fitted on ``train`` twice: with
the study's transform (one-sided on multiple choice, two-sided on TruthfulQA) and with ``transform="none"`` (logistic
regression on the raw probability, the study's ablation); also with ``"logit"`` (Platt scaling's input) for context.
ECE with 10 quantile bins on ``test``. The published numbers are transcribed from the seed's Table 2 (no reference
CSV exists for it).

    python experiments/table2.py [--data ../shared/data/llm_cascades] [--out experiments/results]

Writes ``table2.csv`` and ``table2.md``; takes seconds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from probcascade.calibration.calibrators import calibrate

from common import GROUP_BENCHMARKS, TRANSFORM, experiment_parser, load_cascade, write_table_report

#: The study's Table 2, (benchmark, model) -> (%ECE, %ECE_TF, %Δ); the shared data's benchmarks only.
PUBLISHED = {
    ("mmlu", "llama3.2-1b"): (3.8, 6.1, -37.7), ("mmlu", "llama3.2-3b"): (4.0, 7.4, -45.9),
    ("mmlu", "llama3.1-8b"): (4.1, 7.0, -41.4), ("mmlu", "llama3.1-70b"): (2.4, 7.9, -69.6),
    ("mmlu", "llama3.1-405b"): (2.9, 10.4, -72.1), ("mmlu", "qwen2.5-32b-coder-instruct"): (5.3, 13.9, -61.9),
    ("mmlu", "qwen2.5-72b-instruct"): (4.9, 10.9, -55.0), ("mmlu", "gpt-4o-mini"): (4.7, 14.8, -68.2),
    ("mmlu", "gpt-4o"): (4.8, 11.2, -57.1),
    ("medmcqa", "llama3.2-1b"): (8.7, 9.8, -11.2), ("medmcqa", "llama3.2-3b"): (6.8, 10.0, -32.0),
    ("medmcqa", "llama3.1-8b"): (9.4, 14.1, -33.1), ("medmcqa", "llama3.1-70b"): (9.9, 12.5, -20.8),
    ("medmcqa", "llama3.1-405b"): (10.8, 14.2, -24.0), ("medmcqa", "qwen2.5-32b-coder-instruct"): (6.2, 14.5, -57.2),
    ("medmcqa", "qwen2.5-72b-instruct"): (7.0, 16.1, -56.5), ("medmcqa", "gpt-4o-mini"): (5.3, 15.5, -65.8),
    ("medmcqa", "gpt-4o"): (3.1, 12.6, -75.4),
    ("truthfulqa", "llama3.2-1b"): (4.3, 4.3, 0.0), ("truthfulqa", "llama3.2-3b"): (7.5, 6.4, 17.2),
    ("truthfulqa", "llama3.1-8b"): (7.3, 7.3, 0.0), ("truthfulqa", "llama3.1-70b"): (5.7, 5.3, 7.5),
    ("truthfulqa", "llama3.1-405b"): (5.6, 10.8, -48.1),
}


def test_ece(train, test, transform: str) -> pd.Series:
    """Per-model test ECE (%) of logistic calibration with ``transform`` fitted on train."""
    with warnings.catch_warnings():           # separation warnings of single calibrators: reported elsewhere
        warnings.simplefilter("ignore")
        return calibrate(train, transform=transform).report(test).to_frame()["ece"] * 100


def main() -> None:
    args = experiment_parser(__doc__).parse_args()
    rows = []
    for group, benches in GROUP_BENCHMARKS.items():
        for bench in benches:
            train, test = load_cascade(args.data, bench, group)
            with_tf, raw, logit = (test_ece(train, test, t) for t in (TRANSFORM[bench], "none", "logit"))
            for m in train.models:
                pub = PUBLISHED.get((bench, m), (np.nan,) * 3)
                rows.append({"benchmark": bench, "group": group, "model": m, "pct_ece": with_tf[m],
                             "paper_pct_ece": pub[0], "pct_ece_tf": raw[m], "paper_pct_ece_tf": pub[1],
                             "pct_delta": 100 * (with_tf[m] - raw[m]) / raw[m], "paper_pct_delta": pub[2],
                             "pct_ece_logit": logit[m]})
    df = pd.DataFrame(rows)
    mean = df[["pct_ece", "paper_pct_ece", "pct_ece_tf", "paper_pct_ece_tf", "pct_delta", "paper_pct_delta"]].mean()
    better = int((df.pct_ece < df.pct_ece_tf).sum())
    comparison = (f"mean %ECE {mean.pct_ece:.2f} (published {mean.paper_pct_ece:.2f}), without the transform "
                  f"{mean.pct_ece_tf:.2f} (published {mean.paper_pct_ece_tf:.2f}); mean %Δ {mean.pct_delta:+.1f} "
                  f"(published {mean.paper_pct_delta:+.1f}); the transform lowers the ECE for {better} of {len(df)} "
                  "models")
    notes = ["`pct_ece`: logistic regression on the study's transform (eq. 16 / 17) of the log-probability; "
             "`pct_ece_tf`: logistic regression on the raw probability (`transform=\"none\"`), the study's %ECE_TF; "
             "`pct_delta` = 100 (ECE - ECE_TF) / ECE_TF; `pct_ece_logit`: on log(p / (1 - p)) (not in the study). "
             "All fitted on train, ECE with 10 quantile bins on test. `paper_*`: the seed's Table 2 (its "
             "TriviaQA, XSum and GSM8K columns and the Qwen/OpenAI TruthfulQA rows have no shared data; its averages "
             "are over all its models, ours over the rows here)."]
    print(write_table_report(__file__, args.out, "table2", "Table 2: ECE with and without the confidence transform", notes, df,
                             comparison, digits=1))


if __name__ == "__main__":
    main()
