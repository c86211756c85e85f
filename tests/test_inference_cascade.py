"""inference/ into probcascade: the file ``extract`` writes is valid ``CascadeData`` and probcascade's own
``calibrate`` and ``tune`` commands run on it.  Offline; skips without the llm extra except under CI.
"""

from __future__ import annotations

import pytest
from inference_fixtures import need_llm, write_questions


@pytest.fixture(scope="module", autouse=True)
def _llm():
    need_llm()


def test_output_loads_in_probcascade_and_calibrate_tune_run(tmp_path, capsys):
    """A two-model cascade file from extract is valid CascadeData, and `probcascade calibrate` / `tune` run on it."""
    from probcascade_inference.cli import main as inference_main
    from probcascade_inference.tiny import build_tiny_model

    from probcascade import CascadeData
    from probcascade.cli import main as probcascade_main

    small = build_tiny_model(tmp_path / "small", seed=0)
    big = build_tiny_model(tmp_path / "big", seed=1)
    q = write_questions(tmp_path / "q.jsonl", 40, "mc", seed=2)
    out = tmp_path / "cascade.csv"
    assert inference_main(["extract", "--model", f"{small},{big}", "--questions", str(q), "--task", "mc",
                           "--out", str(out), "--signals", "mc-maxprob,token-aggregate", "--price-in", "0.1,0.9",
                           "--price-out", "0.1,0.9", "--batch-size", "16"]) == 0
    data = CascadeData.from_csv(out)
    assert data.models == ("small", "big") and data.n_queries == 40
    assert (data.logprob <= 0).all() and 0 < data.correct.mean() < 1
    assert (data.cost[:, 1] > data.cost[:, 0]).all()

    capsys.readouterr()
    assert probcascade_main(["calibrate", str(out)]) == 0
    assert "small" in capsys.readouterr().out
    assert probcascade_main(["tune", str(out), "--cascade", "small,big"]) == 0
    assert "small -> big" in capsys.readouterr().out

