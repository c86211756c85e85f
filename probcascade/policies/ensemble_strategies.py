"""Answer strategies of the binned cascading ensemble (Hovsepian et al. 2024 §3), their registry, and the models' answers.

An *answer strategy* maps the answers and confidences of the first ``d`` models of a cascade to one final answer
per query. Answers are handled as integer label codes (see :func:`encode_labels`), so a strategy is a pure JAX
function::

    fn(codes: (n, d) int32, conf: (n, d) float, n_labels: int) -> (n,) int32

``n_labels`` is static (a Python int): an upper bound on the codes (padded to a power of two; the padding labels
are answered by no model). Built in, in :data:`STRATEGIES` (name -> :class:`Strategy`):

``last``            the answer of the last (most capable) consulted model
``plurality``       the most frequent answer; ties go to the answer of the latest model among the tied ones
``wmv``             weighted majority vote by confidence, ``argmax_c sum_k s_k 1[a_k = c]`` (Hovsepian et al. 2024 eq. 1); same ties
``most_confident``  the answer of the most confident model; ties go to the latest model

Add one with :func:`register_strategy`. Labels are compared as strings: an answer outside the gold label set
(``"I"``, ``"~"``, an empty answer ...) is a label of its own and simply never a hit.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from probcascade.exceptions import DataValidationError, ProbcascadeWarning

__all__ = [
    "Strategy", "STRATEGIES", "DEFAULT_STRATEGIES", "register_strategy", "resolve_strategies",
    "Answers", "read_answers", "encode_labels", "label_strings",
]

StrategyFn = Callable[[jnp.ndarray, jnp.ndarray, int], jnp.ndarray]


class Strategy(NamedTuple):
    """One answer strategy: ``fn(codes (n, d), conf (n, d), n_labels) -> (n,)`` label codes.

    ``needs_answers=False`` only for strategies whose answer is the last consulted model's own answer, so that a
    policy using only them can be trained and routed from correctness alone (no ``answer`` column).
    """

    name: str
    fn: StrategyFn
    needs_answers: bool = True


# ----------------------------------------------------------------------------------------------- strategies
def _latest_position(codes: jnp.ndarray, n_labels: int) -> jnp.ndarray:
    """(n, L): 1 + the position of the latest model answering each label (0 if no model does)."""
    d = codes.shape[1]
    onehot = jax.nn.one_hot(codes, n_labels, dtype=jnp.int32)                      # (n, d, L)
    return jnp.max(onehot * jnp.arange(1, d + 1, dtype=jnp.int32)[None, :, None], axis=1)


def _argmax_latest(score: jnp.ndarray, codes: jnp.ndarray, n_labels: int) -> jnp.ndarray:
    """Label with the highest ``score`` (n, L); exact ties go to the label answered by the latest model."""
    best = jnp.max(score, axis=1, keepdims=True)
    latest = _latest_position(codes, n_labels)
    return jnp.argmax(jnp.where(score == best, latest, -1), axis=1).astype(jnp.int32)


def last_answer(codes, conf, n_labels):
    return codes[:, -1].astype(jnp.int32)


def plurality_vote(codes, conf, n_labels):
    votes = jnp.sum(jax.nn.one_hot(codes, n_labels, dtype=jnp.int32), axis=1)
    return _argmax_latest(votes, codes, n_labels)


def weighted_majority_vote(codes, conf, n_labels):
    """Seed 000 eq. 1: ``argmax_c sum_k s_k 1[a_k = c]``."""
    weights = jnp.sum(jax.nn.one_hot(codes, n_labels, dtype=conf.dtype) * conf[:, :, None], axis=1)
    return _argmax_latest(weights, codes, n_labels)


def most_confident(codes, conf, n_labels):
    d = codes.shape[1]
    j = d - 1 - jnp.argmax(conf[:, ::-1], axis=1)                                   # latest among ties
    return jnp.take_along_axis(codes, j[:, None], axis=1)[:, 0].astype(jnp.int32)


STRATEGIES: dict[str, Strategy] = {
    "last": Strategy("last", last_answer, needs_answers=False),
    "plurality": Strategy("plurality", plurality_vote),
    "wmv": Strategy("wmv", weighted_majority_vote),
    "most_confident": Strategy("most_confident", most_confident),
}
#: Order matters: ties between strategies' training rewards go to the earlier one.
DEFAULT_STRATEGIES: tuple[str, ...] = ("last", "plurality", "wmv", "most_confident")


def register_strategy(name: str, fn: StrategyFn, *, needs_answers: bool = True) -> Strategy:
    """Add (or replace) an answer strategy in :data:`STRATEGIES`; returns it."""
    if not isinstance(name, str) or not name:
        raise DataValidationError("a strategy needs a non-empty string name")
    if not callable(fn):
        raise DataValidationError(f"strategy '{name}': fn must be callable")
    STRATEGIES[name] = Strategy(name, fn, needs_answers)
    return STRATEGIES[name]


def resolve_strategies(names) -> tuple[Strategy, ...]:
    names = (names,) if isinstance(names, str) else tuple(names)
    if not names:
        raise DataValidationError("at least one answer strategy is needed")
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        raise DataValidationError(f"unknown answer strateg{'y' if len(unknown) == 1 else 'ies'} {unknown} "
                                  f"(registered: {list(STRATEGIES)})")
    if len(set(names)) != len(names):
        raise DataValidationError(f"duplicate answer strategy in {list(names)}")
    return tuple(STRATEGIES[n] for n in names)


def require_answers(strategies, answers, what: str = "this policy") -> None:
    """Raise a clear error naming the ``answer`` column when a strategy needs answers and there are none."""
    if answers is None:
        needing = [s.name for s in strategies if s.needs_answers]
        if needing:
            raise DataValidationError(
                f"{what} uses answer strateg{'y' if len(needing) == 1 else 'ies'} {needing}, which need the models' "
                "answers: column 'answer' is missing (give answers=..., e.g. from read_answers(csv, data)), or use "
                "strategies=('last',) only")


# ---------------------------------------------------------------------------------------------------- labels
def label_strings(values) -> np.ndarray:
    """Object array of ``str`` labels; missing values (None / NaN) become the empty label ``""``."""
    arr = np.asarray(values, dtype=object)
    s = pd.Series(arr.ravel(), dtype=object)
    return s.where(s.notna(), "").astype(str).to_numpy(dtype=object).reshape(arr.shape)


def encode_labels(answers: np.ndarray, gold: np.ndarray | None = None):
    """Integer codes over the union of answer and gold labels: ``(vocab, answer_codes, gold_codes or None)``."""
    a = label_strings(answers)
    parts = [a.ravel()] + ([label_strings(gold).ravel()] if gold is not None else [])
    vocab, inv = np.unique(np.concatenate(parts).astype(str), return_inverse=True)
    codes = inv[: a.size].reshape(a.shape).astype(np.int32)
    gcodes = inv[a.size:].astype(np.int32) if gold is not None else None
    return vocab.astype(object), codes, gcodes


def gold_codes(codes: np.ndarray, correct: np.ndarray, gold: np.ndarray | None) -> np.ndarray:
    """Gold label codes; without a gold column, the answer of any correct model (``-1``: no model was correct).

    With a gold column, warns when ``answer == gold`` disagrees with ``correct`` (hits follow the gold labels).
    """
    correct = np.asarray(correct).astype(bool)
    if gold is not None:
        mismatch = (codes == gold[:, None]) != correct
        if mismatch.any():
            warnings.warn(f"{int(mismatch.sum())} (query, model) pairs have answer == gold disagreeing with "
                          "'correct'; the ensemble scores hits by comparing answers with the gold labels",
                          ProbcascadeWarning, stacklevel=3)
        return gold
    any_correct = correct.any(axis=1)
    first = np.argmax(correct, axis=1)
    return np.where(any_correct, codes[np.arange(len(codes)), first], -1).astype(np.int32)


# ---------------------------------------------------------------------------------------------------- answers
class Answers(NamedTuple):
    """The models' answers aligned with a :class:`~probcascade.CascadeData` (which does not keep them).

    answers : (n_queries, n_models) object array of str, in ``data.models`` order (missing -> ``""``)
    gold : (n_queries,) object array of str, or None when the source has no ``gold`` column
    """

    answers: np.ndarray
    gold: np.ndarray | None = None

    def take(self, rows) -> "Answers":
        rows = np.asarray(rows)
        return Answers(self.answers[rows], None if self.gold is None else self.gold[rows])


def read_answers(source, data, *, answer_column: str = "answer", gold_column: str = "gold") -> Answers:
    """Read the models' answers (and gold labels) of ``data``'s queries from the tidy CSV or frame it came from.

    ``source`` is a path (answers are read as text, so ``"None"`` or ``"NA"`` stay labels) or a DataFrame with
    ``query``, ``model`` and ``answer`` (and optionally ``gold``) columns. Rows are aligned to ``data.queries`` and
    ``data.models``. Raises :class:`DataValidationError` naming the column when ``answer`` is missing.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise DataValidationError(f"file not found: {path}")
        header = list(pd.read_csv(path, nrows=0).columns)
        if answer_column not in header:
            raise DataValidationError(f"missing column '{answer_column}' in {path} (columns present: {header}); "
                                      "the ensemble's voting strategies need the models' answers")
        cols = [c for c in ("query", "model", answer_column, gold_column) if c in header]
        frame = pd.read_csv(path, usecols=cols, dtype={c: str for c in (answer_column, gold_column) if c in header},
                            keep_default_na=False)
    elif isinstance(source, pd.DataFrame):
        frame = source
        if answer_column not in frame.columns:
            raise DataValidationError(f"missing column '{answer_column}' (columns present: {list(frame.columns)}); "
                                      "the ensemble's voting strategies need the models' answers")
    else:
        raise DataValidationError(f"expected a CSV path or a DataFrame, got {type(source).__name__}")
    for col in ("query", "model"):
        if col not in frame.columns:
            raise DataValidationError(f"missing column '{col}' (columns present: {list(frame.columns)})")
    frame = frame.assign(model=frame["model"].astype(str))
    unknown = [m for m in data.models if m not in set(frame["model"])]
    if unknown:
        raise DataValidationError(f"model(s) {unknown} have no rows in the answers' source")
    frame = frame[frame["model"].isin(data.models)]
    if frame.duplicated(["query", "model"]).any():
        row = frame[frame.duplicated(["query", "model"])].iloc[0]
        raise DataValidationError(f"query {row['query']} appears more than once for model '{row['model']}'")
    table = frame.pivot(index="query", columns="model", values=answer_column)
    missing = pd.Index(data.queries).difference(table.index)
    if len(missing):
        raise DataValidationError(f"{len(missing)} quer{'y' if len(missing) == 1 else 'ies'} of the data have no "
                                  f"row in the answers' source (first: {missing[0]})")
    answers = label_strings(table.reindex(index=data.queries, columns=list(data.models)).to_numpy())
    gold = None
    if gold_column in frame.columns:
        g = frame.assign(_g=label_strings(frame[gold_column].to_numpy())).groupby("query")["_g"]
        if (g.nunique() > 1).any():
            q = g.nunique()[g.nunique() > 1].index[0]
            raise DataValidationError(f"column '{gold_column}' differs between models for query {q}")
        gold = label_strings(g.first().reindex(data.queries).to_numpy())
    return Answers(answers, gold)
