"""``extract``: run the models of a cascade and write (or complete) the tidy file probcascade reads.

:func:`extract` validates everything first (options, questions, models, tokenizers, the output file), then runs
the models one after another in the given cascade order and appends one row per (query, model) with the columns of
``../shared/data/llm_cascades`` (``query, model, model_rank, raw_logprob, correct, tokens_in, tokens_out, cost_usd,
cost_usd_with_verification, answer, gold, subject``) plus one ``signal_<name>`` column per requested signal (see
:mod:`.signals`).  A run that is interrupted (Ctrl-C, a kill) resumes where it stopped when started again with the
same arguments (see :mod:`.output`).

Batches are fixed slices of the questions file (questions ``0..B-1``, ``B..2B-1``, ...), whatever was done before;
a batch that is only partly on disk is recomputed whole.  So a resumed run computes exactly the batches an
uninterrupted run computes and writes the same bytes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .judge import load_judge
from .models import parse_model_specs, resolve_device
from .output import ResumableCSV
from .prompts import load_prompts
from .questions import load_questions
from .runner import DEFAULT_MAX_NEW_TOKENS, ModelRunner, Settings, resolve_signals
from .signals import column_name, parse_scaling

__all__ = ["BASE_COLUMNS", "ExtractResult", "extract", "output_columns"]

BASE_COLUMNS = ["query", "model", "model_rank", "raw_logprob", "correct", "tokens_in", "tokens_out", "cost_usd",
                "cost_usd_with_verification", "answer", "gold", "subject"]


def _error(msg: str):
    from probcascade.exceptions import DataValidationError

    return DataValidationError(msg)


def output_columns(signals: Sequence[str]) -> list[str]:
    """The header of the output file: the shared data's columns, then one ``signal_<name>`` per signal."""
    return BASE_COLUMNS + [column_name(s) for s in signals]


@dataclass
class ExtractResult:
    """What a call did: rows written and skipped (already on disk), seconds per model (loading included)."""

    path: Path
    rows_written: int
    rows_skipped: int
    seconds: dict[str, float] = field(default_factory=dict)
    queries: dict[str, int] = field(default_factory=dict)

    def throughput(self, model: str) -> float:
        return self.queries[model] / self.seconds[model] if self.seconds.get(model) else float("nan")


def _prices(value, n: int, what: str) -> list[float]:
    """One price per model from a number, a comma-separated string or a list (one value applies to all)."""
    if value is None:
        return [0.0] * n
    if isinstance(value, str):
        try:
            vals = [float(v) for v in value.split(",")]
        except ValueError:
            raise _error(f"--{what}: expected a number or one per model, got {value!r}") from None
    elif isinstance(value, (int, float)):
        vals = [float(value)]
    else:
        vals = [float(v) for v in value]
    if len(vals) == 1:
        vals = vals * n
    if len(vals) != n or any(not np.isfinite(v) or v < 0 for v in vals):
        raise _error(f"--{what}: need one non-negative price (USD per 1M tokens) or one per model ({n}), got {value!r}")
    return vals


def extract(
    models,
    questions,
    out,
    *,
    task: str = "mc",
    signals=None,
    primary: str | None = None,
    batch_size: int = 8,
    device: str = "auto",
    dtype: str = "auto",
    max_new_tokens: int | None = None,
    price_in=None,
    price_out=None,
    prompts=None,
    chat_template: str = "auto",
    trust_remote_code: bool = False,
    judge=None,
    scaling=None,
    progress: bool | None = None,
) -> ExtractResult:
    """Run the models on the questions and write (or complete) the tidy output file ``out``.

    Parameters
    ----------
    models : str or list
        ``"PATH_OR_ID[,...]"`` in cascade order (cheapest first), each optionally ``name=PATH``.
    questions : path or list of Question
        JSONL questions file (see :mod:`.questions`).
    out : path
        Output CSV; if it exists (same columns), the (query, model) rows already in it are skipped.
    task : "mc" or "open"
    signals : str or list, optional
        Comma-separated signal names (see :mod:`.signals`); default ``mc-maxprob`` (mc) / ``verify-yes`` (open).
    primary : str, optional
        The log-probability signal copied to ``raw_logprob``.
    batch_size : int
        Queries per left-padded batch.
    device, dtype : str
        ``auto`` picks the GPU when there is one (bfloat16 there, float32 on the CPU).
    max_new_tokens : int, optional
        Generation budget (default 1 for mc, 32 for open).
    price_in, price_out : float, str or list
        USD per 1M input / output tokens, one for all models or one per model; ``cost_usd`` is
        ``tokens_in * price_in + tokens_out * price_out`` (default 0).
    prompts : str, mapping or PromptSet, optional
        Preset name (mmlu, medmcqa, triviaqa, truthfulqa, verify) or JSON file; default mmlu (mc) / triviaqa (open).
    chat_template : "auto" or "never"
        Use the tokenizer's chat template when it has one (default) or always plain text.
    trust_remote_code : bool
        Passed to ``from_pretrained`` (False unless the user asks).
    judge : callable or "module:function", optional
        Correctness of open answers, ``judge(answer, question) -> bool``; default normalised exact match.
    scaling : optional
        Softmax scaling of ``token-aggregate`` (see :func:`.signals.scaled_log_softmax`).
    progress : bool, optional
        Progress bar on stderr (default: when stderr is a terminal).
    """
    t_start = time.perf_counter()
    sig, primary = resolve_signals(task, signals, primary)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise _error(f"--batch-size must be a positive integer, got {batch_size!r}")
    if max_new_tokens is None:
        max_new_tokens = DEFAULT_MAX_NEW_TOKENS[task]
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise _error(f"--max-new-tokens must be a positive integer, got {max_new_tokens!r}")
    if chat_template not in ("auto", "never"):
        raise _error(f"chat_template must be 'auto' or 'never', got {chat_template!r}")
    if isinstance(scaling, str):
        scaling = parse_scaling(scaling)
    if scaling is not None and "token-aggregate" not in sig:
        raise _error("--scaling applies to the token-aggregate signal, which is not among --signals")

    qs = list(questions) if not isinstance(questions, (str, Path)) else load_questions(questions, task)
    if isinstance(scaling, tuple) and scaling and scaling[0] == "vector":
        w, b = scaling[1], scaling[2]
        bad = next((q for q in qs if len(q.choices or ()) != len(w) or len(b) != len(w)), None)
        if bad is not None:
            raise _error(f"--scaling: vector scaling has {len(w)} weights and {len(b)} biases but question {bad.id!r} "
                         f"(line {bad.line}) has {len(bad.choices or ())} choices")
    judge_fn = load_judge(judge)
    if task == "open" and judge is None:
        no_ref = next((q for q in qs if not q.references), None)
        if no_ref is not None:
            raise _error(f"question {no_ref.id!r} (line {no_ref.line}) has no reference 'answer', which the default "
                         "judge (normalised exact match) needs")
    specs = parse_model_specs(models)
    pin, pout = _prices(price_in, len(specs), "price-in"), _prices(price_out, len(specs), "price-out")
    device, dtype = resolve_device(device, dtype)
    settings = Settings(task=task, signals=sig, primary=primary, batch_size=batch_size, device=device, dtype=dtype,
                        max_new_tokens=max_new_tokens, prompts=load_prompts(prompts, task),
                        chat_template=chat_template, trust_remote_code=trust_remote_code, judge=judge_fn,
                        scaling=scaling, n_letters=max((len(q.choices) for q in qs), default=0) if task == "mc" else 0)
    runners = [ModelRunner(spec, settings) for spec in specs]  # tokenizer checks for every model before any work

    sink = ResumableCSV(out, output_columns(sig))
    existing = sink.open()
    names, ids = {m.name for m in specs}, {q.id for q in qs}
    done: dict[str, set[str]] = {m.name: set() for m in specs}
    ranks = {m.name: str(k) for k, m in enumerate(specs)}
    for row in existing:
        model_name, qid = row["model"], row["query"]
        if model_name not in names:
            raise _error(f"{out} has rows for model '{model_name}', which is not in --model "
                         f"({', '.join(m.name for m in specs)}); choose another --out")
        if row["model_rank"] != ranks[model_name]:
            raise _error(f"{out} has model '{model_name}' at cascade position {row['model_rank']}, but --model puts it "
                         f"at {ranks[model_name]}; give the models in the same order, or choose another --out")
        if qid not in ids:
            raise _error(f"{out} has a row for query {qid!r}, which is not in the questions file; choose another --out")
        done[model_name].add(qid)

    if progress is None:
        progress = sys.stderr.isatty()
    result = ExtractResult(path=Path(out), rows_written=0, rows_skipped=len(existing))
    for rank, runner in enumerate(runners):
        name = runner.spec.name
        todo = [q for q in qs if q.id not in done[name]]
        if not todo:
            continue
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(qs), initial=len(qs) - len(todo), desc=name, unit="q", file=sys.stderr)
        t0 = time.perf_counter()
        runner.load()
        try:
            for start in range(0, len(qs), batch_size):
                chunk = qs[start: start + batch_size]
                if all(q.id in done[name] for q in chunk):
                    continue
                rows = runner.run_batch(chunk)  # the whole fixed batch, even if part of it is on disk
                out_rows = []
                for q, r in zip(chunk, rows):
                    if q.id in done[name]:
                        continue
                    cost = (r["tokens_in"] * pin[rank] + r["tokens_out"] * pout[rank]) / 1e6
                    cost_v = cost + ((r["_verify_tokens_in"] * pin[rank] + pout[rank]) / 1e6
                                     if "_verify_tokens_in" in r else 0.0)
                    values = {
                        "query": q.id, "model": name, "model_rank": rank, "raw_logprob": min(r[primary], 0.0),
                        "correct": r["correct"], "tokens_in": r["tokens_in"], "tokens_out": r["tokens_out"],
                        "cost_usd": cost, "cost_usd_with_verification": cost_v, "answer": r["answer"],
                        "gold": r["gold"], "subject": r["subject"],
                    }
                    values.update({column_name(s_): r[s_] for s_ in sig})
                    out_rows.append([values[c] for c in sink.columns])
                sink.append(out_rows)
                result.rows_written += len(out_rows)
                result.queries[name] = result.queries.get(name, 0) + len(out_rows)
                for q in chunk:
                    done[name].add(q.id)
                if bar is not None:
                    bar.update(len(out_rows))
        finally:
            if bar is not None:
                bar.close()
            runner.unload()
        result.seconds[name] = time.perf_counter() - t0
    result.seconds["_total"] = time.perf_counter() - t_start
    return result
