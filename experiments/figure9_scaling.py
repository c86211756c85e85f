"""Runtime scaling of rational tuning vs grid search (the study's Figure 9), on the MMLU Llama training data.

Two sweeps, each timing one full frontier per setting (``warm``: median of ``--repeats`` calls after a first,
compiling call, which is reported as ``cold``):

* cascade length: the first k = 2..5 Llama models, default resolution (rational tuning: lambda growth r = 0.5,
  4 restarts, 150 Adam steps, infilling q = 0.1; grid search: 40 quantiles per model, 40^(k-1) candidates);
* frontier resolution at k = 3: rational tuning with r in {1, 0.5, 0.25, 0.1, 0.05} (more lambda values) against
  grid search with quantile steps in {0.1, 0.05, 0.025, 0.0125, 0.00625} (10-160 quantiles per model).

Writes ``figure9_scaling.csv``, ``figure9_scaling.md`` and ``figure9_scaling.png`` (log-scale time vs k and vs
number of frontier points) to ``--out`` (default ``experiments/results``) and prints the markdown table.

    python experiments/figure9_scaling.py [--data ../shared/data/llm_cascades] [--repeats 3] [--quick]

``--quick`` (smoke test, with ``--repeats 1``) times k = 2, 3 and one setting per method in the resolution sweep.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from probcascade.tuning.grid import grid_search
from probcascade.calibration.calibrators import calibrate
from probcascade.data.cascade import load_benchmark
from probcascade.joint.model import fit_markov_copula
from probcascade.tuning.rational import tune

from common import MODELS, command_line, experiment_parser, reference_dir

LENGTHS = (2, 3, 4, 5)
RATES = (1.0, 0.5, 0.25, 0.1, 0.05)
STEPS = (0.1, 0.05, 0.025, 0.0125, 0.00625)


def _time(fn, repeats: int):
    t0 = time.perf_counter()
    out = fn()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - t0)
    return cold, statistics.median(warm), out


def study_times(data_dir, lengths) -> dict[tuple[str, int], float]:
    """The study's own wall time per frontier (reference CSV; its machine, not this one) of the MMLU cascade of the
    first k Llama models: (method, k) -> seconds; empty without the reference folder."""
    path = reference_dir(data_dir) / "paper_cascade_auc_llama.csv"
    if not path.exists():
        return {}
    ref = pd.read_csv(path)
    ref = ref[ref.benchmark == "mmlu"].set_index(["cascade", "method"]).time_s
    names = {"rational": "rational_tuning", "grid": "grid_search"}
    return {(m, k): float(ref.get(("->".join(MODELS["llama"][:k]), names[m]), float("nan")))
            for k in lengths for m in names}


def main() -> None:
    ap = experiment_parser(__doc__)
    ap.add_argument("--repeats", type=int, default=3, help="warm calls per setting (the median is reported)")
    ap.add_argument("--quick", action="store_true", help="k = 2, 3 and one resolution setting per method")
    args = ap.parse_args()
    # quick: r = 0.5 is the k = 3 length row's setting, so the resolution sweep reuses its compiled solver
    lengths, rates, steps = ((2, 3), (0.5,), (0.05,)) if args.quick else (LENGTHS, RATES, STEPS)
    train, _ = load_benchmark(args.data, "mmlu_llama")
    phi = calibrate(train).predict(train)
    costs = train.expected_costs.to_numpy()
    model = fit_markov_copula(phi, train.models)
    rows = []

    def record(sweep, method, k, setting, fn):
        cold, warm, fr = _time(fn, args.repeats)
        rows.append({"sweep": sweep, "method": method, "k": k, "setting": setting, "points": len(fr),
                     "cold_s": cold, "warm_s": warm})
        print(rows[-1], flush=True)

    for k in lengths:
        sub, idx = train.models[:k], slice(0, k)
        record("length", "rational", k, "r=0.5", lambda: tune(model, costs[idx], models=sub))
        record("length", "grid", k, "step=0.025",
               lambda: grid_search(phi[:, idx], train.correct[:, idx], costs[idx], models=sub))
    k, sub, idx = 3, train.models[:3], slice(0, 3)
    for r in rates:
        record("resolution", "rational", k, f"r={r}", lambda: tune(model, costs[idx], models=sub, r=r))
    for step in steps:
        record("resolution", "grid", k, f"step={step}",
               lambda: grid_search(phi[:, idx], train.correct[:, idx], costs[idx], step=step, offset=step / 2.5, models=sub))
    df = pd.DataFrame(rows)
    study = study_times(args.data, lengths)
    df["study_s"] = [study.get((r["method"], r["k"]), float("nan")) if r["sweep"] == "length" else float("nan")
                     for r in rows]
    args.out.mkdir(parents=True, exist_ok=True)
    df.to_csv(args.out / "figure9_scaling.csv", index=False)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for method, marker in (("rational", "o"), ("grid", "s")):
        d = df[(df.sweep == "length") & (df.method == method)]
        axes[0].plot(d.k, d.warm_s, marker=marker, label=f"{method} (warm)")
        axes[0].plot(d.k, d.cold_s, marker=marker, ls="--", alpha=0.6, label=f"{method} (cold)")
        if study:
            axes[0].plot(d.k, d.study_s, marker=marker, ls=":", color="gray", label=f"{method} (study's machine)")
        d = df[(df.sweep == "resolution") & (df.method == method)]
        axes[1].plot(d.points, d.warm_s, marker=marker, label=method)
    axes[0].set(yscale="log", xlabel="cascade length k", ylabel="time per frontier (s)", xticks=list(lengths),
                title="Scaling in cascade length")
    axes[1].set(xscale="log", yscale="log", xlabel="frontier points", ylabel="time per frontier (s, warm)",
                title="Scaling in resolution (k = 3)")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out / "figure9_scaling.png", dpi=120)

    md = ["# Runtime scaling (the study's Figure 9): rational tuning vs grid search, MMLU Llama train\n",
          f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
          f"jax {jax.__version__}; command: `{command_line(__file__, sys.argv[1:])}`\n",
          "`first` is the first call of a setting in this process: it includes compilation only when no earlier "
          "setting compiled the same shapes (the solver compiles once per cascade length and batch size). "
          "`warm` is the median of the following calls. `study`: the study's own time for the same cascade on MMLU "
          "(`time_s` of the reference CSV, its machine). Plot: `figure9_scaling.png`.\n",
          "| sweep | method | k | setting | frontier points | first (s) | warm (s) | study (s) |",
          "|---|---|---|---|---|---|---|---|"]
    md += [f"| {r.sweep} | {r.method} | {r.k} | {r.setting} | {r.points} | {r.cold_s:.2f} | {r.warm_s:.3f} | {r.study_s:.3g} |"
           for r in df.itertuples()]
    length = df[df.sweep == "length"].set_index(["method", "k"])
    lo, hi = min(lengths), max(lengths)
    md.insert(1, "Comparison: warm time per frontier from k = {lo} to k = {hi}: rational tuning {a:.3f} -> {b:.3f} s "
              "(study {c:.3g} -> {d:.3g} s), grid search {e:.3f} -> {f:.3f} s (study {g:.3g} -> {h:.3g} s; the "
              "study's Figure 9 is a plot: grid search exponential in k, rational tuning polynomial)\n".format(
                  lo=lo, hi=hi, a=length.warm_s[("rational", lo)], b=length.warm_s[("rational", hi)],
                  c=study.get(("rational", lo), float("nan")), d=study.get(("rational", hi), float("nan")),
                  e=length.warm_s[("grid", lo)], f=length.warm_s[("grid", hi)],
                  g=study.get(("grid", lo), float("nan")), h=study.get(("grid", hi), float("nan"))))
    (args.out / "figure9_scaling.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
