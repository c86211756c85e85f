"""Models of a cascade: names and paths, the checks made before any work, and token look-ups.

``--model`` takes ``PATH_OR_ID[,...]`` in cascade order, each optionally ``NAME=PATH``.  A local folder must exist and
hold ``config.json``; something that looks like a local path but does not exist is an error straight away; a Hub
id (``org/name``) is left to ``from_pretrained`` (which needs the network or the local Hugging Face cache).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ModelSpec", "check_model_path", "parse_model_specs", "resolve_device", "single_token_ids",
           "transformers_at_least"]


def _error(msg: str):
    from probcascade.exceptions import DataValidationError

    return DataValidationError(msg)


@dataclass(frozen=True)
class ModelSpec:
    """A model of the cascade: its name in the output and its local folder or Hugging Face Hub id."""

    name: str
    path: str


def parse_model_specs(spec: str | Sequence[str] | Sequence[ModelSpec]) -> list[ModelSpec]:
    """``"PATH_OR_ID[,...]"`` (or a list), each optionally ``name=PATH``; default name: the folder / id basename,
    with ``-2``, ``-3``, ... appended to repeated names."""
    items = [s for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    out: list[ModelSpec] = []
    counts: dict[str, int] = {}
    for item in items:
        if isinstance(item, ModelSpec):
            name, path = item.name, item.path
        else:
            item = str(item).strip()
            if not item:
                raise _error("--model: empty model in the list")
            name, sep, path = item.partition("=")
            if not sep:
                path = name
                name = Path(path.rstrip("/\\")).name or path
        counts[name] = counts.get(name, 0) + 1
        if counts[name] > 1:
            name = f"{name}-{counts[name]}"
        out.append(ModelSpec(name=name, path=path))
    if not out:
        raise _error("--model: no model given")
    if len({m.name for m in out}) != len(out):
        raise _error(f"--model: duplicate model names {[m.name for m in out]}")
    return out


def check_model_path(spec: ModelSpec) -> None:
    """A local folder must exist and hold config.json; something that looks like a path but does not exist is an
    error (a Hub id ``org/name`` is left to ``from_pretrained``)."""
    p = Path(spec.path).expanduser()
    if p.exists():
        if not p.is_dir():
            raise _error(f"model '{spec.name}': {spec.path} is a file, not a model folder")
        if not (p / "config.json").is_file():
            raise _error(f"model '{spec.name}': {spec.path} has no config.json (not a Hugging Face model folder)")
        return
    looks_local = (
        spec.path.startswith((".", "/", "~", "\\"))
        or len(p.parts) > 2
        or (len(p.parts) == 2 and p.parent.exists())
    )
    if looks_local:
        raise _error(f"model '{spec.name}': path {spec.path} does not exist")


def transformers_at_least(version: str) -> bool:
    """Whether the installed transformers is at least ``major.minor`` (e.g. ``"4.56"``)."""
    import transformers

    def key(v: str) -> tuple[int, ...]:
        return tuple(int("".join(ch for ch in part if ch.isdigit()) or 0) for part in v.split(".")[:2])

    return key(transformers.__version__) >= key(version)


def single_token_ids(tok, text: str) -> list[int]:
    """Ids of the single-token spellings of ``text`` (``"A"``, ``" A"``; byte-level ``ĠA`` / SentencePiece ``▁A``)."""
    ids: set[int] = set()
    for s in (text, " " + text):
        enc = tok.encode(s, add_special_tokens=False)
        if len(enc) == 1:
            ids.add(int(enc[0]))
    vocab = tok.get_vocab()
    for s in (text, "\u0120" + text, "\u2581" + text):
        if s in vocab:
            ids.add(int(vocab[s]))
    ids.discard(tok.unk_token_id)  # a word-level tokenizer maps unknown letters to one <unk> token
    return sorted(ids)


def resolve_device(device: str, dtype: str) -> tuple[str, str]:
    """``auto`` device: the GPU when there is one; ``auto`` dtype: float32 on the CPU, bfloat16 (float16 where bf16
    is unsupported) on the GPU."""
    import torch

    if device not in ("auto", "cpu", "cuda"):
        raise _error(f"--device must be auto, cpu or cuda, got {device!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise _error("--device cuda: no CUDA device is available")
    if dtype not in ("auto", "float32", "bfloat16", "float16"):
        raise _error(f"--dtype must be auto, float32, bfloat16 or float16, got {dtype!r}")
    if dtype == "auto":
        dtype = "float32" if device == "cpu" else ("bfloat16" if torch.cuda.is_bf16_supported() else "float16")
    return device, dtype
