"""The analysis commands of issue 16 (``route``, ``reject``, ``signals``, ``capability``) on a slice of the shared MMLU
data: their JSON keys, one number each against a direct call of the library function, and the clean errors (exit 2,
one line naming what is wrong) for a missing group column, an unknown signal column and an unknown model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from probcascade.cli.main import main

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def mmlu_slice(shared_dir, tmp_path_factory):
    """200 training and 300 test queries of the shared MMLU (Llama) training file, with two extra signal columns:
    a noisy log-probability and an entropy-like uncertainty (higher: less confident)."""
    import pandas as pd

    folder = tmp_path_factory.mktemp("mmlu_slice")
    frame = pd.read_csv(shared_dir / "mmlu_llama_train.csv")
    queries = sorted(frame["query"].unique())
    rng = np.random.default_rng(0)
    frame = frame[frame["query"].isin(queries[:500])].copy()
    frame["signal_noisy"] = np.minimum(frame["raw_logprob"] + rng.normal(0.0, 0.3, len(frame)), 0.0)
    frame["signal_entropy"] = -2.0 * frame["raw_logprob"] + rng.exponential(0.2, len(frame))
    for name, part in (("train", queries[:200]), ("test", queries[200:500])):
        frame[frame["query"].isin(part)].to_csv(folder / f"{name}.csv", index=False)
    return folder / "train.csv", folder / "test.csv"


def _calibrated(train_path, test_path):
    from probcascade.calibration.calibrators import calibrate
    from probcascade.data.cascade import CascadeData

    train = CascadeData.from_csv(train_path)
    test = CascadeData.from_csv(test_path, models=train.models)
    return test, calibrate(train, transform="one-sided").predict(test)


def _json(capsys, argv):
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return json.loads(captured.out)


def test_route_json(mmlu_slice, capsys):
    from probcascade.evaluation.routing_analysis import (
        parity_routing_rate,
        routing_curve,
    )

    train, test_path = mmlu_slice
    out = _json(capsys, ["route", str(train), "--test", str(test_path), "--small", "llama3.1-8b", "--large",
                         "llama3.1-405b", "--n-boot", "50", "--seed", "3", "--format", "json"])
    assert set(out["parity_routing_rate"]) == {"rate", "ci_low", "ci_high"}
    assert {"small", "large", "n_test", "accuracy", "accuracy_small", "accuracy_large", "cost_at_parity",
            "cost_large", "cost_saved", "cost_ratio", "aiq", "n_boot", "level", "tolerance"} <= set(out)
    test, phi = _calibrated(train, test_path)
    i, j = test.index("llama3.1-8b"), test.index("llama3.1-405b")
    cost = (test.cost[:, i].mean(), test.cost[:, j].mean())
    ref = parity_routing_rate(phi[:, i], test.correct[:, i], test.correct[:, j], cost=cost, n_boot=50, seed=3)
    par = out["parity_routing_rate"]
    assert par["rate"] == pytest.approx(ref.rate, abs=1e-12)
    assert (par["ci_low"], par["ci_high"]) == pytest.approx((ref.ci_low, ref.ci_high), abs=1e-12)
    assert out["cost_saved"] == pytest.approx(ref.cost_saved, rel=1e-12)
    curve = routing_curve(phi[:, i], test.correct[:, i], test.correct[:, j], cost=cost)
    assert out["aiq"] == pytest.approx(curve.aiq(), rel=1e-12)


def test_route_prefix_json(mmlu_slice, capsys):
    """A cascade prefix 8b -> 70b (threshold 0.8) routed to 405b: the exit model's confidence and correctness are
    the small side, the prefix's mean cost its cost."""
    from probcascade.evaluation.routing_analysis import parity_routing_rate

    train, test_path = mmlu_slice
    out = _json(capsys, ["route", str(train), "--test", str(test_path), "--small", "llama3.1-8b,llama3.1-70b",
                         "--thresholds", "0.8", "--large", "llama3.1-405b", "--n-boot", "0", "--format", "json"])
    test, phi = _calibrated(train, test_path)
    cols = [test.index("llama3.1-8b"), test.index("llama3.1-70b")]
    j = test.index("llama3.1-405b")
    exit_ = np.where(phi[:, cols[0]] > 0.8, 0, 1)
    rows = np.arange(test.n_queries)
    conf, correct = phi[:, cols][rows, exit_], test.correct[:, cols][rows, exit_]
    paid = np.where(exit_ == 0, test.cost[:, cols[0]], test.cost[:, cols[0]] + test.cost[:, cols[1]])
    assert out["cost_small"] == pytest.approx(paid.mean(), rel=1e-12)
    assert out["exit_share"]["llama3.1-8b"] == pytest.approx(np.mean(exit_ == 0))
    ref = parity_routing_rate(conf, correct, test.correct[:, j], cost=(paid.mean(), test.cost[:, j].mean()), n_boot=0)
    assert out["parity_routing_rate"]["rate"] == pytest.approx(ref.rate, abs=1e-12)
    assert out["thresholds"] == [0.8] and out["prefix"] == ["llama3.1-8b", "llama3.1-70b"]
    rc = main(["route", str(train), "--test", str(test_path), "--small", "llama3.1-8b,llama3.1-70b",
               "--large", "llama3.1-405b"])
    err = capsys.readouterr().err
    assert rc == 2 and "--thresholds" in err


def test_reject_json(mmlu_slice, capsys):
    from probcascade.evaluation.rejection import (
        coverage_at_accuracy,
        prediction_rejection_ratio,
        risk_coverage,
    )

    train, test_path = mmlu_slice
    out = _json(capsys, ["reject", str(train), "--test", str(test_path), "--coverage", "0.7", "--target-accuracy",
                         "0.9", "--format", "json"])
    test, phi = _calibrated(train, test_path)
    assert [m["model"] for m in out["models"]] == list(test.models)
    row = out["models"][test.index("llama3.1-70b")]
    assert {"accuracy", "aurc", "eaurc", "prr", "accuracy_at_coverage", "coverage_at_accuracy",
            "threshold_check"} <= set(row)
    j = test.index("llama3.1-70b")
    rc = risk_coverage(phi[:, j], test.correct[:, j])
    assert row["aurc"] == pytest.approx(rc.aurc, rel=1e-12)
    assert row["prr"] == pytest.approx(prediction_rejection_ratio(phi[:, j], test.correct[:, j]), rel=1e-12)
    assert row["coverage_at_accuracy"] == pytest.approx(coverage_at_accuracy(phi[:, j], test.correct[:, j], 0.9))
    assert row["threshold_check"]["consistent"] <= row["threshold_check"]["thresholds_with_data"]


def test_reject_table_without_target(mmlu_slice, capsys):
    train, test_path = mmlu_slice
    assert main(["reject", str(train), "--test", str(test_path)]) == 0
    out = capsys.readouterr().out
    assert "acc@cov 0.8" in out and "cov@acc" not in out and "llama3.1-405b" in out


def test_capability_json(mmlu_slice, capsys):
    from probcascade.calibration.capability import capability_calibration
    from probcascade.cli.analysis import read_query_column

    train, test_path = mmlu_slice
    out = _json(capsys, ["capability", str(train), "--test", str(test_path), "--group", "subject",
                         "--format", "json"])
    assert out["group_column"] == "subject"
    test, phi = _calibrated(train, test_path)
    j = test.index("llama3.1-8b")
    row = out["models"][j]
    assert row["model"] == "llama3.1-8b"
    assert {"ece_response", "ece_instance", "ece_group", "mae_instance", "n_groups", "groups"} <= set(row)
    assert {"subject", "n", "accuracy", "mean_confidence", "gap"} <= set(row["groups"][0])
    groups = read_query_column(test_path, test, "subject")
    ref = capability_calibration(phi[:, j], test.correct[:, j], groups)
    assert row["ece_group"] == pytest.approx(ref.ece_group, rel=1e-12)
    assert sum(g["n"] for g in row["groups"]) == test.n_queries


def test_signals_json(mmlu_slice, capsys):
    from probcascade.calibration.calibrators import LogisticCalibrator
    from probcascade.calibration.metrics import ece
    from probcascade.data.cascade import CascadeData
    from probcascade.evaluation.signals import auroc_delong

    train, test_path = mmlu_slice
    out = _json(capsys, ["signals", str(train), "--test", str(test_path), "--format", "json"])
    first = out["models"][0]
    assert [s["signal"] for s in first["signals"]] == ["raw_logprob", "signal_noisy", "signal_entropy"]
    assert {"auroc", "auroc_ci_low", "auroc_ci_high", "ece", "brier", "prr", "reference", "delta_auroc",
            "pvalue"} <= set(first["signals"][0])
    # raw_logprob through the study's calibrator: the same AUROC as the calibrated primary signal
    tr = CascadeData.from_csv(train)
    te = CascadeData.from_csv(test_path, models=tr.models)
    j = te.index("llama3.1-8b")
    p = LogisticCalibrator(transform="one-sided").fit(tr.logprob[:, j], tr.correct[:, j]).predict(te.logprob[:, j])
    ref = auroc_delong(p, te.correct[:, j])
    got = out["models"][j]["signals"][0]
    assert got["auroc"] == pytest.approx(ref.auroc, rel=1e-12)
    assert got["ece"] == pytest.approx(ece(p, te.correct[:, j], 10, "quantile"), rel=1e-12)
    # the entropy (higher: less confident) is oriented by its calibration: an AUROC well above 1/2
    entropy = out["models"][j]["signals"][2]
    assert entropy["auroc"] > 0.6 and 0.0 <= entropy["brier"] <= 1.0


def test_signals_subset_and_table(mmlu_slice, capsys):
    train, _ = mmlu_slice
    assert main(["signals", str(train), "--signals", "signal_noisy, raw_logprob"]) == 0
    out = capsys.readouterr().out
    assert "signal_noisy" in out and "signal_entropy" not in out and "in-sample" in out


@pytest.mark.parametrize("argv, needle", [
    (["capability", "{train}", "--test", "{test}", "--group", "topic"], "'topic'"),
    (["signals", "{train}", "--signals", "raw_logprob,signal_nope"], "signal_nope"),
    (["route", "{train}", "--test", "{test}", "--small", "gpt-nope", "--large", "llama3.1-405b"], "gpt-nope"),
    (["route", "{train}", "--test", "{test}", "--small", "llama3.1-8b", "--large", "llama3.1-8b"], "same model"),
])
def test_bad_input_is_a_clean_error(mmlu_slice, capsys, argv, needle):
    train, test_path = mmlu_slice
    argv = [a.format(train=train, test=test_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("probcascade: error:") and needle in err and "\n" not in err


def test_help_has_an_example(capsys):
    for command in ("route", "reject", "signals", "capability"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        assert f"Example: probcascade {command} " in capsys.readouterr().out.replace("\n", " ").replace("  ", " ")
