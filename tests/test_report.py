"""The cascade report (probcascade.report, ``probcascade report``) and the plots it adds.

The page is rendered by headless Chromium (Debian's ``chromium``, installed by ``.ci/run`` when absent): where it is
missing the browser tests skip with the reason, except under CI (``CI=true``), where that is a failure. The full
report of a (small) synthetic cascade is built once per module; its build compiles the goodness-of-fit and tuning
code, so those tests are marked ``slow`` (CI runs them); the fast tests check the rendering layer and the plots.
"""

from __future__ import annotations

import base64
import io
from html import unescape
import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from probcascade.exceptions import DataValidationError  # noqa: E402
from probcascade.plots import plot_frontier, plot_runtime_scaling  # noqa: E402
from probcascade.report import CascadeReport, ReportFigure, ReportSection, markov_verdict, p_value_verdict  # noqa: E402
from probcascade.report.document import figure_png  # noqa: E402
from probcascade.summary import Summary  # noqa: E402

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--enable-logging=stderr", "--v=0")
PNG_URI = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
MD_RULE = re.compile(r"^\|(?::?-{3}:?\|)+$")


# ------------------------------------------------------------------------------------------------------ helpers
def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium not found: CI requires the browser tests to run (.ci/run installs Debian's chromium)")
        pytest.skip("chromium not found (apt-get install chromium); the report's browser tests need it")
    return path


def render(html_path: Path, tmp: Path) -> tuple[str, list[str], Image.Image]:
    """(DOM after loading, console messages, screenshot) of ``html_path`` in headless Chromium."""
    exe = chromium()
    url = html_path.resolve().as_uri()
    shot = tmp / "shot.png"
    logs = []
    for args in (["--dump-dom"], ["--window-size=1200,2000", f"--screenshot={shot}"]):
        profile = tmp / f"profile{len(logs)}"     # a fresh profile per run: nothing cached or shared
        run = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url], capture_output=True,
                             text=True, timeout=180)
        assert run.returncode == 0, run.stderr[-2000:]
        logs.append(run)
    console = [ln for r in logs for ln in r.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    return logs[0].stdout, console, Image.open(shot)


def decode_images(html: str) -> list[Image.Image]:
    images = []
    for data in PNG_URI.findall(html):
        img = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
        img.load()     # decodes every pixel: a truncated PNG raises here
        images.append(img)
    return images


def markdown_tables(md: str) -> int:
    return sum(bool(MD_RULE.match(line)) for line in md.splitlines())


def assert_self_contained(html: str) -> None:
    assert "<script" not in html.lower()
    # nothing is fetched: no external src/href (in-page anchors and data URIs only)
    refs = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert refs and all(r.startswith(("#", "data:image/png;base64,")) for r in refs), [r[:40] for r in refs]


def assert_twin(html: str, md: str) -> None:
    """Same tables in both renderings: their number and every caption."""
    assert html.count("<table") == markdown_tables(md) > 0
    for caption in re.findall(r"<caption>(.*?)</caption>", html):
        assert f"*{unescape(caption)}*" in md, caption


# ----------------------------------------------------------------------------------------------- fast tests
def test_verdicts_are_graded_by_p_value():
    assert p_value_verdict(0.004).startswith("strong evidence")
    assert p_value_verdict(0.03).startswith("some evidence")
    assert p_value_verdict(0.07).startswith("weak evidence")
    assert p_value_verdict(0.5).startswith("consistent")
    assert p_value_verdict(float("nan")) == "not tested"
    assert p_value_verdict(1 / 51, n_boot=50).endswith("the least B = 50 can show")   # at the bootstrap floor
    assert "least B" not in p_value_verdict(0.03, n_boot=50)
    assert "holds" in markov_verdict(-0.5, 4.0, 0.5)            # p = 0.32 for the ancestor
    assert "approximately" in markov_verdict(-3.0, 4.0, 1.0)    # significant but weaker than the predecessor
    assert "violated" in markov_verdict(-3.0, 1.0, 2.0)


def test_frontier_plot_draws_baselines_and_operating_points():
    curve = pd.DataFrame({"test_cost": [1e-5, 2e-5, 4e-5], "test_error": [0.4, 0.3, 0.25]})
    base = pd.DataFrame({"label": ["small", "large"], "cost": [1e-5, 5e-5], "error": [0.45, 0.24]})
    chosen = pd.DataFrame({"label": ["recommended"], "cost": [2e-5], "error": [0.3]})
    ax = plot_frontier({"rational": curve}, which="test", baselines=base, operating_points=chosen)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["rational", "single models", "recommended"]
    assert [t.get_text() for t in ax.texts] == ["small", "large"]        # every baseline is named
    star = ax.get_lines()[-1]
    assert star.get_marker() == "*" and np.allclose(star.get_xydata(), [[20.0, 0.3]])   # cost x 1e6
    with pytest.raises(DataValidationError, match="baselines"):
        plot_frontier({"rational": curve}, which="test", baselines=base.drop(columns="error"))
    plt.close("all")


def test_runtime_scaling_plot_has_both_sweeps():
    t = pd.DataFrame({"sweep": ["length"] * 4 + ["resolution"] * 2, "method": ["rational", "grid"] * 3,
                      "k": [2, 2, 3, 3, 3, 3], "points": [100, 40, 110, 90, 200, 160],
                      "cold_s": [5.0, 0.2, 6.0, 0.3, 1.0, 1.0], "warm_s": [0.1, 0.01, 0.3, 0.02, 0.5, 0.05]})
    axes = plot_runtime_scaling(t)
    assert len(axes) == 2 and len(axes[0].get_lines()) == 4 and len(axes[1].get_lines()) == 2
    assert axes[0].get_yscale() == "log" and list(axes[0].get_xticks()) == [2, 3]
    with pytest.raises(DataValidationError, match="warm_s"):
        plot_runtime_scaling(t.drop(columns="warm_s"))
    plt.close("all")


@pytest.fixture(scope="module")
def small_report(tmp_path_factory) -> tuple[CascadeReport, Path]:
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1])
    s = Summary().add_table(pd.DataFrame({"n": [3, 4], "p_value": [0.01, 0.5]}, index=pd.Index(["a", "b"], name="model")),
                            "Tests 'quoted' & <escaped>")
    s.add_dict({"x": 1.5}, "Key values")
    rep = CascadeReport("Tiny", {"train": "t"}, [ReportSection("one", "One", ("intro",), s,
                                                               [ReportFigure("line", figure_png(fig), "a line")]),
                                                 ReportSection("two", "Two", ("no tables here",))])
    out = tmp_path_factory.mktemp("small")
    rep.write(out)
    return rep, out


def test_document_is_self_contained_and_has_a_markdown_twin(small_report):
    rep, out = small_report
    html, md = (out / "report.html").read_text(), (out / "report.md").read_text()
    assert_self_contained(html)
    assert_twin(html, md)
    assert [im.size[0] > 10 for im in decode_images(html)] == [True]
    assert "![a line](figures/line.png)" in md and Image.open(out / "figures" / "line.png").size[0] > 10
    assert 'id="one"' in html and 'id="two"' in html and "&lt;escaped&gt;" in html


def test_document_opens_in_chromium_without_console_errors(small_report, tmp_path):
    _, out = small_report
    dom, console, shot = render(out / "report.html", tmp_path)
    assert console == []
    assert 'id="two"' in dom and "<img" in dom
    assert shot.size == (1200, 2000) and np.unique(np.asarray(shot.convert("L"))).size > 2   # not a blank page


# ----------------------------------------------------------------------------------------------- full report
@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    from probcascade.data.synthetic import synthetic_train_test
    from probcascade.report import build_report

    # exactly what `probcascade demo --n-train 200 --n-test 300 --out DIR` builds (cli.report.write_demo_report), so
    # that tests/test_cli.py::test_demo_runs, in the same xdist group, reuses the XLA compilations of this one
    train, test = synthetic_train_test(n_train=200, n_test=300, seed=0)
    rep = build_report(train, test, transform="one-sided", cascades="full", seed=0, progress=False)
    out = tmp_path_factory.mktemp("demo")
    rep.write(out)
    return rep, out


@pytest.mark.slow
@pytest.mark.xdist_group("demo")
def test_full_report_has_every_section_and_decodable_images(demo_report):
    from probcascade.report import SECTION_KEYS

    rep, out = demo_report
    html, md = (out / "report.html").read_text(), (out / "report.md").read_text()
    assert [s.key for s in rep.sections] == list(SECTION_KEYS)
    for s in rep.sections:
        assert f'<section id="{s.key}">' in html and f"## {s.title}" in md
    assert_self_contained(html)
    assert_twin(html, md)
    images = decode_images(html)
    names = [f.name for s in rep.sections for f in s.figures]
    assert len(images) == len(names) == 5            # CORP, marginals, copulas, tau, frontier
    assert all(min(im.size) > 100 for im in images)
    assert sorted(p.stem for p in (out / "figures").glob("*.png")) == sorted(names)
    for needle in ("MCB", "p_value_boot", "verdict", "log10_p_ancestor", "Best sub-cascade per budget",
                   "Thresholds on the calibrated confidence"):
        assert needle in html and needle in md, needle


@pytest.mark.slow
@pytest.mark.xdist_group("demo")
def test_full_report_recommendation_respects_the_budget(demo_report):
    rep, _ = demo_report
    rec = rep.section("recommendation").summary.to_dict()["blocks"]
    point = dict(rec[0]["data"])
    thresholds = rec[1]
    # the default target is the training error of the most accurate single model: the predicted error reaches it
    assert point["predicted error"] <= 1.0 - 0.81 + 1e-12   # llama3.1-405b's training accuracy in this draw: 0.81
    shares = [row[thresholds["columns"].index("test_share_answered")] for row in thresholds["data"]]
    assert abs(sum(shares) - 1.0) < 1e-9       # every test query is answered by exactly one model


@pytest.mark.slow
@pytest.mark.xdist_group("demo")
def test_full_report_opens_in_chromium(demo_report, tmp_path):
    _, out = demo_report
    dom, console, shot = render(out / "report.html", tmp_path)
    assert console == []
    for key in ("data", "calibration", "gof", "markov", "frontier", "recommendation"):
        assert f'id="{key}"' in dom
    assert np.unique(np.asarray(shot.convert("L"))).size > 2


def test_console_errors_are_caught(tmp_path):
    """Negative control of the browser harness: a page that logs an error is reported."""
    page = tmp_path / "bad.html"
    page.write_text('<html><body><script>console.error("boom")</script>x</body></html>')
    _, console, _ = render(page, tmp_path)
    assert any("boom" in line for line in console)


@pytest.mark.parametrize("argv, message", [
    (["--budget", "-1"], "--budget must be a positive number"),
    (["--target-error", "1.5"], "--target-error must be in (0, 1)"),
    (["--budget", "1e-4", "--target-error", "0.2"], "not allowed with argument"),
])
def test_report_cli_rejects_bad_goals_before_any_work(argv, message, tmp_path, capsys):
    from probcascade.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["report", "train.csv", "--test", "test.csv", "--out", str(tmp_path), *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_operating_point_choice_uses_predictions_not_test_results():
    from probcascade.report.operating import best_per_budget, choose_point

    cands = pd.DataFrame({"cascade": ["a -> b", "a -> b", "b -> c", "a -> b -> c"], "result": [0, 0, 1, 2],
                          "row": [0, 1, 0, 0], "pred_cost": [1.0, 2.0, 1.5, 3.0], "pred_error": [0.4, 0.3, 0.25, 0.2],
                          "test_cost": [1.1, 2.1, 1.4, 3.2], "test_error": [0.1, 0.35, 0.3, 0.22], "thresholds": ""})
    best, why = choose_point(cands, budget=2.0)
    assert best["cascade"] == "b -> c" and "budget" in why        # least predicted error within 2.0, not test error
    best, _ = choose_point(cands, target_error=0.3)
    assert best["cascade"] == "b -> c"                              # cheapest predicted to reach 0.3
    best, why = choose_point(cands, fallback_error=0.1)
    assert best["cascade"] == "a -> b -> c" and "no point" in why   # unreachable default target: most accurate
    with pytest.raises(DataValidationError, match="--budget"):
        choose_point(cands, budget=0.5)
    with pytest.raises(DataValidationError, match="--target-error"):
        choose_point(cands, target_error=0.1)
    table = best_per_budget(cands, "a -> b -> c", [1.0, 2.0, 3.0])
    assert list(table["best cascade"]) == ["a -> b", "b -> c", "a -> b -> c"]
    assert table["full: test error"].isna().tolist() == [True, True, False]


@pytest.mark.slow
@pytest.mark.xdist_group("demo")      # the same goodness-of-fit call as the demo report: its compilations are shared
def test_copula_figure_draws_an_independence_fallback_pair():
    """A pair whose training tau is <= 0 is fitted as the independence copula (theta 0): the copula figure must
    sample that copula, not the report's family at theta 0 (TruthfulQA Llama 1b/405b: Gumbel(0) raised)."""
    from dataclasses import replace

    from probcascade.calibration.calibrators import calibrate
    from probcascade.data.synthetic import synthetic_train_test
    from probcascade.gof.report import goodness_of_fit
    from probcascade.report.sections import gof_section

    train, test = synthetic_train_test(n_train=200, n_test=300, seed=0)
    gof = goodness_of_fit(train, test, transform="one-sided", n_boot=50, seed=0)
    assert all(p.family == gof.family for p in gof.pairs)          # positive tau here: the report's family
    gof = replace(gof, pairs=[replace(gof.pairs[0], theta=0.0, family="independence"), *gof.pairs[1:]])
    cal = calibrate(train, transform="one-sided")
    section = gof_section(gof, cal.predict(test), cal.predict(train))
    assert [f.name for f in section.figures] == ["marginals", "copulas", "kendall_tau"]
