"""Fit the parameters of the embedded demo cascade (``probcascade/data/demo_mmlu_llama.json``) on the shared MMLU Llama
data.

``probcascade demo`` and the tests that must run without the shared benchmarks draw from
:mod:`probcascade.data.synthetic`, whose default generator is the package's own model with the parameters written here:

* per model, the logistic calibrator on the one-sided transform (eq. 16), fitted on the training split: intercept
  ``b0``, slope ``b1`` and the training range ``xi_min``/``xi_max`` of the transform (eq. 18);
* per model, the point-mass beta mixture of the calibrated training confidences (``lo``, ``hi``, ``w_lo``,
  ``w_hi``, ``mix``, ``alpha``, ``beta``; two components, as in the study);
* per adjacent pair, the 3 x 3 cell table and the Gumbel copula (theta from Kendall's tau) of
  :func:`probcascade.joint.model.fit_markov_copula`;
* per model, the mean per-query cost (USD) and its coefficient of variation on the training split;
* provenance: source file, date, n_train, package version.

Run once (the numbers are committed with the package)::

    python experiments/fit_demo_params.py [--data PATH] [--out probcascade/data/demo_mmlu_llama.json]

``--data`` (alias ``--shared``) defaults to ``$PROBCASCADE_SHARED_DATA`` or ``../shared/data/llm_cascades`` next to
the repository. ``--out`` is the JSON file to write (unlike the other experiments, not a folder).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
from pathlib import Path

import numpy as np

import probcascade
from probcascade.calibration.calibrators import calibrate
from probcascade.data.cascade import load_benchmark
from probcascade.data.synthetic import DEMO_PARAMS_FILE
from probcascade.joint.model import fit_markov_copula

from common import ROOT, SHARED_DATA

STEM = "mmlu_llama"


def fit_params(shared: Path) -> dict:
    """The demo parameters as a JSON-ready dict."""
    train, _ = load_benchmark(shared, STEM)
    cal = calibrate(train, transform="one-sided")
    phi = cal.predict(train)
    model = fit_markov_copula(phi, train.models, family="gumbel", all_pairs=False)
    cost = train.cost
    models = []
    for j, m in enumerate(train.models):
        c = cal.calibrators[m]
        p = model.marginals[m].params
        models.append({
            "name": m,
            "calibrator": {"transform": "one-sided", "b0": float(c.result_.coef[0]), "b1": float(c.result_.coef[1]),
                           "xi_min": c.transform_.xi_min, "xi_max": c.transform_.xi_max},
            "marginal": {"lo": float(p.lo), "hi": float(p.hi), "w_lo": float(p.w_lo), "w_hi": float(p.w_hi),
                         "mix": np.asarray(p.mix).tolist(), "alpha": np.asarray(p.alpha).tolist(),
                         "beta": np.asarray(p.beta).tolist()},
            "cost_usd": float(cost[:, j].mean()),
            "cost_cv": float(cost[:, j].std() / cost[:, j].mean()),
            # for reference only (the generator does not use them)
            "train_accuracy": float(train.correct[:, j].mean()),
            "train_cert_fraction": float(train.certainty_fraction[m]),
        })
    pairs = []
    for a, b in zip(train.models[:-1], train.models[1:]):
        pf = model.pair(a, b)
        pairs.append({"model_a": a, "model_b": b, "table": np.asarray(pf.table).tolist(), "family": pf.family,
                      "theta": float(pf.theta), "tau": float(pf.tau), "n_interior": pf.n_interior})
    return {
        "description": "Parameters of probcascade's embedded demo cascade: the package's own model (logistic "
                       "calibration on the one-sided transform, point-mass beta-mixture marginals, Markov chain of "
                       "Gumbel copulas with exact cell tables) fitted once on the shared MMLU Llama training split.",
        "provenance": {"source": f"shared/data/llm_cascades/{STEM}_train.csv", "date": _dt.date.today().isoformat(),
                       "n_train": train.n_queries, "probcascade_version": probcascade.__version__,
                       "script": "experiments/fit_demo_params.py"},
        "models": models,
        "pairs": pairs,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", "--shared", dest="data", type=Path, default=SHARED_DATA,
                    help=f"folder with {STEM}_train.csv (default: {SHARED_DATA})")
    ap.add_argument("--out", type=Path, default=ROOT / "probcascade" / "data" / DEMO_PARAMS_FILE,
                    help="JSON file to write (default: the package's embedded parameter file)")
    args = ap.parse_args(argv)
    params = fit_params(args.data)
    args.out.write_text(json.dumps(params, indent=2) + "\n")
    for m in params["models"]:
        mg = m["marginal"]
        print(f"{m['name']:>14s}  b0 {m['calibrator']['b0']:+.4f}  b1 {m['calibrator']['b1']:.4f}  "
              f"[{mg['lo']:.4f}, {mg['hi']:.4f}]  w_lo {mg['w_lo']:.4f}  w_hi {mg['w_hi']:.4f}  "
              f"acc {m['train_accuracy']:.3f}  cost {m['cost_usd']:.3e} (cv {m['cost_cv']:.3f})")
    for p in params["pairs"]:
        print(f"{p['model_a']:>14s} -> {p['model_b']:<14s} {p['family']} theta {p['theta']:.4f} tau {p['tau']:.4f} "
              f"(n_interior {p['n_interior']})")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
