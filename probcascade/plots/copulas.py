"""Copula plots: pseudo-observations beside a sample of the fitted copula (study Figures 2-3), Kendall's tau heatmap
(Figure 1)."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd

from probcascade.precision import x64
from probcascade.distributions.copulas import Copula
from probcascade.estimation.copulas import fit_copula, kendall_tau, pseudo_observations
from probcascade.exceptions import DataValidationError
from probcascade.validation import check_array, check_int, check_matching_rows

__all__ = ["plot_copula_scatter", "plot_tau_heatmap"]


def _annotate_tau(ax, tau: float) -> None:
    ax.text(0.95, 0.05, rf"$\tau = {tau:.2f}$", transform=ax.transAxes, ha="right", va="bottom", fontsize=9,
            bbox=dict(facecolor="white", alpha=0.8, edgecolor="none", pad=2))


def _square(ax, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)


@x64
def plot_copula_scatter(u, v, copula: Copula | None = None, axes=None, n_sample: int | None = None, seed: int = 0,
                        labels: tuple[str, str] = ("u", "v")):
    """Pseudo-observations of the data beside a sample of the same size from the fitted copula.

    Parameters
    ----------
    u, v : array-like
        The two variables (raw values or pseudo-observations: they are rank-transformed either way).
    copula : Copula, optional
        Copula to sample from; default: a Gumbel copula fitted by Kendall's tau (eq. 10).
    axes : sequence of two matplotlib Axes, optional
        Where to draw (data, model); a new 1 x 2 figure by default.
    n_sample : int, optional
        Size of the copula sample (default: the number of data points).
    seed : int
        Seed of the copula sample.
    labels : (str, str)
        Axis labels (for example the two model names).

    Returns
    -------
    ndarray of two matplotlib Axes
    """
    import matplotlib.pyplot as plt

    pu = pseudo_observations(check_array(u, "u", ndim=1))
    pv = pseudo_observations(check_array(v, "v", ndim=1))
    check_matching_rows("u", pu, "v", pv)
    check_int(n_sample, "n_sample", low=3, allow_none=True)
    check_int(seed, "seed", low=0)
    if copula is None:
        copula = fit_copula(pu, pv, "gumbel").copula
    n = pu.size if n_sample is None else int(n_sample)
    if n < 3:
        raise DataValidationError(f"'u' and 'v' have {n} observation(s); at least 3 needed to draw the copula sample")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(7.0, 3.4), sharey=True)
    axes = np.asarray(axes).ravel()
    if axes.size != 2:
        raise DataValidationError(f"'axes' must hold two Axes, got {axes.size}")
    sample = np.asarray(type(copula)(float(copula.theta)).sample(jax.random.PRNGKey(seed), (n,)))
    su, sv = pseudo_observations(sample[:, 0]), pseudo_observations(sample[:, 1])
    fam = type(copula).name
    panels = ((pu, pv, "data", "#2E86C1"), (su, sv, f"{fam} copula, theta = {float(copula.theta):.3g}", "#CB4335"))
    for ax, (a, b, title, color) in zip(axes, panels):
        ax.scatter(a, b, s=6, color=color, edgecolor="none", alpha=0.6)
        _annotate_tau(ax, kendall_tau(a, b))
        _square(ax, title, *labels)
    return axes


def plot_tau_heatmap(tau_frame: pd.DataFrame, ax=None, cmap: str = "viridis", annotate: bool = True):
    """Heatmap of a Kendall's tau matrix (from :func:`probcascade.estimation.copulas.kendall_tau_matrix`).

    Parameters
    ----------
    tau_frame : DataFrame
        Square matrix of rank correlations, rows and columns labelled by model.
    ax : matplotlib Axes, optional
    cmap : str
        Colormap.
    annotate : bool
        Write each value in its cell.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt

    if not isinstance(tau_frame, pd.DataFrame) or tau_frame.shape[0] != tau_frame.shape[1]:
        raise DataValidationError("'tau_frame' must be a square DataFrame (see kendall_tau_matrix)")
    values = check_array(tau_frame, "tau_frame", ndim=2)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.8 * len(values), 0.6 + 0.8 * len(values)))
    off = values[~np.eye(len(values), dtype=bool)]
    image = ax.imshow(values, cmap=cmap, vmin=min(0.0, off.min()) if off.size else 0.0, vmax=off.max() if off.size else 1.0)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=r"Kendall's $\tau$")
    labels = [str(c) for c in tau_frame.columns]
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), [str(r) for r in tau_frame.index])
    if annotate:
        mid = 0.5 * (image.norm.vmin + image.norm.vmax)
        for i in range(len(values)):
            for j in range(len(values)):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="black" if values[i, j] > mid else "white")
    return ax
