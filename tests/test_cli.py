"""Command-line interface."""

import json

import pytest

from probcascade.cli import main


def test_demo_runs(capsys, tmp_path):
    assert main(["demo", "--n-train", "200", "--n-test", "300", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "%ECE" in out and "llama3.1-405b" in out
    assert (tmp_path / "reliability.png").stat().st_size > 1000


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
