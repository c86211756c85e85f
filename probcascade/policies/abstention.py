"""The threshold cascade that may decline to answer: :class:`AbstentionPolicy`.

Model ``j < k`` abstains when ``conf[:, j] <= abstain[j]``, defers when ``abstain[j] < conf[:, j] <= thresholds[j]``
and answers when ``conf[:, j] > thresholds[j]``; the last model answers when ``conf[:, k-1] > abstain[k-1]`` and
abstains otherwise. ``abstain[j] = -inf`` never abstains, so ``abstain = -inf`` everywhere is the
:class:`~probcascade.policies.threshold.ThresholdPolicy` with the same thresholds. A query pays for every model it
reached, also when it abstains. The model-based evaluation of the same rule is
:func:`probcascade.joint.abstention.abstention_metrics`; :func:`route_abstention` scores many policies on data at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import numpy as np

from probcascade.exceptions import DataValidationError
from probcascade.policies.threshold import per_query_costs
from probcascade.validation import check_array

__all__ = ["AbstentionPolicy", "AbstentionDecisions", "AbstentionScores", "route_abstention"]


class AbstentionDecisions(NamedTuple):
    """Per-query outcome of an :class:`AbstentionPolicy`: :class:`~probcascade.policies.base.Decisions` plus
    ``abstain`` (n,) bool, True where the query stopped at model ``exit`` without an answer."""

    exit: np.ndarray
    cost: np.ndarray
    answer: np.ndarray | None = None
    abstain: np.ndarray | None = None


class AbstentionScores(NamedTuple):
    """Scores of policies on data (arrays with one entry per policy): ``p_correct``, ``p_wrong`` and ``p_abstain``
    (shares of all queries; they sum to 1), ``error_answered`` (wrong answers among answered queries; NaN when
    none is answered), ``cost`` (mean cost per query), ``shares`` (..., k) (share of queries stopping at each model)."""

    p_correct: np.ndarray
    p_wrong: np.ndarray
    p_abstain: np.ndarray
    error_answered: np.ndarray
    cost: np.ndarray
    shares: np.ndarray


def _stops(conf: np.ndarray, thresholds: np.ndarray, abstain: np.ndarray):
    """(exit index, abstained) for every policy (T, ...) and query: ``conf`` (n, k), ``thresholds`` (T, k-1),
    ``abstain`` (T, k); returns arrays (T, n)."""
    t, a = thresholds[:, None, :], abstain[:, None, :]
    low = conf[None] <= a                                                           # (T, n, k)
    stop = np.concatenate([low[..., :-1] | (conf[None, :, :-1] > t), np.ones(low.shape[:-1] + (1,), bool)], axis=-1)
    exit_ = np.argmax(stop, axis=-1)
    return exit_, np.take_along_axis(low, exit_[..., None], axis=-1)[..., 0]


def _check_vectors(thresholds, abstain, k: int, models=None) -> tuple[np.ndarray, np.ndarray]:
    """(T, k-1) thresholds and (T, k) abstention thresholds, checked: a_j <= t_j."""
    where = f" for the cascade {list(models)}" if models is not None else ""
    thr = check_array(thresholds, "thresholds", finite="allow-inf")
    ab = check_array(abstain, "abstain", finite="allow-inf")
    if thr.ndim == 0 or thr.shape[-1] != k - 1 or ab.ndim == 0 or ab.shape[-1] != k:
        raise DataValidationError(f"'thresholds' needs {k - 1} and 'abstain' {k} values per policy{where}, got "
                                  f"shapes {thr.shape} and {ab.shape}")
    thr, ab = thr.reshape(-1, k - 1), ab.reshape(-1, k)
    if thr.shape[0] != ab.shape[0]:
        raise DataValidationError(f"'thresholds' has {thr.shape[0]} vectors, 'abstain' {ab.shape[0]}")
    bad = np.argwhere(ab[:, :-1] > thr)
    if bad.size:
        i, j = bad[0]
        raise DataValidationError(f"'abstain' must not exceed 'thresholds'{where}: model {j} has abstention "
                                  f"threshold {ab[i, j]:.6g} > deferral threshold {thr[i, j]:.6g}")
    return thr, ab


def route_abstention(conf, correct, cost, thresholds, abstain) -> AbstentionScores:
    """Score many abstention policies on data at once (vectorised over policies and queries).

    ``conf`` (n, k) calibrated confidences and ``correct`` (n, k) 0/1 outcomes (or probabilities of correctness)
    in cascade order; ``cost`` (n, k) or (k,); ``thresholds`` (..., k-1) and ``abstain`` (..., k) with the same
    leading shape. Memory is about ``T n k`` booleans for T policies.
    """
    c = check_array(conf, "conf", ndim=2, min_rows=1)
    n, k = c.shape
    corr = check_array(correct, "correct", shape=(n, k), unit_interval=True)
    lead = np.shape(thresholds)[:-1]
    thr, ab = _check_vectors(thresholds, abstain, k)
    cum = np.cumsum(per_query_costs(cost, n, k), axis=1)
    exit_, stopped = _stops(c, thr, ab)
    rows = np.arange(n)[None, :]
    hit = corr[rows, exit_]
    answered = ~stopped
    p_correct = np.mean(hit * answered, axis=1)
    p_abstain = np.mean(stopped, axis=1)
    p_wrong = 1.0 - p_correct - p_abstain
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.where(p_abstain < 1.0, p_wrong / (1.0 - p_abstain), np.nan)
    shares = np.stack([np.mean(exit_ == j, axis=1) for j in range(k)], axis=-1)
    mean_cost = np.mean(cum[rows, exit_], axis=1)
    shape = lambda v: v.reshape(lead + v.shape[1:])
    return AbstentionScores(*(shape(v) for v in (p_correct, p_wrong, p_abstain, err, mean_cost, shares)))


@dataclass(frozen=True, eq=False)
class AbstentionPolicy:
    """A threshold cascade ``M_1 -> ... -> M_k`` with abstention (module docstring): ``thresholds`` (k-1,) deferral
    thresholds t_j, ``abstain`` (k,) abstention thresholds a_j <= t_j (``-inf``: never abstain)."""

    kind: ClassVar[str] = "abstention"
    models: tuple[str, ...]
    thresholds: np.ndarray = field(repr=False)
    abstain: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        models = tuple(str(m) for m in self.models)
        if len(models) < 2:
            raise DataValidationError(f"a cascade with abstention needs at least 2 models, got {list(models)}")
        thr, ab = _check_vectors(self.thresholds, self.abstain, len(models), models)
        if thr.shape[0] != 1:
            raise DataValidationError(f"one policy has one threshold vector, got {thr.shape[0]}")
        object.__setattr__(self, "models", models)
        object.__setattr__(self, "thresholds", thr[0])
        object.__setattr__(self, "abstain", ab[0])

    @property
    def k(self) -> int:
        return len(self.models)

    def route(self, conf, cost, answers=None) -> AbstentionDecisions:
        """Stopping model, cost and abstention of each query (an answered query's answer is its stopping model's
        own: ``answer`` is None). ``conf`` (n, k) calibrated confidences in cascade order; ``cost`` (n, k) or (k,)."""
        c = check_array(conf, "conf", ndim=2)
        if c.shape[1] != self.k:
            raise DataValidationError(f"'conf' must have shape (n, {self.k}) for the cascade {list(self.models)}, "
                                      f"got {c.shape}")
        n = c.shape[0]
        exit_, stopped = _stops(c, self.thresholds[None], self.abstain[None])
        cum = np.cumsum(per_query_costs(cost, n, self.k), axis=1)
        return AbstentionDecisions(exit=exit_[0], cost=cum[np.arange(n), exit_[0]], answer=None, abstain=stopped[0])

    def score(self, conf, correct, cost) -> dict[str, Any]:
        """P(correct answer), P(wrong answer), P(abstain), error among answered, mean cost and per-model shares on
        data (see :func:`route_abstention`), as plain numbers."""
        s = route_abstention(conf, correct, cost, self.thresholds, self.abstain)
        out = {name: float(v) for name, v in zip(s._fields[:-1], s[:-1])}
        out["shares"] = np.asarray(s.shares).tolist()
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "models": list(self.models), "thresholds": self.thresholds.tolist(),
                "abstain": self.abstain.tolist()}

    def __repr__(self) -> str:
        fmt = lambda v: ", ".join(f"{x:.4g}" for x in v)
        return (f"AbstentionPolicy({' -> '.join(self.models)}; thresholds [{fmt(self.thresholds)}]; "
                f"abstain [{fmt(self.abstain)}])")
