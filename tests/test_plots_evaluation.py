"""Plots of the rejection, routing and signal-comparison results: they draw the numbers of the result objects (read
back from the Axes), return the Axes they were given, and refuse inputs of the wrong kind with a clean error."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from probcascade.evaluation import compare_signals, parity_routing_rate, risk_coverage, routing_curve  # noqa: E402
from probcascade.exceptions import DataValidationError  # noqa: E402
from probcascade.plots import plot_risk_coverage, plot_routing_curve, plot_signals  # noqa: E402


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    n = 200
    conf = rng.random(n)
    small = (rng.random(n) < conf).astype(float)
    large = (rng.random(n) < 0.85).astype(float)
    return conf, small, large


def test_plot_risk_coverage_draws_the_curves(data):
    conf, small, _ = data
    rc = risk_coverage(conf, small)
    fig, ax = plt.subplots()
    assert plot_risk_coverage({"a": rc, "b": risk_coverage(1 - conf, small)}, ax=ax, oracle=True) is ax
    lines = ax.get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), rc.risk)
    # the oracle's area is the RiskCoverage's own oracle AURC
    assert np.mean(lines[1].get_ydata()) == pytest.approx(rc.aurc_oracle, abs=1e-12)
    assert "AURC" in ax.get_legend().get_texts()[0].get_text()
    with pytest.raises(DataValidationError, match="'curves'"):
        plot_risk_coverage({})
    plt.close(fig)


def test_plot_routing_curve_marks_the_parity_rate(data):
    conf, small, large = data
    curve = routing_curve(conf, small, large, cost=(1.0, 10.0))
    par = parity_routing_rate(conf, small, large, n_boot=50, seed=0)
    ax = plot_routing_curve(curve, parity=par)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), curve.accuracy)
    assert any(np.allclose(line.get_xdata(), par.rate) for line in ax.get_lines()[1:])
    ax2 = plot_routing_curve(curve, x="cost")
    np.testing.assert_allclose(ax2.get_lines()[0].get_xdata(), curve.cost)
    with pytest.raises(DataValidationError, match="no costs"):
        plot_routing_curve(routing_curve(conf, small, large), x="cost")
    plt.close("all")


def test_plot_signals_forest(data):
    conf, small, _ = data
    table = compare_signals({"conf": conf, "noise": np.random.default_rng(0).random(conf.size)}, small, n_boot=100)
    ax = plot_signals(table, metric="brier")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["conf", "noise"]
    with pytest.raises(DataValidationError, match="'metric'"):
        plot_signals(table, metric="f1")
    with pytest.raises(DataValidationError, match="'table'"):
        plot_signals(table.drop(columns="brier_ci_low"), metric="brier")
    plt.close("all")
