"""Do ``probcascade tune``'s default options beat the study? Mean test AUC of ``tune --cascade all`` vs the study's.

Runs the command line itself, with its default model (``--copula auto --correctness auto``: the rule of
``probcascade.tuning.recommended``), on every benchmark's train/test files:

    probcascade tune <bench>_llama_train.csv --test <bench>_llama_test.csv --cascade all --baselines grid --format json

and scores the rational-tuning test curves like Table 7 (``experiments/table7.py``): the mean over the 26 cascades
of the AUC on each cascade's cost range shared with grid search (the command's own ``auc``, the ``RT (ours)``
column of Table 7), beside the study's mean from its reference CSV; and, like-for-like, the mean on the study's own
per-cascade cost ranges over the cascades our curve covers (Table 7's last column, :func:`common.area_on`).
``--baselines grid`` only adds the grid-search curve that sets Table 7's cost range; the rational frontier is the
same without it. ``--study-model`` runs the study's model instead (the contrast: ``table7_gumbel.md``).

    python experiments/defaults_check.py [--data DIR] [--out DIR] [--benchmarks mmlu ...] [--models K]
                                         [--study-model]

Writes ``defaults[_study].md`` and ``.csv`` (one row per cascade). A quick run (smoke test): ``--benchmarks mmlu
--models 3`` (the 4 cascades of the first 3 models, written to temporary files for the command).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from probcascade.cli.main import main as probcascade_main

from common import area_on, command_line, experiment_parser, markdown_table, reference_dir


def _files(data_dir: Path, bench: str, n_models: int | None, tmp: Path) -> tuple[Path, Path]:
    """The benchmark's train and test CSVs; with ``n_models``, copies restricted to its first ``n_models`` models."""
    paths = tuple(data_dir / f"{bench}_llama_{split}.csv" for split in ("train", "test"))
    if n_models is None:
        return paths
    out = []
    for path in paths:
        frame = pd.read_csv(path)
        keep = frame.groupby("model", sort=False)["model_rank"].first().sort_values().index[:n_models]
        out.append(tmp / path.name)
        frame[frame.model.isin(keep)].to_csv(out[-1], index=False)
    return tuple(out)


def run_cli(train: Path, test: Path, study_model: bool, extra: list[str]) -> tuple[list[dict], float]:
    """``probcascade tune TRAIN --test TEST --cascade all --baselines grid --format json -q``: its records and wall
    time. The transform is the command's default for the file name (the study's)."""
    argv = ["tune", str(train), "--test", str(test), "--cascade", "all", "--baselines", "grid", "--format", "json",
            "-q"] + (["--study-model"] if study_model else []) + extra
    buf = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(buf):
        rc = probcascade_main(argv)
    if rc != 0:
        raise SystemExit(f"probcascade {' '.join(argv)} exited with {rc}")
    return json.loads(buf.getvalue()), time.perf_counter() - t0


def score(bench: str, records: list[dict], ref: pd.DataFrame | None) -> pd.DataFrame:
    """One row per cascade: our AUC on the RT/GS range (the command's), on the study's range, and the study's AUC."""
    rows = []
    for rec in records:
        name = "->".join(rec["models"])
        pts = np.asarray(rec["rational"]["test_points"], dtype=float)      # (cost, accuracy)
        study = lo = hi = np.nan
        if ref is not None:
            r = ref[(ref.benchmark == bench) & (ref.cascade == name) & (ref.method == "rational_tuning")]
            if len(r):
                study = float(r.auc_norm.iloc[0])
                lo, hi = float(r.cost_lo_per_1M.iloc[0]) / 1e6, float(r.cost_hi_per_1M.iloc[0]) / 1e6
        on_ref = area_on(pts[:, 0], 1.0 - pts[:, 1], lo, hi) if np.isfinite(lo) else np.nan
        rows.append({"benchmark": bench, "cascade": name, "k": rec["k"], "auc_rt": rec["rational"]["auc"],
                     "auc_gs": rec["grid"]["auc"], "auc_rt_refrange": on_ref, "study_auc_rt": study,
                     "copula": rec["model"]["copula"], "correctness": rec["model"]["correctness"],
                     "rule": rec["model"]["rule"]})
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame, ref: pd.DataFrame | None) -> pd.DataFrame:
    rows = []
    for bench, g in df.groupby("benchmark", sort=False):
        study = np.nan
        if ref is not None:
            study = ref[(ref.benchmark == bench) & (ref.method == "rational_tuning")].auc_norm.mean()
        cov = g.auc_rt_refrange.notna() & g.study_auc_rt.notna()
        ours, ours_ref, study_ref = g.auc_rt.mean(), g.auc_rt_refrange[cov].mean(), g.study_auc_rt[cov].mean()
        rows.append({"benchmark": bench, "model": f"{g.copula.iloc[0]} / {g.correctness.iloc[0]}",
                     "rule": g.rule.iloc[0],
                     "cascades": len(g), "ours (RT∩GS range)": ours, "study": study, "Δ": ours - study,
                     "beats": "yes" if ours < study else "no" if np.isfinite(study) else "n/a",
                     "ours (study's range)": ours_ref, "study (same cascades)": study_ref,
                     "Δ study's range": ours_ref - study_ref, "covered": int(cov.sum()),
                     "wall s": int(round(g.wall_s.iloc[0])) if "wall_s" in g else "n/a"})
    return pd.DataFrame(rows)


def main() -> None:
    ap = experiment_parser(__doc__, subsets=True)
    ap.add_argument("--study-model", action="store_true",
                    help="run 'probcascade tune --study-model' (Gumbel copulas, marginal correctness) instead")
    ap.add_argument("--max-cost-gap", type=float, default=None, metavar="FRACTION",
                    help="pass --max-cost-gap FRACTION to the command (an ablation; default: the command's default)")
    ap.add_argument("--summarise", type=Path, default=None, metavar="CSV",
                    help="only rewrite the Markdown summary of an earlier run's CSV")
    args = ap.parse_args()
    extra = [] if args.max_cost_gap is None else ["--max-cost-gap", str(args.max_cost_gap)]
    ref_path = reference_dir(args.data) / "paper_cascade_auc_llama.csv"
    ref = pd.read_csv(ref_path) if ref_path.exists() else None
    stem = ("defaults_study" if args.study_model else "defaults") + ("_gap" if extra else "")
    args.out.mkdir(parents=True, exist_ok=True)
    argv = sys.argv[1:]
    if args.summarise is not None:
        df = pd.read_csv(args.summarise)
        i = argv.index("--summarise")
        argv = argv[:i] + argv[i + 2:]          # the run that made the CSV, not the re-summary
    else:
        frames, times = [], {}
        with tempfile.TemporaryDirectory() as tmp:
            for bench in args.benchmarks:
                train, test = _files(args.data, bench, args.models, Path(tmp))
                records, times[bench] = run_cli(train, test, args.study_model, extra)
                frames.append(score(bench, records, ref).assign(wall_s=times[bench]))
                print(f"{bench}: mean RT AUC {frames[-1].auc_rt.mean():.6f} ({times[bench]:.0f} s)", flush=True)
        df = pd.concat(frames, ignore_index=True)
        df.to_csv(args.out / f"{stem}.csv", index=False)
    table = summary(df, ref)
    beat = ", ".join(f"{r.benchmark} {r['ours (RT∩GS range)']:.5f} vs {r.study:.5f}" for _, r in table.iterrows())
    md = "\n\n".join([
        "# Default options vs the study: mean test AUC of `probcascade tune --cascade all`",
        f"Comparison: {beat} (ours vs the study's mean rational-tuning AUC, lower is better)",
        f"Command: `{command_line(__file__, argv)}`, which runs `probcascade tune TRAIN --test TEST --cascade "
        f"all --baselines grid --format json{' --study-model' if args.study_model else ''}{' ' * bool(extra)}"
        f"{' '.join(extra)}` per benchmark; the model that ran is the JSON's `model` field (columns `model`, `rule`).",
        "`ours (RT∩GS range)`: mean over cascades of the AUC of our rational-tuning test curve on the cost range it "
        "shares with our grid search (the command's `auc`; Table 7's `RT (ours)` column). `study`: the study's mean "
        "rational-tuning AUC (reference CSV). `ours (study's range)` vs `study (same cascades)`: both on the study's "
        "own per-cascade cost range, over the `covered` cascades whose test curve spans it (Table 7's last column). "
        "The study's own model, as this command ran it before the defaults changed: `table7_gumbel.md`. An ablation "
        "with the split of wide cost gaps (`--max-cost-gap 0.02`, not a default): `defaults_gap.md`. `wall s`: "
        "the command's wall time per benchmark (first one with compilation) on whatever machine ran it, not a benchmark.",
        markdown_table(table, digits=5)]) + "\n"
    (args.out / f"{stem}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
