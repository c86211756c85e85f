"""End-to-end runs: calibrate on train, fit the Markov-copula model, tune thresholds, score on test.

:func:`tune_cascades` is what ``probcascade tune`` and ``probcascade demo`` run. Every requested method (rational
tuning, grid search, Bayesian optimisation) is scored on the test data with the study's AUC: all methods' test
error-cost curves are integrated over the cost range they have in common and normalised by its length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import combinations
from typing import Sequence
import numpy as np
import pandas as pd
from probcascade.calibration.calibrators import CascadeCalibration, calibrate
from probcascade.data.cascade import CascadeData, warn_cost_order
from probcascade.evaluation.auc import curve_area
from probcascade.exceptions import DataValidationError
from probcascade.tuning.frontier import Frontier
from probcascade.joint.model import MarkovCopulaModel, fit_markov_copula
from probcascade.tuning.base import RationalTuner, TuningProblem, get_tuner
from probcascade.tuning.options import TuneOptions
from probcascade.progress import bar
from probcascade.summary import Summary

__all__ = ["CascadeResult", "TuneReport", "parse_cascades", "tune_cascades"]



def parse_cascades(spec: str, models: Sequence[str]) -> list[tuple[str, ...]]:
    """``"all"`` (every ordered subset of >= 2 models) or ``"m1,m2,..."`` (one cascade, in the given order)."""
    models = tuple(models)
    if spec == "all":
        return [sub for k in range(2, len(models) + 1) for sub in combinations(models, k)]
    names = tuple(s.strip() for s in spec.split(",") if s.strip())
    unknown = [m for m in names if m not in models]
    if unknown:
        raise DataValidationError(f"--cascade: unknown model(s) {unknown} (models: {list(models)})")
    if len(names) < 2:
        raise DataValidationError(f"--cascade: a cascade needs at least 2 models, got {list(names)}")
    return [names]


@dataclass
class CascadeResult:
    """One cascade's frontiers (per method) and their test-set scores."""

    models: tuple[str, ...]
    frontiers: dict[str, Frontier]
    test_points: dict[str, np.ndarray]      # (T, 2): mean cost per query (USD), test accuracy
    auc: dict[str, float]
    time_s: dict[str, float]

    def to_dict(self) -> dict:
        out = {"models": list(self.models), "k": len(self.models)}
        for m, fr in self.frontiers.items():
            params = ({"thresholds": fr.thresholds.tolist()} if fr.policy == "threshold" else
                      {"policy": fr.policy, "param_names": list(fr.param_names), "params": fr.params.tolist()})
            out[m] = {"auc": self.auc.get(m), "time_s": self.time_s[m], **params,
                      "test_points": self.test_points[m].tolist()}
        return out


@dataclass
class TuneReport:
    """Results of :func:`tune_cascades`."""

    results: list[CascadeResult]
    calibration: CascadeCalibration
    model: MarkovCopulaModel
    methods: tuple[str, ...]
    info: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for r in self.results:
            row = {"cascade": " -> ".join(r.models), "k": len(r.models)}
            for m in self.methods:
                row[f"auc_{m}"] = r.auc.get(m, np.nan)
                row[f"time_{m}_s"] = r.time_s.get(m, np.nan)
                row[f"points_{m}"] = len(r.frontiers[m])
            rows.append(row)
        return pd.DataFrame(rows)

    def to_records(self) -> list[dict]:
        return [r.to_dict() for r in self.results]

    def summary(self) -> Summary:
        """Per cascade and method: test AUC, tuning time and frontier size; the mean AUC per method when several
        methods and cascades were run (a :class:`~probcascade.summary.Summary`)."""
        f = self.to_frame()
        out = Summary(f"Test AUC of the error-cost curve (lower is better), methods: {', '.join(self.methods)}")
        out.add_table(f, index=False, float_format="{:.4f}")
        if len(self.methods) > 1 and len(f) > 1:
            out.add_dict({m: f[f"auc_{m}"].mean() for m in self.methods}, "mean AUC", float_format="{:.4f}")
        return out


def _common_aucs(curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    lo = max(float(np.min(c)) for c, _ in curves.values())
    hi = min(float(np.max(c)) for c, _ in curves.values())
    if not hi > lo:
        return {m: float("nan") for m in curves}
    return {m: curve_area(c, e, lo, hi) for m, (c, e) in curves.items()}


def tune_cascades(
    train: CascadeData,
    test: CascadeData,
    *,
    transform: str = "one-sided",
    cascades: str | Sequence[Sequence[str]] = "all",
    methods: Sequence[str] = ("rational",),
    options: TuneOptions | None = None,
    progress: bool | None = None,
    **overrides,
) -> TuneReport:
    """Calibrate on ``train``, fit the Markov-copula model, tune every cascade with every method, score on ``test``.

    ``methods`` are names of registered tuners (:func:`probcascade.tuning.tuner_names`: ``"rational"``,
    ``"grid"``, ``"bo"``, ...). ``options`` (a :class:`~probcascade.TuneOptions`, where each option is documented)
    shapes the fitted model (``family``, ``correctness``) and the tuners; ``**overrides`` change single options
    (``tune_cascades(train, test, family="aic", seed=1)``).

    Costs: thresholds are tuned with the training mean cost of each model; test points report the mean cost per query
    at the test data's mean per-model costs, as in the study.

    ``progress``: a bar on stderr over the model fit and every (cascade, method) solve (:func:`probcascade.progress.bar`;
    ``None`` follows :func:`probcascade.progress.progress_enabled`, as the command line sets it). A cascade given in
    an order that is not increasing in mean training cost gets a warning (:func:`probcascade.data.cascade.warn_cost_order`).
    """
    opt = (options or TuneOptions()).replace(**overrides) if overrides else (options or TuneOptions())
    tuners = [get_tuner(m) for m in dict.fromkeys(methods)]
    methods = tuple(tu.name for tu in tuners)
    missing = [m for m in train.models if m not in test.models]
    if missing:
        raise DataValidationError(f"test data lacks model(s) {missing} present in the training data")
    test = test.subset(train.models)
    subs = parse_cascades(cascades, train.models) if isinstance(cascades, str) else [tuple(c) for c in cascades]
    costs_tr = train.expected_costs.to_numpy()
    if not (isinstance(cascades, str) and cascades == "all"):   # 'all' keeps the data's (cost) order
        for sub in subs:
            warn_cost_order(sub, costs_tr[[train.index(m) for m in sub]], stacklevel=3)
    pb = bar(total=1 + len(subs) * len(tuners), desc="tune", unit="solve", progress=progress)
    pb.set_postfix_str("calibration and model fit")
    cal = calibrate(train, transform=transform)
    phi_tr, phi_te = cal.predict(train), cal.predict(test)
    t0 = time.perf_counter()
    model = None
    if any(tu.needs_model for tu in tuners):
        model = fit_markov_copula(phi_tr, train.models, family=opt.family,
                                  correct=train.correct if opt.correctness == "pairwise" else None)
    fit_s = time.perf_counter() - t0
    pb.update()
    costs_te = test.cost.mean(axis=0)
    results = []
    # rational tuning of several cascades: all cascades of one length in one stacked solve (tune_many); each
    # cascade's time is its share of its group's
    stacked = {}
    if len(subs) > 1 and any(isinstance(tu, RationalTuner) for tu in tuners):
        from probcascade.tuning.rational import tune_many

        pb.set_postfix_str(f"rational: {len(subs)} cascades, stacked by length")
        stacked = dict(zip(subs, tune_many(model, [costs_tr[[train.index(m) for m in sub]] for sub in subs], subs,
                                           options=opt)))
    for sub in subs:
        idx = [train.index(m) for m in sub]
        problem = TuningProblem(sub, costs_tr[idx], phi_tr[:, idx], train.correct[:, idx], model)
        frontiers, times = {}, {}
        for tuner in tuners:
            pb.set_postfix_str(f"{tuner.name}: {' -> '.join(sub)}")
            t0 = time.perf_counter()
            if isinstance(tuner, RationalTuner) and sub in stacked:
                frontiers[tuner.name] = stacked[sub]
                times[tuner.name] = stacked[sub].info["time_s"]
            else:
                frontiers[tuner.name] = tuner.frontier(problem, opt)
                times[tuner.name] = time.perf_counter() - t0
            pb.update()
        curves, points = {}, {}
        for method, fr in frontiers.items():
            ev = fr.evaluate(phi_te[:, idx], test.correct[:, idx], costs_te[idx])
            curves[method] = (ev["test_cost"].to_numpy(), ev["test_error"].to_numpy())
            points[method] = np.column_stack([curves[method][0], 1.0 - curves[method][1]])
        results.append(CascadeResult(sub, frontiers, points, _common_aucs(curves), times))
    pb.close()
    return TuneReport(results, cal, model, methods, {"fit_s": fit_s, "options": opt.to_dict()})
