"""Credible bands of the posterior predictive frontier (:func:`probcascade.posterior.predictive.frontier_bands`)."""

from __future__ import annotations

import pandas as pd

__all__ = ["plot_frontier_bands"]


def plot_frontier_bands(bands: pd.DataFrame, ax=None, cost_scale: float = 1e6,
                        cost_label: str = "cost (USD per 1M queries)", label: str = "posterior mean",
                        color=None, alpha: float = 0.25, show_test: bool = True, **kwargs):
    """Error against cost of a frontier with its posterior credible band.

    ``bands``: the frame of :func:`~probcascade.posterior.predictive.frontier_bands` (``e_cost_mean``,
    ``p_correct_mean``/``_lo``/``_hi``; ``test_cost``/``test_accuracy`` too when scored on test data, drawn as
    points with ``show_test``). The band is the interval of the error (1 - P(Correct)) at each point's posterior
    mean cost. Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    b = bands.sort_values("e_cost_mean")
    x = b["e_cost_mean"].to_numpy() * cost_scale
    (line,) = ax.plot(x, 1.0 - b["p_correct_mean"].to_numpy(), label=label, color=color, **kwargs)
    ax.fill_between(x, 1.0 - b["p_correct_hi"].to_numpy(), 1.0 - b["p_correct_lo"].to_numpy(),
                    color=line.get_color(), alpha=alpha, linewidth=0, label="credible band")
    if show_test and {"test_cost", "test_accuracy"} <= set(b.columns):
        ax.plot(b["test_cost"].to_numpy() * cost_scale, 1.0 - b["test_accuracy"].to_numpy(), "o", ms=3,
                color=line.get_color(), alpha=0.7, label="test")
    ax.set_xlabel(cost_label)
    ax.set_ylabel("error rate")
    ax.legend(frameon=False)
    return ax
