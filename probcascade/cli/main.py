"""Command-line interface: ``probcascade {demo,calibrate,tune,gof,ensemble,route,reject,signals,capability,extract,
tiny-model}`` (the analysis commands route ... capability live in ``analysis.py``)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Sequence
import numpy as np

from .common import add_model_options, default_transform, model_choice

__all__ = ["main", "build_parser"]

def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _clean(obj):
    """Replace NaN/inf by None so that the output is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _dump_json(obj) -> str:
    return json.dumps(_clean(json.loads(json.dumps(obj, default=_json_default))), indent=2)


# ---------------------------------------------------------------------------------------------------- commands
def cmd_calibrate(args: argparse.Namespace) -> int:
    from probcascade.progress import bar

    from .common import load_train_test

    with bar(total=2, desc="calibrate", unit="stage") as pb:     # the first call also imports and compiles JAX
        pb.set_postfix_str("reading, fitting one calibrator per model")
        from probcascade.calibration.calibrators import calibrate

        train, test = load_train_test(args)
        transform = args.transform or default_transform(args.train)
        cal = calibrate(train, method=args.method, transform=transform)
        pb.update()
        pb.set_postfix_str("scoring")
        report = cal.report(test, n_bins=args.bins)
        pb.update()
    if args.format == "json":
        print(_dump_json(report.to_records()))
    elif args.format == "csv":
        sys.stdout.write(report.to_frame().reset_index().to_csv(index=False))
    else:
        where = "test" if args.test else "train (no --test given)"
        print(f"fit on {args.train}; scored on {where}")
        print(report.summary())
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from probcascade.pipeline import tune_cascades
    from probcascade.tuning.options import TuneOptions

    from .common import load_train_test, write_frame

    from .tune_points import (CERTIFY_INFILL_Q, check_options, format_points, operating_points, split_train,
                              write_frontiers)

    model_choice(args, 0)      # a bad --copula/--correctness/--study-model combination fails before any reading
    check_options(args)
    train, test = load_train_test(args)
    methods = ["rational"] + [m.strip() for m in (args.baselines or "").split(",") if m.strip()]
    fit, holdout, split_note = split_train(train, args)     # --delta: certify on a held-out part of TRAIN
    model = model_choice(args, fit.n_queries)        # the rule of probcascade.tuning.recommended, or as given
    options = TuneOptions(**model.options, max_cost_gap=args.max_cost_gap, seed=args.seed)
    if holdout is not None:     # a denser candidate list certifies cheaper points (docs/design_notes.md)
        options = options.replace(infill_q=CERTIFY_INFILL_Q)
    report = tune_cascades(fit, test, transform=args.transform or default_transform(args.train),
                           cascades=args.cascade, methods=methods, options=options,
                           progress=None)       # on or off as run_command set it: -q, --progress, a terminal
    points = operating_points(report, test if args.test else None, holdout, args)
    if args.out:
        write_frontiers(report, args.out, args.max_cost_gap)
    if args.format == "json":
        ran = model.to_dict()       # which model ran, in every record
        print(_dump_json([{**rec, **pts, "model": ran} for rec, pts in zip(report.to_records(), points)]))
    elif args.format == "csv":
        write_frame(report.to_frame())
    else:
        print(model.describe())
        print(report.summary())
        text = format_points(report, points, split_note)
        if text:
            print(text)
    return 0


def cmd_gof(args: argparse.Namespace) -> int:
    import pandas as pd

    from probcascade.gof.report import goodness_of_fit

    from .common import load_train_test, write_frame

    model_choice(args, 0)      # a bad --copula/--study-model combination fails before any reading
    train, test = load_train_test(args)
    model = model_choice(args, train.n_queries)
    report = goodness_of_fit(train, test, transform=args.transform or default_transform(args.train),
                             n_boot=args.bootstrap, seed=args.seed, family=model.family)
    if args.format == "csv":    # the marginal and the copula tests in one long table, 'test' telling them apart
        frame = pd.concat([report.to_frame().reset_index().assign(test="marginal"),
                           report.copula_frame().reset_index(drop=True).assign(test="copula")], ignore_index=True)
        write_frame(frame[["test"] + [c for c in frame.columns if c != "test"]])
    else:
        copula = {"copula": model.family, "rule": model.rule}     # gof tests the copulas; correctness plays no part
        if args.format == "json":       # and each pair's fitted family ("independence" where train tau <= 0)
            copula["pair_families"] = [p.family for p in report.pairs]
            print(_dump_json({"model": copula, **report.to_dict()}))
        else:
            print(f"model: copula {model.family} ({model.rule})")
            print(report.summary())
    return 0


def cmd_ensemble(args: argparse.Namespace) -> int:
    from probcascade.calibration.calibrators import calibrate
    from probcascade.pipeline import tune_cascades
    from probcascade.policies.ensemble_report import ensemble_report, format_table, load_with_answers
    from probcascade.progress import bar, resolve_progress

    from .common import load_cascade, write_frame

    train, train_answers = load_cascade(args.train, loader=load_with_answers)
    if args.test:
        test, test_answers = load_cascade(args.test, role="test", models=train.models, loader=load_with_answers)
    else:
        test, test_answers = train, train_answers
    transform = args.transform or default_transform(args.train)
    with bar(total=3 - bool(args.no_rational), desc="ensemble", unit="stage") as pb:
        pb.set_postfix_str("calibrating")
        cal = calibrate(train, transform=transform)
        pb.update()
        rational = None
        if not args.no_rational:
            pb.set_postfix_str("rational-tuning frontier of the full cascade")
            rep = tune_cascades(train, test, transform=transform, cascades=",".join(train.models),
                                methods=("rational",), progress=False)
            pts = rep.results[0].test_points["rational"]
            rational = (pts[:, 0], pts[:, 1])
            pb.update()
        pb.set_postfix_str("choosing the operating point on train, training the policy")
        report = ensemble_report(train, test, train_answers=train_answers, test_answers=test_answers, bins=args.bins,
                                 optimize_bins=args.optimize_bins, seed=args.seed, calibration=cal,
                                 rational=rational, progress=resolve_progress(None), details=args.format == "table")
        pb.update()
    if args.format == "csv":    # one row per system scored on TEST
        import pandas as pd

        systems = [("policy", report["policy"])] + ([("wmv", report["wmv"])] if report.get("wmv") else []) + \
            list(report["single"].items())
        write_frame(pd.DataFrame([{"system": name, "accuracy": b["accuracy"], "f1": b["f1"],
                                   "cost_per_query": b["cost_per_query"]} for name, b in systems]))
    else:
        print(_dump_json(report) if args.format == "json" else format_table(report))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from probcascade.data.synthetic import synthetic_train_test
    from probcascade.pipeline import tune_cascades
    from probcascade.tuning.options import TuneOptions

    from .common import write_frame
    from .report import write_demo_report

    train, test = synthetic_train_test(n_train=args.n_train, n_test=args.n_test, seed=args.seed)
    table = args.format == "table"
    if table:
        print(f"probcascade demo: embedded synthetic {train.n_models}-model cascade "
              f"({train.n_queries} training / {test.n_queries} test queries, seed {args.seed})\n")
    report = tune_cascades(train, test, transform="one-sided", cascades=",".join(train.models),
                           methods=("rational", "grid"), options=TuneOptions(seed=args.seed), progress=None)
    cal, model = report.calibration, report.model
    result = report.results[0]
    fr = result.frontiers["rational"]
    if not table:    # the numbers of the four sections: JSON of all, or CSV of the test evaluation's table
        if args.format == "json":
            print(_dump_json({"n_train": train.n_queries, "n_test": test.n_queries, "seed": args.seed,
                              "models": list(train.models), "calibration": cal.report(test).to_records(),
                              "frontier": fr.to_frame().to_dict(orient="records"),
                              "cascades": report.to_records()}))
        else:
            write_frame(report.to_frame())
    else:
        print("1. Calibration (fit on train, scored on test)")
        print(cal.report(test).summary())
        print("\n2. Markov-copula model (fit on train)")
        print(model.summary())
        print("\n3. Rational tuning: predicted frontier of the full cascade")
        print(fr.summary(max_rows=12))
        print("\n4. Test-set evaluation")
        print(report.summary())
    if args.out:
        quiet = getattr(args, "quiet", False)
        _demo_files(args.out, cal, test, result, report, fr)
        write_demo_report(args.out, train, test, seed=args.seed, quiet=quiet)
        wrote = f"wrote reliability.png, frontier.png, auc.csv and frontier.csv to {args.out}"
        if table:                 # part of the table output; with json/csv stdout stays machine-readable
            print(f"\n{wrote}")
        elif not quiet:
            print(f"probcascade demo: {wrote}", file=sys.stderr)
    return 0


def _demo_files(out, cal, test, result, report, fr) -> None:
    """The demo's plots and tables in the folder ``out``."""
    from probcascade.progress import bar

    with bar(total=2, desc="demo files", unit="file") as pb:
        pb.set_postfix_str("plots")
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from probcascade.plots import plot_reliability

        phi = cal.predict(test)
        fig, axes = plt.subplots(1, test.n_models, figsize=(3.2 * test.n_models, 3.4))
        for j, ax in enumerate(axes):
            plot_reliability(phi[:, j], test.correct[:, j], ax=ax, label=test.models[j], show_counts=False)
            ax.set_title(test.models[j], fontsize=9)
        fig.tight_layout()
        fig.savefig(out / "reliability.png", dpi=120)
        plt.close(fig)
        pb.update()
        pb.set_postfix_str("frontier")
        fig, ax = plt.subplots(figsize=(5.5, 4))
        for method, pts in result.test_points.items():
            order = np.argsort(pts[:, 0])
            ax.plot(pts[order, 0] * 1e6, 1.0 - pts[order, 1], marker=".", label=f"{method} (AUC {result.auc[method]:.4f})")
        ax.set_xlabel("mean cost per 1M queries (USD)")
        ax.set_ylabel("test error rate")
        ax.legend(frameon=False)
        fig.tight_layout()
        fig.savefig(out / "frontier.png", dpi=120)
        plt.close(fig)
        report.to_frame().to_csv(out / "auc.csv", index=False)
        fr.to_frame().to_csv(out / "frontier.csv", index=False)
        pb.update()


# ---------------------------------------------------------------------------------------------------- parser
def _baselines(names: tuple[str, ...]):
    """argparse type of ``--baselines``: comma-separated registered tuner names."""

    def parse(value: str) -> str:
        bad = [m.strip() for m in value.split(",") if m.strip() and m.strip() not in names]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown tuner(s) {bad} (choose from {list(names)})")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    from probcascade._version import __version__
    # every module imported here is free of JAX: --help, usage errors and argument checks start in a fraction of a
    # second (tests/test_startup.py); the commands import the numerics when they run
    from probcascade.calibration.choices import CALIBRATOR_NAMES, TRANSFORMS
    from probcascade.tuning.base import tuner_names

    p = argparse.ArgumentParser(prog="probcascade", description="Calibrate, model and tune LLM cascades.")
    p.add_argument("--version", action="version", version=f"probcascade {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="run the pipeline on an embedded synthetic cascade (no data needed)",
                       epilog="Example: probcascade demo --out demo_out")
    d.add_argument("--n-train", type=int, default=300)
    d.add_argument("--n-test", type=int, default=1000)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", help="folder for plots and tables")
    d.set_defaults(func=cmd_demo)

    c = sub.add_parser("calibrate", help="fit one calibrator per model on TRAIN and report on TEST",
                       epilog="Example: probcascade calibrate mmlu_llama_train.csv --test mmlu_llama_test.csv "
                              "--format csv")
    c.add_argument("train", help="tidy long CSV (query, model, raw_logprob, correct, cost_usd, ...)")
    c.add_argument("--test", help="CSV to score on (default: the training file)")
    c.add_argument("--transform", choices=TRANSFORMS,
                   help="feature transform (default: two-sided for TruthfulQA files, else one-sided)")
    c.add_argument("--method", choices=CALIBRATOR_NAMES, default="logistic")
    c.add_argument("--bins", type=int, default=10, help="number of quantile bins for ECE/ACE")
    c.add_argument("--format", choices=["table", "json", "csv"], default="table")
    c.set_defaults(func=cmd_calibrate)

    t = sub.add_parser("tune", help="tune cascade thresholds on TRAIN (rational tuning and baselines), score on TEST",
                       epilog="Example: probcascade tune mmlu_llama_train.csv --test mmlu_llama_test.csv "
                              "--cascade llama3.1-8b,llama3.1-70b,llama3.1-405b --baselines grid")
    t.add_argument("train")
    t.add_argument("--test", help="CSV to score on (default: the training file)")
    t.add_argument("--transform", choices=TRANSFORMS)
    t.add_argument("--cascade", default="all", help="'all' (every ordered subset of >= 2 models) or m1,m2,...")
    t.add_argument("--baselines", default="", type=_baselines(tuner_names()),
                   help=f"comma-separated other tuners to compare ({', '.join(n for n in tuner_names() if n != 'rational')})")
    t.add_argument("--format", choices=["table", "json", "csv"], default="table")
    t.add_argument("--seed", type=int, default=0)
    add_model_options(t)        # --copula, --correctness (default auto: the recommended model's rule), --study-model
    t.add_argument("--max-cost-gap", type=float, default=None, metavar="FRACTION",
                   help="split cost gaps of rational tuning's lambda sweep wider than FRACTION of the cost range by "
                        "cost-targeted solves (e.g. 0.02; default off, the study's sweep)")
    t.add_argument("--progress", action="store_true", help="progress bar on stderr even when it is not a terminal")
    from probcascade.cli.tune_points import add_operating_point_options

    add_operating_point_options(t)      # --target-accuracy, --budget, --delta, --holdout, --out (JAX-free)
    t.set_defaults(func=cmd_tune)

    g = sub.add_parser("gof", help="goodness of fit of the Markov-copula model (fit on TRAIN, tested on TEST)",
                       epilog="Example: probcascade gof mmlu_llama_train.csv --test mmlu_llama_test.csv "
                              "--bootstrap 200")
    g.add_argument("train")
    g.add_argument("--test")
    g.add_argument("--transform", choices=TRANSFORMS)
    g.add_argument("--bootstrap", type=int, default=1000)
    g.add_argument("--seed", type=int, default=0)
    add_model_options(g, correctness=False)
    g.add_argument("--format", choices=["table", "json", "csv"], default="table")
    g.set_defaults(func=cmd_gof)

    e = sub.add_parser("ensemble", help="cost-aware cascading ensemble over binned calibrated confidences, scored on TEST",
                       description="Train the binned cascading-ensemble policy on TRAIN (bins, mu and fallbacks chosen "
                                   "on TRAIN only) and score it beside weighted majority vote, every single model and "
                                   "the rational-tuning frontier on TEST. Needs the 'answer' and 'gold' columns. "
                                   "Example: probcascade ensemble mmlu_llama_train.csv --test mmlu_llama_test.csv")
    e.add_argument("train")
    e.add_argument("--test", help="CSV to score on (default: the training file)")
    e.add_argument("--transform", choices=TRANSFORMS)
    e.add_argument("--bins", type=int, default=5, help="quantile bins per model (default 5)")
    e.add_argument("--optimize-bins", type=int, default=0, metavar="N_TRIALS",
                   help="optimise the bin edges with N_TRIALS optuna trials on repeated train/validation splits")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--no-rational", action="store_true", help="skip the rational-tuning frontier (and its AUCs)")
    e.add_argument("--format", choices=["table", "json", "csv"], default="table")
    e.set_defaults(func=cmd_ensemble)

    # route, reject, signals, capability (issue 16); JAX-free at import like the rest of the parser
    from probcascade.cli.analysis import add_subcommands as add_analysis_subcommands

    add_analysis_subcommands(sub)
    from probcascade.cli.posterior import add_subcommands as add_posterior_subcommands   # issue 13

    add_posterior_subcommands(sub)
    from probcascade.cli.report import add_subcommands as add_report_subcommands   # report (issue 15)
    add_report_subcommands(sub)

    try:    # the Torch bridge (extract, tiny-model): its commands import torch lazily and name the missing extra
        from probcascade_inference.cli import add_subcommands as add_llm_subcommands
    except ImportError:  # pragma: no cover - probcascade installed without inference/
        add_llm_subcommands = None
    if add_llm_subcommands is not None:
        add_llm_subcommands(sub)
    # last: every subcommand registered above gets --format/--seed/-q/-v/--progress and an example (cli/common.py)
    from probcascade.cli.common import add_common_options

    return add_common_options(p)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``probcascade ARGS``; the exit code: 0 success, 1 runtime failure, 2 bad input or usage (argparse's
    usage errors exit with 2 through ``SystemExit``). Conventions: :mod:`probcascade.cli.common`."""
    from probcascade.cli.common import run_command

    args = build_parser().parse_args(argv)
    return run_command(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
