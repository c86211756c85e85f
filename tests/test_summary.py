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
