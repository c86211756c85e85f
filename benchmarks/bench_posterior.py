"""Posterior (issue 13) timings on MMLU Llama (k = 5): one NUTS fit, and the posterior predictive frontier.

    python benchmarks/bench_posterior.py [--data ../shared/data/llm_cascades] [--draws 1000] [--chains 4]

Times (wall and CPU, same process): the full NUTS fit (5 calibrators, 5 marginals, 4 adjacent copulas and cell
tables, pairwise correctness; ``--draws`` per chain, ``--chains`` vectorised); building the per-draw chain
parameters of 1000 draws (one vmap); and, warm, the P(Correct)/E[Cost] of 1000 draws at one threshold vector and
at a 40-point frontier, against the baseline of the same process: one point-model evaluation
(``CascadeModel.metrics``) of the same 40 points. Prints a markdown section for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "llm_cascades")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--posterior", type=Path, help="reuse a saved posterior (.nc) instead of fitting")
    args = ap.parse_args(argv)
    from probcascade.data.cascade import CascadeData
    from probcascade.joint.model import fit_markov_copula
    from probcascade.posterior.fit import fit_posterior
    from probcascade.posterior.predictive import posterior_cascade
    from probcascade.posterior.results import PosteriorResult

    train = CascadeData.from_csv(args.data / "mmlu_llama_train.csv")
    rows = []
    if args.posterior:
        res = PosteriorResult.from_netcdf(args.posterior)
    else:
        res, w, c = timed(lambda: fit_posterior(train, draws=args.draws, chains=args.chains, seed=0))
        rows.append(("NUTS fit, k = 5 (compile + warm-up + draws)", w, c))
    costs = train.cost.mean(axis=0)
    pc, w, c = timed(lambda: posterior_cascade(res, n_draws=1000, costs=costs))
    rows.append((f"per-draw chain parameters, {pc.n_draws} draws (first call: compile)", w, c))
    lo, hi = pc.bounds
    frontier = np.stack([lo + f * (hi - lo) for f in np.linspace(0.02, 0.98, 40)])
    pc.metrics(frontier[:1]); pc.metrics(frontier)                    # warm (compile both shapes)
    _, w, c = timed(lambda: pc.metrics(frontier[:1]))
    rows.append((f"{pc.n_draws} draws x 1 threshold vector (warm)", w, c))
    _, w, c = timed(lambda: pc.metrics(frontier))
    rows.append((f"{pc.n_draws} draws x 40-point frontier (warm)", w, c))
    cm = fit_markov_copula(res.data.phi, train.models).cascade()
    cm.metrics(frontier, costs)
    _, wb, cb = timed(lambda: cm.metrics(frontier, costs))
    rows.append(("baseline: point model x 40-point frontier (warm)", wb, cb))
    print(f"## Posterior (issue 13): NUTS fit and posterior predictive frontier, MMLU Llama k = 5 "
          f"({time.strftime('%Y-%m-%d')})\n")
    print(f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}; command: "
          f"`python benchmarks/bench_posterior.py --draws {args.draws} --chains {args.chains}`\n")
    print("| step | wall (s) | CPU (s) | wall / baseline |\n|---|---|---|---|")
    for name, w, c in rows:
        print(f"| {name} | {w:.3f} | {c:.3f} | {w / wb:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
