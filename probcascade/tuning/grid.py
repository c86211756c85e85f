"""The grid-search baseline of §4.4 of the study: every combination of per-model quantile thresholds, scored on the
training data and reduced to its Pareto set.

:func:`quantile_grid` gives each model ``i < k`` its candidate thresholds (40 quantiles of its training confidences
at the default 2.5 % step, the grid of the study's code), so :func:`grid_search` scores ``40**(k-1)`` candidates
(2.56 million for k = 5). Accuracy and expected cost of all combinations come from one einsum per exit model over
the queries, without a Python loop over candidates and without an (n, candidates) intermediate; memory is bounded
by splitting the first model's candidates into blocks, each reduced to its Pareto set before merging. This
factorisation is what makes a high-resolution grid feasible for k = 5 (run times: ``BENCHMARKS.md``).

The result is a :class:`~probcascade.tuning.frontier.Frontier`, like the rational tuner's.
"""

from __future__ import annotations

import string
import time
from typing import Sequence
import jax
import jax.numpy as jnp
import numpy as np
from probcascade.precision import x64
from probcascade.evaluation.routing import validate_cascade_data
from probcascade.exceptions import DataValidationError
from probcascade.tuning.frontier import Frontier, pareto_mask
from probcascade.validation import check_array, check_choice, check_float, check_int

__all__ = ["quantile_grid", "grid_search"]

_ACCURACY = ("correct", "confidence")


def check_tuning_inputs(conf, correct, expected_costs, models, accuracy: str):
    costs = check_array(expected_costs, "expected_costs", ndim=1)  # (k,) per-model expected costs
    conf_arr, correct_arr, _ = validate_cascade_data(conf, correct, costs)
    k = conf_arr.shape[1]
    models = tuple(models) if models is not None else tuple(f"M{i + 1}" for i in range(k))
    if len(models) != k:
        raise DataValidationError(f"'models' has {len(models)} names, 'conf' has {k} columns")
    check_choice(accuracy, "accuracy", _ACCURACY)
    # "confidence": the expected accuracy under calibration, the calibrated confidence of the answering model
    if accuracy == "confidence" and np.any((conf_arr < 0) | (conf_arr > 1)):
        raise DataValidationError("accuracy='confidence' needs calibrated confidences in [0, 1] in 'conf'")
    weight = correct_arr if accuracy == "correct" else conf_arr
    return conf_arr, correct_arr, weight, costs, models


# ------------------------------------------------------------------------------------------------ grid search
def quantile_grid(conf, step: float = 0.025, offset: float = 0.01) -> np.ndarray:
    """Per-model candidate thresholds: quantiles of each column of ``conf`` at masses ``offset + step * i``.

    ``i = 0 .. round(1 / step) - 1``, so 40 thresholds per model at the default 2.5 % step.  The default
    ``offset=0.01`` (masses 0.01, 0.035, ..., 0.985) is the grid of the study's code; it reproduces the reference
    grid-search AUCs and frontier sizes (``offset=0`` gives masses 0, 0.025, ..., 0.975).  Quantiles use numpy's
    default linear interpolation.

    Returns
    -------
    ndarray, shape (m, n_columns)
    """
    conf = check_array(conf, "conf", ndim=2)
    check_float(step, "step", low=0.0, high=0.5, low_open=True)
    check_float(offset, "offset", low=0.0)
    m = int(round(1.0 / step))
    masses = offset + step * np.arange(m)
    if masses[-1] > 1.0:
        raise DataValidationError(f"'offset' must keep the masses in [0, 1]: offset={offset}, step={step}")
    return np.quantile(conf, masses, axis=0)


def _grid_block(accept: tuple[jnp.ndarray, ...], weight: jnp.ndarray, costs: jnp.ndarray):
    """Training accuracy and expected cost of every combination of per-model candidate thresholds.

    ``accept[i]`` is the (n, m_i) 0/1 matrix "model i keeps the query" for its candidate thresholds.  A query
    answered by model j was deferred by models 1..j-1 and kept by model j, so

        accuracy[t] = sum_j mean_q weight[q, j] * prod_{i<j} (1 - accept_i[q, t_i]) * accept_j[q, t_j]
        cost[t]     = sum_j costs[j] * mean_q prod_{i<j} (1 - accept_i[q, t_i])     (P(reach model j))

    (``accept_k = 1``).  Each term is one einsum over queries, so the m_1 x ... x m_{k-1} candidate tensor is
    formed without a loop over candidates and without an (n, candidates) intermediate.
    """
    km1 = len(accept)
    n = weight.shape[0]
    letters = string.ascii_lowercase.replace("q", "")[:km1]
    shape = tuple(a.shape[1] for a in accept)
    defer = tuple(1.0 - a for a in accept)
    acc = jnp.zeros(shape)
    cost = jnp.zeros(shape)
    for j in range(km1 + 1):
        ops = [defer[i] for i in range(j)]
        subs = [f"q{letters[i]}" for i in range(j)]
        reach = jnp.einsum(",".join(subs + ["q"]) + "->" + letters[:j], *ops, jnp.ones(n)) / n
        cost = cost + costs[j] * reach.reshape(reach.shape + (1,) * (km1 - j))
        if j < km1:
            ops_j, subs_j, out = ops + [accept[j]], subs + [f"q{letters[j]}"], letters[: j + 1]
        else:
            ops_j, subs_j, out = ops, subs, letters[:km1]
        term = jnp.einsum(",".join(subs_j + ["q"]) + "->" + out, *ops_j, weight[:, j]) / n
        acc = acc + term.reshape(term.shape + (1,) * (km1 - len(out)))
    return acc, cost


_grid_block_jit = jax.jit(_grid_block)


@x64
def grid_search(
    conf,
    correct,
    expected_costs,
    step: float = 0.025,
    offset: float = 0.01,
    models: Sequence[str] | None = None,
    accuracy: str = "confidence",
    max_block: int = 2**22,
) -> "Frontier":
    """High-resolution grid search over quantile thresholds (§4.4 of the study), reduced to its Pareto set.

    Per model ``i < k`` the candidates are :func:`quantile_grid` of the training confidences (40 at the default
    ``step``), all ``40**(k-1)`` combinations are scored on the training data - accuracy of the routed queries
    (see ``accuracy``) and expected cost ``sum_j expected_costs[j] * P(reach model j)`` - and the non-dominated combinations form the
    frontier.  Scoring is vectorised in JAX (:func:`_grid_block`); memory is bounded by splitting the first model's
    candidates into blocks of at most ``max_block`` combinations (a short Python loop over blocks, each reduced
    to its Pareto set before merging).

    Parameters
    ----------
    conf, correct : array_like, shape (n, k)
        Training calibrated confidences and 0/1 correctness.
    expected_costs : array_like, shape (k,)
        Per-model expected cost per query (e.g. the training mean of ``cost_usd``).
    step, offset : float
        Quantile grid (see :func:`quantile_grid`).
    models : sequence of str, optional
        Model names for the frontier.
    accuracy : {"confidence", "correct"}
        How a candidate's training accuracy is estimated.  ``"confidence"`` (default, the study's code): the mean
        calibrated confidence of the answering model, i.e. the accuracy calibration predicts for the routed
        queries.  ``"correct"``: the mean 0/1 correctness of the answering model.  With ``"confidence"`` and the
        default grid, the test AUCs of all 78 reference grid-search frontiers (Llama, MMLU/MedMCQA/TruthfulQA) are
        reproduced to within 7.5e-5 (mean 3e-6) and 75/78 frontier sizes exactly; with ``"correct"`` the mean
        deviation is 1.3e-3.
    max_block : int
        Largest number of candidate combinations scored at once.

    Returns
    -------
    Frontier
        Pareto-optimal thresholds sorted by cost; ``p_correct``/``e_cost`` are training values, ``lam`` is NaN.
        ``info`` records ``n_candidates``, ``time_s``, ``step``, ``offset`` and ``accuracy``.
    """
    start = time.perf_counter()
    conf, _, weight, costs, models = check_tuning_inputs(conf, correct, expected_costs, models, accuracy)
    check_int(max_block, "max_block", low=1)
    k = conf.shape[1]
    grid = quantile_grid(conf[:, : k - 1], step, offset)  # (m, k-1)
    m = grid.shape[0]
    accept = [(conf[:, [i]] > grid[None, :, i]).astype(np.float64) for i in range(k - 1)]
    rest = m ** (k - 2)
    block = max(1, min(m, max_block // rest))
    w, c = jnp.asarray(weight), jnp.asarray(costs)
    tail = tuple(jnp.asarray(a) for a in accept[1:])
    keep_idx, keep_acc, keep_cost = [], [], []
    for lo in range(0, m, block):
        first = jnp.asarray(accept[0][:, lo : lo + block])
        acc, cost = _grid_block_jit((first, *tail), w, c)
        acc, cost = np.asarray(acc).ravel(), np.asarray(cost).ravel()
        sel = np.flatnonzero(pareto_mask(cost, acc))
        keep_idx.append(sel + lo * rest)
        keep_acc.append(acc[sel])
        keep_cost.append(cost[sel])
    idx, acc, cost = (np.concatenate(v) for v in (keep_idx, keep_acc, keep_cost))
    final = np.flatnonzero(pareto_mask(cost, acc))
    final = final[np.argsort(cost[final], kind="stable")]
    combos = np.column_stack(np.unravel_index(idx[final], (m,) * (k - 1)))
    thresholds = grid[combos, np.arange(k - 1)]
    info = {"n_candidates": m ** (k - 1), "time_s": time.perf_counter() - start, "step": step, "offset": offset,
            "accuracy": accuracy}
    return Frontier.from_arrays(thresholds, acc[final], cost[final], None, models, "grid_search", info)
