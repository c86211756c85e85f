"""Wall time of one marginal's goodness of fit with B = 1000 refitted bootstrap samples (target <= 20 s).

Data: calibrated confidences of llama3.1-70b on MMLU (train n = 285, test n = 1531, the largest test split).
``cold`` is the first call in this (fresh) process, compilation included; ``warm`` the median of the following
calls.  Two timings: the complete :func:`probcascade.gof.marginal.marginal_gof` (train fit, test refit, 1000-sample
Monte Carlo null of the fixed train fit, 1000 refitted bootstrap samples) and the refitted bootstrap alone
(:func:`probcascade.gof.marginal.cvm_null_refit`: sample 1000 x 1531, refit all 1000 in one vmap, 1000 CvM
distances).  The load average is printed because the machine is shared.

Run: ``python benchmarks/bench_marginal_gof.py [--repeats 3]``; prints a markdown snippet for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp

from probcascade import float64
from probcascade.calibration.calibrators import calibrate
from probcascade.data.cascade import load_benchmark
from probcascade.distributions.marginal import MarginalParams
from probcascade.gof.marginal import cvm_null_refit, marginal_gof
from probcascade.estimation.marginal import fit_marginal

SHARED = Path(os.environ.get("PROBCASCADE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "llm_cascades"))
MODEL = "llama3.1-70b"
N_BOOT = 1000


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="warm repetitions (default 3)")
    args = parser.parse_args()
    train, test = load_benchmark(SHARED, "mmlu_llama")
    cal = calibrate(train, transform="one-sided")
    j = train.models.index(MODEL)
    phi_train, phi_test = cal.predict(train)[:, j], cal.predict(test)[:, j]
    load = os.getloadavg()[0]

    def full():
        marginal_gof(phi_train, phi_test, n_boot=N_BOOT, seed=0)

    params = MarginalParams(*(jnp.asarray(z) for z in fit_marginal(phi_test).params))

    def refit_only():
        with float64():
            cvm_null_refit(params, jax.random.PRNGKey(1), phi_test.size, N_BOOT).block_until_ready()

    rows = []
    for name, fn in (("marginal_gof (both tests)", full), ("refitted bootstrap only", refit_only)):
        cold = _timed(fn)
        warm = [_timed(fn) for _ in range(args.repeats)]
        rows.append((name, cold, statistics.median(w[0] for w in warm), statistics.median(w[1] for w in warm)))
    print(f"### Marginal goodness of fit, B = {N_BOOT} refitted bootstrap samples (`benchmarks/bench_marginal_gof.py`)\n")
    print(f"MMLU {MODEL}: train n = {phi_train.size}, test n = {phi_test.size}; {os.cpu_count()} CPU cores, "
          f"load average {load:.1f} at start (shared machine); jax {jax.__version__}; target <= 20 s.\n")
    print("| what | cold wall (s) | cold CPU (s) | warm wall, median (s) | warm CPU, median (s) |")
    print("|---|---|---|---|---|")
    for name, cold, warm_wall, warm_cpu in rows:
        print(f"| {name} | {cold[0]:.1f} | {cold[1]:.1f} | {warm_wall:.1f} | {warm_cpu:.1f} |")


if __name__ == "__main__":
    main()
