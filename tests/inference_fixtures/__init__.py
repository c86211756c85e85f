"""Helpers shared by tests/test_inference*.py: the llm-extra gate and a questions-file generator."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

HAVE_LLM = all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "tokenizers"))


def need_llm() -> None:
    """Skip without torch/transformers/tokenizers, except under CI (CI=true), where that is a failure."""
    if not HAVE_LLM:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("torch/transformers/tokenizers missing: CI must install the llm extra (pip install -e '.[dev,llm]')")
        pytest.skip("the llm extra (torch, transformers, tokenizers) is not installed")


WORDS = ("the of capital city river planet largest number water fire earth sun moon red blue green paris london rome "
         "mars venus first last year one two three").split()


def write_questions(path: Path, n: int, task: str = "mc", seed: int = 0) -> Path:
    """``n`` random questions of varied lengths (so that batches are left-padded); mc ones have 3 or 4 choices."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for i in range(n):
            q = " ".join(rng.choice(WORDS, size=int(rng.integers(2, 25)))) + "?"
            if task == "mc":
                k = 4 if i % 4 else 3
                rec = {"id": f"q{i}", "question": q,
                       "choices": [" ".join(rng.choice(WORDS, size=2)) for _ in range(k)],
                       "answer": "ABCD"[int(rng.integers(k))], "subject": f"s{i % 3}"}
            else:
                rec = {"question": q, "answer": [str(rng.choice(WORDS))]}
            f.write(json.dumps(rec) + "\n")
    return Path(path)
