"""CORP reliability diagram (Dimitriadis, Gneiting & Jordan, PNAS 2021): the PAV curve with its bands.

Draws a :class:`~probcascade.calibration.corp.CorpResult`: the diagonal, the consistency band of a calibrated
forecast (shaded), optionally the bootstrap confidence band of the curve (dashed), the PAV curve itself, and a small
histogram of the forecasts inside the axes, so that the reader sees where the curve rests on few cases.  The legend
carries the Brier decomposition (MCB, DSC, UNC), the numbers that the diagram visualises.
"""

from __future__ import annotations

from probcascade.calibration.corp import CorpResult
from probcascade.exceptions import DataValidationError

__all__ = ["plot_corp_reliability"]


def plot_corp_reliability(result: CorpResult, ax=None, *, label: str | None = None, show_confidence: bool = True,
                          show_histogram: bool = True, color: str = "C0", band_color: str = "0.75"):
    """CORP reliability diagram of ``result`` (from :func:`~probcascade.calibration.corp.corp_reliability`).

    Parameters
    ----------
    result : CorpResult
    ax : matplotlib Axes, optional
        Drawn on if given, else a new 4.5 x 4.5 in figure.
    label : str, optional
        Name of the forecast, put before the decomposition in the legend.
    show_confidence : bool
        Draw the pair-bootstrap confidence band of the curve as dashed lines.
    show_histogram : bool
        Inset histogram of the forecasts (bottom right).
    color, band_color : str
        Colour of the curve and of the consistency band.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if not isinstance(result, CorpResult):
        raise DataValidationError(f"'result' must be a CorpResult (from corp_reliability), got {type(result).__name__}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    pct = f"{100 * result.level:g}%"
    ax.plot([0, 1], [0, 1], color="0.4", lw=0.8, ls=":", label="calibrated", zorder=1)
    ax.fill_between(result.x, result.consistency_low, result.consistency_high, color=band_color, alpha=0.6, lw=0,
                    label=f"{pct} consistency band", zorder=0)
    if show_confidence:
        ax.plot(result.x, result.confidence_low, color=color, lw=0.8, ls="--", alpha=0.8,
                label=f"{pct} confidence band", zorder=2)
        ax.plot(result.x, result.confidence_high, color=color, lw=0.8, ls="--", alpha=0.8, zorder=2)
    decomposition = f"MCB {result.mcb:.3f}  DSC {result.dsc:.3f}  UNC {result.unc:.3f}"
    ax.plot(result.forecast, result.cep, color=color, lw=1.6, zorder=3,
            label=f"{label + ': ' if label else ''}CORP (PAV)\n{decomposition}")
    if show_histogram:
        inset = ax.inset_axes([0.62, 0.06, 0.34, 0.18])
        edges = result.hist_edges
        inset.bar(edges[:-1], result.hist_counts, width=edges[1:] - edges[:-1], align="edge", color=color, alpha=0.6,
                  lw=0)
        inset.set_xlim(0, 1)
        inset.set_yticks([])
        inset.tick_params(labelsize=6, length=2, pad=1)
        inset.set_title("forecasts", fontsize=6, pad=1)
        for side in ("top", "right", "left"):
            inset.spines[side].set_visible(False)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("forecast probability")
    ax.set_ylabel("conditional event probability (CEP)")
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    return ax
