"""Helpers shared by the experiment scripts in this folder (not part of the ``probcascade`` package).

The scripts are run by path from the repository root (``python experiments/table7.py``); Python then puts
``experiments/`` first on ``sys.path``, so they import this module as ``from common import ...`` without touching
``sys.path``. ``tests/test_experiments.py`` runs every script the same way, in a subprocess.

* :func:`experiment_parser`: ``--data`` (a folder laid out like the shared benchmark data) and ``--out`` (the results
  folder), the same in every script;
* :data:`TRANSFORM`: the benchmarks of the shared data and the study's transform for each (eq. 16 on multiple choice,
  eq. 17 on open-ended); :func:`calibrated_benchmarks` loads and calibrates them;
* :func:`area_on`, :func:`markdown_table`, :func:`code_block`, :func:`command_line`: scoring and report writing;
* :func:`write_synthetic_data`: a folder of small CSVs drawn from the package's own generative model, with the
  shared data's file names and model names, so that every script can run in seconds without the shared data::

      python experiments/common.py synthetic /tmp/tiny [--n-train 120] [--n-test 200]
      python experiments/pairwise_correctness.py --data /tmp/tiny --out /tmp/tiny_results
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from probcascade.calibration.calibrators import calibrate
from probcascade.data.cascade import CascadeData, load_benchmark
from probcascade.data.synthetic import DEFAULT_SPEC, make_synthetic_cascade
from probcascade.evaluation.auc import curve_area, paired_wilcoxon

ROOT = Path(__file__).resolve().parents[1]
#: Where the experiments write their results (the committed tables).
RESULTS = ROOT / "experiments" / "results"
#: The shared benchmark folder: ``$PROBCASCADE_SHARED_DATA`` or ``../shared/data/llm_cascades`` next to the repository.
SHARED_DATA = Path(os.environ.get("PROBCASCADE_SHARED_DATA", ROOT.parent / "shared" / "data" / "llm_cascades"))

#: Benchmarks of the shared data (Llama files) -> the study's transform of the raw log-probability.
TRANSFORM = {"mmlu": "one-sided", "medmcqa": "one-sided", "truthfulqa": "two-sided"}
#: Model families of the shared data, in cascade order (see the shared data's README).
MODELS = {
    "llama": ("llama3.2-1b", "llama3.2-3b", "llama3.1-8b", "llama3.1-70b", "llama3.1-405b"),
    "qwen_oai": ("gpt-4o-mini", "qwen2.5-32b-coder-instruct", "qwen2.5-72b-instruct", "gpt-4o"),
}
#: Benchmarks of each model family in the shared data (TruthfulQA has Llama runs only).
GROUP_BENCHMARKS = {"llama": ("mmlu", "medmcqa", "truthfulqa"), "qwen_oai": ("mmlu", "medmcqa")}
#: Multiple-choice benchmarks (their files carry the models' ``answer`` letters and the ``gold`` letter).
MULTIPLE_CHOICE = ("mmlu", "medmcqa")


# ------------------------------------------------------------------------------------------------ arguments and data
def experiment_parser(doc: str, *, subsets: bool = False) -> argparse.ArgumentParser:
    """Argument parser of an experiment, described by the first line of ``doc``: ``--data`` (the benchmark folder;
    ``--shared`` is an alias) and ``--out`` (the results folder). With ``subsets=True`` also ``--benchmarks`` (default:
    all of :data:`TRANSFORM`) and ``--models K`` (only the first K models of each cascade; default: all), which
    shrink the work for a quick run; pass both on to :func:`calibrated_benchmarks`."""
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    ap.add_argument("--data", "--shared", dest="data", type=Path, default=SHARED_DATA,
                    help=f"folder of <benchmark>_<family>_train.csv / _test.csv files (default: {SHARED_DATA})")
    ap.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default: {RESULTS})")
    if subsets:
        ap.add_argument("--benchmarks", nargs="+", default=list(TRANSFORM), choices=list(TRANSFORM), metavar="BENCH",
                        help=f"benchmarks to run (default: all of {', '.join(TRANSFORM)})")
        ap.add_argument("--models", type=int, default=None, metavar="K",
                        help="use only the first K models of each cascade (quick runs; default: all)")
    return ap


def load_cascade(data_dir: Path, bench: str, group: str = "llama", n_models: int | None = None,
                 ) -> tuple[CascadeData, CascadeData]:
    """(train, test) of one benchmark and model family, restricted to the first ``n_models`` models if given."""
    train, test = load_benchmark(data_dir, f"{bench}_{group}")
    if n_models is not None:
        if not 2 <= n_models <= len(train.models):
            raise SystemExit(f"--models: expected 2..{len(train.models)}, got {n_models}")
        train, test = train.subset(train.models[:n_models]), test.subset(test.models[:n_models])
    return train, test


def reference_dir(data_dir: Path) -> Path:
    """The study's reference tables next to a shared data folder (``<data>/../../reference``; may not exist)."""
    return Path(data_dir).parent.parent / "reference"


def calibrate_quietly(train: CascadeData, transform: str):
    """:func:`~probcascade.calibration.calibrators.calibrate` with its separation warnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return calibrate(train, transform=transform)


def calibrated_benchmarks(data_dir: Path, benchmarks: Iterable[str] | None = None, n_models: int | None = None,
                          group: str = "llama") -> Iterator[tuple[str, CascadeData, CascadeData, object]]:
    """Yield (benchmark, train, test, calibrator) per benchmark (default: all of :data:`TRANSFORM`, in its order) of
    one model family (optionally its first ``n_models`` models), calibrated on ``train`` with the study's transform:
    the common start of the experiments."""
    for bench in (TRANSFORM if benchmarks is None else benchmarks):
        train, test = load_cascade(data_dir, bench, group, n_models)
        yield bench, train, test, calibrate(train, transform=TRANSFORM[bench])


# ------------------------------------------------------------------------------------------------ scoring and reports
def area_on(cost, err, lo: float, hi: float) -> float:
    """Normalised area under an error-cost curve on the cost range [lo, hi]; NaN when the curve does not cover it."""
    cost, err = np.asarray(cost), np.asarray(err)
    if not (np.min(cost) <= lo and np.max(cost) >= hi):
        return float("nan")
    return curve_area(cost, err, lo, hi)


def wilcoxon_or_nan(a, b, alternative: str = "less"):
    """:func:`~probcascade.evaluation.auc.paired_wilcoxon` of AUCs ``a`` vs ``b`` with the pairs holding a NaN dropped;
    a result with NaN ``pct_change`` and ``pvalue`` when fewer than two pairs remain or they do not differ (quick
    runs on few cascades), where the library function raises."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if a.size < 2 or np.all(a == b):
        return SimpleNamespace(n=int(a.size), pct_change=np.nan, pvalue=np.nan)
    return paired_wilcoxon(a, b, alternative=alternative)


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A data frame as a markdown table (floats with ``digits`` decimals)."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        cells = [f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def code_block(text: str) -> str:
    """A fixed-width table as a markdown code block."""
    return f"```\n{text}\n```"


def command_line(script: str | Path, argv: list[str]) -> str:
    """How a script was run, as recorded in its results: ``python experiments/<script> <argv>``, run from the
    repository root (absolute paths in ``argv`` are written relative to it, so results name no machine's folders)."""
    rel = lambda a: os.path.relpath(a, ROOT) if os.path.isabs(a) else a
    return " ".join(["python", f"experiments/{Path(script).name}"] + [rel(str(a)) for a in argv])


def write_table_report(script: str | Path, out: Path, stem: str, title: str, notes: Iterable[str],
                       frame: pd.DataFrame, comparison: str, digits: int = 3) -> str:
    """Write ``<stem>.csv`` (``frame``) and ``<stem>.md`` (title, a ``Comparison:`` line, how ``script`` was run,
    notes, the table) to ``out`` and return the markdown. ``experiments/run_all.py`` quotes the ``Comparison:`` line
    in its index."""
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / f"{stem}.csv", index=False)
    md = "\n\n".join([f"# {title}", f"Comparison: {comparison}", f"Command: `{command_line(script, sys.argv[1:])}`",
                       *notes, markdown_table(frame, digits)]) + "\n"
    (out / f"{stem}.md").write_text(md)
    return md


# ------------------------------------------------------------------------------------------------ tiny synthetic data
def _draw_family(group: str, n: int, seed: int, name: str) -> CascadeData:
    """A draw of one model family's cascade from the embedded generator (fitted on MMLU Llama). A family of k < 5
    models is the last k models of a 5-model draw under the family's names: the same Markov chain restricted to its
    last k links, and one compiled sampler for every family."""
    names = MODELS[group]
    data = make_synthetic_cascade(n, seed=seed, spec=DEFAULT_SPEC, name=name)
    sub = data.subset(data.models[DEFAULT_SPEC.k - len(names):])
    return CascadeData(models=tuple(names), queries=sub.queries, logprob=sub.logprob, correct=sub.correct,
                       cost=sub.cost, name=name)


def _frame(data: CascadeData, multiple_choice: bool, seed: int) -> pd.DataFrame:
    """Tidy frame of a synthetic draw; multiple choice adds ``gold`` and each model's ``answer`` letter (the gold
    letter when correct, another letter drawn uniformly otherwise)."""
    frame = data.to_frame()
    if multiple_choice:
        rng = np.random.default_rng(seed)
        n, k = data.correct.shape
        gold = rng.integers(0, 4, size=n)
        wrong = (gold[:, None] + rng.integers(1, 4, size=(n, k))) % 4
        answer = np.where(data.correct == 1, gold[:, None], wrong)
        letters = np.array(list("ABCD"))
        frame["answer"] = letters[answer].ravel()
        frame["gold"] = np.repeat(letters[gold], k)
    return frame


def write_synthetic_data(folder: str | Path, n_train: int = 120, n_test: int = 200, seed: int = 0,
                         groups: Iterable[str] = ("llama", "qwen_oai")) -> list[Path]:
    """Write ``<benchmark>_<family>_train.csv`` / ``_test.csv`` for every benchmark and family of the shared data,
    drawn from the package's generative model (:func:`probcascade.make_synthetic_cascade` with the embedded MMLU Llama
    parameters; a 4-model family is the last four models of a draw, under its own names). Each file is a fresh
    draw (its own seed). Returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written, draw = [], seed
    for group in groups:
        for bench in GROUP_BENCHMARKS[group]:
            for split, n in (("train", n_train), ("test", n_test)):
                data = _draw_family(group, n, draw, f"{bench}_{group}_{split}")
                path = folder / f"{bench}_{group}_{split}.csv"
                _frame(data, bench in MULTIPLE_CHOICE, draw).to_csv(path, index=False)
                written.append(path)
                draw += 1
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write a folder of small synthetic benchmark files (see the module doc).")
    sub = ap.add_subparsers(dest="command", required=True)
    syn = sub.add_parser("synthetic", help="draw <benchmark>_<family>_{train,test}.csv from the package's model")
    syn.add_argument("folder", type=Path)
    syn.add_argument("--n-train", type=int, default=120)
    syn.add_argument("--n-test", type=int, default=200)
    syn.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for path in write_synthetic_data(args.folder, args.n_train, args.n_test, args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
