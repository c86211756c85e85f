"""Reliability diagram."""

from __future__ import annotations

import numpy as np

from probcascade.calibration.metrics import ece, reliability_table

__all__ = ["plot_reliability"]


def plot_reliability(scores, correct, n_bins: int = 10, strategy: str = "quantile", ax=None, label: str | None = None,
                     show_counts: bool = True):
    """Reliability diagram: accuracy (with 95% Wilson intervals) against mean confidence per bin.

    Parameters
    ----------
    scores, correct : array-like
        Calibrated confidences in [0, 1] and 0/1 correctness.
    n_bins, strategy : int, {"quantile", "uniform"}
        Binning (adaptive quantile bins by default, as in the ECE).
    ax : matplotlib Axes, optional
    label : str, optional
        Legend label; the ECE is appended.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    tab = reliability_table(scores, correct, n_bins, strategy)
    e = ece(scores, correct, n_bins, strategy)
    x, y = tab["mean_score"].to_numpy(), tab["accuracy"].to_numpy()
    yerr = np.clip(np.vstack([y - tab["acc_ci_low"].to_numpy(), tab["acc_ci_high"].to_numpy() - y]), 0.0, None)
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfect calibration")
    ax.errorbar(x, y, yerr=yerr, marker="o", ms=4, lw=1.2, capsize=2,
                label=f"{label + ': ' if label else ''}ECE = {100 * e:.1f}%")
    if show_counts:
        for xi, yi, n in zip(x, y, tab["n"].to_numpy()):
            ax.annotate(str(n), (xi, yi), textcoords="offset points", xytext=(3, -10), fontsize=6, color="0.4")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("calibrated confidence")
    ax.set_ylabel("accuracy")
    ax.set_aspect("equal")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return ax
