"""Same-process A/B of two checkouts of probcascade: the main timings of BENCHMARKS.md, old against new.

    git worktree add /tmp/base <old-commit>
    python benchmarks/bench_ab.py --old /tmp/base [--new .] [--data ../shared/data/llm_cascades] [--rounds 3]

Both packages are imported into one process (the old one first; its modules are then removed from
``sys.modules`` so that the new one imports under the same name, while the old functions stay alive), the same
inputs are prepared for both, and each timing alternates old/new ``--rounds`` times after one warm-up call each, so
that drift of the machine hits both alike. Timed: the k = 5 Gumbel frontier of MMLU Llama (rational tuning, exact
chain), the same with per-pair AIC families and pairwise correctness, grid search (k = 5), the marginal
goodness of fit (B = 200) and the copula goodness of fit (B = 200). Prints a markdown table with the ratio new/old.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _purge() -> None:
    for name in [m for m in sys.modules if m == "probcascade" or m.startswith("probcascade.")]:
        del sys.modules[name]


def _load(root: Path) -> dict:
    """Import the probcascade of ``root`` and return the functions the timings need."""
    _purge()
    sys.path.insert(0, str(root))
    try:
        pc = importlib.import_module("probcascade")
        assert Path(pc.__file__).resolve().is_relative_to(root.resolve()), pc.__file__
        api = {"root": str(root), "load_benchmark": pc.load_benchmark, "calibrate": pc.calibrate,
               "fit_markov_copula": pc.fit_markov_copula, "tune": pc.tune}
        for name, candidates in {"grid_search": ("probcascade.tuning.grid", "probcascade.baselines"),
                                 "marginal_gof": ("probcascade.gof.marginal", "probcascade.marginals"),
                                 "copula_gof": ("probcascade.gof.copula", "probcascade.copulas"),
                                 "pseudo_observations": ("probcascade.estimation.copulas", "probcascade.copulas")}.items():
            for mod in candidates:
                try:
                    api[name] = getattr(importlib.import_module(mod), name)
                    break
                except (ImportError, AttributeError):
                    continue
        return api
    finally:
        sys.path.remove(str(root))


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, required=True)
    ap.add_argument("--new", type=Path, default=ROOT)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "llm_cascades")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    apis = {"old": _load(args.old), "new": _load(args.new)}
    import jax
    import numpy as np

    cases = {}
    for tag, api in apis.items():
        train, test = api["load_benchmark"](args.data, "mmlu_llama")
        phi = api["calibrate"](train).predict(train)
        phi_te = api["calibrate"](train).predict(test)
        costs = train.expected_costs.to_numpy()
        gumbel = api["fit_markov_copula"](phi, train.models)
        aic = api["fit_markov_copula"](phi, train.models, family="aic", correct=train.correct)
        u = api["pseudo_observations"](phi_te[:, 2:4])
        keep = (phi_te[:, 2] > phi_te[:, 2].min()) & (phi_te[:, 3] > phi_te[:, 3].min())
        cases[tag] = {
            "k = 5 frontier, Gumbel (warm)": lambda api=api, m=gumbel, c=costs: api["tune"](m, c),
            "k = 5 frontier, AIC + pairwise (warm)": lambda api=api, m=aic, c=costs: api["tune"](m, c, correctness="pairwise"),
            "grid search k = 5 (warm)": lambda api=api, p=phi, t=train, c=costs: api["grid_search"](p, t.correct, c),
            "marginal GoF, B = 200 (warm)": lambda api=api, p=phi, q=phi_te: api["marginal_gof"](p[:, 2], q[:, 2], n_boot=200),
            "copula GoF, B = 200 (warm)": lambda api=api, uu=u[keep]: api["copula_gof"](uu[:, 0], uu[:, 1], n_boot=200),
        }
    # identical results first: the A/B is only meaningful if both compute the same thing
    fo, fn = cases["old"]["k = 5 frontier, Gumbel (warm)"](), cases["new"]["k = 5 frontier, Gumbel (warm)"]()
    same = np.allclose(fo.thresholds, fn.thresholds, rtol=1e-9, atol=1e-12)
    print(f"machine: {platform.processor() or platform.machine()}, {jax.device_count()} JAX device(s) "
          f"({jax.devices()[0].platform}), jax {jax.__version__}; old = {args.old}, new = {args.new}; "
          f"k = 5 frontiers identical: {same}\n")
    print("| what | old median (s) | new median (s) | new / old |")
    print("|---|---|---|---|")
    for name in cases["old"]:
        times = {"old": [], "new": []}
        for tag in ("old", "new"):
            cases[tag][name]()                         # warm-up (compilation)
        for _ in range(args.rounds):
            for tag in ("old", "new"):
                times[tag].append(_time(cases[tag][name]))
        o, n = statistics.median(times["old"]), statistics.median(times["new"])
        print(f"| {name} | {o:.3f} | {n:.3f} | {n / o:.2f} |", flush=True)


if __name__ == "__main__":
    main()
