"""Confidence signals, all computed from one generation pass per query (plus one forward pass for ``verify-yes``).

Every signal is written to its own ``signal_<name>`` column (dashes become underscores); one log-probability signal
is also the ``raw_logprob`` column that probcascade calibrates (``--primary``; default ``mc-maxprob`` for multiple
choice and ``verify-yes`` for open answers, the study's choices, seed 002 §4.1).

=====================  ========================================================================================
``mc-maxprob``         multiple choice: at the answer position (the first output position), the softmax over the
                       answer letters; the chosen letter is its arg-max and the signal its log-probability, the
                       maximum letter log-probability (seed 002 §4.1; Hendrycks & Gimpel; Plaut et al.).  A letter's
                       logit is the log-sum-exp of the logits of its single-token spellings (``"A"``, ``" A"``).
``verify-yes``         generate the answer, then ask in a fresh call "Is the proposed answer ... true? Answer only Y
                       or N." (seed 002 §4.1 and Appendix C; seed 001's P(True)): ``log P(Y) - log(P(Y) + P(N))``
                       at the answer position of that call (Y/N spellings pooled as for letters).
``token-aggregate``    seed 000 §2.1, multiple choice: ``x_c = max`` of the logits of class ``c``'s matching tokens
                       over all output positions (:func:`probcascade` ``aggregate_class_logits``), then
                       ``z = softmax(x)`` or a fitted scaling (temperature ``softmax(x / T)``, vector
                       ``softmax(w * x + b)``, or a probcascade ``SoftmaxTemperatureScaler``/``VectorScaler``);
                       the signal is ``log z_a`` for the chosen letter ``a``.
``sequence-prob``      ``sum_t log p(y_t | y_<t, x)`` over the generated tokens (up to and including the token that
                       ended generation): the log-probability of the greedy output, i.e. minus lm-polygraph's
                       ``MaximumSequenceProbability`` (Fadeeva et al., 2023).  A log-probability (<= 0).
``mean-token-entropy`` ``mean_t H(p(. | y_<t, x))`` in nats over the same tokens: lm-polygraph's
                       ``MeanTokenEntropy`` (an uncertainty, >= 0; not usable as ``raw_logprob``).
``perplexity``         ``-mean_t log p(y_t | y_<t, x)``: lm-polygraph's ``Perplexity`` (the log of the usual
                       perplexity; an uncertainty, >= 0; not usable as ``raw_logprob``).
``confidence-token``   seed 004 §3.2 (Self-REF): at the position right after the answer (where a Self-REF model
                       emits ``<CN>`` or ``<UN>``), ``log(P(<CN>) / (P(<CN>) + P(<UN>)))``; needs both tokens in
                       the tokenizer.  Generation stops at ``<CN>``/``<UN>`` as at end-of-sequence.
=====================  ========================================================================================

The token-level statistics come from the raw logits of the single greedy ``generate`` call (cast to float64
before any softmax); ``mc-maxprob`` with no generation signal runs one forward step only.  As in lm-polygraph's
greedy statistics, the scored output is cut after the first stop token (end-of-sequence, or a confidence token),
which is included.  In multiple choice the first generated token is the chosen answer letter (its most likely
single-token spelling), so that the generation-based signals describe an output that starts with the recorded
answer; greedy decoding is free from the second token on.  The default budget is one token (the letter), as in the
study's multiple-choice runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SIGNALS", "SignalInfo", "column_name", "log_softmax", "logsumexp", "scaled_log_softmax"]


@dataclass(frozen=True)
class SignalInfo:
    name: str
    is_logprob: bool  # a natural-log probability (<= 0), usable as raw_logprob
    needs_generation: bool  # needs output positions beyond the answer position
    tasks: tuple[str, ...]


SIGNALS: dict[str, SignalInfo] = {
    s.name: s
    for s in (
        SignalInfo("mc-maxprob", True, False, ("mc",)),
        SignalInfo("verify-yes", True, False, ("mc", "open")),
        SignalInfo("token-aggregate", True, True, ("mc",)),
        SignalInfo("sequence-prob", True, True, ("mc", "open")),
        SignalInfo("mean-token-entropy", False, True, ("mc", "open")),
        SignalInfo("perplexity", False, True, ("mc", "open")),
        SignalInfo("confidence-token", True, True, ("mc", "open")),
    )
}

DEFAULT_SIGNALS = {"mc": ("mc-maxprob",), "open": ("verify-yes",)}


def column_name(signal: str) -> str:
    return "signal_" + signal.replace("-", "_")


def logsumexp(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x - np.expand_dims(logsumexp(x, axis=axis), axis)


def scaled_log_softmax(x: np.ndarray, scaling=None) -> np.ndarray:
    """``log softmax`` of class logits ``x`` (n, C) after an optional fitted scaling (seed 000 §2.1, steps 2-3).

    ``scaling``: ``None`` (uncalibrated softmax); a float ``T`` (temperature: ``softmax(x / T)``); a tuple
    ``("vector", w, b)`` (``softmax(w * x + b)``); or a fitted scaler with ``predict_proba(logits)`` such as
    probcascade's ``SoftmaxTemperatureScaler`` / ``VectorScaler``.
    """
    x = np.asarray(x, dtype=np.float64)
    if scaling is None:
        return log_softmax(x)
    if isinstance(scaling, (int, float)):
        return log_softmax(x / float(scaling))
    if isinstance(scaling, tuple) and scaling and scaling[0] == "vector":
        w, b = (np.asarray(v, dtype=np.float64) for v in scaling[1:])
        if w.shape != (x.shape[1],) or b.shape != (x.shape[1],):
            from probcascade.exceptions import DataValidationError

            raise DataValidationError(
                f"vector scaling has {w.size} weights and {b.size} biases but the questions have {x.shape[1]} choices"
            )
        return log_softmax(w * x + b)
    if hasattr(scaling, "predict_proba"):
        with np.errstate(divide="ignore"):
            return np.log(np.asarray(scaling.predict_proba(x), dtype=np.float64))
    from probcascade.exceptions import DataValidationError

    raise DataValidationError(f"unknown token-aggregate scaling {scaling!r}")


def parse_scaling(spec: str | None):
    """CLI form of the scaling: ``temperature=T`` (or a bare number), or ``vector=w1,...,wC/b1,...,bC``."""
    from probcascade.exceptions import DataValidationError

    if spec is None or spec in ("", "none"):
        return None
    try:
        if spec.startswith("vector="):
            w, _, b = spec[len("vector="):].partition("/")
            return ("vector", [float(v) for v in w.split(",")], [float(v) for v in b.split(",")])
        t = float(spec.removeprefix("temperature="))
    except ValueError:
        raise DataValidationError(f"--scaling: cannot parse {spec!r} (use temperature=T or vector=w1,..,wC/b1,..,bC)") from None
    if not t > 0:
        raise DataValidationError(f"--scaling: the temperature must be > 0, got {t}")
    return t


def aggregate_class_logits(logits, class_token_ids, position_mask):
    """Seed 000 step 1 through probcascade (it moves to ``probcascade.calibration`` in the restructure)."""
    try:
        from probcascade.calibration import aggregate_class_logits as agg
    except ImportError:
        try:
            from probcascade.calibration.aggregation import (
                aggregate_class_logits as agg,
            )
        except ImportError:
            from probcascade.softmax_scaling import aggregate_class_logits as agg
    return np.asarray(agg(logits, class_token_ids, position_mask=position_mask), dtype=np.float64)
