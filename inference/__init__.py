"""probcascade's torch bridge: Hugging Face causal LMs -> cascade confidence data (installed as
``probcascade_inference`` with the ``llm`` extra: ``pip install 'probcascade[llm]'``).

Importing this package does not import torch; :func:`extract`, :func:`build_tiny_model` and
:func:`selfref_dataset` load it when called.
"""

from __future__ import annotations

__all__ = ["SIGNALS", "build_tiny_model", "extract", "load_questions", "selfref_dataset"]


def __getattr__(name):
    if name == "extract":
        from .extract import extract

        return extract
    if name == "build_tiny_model":
        from .tiny import build_tiny_model

        return build_tiny_model
    if name == "selfref_dataset":
        from .selfref import selfref_dataset

        return selfref_dataset
    if name == "load_questions":
        from .questions import load_questions

        return load_questions
    if name == "SIGNALS":
        from .signals import SIGNALS

        return SIGNALS
    raise AttributeError(f"module 'probcascade_inference' has no attribute {name!r}")
