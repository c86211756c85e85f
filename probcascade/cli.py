"""Command-line interface: ``probcascade {demo,calibrate}``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Sequence

from .exceptions import ProbcascadeError

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


def _default_transform(path: str) -> str:
    """The study's choice: two-sided for open-ended benchmarks (TruthfulQA), one-sided for multiple choice."""
    return "two-sided" if "truthfulqa" in Path(path).name.lower() else "one-sided"


# ---------------------------------------------------------------------------------------------------- commands
def cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibration import calibrate
    from .data import CascadeData

    train = CascadeData.from_csv(args.train)
    test = CascadeData.from_csv(args.test, models=train.models) if args.test else train
    transform = args.transform or _default_transform(args.train)
    cal = calibrate(train, method=args.method, transform=transform)
    report = cal.report(test, n_bins=args.bins)
    if args.format == "json":
        print(_dump_json(report.to_records()))
    elif args.format == "csv":
        sys.stdout.write(report.to_frame().reset_index().to_csv(index=False))
    else:
        where = "test" if args.test else "train (no --test given)"
        print(f"fit on {args.train}; scored on {where}")
        print(report.summary())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .calibration import calibrate
    from .synthetic import synthetic_train_test

    train, test = synthetic_train_test(n_train=args.n_train, n_test=args.n_test, seed=args.seed)
    print(f"probcascade demo: embedded synthetic {train.n_models}-model cascade "
          f"({train.n_queries} training / {test.n_queries} test queries, seed {args.seed})\n")
    cal = calibrate(train, method="logistic", transform="one-sided")
    report = cal.report(test)
    print(report.summary())
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from .plots import plot_reliability

        phi = cal.predict(test)
        fig, axes = plt.subplots(1, test.n_models, figsize=(3.2 * test.n_models, 3.4))
        for j, ax in enumerate(axes):
            plot_reliability(phi[:, j], test.correct[:, j], ax=ax, label=test.models[j], show_counts=False)
            ax.set_title(test.models[j], fontsize=9)
        fig.tight_layout()
        fig.savefig(out / "reliability.png", dpi=120)
        plt.close(fig)
        report.to_frame().to_csv(out / "calibration.csv")
        print(f"\nwrote {out / 'reliability.png'} and {out / 'calibration.csv'}")
    return 0


# ---------------------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="probcascade", description="Calibrate, model and tune LLM cascades.")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="run the pipeline on an embedded synthetic cascade (no data needed)")
    d.add_argument("--n-train", type=int, default=300)
    d.add_argument("--n-test", type=int, default=1000)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", help="folder for plots and tables")
    d.set_defaults(func=cmd_demo)

    c = sub.add_parser("calibrate", help="fit one calibrator per model on TRAIN and report on TEST")
    c.add_argument("train", help="tidy long CSV (query, model, raw_logprob, correct, cost_usd, ...)")
    c.add_argument("--test", help="CSV to score on (default: the training file)")
    c.add_argument("--transform", choices=["one-sided", "two-sided", "none"],
                   help="feature transform (default: two-sided for TruthfulQA files, else one-sided)")
    c.add_argument("--method", choices=["logistic", "platt", "temperature"], default="logistic")
    c.add_argument("--bins", type=int, default=10, help="number of quantile bins for ECE/ACE")
    c.add_argument("--format", choices=["table", "json", "csv"], default="table")
    c.set_defaults(func=cmd_calibrate)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ProbcascadeError as exc:
        print(f"probcascade: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
