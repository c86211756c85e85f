"""One look for every figure of the package: a matplotlib style (readable at print size) and a colour palette.

:func:`plot_style` is a context manager around :func:`matplotlib.rc_context`: figures drawn inside it use 9-10 pt
text, light grids, no top/right spines and a colour-blind-safe cycle (Okabe & Ito 2008), so that a 3.5-inch wide
panel stays legible when printed at its size. The report (:mod:`probcascade.report`) draws every figure inside it;
interactive users may wrap their own calls the same way.
"""

from __future__ import annotations

from contextlib import contextmanager

__all__ = ["PALETTE", "STYLE", "plot_style"]

#: Okabe-Ito colours, colour-blind safe: blue, vermillion, bluish green, orange, reddish purple, sky blue, yellow.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

#: rcParams of :func:`plot_style`.
STYLE = {
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.labelsize": 9.0,
    "xtick.labelsize": 8.0,
    "ytick.labelsize": 8.0,
    "legend.fontsize": 8.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "lines.markersize": 4.5,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "figure.constrained_layout.use": True,
}


@contextmanager
def plot_style():
    """Context in which matplotlib draws with :data:`STYLE` and the :data:`PALETTE` colour cycle."""
    import matplotlib as mpl
    from cycler import cycler

    with mpl.rc_context({**STYLE, "axes.prop_cycle": cycler(color=list(PALETTE))}):
        yield
