"""Training time of the binned cascading ensemble (seed 000 Algorithm 1; issue 12): vectorised JAX vs plain Python.

A 5-model Llama policy with 10 quantile bins per model, the four default answer strategies and a 32-value mu sweep.
"vectorised" is :func:`train_ensemble_sweep` end to end (binning, answer strategies, cell ids, the vmapped JAX
reduction and building the 32 policies); "core" is the JAX reduction alone (:func:`train_core` on the prepared
problem). "plain Python" is :func:`train_reference` (loops and dicts) called once per mu on the same prepared hits
and costs, timed once (it has nothing to warm up). Cold = first call in the process (tracing and XLA compilation
included; the query axis is padded to a power of two, so the two training rows share one compilation); warm =
median of ``--repeats`` further calls. Ratios are from the
same process. The first rows are the training splits (the use case); the last trains on the MMLU test split only
to time a larger n. Every row also checks that the two implementations' decision tables are identical.

    python benchmarks/bench_ensemble.py [--repeats 5] [--data ../shared/data/llm_cascades]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

from probcascade import calibrate, load_benchmark
from probcascade.policies import ensemble as E
from probcascade.policies.ensemble_strategies import resolve_strategies

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "llm_cascades"


def _time(fn, repeats: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    fn()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - t0)
    return cold, statistics.median(warm)


def bench(name, conf, correct, cost, answers, repeats: int, bins: int = 10) -> dict:
    mus = E.default_mus(32)
    strategies = resolve_strategies(E.DEFAULT_STRATEGIES)
    binning = E.Binning.quantile(conf, bins)
    kw = dict(mus=mus, edges=binning, min_count=E.DEFAULT_MIN_COUNT, fallback=E.DEFAULT_FALLBACK)
    full_cold, full_warm = _time(lambda: E.train_ensemble_sweep(conf, correct, cost, answers, **kw), repeats)
    problem, _ = E.prepare_training(conf, correct, cost, answers, binning=binning, strategies=strategies,
                                    min_count=E.DEFAULT_MIN_COUNT, fallback=E.DEFAULT_FALLBACK)
    core_cold, core_warm = _time(lambda: E.train_core(problem, mus), repeats)
    bins_q = binning.assign(conf).tolist()
    hits, cum = problem.hits.tolist(), problem.cum_cost.tolist()
    ref = lambda: [E.train_reference(bins_q, hits, cum, float(mu), E.DEFAULT_MIN_COUNT, E.DEFAULT_FALLBACK)
                   for mu in mus]
    t0 = time.perf_counter()
    tables = ref()
    ref_time = time.perf_counter() - t0
    # agreement: the policies' tables equal the reference's on every occupied full key
    pols = E.train_ensemble_sweep(conf, correct, cost, answers, **kw)
    radix = np.asarray(binning.n_bins)
    agree = True
    for pol, table in zip(pols, tables):
        for (depth, ctx), dec in table.items():
            a = len(ctx)
            positions = range(a) if pol.fallback == "prefix" else range(depth - a, depth)
            key = 0
            for j, b in zip(positions, ctx):
                key = key * radix[j] + b
            c = np.searchsorted(pol.context_keys[depth - 1][a], key)
            agree &= int(pol.decisions[depth - 1, a, c]) == dec
    return {"data": name, "n": conf.shape[0], "bins": list(binning.n_bins), "full_cold": full_cold,
            "full_warm": full_warm, "core_cold": core_cold, "core_warm": core_warm, "python": ref_time,
            "ratio_full": ref_time / full_warm, "ratio_core": ref_time / core_warm, "agree": agree}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = ap.parse_args()
    rows = []
    for stem, split in [("mmlu_llama", "train"), ("medmcqa_llama", "train"), ("mmlu_llama", "test")]:
        train, test = load_benchmark(args.data, stem)
        data = train if split == "train" else test
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            conf = calibrate(train).predict(data)
        answers = E.read_answers(args.data / f"{stem}_{split}.csv", data)
        rows.append(bench(f"{stem} {split}", conf, data.correct, data.cost, answers, args.repeats))
        print(f"done {stem} {split}", flush=True)
    print()
    print("| data | n | bins | vectorised cold (s) | vectorised warm (s) | JAX core warm (s) "
          "| plain Python (s) | Python / vectorised (warm) | Python / core (warm) | tables agree |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['data']} | {r['n']} | {'x'.join(map(str, r['bins']))} | {r['full_cold']:.2f} | "
              f"{r['full_warm']:.3f} | {r['core_warm']:.4f} | {r['python']:.2f} | "
              f"{r['ratio_full']:.0f} | {r['ratio_core']:.0f} | {r['agree']} |")


if __name__ == "__main__":
    main()
