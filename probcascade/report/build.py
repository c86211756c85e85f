"""Build the report of a cascade from a training and a test split (what ``probcascade report`` writes).

:func:`build_report` calibrates on train, runs the goodness-of-fit battery (with a small bootstrap by default, so
that a shared benchmark takes about a minute; ``gof_bootstrap`` for finer p-values), tunes every sub-cascade by
rational tuning (the full cascade also by grid search, the baseline), and chooses the operating point for a budget
or a target error on the model's predictions from train, reported with its test cost and error.
"""

from __future__ import annotations

import datetime as _dt
import warnings

import numpy as np
import pandas as pd

from probcascade._version import __version__
from probcascade.calibration.calibrators import calibrate
from probcascade.data.cascade import CascadeData
from probcascade.exceptions import DataValidationError, ProbcascadeWarning
from probcascade.gof.report import goodness_of_fit
from probcascade.pipeline import tune_cascades
from probcascade.plots import plot_frontier, plot_style
from probcascade.progress import bar
from probcascade.summary import Summary
from probcascade.validation import check_float, check_int

from .document import CascadeReport, ReportFigure, ReportSection, figure_png
from .operating import best_per_budget, candidate_points, choose_point, single_model_points, threshold_table
from .sections import calibration_section, data_section, gof_section, markov_section

__all__ = ["build_report", "SECTION_KEYS"]

#: Section keys of a report, in order (the HTML ``id`` of every section).
SECTION_KEYS = ("data", "calibration", "gof", "markov", "frontier", "recommendation")


def _frontier_sections(tuned, grid, train: CascadeData, test: CascadeData, phi_test: np.ndarray, *,
                       budget: float | None, target_error: float | None) -> list[ReportSection]:
    full = " -> ".join(train.models)
    cands = candidate_points(tuned)
    point, why = choose_point(cands, budget=budget, target_error=target_error,
                              fallback_error=float(1.0 - train.accuracy.max()))
    budgets = np.geomspace(cands["pred_cost"].min(), cands["pred_cost"].max(), 8)
    per_budget = best_per_budget(cands, full, budgets)
    dense = best_per_budget(cands, full, np.geomspace(cands["pred_cost"].min(), cands["pred_cost"].max(), 60))
    full_res = next(r for r in tuned.results if " -> ".join(r.models) == full)
    grid_res = grid.results[0]
    aucs = {"rational": full_res.auc.get("rational", np.nan), **{m: grid_res.auc.get(m, np.nan) for m in grid.methods}}

    def curve(pts: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"test_cost": pts[:, 0], "test_error": 1.0 - pts[:, 1]})

    best_curve = dense.dropna(subset=["test error"]).drop_duplicates("test cost/1M")
    curves = {"rational tuning, full cascade": curve(full_res.test_points["rational"]),
              "grid search, full cascade": curve(grid_res.test_points[grid.methods[0]])}
    if len(tuned.results) > 1:     # with --cascades full the best sub-cascade is the full cascade itself
        curves["best sub-cascade per budget"] = pd.DataFrame({"test_cost": best_curve["test cost/1M"] / 1e6,
                                                              "test_error": best_curve["test error"]})
    chosen = pd.DataFrame({"label": ["recommended"], "cost": [point["test_cost"]], "error": [point["test_error"]]})
    with plot_style():
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter

        fig, ax = plt.subplots(figsize=(7.2, 4.4))
        plot_frontier(curves, ax=ax, which="test", marker=".", baselines=single_model_points(test),
                      operating_points=chosen)
        ax.set_xscale("log")
        # plain numbers (20, 50, 100 rather than 2 x 10^1); minor labels only at 2, 3 and 5 times a power of ten
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:e}"[0] in "235" else ""))
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))   # beside the axes, off the data
    fig_frontier = ReportFigure("frontier", figure_png(fig),
                                "Test error against mean test cost: the full cascade tuned by rational tuning and by "
                                "grid search, the best sub-cascade per budget (chosen on train), each model alone "
                                "(squares) and the recommended operating point (star). Cost axis logarithmic.")
    s = Summary()
    s.add_dict({"cascade": full, **{f"test AUC, {m}": v for m, v in aucs.items()}}, "Full cascade",
               float_format="{:.4f}")
    s.add_table(per_budget, "Best sub-cascade per budget (chosen on train, scored on test; costs per 1M queries)",
                index=False, float_format="{:.4g}")
    if len(tuned.results) == 1:
        s.add_note("Only the full cascade was tuned (cascades='full'), so the best sub-cascade is the full cascade.")
    s.add_note("AUC: area under the test error-cost curve over the cost range both methods share, divided by its "
               "length (the study's metric; lower is better). Budgets are mean costs per query, spaced evenly on a "
               "log scale over the predicted costs of all operating points.")
    frontier = ReportSection("frontier", "Error-cost frontier",
                             (f"Every ordered sub-cascade of the {train.n_models} models ({len(tuned.results)} "
                              "cascades) tuned by rational tuning on train; the full cascade also by grid search.",),
                             s, [fig_frontier])

    rec = Summary()
    rec.add_dict({"cascade": point["cascade"], "predicted cost per 1M": point["pred_cost"] * 1e6,
                  "predicted error": point["pred_error"], "test cost per 1M": point["test_cost"] * 1e6,
                  "test error": point["test_error"]}, "Recommended operating point", float_format="{:.4g}")
    rec.add_table(threshold_table(tuned, point, test, phi_test), "Thresholds on the calibrated confidence",
                  float_format="{:.4f}")
    rec.add_note("A query stops at a model when that model's calibrated confidence exceeds its threshold; the last "
                 "model answers everything that reaches it. Calibrators: those fitted on the training split.")
    ask = (f"For the budget of {budget:.3g} USD per query ({budget * 1e6:.4g} USD per 1M queries)"
           if budget is not None else
           f"For the target error {target_error:g}" if target_error is not None else
           "No budget (--budget) or target error (--target-error) was given")
    recommendation = ReportSection("recommendation", "Recommended thresholds",
                                   (f"{ask}: the operating point with the {why}, over every tuned cascade, chosen on "
                                    "the model's predictions from the training split and scored on the test split.",),
                                   rec)
    return [frontier, recommendation]


def build_report(train: CascadeData, test: CascadeData, *, budget: float | None = None,
                 target_error: float | None = None, transform: str = "one-sided", gof_bootstrap: int = 50,
                 corp_bootstrap: int = 200, cascades: str = "all", seed: int = 0, progress: bool | None = None,
                 title: str | None = None, command: str | None = None, family: str = "gumbel",
                 correctness: str = "marginal") -> CascadeReport:
    """The full report of a cascade: data, calibration, goodness of fit, Markov check, frontier, recommendation.

    Parameters
    ----------
    train, test : CascadeData
        Same models; test is put in train's order.
    budget : float, optional
        Mean cost per query in USD; the recommendation is the least predicted error within it.
    target_error : float, optional
        Error rate in (0, 1); the recommendation is the least predicted cost reaching it. With neither, the target
        is the training error of the most accurate single model.
    transform : str
        Calibration transform (``"one-sided"`` for multiple choice, ``"two-sided"`` for open-ended answers).
    gof_bootstrap, corp_bootstrap : int
        Bootstrap replicates of the goodness-of-fit tests and of the CORP bands and ECE intervals.
    cascades : str
        ``"all"`` (every ordered sub-cascade, for the best sub-cascade per budget) or ``"full"`` (only the full
        cascade: faster).
    seed : int
    progress : bool, optional
        Progress bar on stderr (:func:`probcascade.progress.bar`); None: the context's setting (the command line
        turns it on when stderr is a terminal).
    title, command : str, optional
        Page title and the command line shown under it.
    family, correctness : str
        The Markov-copula model of the goodness-of-fit tests and of rational tuning (see
        :class:`~probcascade.TuneOptions`; default the study's model). ``probcascade report`` passes the model of
        :func:`probcascade.tuning.recommended.resolve_model` (its ``--copula``/``--correctness``, default ``auto``).
    """
    for name, value in (("train", train), ("test", test)):
        if not isinstance(value, CascadeData):
            raise DataValidationError(f"'{name}' must be CascadeData, got {type(value).__name__}")
    if budget is not None and target_error is not None:
        raise DataValidationError("give either --budget or --target-error, not both")
    if budget is not None:
        check_float(budget, "budget", low=0.0)
    if target_error is not None:
        check_float(target_error, "target_error", low=0.0, high=1.0)
    check_int(gof_bootstrap, "gof_bootstrap", low=1)
    check_int(corp_bootstrap, "corp_bootstrap", low=1)
    if cascades not in ("all", "full"):
        raise DataValidationError(f"'cascades' must be 'all' or 'full', got {cascades!r}")
    missing = [m for m in train.models if m not in test.models]
    if missing:
        raise DataValidationError(f"test data lacks model(s) {missing} present in the training data")
    test = test.subset(train.models)
    pb = bar(total=5, desc="probcascade report", unit="step", progress=progress)
    step = pb.set_postfix_str

    step("calibration")
    cal = calibrate(train, transform=transform)
    phi_train, phi_test = cal.predict(train), cal.predict(test)
    sections = [data_section(train, test),
                calibration_section(cal, test, phi_test, n_boot=int(corp_bootstrap), seed=int(seed))]
    pb.update()
    step(f"goodness of fit (B = {gof_bootstrap})")
    gof = goodness_of_fit(train, test, transform=transform, n_boot=int(gof_bootstrap), seed=int(seed), family=family)
    pb.update()
    step("figures")
    sections += [gof_section(gof, phi_test, phi_train), markov_section(gof)]
    pb.update()
    step("tuning")
    spec = "all" if cascades == "all" else ",".join(train.models)
    with warnings.catch_warnings():   # a cost-order warning per cascade is noise here: the table shows the costs
        warnings.simplefilter("ignore", ProbcascadeWarning)
        tuned = tune_cascades(train, test, transform=transform, cascades=spec, methods=("rational",),
                              seed=int(seed), progress=False, family=family, correctness=correctness)
        grid = tune_cascades(train, test, transform=transform, cascades=",".join(train.models), methods=("grid",),
                             seed=int(seed), progress=False)
    pb.update()
    step("frontier")
    sections += _frontier_sections(tuned, grid, train, test, phi_test, budget=budget, target_error=target_error)
    pb.update()
    pb.close()
    meta = {"train": train.name, "test": test.name, "models": ", ".join(train.models), "transform": transform,
            "model": f"copula {family}, correctness {correctness}",
            "GoF bootstrap": int(gof_bootstrap), "CORP bootstrap": int(corp_bootstrap), "seed": int(seed),
            "probcascade": __version__, "written": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    if command:
        meta["command"] = command
    return CascadeReport(title or f"Cascade report: {train.name} / {test.name}", meta, sections)
