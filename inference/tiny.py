"""A tiny random-weight causal LM and tokenizer, built entirely offline, for tests and demos.

:func:`build_tiny_model` trains a byte-level BPE tokenizer (``tokenizers``) on an in-memory corpus made of the
study's prompt templates, so that the answer letters (``"A"``, ``" A"``, ...), ``"Y"``/``"N"`` (and ``" Y"``/``" N"``)
are single tokens, adds the special tokens of a minimal chat template and, by default, the Self-REF confidence tokens
``<CN>``/``<UN>`` (seed 004 §3.2); it then builds a small Llama (default: 2 layers, hidden size 32) from a
``transformers`` config with random weights and saves both with ``save_pretrained``.  Nothing is downloaded; the
saved folder loads back through the ordinary ``from_pretrained(DIR)`` path, which is what the tests exercise.

The weights are random: answers are noise, but every confidence signal is well defined, the logits are spread
widely enough that greedy decoding has no near-ties, and the network is well conditioned (float32 agrees with float64
to about 1e-5), which keeps the tests' 1e-5 comparisons meaningful.
"""

from __future__ import annotations

import json
from pathlib import Path

from .prompts import PROMPT_SETS

__all__ = ["TINY_CHAT_TEMPLATE", "TINY_SPECIAL_TOKENS", "build_tiny_model"]

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
CONFIDENCE_TOKENS = ("<CN>", "<UN>")
TINY_SPECIAL_TOKENS = (BOS, EOS, PAD, *ROLE_TOKENS)

TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

_WORDS = (
    "the of and to in is was for that on as with by at from his her an are were which this be or has had not but "
    "what who when where why how many much which true false yes no answer question choices correct capital city "
    "river planet number largest smallest first last year water fire earth air sun moon red blue green one two "
    "three four five six seven eight nine ten paris london rome berlin madrid mars venus jupiter"
).split()


def _corpus(letters: str, repeats: int) -> list[str]:
    """Training text: the prompt templates, the answer letters and Y/N many times over, and some filler words."""
    lines = []
    for prompts in PROMPT_SETS.values():
        for text in (prompts.system, prompts.user, prompts.verify_system, prompts.verify_user):
            if text:
                lines.append(text)
    letter_line = " ".join(letters) + " " + " ".join(f"{c}." for c in letters) + " Y N Y N"
    lines += [letter_line] * repeats
    lines += [" ".join(_WORDS)] * max(1, repeats // 4)
    return lines


def build_tiny_model(
    directory: str | Path,
    *,
    n_layers: int = 2,
    hidden_size: int = 32,
    n_heads: int = 4,
    vocab_size: int = 384,
    seed: int = 0,
    init_std: float = 0.5,
    qk_std: float = 0.3,
    inner_std: float = 0.1,
    letters: str = "ABCDEFGHIJ",
    chat_template: bool = True,
    confidence_tokens: bool = True,
    max_positions: int = 2048,
    eos_boost: float = 3.0,
    arch: str = "llama",
) -> Path:
    """Build and save a tiny random-weight Llama and its tokenizer in ``directory``; returns the folder.

    Parameters
    ----------
    directory : path
        Output folder (created; existing model files in it are overwritten).
    n_layers, hidden_size, n_heads : int
        Transformer size (the defaults make a ~30k-parameter model that runs a batch in milliseconds on a CPU).
    vocab_size : int
        Target BPE vocabulary size (256 byte symbols + merges + special tokens).
    seed : int
        Seed of the weights (the tokenizer is deterministic); two seeds give two different "models".
    init_std, qk_std, inner_std : float
        Standard deviations of the random embedding and output matrices (large enough for peaked, tie-free
        next-token distributions), of the query/key projections (attention that depends on the context) and of the
        other matrices (small, so that the network stays well conditioned: float32 and float64 logits agree to
        about 1e-5, which keeps the 1e-5 comparisons of the tests meaningful).
    letters : str
        Answer letters that must be single tokens, with and without a leading space.
    chat_template : bool
        Give the tokenizer a minimal chat template (``<|system|>...<|end|><|user|>...<|end|><|assistant|>``).
    confidence_tokens : bool
        Add the Self-REF confidence tokens ``<CN>`` and ``<UN>`` to the vocabulary.
    eos_boost : float
        Factor on the end-of-sequence row of the output layer, so that some random generations stop early
        (exercising the stop-token paths) and others run to the token budget.
    arch : "llama" or "gpt2"
        Llama (rotary positions; the default) or GPT-2 (learned absolute positions, which left-padded batches must
        offset correctly).
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    specials = list(TINY_SPECIAL_TOKENS) + (list(CONFIDENCE_TOKENS) if confidence_tokens else [])

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator(_corpus(letters, repeats=200), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token=BOS, eos_token=EOS, pad_token=PAD,
        additional_special_tokens=[t for t in specials if t not in (BOS, EOS, PAD)],
    )
    for c in letters:
        for variant in (c, " " + c):
            if len(tokenizer.encode(variant, add_special_tokens=False)) != 1:  # pragma: no cover - corpus guarantees it
                raise RuntimeError(f"tiny tokenizer: {variant!r} is not a single token")
    if chat_template:
        tokenizer.chat_template = TINY_CHAT_TEMPLATE
    tokenizer.padding_side = "left"

    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id, "tie_word_embeddings": False}
    torch.manual_seed(seed)
    if arch == "llama":  # rotary (relative) positions
        config = LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
            num_hidden_layers=n_layers, num_attention_heads=n_heads, num_key_value_heads=n_heads,
            max_position_embeddings=max_positions, initializer_range=init_std, **ids,
        )
        model = LlamaForCausalLM(config)
        outer, qk = ("embed", "lm_head"), ("q_proj", "k_proj")
    elif arch == "gpt2":  # learned absolute positions: left padding needs the right position ids
        config = GPT2Config(vocab_size=len(tokenizer), n_embd=hidden_size, n_layer=n_layers, n_head=n_heads,
                            n_positions=max_positions, initializer_range=init_std, **ids)
        model = GPT2LMHeadModel(config)
        outer, qk = ("wte", "wpe", "lm_head"), ("c_attn",)
    else:
        raise ValueError(f"arch must be 'llama' or 'gpt2', got {arch!r}")
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                std = init_std if any(k in name for k in outer) else (
                    qk_std if any(k in name for k in qk) else inner_std)
                p.copy_(torch.randn(p.shape, generator=gen) * std)
        model.lm_head.weight[tokenizer.eos_token_id] *= eos_boost
    model.generation_config.do_sample = False
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    (directory / "probcascade_tiny.json").write_text(
        json.dumps({"seed": seed, "n_layers": n_layers, "hidden_size": hidden_size, "vocab_size": len(tokenizer),
                    "note": "random weights, built offline by probcascade tiny-model"}, indent=2) + "\n"
    )
    return directory
