"""Operating points of ``probcascade tune``: ``--target-accuracy``, ``--budget``, ``--delta`` (a certified point,
Learn-then-Test on a held-out part of TRAIN), ``--holdout`` and ``--out`` (the rational frontier as CSV or JSON).

:func:`add_operating_point_options` adds the options to the ``tune`` parser (JAX-free); ``cmd_tune`` calls
:func:`split_train` before tuning, :func:`operating_points` after it, and :func:`write_frontiers` for ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from probcascade.exceptions import DataValidationError

#: Infill mass (eq. 13) of the frontier whose points are certified under --delta: a denser candidate list than the
#: default q = 0.1 lets the fixed sequence stop closer to the target (experiments/results/guarantees_validity.md).
CERTIFY_INFILL_Q = 0.02

__all__ = ["CERTIFY_INFILL_Q", "add_operating_point_options", "check_options", "split_train", "operating_points", "frontier_table",
           "write_frontiers", "format_points"]


def add_operating_point_options(t: argparse.ArgumentParser) -> None:
    """The operating-point options of ``tune``."""
    t.add_argument("--target-accuracy", type=float, default=None, metavar="A",
                   help="choose per cascade the cheapest point whose predicted accuracy is >= A (and, with --delta, "
                        "certify one)")
    t.add_argument("--budget", type=float, default=None, metavar="USD",
                   help="choose per cascade the most accurate point with predicted cost per query <= USD")
    t.add_argument("--delta", type=float, default=None, metavar="D",
                   help="with --target-accuracy: certify the cheapest point whose accuracy is >= A with probability "
                        ">= 1 - D (Learn-then-Test, exact binomial p-values) on a random held-out part of TRAIN "
                        "(--holdout); the model and frontier (infilled to mass 0.02) are then fitted on the rest of TRAIN")
    t.add_argument("--holdout", type=float, default=0.5, metavar="FRACTION",
                   help="share of TRAIN held out for --delta (default 0.5; split with --seed)")
    t.add_argument("--out", default=None, metavar="FILE",
                   help="write the rational frontier of every cascade to FILE (.csv or .json): columns cascade, lam, "
                        "threshold_<model>, p_correct, e_cost, source (sweep|infill|gap)")


def check_options(args: argparse.Namespace) -> None:
    """Bad option values as :class:`DataValidationError` (exit code 2), before any work."""
    from probcascade.validation import check_float, check_probability

    if args.target_accuracy is not None:
        check_float(args.target_accuracy, "--target-accuracy", low=0.0, high=1.0, low_open=True, high_open=True)
    if args.budget is not None:
        check_float(args.budget, "--budget", low=0.0, low_open=True, note="USD per query")
    if args.delta is not None:
        check_probability(args.delta, "--delta")
        if args.target_accuracy is None:
            raise DataValidationError("--delta certifies an accuracy: give --target-accuracy A too")
    check_probability(args.holdout, "--holdout")
    if args.out is not None and Path(args.out).suffix.lower() not in (".csv", ".json"):
        raise DataValidationError(f"--out {args.out}: the file name must end in .csv or .json")


def split_train(train, args: argparse.Namespace):
    """(fit part, held-out part or None, a sentence that states the split)."""
    if args.delta is None:
        return train, None, None
    n = train.n_queries
    n_hold = int(round(args.holdout * n))
    if n_hold < 10 or n - n_hold < 10:
        raise DataValidationError(f"--holdout {args.holdout}: {n} TRAIN queries leave {n - n_hold} to fit and "
                                  f"{n_hold} to certify on; both need at least 10")
    perm = np.random.default_rng(args.seed).permutation(n)
    hold, fit = np.sort(perm[:n_hold]), np.sort(perm[n_hold:])
    note = (f"certification (--delta {args.delta:g}): model, calibration and frontier fitted on {n - n_hold} of the "
            f"{n} TRAIN queries; {n_hold} held out (random split, --holdout {args.holdout:g}, --seed {args.seed}) "
            f"to certify accuracy >= {args.target_accuracy:g} with probability >= {1 - args.delta:g}")
    return train.take(fit), train.take(hold), note


def _thresholds(models, row) -> dict:
    return {m: float(row[f"threshold_{i + 1}"]) for i, m in enumerate(models[:-1])}


def _test_scores(fr, phi_te, correct_te, cost_te, thresholds):
    from probcascade.evaluation.routing import route

    r = route(phi_te, correct_te, cost_te, np.atleast_2d(thresholds))
    return float(1.0 - r.error[0]), float(r.cost[0])


def operating_points(report, test, holdout, args: argparse.Namespace) -> list[dict]:
    """Per cascade of ``report``: ``operating_points`` (the --target-accuracy / --budget choices on the rational
    frontier, with test accuracy and cost when ``test`` is given) and ``certified`` (with --delta)."""
    out = []
    phi_te = None if test is None else report.calibration.predict(test.subset(report.model.models))
    names = list(report.model.models)
    for res in report.results:
        fr = res.frontiers["rational"]
        idx = [names.index(m) for m in fr.models]
        f = fr.frame
        rows = []
        if args.target_accuracy is not None:
            ok = f[f["p_correct"] >= args.target_accuracy]
            row = ok.sort_values(["e_cost", "p_correct"], ascending=[True, False], kind="stable").iloc[0] \
                if len(ok) else None
            rows.append((f"accuracy >= {args.target_accuracy:g}", row,
                         None if len(ok) else f"no point is predicted to reach accuracy {args.target_accuracy:g} "
                                              f"(best {f['p_correct'].max():.4f})"))
        if args.budget is not None:
            ok = f[f["e_cost"] <= args.budget]
            row = ok.sort_values(["p_correct", "e_cost"], ascending=[False, True], kind="stable").iloc[0] \
                if len(ok) else None
            rows.append((f"cost <= {args.budget:g}", row,
                         None if len(ok) else f"no point is predicted to cost <= {args.budget:g} USD per query "
                                              f"(cheapest {f['e_cost'].min():.4g})"))
        points = []
        for rule, row, why in rows:
            p = {"rule": rule, "found": row is not None}
            if row is None:
                p["message"] = why
            else:
                p.update(thresholds=_thresholds(fr.models, row), predicted_accuracy=float(row["p_correct"]),
                         predicted_cost=float(row["e_cost"]))
                if test is not None:
                    p["test_accuracy"], p["test_cost"] = _test_scores(fr, phi_te[:, idx], test.correct[:, idx],
                                                                      test.cost.mean(axis=0)[idx],
                                                                      list(p["thresholds"].values()))
            points.append(p)
        entry = {"operating_points": points}
        if holdout is not None:
            cert = fr.certify(holdout, target=args.target_accuracy, delta=args.delta, calibration=report.calibration)
            c = cert.to_dict()
            if test is not None and cert.certified:
                c["test_accuracy"], c["test_cost"] = _test_scores(fr, phi_te[:, idx], test.correct[:, idx],
                                                                  test.cost.mean(axis=0)[idx], cert.thresholds)
            entry["certified"] = c
        out.append(entry)
    return out


def format_points(report, entries: list[dict], note: str | None) -> str:
    """The chosen and certified points as text tables."""
    import pandas as pd

    lines = []
    fmt = lambda th: ", ".join(f"{m}={v:.4f}" for m, v in th.items())  # noqa: E731
    rows = [{"cascade": " -> ".join(r.models), "rule": p["rule"],
             "thresholds": fmt(p["thresholds"]) if p["found"] else p["message"],
             "pred_acc": p.get("predicted_accuracy"), "pred_cost": p.get("predicted_cost"),
             "test_acc": p.get("test_accuracy"), "test_cost": p.get("test_cost")}
            for r, e in zip(report.results, entries) for p in e["operating_points"]]
    if rows:
        lines += ["", "Operating points (rational frontier; test columns with --test)",
                  pd.DataFrame(rows).dropna(axis=1, how="all").to_string(index=False, float_format="{:.6g}".format)]
    certs = [(r, e["certified"]) for r, e in zip(report.results, entries) if "certified" in e]
    if certs:
        lines += ["", note or ""]
        crow = [{"cascade": " -> ".join(r.models), "certified": c["certified"],
                 "thresholds": fmt(c["thresholds"]) if c["certified"] else "-", "bound": c["bound"],
                 "cal_acc": c["calibration_accuracy"], "cal_cost": c["calibration_cost"],
                 "test_acc": c.get("test_accuracy"), "test_cost": c.get("test_cost"),
                 "tested": c["n_tested"], "candidates": c["n_candidates"]} for r, c in certs]
        lines.append(pd.DataFrame(crow).dropna(axis=1, how="all").to_string(index=False, float_format="{:.6g}".format))
        lines += [f"{' -> '.join(r.models)}: {c['message']}" for r, c in certs if not c["certified"]]
        if len(certs) > 1:
            lines.append(f"Each cascade's certificate holds on its own; to pick the cheapest across the {len(certs)} "
                         f"cascades keep the guarantee by running with --delta {certs[0][1]['delta'] / len(certs):.3g} "
                         "(delta divided by the number of cascades).")
    return "\n".join(lines)


def _sources(fr, max_cost_gap) -> list[str]:
    """Where each point of a rational frontier came from: ``sweep`` (a lambda of eq. 12), ``infill`` (a midpoint of
    eq. 13) or ``gap`` (a cost-targeted solve, only with --max-cost-gap). Infilled points are recognised as exact
    midpoints of two other points of the frontier (a gap solve never lands on one)."""
    lam = fr.frame["lam"].to_numpy()
    thr = fr.thresholds
    out = []
    for i in range(len(lam)):
        if np.isfinite(lam[i]):
            out.append("sweep")
        elif max_cost_gap is None:
            out.append("infill")
        else:
            mid = 0.5 * (thr[:, None, :] + thr[None, :, :])
            hit = np.all(np.abs(mid - thr[i]) <= 1e-12 * (1 + np.abs(thr[i])), axis=-1)
            hit[i, :] = hit[:, i] = False
            out.append("infill" if hit.any() else "gap")
    return out


def frontier_table(report, max_cost_gap=None):
    """The rational frontier of every cascade in one long table: cascade, lam, threshold_<model> (NaN for models
    outside the cascade or last in it), p_correct, e_cost, source."""
    import pandas as pd

    frames = []
    for res in report.results:
        fr = res.frontiers["rational"]
        f = pd.DataFrame({"cascade": "->".join(fr.models), "lam": fr.frame["lam"]})
        for i, m in enumerate(fr.models[:-1]):
            f[f"threshold_{m}"] = fr.frame[f"threshold_{i + 1}"]
        f["p_correct"], f["e_cost"], f["source"] = fr.frame["p_correct"], fr.frame["e_cost"], _sources(fr, max_cost_gap)
        frames.append(f)
    table = pd.concat(frames, ignore_index=True)
    ths = [f"threshold_{m}" for m in report.model.models if f"threshold_{m}" in table.columns]
    return table[["cascade", "lam", *ths, "p_correct", "e_cost", "source"]]


def write_frontiers(report, path: str, max_cost_gap=None) -> Path:
    """``--out``: the frontier table as CSV or JSON (records; NaN as null) by the file's suffix."""
    import json

    table = frontier_table(report, max_cost_gap)
    out = Path(path)
    try:
        if out.suffix.lower() == ".json":
            records = json.loads(table.to_json(orient="records"))
            out.write_text(json.dumps(records, indent=1))
        else:
            table.to_csv(out, index=False)
    except OSError as exc:
        raise DataValidationError(f"--out {path}: cannot write the frontier ({exc.strerror or exc})") from None
    return out
