"""inference/ (installed as probcascade_inference): signals, batching, resumability and input errors on a tiny
random-weight model built offline (nothing is downloaded).

The torch tests skip when the ``llm`` extra is not installed, except under CI (``CI=true``), where that is a failure,
so that a green CI means they ran.  Input-validation and packaging tests run without torch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from inference_fixtures import WORDS, need_llm, write_questions
from probcascade_inference.cli import main as inference_main
from probcascade_inference.questions import parse_questions

from probcascade.exceptions import DataValidationError

TOL = 1e-5
ALL_MC = "mc-maxprob,verify-yes,token-aggregate,sequence-prob,mean-token-entropy,perplexity,confidence-token"
ALL_OPEN = "verify-yes,sequence-prob,mean-token-entropy,perplexity,confidence-token"

llm = pytest.mark.usefixtures("_llm")


@pytest.fixture(scope="module")
def _llm():
    need_llm()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, _llm) -> Path:
    from probcascade_inference.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny")


@pytest.fixture(scope="module")
def mc_questions(tmp_path_factory) -> Path:
    return write_questions(tmp_path_factory.mktemp("q") / "mc.jsonl", 10, "mc")


@pytest.fixture(scope="module")
def open_questions(tmp_path_factory) -> Path:
    return write_questions(tmp_path_factory.mktemp("q") / "open.jsonl", 10, "open")


def read(path):
    import pandas as pd

    return pd.read_csv(path, keep_default_na=False)


# ------------------------------------------------------------------------------------------------ direct maths
def _lse(x):
    x = np.asarray(x, dtype=np.float64)
    m = x.max()
    return m + np.log(np.exp(x - m).sum())


def _next_logits(model, ids):
    """Logits of the next token after ``ids``: one full, unpadded, cache-free forward pass (float64 copy)."""
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0, -1].double().numpy()


def direct(runner, q, max_new, lookahead, scaling=None):
    """Every signal of one question computed from scratch from the model's logits, without padding, batching, KV
    cache or ``generate``: the reference the runner must match to 1e-5."""
    model, s = runner.model, runner.settings
    prompt = runner.prompt_ids(q)
    stops = set(runner.stop_ids)
    ids, steps, gen = list(prompt), [], []
    n_steps = (max_new + (1 if lookahead else 0)) if s.generates else 1
    for t in range(n_steps):
        x = _next_logits(model, ids)
        steps.append(x)
        tok = int(np.argmax(x))
        if t == 0 and s.task == "mc":  # the first output token is the chosen letter's most likely spelling
            sets = runner.letter_ids[: len(q.choices)]
            best = sets[int(np.argmax([_lse(x[i]) for i in sets]))]
            tok = best[int(np.argmax(x[best]))]
        gen.append(tok)
        ids.append(tok)
        if tok in stops:
            break
    budget = max_new if s.generates else 1
    j = next((k for k, t in enumerate(gen) if t in stops), None)
    if j is not None and j < budget:
        scored, ans_len, conf = j + 1, j, j
    else:
        scored, ans_len, conf = budget, budget, budget
    logp = [x - _lse(x) for x in steps]
    out = {"tokens_in": len(prompt), "tokens_out": scored, "generated": gen[:scored]}
    tl = np.array([logp[t][gen[t]] for t in range(scored)])
    ent = np.array([-(np.exp(logp[t]) * logp[t]).sum() for t in range(scored)])
    out["sequence-prob"], out["perplexity"], out["mean-token-entropy"] = tl.sum(), -tl.mean(), ent.mean()
    if runner.cn_id is not None:
        cn, un = logp[conf][runner.cn_id], logp[conf][runner.un_id]
        out["confidence-token"] = np.log(np.exp(cn) / (np.exp(cn) + np.exp(un)))
    if s.task == "mc":
        n = len(q.choices)
        letter = np.array([_lse(steps[0][ids_]) for ids_ in runner.letter_ids[:n]])
        p = np.exp(letter - _lse(letter))
        a = int(np.argmax(p))
        out["answer"], out["mc-maxprob"] = q.letters[a], np.log(p[a])
        # seed 000: max over matching tokens and output positions, softmax (optionally scaled), then z_a
        x = np.array([max(steps[t][i] for t in range(scored) for i in ids_) for ids_ in runner.letter_ids[:n]])
        if scaling is not None:
            x = x / scaling
        out["token-aggregate"] = x[a] - _lse(x)
        answer = q.letters[a]
    else:
        from probcascade_inference.questions import one_line

        answer = out["answer"] = one_line(runner.tok.decode(gen[:ans_len], skip_special_tokens=True))
    if "verify-yes" in s.signals:
        v = _next_logits(model, runner.verify_prompt_ids(q, answer))
        y, n_ = _lse(v[runner.yes_ids]), _lse(v[runner.no_ids])
        out["verify-yes"] = y - np.logaddexp(y, n_)
    return out


def make_runner(tiny, task, signals, max_new, questions, **kw):
    from probcascade_inference.judge import exact_match
    from probcascade_inference.models import parse_model_specs
    from probcascade_inference.prompts import load_prompts
    from probcascade_inference.questions import load_questions
    from probcascade_inference.runner import ModelRunner, Settings, resolve_signals

    qs = load_questions(questions, task)
    sig, primary = resolve_signals(task, signals, None)
    settings = Settings(task=task, signals=sig, primary=primary, batch_size=8, device="cpu", dtype="float32",
                        max_new_tokens=max_new, prompts=load_prompts(None, task), chat_template=kw.get("chat", "auto"),
                        trust_remote_code=False, judge=exact_match, scaling=kw.get("scaling"),
                        n_letters=max((len(q.choices) for q in qs), default=0) if task == "mc" else 0)
    runner = ModelRunner(parse_model_specs([str(tiny)])[0], settings)
    runner.load()
    return runner, qs


# ------------------------------------------------------------------------------------------------ tests: signals
@llm
@pytest.mark.parametrize("chat", ["auto", "never"])
def test_mc_signals_equal_direct_computation(tiny, mc_questions, tmp_path, chat):
    """All seven signals of a multiple-choice run (4 output positions) equal a from-scratch computation on the
    model's logits to 1e-5, and so do the answers and token counts."""
    out = tmp_path / "mc.csv"
    argv = ["extract", "--model", str(tiny), "--questions", str(mc_questions), "--task", "mc", "--out", str(out),
            "--signals", ALL_MC, "--max-new-tokens", "4", "--batch-size", "8", "--device", "cpu"]
    assert inference_main(argv + (["--no-chat-template"] if chat == "never" else [])) == 0
    df = read(out)
    runner, qs = make_runner(tiny, "mc", ALL_MC, 4, mc_questions, chat=chat)
    assert list(df["query"]) == [q.id for q in qs]
    stopped_early = 0
    for q, (_, row) in zip(qs, df.iterrows()):
        ref = direct(runner, q, 4, lookahead=True)
        assert row["answer"] == ref["answer"]
        assert row["correct"] == int(ref["answer"] == q.gold)
        assert (row["tokens_in"], row["tokens_out"]) == (ref["tokens_in"], ref["tokens_out"])
        stopped_early += ref["tokens_out"] < 4
        assert runner.tok.decode(ref["generated"][:1]).strip() == ref["answer"]
        for name in ALL_MC.split(","):
            assert row["signal_" + name.replace("-", "_")] == pytest.approx(ref[name], abs=TOL), name
        assert row["raw_logprob"] == row["signal_mc_maxprob"]
    assert stopped_early < len(qs)
    if chat == "auto":  # the stop-token path (end-of-sequence or <CN>/<UN> inside the budget) is exercised too
        assert stopped_early > 0


@llm
def test_open_signals_equal_direct_computation(tiny, open_questions, tmp_path):
    out = tmp_path / "open.csv"
    assert inference_main(["extract", "--model", str(tiny), "--questions", str(open_questions), "--task", "open",
                           "--out", str(out), "--signals", ALL_OPEN, "--max-new-tokens", "6", "--batch-size", "4",
                           "--price-in", "1", "--price-out", "2"]) == 0
    df = read(out)
    runner, qs = make_runner(tiny, "open", ALL_OPEN, 6, open_questions)
    lengths = []
    for q, (_, row) in zip(qs, df.iterrows()):
        ref = direct(runner, q, 6, lookahead=True)
        assert row["answer"] == ref["answer"]
        assert (row["tokens_in"], row["tokens_out"]) == (ref["tokens_in"], ref["tokens_out"])
        lengths.append(ref["tokens_out"])
        for name in ALL_OPEN.split(","):
            assert row["signal_" + name.replace("-", "_")] == pytest.approx(ref[name], abs=TOL), name
        assert row["raw_logprob"] == row["signal_verify_yes"]  # the study's open-ended signal is the default
        assert row["cost_usd"] == pytest.approx((row["tokens_in"] * 1 + row["tokens_out"] * 2) / 1e6)
        vin = len(runner.verify_prompt_ids(q, ref["answer"]))
        assert row["cost_usd_with_verification"] == pytest.approx(row["cost_usd"] + (vin * 1 + 1 * 2) / 1e6)
    assert min(lengths) < 6 and max(lengths) == 6


@llm
def test_token_aggregate_scaling(tiny, mc_questions, tmp_path):
    """Temperature scaling of seed 000 step 3 (softmax(x / T)) in a run equals the direct computation; vector scaling
    with w = 1/T, b = 0 and a fitted-scaler object exposing predict_proba give the same; a vector of the wrong size
    fails before any work."""
    from probcascade_inference import runner as runner_mod
    from probcascade_inference.extract import extract
    from probcascade_inference.signals import scaled_log_softmax

    runner, qs = make_runner(tiny, "mc", "mc-maxprob,token-aggregate", 3, mc_questions)
    common = {"task": "mc", "signals": "mc-maxprob,token-aggregate", "max_new_tokens": 3, "device": "cpu"}
    extract(str(tiny), mc_questions, tmp_path / "t.csv", scaling="temperature=2.5", **common)
    df = read(tmp_path / "t.csv")
    for q, (_, row) in zip(qs, df.iterrows()):
        assert row["signal_token_aggregate"] == pytest.approx(direct(runner, q, 3, False, scaling=2.5)["token-aggregate"],
                                                              abs=TOL)

    class Scaler:  # the interface of probcascade's SoftmaxTemperatureScaler / VectorScaler
        def predict_proba(self, x):
            z = np.exp(x / 2.5 - (x / 2.5).max(axis=1, keepdims=True))
            return z / z.sum(axis=1, keepdims=True)

    x = np.random.default_rng(0).normal(size=(5, 4)) * 3
    ref = scaled_log_softmax(x, 2.5)
    assert np.allclose(ref, x / 2.5 - np.log(np.exp(x / 2.5).sum(axis=1, keepdims=True)), atol=1e-12)
    assert np.allclose(scaled_log_softmax(x, ("vector", [0.4] * 4, [0.0] * 4)), ref, atol=1e-12)
    assert np.allclose(scaled_log_softmax(x, Scaler()), ref, atol=1e-12)
    with pytest.MonkeyPatch.context() as mp, pytest.raises(
            DataValidationError, match="vector scaling has 4 weights and 4 biases but question 'q0'"):
        mp.setattr(runner_mod.ModelRunner, "load", lambda self: pytest.fail("a model was loaded"))
        extract(str(tiny), mc_questions, tmp_path / "bad.csv", scaling="vector=1,1,1,1/0,0,0,0", **common)
    assert not (tmp_path / "bad.csv").exists()


@llm
@pytest.mark.parametrize("task", ["mc", "open"])
def test_batch_1_and_8_agree(tiny, mc_questions, open_questions, tmp_path, task):
    """Left-padded batches of 8 give the signals of batch 1 to 1e-5 (lm-polygraph #275), with the same answers."""
    qfile, signals = (mc_questions, ALL_MC) if task == "mc" else (open_questions, ALL_OPEN)
    frames = []
    for bs in (1, 8):
        out = tmp_path / f"b{bs}.csv"
        assert inference_main(["extract", "--model", str(tiny), "--questions", str(qfile), "--task", task,
                               "--out", str(out), "--signals", signals, "--max-new-tokens", "5",
                               "--batch-size", str(bs)]) == 0
        frames.append(read(out))
    a, b = frames
    for col in ("query", "answer", "correct", "tokens_in", "tokens_out"):
        assert list(a[col]) == list(b[col]), col
    for col in [c for c in a.columns if c.startswith("signal_")] + ["raw_logprob"]:
        assert np.max(np.abs(a[col].to_numpy() - b[col].to_numpy())) < TOL, col


# ------------------------------------------------------------------------------------------------ tests: resuming
@llm
def test_interrupted_run_resumes_to_the_same_file(tiny, mc_questions, tmp_path, monkeypatch):
    """Two models; a KeyboardInterrupt after the 3rd batch; a torn last line as a SIGKILL could leave; then resume:
    the file is byte-identical to an uninterrupted run, and finished work is not redone."""
    from probcascade_inference import output, runner

    args = ["extract", "--model", f"{tiny},{tiny}", "--questions", str(mc_questions), "--task", "mc",
            "--signals", "mc-maxprob,sequence-prob", "--batch-size", "3", "--price-in", "0.1", "--price-out", "0.2"]
    full = tmp_path / "full.csv"
    assert inference_main(args + ["--out", str(full)]) == 0
    reference = full.read_bytes()
    assert len(reference.splitlines()) == 1 + 2 * 10

    part = tmp_path / "part.csv"
    real_append, calls = output.ResumableCSV.append, []

    def flaky_append(self, rows):
        calls.append(len(rows))
        real_append(self, rows)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(output.ResumableCSV, "append", flaky_append)
    assert inference_main(args + ["--out", str(part)]) == 130
    monkeypatch.undo()
    assert part.read_bytes() == reference[: len(part.read_bytes())]
    assert len(part.read_bytes().splitlines()) == 1 + 9

    with open(part, "ab") as f:  # half a row, as a hard kill in the middle of a write could leave
        f.write(reference[len(part.read_bytes()):][:25])
    batches = []
    real_run = runner.ModelRunner.run_batch
    monkeypatch.setattr(runner.ModelRunner, "run_batch", lambda self, qs: batches.append(len(qs)) or real_run(self, qs))
    assert inference_main(args + ["--out", str(part)]) == 0
    assert part.read_bytes() == reference
    assert sum(batches) == 10 + 10 - 9  # model 1: batch 4 (1 query); model 2: all 10, in batches of 3
    batches.clear()
    assert inference_main(args + ["--out", str(part)]) == 0  # complete: nothing to do
    assert batches == [] and part.read_bytes() == reference


def test_deferred_sigint_redelivers_unless_ignored():
    """SIGINT inside the block is held back and raised as KeyboardInterrupt after it; a SIGINT that was ignored
    before the block (inherited by a background process) stays ignored."""
    import os
    import signal

    from probcascade_inference.output import deferred_sigint

    old = signal.getsignal(signal.SIGINT)
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        with pytest.raises(KeyboardInterrupt):
            with deferred_sigint():
                os.kill(os.getpid(), signal.SIGINT)
                done = True                          # reached: the signal was held back
        assert done
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with deferred_sigint():
            os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)


@llm
def test_partial_batch_on_disk_is_recomputed_whole(tiny, mc_questions, tmp_path):
    """If a batch is only partly on disk, the whole batch is recomputed (same padding as an uninterrupted run) and
    only its missing rows are appended."""
    args = ["extract", "--model", str(tiny), "--questions", str(mc_questions), "--task", "mc", "--batch-size", "4",
            "--signals", "mc-maxprob,perplexity", "--max-new-tokens", "3"]
    full, part = tmp_path / "full.csv", tmp_path / "part.csv"
    assert inference_main(args + ["--out", str(full)]) == 0
    lines = full.read_bytes().splitlines(keepends=True)
    part.write_bytes(b"".join(lines[:1 + 6]))  # batch 1 complete, batch 2 half written
    assert inference_main(args + ["--out", str(part)]) == 0
    assert part.read_bytes() == full.read_bytes()


@llm
def test_resume_refuses_a_different_file(tiny, mc_questions, tmp_path, capsys):
    out = tmp_path / "o.csv"
    base = ["extract", "--model", str(tiny), "--questions", str(mc_questions), "--task", "mc", "--out", str(out)]
    assert inference_main(base) == 0
    before = out.read_bytes()
    assert inference_main(base + ["--signals", "mc-maxprob,perplexity"]) == 2
    assert "different columns" in capsys.readouterr().err
    assert inference_main(["extract", "--model", f"other={tiny}", *base[3:]]) == 2
    assert "model 'tiny'" in capsys.readouterr().err
    assert inference_main(["extract", "--model", f"first={tiny},{tiny}", *base[3:]]) == 2
    assert "at cascade position 0, but --model puts it at 1" in capsys.readouterr().err
    assert out.read_bytes() == before


# ------------------------------------------------------------------------------------------------ tests: bad input
@pytest.mark.parametrize(
    "lines, task, message",
    [
        (['{"question": "a?", "choices": ["x", "y"], "answer": "A"}', '{"question": "b?", "choices": ["x", "y"]'],
         "mc", "line 2: not valid JSON"),
        (['{"question": "a?", "choices": ["x", "y"], "answer": "A"}', "", '{"question": "b?", "answer": "A"}'],
         "mc", "line 3: missing 'choices'"),
        (['{"question": "  ", "choices": ["x", "y"], "answer": "A"}'], "mc", "line 1: empty 'question'"),
        (['{"id": 7, "question": "a?", "answer": "x"}', '{"id": "k", "question": "b?", "answer": "y"}',
          '{"id": 7, "question": "c?", "answer": "z"}'], "open", "line 3: duplicate id '7' \\(first on line 1\\)"),
        (['{"question": "a?", "choices": ["x", "y"], "answer": "C"}'], "mc", "line 1: 'answer' must be one of"),
        (['{"question": "a?", "choices": ["x"], "answer": "A"}'], "mc", "line 1: 'choices' must hold 2 to 26"),
        (['[1, 2]'], "open", "line 1: expected a JSON object"),
        (['{"question": "a?", "choices": ["x", "y"], "answer": "A"}'], "open", "line 1: 'choices' given"),
    ],
)
def test_malformed_questions_name_the_line(lines, task, message):
    with pytest.raises(DataValidationError, match=message):
        parse_questions(lines, task, source="q.jsonl")


def test_questions_defaults():
    qs = parse_questions(['{"question": "a?", "choices": ["x", "y", "z"], "answer": 2, "subject": "law\\nfirm"}',
                          '{"question": "b?", "choices": ["x", "y"], "answer": " b "}'], "mc")
    assert [(q.id, q.gold, q.letters, q.subject) for q in qs] == [("0", "C", "ABC", "law firm"), ("1", "B", "AB", "")]


@llm
def test_bad_questions_file_via_cli(tiny, tmp_path, capsys):
    q = tmp_path / "q.jsonl"
    q.write_text('{"question": "a?", "choices": ["x", "y"], "answer": "A"}\n{"question": "", "choices": ["x", "y"], '
                 '"answer": "A"}\n')
    out = tmp_path / "o.csv"
    assert inference_main(["extract", "--model", str(tiny), "--questions", str(q), "--task", "mc",
                           "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{q} line 2: empty 'question'" in err and "Traceback" not in err
    assert not out.exists()


@llm
def test_missing_model_fails_before_any_work(tiny, mc_questions, tmp_path, capsys, monkeypatch):
    from probcascade_inference import runner

    monkeypatch.setattr(runner.ModelRunner, "load", lambda self: pytest.fail("a model was loaded"))
    out = tmp_path / "o.csv"
    for spec, message in [(f"{tiny},{tmp_path}/nope", "path .*nope does not exist"),
                          (str(tmp_path), "has no config.json"),
                          ("./not-here", "does not exist")]:
        assert inference_main(["extract", "--model", spec, "--questions", str(mc_questions), "--task", "mc",
                               "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert __import__("re").search(message, err), err
        assert not out.exists()


@pytest.fixture(scope="module")
def no_letters_model(tmp_path_factory, tiny) -> Path:
    """The tiny model with a word-level tokenizer that has no answer letters, Y/N or confidence tokens."""
    import shutil

    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    d = tmp_path_factory.mktemp("noletters") / "m"
    shutil.copytree(tiny, d)
    for f in d.glob("tokenizer*"):
        f.unlink()
    (d / "chat_template.jinja").unlink(missing_ok=True)
    vocab = {w: i for i, w in enumerate(["<unk>", "<|eos|>", "<|bos|>", *dict.fromkeys(WORDS), "Answer:", "?"])}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tk, unk_token="<unk>", eos_token="<|eos|>",
                            bos_token="<|bos|>").save_pretrained(d)
    return d


@llm
def test_tokenizer_without_letters_fails_before_any_work(no_letters_model, mc_questions, open_questions, tmp_path,
                                                          capsys, monkeypatch):
    from probcascade_inference import runner

    monkeypatch.setattr(runner.ModelRunner, "load", lambda self: pytest.fail("a model was loaded"))
    out = tmp_path / "o.csv"
    cases = [(["--questions", str(mc_questions), "--task", "mc"], "no single token for the answer letter 'A'"),
             (["--questions", str(open_questions), "--task", "open"], "verify-yes needs 'Y' and 'N'"),
             (["--questions", str(open_questions), "--task", "open", "--signals", "confidence-token"],
              "missing \\['<CN>', '<UN>'\\]")]
    for extra, message in cases:
        assert inference_main(["extract", "--model", str(no_letters_model), "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert __import__("re").search(message, err), err
        assert not out.exists()


@llm
def test_bad_options(tiny, mc_questions, tmp_path, capsys):
    base = ["extract", "--model", str(tiny), "--questions", str(mc_questions), "--out", str(tmp_path / "o.csv")]
    for extra, message in [
        (["--task", "mc", "--signals", "mc-maxprob,nope"], "unknown signal"),
        (["--task", "open", "--signals", "mc-maxprob"], "not available for --task open"),
        (["--task", "mc", "--signals", "perplexity"], "raw_logprob needs a log-probability signal"),
        (["--task", "mc", "--signals", "mc-maxprob,perplexity", "--primary", "perplexity"], "is an uncertainty"),
        (["--task", "mc", "--batch-size", "0"], "--batch-size must be a positive"),
        (["--task", "mc", "--price-in", "1,2"], "one per model"),
        (["--task", "mc", "--scaling", "temperature=2"], "token-aggregate signal, which is not among"),
        (["--task", "mc", "--prompts", "nosuch"], "neither a preset"),
    ]:
        assert inference_main(base + extra) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


# ------------------------------------------------------------------------------------------------ tests: misc
def test_missing_torch_names_the_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    assert inference_main(["tiny-model", str(tmp_path / "m")]) == 2
    assert "pip install 'probcascade[llm]'" in capsys.readouterr().err
    assert inference_main(["extract", "--model", "x", "--questions", "q", "--task", "mc", "--out", "o"]) == 2
    assert "pip install 'probcascade[llm]'" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_add_subcommands_registers_both():
    import argparse

    from probcascade_inference.cli import add_subcommands

    p = argparse.ArgumentParser(prog="probcascade")
    add_subcommands(p.add_subparsers(dest="command", required=True))
    a = p.parse_args(["extract", "--model", "m", "--questions", "q.jsonl", "--task", "mc", "--out", "o.csv"])
    assert callable(a.func) and a.batch_size == 8 and a.device == "auto" and a.trust_remote_code is False
    assert callable(p.parse_args(["tiny-model", "d"]).func)


def test_import_name_does_not_shadow_and_no_torch_on_import():
    import subprocess

    code = ("import sys, probcascade_inference, probcascade_inference.cli, probcascade_inference.questions; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "import importlib.util; print(importlib.util.find_spec('probcascade_inference').origin)")
    res = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip()).parent.name == "inference"


@llm
def test_tiny_model_roundtrip(tiny):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(tiny, trust_remote_code=False)
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 32 and len(tok) < 512
    for s in ("A", " A", "D", " D", "Y", " N", "<CN>", "<UN>"):
        assert len(tok.encode(s, add_special_tokens=False)) == 1, s
    assert tok.chat_template and "<|assistant|>" in tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)


@llm
def test_prompt_is_the_studys_template(tiny, mc_questions):
    runner, qs = make_runner(tiny, "mc", "mc-maxprob", 1, mc_questions)
    text = runner.tok.decode(runner.prompt_ids(qs[1]))
    assert text.startswith("<|bos|><|system|>Correctly answer the given multiple-choice question by outputting "
                           '"A", "B", "C", or "D".')
    assert "<|user|>Answer the multiple-choice question below by outputting A, B, C, or D.\nDon't say anything else." \
           "\n\nQuestion: " + qs[1].question + "\n\nChoices:\nA. " + qs[1].choices[0] in text
    assert text.endswith("\n\nAnswer:<|end|><|assistant|>")
    assert "outputting A, B, or C." in runner.tok.decode(runner.prompt_ids(qs[0]))  # 3 choices


@llm
def test_selfref_dataset(tiny, mc_questions, tmp_path):
    """Seed 004 Algorithm 1: <CN> after correct answers, <UN> after wrong ones (answer tokens masked), the
    unconfident samples subsampled to a proportion alpha, deterministically."""
    from probcascade_inference.selfref import selfref_dataset, selfref_records

    out = tmp_path / "o.csv"
    assert inference_main(["extract", "--model", str(tiny), "--questions", str(mc_questions), "--task", "mc",
                           "--out", str(out)]) == 0
    df = read(out)
    n_ok = int(df["correct"].sum())
    n_bad = len(df) - n_ok
    assert n_ok > 0 and n_bad > 1
    full = selfref_records(out, mc_questions)
    assert len(full) == len(df)
    for rec, (_, row) in zip(full, df.iterrows()):
        tok = "<CN>" if row["correct"] else "<UN>"
        assert rec["completion"] == row["answer"] + tok and rec["confidence_token"] == tok
        assert rec["segments"] == [{"text": row["answer"], "train": bool(row["correct"])}, {"text": tok, "train": True}]
        assert "Answer the multiple-choice question below" in rec["user"]
    summary = selfref_dataset(out, mc_questions, tmp_path / "sr.jsonl", alpha=0.5, seed=3)
    recs = [json.loads(line) for line in (tmp_path / "sr.jsonl").read_text().splitlines()]
    assert summary["confident"] == n_ok and summary["unconfident"] == round(0.5 * n_bad) == sum(not r["correct"] for r in recs)
    assert recs == selfref_records(out, mc_questions, alpha=0.5, seed=3)
    assert [r["id"] for r in recs] == sorted((r["id"] for r in recs), key=lambda i: int(i[1:]))
    assert len(selfref_records(out, mc_questions, alpha=0.0)) == n_ok
    with pytest.raises(DataValidationError, match="alpha"):
        selfref_records(out, mc_questions, alpha=1.5)
