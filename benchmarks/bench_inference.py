"""Throughput of the inference bridge (``probcascade extract``) on the tiny offline model: batch 1 vs batch 32.

Builds the tiny random-weight Llama (2 layers, hidden 32; ``probcascade tiny-model``) in a temporary folder, or
uses ``--model DIR``, writes ``--n`` random multiple-choice / open questions, and times three workloads:

* ``mc-maxprob``: multiple choice, the study's signal, one forward step per query;
* ``mc all``: multiple choice with all seven signals, 4 generated tokens, plus the verification call;
* ``open``: open answers, ``verify-yes,sequence-prob,mean-token-entropy,perplexity``, up to 16 generated tokens.

"compute" is the median over ``--repeats`` of the time of ``ModelRunner.run_batch`` over all questions with the
model already loaded (after one warm-up batch); "end to end" is one full ``extract`` call into a fresh CSV
(tokenizer and model loading, fsync'ed appends included).  Prints a markdown table.

    python benchmarks/bench_inference.py [--n 256] [--repeats 3] [--threads N] [--device cpu|cuda] [--dtype ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WORKLOADS = {
    "mc-maxprob": ("mc", "mc-maxprob", 1),
    "mc all": ("mc", ("mc-maxprob,verify-yes,token-aggregate,sequence-prob,mean-token-entropy,perplexity,"
                      "confidence-token"), 4),
    "open": ("open", "verify-yes,sequence-prob,mean-token-entropy,perplexity", 16),
}
WORDS = ("the of capital city river planet largest number water fire earth sun moon red blue green paris london rome "
         "mars venus first last year one two three").split()


def write_questions(path: Path, n: int, task: str, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for i in range(n):
            q = " ".join(rng.choice(WORDS, size=int(rng.integers(5, 40)))) + "?"
            if task == "mc":
                rec = {"question": q, "choices": [" ".join(rng.choice(WORDS, size=3)) for _ in range(4)],
                       "answer": "ABCD"[i % 4]}
            else:
                rec = {"question": q, "answer": str(rng.choice(WORDS))}
            f.write(json.dumps(rec) + "\n")
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="model folder (default: a fresh tiny model)")
    p.add_argument("--n", type=int, default=256, help="questions per workload")
    p.add_argument("--batch-sizes", default="1,32")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    args = p.parse_args(argv)

    import torch
    import transformers
    from probcascade_inference.extract import extract
    from probcascade_inference.judge import exact_match
    from probcascade_inference.models import parse_model_specs, resolve_device
    from probcascade_inference.prompts import load_prompts
    from probcascade_inference.questions import load_questions
    from probcascade_inference.runner import ModelRunner, Settings, resolve_signals
    from probcascade_inference.tiny import build_tiny_model

    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench_inference_"))
    model = Path(args.model) if args.model else build_tiny_model(tmp / "tiny")
    device, dtype = resolve_device(args.device, args.dtype)
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    print(f"machine: {platform.machine()}, {platform.system()}, torch {torch.__version__} ({torch.get_num_threads()} "
          f"threads), transformers {transformers.__version__}, python {platform.python_version()}; device {device}, "
          f"dtype {dtype}; model {'tiny (2 layers, hidden 32)' if not args.model else model}; {args.n} questions")
    print(f"command: python {' '.join(sys.argv)}\n")
    print("| workload | batch | compute q/s | compute ms/query | end-to-end q/s | prompt tokens (mean) | tokens out (mean) |")
    print("|---|---|---|---|---|---|---|")
    for wname in args.workloads.split(","):
        task, signals, max_new = WORKLOADS[wname]
        qfile = write_questions(tmp / f"{task}.jsonl", args.n, task)
        qs = load_questions(qfile, task)
        sig, primary = resolve_signals(task, signals, None)
        for bs in sizes:
            settings = Settings(task=task, signals=sig, primary=primary, batch_size=bs, device=device, dtype=dtype,
                                max_new_tokens=max_new, prompts=load_prompts(None, task), chat_template="auto",
                                trust_remote_code=False, judge=exact_match, scaling=None,
                                n_letters=4 if task == "mc" else 0)
            runner = ModelRunner(parse_model_specs([str(model)])[0], settings)
            runner.load()
            runner.run_batch(qs[:bs])  # warm-up
            times, rows = [], []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                rows = [r for s in range(0, len(qs), bs) for r in runner.run_batch(qs[s: s + bs])]
                times.append(time.perf_counter() - t0)
            runner.unload()
            t = statistics.median(times)
            out = tmp / f"{wname.replace(' ', '_')}_{bs}.csv"
            t0 = time.perf_counter()
            extract(str(model), qfile, out, task=task, signals=signals, batch_size=bs, max_new_tokens=max_new,
                    device=device, dtype=dtype, progress=False)
            e2e = time.perf_counter() - t0
            tin = np.mean([r["tokens_in"] for r in rows])
            tout = np.mean([r["tokens_out"] for r in rows])
            print(f"| {wname} | {bs} | {len(qs) / t:.1f} | {1e3 * t / len(qs):.2f} | {len(qs) / e2e:.1f} | {tin:.0f} "
                  f"| {tout:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
