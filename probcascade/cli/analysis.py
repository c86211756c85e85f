"""Analysis commands beyond threshold tuning (issue 16): ``route``, ``reject``, ``signals`` and ``capability``.

Each command calibrates on TRAIN with the study's transform (as ``probcascade calibrate`` does) and scores on TEST;
the numbers come from :mod:`probcascade.evaluation.routing_analysis`, :mod:`probcascade.evaluation.rejection`,
:mod:`probcascade.evaluation.signals` and :mod:`probcascade.calibration.capability`. Kept apart from ``main.py`` so
that the core commands' file stays small; :func:`add_subcommands` is called by ``build_parser``.

This module must stay free of JAX, pandas and SciPy at import time (``--help`` and usage errors load none of them,
``tests/test_startup.py``): every command imports the numerics when it runs. Extra columns that ``CascadeData``
does not keep (a task column such as ``subject``, extra ``signal_<name>`` confidence columns written by the Torch
bridge) are read from the CSV with pandas here and aligned to the data's queries and models.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

__all__ = [
    "add_subcommands",
    "cmd_capability",
    "cmd_reject",
    "cmd_route",
    "cmd_signals",
    "read_query_column",
    "read_signal_columns",
]

#: the primary confidence column of the tidy format (a natural-log probability)
PRIMARY_SIGNAL = "raw_logprob"
#: prefix of the extra confidence columns the Torch bridge writes (``inference/signals.py``)
SIGNAL_PREFIX = "signal_"


# ------------------------------------------------------------------------------------------------ shared helpers
def _load(args: argparse.Namespace):
    """TRAIN, TEST (TRAIN when no ``--test``), the calibration fitted on TRAIN and TEST's calibrated confidences."""
    from probcascade.progress import bar

    from .common import default_transform, load_train_test

    with bar(total=1, desc=getattr(args, "command", None), unit="stage") as pb:   # the first call also imports JAX
        pb.set_postfix_str("reading and calibrating")
        from probcascade.calibration.calibrators import calibrate

        train, test = load_train_test(args)
        cal = calibrate(train, transform=default_transform(args.train))
        phi = cal.predict(test)
        pb.update()
    return train, test, cal, phi


def _read_columns(path: str | Path, columns: list[str], what: str = "column"):
    """The CSV's ``query``, ``model`` and ``columns``; a missing column is a DataValidationError naming it."""
    import pandas as pd

    from probcascade.exceptions import DataValidationError

    header = list(pd.read_csv(path, nrows=0).columns)
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataValidationError(f"{Path(path).name} has no {what} {', '.join(repr(c) for c in missing)} "
                                  f"(columns present: {header})")
    frame = pd.read_csv(path, usecols=["query", "model", *columns])
    frame["model"] = frame["model"].astype(str)
    return frame


def read_query_column(path: str | Path, data, column: str) -> np.ndarray:
    """The per-query label in ``column`` (e.g. ``subject``) in ``data.queries`` order, read from the tidy CSV.

    Every model's row of a query must carry the same label, since the label describes the query, not the answer.
    """
    from probcascade.exceptions import DataValidationError

    frame = _read_columns(path, [column], what="group column")
    per_query = frame.groupby("query")[column].nunique(dropna=False)
    if (per_query > 1).any():
        raise DataValidationError(f"{Path(path).name}: query {per_query.index[per_query > 1][0]} has more than one "
                                  f"'{column}' label")
    labels = frame.drop_duplicates("query").set_index("query")[column]
    return labels.loc[data.queries].to_numpy(dtype=object)


def signal_names(path: str | Path, requested: str | None) -> list[str]:
    """The signal columns to compare: ``requested`` (comma-separated) or every ``signal_*`` column plus
    ``raw_logprob``; a requested column missing from the file is a DataValidationError naming it."""
    import pandas as pd

    from probcascade.exceptions import DataValidationError

    header = list(pd.read_csv(path, nrows=0).columns)
    if requested:
        names = list(dict.fromkeys(s.strip() for s in requested.split(",") if s.strip()))
        missing = [s for s in names if s not in header]
        if missing:
            raise DataValidationError(f"{Path(path).name}: no signal column(s) {missing} (signal columns present: "
                                      f"{[c for c in header if c == PRIMARY_SIGNAL or c.startswith(SIGNAL_PREFIX)]})")
    else:
        names = ([PRIMARY_SIGNAL] if PRIMARY_SIGNAL in header else []) + \
                [c for c in header if c.startswith(SIGNAL_PREFIX)]
    if not names:
        raise DataValidationError(f"{Path(path).name}: no confidence signal columns ('{PRIMARY_SIGNAL}' or "
                                  f"'{SIGNAL_PREFIX}*') to compare")
    return names


def read_signal_columns(path: str | Path, data, names: list[str]) -> dict[str, np.ndarray]:
    """Each signal column as an (n_queries, n_models) array aligned to ``data.queries`` x ``data.models``.

    A missing value, or a model/query of ``data`` without a row, is a DataValidationError: the signals are compared
    on the same answers, so every signal must be present for every answer.
    """
    import pandas as pd

    from probcascade.exceptions import DataValidationError

    frame = _read_columns(path, names)
    frame = frame[frame["model"].isin(data.models)]
    out = {}
    for name in names:
        values = pd.to_numeric(frame[name], errors="coerce")
        bad_rows = values.isna() | (values == np.inf)
        if bad_rows.any():
            bad = frame.loc[bad_rows].iloc[0]
            raise DataValidationError(f"{Path(path).name}: column '{name}' has a missing or non-numeric value "
                                      f"(model '{bad['model']}', query {bad['query']})")
        table = frame.assign(_v=values).pivot(index="query", columns="model", values="_v")
        try:
            out[name] = table.loc[data.queries, list(data.models)].to_numpy(dtype=np.float64)
        except KeyError as exc:
            raise DataValidationError(f"{Path(path).name}: column '{name}' does not cover every query and model "
                                      f"({exc})") from None
        if np.isnan(out[name]).any():
            raise DataValidationError(f"{Path(path).name}: column '{name}' lacks a value for some (query, model)")
    return out


def _is_logprob(train_values: np.ndarray, test_values: np.ndarray) -> bool:
    return bool(np.all(train_values <= 0) and np.all(test_values <= 0))


def _calibrated_signal(x_train, y_train, x_test, *, transform: str, model: str) -> np.ndarray:
    """One signal calibrated on TRAIN, predicted on TEST: a probability of correctness in [0, 1].

    A log-probability (all values <= 0, like ``raw_logprob``) gets the study's logistic calibrator with the given
    transform, as ``probcascade calibrate``; any other score (an entropy, a perplexity: higher may mean *less*
    confident) gets a logistic regression on its standardised value, whose slope also orients it. So ECE and Brier
    compare probabilities, and AUROC/PRR are those of the signal oriented by its fitted slope.
    """
    from probcascade.calibration.calibrators import LogisticCalibrator
    from probcascade.estimation.logistic import fit_logistic

    if _is_logprob(x_train, x_test):
        return LogisticCalibrator(transform=transform, model=model).fit(x_train, y_train).predict(x_test)
    mu, sd = float(np.mean(x_train)), float(np.std(x_train)) or 1.0
    fit = fit_logistic(np.column_stack([np.ones_like(x_train), (x_train - mu) / sd]), np.asarray(y_train),
                       names=("const", "signal"), model=model)
    eta = np.column_stack([np.ones_like(x_test), (x_test - mu) / sd]) @ fit.coef
    return np.exp(-np.logaddexp(0.0, -eta))


def _table(title: str, frame, note: str | None = None) -> str:
    from probcascade.summary import Summary

    s = Summary(title).add_table(frame, index=False, float_format="{:.4g}")
    if note:
        s.add_note(note)
    return str(s)


# ------------------------------------------------------------------------------------------------ commands
def cmd_route(args: argparse.Namespace) -> int:
    """Parity routing rate (with bootstrap interval), cost saved at parity and AIQ for one small -> large pair."""
    from probcascade.evaluation.routing_analysis import (
        parity_routing_rate,
        routing_curve,
    )

    from .main import _dump_json

    from probcascade.exceptions import DataValidationError

    _, test, _, phi = _load(args)
    prefix = [m.strip() for m in args.small.split(",")]
    cols = [test.index(m) for m in prefix]
    j = test.index(args.large)
    if j in cols:
        raise DataValidationError(f"--small and --large are the same model '{args.large}'" if len(cols) == 1
                                  else f"--large '{args.large}' is also in the prefix given to --small")
    cost = test.cost.mean(axis=0)
    extra = {}
    if len(cols) == 1:
        i = cols[0]
        conf_s, correct_s, cost_s = phi[:, i], test.correct[:, i], float(cost[i])
    else:     # a cascade prefix M_1 .. M_j: its exit model's confidence and correctness, its cost per query
        from probcascade.evaluation.routing_analysis import cascade_prefix_output
        from probcascade.policies.threshold import ThresholdPolicy

        if args.thresholds is None:
            raise DataValidationError(f"--small names a cascade prefix of {len(cols)} models: give its "
                                      f"{len(cols) - 1} deferral threshold(s) with --thresholds t1,...")
        thr = _float_list(args.thresholds, "--thresholds")
        out_p = cascade_prefix_output(ThresholdPolicy(tuple(prefix), thr), phi[:, cols], test.correct[:, cols],
                                      test.cost[:, cols])
        conf_s, correct_s, cost_s = out_p.conf, out_p.correct, float(out_p.cost.mean())
        extra = {"prefix": prefix, "thresholds": thr.tolist(),
                 "exit_share": {m: float(np.mean(out_p.exit == k)) for k, m in enumerate(prefix)}}
    pair = (cost_s, float(cost[j]))
    res = parity_routing_rate(conf_s, correct_s, test.correct[:, j], cost=pair, n_boot=args.n_boot,
                              seed=args.seed, tolerance=args.tolerance)
    curve = routing_curve(conf_s, correct_s, test.correct[:, j], cost=pair)
    out = {"small": args.small, "large": args.large, "n_test": test.n_queries, **res.to_dict(),
           "cost_small": pair[0], "aiq": curve.aiq(), **extra}
    if args.format == "json":
        print(_dump_json(out))
    elif args.format == "csv":      # one row; nested dicts flattened (parity_routing_rate_ci_low), lists as JSON
        import json

        import pandas as pd

        from .common import write_frame

        row = pd.json_normalize(out, sep="_").iloc[0].to_dict()
        write_frame(pd.DataFrame([{k: json.dumps(v) if isinstance(v, list) else v for k, v in row.items()}]))
    else:
        print(f"route {args.small} -> {args.large}: calibrated on {args.train}, scored on {args.test} "
              f"({test.n_queries} queries; the small model answers every query, costs are test means per query)")
        print(res.summary())
        print(f"AIQ of the routing curve (mean accuracy over its cost range, RouterBench): {out['aiq']:.4g}")
    return 0


def cmd_reject(args: argparse.Namespace) -> int:
    """Per model: AURC, E-AURC, PRR, accuracy at a coverage, coverage at a target accuracy, Appendix E's check."""
    import pandas as pd

    from probcascade.evaluation.rejection import (
        accuracy_at_coverage,
        coverage_at_accuracy,
        prediction_rejection_ratio,
        risk_coverage,
        threshold_check,
    )

    from .main import _dump_json

    _, test, _, phi = _load(args)
    rows = []
    for j, model in enumerate(test.models):
        c, y = phi[:, j], test.correct[:, j]
        rc = risk_coverage(c, y)
        tc = threshold_check(c, y)
        used = tc.n > 0
        rows.append({
            "model": model, "accuracy": float(y.mean()), "aurc": rc.aurc, "eaurc": rc.eaurc,
            "prr": prediction_rejection_ratio(c, y), "coverage": args.coverage,
            "accuracy_at_coverage": accuracy_at_coverage(c, y, args.coverage),
            "target_accuracy": args.target_accuracy,
            "coverage_at_accuracy": (None if args.target_accuracy is None
                                     else coverage_at_accuracy(c, y, args.target_accuracy)),
            "threshold_check": {"thresholds_with_data": int(used.sum()), "holds": int(tc.holds.sum()),
                                "consistent": int(tc.consistent.sum()), "level": tc.level,
                                "not_consistent": [float(q) for q in tc.threshold[used & ~tc.consistent]]},
        })
    if args.format == "json":
        print(_dump_json({"n_test": test.n_queries, "models": rows}))
        return 0
    flat = pd.DataFrame([{**{k: v for k, v in r.items() if k not in ("threshold_check", "coverage",
                                                                      "target_accuracy")},
                          "q with data": r["threshold_check"]["thresholds_with_data"],
                          "acc >= q": r["threshold_check"]["holds"],
                          "upper bound >= q": r["threshold_check"]["consistent"]} for r in rows])
    flat = flat.rename(columns={"accuracy_at_coverage": f"acc@cov {args.coverage:g}",
                                "coverage_at_accuracy": "cov@acc " + (f"{args.target_accuracy:g}"
                                                                      if args.target_accuracy is not None else "-")})
    if args.target_accuracy is None:
        flat = flat.drop(columns=[c for c in flat.columns if c.startswith("cov@acc")])
    if args.format == "csv":
        from .common import write_frame

        write_frame(flat)
        return 0
    print(_table(f"Rejection (calibrated on {args.train}, scored on {args.test}, {test.n_queries} queries)", flat,
                 "AURC: mean risk over coverages k/n (lower is better); E-AURC: minus the oracle's; PRR: 1 oracle, "
                 "0 random. Appendix E: of the thresholds q = 0, 0.05, ..., 0.95 with data, how many have accuracy "
                 "among conf >= q at least q, and how many have an upper 95% Clopper-Pearson bound >= q."))
    return 0


def cmd_signals(args: argparse.Namespace) -> int:
    """Per model, compare confidence signal columns on the same answers (AUROC, ECE, Brier, PRR, DeLong test)."""
    import pandas as pd

    from probcascade.evaluation.signals import compare_signals

    from .common import default_transform, load_train_test
    from .main import _dump_json

    train, test = load_train_test(args)          # first: a missing or malformed file is a clean error
    names = signal_names(args.train, args.signals)
    if args.test:
        signal_names(args.test, ",".join(names))          # the same columns must exist in TEST
    s_train = read_signal_columns(args.train, train, names)
    s_test = read_signal_columns(args.test, test, names) if args.test else s_train
    transform = default_transform(args.train)
    from probcascade.progress import bar

    models = []
    for j, model in enumerate(bar(test.models, desc="signals", unit="model")):
        cal = {n: _calibrated_signal(s_train[n][:, j], train.correct[:, j], s_test[n][:, j], transform=transform,
                                     model=model) for n in names}
        table = compare_signals(cal, test.correct[:, j], n_bins=args.bins, n_boot=args.n_boot, seed=args.seed)
        models.append({"model": model, "signals": table.to_dict(orient="records")})
    where = "scored on the same file (in-sample; give --test)" if not args.test else f"scored on {args.test}"
    if args.format == "json":
        print(_dump_json({"calibrated_on": str(args.train), "scored_on": str(args.test or args.train),
                          "n_test": test.n_queries, "models": models}))
        return 0
    frame = pd.concat([pd.DataFrame(m["signals"]).assign(model=m["model"]) for m in models])
    frame = frame[["model"] + [c for c in frame.columns if c != "model"]]
    if args.format == "csv":
        from .common import write_frame

        write_frame(frame)
        return 0
    print(_table(f"Confidence signals (each calibrated per model on {args.train}, {where})", frame,
                 "AUROC with 95% DeLong interval (correct answers positive); ECE over quantile bins and Brier of the "
                 "calibrated signal; PRR 1 oracle, 0 random; *_ci_low/high: 95% percentile bootstrap over answers; "
                 "delta_auroc, z, pvalue: paired DeLong test against the "
                 "'reference' signal (the highest AUROC)."))
    return 0


def cmd_capability(args: argparse.Namespace) -> int:
    """Per model response/instance/group ECE against group accuracy, grouping queries by a CSV column."""
    import pandas as pd

    from probcascade.calibration.capability import capability_calibration

    from .main import _dump_json

    _, test, _, phi = _load(args)
    groups = read_query_column(args.test or args.train, test, args.group)
    results = {m: capability_calibration(phi[:, j], test.correct[:, j], groups, n_bins=args.bins)
               for j, m in enumerate(test.models)}
    if args.format == "json":
        print(_dump_json({"group_column": args.group, "n_test": test.n_queries, "models": [
            {"model": m, **r.to_dict(),
             "groups": r.groups.reset_index().rename(columns={"group": args.group}).to_dict(orient="records")}
            for m, r in results.items()]}))
        return 0
    flat = pd.DataFrame([{"model": m, **{k: v for k, v in r.to_dict().items() if k not in ("n_bins", "strategy")}}
                         for m, r in results.items()])
    if args.format == "csv":     # the per-model table (the per-group gaps are in --format json)
        from .common import write_frame

        write_frame(flat)
        return 0
    print(_table(f"Capability calibration by '{args.group}' (calibrated on {args.train}, scored on "
                 f"{args.test or args.train})", flat,
                 f"ECE response / instance: {args.bins} quantile bins of the confidence against the 0/1 outcome / the "
                 f"query's {args.group} accuracy; ECE group: the {args.group}s as bins."))
    gaps = pd.DataFrame({m: r.groups["gap"] for m, r in results.items()})
    gaps.insert(0, "n", next(iter(results.values())).groups["n"])
    print(_table(f"{args.group} confidence minus {args.group} accuracy (> 0: over-confident)",
                 gaps.reset_index().rename(columns={"group": args.group})))
    return 0


def _float_list(text: str, name: str) -> np.ndarray:
    """Comma-separated numbers, or a DataValidationError naming the option."""
    from probcascade.exceptions import DataValidationError

    try:
        return np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise DataValidationError(f"{name} must be comma-separated numbers, got {text!r}") from None


# ------------------------------------------------------------------------------------------------ parsers
def _fraction(name: str):
    def parse(value: str) -> float:
        try:
            v = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number in [0, 1], got {value!r}") from None
        if not 0.0 <= v <= 1.0:
            raise argparse.ArgumentTypeError(f"{name} must lie in [0, 1], got {v}")
        return v
    return parse


def add_subcommands(sub) -> None:
    """Add ``route``, ``reject``, ``signals`` and ``capability`` to the ``probcascade`` subparsers (no heavy imports)."""
    fmt = {"choices": ["table", "json", "csv"], "default": "table"}
    r = sub.add_parser(
        "route", help="parity routing rate of a small -> large pair with a bootstrap interval, cost saved, AIQ",
        description="Calibrate on TRAIN (the study's transform), route TEST's least confident queries of the small "
                    "model to the large one and report the parity routing rate (the least share routed at which the "
                    "routed system matches the large model's accuracy) with a percentile bootstrap interval over "
                    "queries, the mean cost per query at parity against the large model alone (test mean costs; "
                    "the small model answers every query) and the AIQ of the routing curve. "
                    "Example: probcascade route mmlu_llama_train.csv --test mmlu_llama_test.csv "
                    "--small llama3.1-8b --large llama3.1-405b; for a prefix: --small llama3.1-8b,llama3.1-70b "
                    "--thresholds 0.8 --large llama3.1-405b")
    r.add_argument("train", help="tidy long CSV to calibrate on")
    r.add_argument("--test", required=True, help="tidy long CSV to score on")
    r.add_argument("--small", required=True,
                   help="the model answering first, or a cascade prefix m1,m2,... (then give --thresholds)")
    r.add_argument("--thresholds", metavar="T1,...",
                   help="deferral thresholds (calibrated confidences) of a prefix given to --small, one per model "
                        "but its last")
    r.add_argument("--large", required=True, help="the model routed to")
    r.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates (0: no interval; default 1000)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--tolerance", type=_fraction("--tolerance"), default=0.0,
                   help="parity means accuracy >= the large model's minus TOLERANCE (default 0)")
    r.add_argument("--format", **fmt)
    r.set_defaults(func=cmd_route)

    j = sub.add_parser(
        "reject", help="rejection per model: AURC, E-AURC, PRR, accuracy at a coverage, the Appendix E check",
        description="Calibrate on TRAIN, answer only TEST's most confident queries and report per model the "
                    "risk-coverage area (AURC, E-AURC), the prediction-rejection ratio, the accuracy at a coverage, "
                    "the coverage at a target accuracy and the study's Appendix E check (accuracy among conf >= q "
                    "is at least q, with Clopper-Pearson bands). "
                    "Example: probcascade reject mmlu_llama_train.csv --test mmlu_llama_test.csv --coverage 0.8 "
                    "--target-accuracy 0.9")
    j.add_argument("train", help="tidy long CSV to calibrate on")
    j.add_argument("--test", required=True, help="tidy long CSV to score on")
    j.add_argument("--coverage", type=_fraction("--coverage"), default=0.8,
                   help="share answered for 'accuracy at coverage' (default 0.8)")
    j.add_argument("--target-accuracy", type=_fraction("--target-accuracy"), default=None,
                   help="report the largest coverage whose accuracy reaches this (default: not reported)")
    j.add_argument("--format", **fmt)
    j.set_defaults(func=cmd_reject)

    s = sub.add_parser(
        "signals", help="compare confidence signal columns on the same answers (AUROC, ECE, Brier, PRR, DeLong)",
        description="For every model, calibrate each confidence signal column on FILE (a log-probability column "
                    "with the study's logistic calibrator, any other score by logistic regression on its value, "
                    "which also orients entropies) and compare them on TEST (default: FILE itself, in-sample): "
                    "AUROC with DeLong interval, ECE, Brier, PRR and the paired DeLong test against the best. "
                    "Signal columns: 'raw_logprob' and the 'signal_<name>' columns the Torch bridge writes. "
                    "Example: probcascade signals train.csv --test test.csv --signals raw_logprob,"
                    "signal_sequence_prob")
    s.add_argument("train", metavar="FILE", help="tidy long CSV with the signal columns (calibrated on)")
    s.add_argument("--test", help="tidy long CSV to score on (default: FILE)")
    s.add_argument("--signals", help="comma-separated columns (default: raw_logprob and every signal_* column)")
    s.add_argument("--bins", type=int, default=10, help="quantile bins of the ECE (default 10)")
    s.add_argument("--n-boot", type=int, default=1000,
                   help="bootstrap replicates of the ECE, Brier and PRR intervals (default 1000; 0: none)")
    s.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    s.add_argument("--format", **fmt)
    s.set_defaults(func=cmd_signals)

    c = sub.add_parser(
        "capability", help="capability calibration: instance- vs group-level ECE against group accuracy",
        description="Calibrate on TRAIN, group TEST's queries by a column of the CSV (e.g. 'subject') and report "
                    "per model the response ECE (against 0/1 correctness), the instance ECE (each query's "
                    "confidence against its group's accuracy), the group ECE (group mean confidence against group "
                    "accuracy) and, per group, confidence minus accuracy. "
                    "Example: probcascade capability mmlu_llama_train.csv --test mmlu_llama_test.csv --group subject")
    c.add_argument("train", help="tidy long CSV to calibrate on")
    c.add_argument("--test", required=True, help="tidy long CSV to score on (must have the group column)")
    c.add_argument("--group", required=True, help="column naming each query's group (e.g. subject)")
    c.add_argument("--bins", type=int, default=10, help="quantile bins of the response/instance ECE (default 10)")
    c.add_argument("--format", **fmt)
    c.set_defaults(func=cmd_capability)
