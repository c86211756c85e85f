"""Runtime scaling of rational tuning against grid search (Figure 9 of the study)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from probcascade.exceptions import DataValidationError

__all__ = ["plot_runtime_scaling"]

_COLUMNS = ("sweep", "method", "k", "points", "cold_s", "warm_s")


def plot_runtime_scaling(timings: pd.DataFrame, axes=None, markers=None):
    """Time per frontier against cascade length and against frontier resolution (log scale).

    Parameters
    ----------
    timings : DataFrame
        One row per timed setting with columns ``sweep`` (``"length"`` or ``"resolution"``), ``method``, ``k``,
        ``points`` (frontier points), ``cold_s`` (first call, with compilation) and ``warm_s`` (as written by
        ``experiments/figure9_scaling.py`` to ``figure9_scaling.csv``).
    axes : sequence of two matplotlib Axes, optional
        (length panel, resolution panel); a new 1 x 2 figure by default. A sweep without rows leaves its panel empty.
    markers : mapping method -> marker, optional

    Returns
    -------
    ndarray of two matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if not isinstance(timings, pd.DataFrame):
        raise DataValidationError(f"'timings' must be a DataFrame, got {type(timings).__name__}")
    missing = [c for c in _COLUMNS if c not in timings.columns]
    if missing:
        raise DataValidationError(f"'timings' lacks column(s) {missing} (see experiments/figure9_scaling.py)")
    if timings.empty:
        raise DataValidationError("'timings' has no rows: nothing to plot")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(8.0, 3.4))
    axes = np.asarray(axes).ravel()
    if axes.size != 2:
        raise DataValidationError(f"'axes' must hold two Axes, got {axes.size}")
    default_markers = ("o", "s", "^", "D", "v")
    methods = list(dict.fromkeys(timings["method"]))
    markers = dict(markers or {})
    for i, method in enumerate(methods):
        marker = markers.get(method, default_markers[i % len(default_markers)])
        d = timings[(timings["sweep"] == "length") & (timings["method"] == method)].sort_values("k")
        if len(d):
            line, = axes[0].plot(d["k"], d["warm_s"], marker=marker, label=f"{method} (warm)")
            axes[0].plot(d["k"], d["cold_s"], marker=marker, ls="--", alpha=0.6, color=line.get_color(),
                         label=f"{method} (first call)")
        d = timings[(timings["sweep"] == "resolution") & (timings["method"] == method)].sort_values("points")
        if len(d):
            axes[1].plot(d["points"], d["warm_s"], marker=marker, label=method)
    ks = sorted(set(timings.loc[timings["sweep"] == "length", "k"]))
    axes[0].set(yscale="log", xlabel="cascade length k", ylabel="time per frontier (s)",
                title="Scaling in cascade length")
    if ks:
        axes[0].set_xticks(ks)
    axes[1].set(xscale="log", yscale="log", xlabel="frontier points", ylabel="time per frontier (s, warm)",
                title="Scaling in resolution")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(frameon=False)
    return axes
