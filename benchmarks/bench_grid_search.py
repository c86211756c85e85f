"""Run time of the grid-search baseline against cascade length k and grid resolution (the study's Figure 9).

Uses the MMLU Llama training data (n = 285, calibrated with probcascade's logistic calibrator) when the shared data
is found, otherwise synthetic data of the same size.  Cascades are the first k Llama models.  Prints markdown
tables: time of the first call (including JIT compilation) and the median of ``--repeats`` warm calls, with the
study's own mean grid-search time per k from the reference CSV for comparison (a different machine).

    python benchmarks/bench_grid_search.py [--repeats 3] [--shared PATH]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from probcascade.tuning.grid import grid_search

DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared"


def load_data(shared: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(conf, correct, per-model expected cost, description) of the 5-model Llama cascade."""
    data_dir = shared / "data" / "llm_cascades"
    if (data_dir / "mmlu_llama_train.csv").exists():
        from probcascade.calibration.calibrators import calibrate
        from probcascade.data.cascade import CascadeData

        train = CascadeData.from_csv(data_dir / "mmlu_llama_train.csv")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            conf = calibrate(train, transform="one-sided").predict(train)
        return conf, train.correct, train.cost.mean(axis=0), f"MMLU Llama train (n = {conf.shape[0]})"
    rng = np.random.default_rng(0)
    z = rng.normal(size=(285, 1)) + 0.7 * rng.normal(size=(285, 5))
    conf = 1.0 / (1.0 + np.exp(-(z + np.linspace(-0.5, 1.5, 5))))
    correct = (rng.uniform(size=conf.shape) < conf).astype(float)
    return conf, correct, np.array([18.2, 18.2, 36.6, 164.0, 546.5]) * 1e-6, "synthetic (n = 285)"


def time_grid(conf, correct, costs, k: int, step: float, repeats: int) -> dict:
    args = (conf[:, :k], correct[:, :k], costs[:k])
    start = time.perf_counter()
    f = grid_search(*args, step=step)
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        grid_search(*args, step=step)
        warm.append(time.perf_counter() - start)
    return {"k": k, "per model": round(1 / step), "candidates": f.info["n_candidates"], "frontier points": len(f),
            "first call (s)": cold, "warm median (s)": float(np.median(warm))}


def markdown(table: pd.DataFrame) -> str:
    """Markdown table (pandas' to_markdown needs the optional tabulate package)."""
    cells = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row] for row in table.itertuples(index=False)]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * table.shape[1]]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    opts = parser.parse_args()
    conf, correct, costs, what = load_data(opts.shared)

    rows = [time_grid(conf, correct, costs, k, 0.025, opts.repeats) for k in range(2, 6)]
    table = pd.DataFrame(rows)
    ref_csv = opts.shared / "reference" / "paper_cascade_auc_llama.csv"
    if ref_csv.exists():
        ref = pd.read_csv(ref_csv)
        study = ref[ref.method == "grid_search"].groupby("k")["time_s"].mean()
        table["study mean (s)"] = table["k"].map(study)
    print(f"## Grid search vs cascade length ({what}, step 0.025)\n")
    print(markdown(table))

    rows = [time_grid(conf, correct, costs, k, step, 1) for k in range(2, 6) for step in (0.1, 0.05, 1 / 30, 0.025, 0.02)]
    print(f"\n## Grid search vs resolution ({what})\n")
    print(markdown(pd.DataFrame(rows)))


if __name__ == "__main__":
    main()
