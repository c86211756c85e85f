"""Time one full predicted frontier (rational tuning) for k = 2..5 against grid search, on MMLU Llama train data.

    python benchmarks/bench_tuning.py [--data ../shared/data/llm_cascades] [--family gumbel|aic|...]

Rational tuning uses the default exact chain evaluation; "Algorithm 1 warm" is the study's evaluation (approximation
(5)) in the same process. "cold" clears JAX's compilation caches first (so it includes tracing and XLA compilation of the objective, its
gradient, the vectorised optimiser and the marginal look-up tables); "warm" is the median of 3 further calls.
``--family aic`` picks each pair's copula family by AIC, so the chain compiles one branch per family present;
"pairwise" is the same tuning with the pairwise correctness model (``correctness="pairwise"``: twice the
matrix-vector work per link), timed in the same process after clearing the compilation caches again (the
marginal look-up tables and chain grid are already built by then). "gap-filled" is ``tune(max_cost_gap=0.02)``
(cost-targeted solves split the sweep's wide cost gaps; same compiled solver, so warm only).
"adam warm" is the solver of earlier releases (``solver="adam"``: 150 Adam steps, exact split of the threshold's
bin), alternated with the default Newton solver in the same process ("new / adam": the same-process ratio).
Prints a markdown table for BENCHMARKS.md with ratios in the same process.

``--cli`` instead times whole processes with a fresh cache folder: ``probcascade tune TRAIN --test TEST --cascade all
--baselines grid`` (26 sub-cascades of the 5 Llama models, fit included) twice (the first run fills the cache, the
second is the warm-cache time); ``tune --cascade <the 5 models>`` cold (cache off) against two warm-cache processes,
by the frontier's own tuning time; and ``probcascade --help``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import jax

from probcascade.tuning.grid import grid_search
from probcascade.calibration.calibrators import calibrate
from probcascade.data.cascade import load_benchmark
from probcascade.joint.model import fit_markov_copula
from probcascade.tuning.rational import tune

ROOT = Path(__file__).resolve().parents[1]


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def alternated(fns, rounds: int = 3) -> list[float]:
    """Median warm time of each function, calls alternated (after one warm-up call each) so drift hits all alike."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(rounds):
        for t, fn in zip(times, fns):
            t.append(timed(fn)[0])
    return [statistics.median(t) for t in times]


def _process(cmd: list[str], env: dict) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env=env)
    return time.perf_counter() - t0, proc.stdout


def cli_times(data: Path, bench: str = "mmlu_llama") -> None:
    """Processes with a fresh cache folder: ``tune --cascade all --baselines grid`` twice (cold, then warm cache),
    and ``tune --cascade <5 models>`` cold (``PROBCASCADE_NO_CACHE=1``) against two warm-cache processes (the tuning
    time is the frontier's own ``time_s``, from the JSON)."""
    import json
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PROBCASCADE_CACHE_DIR": cache}
        env.pop("PROBCASCADE_NO_CACHE", None)
        train, test = str(data / f"{bench}_train.csv"), str(data / f"{bench}_test.csv")
        cmd = [sys.executable, "-m", "probcascade", "tune", train, "--test", test, "--cascade", "all", "--baselines",
               "grid", "-q"]
        walls = [_process(cmd, env)[0] for _ in range(2)]
        print(f"`{' '.join(cmd[1:])}`: first process {walls[0]:.1f} s, second (warm cache) {walls[1]:.1f} s")
        five = "llama3.2-1b,llama3.2-3b,llama3.1-8b,llama3.1-70b,llama3.1-405b"
        cmd = [sys.executable, "-m", "probcascade", "tune", train, "--cascade", five, "--format", "json", "-q"]
        rows = []
        for label, extra in (("cold (PROBCASCADE_NO_CACHE=1)", {"PROBCASCADE_NO_CACHE": "1"}), ("warm cache", {}),
                             ("warm cache", {})):
            wall, out = _process(cmd, {**env, **extra})
            rows.append((label, wall, json.loads(out)[0]["rational"]["time_s"]))
        for label, wall, tuning in rows:
            print(f"`tune --cascade <5 models>` {label}: tuning {tuning:.2f} s, process {wall:.1f} s")
    helps = [_process([sys.executable, "-m", "probcascade", "--help"], dict(os.environ))[0] for _ in range(5)]
    print(f"`probcascade --help`: {min(helps):.2f}-{max(helps):.2f} s wall (5 runs)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "llm_cascades")
    ap.add_argument("--family", default="gumbel", help="copula family of every pair, or 'aic'")
    ap.add_argument("--cli", action="store_true", help="time the `tune --cascade all --baselines grid` process")
    args = ap.parse_args()
    if args.cli:
        cli_times(args.data)
        return
    train, _ = load_benchmark(args.data, "mmlu_llama")
    phi = calibrate(train).predict(train)
    costs = train.expected_costs.to_numpy()
    print(f"machine: {platform.processor() or platform.machine()}, {jax.device_count()} JAX device(s) "
          f"({jax.devices()[0].platform}), jax {jax.__version__}; copula family: {args.family}\n")
    print("| k | families | rational cold (s) | rational warm (s) | frontier points | pairwise cold (s) | pairwise warm (s) "
          "| pairwise / rational (warm) | gap-filled warm (s) | gap-filled points | Algorithm 1 warm (s) | grid cold (s) | grid warm (s) | grid / rational (warm) "
          "| adam warm (s) | new / adam | pairwise adam warm (s) | pairwise new / adam |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k in range(2, 6):
        sub = train.models[:k]
        jax.clear_caches()
        model = fit_markov_copula(phi[:, :k], sub, family=args.family, correct=train.correct[:, :k])
        families = sorted({p.family for p in model.pairs.values()})
        cold, fr = timed(lambda: tune(model, costs[:k]))
        warm = statistics.median(timed(lambda: tune(model, costs[:k]))[0] for _ in range(3))
        gap = lambda: tune(model, costs[:k], max_cost_gap=0.02)
        n_gap = len(gap())
        gap_warm = statistics.median(timed(gap)[0] for _ in range(3))
        jax.clear_caches()
        pw = lambda: tune(model, costs[:k], correctness="pairwise")
        pw_cold, _ = timed(pw)
        pw_warm = statistics.median(timed(pw)[0] for _ in range(3))
        tune(model, costs[:k], joint="algorithm1")
        a1 = statistics.median(timed(lambda: tune(model, costs[:k], joint="algorithm1"))[0] for _ in range(3))
        jax.clear_caches()
        g_cold, _ = timed(lambda: grid_search(phi[:, :k], train.correct[:, :k], costs[:k], models=sub))
        g_warm = statistics.median(timed(lambda: grid_search(phi[:, :k], train.correct[:, :k], costs[:k], models=sub))[0]
                                   for _ in range(3))
        new_m, old_m = alternated([lambda: tune(model, costs[:k]), lambda: tune(model, costs[:k], solver="adam")])
        new_p, old_p = alternated([pw, lambda: tune(model, costs[:k], correctness="pairwise", solver="adam")])
        print(f"| {k} | {', '.join(families)} | {cold:.2f} | {warm:.3f} | {len(fr)} | {pw_cold:.2f} | {pw_warm:.3f} | {pw_warm / warm:.2f} | {gap_warm:.3f} | {n_gap} | {a1:.3f} | {g_cold:.2f} | {g_warm:.3f} | {g_warm / warm:.2f} "
              f"| {old_m:.3f} | {new_m / old_m:.3f} | {old_p:.3f} | {new_p / old_p:.3f} |", flush=True)


if __name__ == "__main__":
    main()
