"""``probcascade report``: one self-contained HTML page and a Markdown twin about a cascade (issue 15).

``probcascade report TRAIN.csv --test TEST.csv --out DIR [--budget USD | --target-error E]`` writes
``DIR/report.html`` (figures embedded, no network, no JavaScript), ``DIR/report.md`` and ``DIR/figures/*.png``;
:func:`write_demo_report` does the same for ``probcascade demo --out``. JAX-free at import (``tests/test_startup.py``):
the numerics are imported when the command runs.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

__all__ = ["add_subcommands", "cmd_report", "write_demo_report"]


def _usd(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--budget must be a number of USD per query, got {value!r}") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"--budget must be a positive number of USD per query, got {value!r}")
    return v


def _error_rate(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--target-error must be a number in (0, 1), got {value!r}") from None
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"--target-error must be in (0, 1), got {value!r}")
    return v


def _write(report, out: str, quiet: bool) -> None:
    html_path, md_path = report.write(out)
    if not quiet:
        print(f"probcascade report: wrote {html_path}, {md_path} and {Path(out) / 'figures'}/", file=sys.stderr)


def _print_recommendation(report, fmt: str) -> None:
    """The recommendation on stdout (table: text; json: the report's tables as JSON; csv: the thresholds)."""
    rec = report.section("recommendation").summary
    if fmt == "json":
        print(report.summary().as_json(indent=2))
    elif fmt == "csv":
        import pandas as pd

        table = next(b for b in rec.to_dict()["blocks"] if b["kind"] == "table")
        frame = pd.DataFrame(table["data"], columns=table["columns"], index=table["index"])
        from .common import write_frame

        write_frame(frame.rename_axis("model"), index=True)
    else:
        print(rec)


def cmd_report(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from probcascade.report.build import build_report

    from .common import load_train_test
    from .common import default_transform, model_choice

    model_choice(args, 0)       # a bad --copula/--correctness/--study-model combination fails before any reading
    train, test = load_train_test(args)         # --test is required here
    model = model_choice(args, train.n_queries)
    report = build_report(train, test, budget=args.budget, target_error=args.target_error, **model.options,
                          transform=args.transform or default_transform(args.train), gof_bootstrap=args.bootstrap,
                          corp_bootstrap=args.corp_bootstrap, cascades=args.cascades, seed=args.seed,
                          command="probcascade " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["report"] else None)
    _write(report, args.out, getattr(args, "quiet", False))
    _print_recommendation(report, getattr(args, "format", "table") or "table")
    return 0


def write_demo_report(out: str, train, test, *, seed: int = 0, quiet: bool = False) -> None:
    """``probcascade demo --out DIR``: the same report for the embedded synthetic cascade (full cascade only, as the
    demo tunes it)."""
    import matplotlib

    matplotlib.use("Agg")
    from probcascade.report.build import build_report

    report = build_report(train, test, transform="one-sided", cascades="full", seed=seed,
                          title="Cascade report: embedded demo cascade (synthetic, MMLU-like Llama models)")
    _write(report, out, quiet)


def add_subcommands(sub) -> None:
    """Add ``report`` to the ``probcascade`` subparsers (no heavy imports)."""
    from probcascade.calibration.choices import TRANSFORMS

    r = sub.add_parser(
        "report", help="self-contained HTML report (+ Markdown twin): data, calibration, goodness of fit, frontier, "
                       "recommended thresholds",
        description="Fit on TRAIN, score on TEST and write DIR/report.html (one page, figures embedded, no network "
                    "or JavaScript needed), DIR/report.md with the same tables and DIR/figures/*.png: the data "
                    "summary, calibration tables and CORP diagrams, goodness-of-fit tests with verdicts, Markov "
                    "diagnostics, the error-cost frontier of the full cascade and the best sub-cascade per budget, "
                    "and the recommended thresholds for --budget or --target-error (default: the cheapest point "
                    "predicted to match the most accurate single model). Prints the recommendation.",
        epilog="Example: probcascade report mmlu_llama_train.csv --test mmlu_llama_test.csv --out mmlu_report "
               "--budget 0.0002")
    r.add_argument("train", help="tidy long CSV to fit on")
    r.add_argument("--test", required=True, help="tidy long CSV to score on")
    r.add_argument("--out", required=True, help="folder for report.html, report.md and figures/")
    goal = r.add_mutually_exclusive_group()
    goal.add_argument("--budget", type=_usd, metavar="USD",
                      help="mean cost per query in USD (e.g. 0.0002 = 200 USD per million queries)")
    goal.add_argument("--target-error", type=_error_rate, metavar="E", help="error rate to reach, in (0, 1)")
    r.add_argument("--transform", choices=TRANSFORMS,
                   help="calibration transform (default: two-sided for TruthfulQA files, else one-sided)")
    r.add_argument("--bootstrap", type=int, default=50,
                   help="bootstrap replicates of the goodness-of-fit tests (default 50: about a minute; more for "
                        "finer p-values)")
    r.add_argument("--corp-bootstrap", type=int, default=200,
                   help="bootstrap replicates of the CORP bands and ECE intervals (default 200)")
    r.add_argument("--cascades", choices=("all", "full"), default="all",
                   help="tune every ordered sub-cascade (default; for the best sub-cascade per budget) or only the "
                        "full cascade (faster)")
    r.add_argument("--seed", type=int, default=0)
    from .common import add_model_options

    add_model_options(r)        # --copula, --correctness (default auto: the recommended model's rule), --study-model
    r.set_defaults(func=cmd_report)
