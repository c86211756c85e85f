"""Self-REF training data (seed 004 §3.2, Algorithm 1) from the output of an ``extract`` run.

Algorithm 1 turns a base model's own predictions ``ŷ`` on the training questions into confidence-token training
examples:

1. unconfident samples ``(x, ŷ <UN>)`` for the questions the model answered incorrectly (``y != ŷ``);
2. confident samples ``(x, ŷ <CN>)`` for those it answered correctly;
3. the union, with the unconfident samples subsampled to a proportion ``alpha`` in [0, 1].

During fine-tuning the gradients of the *answer* tokens of the unconfident samples are masked out (seed 004 §3.2:
"Gradients from the incorrect answers in the unconfident samples are masked out"), so that the model learns to emit
``<UN>`` after a wrong answer without learning to give the wrong answer; each record therefore carries
``segments`` with a ``train`` flag (``False`` on the answer of an unconfident sample) besides the plain
``completion``.  Fine-tuning itself is out of scope.

Each JSONL record: ``id``, ``system``, ``user`` (the prompt of the run, rendered from the same prompt set),
``answer`` (the model's answer as recorded), ``correct``, ``confidence_token`` (``<CN>``/``<UN>``), ``completion``
(``answer`` immediately followed by the token, which is where the ``confidence-token`` signal reads it), ``segments``
and ``model``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .prompts import fields, load_prompts
from .questions import Question, load_questions

__all__ = ["selfref_dataset", "selfref_records"]


def _error(msg: str):
    from probcascade.exceptions import DataValidationError

    return DataValidationError(msg)


def selfref_records(
    results: str | Path,
    questions: str | Path | Sequence[Question],
    *,
    task: str = "mc",
    model: str | None = None,
    alpha: float = 1.0,
    seed: int = 0,
    prompts=None,
) -> list[dict]:
    """Algorithm 1 of seed 004 on one model's rows of an ``extract`` output file; the records, in question order."""
    if not 0.0 <= float(alpha) <= 1.0:
        raise _error(f"alpha must lie in [0, 1], got {alpha!r}")
    qs = load_questions(questions, task) if isinstance(questions, (str, Path)) else list(questions)
    by_id = {q.id: q for q in qs}
    path = Path(results)
    if not path.is_file():
        raise _error(f"results file not found: {path}")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise _error(f"{path} has no rows")
    for col in ("query", "model", "correct", "answer"):
        if col not in rows[0]:
            raise _error(f"{path} has no '{col}' column (not an extract output file?)")
    models = list(dict.fromkeys(r["model"] for r in rows))
    if model is None:
        if len(models) > 1:
            raise _error(f"{path} holds several models {models}; choose one with model=")
        model = models[0]
    elif model not in models:
        raise _error(f"model {model!r} not in {path} (models: {models})")
    mine = {r["query"]: r for r in rows if r["model"] == model}
    unknown = [qid for qid in mine if qid not in by_id]
    if unknown:
        raise _error(f"{path}: query {unknown[0]!r} is not in the questions (another questions file?)")

    p = load_prompts(prompts, task)
    records = []
    for q in qs:
        r = mine.get(q.id)
        if r is None:
            continue
        correct = r["correct"].strip() == "1"
        token = "<CN>" if correct else "<UN>"
        f = fields(q)
        records.append({
            "id": q.id, "model": model, "system": p.system.format(**f), "user": p.user.format(**f),
            "answer": r["answer"], "correct": correct, "confidence_token": token,
            "completion": r["answer"] + token,
            "segments": [{"text": r["answer"], "train": correct}, {"text": token, "train": True}],
        })
    un = [k for k, rec in enumerate(records) if not rec["correct"]]
    keep_un = round(float(alpha) * len(un))
    rng = np.random.default_rng(seed)
    kept = set(rng.choice(un, size=keep_un, replace=False).tolist()) if keep_un else set()
    return [rec for k, rec in enumerate(records) if rec["correct"] or k in kept]


def selfref_dataset(
    results: str | Path,
    questions: str | Path | Sequence[Question],
    out: str | Path,
    **kwargs,
) -> dict:
    """Write :func:`selfref_records` to ``out`` as JSONL (atomically); returns the counts."""
    records = selfref_records(results, questions, **kwargs)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(rec, ensure_ascii=False) + "\n" for rec in records)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out)
    n_cn = sum(r["correct"] for r in records)
    return {"path": str(out), "confident": n_cn, "unconfident": len(records) - n_cn, "records": len(records)}
