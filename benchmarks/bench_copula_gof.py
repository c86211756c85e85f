"""Wall time of the copula goodness-of-fit test: one family's B = 1000 parametric bootstrap at n = 1000.

``cold`` is the first call in a fresh process (tracing and XLA compilation included); ``warm`` the median of
``--repeats`` further calls with new data of the same size (same compiled program). Data are drawn from a Gumbel
copula with tau = 0.5. Target: <= 10 s. Prints a table.

    python benchmarks/bench_copula_gof.py [--n 1000] [--n-boot 1000] [--repeats 3] [--families gumbel clayton ...]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np
import pandas as pd

import probcascade
from probcascade.distributions.copulas import GumbelCopula
from probcascade.gof.copula import copula_gof
from probcascade.estimation.copulas import pseudo_observations


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    with probcascade.float64():
        uv = np.asarray(GumbelCopula(2.0).sample(jax.random.PRNGKey(seed), (n,)))
    return pseudo_observations(uv[:, 0]), pseudo_observations(uv[:, 1])


def time_family(family: str, n: int, n_boot: int, repeats: int) -> dict:
    u, v = data(n, 0)
    start = time.perf_counter()
    first = copula_gof(u, v, family, n_boot=n_boot)
    cold = time.perf_counter() - start
    warm = []
    for r in range(repeats):
        u, v = data(n, r + 1)
        start = time.perf_counter()
        copula_gof(u, v, family, n_boot=n_boot, seed=r + 1)
        warm.append(time.perf_counter() - start)
    return {"family": family, "n": n, "B": n_boot, "cold (s)": round(cold, 2), "warm median (s)": round(float(np.median(warm)), 2),
            "first p-value": round(first.p_value, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--families", nargs="+", default=["gumbel"])
    opts = parser.parse_args()
    rows = [time_family(f, opts.n, opts.n_boot, opts.repeats) for f in opts.families]
    print(f"JAX {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} CPU cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
