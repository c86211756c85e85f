"""Scale-out: the best sub-cascade per budget over all sub-cascades of a many-model synthetic cascade, in this
process against a local Dask cluster, with equality of the results.

    python benchmarks/bench_scale.py [--models 12] [--max-len 4] [--workers 2] [--n-train 300]

The cascade is drawn from the package's generative model stretched to ``--models`` models with increasing costs
(:func:`probcascade.data.many_model_spec`); the model is calibrated and fitted once (all pairs), then every
sub-cascade of length 2..``--max-len`` in cost order (the rule of ``tune --cascade all``: C(12,2) + C(12,3) +
C(12,4) = 781 at the defaults) is tuned with the default options and the best one per budget is picked
(:func:`probcascade.scale.sweep_subcascades`), first in this process, then on a ``LocalCluster`` of ``--workers``
single-threaded process workers (:func:`probcascade.scale.local_cluster`). Both runs tune the same chunks (the
in-process run is cut for ``--workers`` threads: a chunk is one stacked ``tune_many`` solve, whose rounding depends
on its shape), so their results must be equal. JAX's persistent compilation cache is on as on the command line
(``PROBCASCADE_CACHE_DIR``; ``PROBCASCADE_NO_CACHE=1``: off) and the workers share it: with an empty cache folder the
in-process run compiles cold and the workers load its programs; with the cache off every process compiles its own.
The cluster's start-up is timed separately. Prints a markdown table for BENCHMARKS.md with the ratio of the two wall
times measured in the same run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shlex
import sys
import time
from pathlib import Path
import warnings

import numpy as np


def _same(a, b) -> tuple[bool, float]:
    """Whether two sweeps have the same sub-cascades, frontier shapes and best table; the largest difference."""
    if list(a.frontiers) != list(b.frontiers):
        return False, float("inf")
    diff = 0.0
    for sub, fr in a.frontiers.items():
        x, y = fr.frame.to_numpy(dtype=float), b.frontiers[sub].frame.to_numpy(dtype=float)
        if x.shape != y.shape or not np.array_equal(np.isnan(x), np.isnan(y)):
            return False, float("inf")
        diff = max(diff, float(np.nanmax(np.abs(x - y), initial=0.0)))
    best = a.best.drop(columns="thresholds").equals(b.best.drop(columns="thresholds"))
    return best and diff == 0.0, diff


def _source_hash() -> str:
    """Hash of the package's sources: workers import them later than this process, so an edit during the run would
    compare two versions of the code (the run then says so)."""
    import probcascade

    root = Path(probcascade.__file__).parent
    return hashlib.sha256(b"".join(f.read_bytes() for f in sorted(root.rglob("*.py")))).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=int, default=12, help="models in the synthetic cascade (>= 5)")
    ap.add_argument("--max-len", type=int, default=4, help="longest sub-cascade")
    ap.add_argument("--workers", type=int, default=2, help="Dask process workers (1 thread each)")
    ap.add_argument("--n-train", type=int, default=300, help="training queries (the study's split size)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import dask
    import jax
    from distributed import Client

    from probcascade import calibrate, enable_compilation_cache, fit_markov_copula, make_synthetic_cascade
    from probcascade.data import many_model_spec
    from probcascade.scale import local_cluster, subcascades, sweep_subcascades

    source = _source_hash()
    cache = enable_compilation_cache()          # None with PROBCASCADE_NO_CACHE=1
    spec = many_model_spec(args.models)
    train = make_synthetic_cascade(args.n_train, seed=args.seed, spec=spec, name="synthetic_many")
    t0 = time.perf_counter()
    with warnings.catch_warnings():      # distant pairs with tau <= 0 fall back to independence, with a warning each
        warnings.simplefilter("ignore", UserWarning)
        model = fit_markov_copula(calibrate(train).predict(train), train.models)
    fit_s = time.perf_counter() - t0
    costs = train.expected_costs
    n_subs = len(subcascades(train.models, args.max_len))

    t0, c0 = time.perf_counter(), time.process_time()
    here = sweep_subcascades(model, costs, max_len=args.max_len, threads=args.workers)   # the cluster's chunks
    here_s, here_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    with local_cluster(args.workers) as cluster, Client(cluster) as client:
        client.wait_for_workers(args.workers)
        start_s = time.perf_counter() - t0
        c0 = client.run(time.process_time)
        t0 = time.perf_counter()
        there = sweep_subcascades(model, costs, max_len=args.max_len, client=client)
        there_s = time.perf_counter() - t0
        there_cpu = sum(client.run(time.process_time)[w] - c for w, c in c0.items())   # CPU time of the workers
    same, diff = _same(here, there)
    if _source_hash() != source:
        print("WARNING: probcascade's sources changed during the run: the two runs used different code\n")

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"{jax.device_count()} JAX device(s) ({jax.devices()[0].platform}); jax {jax.__version__}, "
          f"dask {dask.__version__}, Python {platform.python_version()}; load average at the end "
          f"{load[0]:.1f}")
    print(f"command: `python benchmarks/bench_scale.py {shlex.join(sys.argv[1:])}`")
    print(f"{args.models}-model synthetic cascade, {args.n_train} training queries, model fit (all pairs) "
          f"{fit_s:.1f} s; default tuning options; cluster start-up {start_s:.1f} s (not in the cluster time); "
          f"compilation cache {'shared, ' + str(cache) if cache else 'off'}\n")
    print(f"| models | sub-cascades (k <= {args.max_len}) | tasks | in-process (s) | {args.workers} Dask workers (s) "
          "| in-process / cluster (wall) | CPU s in-process | CPU s workers | results equal | max difference |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.models} | {n_subs} | {there.info['n_tasks']} | {here_s:.1f} | {there_s:.1f} | "
          f"{here_s / there_s:.2f} | {here_cpu:.1f} | {there_cpu:.1f} | {'yes' if same else 'no'} | {diff:.1e} |")
    print()
    print(here.summary().as_markdown())


if __name__ == "__main__":
    main()
