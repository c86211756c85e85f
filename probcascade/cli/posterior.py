"""``probcascade posterior TRAIN.csv [--test TEST.csv] [--draws 1000] [--chains 4] [--method nuts|svi] [--seed S]
[--out FILE.nc] [--format table|json|csv]``: the NumPyro posterior of a cascade (:mod:`probcascade.posterior`).

Fits the posterior of the calibrators, marginals, adjacent copulas and pairwise correctness on TRAIN; prints every
parameter's mean, sd, 94 % HDI, R-hat and bulk ESS (JSON ``parameters``); with ``--test``, tunes the cascade on
TRAIN (rational tuning) and adds ``frontier_bands``: each frontier point's posterior 90 % interval of P(Correct) and
E[Cost] beside its accuracy and cost on TEST. ``--out`` writes the ``InferenceData`` as NetCDF.

Free of JAX at import (``tests/test_startup.py``): the command imports the numerics when it runs.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_subcommands", "cmd_posterior"]


def add_subcommands(sub) -> None:
    """Register ``posterior`` on the CLI's subparsers."""
    p = sub.add_parser("posterior", help="NumPyro posterior of the calibrators, marginals, copulas and correctness "
                                         "(R-hat, ESS, HDI); credible bands on the frontier with --test",
                       description="Posterior of a cascade's parameters by NUTS (chains vectorised) or SVI. "
                                   "Example: probcascade posterior mmlu_llama_train.csv --test mmlu_llama_test.csv "
                                   "--draws 1000 --chains 4 --out post.nc")
    p.add_argument("train")
    p.add_argument("--test", help="CSV to score the frontier on (adds frontier_bands)")
    p.add_argument("--draws", type=int, default=1000, help="posterior draws per chain (default 1000)")
    p.add_argument("--chains", type=int, default=4, help="chains, run vectorised (default 4)")
    p.add_argument("--method", choices=["nuts", "svi"], default="nuts",
                   help="NUTS (default) or SVI with a mean-field AutoNormal guide (fast, approximate)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="FILE.nc", help="write the ArviZ InferenceData to this NetCDF file")
    p.add_argument("--prob", type=float, default=0.9, help="probability of the frontier bands (default 0.9)")
    p.add_argument("--format", choices=["table", "json", "csv"], default="table",
                   help="table (default), json, or csv: the parameter table, or with --test the frontier bands")
    p.set_defaults(func=cmd_posterior)


def cmd_posterior(args: argparse.Namespace) -> int:
    from probcascade.cli.main import _dump_json
    from probcascade.exceptions import DataValidationError
    from probcascade.posterior.fit import fit_posterior

    from .common import default_transform, load_train_test

    if args.draws < 1 or args.chains < 1:
        raise DataValidationError(f"--draws and --chains must be >= 1, got {args.draws} and {args.chains}")
    train, test = load_train_test(args)      # both files before the (minutes-long) fit
    transform = default_transform(args.train)
    result = fit_posterior(train, method=args.method, draws=args.draws, chains=args.chains, seed=args.seed,
                           transform=transform)
    if args.out:
        result.to_netcdf(args.out)
    table = result.to_frame()
    out = {"models": list(result.models), "method": args.method, "chains": args.chains, "draws": args.draws,
           "seed": args.seed, "divergences": result.divergences, "warnings": result.problems(table),
           "time_s": float(result.idata.posterior.attrs.get("time_s", float("nan")))}
    cols = [c for c in ("mean", "sd", "hdi_3%", "hdi_97%", "r_hat", "ess_bulk") if c in table.columns]
    out["parameters"] = {name: {c: float(row[c]) for c in cols} for name, row in table.iterrows()}
    bands = None
    if args.test:
        from probcascade.calibration.calibrators import calibrate
        from probcascade.joint.model import fit_markov_copula
        from probcascade.posterior.predictive import frontier_bands, posterior_cascade
        from probcascade.tuning.rational import tune

        cal = calibrate(train, transform=transform)
        model = fit_markov_copula(result.data.phi, train.models)
        costs = train.cost.mean(axis=0)
        frontier = tune(model, costs, seed=args.seed)
        pc = posterior_cascade(result, costs=costs)
        bands = frontier_bands(pc, frontier, prob=args.prob)
        scored = frontier.evaluate(cal.predict(test), test.correct, test.cost)
        bands["test_accuracy"] = 1.0 - scored["test_error"].to_numpy()
        bands["test_cost"] = scored["test_cost"].to_numpy()
        out["frontier_bands"] = bands.to_dict(orient="records")
    if args.format == "json":
        print(_dump_json(out))
        return 0
    if args.format == "csv":
        from .common import write_frame

        write_frame(bands if bands is not None else table, index=bands is None)
        return 0
    print(result.summary())
    if bands is not None:
        print(f"\nFrontier with posterior {args.prob:.0%} bands (rational tuning on TRAIN, scored on TEST):")
        print(bands.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if out["warnings"]:
        print("\n".join(f"warning: {w}" for w in out["warnings"]), file=sys.stderr)
    return 0
