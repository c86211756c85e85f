"""Copula pairs that fall back to the independence copula (training tau <= 0) are named as such in the
goodness-of-fit tables, its JSON and the report's text (issue 15)."""

import json
import warnings
from collections import namedtuple
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from probcascade.exceptions import IndependenceFallbackWarning


def _anti_dependent(data):
    """The same data with the answers of models 1, 2, ... (log-probabilities with correctness and cost, moved together
    per query) reassigned to the queries in the reverse rank order of model 0's log-probabilities: each model's
    calibration and the later pairs are unchanged, and the pair (0, 1) has Kendall's tau close to -1."""
    src = np.argsort(data.logprob[:, 1], kind="stable")[::-1]         # model 1's answers, most confident first
    dst = np.argsort(data.logprob[:, 0], kind="stable")               # model 0's queries, least confident first
    arrays = {}
    for name in ("logprob", "correct", "cost"):
        a = getattr(data, name).copy()
        a[dst, 1:] = getattr(data, name)[src, 1:]
        arrays[name] = a
    return replace(data, **arrays)


def _fake_marginal_gof(*args, **kwargs):
    params = namedtuple("Params", "lo hi")(0.1, 0.9)
    return SimpleNamespace(n_train=1, n_test=1, sqrt_cvm=0.1, p_value=0.5, p_value_boot=0.5, sqrt_cvm_refit=0.1,
                           p_value_refit=0.5, train_fit=SimpleNamespace(params=params))


@pytest.fixture
def fallback_report(monkeypatch):
    """goodness_of_fit on 3 synthetic models whose first pair is anti-dependent on train, with the bootstrapped
    marginal and copula tests stubbed out (only the fits run: no bootstrap kernels to compile)."""
    import probcascade.gof.report as rep
    from probcascade.data.synthetic import synthetic_train_test

    def fake_copula_gof(u, v, family, theta=None, n_boot=0, seed=0):
        return SimpleNamespace(n=len(u), tau=-0.5, theta=1.0, sqrt_n_cvm=0.01, statistic=0.1, p_value=0.5)

    monkeypatch.setattr(rep, "marginal_gof", _fake_marginal_gof)
    monkeypatch.setattr(rep, "copula_gof", fake_copula_gof)
    train, test = synthetic_train_test(250, 300, seed=5)
    train, test = train.subset(train.models[:3]), test.subset(test.models[:3])
    with pytest.warns(IndependenceFallbackWarning, match="Kendall"):
        return rep.goodness_of_fit(_anti_dependent(train), test, n_boot=5, family="gumbel")


def test_fallback_pair_is_named_in_table_json_and_note(fallback_report):
    r = fallback_report
    first, second = r.pairs
    assert first.family == "independence" and first.requested_family == "gumbel" and first.fell_back
    assert first.theta == 0.0 and first.tau_train < -0.9           # reversed ranks: tau near -1
    assert second.family == "gumbel" and not second.fell_back and second.tau_train > 0
    frame = r.copula_frame()
    assert list(frame["family"]) == ["independence", "gumbel"]
    assert frame["tau_train"].iloc[0] == pytest.approx(first.tau_train)
    d = json.loads(json.dumps(r.to_dict()))
    assert [(c["family"], c["requested_family"], c["fallback"]) for c in d["copulas"]] == [
        ("independence", "gumbel", True), ("gumbel", "gumbel", False)]
    note = r.fallback_note()
    a, b = r.models[:2]
    assert f"({a}, {b}): training tau {first.tau_train:.3f}" in note and "positive dependence only" in note
    assert f"({b}, {r.models[2]})" not in note
    assert " ".join(note.split()) in " ".join(r.summary().as_text().split())


def test_report_section_says_which_pairs_fell_back_and_why(fallback_report, monkeypatch):
    """The report's goodness-of-fit section: the family column says "independence" and the text names the pair and
    its training tau (the figures' marginal and copula panels stubbed: the fake marginal tests have no fits)."""
    import matplotlib

    matplotlib.use("Agg")
    from probcascade.report import sections

    def fake_marginal(fit, data, ax=None, label=None):
        ax.plot([0, 1], [0, 1], label=label)
        ax.legend()

    monkeypatch.setattr(sections, "plot_marginal", fake_marginal)
    monkeypatch.setattr(sections, "plot_copula_scatter", lambda *a, **k: None)
    r = fallback_report
    phi = np.random.default_rng(0).uniform(0.05, 0.95, (30, len(r.models)))
    section = sections.gof_section(r, phi, phi)
    text = " ".join(" ".join(section.intro).split())
    assert " ".join(r.fallback_note().split()) in text
    assert f"({r.models[0]}, {r.models[1]}): training tau" in text and "positive dependence only" in text
    table = section.summary.as_markdown()
    assert "independence" in table and "tau_train" in table


def test_no_fallback_no_note(monkeypatch):
    import probcascade.gof.report as rep
    from probcascade.data.synthetic import synthetic_train_test

    monkeypatch.setattr(rep, "marginal_gof", _fake_marginal_gof)
    monkeypatch.setattr(rep, "copula_gof", lambda u, v, **k: SimpleNamespace(
        n=len(u), tau=0.3, theta=1.4, sqrt_n_cvm=0.01, statistic=0.1, p_value=0.5))
    train, test = synthetic_train_test(250, 300, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", IndependenceFallbackWarning)
        r = rep.goodness_of_fit(train.subset(train.models[:3]), test.subset(test.models[:3]), n_boot=5)
    assert r.fallback_note() == "" and not any(p.fell_back for p in r.pairs)
    assert [c["fallback"] for c in r.to_dict()["copulas"]] == [False, False]
