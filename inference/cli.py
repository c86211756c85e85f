"""Command-line entries ``extract`` and ``tiny-model``.

:func:`add_subcommands` registers both on an ``argparse`` sub-parser collection (``probcascade``'s CLI hooks them in
this way); each sub-command's ``func`` takes the parsed ``Namespace`` and returns an exit code.  Nothing here imports
torch at import time: when torch or transformers is missing, the commands say which extra to install and return 2.

Standalone: ``python -m probcascade_inference {extract,tiny-model} ...`` (:func:`main`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["MISSING_EXTRA", "add_subcommands", "build_parser", "cmd_extract", "cmd_tiny_model", "main"]

MISSING_EXTRA = ("probcascade {cmd}: needs PyTorch and Hugging Face transformers, which are not installed ({why}).\n"
                 "Install the 'llm' extra:  pip install 'probcascade[llm]'")


def _missing_torch(cmd: str) -> bool:
    """Print which extra to install and return True when torch/transformers/tokenizers cannot be imported."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
        import tokenizers  # noqa: F401  (isort: skip)
    except ImportError as exc:
        print(MISSING_EXTRA.format(cmd=cmd, why=exc), file=sys.stderr)
        return True
    return False


def _run(cmd: str, fn, args) -> int:
    from probcascade.exceptions import ProbcascadeError

    try:
        return int(fn(args) or 0)
    except ProbcascadeError as exc:
        print(f"probcascade {cmd}: error: {exc}", file=sys.stderr)
        return 2


def cmd_extract(args: argparse.Namespace) -> int:
    if _missing_torch("extract"):
        return 2

    def go(a) -> int:
        from .extract import extract

        try:
            res = extract(
                a.model, a.questions, a.out, task=a.task, signals=a.signals, primary=a.primary,
                batch_size=a.batch_size, device=a.device, dtype=a.dtype, max_new_tokens=a.max_new_tokens,
                price_in=a.price_in, price_out=a.price_out, prompts=a.prompts,
                chat_template="never" if a.no_chat_template else "auto", trust_remote_code=a.trust_remote_code,
                judge=a.judge, scaling=a.scaling, progress=a.progress,
            )
        except KeyboardInterrupt:
            print(f"\nprobcascade extract: interrupted; {a.out} holds only complete rows. Run the same command again "
                  "to resume.", file=sys.stderr)
            return 130
        models = [m for m in res.queries]
        rate = ", ".join(f"{m} {res.throughput(m):.1f} q/s" for m in models)
        print(f"wrote {res.rows_written} rows to {res.path} ({res.rows_skipped} already there)"
              + (f"; {rate}" if rate else ""), file=sys.stderr)
        return 0

    return _run("extract", go, args)


def cmd_tiny_model(args: argparse.Namespace) -> int:
    if _missing_torch("tiny-model"):
        return 2

    def go(a) -> int:
        from .tiny import build_tiny_model

        path = build_tiny_model(a.dir, n_layers=a.layers, hidden_size=a.hidden, seed=a.seed, arch=a.arch,
                                chat_template=not a.no_chat_template, confidence_tokens=not a.no_confidence_tokens)
        print(f"wrote a tiny random-weight {a.arch} model (offline, {a.layers} layers, hidden {a.hidden}, seed "
              f"{a.seed}) to {path}", file=sys.stderr)
        return 0

    return _run("tiny-model", go, args)


def add_subcommands(subparsers) -> None:
    """Register ``extract`` and ``tiny-model`` on ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    e = subparsers.add_parser(
        "extract", help="run Hugging Face causal LMs on questions and write cascade confidence data (needs [llm])",
        description="Run causal LMs (torch + transformers) on a JSONL questions file and write the tidy "
                    "per-(query, model) CSV that calibrate/tune read. Resumable: rerun the same command after an "
                    "interruption.",
    )
    e.add_argument("--model", required=True, metavar="PATH_OR_ID[,...]",
                   help="models in cascade order (cheapest first), comma-separated; each may be NAME=PATH")
    e.add_argument("--questions", required=True, metavar="FILE.jsonl",
                   help="one JSON object per line: question, choices (mc), answer, optional id and subject")
    e.add_argument("--task", choices=["mc", "open"], required=True)
    e.add_argument("--out", required=True, metavar="OUT.csv")
    e.add_argument("--signals", default=None, metavar="S[,...]",
                   help="mc-maxprob, verify-yes, token-aggregate, sequence-prob, mean-token-entropy, perplexity, "
                        "confidence-token (default: mc-maxprob for mc, verify-yes for open)")
    e.add_argument("--primary", default=None, metavar="SIGNAL",
                   help="log-probability signal written to raw_logprob (default: mc-maxprob / verify-yes)")
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    e.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto")
    e.add_argument("--max-new-tokens", type=int, default=None, help="generation budget (default 1 for mc, 32 for open)")
    e.add_argument("--price-in", default=None, metavar="USD_PER_M",
                   help="input price in USD per 1M tokens, one for all models or comma-separated per model")
    e.add_argument("--price-out", default=None, metavar="USD_PER_M", help="output price, as --price-in")
    e.add_argument("--prompts", default=None, metavar="PRESET|FILE.json",
                   help="prompt preset (mmlu, medmcqa, triviaqa, truthfulqa, verify) or a JSON file with keys "
                        "system, user, verify_system, verify_user (default: mmlu for mc, triviaqa for open)")
    e.add_argument("--no-chat-template", action="store_true", help="plain-text prompts even when the tokenizer has a "
                                                                   "chat template")
    e.add_argument("--judge", default=None, metavar="MODULE:FUNCTION",
                   help="correctness of open answers: judge(answer, question) -> bool (default: normalised exact "
                        "match)")
    e.add_argument("--scaling", default=None, metavar="temperature=T|vector=W,../B,..",
                   help="fitted softmax scaling of token-aggregate (seed 000 §2.1)")
    e.add_argument("--trust-remote-code", action="store_true",
                   help="allow models whose code lives in their repository (off by default)")
    e.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    e.set_defaults(func=cmd_extract)

    t = subparsers.add_parser("tiny-model", help="build a tiny random-weight causal LM offline, for tests and demos",
                              description="Build a tiny random-weight Llama and tokenizer entirely offline and save "
                                          "them with save_pretrained (loadable with from_pretrained(DIR)).")
    t.add_argument("dir", metavar="DIR")
    t.add_argument("--layers", type=int, default=2)
    t.add_argument("--hidden", type=int, default=32)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--arch", choices=["llama", "gpt2"], default="llama")
    t.add_argument("--no-chat-template", action="store_true")
    t.add_argument("--no-confidence-tokens", action="store_true", help="leave <CN>/<UN> out of the vocabulary")
    t.set_defaults(func=cmd_tiny_model)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m probcascade_inference",
                                description="probcascade's bridge from Hugging Face language models to cascade data.")
    sub = p.add_subparsers(dest="command", required=True)
    add_subcommands(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
