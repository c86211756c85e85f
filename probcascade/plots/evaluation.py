"""Plots of the decision analyses beyond thresholds: risk-coverage curves (rejection), routing curves with the
parity rate, and a forest plot comparing confidence signals.

Each function draws the result object of :mod:`probcascade.evaluation` (or the table of
:func:`~probcascade.evaluation.compare_signals`) on an optional Axes and returns the Axes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from probcascade.evaluation.rejection import RiskCoverage
from probcascade.evaluation.routing_analysis import ParityResult, RoutingCurve
from probcascade.exceptions import DataValidationError

__all__ = ["plot_risk_coverage", "plot_routing_curve", "plot_signals"]


def _axes(ax, size=(5.0, 4.0)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_risk_coverage(curves, ax=None, *, oracle: bool = False):
    """Risk (error among answered) against coverage for one or several signals or models.

    Parameters
    ----------
    curves : RiskCoverage or mapping of label -> RiskCoverage
        From :func:`probcascade.evaluation.risk_coverage`.
    ax : matplotlib Axes, optional
    oracle : bool
        Also draw each curve's oracle (ordering by correctness) as a dotted line.
    """
    if isinstance(curves, RiskCoverage):
        curves = {"": curves}
    if not curves or not all(isinstance(c, RiskCoverage) for c in curves.values()):
        raise DataValidationError("'curves' must be a RiskCoverage or a non-empty mapping of label -> RiskCoverage")
    ax = _axes(ax)
    for i, (label, rc) in enumerate(curves.items()):
        name = f"{label} (AURC {rc.aurc:.3f})" if label else f"AURC {rc.aurc:.3f}"
        ax.plot(rc.coverage, rc.risk, color=f"C{i}", label=name)
        if oracle:
            err = 1.0 - rc.accuracy[-1]
            k = np.arange(1, rc.coverage.size + 1)
            wrong = np.maximum(k - (1 - err) * rc.coverage.size, 0.0) / k   # errors only once the correct run out
            ax.plot(rc.coverage, wrong, color=f"C{i}", ls=":", lw=1)
    ax.set_xlabel("coverage (share answered, most confident first)")
    ax.set_ylabel("risk (error among answered)")
    ax.set_xlim(0, 1)
    ax.legend(frameon=False, fontsize=8)
    return ax


def plot_routing_curve(curve: RoutingCurve, ax=None, *, parity: ParityResult | None = None, x: str = "rate",
                       label: str | None = None):
    """System accuracy as the share routed to the large model grows (``x="rate"``) or against mean cost per query
    (``x="cost"``), with the small and large models' accuracies as reference lines and, when ``parity`` is given,
    the parity routing rate and its bootstrap interval (``x="rate"`` only)."""
    if not isinstance(curve, RoutingCurve):
        raise DataValidationError("'curve' must be a RoutingCurve (probcascade.evaluation.routing_curve)")
    if x not in ("rate", "cost"):
        raise DataValidationError(f"'x' must be 'rate' or 'cost', got {x!r}")
    if x == "cost" and curve.cost is None:
        raise DataValidationError("the routing curve has no costs: pass 'cost' to routing_curve to plot against cost")
    ax = _axes(ax)
    xs = curve.rate if x == "rate" else curve.cost
    ax.plot(xs, curve.accuracy, color="C0", label=label or "routed system")
    ax.axhline(curve.accuracy_large, color="0.3", ls="--", lw=1, label=f"large model ({curve.accuracy_large:.3f})")
    ax.axhline(curve.accuracy_small, color="0.6", ls=":", lw=1, label=f"small model ({curve.accuracy_small:.3f})")
    if parity is not None and x == "rate":
        ax.axvline(parity.rate, color="C3", lw=1, label=f"parity rate {parity.rate:.3f}")
        if np.isfinite(parity.ci_low) and np.isfinite(parity.ci_high):
            ax.axvspan(parity.ci_low, parity.ci_high, color="C3", alpha=0.15, lw=0,
                       label=f"{100 * parity.level:g}% interval")
    ax.set_xlabel("share routed to the large model" if x == "rate" else "mean cost per query")
    ax.set_ylabel("accuracy")
    ax.legend(frameon=False, fontsize=8)
    return ax


def plot_signals(table: pd.DataFrame, ax=None, *, metric: str = "auroc"):
    """Forest plot of one metric per confidence signal with its interval, from
    :func:`~probcascade.evaluation.compare_signals` (``metric`` in auroc, ece, brier, prr)."""
    if metric not in ("auroc", "ece", "brier", "prr"):
        raise DataValidationError(f"'metric' must be one of auroc, ece, brier, prr, got {metric!r}")
    need = {"signal", metric, f"{metric}_ci_low", f"{metric}_ci_high"}
    if not isinstance(table, pd.DataFrame) or not need <= set(table.columns):
        raise DataValidationError(f"'table' must be compare_signals' DataFrame with columns {sorted(need)}")
    ax = _axes(ax, (5.0, 0.5 + 0.45 * len(table)))
    y = np.arange(len(table))[::-1]
    value = table[metric].to_numpy(float)
    lo, hi = table[f"{metric}_ci_low"].to_numpy(float), table[f"{metric}_ci_high"].to_numpy(float)
    err = np.vstack([np.clip(value - lo, 0, None), np.clip(hi - value, 0, None)])
    ax.errorbar(value, y, xerr=np.nan_to_num(err), fmt="o", color="C0", capsize=3)
    ax.set_yticks(y, table["signal"].astype(str))
    ax.set_xlabel(metric.upper() if metric != "brier" else "Brier score")
    ax.grid(axis="x", alpha=0.3)
    return ax
