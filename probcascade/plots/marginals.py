"""Histogram of calibrated confidences with the fitted point-mass beta mixture (Figure 4 of the study)."""

from __future__ import annotations

import numpy as np

from probcascade.precision import float64
from probcascade.distributions.marginal import MarginalParams, interior_log_prob
from probcascade.estimation.marginal import as_params
from probcascade.validation import check_array, check_int

__all__ = ["plot_marginal"]


def plot_marginal(fit_or_dist, phi, ax=None, bins: int = 20, label: str | None = None):
    """Histogram of ``phi`` (density scale) with the fitted density and its point masses.

    The continuous part is drawn as the curve ``(1 - w_lo - w_hi) g(x)``; each point mass ``w`` is shown as a
    hatched rectangle of area ``w`` (height ``w / bar width``) hanging from the top of the bar that contains it,
    as in Figure 4 of the study, so a well-fitting atom fills its bar.

    Parameters
    ----------
    fit_or_dist : MarginalFit, PointMassBetaMixture or MarginalParams
        The fitted marginal (unbatched).
    phi : array_like
        Calibrated confidences to histogram (e.g. the test split).
    ax : matplotlib Axes, optional
    bins : int
        Number of equal-width bars over the range of the data and the support.
    label : str, optional
        Title of the Axes.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    p = as_params(fit_or_dist, "fit_or_dist")
    data = check_array(phi, "phi", ndim=1, min_rows=1)
    check_int(bins, "bins", low=1)
    lo, hi, w_lo, w_hi = (float(np.asarray(z)) for z in (p.lo, p.hi, p.w_lo, p.w_hi))
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    counts, edges = np.histogram(data, bins=int(bins), range=(min(data.min(), lo), max(data.max(), hi)))
    width = np.diff(edges)
    height = counts / (data.size * width)
    ax.bar(edges[:-1], height, width=width, align="edge", color="#2E86C1", alpha=0.6, edgecolor="black",
           linewidth=0.5, label=f"data (n = {data.size})")
    grid = np.linspace(lo, hi, 402)[1:-1]
    with float64():
        log_g = np.asarray(interior_log_prob(MarginalParams(*(np.asarray(z) for z in p)), grid))
    ax.plot(grid, (1.0 - w_lo - w_hi) * np.exp(log_g), color="black", lw=2.0, label="fitted density")
    hatched = False
    for atom, w in ((lo, w_lo), (hi, w_hi)):
        if w <= 0:
            continue
        k = int(np.clip(np.searchsorted(edges, atom, side="right") - 1, 0, len(width) - 1))
        h = w / width[k]
        ax.add_patch(Rectangle((edges[k], max(height[k] - h, 0.0)), width[k], h, facecolor="none", edgecolor="black",
                               hatch="////", linewidth=1.0, label=None if hatched else "point masses"))
        hatched = True
    ax.set_xlabel("calibrated confidence")
    ax.set_ylabel("density")
    if label:
        ax.set_title(label)
    ax.legend(fontsize=8, frameon=False)
    return ax
