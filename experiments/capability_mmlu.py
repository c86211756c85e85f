"""Capability calibration by subject on the shared Llama data: instance- vs group-level ECE against subject accuracy.

Seed 003 asks whether a confidence predicts what a model can do on a kind of query, not only whether one answer is
right. For MMLU and MedMCQA (Llama), with confidences calibrated on train (the study's transform) and everything
scored on test, each model's queries are grouped by the ``subject`` column of the CSV (``CascadeData`` does not keep
it, so it is read here and aligned by ``query``) and :func:`probcascade.calibration.capability.capability_calibration`
gives, per model: the response ECE (against 0/1 correctness), the instance ECE and MAE (each query's confidence
against its subject's accuracy) and the group ECE (the subject's mean confidence against its accuracy); definitions
in that module's docstring.

    python experiments/capability_mmlu.py [--data ../shared/data/llm_cascades] [--out experiments/results]
                                          [--benchmarks mmlu medmcqa] [--n-bins 10]

Writes ``capability_mmlu.md``. A benchmark whose test file has no ``subject`` column (the synthetic files of
``python experiments/common.py synthetic`` have none) is skipped with a note in the report and on stderr.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import (
    calibrated_benchmarks,
    command_line,
    experiment_parser,
    markdown_table,
)

from probcascade.calibration.capability import capability_calibration

GROUP_COLUMN = "subject"


def read_groups(path: Path, queries: np.ndarray, column: str = GROUP_COLUMN) -> np.ndarray | None:
    """The ``column`` label of every query in ``queries`` order, read from the tidy CSV; ``None`` if the file has
    no such column. Every model's row of a query must carry the same label."""
    header = pd.read_csv(path, nrows=0).columns
    if column not in header:
        return None
    frame = pd.read_csv(path, usecols=["query", column])
    per_query = frame.groupby("query")[column].nunique(dropna=False)
    if (per_query > 1).any():
        raise SystemExit(f"{path}: query {per_query.index[per_query > 1][0]} has more than one '{column}' label")
    labels = frame.drop_duplicates("query").set_index("query")[column]
    return labels.loc[queries].to_numpy(dtype=object)


def noise_floor(groups: pd.DataFrame) -> float:
    """Group ECE expected from sampling noise alone: ``sum_g (n_g / N) sqrt(2 / pi) se_g``, the mean of
    ``|a_hat_g - a_g|`` under the normal approximation when ``c_g`` equals the true accuracy (plug-in SE)."""
    w = groups["n"] / groups["n"].sum()
    return float(np.sum(w * np.sqrt(2 / np.pi) * groups["accuracy_se"]))


def main(argv: list[str] | None = None) -> int:
    ap = experiment_parser(__doc__)
    ap.add_argument("--benchmarks", nargs="+", default=["mmlu", "medmcqa"], choices=["mmlu", "medmcqa"])
    ap.add_argument("--n-bins", type=int, default=10, help="quantile bins of the instance/response ECE (default 10)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows, notes, subject_tables = [], [], []
    for bench, _train, test, cal in calibrated_benchmarks(args.data, args.benchmarks):
        path = args.data / f"{bench}_llama_test.csv"
        groups = read_groups(path, test.queries)
        if groups is None:
            note = f"{bench}: skipped, {path.name} has no '{GROUP_COLUMN}' column (needed to group the queries)."
            print(note, file=sys.stderr)
            notes.append(note)
            continue
        phi = cal.predict(test)
        per_subject = {}
        for j, model in enumerate(test.models):
            res = capability_calibration(phi[:, j], test.correct[:, j], groups, n_bins=args.n_bins)
            acc = res.groups["accuracy"]
            rows.append({"benchmark": bench, "model": model, "queries": res.n, "subjects": res.n_groups,
                         "accuracy": res.accuracy, "mean conf": res.mean_confidence,
                         "sd subject acc": float(acc.std(ddof=0)),
                         "ECE response": res.ece_response, "ECE instance": res.ece_instance,
                         "ECE group": res.ece_group, "group noise floor": noise_floor(res.groups),
                         "MAE instance": res.mae_instance})
            per_subject[model] = res.groups["gap"]
        gaps = pd.DataFrame(per_subject)
        gaps.insert(0, "n", res.groups["n"])
        subject_tables.append((bench, gaps))
    text = ["# Capability calibration by subject (shared Llama data)", "",
            (f"Command: `{command_line(__file__, sys.argv[1:] if argv is None else argv)}` "
            f"({time.perf_counter() - t0:.0f} s). Calibrated on train (the study's transforms), scored on test; "
            f"queries grouped by `{GROUP_COLUMN}`."), "",
            ("Targets: the 0/1 outcome (response) or the query's subject accuracy a_g (capability). "
            f"ECE response / instance: {args.n_bins} quantile bins of the calibrated confidence p, "
            "sum_b (n_b/N) |mean p - mean target|; ECE group: sum_g (n_g/N) |mean_g p - a_g| (subjects as bins); "
            "MAE instance: mean |p_i - a_g(i)| (an upper bound of both). `sd subject acc`: unweighted standard "
            "deviation of a_g across subjects, the scale against which a group ECE is small or large. Subject "
            "accuracies rest on few queries each, so even a perfectly capability-calibrated confidence has a group "
            "ECE near the `group noise floor`, sum_g (n_g/N) sqrt(2/pi) SE(a_g) (normal approximation, plug-in SE)."),
            ""]
    text += [markdown_table(pd.DataFrame(rows), digits=4), ""] if rows else []
    for bench, gaps in subject_tables:
        text += [f"## {bench}: subject confidence minus subject accuracy (c_g - a_g; > 0: over-confident)", "",
                 markdown_table(gaps.reset_index().rename(columns={"group": GROUP_COLUMN}), digits=3), ""]
    text += [f"Note: {n}" for n in notes] + ([""] if notes else [])
    (args.out / "capability_mmlu.md").write_text("\n".join(text))
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
