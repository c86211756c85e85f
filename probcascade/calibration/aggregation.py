"""From token logits to one confidence per answer: steps 1 and 4 of the softmax-scaling pipeline of
Hovsepian et al. (2024, §2.1) for LLM classification answers.

1. **Logit aggregation** (:func:`aggregate_class_logits`): for every candidate class ``c`` take the maximum logit
   over the class's matching tokens ``M_c`` (e.g. ``"yes"``, ``" yes"``, ``"Yes"``) and over all output positions,
   ``x_c = max_{i in M_c, j = 1..T} x_{i,j}``.
2. and 3. Uncalibrated or calibrated softmax scaling of the class logits: :mod:`probcascade.calibration.softmax`.
4. **Prediction-score selection** (:func:`select_prediction_score`): keep ``s = z_a``, the (calibrated) probability
   of the LLM's answer ``a``; when the answer is the one actually scored, ``s`` estimates its probability of being
   correct.

Aggregation is one jit-compiled JAX reduction over (queries, positions, vocabulary) with masks for the class
tokens and the valid output positions, so outputs of different lengths need no Python loop.
"""

from __future__ import annotations

from typing import Mapping, Sequence
import jax
import jax.numpy as jnp
import numpy as np
from probcascade.precision import x64
from probcascade.exceptions import DataValidationError
from probcascade.validation import check_array


__all__ = ["aggregate_class_logits", "select_prediction_score"]

# ---------------------------------------------------------------------------------------------------------- step 1
@jax.jit
def _aggregate(logits: jnp.ndarray, ids: jnp.ndarray, id_mask: jnp.ndarray, pos_mask: jnp.ndarray) -> jnp.ndarray:
    """Max over matching tokens and valid positions: (n, T, V), (C, M), (C, M), (n, T) -> (n, C)."""
    gathered = logits[:, :, ids]  # (n, T, C, M)
    valid = pos_mask[:, :, None, None] & id_mask[None, None, :, :]
    return jnp.max(jnp.where(valid, gathered, -jnp.inf), axis=(1, 3))


def _token_table(class_token_ids: Mapping[str, Sequence[int]] | Sequence[Sequence[int]], vocab: int):
    """Validate the matching-token sets and pad them into a (C, M) id table with a validity mask."""
    sets = list(class_token_ids.values()) if isinstance(class_token_ids, Mapping) else list(class_token_ids)
    names = list(class_token_ids) if isinstance(class_token_ids, Mapping) else list(range(len(sets)))
    if len(sets) < 2:
        raise DataValidationError(f"'class_token_ids' needs at least 2 classes, got {len(sets)}")
    seen: dict[int, object] = {}
    clean = []
    for name, ids in zip(names, sets):
        arr = np.atleast_1d(np.asarray(ids))
        if arr.size == 0:
            raise DataValidationError(f"'class_token_ids': class {name!r} has no matching tokens")
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise DataValidationError(f"'class_token_ids': class {name!r} must be a list of integer token ids")
        if arr.min() < 0 or arr.max() >= vocab:
            raise DataValidationError(
                f"'class_token_ids': class {name!r} has token ids outside the vocabulary [0, {vocab}) of 'logits'"
            )
        for t in np.unique(arr).tolist():
            if t in seen:
                raise DataValidationError(
                    f"'class_token_ids': token id {t} matches both class {seen[t]!r} and class {name!r}"
                )
            seen[t] = name
        clean.append(np.unique(arr))
    width = max(a.size for a in clean)
    ids = np.zeros((len(clean), width), dtype=np.int64)
    mask = np.zeros((len(clean), width), dtype=bool)
    for c, a in enumerate(clean):
        ids[c, : a.size] = a
        mask[c, : a.size] = True
    return ids, mask


@x64
def aggregate_class_logits(
    logits: np.ndarray,
    class_token_ids: Mapping[str, Sequence[int]] | Sequence[Sequence[int]],
    *,
    position_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Aggregate token logits into one logit per candidate class (Hovsepian et al. 2024, §2.1, step 1).

    ``x_c = max_{i in M_c, j = 1..T} logits[j, i]``: the largest logit over the class's matching tokens and over
    all (valid) output positions.

    Parameters
    ----------
    logits : array, shape (T, V) or (n, T, V)
        Last-layer logits (or log-probabilities) over the vocabulary of size ``V`` at each of the ``T`` output
        positions, for one query or a batch of ``n`` queries.  ``-inf`` is allowed (e.g. log-probabilities of
        tokens outside a top-k list); NaN and ``+inf`` are not.
    class_token_ids : mapping of class name to token ids, or sequence of token-id sequences
        The matching token set ``M_c`` of every class, in class order (at least two classes, each non-empty, no
        token shared between classes).
    position_mask : bool array, shape (T,) or (n, T), optional
        ``True`` at the output positions to use (``False`` at padding); every query needs one valid position.

    Returns
    -------
    ndarray, shape (C,) or (n, C)
        Aggregated class logits (float64).

    Raises
    ------
    DataValidationError
        Naming the argument at fault: bad shapes, NaN/+inf logits, token ids outside the vocabulary, a query
        whose every matching token has logit ``-inf``.
    """
    x = check_array(logits, "logits", ndim=(2, 3), finite="allow-neg-inf")  # (T, V) or (n, T, V)
    single = x.ndim == 2
    if single:
        x = x[None]
    if x.shape[1] == 0 or x.shape[2] == 0:
        raise DataValidationError(f"'logits' has an empty sequence or vocabulary axis, got shape {x.shape}")
    ids, id_mask = _token_table(class_token_ids, x.shape[2])
    if position_mask is None:
        pos = np.ones(x.shape[:2], dtype=bool)
    else:
        pos = check_array(position_mask, "position_mask", dtype=bool)
        pos = pos[None] if (single and pos.ndim == 1) else pos
        if pos.shape != x.shape[:2]:
            raise DataValidationError(f"'position_mask' has shape {np.shape(position_mask)}, 'logits' {np.shape(logits)}")
        if not pos.any(axis=1).all():
            raise DataValidationError(f"'position_mask': queries {np.flatnonzero(~pos.any(axis=1)).tolist()} have no valid position")
    out = np.asarray(_aggregate(jnp.asarray(x), jnp.asarray(ids), jnp.asarray(id_mask), jnp.asarray(pos)))
    dead = ~np.isfinite(out).any(axis=1)
    if dead.any():
        raise DataValidationError(
            f"'logits': queries {np.flatnonzero(dead).tolist()} have logit -inf for every matching token of every class"
        )
    return out[0] if single else out


def select_prediction_score(proba: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """Step 4 of Hovsepian et al. (2024, §2.1): the (calibrated) probability ``z_a`` of each query's answer ``a``.

    ``proba`` (n, C) class probabilities, ``answers`` (n,) integer class indices.
    """
    proba = np.asarray(proba)
    answers = check_array(answers, "answers", shape=(proba.shape[0],), dtype=int, low=0, high=proba.shape[1] - 1)
    return proba[np.arange(proba.shape[0]), answers]
