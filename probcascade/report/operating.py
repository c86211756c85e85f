"""Operating points of the report: every sub-cascade's frontier as one table, the best sub-cascade per budget and
the recommended thresholds for a budget or a target error.

Points are chosen on what the model predicts from the training data (``e_cost``, ``p_correct``) and reported with
their test cost and error, so that the choice never looks at the test split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from probcascade.data.cascade import CascadeData
from probcascade.exceptions import DataValidationError
from probcascade.pipeline import TuneReport

__all__ = ["candidate_points", "best_per_budget", "choose_point", "threshold_table", "single_model_points"]


def candidate_points(report: TuneReport, method: str = "rational") -> pd.DataFrame:
    """Every frontier point of every cascade of ``report``: cascade, k, row (in its frontier), predicted cost and
    error, test cost and error, thresholds (text)."""
    parts = []
    for i, r in enumerate(report.results):
        fr = r.frontiers[method]
        pts = r.test_points[method]
        thr = fr.params
        parts.append(pd.DataFrame({
            "cascade": " -> ".join(r.models), "result": i, "k": len(r.models), "row": np.arange(len(fr)),
            "pred_cost": fr.frame["e_cost"].to_numpy(), "pred_error": 1.0 - fr.frame["p_correct"].to_numpy(),
            "test_cost": pts[:, 0], "test_error": 1.0 - pts[:, 1],
            "thresholds": [", ".join(f"{t:.3f}" for t in row) for row in thr],
        }))
    return pd.concat(parts, ignore_index=True)


def _best(cands: pd.DataFrame, budget: float) -> pd.Series | None:
    ok = cands[cands["pred_cost"] <= budget]
    if ok.empty:
        return None
    return ok.sort_values(["pred_error", "pred_cost"], kind="stable").iloc[0]


def best_per_budget(cands: pd.DataFrame, full: str, budgets) -> pd.DataFrame:
    """Per budget (USD per query): the best sub-cascade (least predicted error within the budget, over every
    cascade) beside the full cascade ``full`` at the same budget, with test cost and error."""
    rows = []
    whole = cands[cands["cascade"] == full]
    for b in budgets:
        best, own = _best(cands, b), _best(whole, b)
        row = {"budget/1M": b * 1e6}
        if best is not None:
            row.update({"best cascade": best["cascade"], "test error": best["test_error"],
                        "test cost/1M": best["test_cost"] * 1e6})
        if own is not None:
            row.update({"full: test error": own["test_error"], "full: test cost/1M": own["test_cost"] * 1e6})
        rows.append(row)
    cols = ["budget/1M", "best cascade", "test error", "test cost/1M", "full: test error", "full: test cost/1M"]
    return pd.DataFrame(rows).reindex(columns=cols)


def choose_point(cands: pd.DataFrame, *, budget: float | None = None, target_error: float | None = None,
                 fallback_error: float | None = None) -> tuple[pd.Series, str]:
    """The recommended point and a sentence saying why.

    ``budget`` (USD per query): least predicted error with predicted cost within it. ``target_error``: least
    predicted cost with predicted error at most it. Neither: ``fallback_error`` is the target (the report passes the
    most accurate single model's training error); if no point reaches it, the most accurate point.
    """
    if budget is not None and target_error is not None:
        raise DataValidationError("give either 'budget' or 'target_error', not both")
    if budget is not None:
        best = _best(cands, float(budget))
        if best is None:
            raise DataValidationError(f"--budget {budget:g} USD per query is below every operating point; the "
                                      f"cheapest costs {cands['pred_cost'].min():.3g} USD per query")
        return best, "least predicted error within the budget"
    target = target_error if target_error is not None else fallback_error
    if target is not None:
        ok = cands[cands["pred_error"] <= float(target)]
        if not ok.empty:
            how = "" if target_error is not None else ", the training error of the most accurate single model"
            return (ok.sort_values(["pred_cost", "pred_error"], kind="stable").iloc[0],
                    f"least predicted cost at a predicted error of at most {float(target):.4f}{how}")
        if target_error is not None:
            raise DataValidationError(f"--target-error {target_error:g} is below every operating point's predicted "
                                      f"error; the lowest is {cands['pred_error'].min():.4f}")
    best = cands.sort_values(["pred_error", "pred_cost"], kind="stable").iloc[0]
    return best, "least predicted error (no point is predicted to reach the most accurate single model)"


def threshold_table(report: TuneReport, point: pd.Series, test: CascadeData, phi_test: np.ndarray,
                    method: str = "rational") -> pd.DataFrame:
    """Per model of the chosen point's cascade: its threshold (a query stops at the model when the calibrated
    confidence exceeds it) and the share of test queries it answers."""
    r = report.results[int(point["result"])]
    fr = r.frontiers[method]
    idx = [test.index(m) for m in r.models]
    ev = fr.evaluate(phi_test[:, idx], test.correct[:, idx], test.cost.mean(axis=0)[idx])
    row = ev.iloc[int(point["row"])]
    thr = list(fr.params[int(point["row"])]) + [np.nan]
    return pd.DataFrame({"position": np.arange(1, len(r.models) + 1), "threshold": thr,
                         "test_share_answered": [row[f"share_{m}"] for m in r.models]},
                        index=pd.Index(list(r.models), name="model"))


def single_model_points(test: CascadeData) -> pd.DataFrame:
    """Each model alone on the test data: label, mean cost per query (USD) and error."""
    return pd.DataFrame({"label": list(test.models), "cost": test.cost.mean(axis=0),
                         "error": 1.0 - test.correct.mean(axis=0)})
