"""Tests of :mod:`probcascade.summary`: the shared ``Summary`` report object and ``FitResultMixin``."""

from __future__ import annotations

import ast
import json
import math
from dataclasses import MISSING, FrozenInstanceError, dataclass, fields
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import probcascade.summary as summary_module
from probcascade.summary import FitResultMixin, Summary

PARAMS = pd.Series({"intercept": -1.25, "slope": 2.5, "sigma": 0.3125})
SE = pd.Series({"intercept": 0.125, "slope": 0.25, "sigma": np.nan})


@dataclass(frozen=True)
class Fit(FitResultMixin):
    params: pd.Series
    se: pd.Series
    loglik: float
    n: int
    converged: bool = True


@dataclass(frozen=True)
class FitWithOwnAic(FitResultMixin):
    params: pd.Series
    se: pd.Series
    aic: float  # a field of the mixin's name, without default, followed by more fields
    loglik: float
    n: int
    converged: bool


@dataclass(frozen=True, slots=True)
class SlottedFit(FitResultMixin):
    params: pd.Series
    se: pd.Series
    loglik: float
    n: int
    converged: bool
    n_params: int = 5


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"model": ["small", "large"], "accuracy": [0.8125, np.nan], "cost": [np.int64(3), np.int64(40)]},
        index=pd.Index(["m1", "m2"], name="id"),
    )


def _report() -> Summary:
    return (
        Summary("Cascade <report>")
        .add_dict({"n": np.int64(500), "loglik": -204.5, "converged": True}, ncols=2)
        .add_table(_frame(), "Models")
        .add_table(pd.DataFrame({"x": [1.5, 2.25]}), index=False)
        .add_note("Intervals are Wald intervals.")
    )


# -- Summary: text ---------------------------------------------------------------------------------------------


def test_text_has_title_and_all_values():
    text = _report().as_text()
    for token in ["Cascade <report>", "Models", "n:", "500", "loglik:", "-204.5", "converged:", "True",
                  "small", "large", "0.8125", "40", "1.5", "2.25", "id", "accuracy", "Intervals are Wald"]:
        assert token in text, token
    assert "nan" not in text.lower()  # NaN is a blank cell


def test_text_rules_one_style_and_width():
    lines = _report().as_text().splitlines()
    width = len(lines[0])
    assert lines[0] == "=" * width and lines[2] == "=" * width  # rule above and below the title
    assert lines[1].strip() == "Cascade <report>"
    rules = [ln for ln in lines if ln and set(ln) <= {"-", "="}]
    assert all(len(r) == width for r in rules)
    assert sum(set(r) == {"-"} for r in rules) == 2  # three blocks -> two separators
    body = lines[: lines.index("Intervals are Wald intervals.")]
    assert body[-1] == "=" * width  # notes come after the closing rule
    assert max(map(len, lines)) == width


def test_notes_go_after_tables_and_float_format():
    s = Summary().add_note("first note").add_table(pd.DataFrame({"v": [math.pi]}), float_format="{:.2f}")
    lines = s.as_text().splitlines()
    assert lines[-1] == "first note" and "0  3.14" in lines and "3.14159" not in s.as_text()
    assert "3.142" in Summary().add_table(pd.DataFrame({"v": [math.pi]}), float_format=lambda v: f"{v:.3f}")
    assert "3.1" in Summary().add_table(pd.DataFrame({"v": [math.pi]}), float_format="%.1f").as_text()


def test_dict_two_columns_layout_and_bad_ncols():
    s = Summary().add_dict({"a": 1, "b": 2, "c": 3}, ncols=2)
    lines = s.as_text().splitlines()[1:-1]
    assert len(lines) == 2 and lines[0].split() == ["a:", "1", "c:", "3"] and lines[1].split() == ["b:", "2"]
    with pytest.raises(ValueError, match="ncols"):
        Summary().add_dict({"a": 1}, ncols=3)


def test_string_compatibility():
    s = _report()
    assert "small" in s and "absent" not in s
    assert str(s) == repr(s) == f"{s}" == s.as_text()
    assert f"{s:.5}" == s.as_text()[:5]
    assert s.splitlines() == s.as_text().splitlines()


def test_chaining_and_extend():
    s = Summary()
    assert s.add_title("T") is s and s.add_text("x") is s and s.add_dict({"a": 1}) is s
    part = Summary("Part").add_table(pd.DataFrame({"y": [7]}), "ys")
    assert s.extend(part) is s
    assert s.to_dict()["blocks"][1]["title"] == "Part - ys" and "Part - ys" in s
    empty = Summary().extend(Summary("Only"))
    assert empty.title == "Only"
    with pytest.raises(TypeError):
        s.extend("text")


def test_table_is_a_snapshot():
    df = _frame()
    s = Summary().add_table(df)
    df.loc["m1", "model"] = "changed"
    assert "small" in s and "changed" not in s


# -- Summary: HTML, Markdown, dict -----------------------------------------------------------------------------


class _Balance(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.tags, self.errors = [], [], []

    def handle_starttag(self, tag, attrs):
        self.stack.append(tag)
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def test_html_is_balanced_and_escaped():
    s = _report()
    html_text = s.as_html()
    parser = _Balance()
    parser.feed(html_text)
    parser.close()
    assert not parser.errors and not parser.stack
    tables = [a for t, a in parser.tags if t == "table"]
    assert len(tables) == 3 and all(a.get("class") == "simpletable" for a in tables)
    assert "<caption>Models</caption>" in html_text
    assert "Cascade &lt;report&gt;" in html_text and "<report>" not in html_text
    assert "<p>Intervals are Wald intervals.</p>" in html_text
    assert s._repr_html_() == html_text


def test_markdown_pipe_tables():
    df = _frame()
    md = Summary("M").add_table(df, "Models").add_table(pd.DataFrame({"s": ["a|b"]}), index=False).as_markdown()
    lines = md.splitlines()
    head = lines.index("| id | model | accuracy | cost |")
    assert lines[head + 1] == "|:---|:---|---:|---:|"
    rows = lines[head + 2: head + 2 + len(df) + 1]
    assert rows[-1] == "" and len(rows) - 1 == len(df)
    assert [r.split(" | ")[0].strip("| ") for r in rows[:-1]] == list(df.index)
    assert rows[0] == "| m1 | small | 0.8125 | 3 |" and rows[1] == "| m2 | large |  | 40 |"
    assert "| a\\|b |" in md


def test_to_dict_json_round_trip():
    d = _report().to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    assert d["title"] == "Cascade <report>" and [b["kind"] for b in d["blocks"]] == ["dict", "table", "table", "text"]
    models = d["blocks"][1]
    assert models["columns"] == ["model", "accuracy", "cost"] and models["index"] == ["m1", "m2"]
    assert models["data"] == [["small", 0.8125, 3], ["large", None, 40]]
    assert type(models["data"][0][2]) is int and d["blocks"][0]["data"][0] == ["n", 500]
    assert d["blocks"][2]["index"] is None
    inf = Summary().add_table(pd.DataFrame({"v": [np.inf, -np.inf]})).to_dict()
    assert inf["blocks"][0]["data"] == [[None], [None]]
    assert json.loads(_report().as_json(indent=2)) == d


def test_module_imports_no_jax():
    tree = ast.parse(Path(summary_module.__file__).read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not names & {"jax", "jaxlib", "numpyro", "probcascade"}


# -- FitResultMixin --------------------------------------------------------------------------------------------


def test_conf_int_is_wald():
    ci = Fit(PARAMS, SE, -10.0, 100).conf_int()
    assert list(ci.columns) == ["lower", "upper"] and list(ci.index) == list(PARAMS.index)
    np.testing.assert_allclose(ci["lower"][:2], (PARAMS - 1.959964 * SE)[:2], rtol=1e-6)
    np.testing.assert_allclose(ci["upper"][:2], (PARAMS + 1.959964 * SE)[:2], rtol=1e-6)
    assert ci.loc["sigma"].isna().all()
    ci90 = Fit(PARAMS, SE, -10.0, 100).conf_int(0.10)
    np.testing.assert_allclose(ci90.loc["slope", "upper"], 2.5 + 1.644854 * 0.25, rtol=1e-6)


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, float("nan"), "x", None])
def test_conf_int_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        Fit(PARAMS, SE, -10.0, 100).conf_int(alpha)


def test_aic_bic_formulas():
    fit = Fit(PARAMS, SE, -10.0, 100)
    assert fit.n_params == 3
    assert fit.aic == pytest.approx(2 * 3 + 20.0)
    assert fit.bic == pytest.approx(3 * math.log(100) + 20.0)


def test_dataclass_fields_override_mixin_attributes():
    own = FitWithOwnAic(PARAMS, SE, 99.0, -10.0, 100, True)
    assert own.aic == 99.0 and own.bic == pytest.approx(3 * math.log(100) + 20.0)
    assert next(f for f in fields(FitWithOwnAic) if f.name == "aic").default is MISSING
    with pytest.raises(FrozenInstanceError):
        own.aic = 1.0
    slotted = SlottedFit(PARAMS, SE, -10.0, 100, True)
    assert slotted.n_params == 5 and slotted.aic == pytest.approx(2 * 5 + 20.0)


def test_to_frame_and_summary():
    fit = Fit(PARAMS, SE, -10.0, 100, converged=False)
    tidy = fit.to_frame()
    assert list(tidy.columns) == ["param", "estimate", "se", "lower", "upper"]
    assert list(tidy["param"]) == list(PARAMS.index) and tidy["estimate"].tolist() == PARAMS.tolist()
    s = fit.summary("Toy fit")
    assert isinstance(s, Summary)
    for token in ["Toy fit", "n:", "100", "loglik:", "-10", "aic:", "26", "bic:", "converged:", "False",
                  "intercept", "slope", "sigma", "-1.25", "did not converge"]:
        assert token in s, token
    assert "did not converge" not in Fit(PARAMS, SE, -10.0, 100).summary()


# -- the package's fit results and summaries -------------------------------------------------------------------
INTERFACE = ("params", "se", "conf_int", "loglik", "aic", "bic", "n", "converged", "to_frame", "summary")


def _gumbel_sample(theta: float, shape: tuple, seed: int) -> np.ndarray:
    import jax

    from probcascade import float64
    from probcascade.distributions.copulas import GumbelCopula

    with float64():
        return np.asarray(GumbelCopula(theta).sample(jax.random.PRNGKey(seed), shape))


def _gumbel_loglik(theta: float, u: np.ndarray, v: np.ndarray) -> float:
    """Gumbel copula log-likelihood in NumPy, written out independently of the package:
    log c = -A^(1/t) - log(uv) + (t - 1) log(xy) + (2/t - 2) log A + log(1 + (t - 1) A^(-1/t)), A = x^t + y^t."""
    x, y = -np.log(u), -np.log(v)
    a = x**theta + y**theta
    w = a ** (1.0 / theta)
    return float(np.sum(-w - np.log(u) - np.log(v) + (theta - 1.0) * np.log(x * y)
                        + (2.0 / theta - 2.0) * np.log(a) + np.log1p((theta - 1.0) / w)))


@pytest.fixture(scope="module")
def fit_results() -> dict:
    from probcascade.calibration.softmax import SoftmaxTemperatureScaler, VectorScaler
    from probcascade.estimation.copulas import fit_copula
    from probcascade.estimation.logistic import fit_logistic
    from probcascade.estimation.marginal import fit_marginal
    from probcascade.joint.correctness import fit_pairwise_correctness

    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(300), rng.normal(size=300)])
    y = (rng.random(300) < 1.0 / (1.0 + np.exp(-(X @ [0.2, 1.0])))).astype(float)
    phi = rng.uniform(0.05, 0.95, size=(300, 2))
    correct = (rng.random((300, 2)) < phi).astype(int)
    x = rng.beta(2.0, 5.0, size=400)
    x[:10], x[10:16] = 0.0, 1.0  # point masses at both ends
    uv = _gumbel_sample(2.0, (300,), seed=0)
    logits = rng.normal(size=(120, 3)) * 2.0
    labels = np.array([rng.choice(3, p=np.exp(r) / np.exp(r).sum()) for r in logits])
    return {
        "logistic": fit_logistic(X, y, names=("const", "x")),
        "pairwise_correctness": fit_pairwise_correctness(phi, correct, ("a", "b"), [(0, 1)])[("a", "b")].fit,
        "marginal": fit_marginal(x),
        "copula_tau": fit_copula(uv[:, 0], uv[:, 1], "gumbel", "tau"),
        "copula_mle": fit_copula(uv[:, 0], uv[:, 1], "gumbel", "mle"),
        "softmax_st": SoftmaxTemperatureScaler().fit(logits, labels).result_,
        "softmax_sv": VectorScaler().fit(logits, labels).result_,
    }


@pytest.mark.parametrize("name", ["logistic", "pairwise_correctness", "marginal", "copula_tau", "copula_mle",
                                  "softmax_st", "softmax_sv"])
def test_fit_results_share_the_interface(fit_results, name):
    fit = fit_results[name]
    assert isinstance(fit, FitResultMixin) and all(hasattr(fit, a) for a in INTERFACE)
    tidy = FitResultMixin.to_frame(fit).set_index("param")  # the estimates as the mixin sees them
    ci, ci90 = fit.conf_int(), fit.conf_int(alpha=0.10)
    assert list(ci.columns) == ["lower", "upper"] and list(ci.index) == list(tidy.index)
    ok = tidy["se"].to_numpy() > 0
    assert ok.any(), "at least one parameter has a standard error"
    est = tidy["estimate"].to_numpy()[ok]
    lower, upper = ci["lower"].to_numpy()[ok], ci["upper"].to_numpy()[ok]
    assert np.all(lower < est) and np.all(est < upper)  # the interval brackets the estimate
    assert np.all(lower < ci90["lower"].to_numpy()[ok]) and np.all(ci90["upper"].to_numpy()[ok] < upper)
    np.testing.assert_allclose(upper - lower, 2 * 1.959964 * tidy["se"].to_numpy()[ok], rtol=1e-6)
    assert isinstance(fit.n, (int, np.integer)) and fit.n > 0 and isinstance(bool(fit.converged), bool)
    assert math.isfinite(fit.loglik)
    assert fit.aic == pytest.approx(2 * fit.n_params - 2 * fit.loglik)
    assert fit.bic == pytest.approx(fit.n_params * math.log(fit.n) - 2 * fit.loglik)
    assert isinstance(fit.to_frame(), pd.DataFrame) and len(fit.to_frame()) > 0
    s = fit.summary()
    assert isinstance(s, Summary) and s.as_text() and s.as_html().startswith("<div")
    assert json.loads(s.as_json(allow_nan=False)) == s.to_dict()


def test_copula_mle_se_is_the_observed_information(fit_results):
    # reference: central second difference of an independent NumPy log-likelihood. With h = 1e-3 theta the
    # truncation error is ~h^2 |l''''| / 12 ~ 1e-6 relative and the rounding error ~4 eps |l| / h^2 ~ 1e-9
    # relative, so 1e-5 is a safe relative tolerance for the standard error.
    fit = fit_results["copula_mle"]
    u, v = fit.data
    t, h = fit.theta, 1e-3 * fit.theta
    assert _gumbel_loglik(t, u, v) == pytest.approx(fit.loglik, rel=1e-10)
    d2 = (_gumbel_loglik(t + h, u, v) - 2 * _gumbel_loglik(t, u, v) + _gumbel_loglik(t - h, u, v)) / h**2
    assert fit.se["theta"] == pytest.approx((-d2) ** -0.5, rel=1e-5)


def test_copula_tau_se_is_the_delta_method(fit_results):
    from scipy.stats import kendalltau

    from probcascade.estimation.copulas import (
        fit_copula,
        pseudo_observations,
        tau_standard_error,
    )

    fit = fit_results["copula_tau"]
    u, v = fit.data
    assert fit.se["theta"] == pytest.approx(fit.theta**2 * tau_standard_error(u, v), rel=1e-12)  # d tau/d theta = 1/theta^2
    ranked = fit_copula(pseudo_observations(u), pseudo_observations(v), "gumbel", "tau")  # tau depends on ranks only
    assert ranked.se["theta"] == pytest.approx(fit.se["theta"], rel=1e-12)
    # under independence Var(tau_n) = 2 (2n + 5) / (9 n (n - 1)) exactly; the plug-in variance of the U-statistic
    # projection has a relative standard error of ~sqrt((kurtosis - 1) / n) = sqrt(2.24 / 2000) = 3.3% (1.7% for
    # the standard error): a 6% tolerance is 3.5 of its standard deviations
    rng = np.random.default_rng(5)
    a, b = rng.random(2000), rng.random(2000)
    exact = math.sqrt(2 * (2 * 2000 + 5) / (9 * 2000 * 1999))
    assert tau_standard_error(a, b) == pytest.approx(exact, rel=0.06)
    # against the jackknife standard error of scipy's tau-b, with and without heavy ties (values rounded to one
    # decimal): without ties the two differ by the factor sqrt(1 - 2/n) only; the tie correction, applied as a
    # constant factor, was measured within 1% of the jackknife on three seeds
    for c, d in ((u, v), (np.round(u, 1), np.round(v, 1))):
        n = c.size
        jack = np.array([kendalltau(np.delete(c, i), np.delete(d, i)).statistic for i in range(n)])
        se_jack = math.sqrt((n - 1) / n * np.sum((jack - jack.mean()) ** 2))
        assert tau_standard_error(c, d) == pytest.approx(se_jack, rel=0.02)


def test_copula_se_matches_the_parametric_bootstrap():
    # Parametric bootstrap at theta = 2 (tau = 0.5), n = 300: the standard deviation of B = 2000 re-estimates
    # (scipy's Kendall tau / a NumPy likelihood maximised by scipy, independent of the package) against the
    # standard error reported by fit_copula, averaged over M = 60 of the same samples.  Monte Carlo error: the
    # standard deviation ~1/sqrt(2 B) = 1.6%, the mean standard error ~(8% spread)/sqrt(M) = 1.0%; measured
    # ratios on three seeds were 0.98-1.00.  8% is ~4 combined Monte Carlo standard deviations.
    from scipy.optimize import minimize_scalar
    from scipy.stats import kendalltau

    from probcascade.estimation.copulas import fit_copula

    n, B, M = 300, 2000, 60
    draws = _gumbel_sample(2.0, (B, n), seed=1)
    by_tau = np.array([1.0 / (1.0 - kendalltau(d[:, 0], d[:, 1]).statistic) for d in draws])
    by_mle = np.array([minimize_scalar(lambda t, d=d: -_gumbel_loglik(t, d[:, 0], d[:, 1]), bounds=(1.0001, 10.0),
                                       method="bounded", options={"xatol": 1e-7}).x for d in draws])
    for method, boot in (("tau", by_tau), ("mle", by_mle)):
        fits = [fit_copula(d[:, 0], d[:, 1], "gumbel", method) for d in draws[:M]]
        np.testing.assert_allclose([f.theta for f in fits], boot[:M], rtol=1e-5 if method == "mle" else 1e-10)
        mean_se = np.mean([f.se["theta"] for f in fits])
        assert mean_se / np.std(boot, ddof=1) == pytest.approx(1.0, abs=0.08), method


def _renders(s: Summary, titles: list[str], n_tables: int) -> None:
    import html as html_module

    text, html_text, md = s.as_text(), s.as_html(), s.as_markdown()
    for t in titles:
        assert t in text and html_module.escape(t) in html_text and t in md, t
    parser = _Balance()
    parser.feed(html_text)
    parser.close()
    assert not parser.errors and not parser.stack
    assert sum(tag == "table" for tag, _ in parser.tags) == n_tables
    assert sum(line.startswith("|") and set(line) <= set("|:-") for line in md.splitlines()) == n_tables
    assert json.loads(s.as_json(allow_nan=False)) == s.to_dict()


def test_frontier_summary_renders():
    from probcascade.tuning.frontier import Frontier

    t = np.linspace(0.0, 1.0, 30)
    f = Frontier.from_arrays(np.column_stack([t, t[::-1]]), 0.5 + 0.4 * t, 1.0 + 9.0 * t, lam=np.exp(-5 * t),
                             models=("small", "mid", "large"), method="rational")
    s = f.summary(max_rows=5)
    _renders(s, ["Frontier: rational", "small -> mid -> large"], n_tables=3)
    table = next(b for b in s.to_dict()["blocks"] if b["kind"] == "table" and b["columns"][0] == "lam")
    assert table["columns"] == ["lam", "threshold_1", "threshold_2", "p_correct", "e_cost"] and len(table["data"]) == 5
    assert "| lam | threshold_1 | threshold_2 | p_correct | e_cost |" in s.as_markdown()
    assert "5 of 30 points shown" in s and "points shown" not in f.summary(max_rows=30)


def test_markov_copula_model_summary_renders():
    from probcascade.calibration.calibrators import calibrate
    from probcascade.data.synthetic import make_synthetic_cascade
    from probcascade.joint.model import fit_markov_copula

    data = make_synthetic_cascade(300, seed=2)
    phi = calibrate(data).predict(data)
    model = fit_markov_copula(phi, data.models, correct=data.correct)
    s = model.summary()
    _renders(s, [f"Markov-copula model ({model.family})", "Marginals (point-mass beta mixtures)",
                 "Copulas (adjacent pairs drive the Markov chain)", "Pairwise correctness, adjacent pairs"], n_tables=3)
    assert "| model | phi_min | phi_max |" in s.as_markdown()
    blocks = s.to_dict()["blocks"]
    assert [len(b["data"]) for b in blocks[:2]] == [len(model.models), len(model.to_frame())]
    assert "the study's model is (0, 1, 0)" in s and "Pairwise" not in fit_markov_copula(phi, data.models).summary()
