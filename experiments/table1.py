"""The study's Table 1: each model's test accuracy (%Corr), test ECE after logistic calibration on train (%ECE) and
share of queries reported with certainty (%Cert), beside the published values.

Per benchmark and model family of the shared data (Llama on MMLU, MedMCQA, TruthfulQA; Qwen/OpenAI on MMLU and
MedMCQA): :func:`probcascade.calibrate` with the study's transform (eq. 16 on multiple choice, eq. 17 on open-ended)
fitted on ``train``, scored on ``test`` by :meth:`~probcascade.calibration.calibrators.CascadeCalibration.report`
(ECE with 10 quantile bins, §4.2). Published values: ``<data>/../../reference/paper_table1.csv`` (NaN without it).

    python experiments/table1.py [--data ../shared/data/llm_cascades] [--out experiments/results]

Writes ``table1.csv`` and ``table1.md``; takes seconds.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from common import (GROUP_BENCHMARKS, calibrated_benchmarks, experiment_parser, reference_dir,
                    write_table_report)

COLUMNS = {"accuracy": "pct_correct", "ece": "pct_ece", "cert_fraction": "pct_cert"}


def ours(data_dir) -> pd.DataFrame:
    """%Corr, %ECE, %Cert per (benchmark, model) on the test splits."""
    parts = []
    for group, benches in GROUP_BENCHMARKS.items():
        for bench, _, test, cal in calibrated_benchmarks(data_dir, benches, group=group):
            rep = cal.report(test).to_frame()[list(COLUMNS)].rename(columns=COLUMNS) * 100
            parts.append(rep.reset_index().assign(benchmark=bench, group=group, n_test=test.n_queries))
    return pd.concat(parts, ignore_index=True)


def main() -> None:
    args = experiment_parser(__doc__).parse_args()
    df = ours(args.data)
    ref_path = reference_dir(args.data) / "paper_table1.csv"
    ref = pd.read_csv(ref_path) if ref_path.exists() else pd.DataFrame(columns=["benchmark", "model", *COLUMNS.values()])
    df = df.merge(ref.rename(columns={c: f"paper_{c}" for c in COLUMNS.values()}), on=["benchmark", "model"], how="left")
    cols = ["benchmark", "group", "model", "n_test"]
    for c in COLUMNS.values():
        cols += [c, f"paper_{c}"]
    df = df[cols]
    gaps = {c: float(np.nanmean(np.abs(df[c] - df[f"paper_{c}"]))) if df[f"paper_{c}"].notna().any() else np.nan
            for c in COLUMNS.values()}
    comparison = ("mean |ours - published| over the " + f"{int(df.paper_pct_correct.notna().sum())} model-benchmark "
                  "cells: " + ", ".join(f"{c} {v:.2f} points" for c, v in gaps.items()))
    notes = ["Logistic calibration on the transformed log-probability (eq. 16 multiple choice, eq. 17 TruthfulQA) "
             "fitted on train, scored on test: %Corr = accuracy, %ECE = ECE with 10 quantile bins, %Cert = share of "
             "raw log-probabilities equal to 0 or -inf. `paper_*`: the study's Table 1 "
             "(`../shared/reference/paper_table1.csv`); the study's TriviaQA, XSum and GSM8K columns and the "
             "Qwen/OpenAI TruthfulQA rows have no shared data."]
    print(write_table_report(__file__, args.out, "table1", "Table 1: accuracy, calibration error and certainty per model",
                             notes, df, comparison, digits=1))


if __name__ == "__main__":
    main()
