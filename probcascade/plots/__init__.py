"""Plots: functions that take an optional matplotlib Axes and return the Axes they drew on (like ArviZ)."""

from .calibration import plot_reliability
from .copulas import plot_copula_scatter, plot_tau_heatmap
from .corp import plot_corp_reliability
from .evaluation import plot_risk_coverage, plot_routing_curve, plot_signals
from .frontier import plot_frontier
from .marginals import plot_marginal
from .posterior import plot_frontier_bands
from .scaling import plot_runtime_scaling
from .style import PALETTE, plot_style

__all__ = ["plot_reliability", "plot_corp_reliability", "plot_copula_scatter", "plot_tau_heatmap", "plot_frontier",
           "plot_risk_coverage", "plot_routing_curve", "plot_signals", "plot_marginal", "plot_frontier_bands", "plot_runtime_scaling",
           "plot_style", "PALETTE"]
