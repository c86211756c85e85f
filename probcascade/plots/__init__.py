"""Plots: functions that take an optional matplotlib Axes and return the Axes they drew on (like ArviZ)."""

from .calibration import plot_reliability
from .copulas import plot_copula_scatter, plot_tau_heatmap
from .corp import plot_corp_reliability
from .evaluation import plot_risk_coverage, plot_routing_curve, plot_signals
from .frontier import plot_frontier

__all__ = ["plot_reliability", "plot_corp_reliability", "plot_copula_scatter", "plot_tau_heatmap", "plot_frontier",
           "plot_risk_coverage", "plot_routing_curve", "plot_signals"]
