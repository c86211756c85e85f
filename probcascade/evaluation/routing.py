"""Routing queries through a cascade on data: many threshold vectors at once, or any
:class:`~probcascade.policies.Policy`.

Conventions (eq. 1 of the study): the cascade is ``M_1 -> ... -> M_k``; a query stops at the first model ``i < k``
whose calibrated confidence is *strictly* above its threshold, ``phi_i > threshold_i``, and otherwise moves on; the
last model always answers. The cost of a query is the sum of the costs of every model it visited.

* :func:`route` scores many threshold vectors on per-query data: error rate, mean cost and the share of queries
  answered by each model. Its core (:func:`route_core`) is pure JAX, vmapped over threshold vectors and mapped over
  fixed-size batches of them (``jax.lax.map(..., batch_size=...)``), so that scoring a whole frontier or a grid of
  candidates is one compiled call with bounded memory.
* :func:`score_policy` routes queries through any policy (threshold cascade or not) and scores its decisions, so
  evaluation does not depend on the kind of policy.
"""

from __future__ import annotations

from typing import NamedTuple
import jax
import jax.numpy as jnp
import numpy as np
from probcascade.precision import x64
from probcascade.exceptions import DataValidationError
from probcascade.validation import check_array, check_int, pad_rows, padded_size

__all__ = ["Routing", "route", "route_core", "PolicyScore", "score_policy"]

DEFAULT_BATCH = 1024


# ------------------------------------------------------------------------------------------------ validation
def validate_cascade_data(conf, correct, cost) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check per-query cascade data and return ``(conf, correct, cumcost)``.

    ``cumcost`` is (n, k): the cost a query incurs when it exits at model ``j`` (the sum of the costs of models
    ``1..j``), from per-query costs (n, k) or per-model expected costs (k,).
    """
    conf = check_array(conf, "conf", ndim=2, min_rows=1)  # (n_queries, n_models)
    n, k = conf.shape
    if k < 2:
        raise DataValidationError(f"a cascade needs at least 2 models, 'conf' has {k} column(s)")
    # 0/1 correctness, or a probability of correctness
    correct = check_array(correct, "correct", shape=(n, k), unit_interval=True)
    cost_arr = check_array(cost, "cost", ndim=(1, 2), low=0.0)
    if cost_arr.ndim == 1:
        if cost_arr.shape[0] != k:
            raise DataValidationError(f"'cost' as a per-model vector must have {k} entries, got {cost_arr.shape[0]}")
        cost_arr = np.broadcast_to(cost_arr, (n, k))
    elif cost_arr.shape != (n, k):
        raise DataValidationError(f"'cost' as per-query costs must have shape ({n}, {k}) like 'conf', got {cost_arr.shape}")
    return conf, correct, np.cumsum(cost_arr, axis=1)


def validate_thresholds(thresholds, k: int) -> np.ndarray:
    """``thresholds`` as a float64 array (..., k-1); +-inf allowed (always / never defer), NaN not."""
    thr = check_array(thresholds, "thresholds", finite="allow-inf")
    if thr.ndim == 0 or thr.shape[-1] != k - 1:
        raise DataValidationError(
            f"'thresholds' must have shape (..., {k - 1}) for a cascade of {k} models, got shape {thr.shape}"
        )
    return thr


# ------------------------------------------------------------------------------------------------------ core
def exit_onehot(conf: jnp.ndarray, thresholds: jnp.ndarray) -> jnp.ndarray:
    """One-hot (n, k) indicator of the model that answers each query, for one threshold vector (k-1,).

    A query exits at the first model ``i < k`` with ``conf[:, i] > thresholds[i]`` (strict), else at model ``k``.
    """
    n = conf.shape[0]
    accept = jnp.concatenate([conf[:, :-1] > thresholds, jnp.ones((n, 1), dtype=bool)], axis=1)
    reached = jnp.cumprod(jnp.concatenate([jnp.ones((n, 1), dtype=bool), ~accept[:, :-1]], axis=1), axis=1)
    return (accept & reached.astype(bool)).astype(conf.dtype)


def route_one(conf, correct, cumcost, thresholds):
    onehot = exit_onehot(conf, thresholds)
    error = jnp.mean(jnp.sum(onehot * (1.0 - correct), axis=1))
    cost = jnp.mean(jnp.sum(onehot * cumcost, axis=1))
    return error, cost, jnp.mean(onehot, axis=0)


def route_core(conf, correct, cumcost, thresholds, batch_size: int = DEFAULT_BATCH):
    """Pure-JAX routing of many threshold vectors (T, k-1): returns error (T,), mean cost (T,), shares (T, k).

    ``cumcost`` is the (n, k) cost of a query that exits at each model (cumulative over visited models).  Threshold
    vectors are vmapped in batches of ``batch_size`` (``jax.lax.map``), so peak memory is about
    ``batch_size * n * k`` numbers.  Call under float64 (``probcascade.float64()``).
    """
    fn = lambda t: route_one(conf, correct, cumcost, t)  # noqa: E731
    return jax.lax.map(fn, thresholds, batch_size=min(batch_size, thresholds.shape[0]))


_route_jit = jax.jit(route_core, static_argnames=("batch_size",))


class Routing(NamedTuple):
    """Result of :func:`route`: arrays with the leading shape of the thresholds."""

    error: np.ndarray
    cost: np.ndarray
    shares: np.ndarray


@x64
def route(conf, correct, cost, thresholds, batch_size: int = DEFAULT_BATCH) -> Routing:
    """Route queries through a cascade for every threshold vector and score the outcome.

    Parameters
    ----------
    conf : array_like, shape (n, k)
        Calibrated confidence of each model on each query (only the first ``k-1`` columns are used for routing).
    correct : array_like, shape (n, k)
        1 if the model's answer is correct, else 0 (probabilities of correctness in [0, 1] are accepted too; the
        error is then an expected error).
    cost : array_like, shape (n, k) or (k,)
        Per-query cost of each model (USD), or per-model expected costs.  A query costs the sum of the costs of
        the models it visited; with a (k,) vector that is the cumulative expected cost at its exit model.
    thresholds : array_like, shape (..., k-1)
        Confidence thresholds; ``+inf`` always defers, ``-inf`` never does.  A query stops at model ``i < k``
        when ``conf[:, i] > thresholds[..., i]``.
    batch_size : int
        Number of threshold vectors vmapped at once (bounds memory to about ``batch_size * n * k`` numbers).

    Returns
    -------
    Routing
        ``error`` (...), ``cost`` (...) - the mean cost per query - and ``shares`` (..., k), the fraction of
        queries answered by each model (rows sum to 1).
    """
    conf, correct, cumcost = validate_cascade_data(conf, correct, cost)
    k = conf.shape[1]
    thr = validate_thresholds(thresholds, k)
    check_int(batch_size, "batch_size", low=1)
    lead = thr.shape[:-1]
    flat = thr.reshape(-1, k - 1)
    if flat.shape[0] == 0:
        return Routing(np.zeros(lead), np.zeros(lead), np.zeros(lead + (k,)))
    t = flat.shape[0]
    # pad the number of vectors by the common rule up to one batch (beyond it: to whole batches) so that calls with
    # similar numbers of thresholds share one compilation; padding rows (+inf) always defer and are dropped
    padded = padded_size(t, minimum=1) if t <= batch_size else -(-t // batch_size) * batch_size
    flat, _ = pad_rows(flat, padded, np.inf)
    err, c, shares = _route_jit(
        jnp.asarray(conf), jnp.asarray(correct), jnp.asarray(cumcost), jnp.asarray(flat), batch_size=int(batch_size)
    )
    return Routing(
        np.asarray(err)[:t].reshape(lead), np.asarray(c)[:t].reshape(lead), np.asarray(shares)[:t].reshape(lead + (k,))
    )


class PolicyScore(NamedTuple):
    """Result of :func:`score_policy`: accuracy, mean cost per query and the share of queries exiting at each model."""

    accuracy: float
    cost: float
    shares: np.ndarray


def score_policy(policy, conf, cost, correct=None, answers=None, gold=None) -> PolicyScore:
    """Route queries through any :class:`~probcascade.policies.Policy` and score the outcome.

    ``conf`` (n, k) calibrated confidences and ``cost`` (n, k) or (k,) in the policy's model order. A policy that
    returns the exit model's own answer is scored with ``correct`` (n, k); one that returns its own answers
    (``Decisions.answer``) with ``gold`` (n,).
    """
    conf = check_array(conf, "conf", ndim=2)
    n, k = conf.shape
    dec = policy.route(conf, cost, answers)
    if dec.answer is None:
        if correct is None:
            raise DataValidationError(f"'correct' is needed to score a {policy.kind} policy (it answers with the "
                                      "exit model's own answer)")
        corr = check_array(correct, "correct", shape=(n, k))
        hits = corr[np.arange(n), np.asarray(dec.exit)]
    else:
        if gold is None:
            raise DataValidationError(f"'gold' is needed to score a {policy.kind} policy (it returns its own answers)")
        g = np.asarray(gold)
        if g.shape != (n,):
            raise DataValidationError(f"'gold' must have shape ({n},), got {g.shape}")
        hits = (np.asarray(dec.answer) == g).astype(np.float64)
    shares = np.bincount(np.asarray(dec.exit), minlength=k)[:k] / max(n, 1)
    return PolicyScore(float(np.mean(hits)), float(np.mean(dec.cost)), shares)
