"""``probcascade tune``'s operating-point options: --target-accuracy, --budget, --delta/--holdout and --out."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from probcascade.cli.main import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from probcascade.data.synthetic import synthetic_train_test

    train, test = synthetic_train_test(400, 400, seed=11)
    folder = tmp_path_factory.mktemp("tune_points")
    ptr, pte = folder / "tr.csv", folder / "te.csv"
    train.to_frame().to_csv(ptr, index=False)
    test.to_frame().to_csv(pte, index=False)
    m = train.models
    return ptr, pte, f"{m[0]},{m[2]},{m[4]}", (m[0], m[2], m[4])


def test_tune_points_json_and_out(files, tmp_path, capsys):
    ptr, pte, casc, models = files
    out = tmp_path / "frontier.csv"
    args = ["tune", str(ptr), "--test", str(pte), "--cascade", casc, "--target-accuracy", "0.75", "--budget", "1e-4",
            "--delta", "0.1", "--out", str(out), "--format", "json"]
    assert main(args) == 0
    rec = json.loads(capsys.readouterr().out)[0]
    target_pt, budget_pt = rec["operating_points"]
    assert target_pt["rule"] == "accuracy >= 0.75" and budget_pt["rule"] == "cost <= 0.0001"
    if target_pt["found"]:
        assert target_pt["predicted_accuracy"] >= 0.75 and set(target_pt["thresholds"]) == set(models[:2])
        assert 0 < target_pt["test_accuracy"] < 1 and target_pt["test_cost"] > 0
    if budget_pt["found"]:
        assert budget_pt["predicted_cost"] <= 1e-4
    cert = rec["certified"]
    assert cert["target"] == 0.75 and cert["delta"] == 0.1 and cert["n_calibration"] == 200   # --holdout 0.5 of 400
    if cert["certified"]:
        assert cert["bound"] == 0.75 and cert["cp_lower"] >= 0.75 and "test_accuracy" in cert
    else:
        assert cert["message"].startswith("nothing certified") and cert["thresholds"] is None
    # --out: the frontier (fitted on the 200 fit queries under --delta) with named columns and sources
    table = pd.read_csv(out)
    assert list(table.columns) == ["cascade", "lam", *(f"threshold_{m}" for m in models[:2]), "p_correct", "e_cost",
                                   "source"]
    assert set(table["source"]) <= {"sweep", "infill", "gap"} and "sweep" in set(table["source"])
    assert np.all(table.loc[table["source"] == "sweep", "lam"].notna())
    assert np.all(table.loc[table["source"] != "sweep", "lam"].isna())
    assert len(table) == rec["rational"]["test_points"].__len__()


@pytest.mark.parametrize("extra, message", [
    (["--delta", "0.1"], "--target-accuracy"),
    (["--target-accuracy", "1.5"], "--target-accuracy"),
    (["--budget", "-1"], "--budget"),
    (["--out", "frontier.txt"], ".csv or .json"),
    (["--target-accuracy", "0.7", "--delta", "0.1", "--holdout", "0.999"], "--holdout"),
])
def test_bad_operating_point_options_exit_2(files, capsys, extra, message):
    ptr, _, casc, _ = files
    assert main(["tune", str(ptr), "--cascade", casc, *extra]) == 2
    assert message in capsys.readouterr().err


def test_parser_has_the_options_without_jax():
    import subprocess
    import sys

    code = ("import sys; from probcascade.cli.main import build_parser; p = build_parser(); "
            "a = p.parse_args(['tune', 'x.csv', '--target-accuracy', '0.8', '--delta', '0.05', '--budget', '0.01', "
            "'--out', 'f.json']); assert (a.target_accuracy, a.delta, a.budget, a.out, a.holdout) == "
            "(0.8, 0.05, 0.01, 'f.json', 0.5); assert 'jax' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
