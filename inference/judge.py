"""Correctness of open-ended answers: a pluggable judge, normalised exact match by default.

A judge is any callable ``judge(answer: str, question: Question) -> bool``.  :func:`exact_match` (the default)
compares the answer with every reference answer of the question after SQuAD-style normalisation (lower case,
punctuation and the articles a/an/the removed, whitespace collapsed).  From the command line, ``--judge
module:function`` imports another one (an explicit user choice; nothing is imported otherwise).
"""

from __future__ import annotations

import importlib
import re
import string
from collections.abc import Callable

__all__ = ["Judge", "exact_match", "load_judge", "normalize_answer"]

Judge = Callable[[str, object], bool]

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    text = str(text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(answer: str, question) -> bool:
    """True if the normalised ``answer`` equals the normalised form of one of ``question.references``."""
    norm = normalize_answer(answer)
    return any(norm == normalize_answer(ref) for ref in question.references)


def load_judge(spec: str | Judge | None) -> Judge:
    """``None`` -> :func:`exact_match`; a callable is returned as is; ``"module:function"`` is imported."""
    from probcascade.exceptions import DataValidationError

    if spec is None:
        return exact_match
    if callable(spec):
        return spec
    if not isinstance(spec, str) or ":" not in spec:
        raise DataValidationError(f"--judge: expected 'module:function', got {spec!r}")
    mod_name, _, attr = spec.partition(":")
    try:
        obj = importlib.import_module(mod_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise DataValidationError(f"--judge: cannot import {spec!r} ({exc})") from None
    if not callable(obj):
        raise DataValidationError(f"--judge: {spec!r} is not callable")
    return obj
