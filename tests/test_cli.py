"""Command-line interface."""

import json

import pytest

from probcascade.cli.main import main


@pytest.mark.xdist_group("demo")   # shares its compilations with tests/test_report.py's demo report
def test_demo_runs(capsys, tmp_path):
    assert main(["demo", "--n-train", "200", "--n-test", "300", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "%ECE" in out and "llama3.1-405b" in out and "Markov-copula model" in out and "auc_rational" in out
    for name in ("reliability.png", "frontier.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert (tmp_path / "auc.csv").read_text().startswith("cascade,k,auc_rational")
    assert "<section id=\"recommendation\">" in (tmp_path / "report.html").read_text()   # and the report


def test_bad_file_is_a_clean_error(capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("query,model,raw_logprob,correct,cost_usd\n0,a,0.5,1,0.1\n")
    assert main(["calibrate", str(bad)]) == 2
    assert "raw_logprob" in capsys.readouterr().err


@pytest.mark.shared_data
@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_calibrate_formats(shared_dir, capsys, fmt):
    train, test = shared_dir / "truthfulqa_llama_train.csv", shared_dir / "truthfulqa_llama_test.csv"
    assert main(["calibrate", str(train), "--test", str(test), "--format", fmt]) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        recs = json.loads(out)
        assert len(recs) == 5
        keys = {"model", "n", "accuracy", "cert_fraction", "ece", "brier", "auroc", "coef", "se", "p_value"}
        assert keys <= set(recs[0])
        assert recs[1]["model"] == "llama3.2-3b" and abs(recs[1]["ece"] - 0.075) < 0.002 and recs[1]["n"] == 517
    elif fmt == "csv":
        assert out.splitlines()[0].startswith("model,n,accuracy")
        assert len(out.strip().splitlines()) == 6
    else:
        assert "two-sided" in out and "llama3.1-405b" in out


def test_tune_json_and_table(tmp_path, capsys):
    from probcascade.data.synthetic import synthetic_train_test

    train, test = synthetic_train_test(250, 400, seed=7)
    ptr, pte = tmp_path / "tr.csv", tmp_path / "te.csv"
    train.to_frame().to_csv(ptr, index=False)
    test.to_frame().to_csv(pte, index=False)
    m = train.models
    casc = f"{m[0]},{m[2]},{m[4]}"
    assert main(["tune", str(ptr), "--test", str(pte), "--cascade", casc, "--baselines", "grid", "--format", "json"]) == 0
    recs = json.loads(capsys.readouterr().out)
    assert len(recs) == 1 and recs[0]["models"] == [m[0], m[2], m[4]] and recs[0]["k"] == 3
    for method in ("rational", "grid"):
        r = recs[0][method]
        assert 0 < r["auc"] < 1 and r["time_s"] > 0
        assert all(len(t) == 2 for t in r["thresholds"])
        assert all(len(p) == 2 and 0 <= p[1] <= 1 for p in r["test_points"])
    assert main(["tune", str(ptr), "--test", str(pte), "--cascade", f"{m[0]},{m[1]}"]) == 0
    assert "auc_rational" in capsys.readouterr().out
    assert main(["tune", str(ptr), "--test", str(pte), "--cascade", casc, "--copula", "aic", "--format", "json"]) == 0
    r = json.loads(capsys.readouterr().out)[0]["rational"]
    assert 0 < r["auc"] < 1 and len(r["thresholds"]) > 5
    assert main(["tune", str(ptr), "--test", str(pte), "--cascade", casc, "--correctness", "pairwise",
                 "--format", "json"]) == 0
    r = json.loads(capsys.readouterr().out)[0]["rational"]
    assert 0 < r["auc"] < 1 and len(r["thresholds"]) > 5
    assert main(["tune", str(ptr), "--test", str(pte), "--cascade", casc, "--correctness", "pairwise",
                 "--max-cost-gap", "0.02", "--format", "json"]) == 0
    r_gap = json.loads(capsys.readouterr().out)[0]["rational"]
    assert 0 < r_gap["auc"] < 1 and len(r_gap["thresholds"]) > len(r["thresholds"])
    assert main(["tune", str(ptr), "--cascade", f"{m[0]},nope"]) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.slow
def test_gof_json(tmp_path, capsys):
    from probcascade.data.synthetic import synthetic_train_test

    train, test = synthetic_train_test(200, 300, seed=8)
    ptr, pte = tmp_path / "tr.csv", tmp_path / "te.csv"
    train.to_frame().to_csv(ptr, index=False)
    test.to_frame().to_csv(pte, index=False)
    assert main(["gof", str(ptr), "--test", str(pte), "--bootstrap", "30", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"marginals", "copulas", "kendall_tau", "markov_table"} <= set(out)
    assert len(out["marginals"]) == 5 and len(out["copulas"]) == 4
    keys = {"sqrt_cvm", "p_value", "sqrt_cvm_refit", "p_value_refit"}
    assert keys <= set(out["marginals"][0]) and all(0 <= m["p_value"] <= 1 for m in out["marginals"])
    assert {"model_a", "model_b", "tau", "theta", "sqrt_n_cvm", "s_n", "p_value"} <= set(out["copulas"][0])


@pytest.mark.shared_data
def test_cli_ensemble_json(shared_dir, tmp_path, capsys):
    """`probcascade ensemble` on a slice of the shared MMLU data: the issue's JSON keys, a policy cheaper than WMV."""
    import pandas as pd

    frame = pd.read_csv(shared_dir / "mmlu_llama_train.csv")
    queries = sorted(frame["query"].unique())
    for name, part in (("train", queries[:200]), ("test", queries[200:])):
        frame[frame["query"].isin(part)].to_csv(tmp_path / f"{name}.csv", index=False)
    rc = main(["ensemble", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv"), "--no-rational",
               "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert set(out) == {"policy", "wmv", "single", "sweep", "rational_auc_same_range", "policy_auc"}
    assert out["policy"]["cost_per_query"] < out["wmv"]["cost_per_query"]
    assert abs(sum(out["policy"]["depth_shares"]) - 1.0) < 1e-12 and len(out["single"]) == 5
