"""inference/ on a second architecture: GPT-2 (learned absolute positions) under left padding.  Offline; skips
without the llm extra except under CI.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from inference_fixtures import need_llm, write_questions
from probcascade_inference.cli import main as inference_main


@pytest.fixture(scope="module", autouse=True)
def _llm():
    need_llm()


def test_gpt2_left_padding_batch_invariance(tmp_path):
    """GPT-2 has learned absolute positions, so a left-padded batch is only right when the position ids skip the
    padding: batch 1 and batch 8 agree to 1e-5 on every signal."""
    model = tmp_path / "gpt2"
    assert inference_main(["tiny-model", str(model), "--arch", "gpt2"]) == 0
    q = write_questions(tmp_path / "q.jsonl", 10, "mc", seed=4)
    frames = []
    for bs in (1, 8):
        out = tmp_path / f"b{bs}.csv"
        assert inference_main(["extract", "--model", str(model), "--questions", str(q), "--task", "mc", "--out", str(out),
                               "--signals", "mc-maxprob,verify-yes,sequence-prob,mean-token-entropy,perplexity",
                               "--max-new-tokens", "4", "--batch-size", str(bs)]) == 0
        frames.append(pd.read_csv(out))
    a, b = frames
    assert list(a["answer"]) == list(b["answer"]) and list(a["tokens_out"]) == list(b["tokens_out"])
    for col in [c for c in a.columns if c.startswith("signal_")]:
        assert np.max(np.abs(a[col].to_numpy() - b[col].to_numpy())) < 1e-5, col
