"""Error-cost curves of cascades, as in Figure 5a of the study, with single-model baselines and chosen operating
points."""

from __future__ import annotations

from typing import Mapping, Sequence, Union

import numpy as np
import pandas as pd

from probcascade.exceptions import DataValidationError
from probcascade.tuning.frontier import Frontier
from probcascade.validation import check_choice

__all__ = ["plot_frontier"]

Curve = Union[Frontier, pd.DataFrame]


def _xy(curve: Curve, which: str) -> tuple[np.ndarray, np.ndarray]:
    frame = curve.frame if isinstance(curve, Frontier) else curve
    check_choice(which, "which", ("train", "test"))
    if which == "test":
        if not {"test_cost", "test_error"} <= set(frame.columns):
            raise DataValidationError("which='test' needs 'test_cost' and 'test_error' columns (from Frontier.evaluate)")
        x, y = frame["test_cost"].to_numpy(), frame["test_error"].to_numpy()
    else:
        if not {"e_cost", "p_correct"} <= set(frame.columns):
            raise DataValidationError("which='train' needs 'e_cost' and 'p_correct' columns")
        x, y = frame["e_cost"].to_numpy(), 1.0 - frame["p_correct"].to_numpy()
    order = np.argsort(x, kind="stable")
    return x[order], y[order]


def _points(ax, frame, name: str, cost_scale: float, style: dict, annotate: bool) -> None:
    """Labelled points of ``frame`` (columns label, cost, error) on ``ax``."""
    if frame is None:
        return
    if not isinstance(frame, pd.DataFrame) or not {"label", "cost", "error"} <= set(frame.columns):
        raise DataValidationError(f"'{name}' must be a DataFrame with columns 'label', 'cost' and 'error'")
    for i, row in enumerate(frame.itertuples(index=False)):
        x, y = float(row.cost) * cost_scale, float(row.error)
        label = ("single models" if i == 0 else None) if annotate else str(row.label)
        ax.plot([x], [y], label=label, **style)
        if annotate:
            ax.annotate(str(row.label), (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7, color="0.25")


def plot_frontier(
    frontier_or_frames: Curve | Sequence[Curve] | Mapping[str, Curve],
    ax=None,
    which: str = "train",
    cost_scale: float = 1e6,
    cost_label: str = "cost (USD per 1M queries)",
    marker: str = "o",
    baselines: pd.DataFrame | None = None,
    operating_points: pd.DataFrame | None = None,
    **kwargs,
):
    """Plot error rate against cost for one or several frontiers.

    Parameters
    ----------
    frontier_or_frames : Frontier, DataFrame, sequence of them, or mapping label -> curve
        Frontiers (their ``e_cost`` and ``1 - p_correct``) or frames from :meth:`Frontier.evaluate`.  Labels
        default to the frontier's ``method`` (or ``curve i``).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure's when None.
    which : {"train", "test"}
        ``"train"``: predicted/training ``e_cost`` vs ``1 - p_correct``; ``"test"``: ``test_cost`` vs ``test_error``
        (frames from :meth:`Frontier.evaluate`).
    cost_scale : float
        Costs are multiplied by this for display (1e6: USD per query -> USD per million queries).
    cost_label : str
        x-axis label.
    marker : str
        Marker of the points; further keyword arguments go to ``Axes.plot``.
    baselines : DataFrame, optional
        Reference points (e.g. each model alone) with columns ``label``, ``cost`` (USD per query) and ``error``,
        drawn as grey squares with their labels.
    operating_points : DataFrame, optional
        Chosen operating points (e.g. the thresholds recommended for a budget), same columns, drawn as stars.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if isinstance(frontier_or_frames, (Frontier, pd.DataFrame)):
        curves = [(None, frontier_or_frames)]
    elif isinstance(frontier_or_frames, Mapping):
        curves = list(frontier_or_frames.items())
    else:
        curves = [(None, c) for c in frontier_or_frames]
    if not curves:
        raise DataValidationError("'frontier_or_frames' is empty: nothing to plot")
    if ax is None:
        _, ax = plt.subplots()
    for i, (label, curve) in enumerate(curves):
        if not isinstance(curve, (Frontier, pd.DataFrame)):
            raise DataValidationError(f"curve {i} is a {type(curve).__name__}, expected a Frontier or DataFrame")
        if label is None:
            label = curve.method if isinstance(curve, Frontier) and curve.method else f"curve {i + 1}"
        x, y = _xy(curve, which)
        ax.plot(x * cost_scale, y, marker=marker, label=label, **kwargs)
    _points(ax, baselines, "baselines", cost_scale, dict(marker="s", color="0.35", ms=6, ls="none", zorder=4), True)
    _points(ax, operating_points, "operating_points", cost_scale,
            dict(marker="*", ms=14, ls="none", mec="black", mew=0.7, zorder=5), False)
    ax.set_xlabel(cost_label)
    ax.set_ylabel("error rate" + (" (test)" if which == "test" else ""))
    ax.legend()
    return ax
