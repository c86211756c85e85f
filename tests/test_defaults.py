"""The recommended model (probcascade.tuning.recommended) and the command line's defaults that follow it (issue 18,
item 6): ``tune``, ``gof`` and ``report`` resolve ``--copula``/``--correctness auto`` from the training size, the
study's model is one flag away, and the output says which model ran."""

from __future__ import annotations

import json

import pytest

from probcascade.cli.main import main
from probcascade.exceptions import DataValidationError
from probcascade.tuning.recommended import PAIRWISE_MIN_N, STUDY_MODEL, recommended_model, resolve_model

RECOMMENDED = {"family": "aic", "correctness": "pairwise"}
# either side of the rule's threshold; 250 training and 400 test queries are tests/test_cli.py's draw (the sampler
# compiles once for both)
SMALL, LARGE = PAIRWISE_MIN_N - 40, 250


# ------------------------------------------------------------------------------------------------ the rule (no JAX)
def test_rule_switches_at_the_stated_threshold():
    assert recommended_model(PAIRWISE_MIN_N - 1).options == STUDY_MODEL
    assert recommended_model(PAIRWISE_MIN_N).options == RECOMMENDED
    assert recommended_model(0).is_study_model and not recommended_model(10_000).is_study_model
    assert f">= {PAIRWISE_MIN_N}" in recommended_model(300).rule and "study's model" in recommended_model(30).rule


def test_explicit_options_win_and_study_model_is_one_switch():
    assert resolve_model(300).options == RECOMMENDED
    given = resolve_model(300, "gumbel", "marginal")
    assert given.options == STUDY_MODEL and given.rule == "as given"
    half = resolve_model(300, "frank")          # correctness still by the rule
    assert half.options == {"family": "frank", "correctness": "pairwise"} and "correctness by rule" in half.rule
    assert resolve_model(10, correctness="pairwise").options == {"family": "gumbel", "correctness": "pairwise"}
    assert resolve_model(300, study_model=True).options == STUDY_MODEL
    with pytest.raises(DataValidationError, match="--study-model"):
        resolve_model(300, "aic", study_model=True)
    with pytest.raises(DataValidationError, match="copula"):
        resolve_model(300, "normal")
    with pytest.raises(DataValidationError, match="'n'"):
        recommended_model(-1)
    assert resolve_model(300).to_dict() == {"copula": "aic", "correctness": "pairwise",
                                            "rule": recommended_model(300).rule}


# ------------------------------------------------------------------------------------------------ the command line
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Train files of SMALL and LARGE queries and a test file of a 2-model cascade drawn from the package's own
    generative model (two models keep the fit and the k = 2 frontier small)."""
    from probcascade.data.synthetic import synthetic_train_test

    folder = tmp_path_factory.mktemp("defaults")
    train, test = synthetic_train_test(LARGE, 400, seed=3)
    models = list(train.models[2:4])
    out = {}
    for name, data in (("large", train), ("small", train.take(range(SMALL))), ("test", test)):
        out[name] = folder / f"{name}.csv"
        data.subset(models).to_frame().to_csv(out[name], index=False)
    return out


def _tune(capsys, train, test, *flags):
    assert main(["tune", str(train), "--test", str(test), "--format", "json", "-q", *flags]) == 0
    recs = json.loads(capsys.readouterr().out)
    assert len(recs) == 1
    return recs[0]


def test_tune_default_follows_the_rule_and_says_which_model_ran(files, capsys):
    large = _tune(capsys, files["large"], files["test"])
    assert large["model"] == {"copula": "aic", "correctness": "pairwise", "rule": recommended_model(LARGE).rule}
    # the study's model, two flags away (or --study-model: test_report_passes_the_resolved_model); on the same data
    # a different frontier, so the default did not run the study's model
    study = _tune(capsys, files["large"], files["test"], "--copula", "gumbel", "--correctness", "marginal")
    assert study["model"] == {"copula": "gumbel", "correctness": "marginal", "rule": "as given"}
    assert study["rational"]["thresholds"] != large["rational"]["thresholds"]
    # the switch runs the same model (compiled already); the table names the model above the AUC table
    assert main(["tune", str(files["large"]), "--test", str(files["test"]), "-q", "--study-model"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("model: copula gumbel, correctness marginal (study's model (asked for))\n")
    assert "auc_rational" in out


def test_tune_default_below_the_threshold_is_the_study_model(files, capsys, monkeypatch):
    """Below the threshold ``tune`` hands the study's model to tune_cascades (recorded by a stand-in that stops the
    command: the resolution, not the fit, is under test here)."""
    import probcascade.pipeline as pipeline

    seen = {}

    def record(fit, test, **kwargs):
        seen.update(kwargs["options"].to_dict(), n=fit.n_queries)
        raise _Stop

    monkeypatch.setattr(pipeline, "tune_cascades", record)
    assert main(["tune", str(files["small"]), "--test", str(files["test"]), "-q"]) == 1
    assert (seen["family"], seen["correctness"], seen["n"]) == ("gumbel", "marginal", SMALL)
    assert main(["tune", str(files["small"]), "--test", str(files["test"]), "-q", "--correctness", "pairwise"]) == 1
    assert (seen["family"], seen["correctness"]) == ("gumbel", "pairwise")
    capsys.readouterr()


def test_study_model_switch_refuses_other_model_options(files, capsys):
    assert main(["tune", str(files["large"]), "--study-model", "--copula", "aic"]) == 2
    assert "--study-model" in capsys.readouterr().err


class _Stop(Exception):
    pass


@pytest.mark.parametrize("flags, n, family", [([], "large", "aic"), ([], "small", "gumbel"),
                                              (["--copula", "frank"], "large", "frank"),
                                              (["--study-model"], "large", "gumbel")])
def test_gof_takes_copula_and_resolves_it(files, capsys, monkeypatch, flags, n, family):
    """``gof --copula``: the family handed to goodness_of_fit (recorded by a stand-in, no bootstrap run) and the
    JSON's ``model`` field."""
    import probcascade.gof.report as rep

    seen = {}

    class Report:
        pairs = ()

        def to_dict(self):
            return {"copulas": []}

    def record(train, test, **kwargs):
        seen.update(kwargs, n=train.n_queries)
        return Report()

    monkeypatch.setattr(rep, "goodness_of_fit", record)
    assert main(["gof", str(files[n]), "--test", str(files["test"]), "--format", "json", *flags]) == 0
    out = json.loads(capsys.readouterr().out)
    assert seen["family"] == family and out["model"]["copula"] == family and out["model"]["pair_families"] == []
    assert out["model"]["rule"] == (recommended_model(seen["n"]).rule if not flags else
                                    "as given" if flags[0] == "--copula" else "study's model (asked for)")


def test_gof_aic_tests_each_pair_with_its_chosen_family(monkeypatch):
    """goodness_of_fit(family="aic"): each pair's family is the training interior's AIC choice (marginal tests
    stubbed out: only the copula part runs, with 10 bootstrap samples)."""
    import probcascade.gof.report as rep
    from probcascade.data.synthetic import synthetic_train_test
    from probcascade.estimation.copulas import compare_copulas, pseudo_observations
    from probcascade.joint.model import AIC_FAMILIES, cell_of

    monkeypatch.setattr(rep, "marginal_gof", lambda *a, **k: None)
    train, test = synthetic_train_test(250, 400, seed=5)
    train, test = train.subset(train.models[:3]), test.subset(test.models[:3])
    report = rep.goodness_of_fit(train, test, n_boot=10, family="aic")
    frame = report.copula_frame()
    assert list(frame["family"]) == [p.family for p in report.pairs] and len(frame) == 2
    phi = report.calibration.predict(train)
    lo, hi = phi.min(axis=0), phi.max(axis=0)
    for i, pair in enumerate(report.pairs):
        inside = (cell_of(phi[:, i], lo[i], hi[i]) == 1) & (cell_of(phi[:, i + 1], lo[i + 1], hi[i + 1]) == 1)
        u = pseudo_observations(phi[inside][:, [i, i + 1]])
        # the smallest AIC among the candidates (method "tau", as the report fits them)
        best = compare_copulas(u[:, 0], u[:, 1], families=AIC_FAMILIES, method="tau").index[0]
        assert pair.family in (best, "independence")
        assert pair.gof.p_value is not None and 0 < pair.gof.p_value <= 1


def test_report_passes_the_resolved_model(files, capsys, monkeypatch, tmp_path):
    """``report`` hands the rule's model to build_report (recorded by a stand-in that stops the command)."""
    import probcascade.report.build as build

    seen = {}

    def record(train, test, **kwargs):
        seen.update(kwargs)
        raise _Stop

    monkeypatch.setattr(build, "build_report", record)
    argv = ["report", str(files["large"]), "--test", str(files["test"]), "--out", str(tmp_path)]
    assert main(argv) == 1 and seen["family"] == "aic" and seen["correctness"] == "pairwise"
    assert main(argv + ["--study-model"]) == 1
    assert (seen["family"], seen["correctness"]) == ("gumbel", "marginal")
    capsys.readouterr()
