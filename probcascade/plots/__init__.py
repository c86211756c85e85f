"""Plots: functions that take an optional matplotlib Axes and return the Axes they drew on (like ArviZ)."""

from .calibration import plot_reliability

__all__ = ["plot_reliability"]
