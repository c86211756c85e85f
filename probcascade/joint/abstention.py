"""Cascades that may decline to answer: the exact Markov-chain evaluation with abstention thresholds.

Besides its deferral threshold t_j every model has an abstention threshold a_j <= t_j (in the spirit of Zellinger &
Thomson's early-abstention cascades, arXiv:2502.09054). A query that reaches model j < k

* stops **without an answer** when Phi_j <= a_j (so unsure that no later model is likely to be right),
* is **deferred** to model j + 1 when a_j < Phi_j <= t_j,
* is **answered** by model j when Phi_j > t_j;

the last model answers when Phi_k > a_k and abstains otherwise. The comparisons follow the cascade's convention
("at or below the threshold moves on", eq. 1 of the study); ``a_j = -inf`` (anything below phi_min) never abstains,
and an abstention threshold above the deferral threshold acts as equal to it.

:func:`abstention_metrics` gives P(correct answer), P(wrong answer), P(abstain) and E[Cost] (a query pays for
every model it reached, also when it abstains there). It reuses the pieces of the default chain evaluation
(:mod:`probcascade.joint.chain`): the part of the state vector answered above a threshold (``_chain_exit``) and the
next model's state vector of the part below a threshold, with the threshold's bin split exactly
(``_chain_forward``). Both are linear in the state vector, so the deferred band a_j < Phi_j <= t_j is pushed
forward as "below t_j" minus "below a_j" (exact up to rounding, also when a_j and t_j share a bin): two copula
columns per link instead of one, still O(k) and differentiable in (t, a). With a_j = -inf the result equals
:func:`~probcascade.joint.chain.chain_metrics` to rounding; the pairwise correctness model is carried the same way.
Only the chain evaluation has this form (Algorithm 1 has none): cascades built with ``joint="algorithm1"`` are
rejected.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from probcascade.exceptions import DataValidationError
from probcascade.joint.chain import ChainSpec, _chain_exit, _chain_forward, _chain_inputs, as_spec
from probcascade.joint.tables import CascadeParams, MarginalTable, marginal_at
from probcascade.precision import x64
from probcascade.validation import check_array, pad_rows, padded_size

__all__ = ["abstention_metrics", "predict_abstention", "ABSTENTION_METRICS"]

#: Names of the four quantities :func:`abstention_metrics` returns, in order.
ABSTENTION_METRICS = ("p_correct", "p_wrong", "p_abstain", "e_cost")


def _below(p, r_int, r_lo, r_hi):
    """Mass of state vector ``p`` at or below a threshold, from the deferral fractions of ``_chain_exit``."""
    return p[0] * r_lo + p[-1] * r_hi + jnp.sum(p[1:-1] * r_int)


def abstention_metrics(params: CascadeParams, spec: ChainSpec | tuple[str, ...], costs, thresholds, abstain):
    """(P(correct answer), P(wrong answer), P(abstain), E[Cost]) of a cascade with abstention.

    ``thresholds`` (k-1,) deferral thresholds t_j, ``abstain`` (k,) abstention thresholds a_j (``-inf``: never
    abstain; values above t_j act as t_j), ``costs`` (k,) expected cost per model. ``params`` must carry the chain
    grid (cascades from :meth:`~probcascade.joint.model.MarkovCopulaModel.cascade` with ``joint="chain"``, the
    default). Pure JAX, differentiable in ``thresholds`` and ``abstain``; the three probabilities sum to 1.
    """
    spec = as_spec(params, spec)
    if spec.evaluator != "chain":
        raise DataValidationError("abstention is evaluated by the Markov chain: build the cascade with joint='chain'")
    k, t, marg, grid, pairwise, cum, p0, table, theta = _chain_inputs(params, spec, costs, thresholds)
    floor = marg.lo - 1.0                    # "never abstain": any value below phi_min (keeps the tables finite)
    a = jnp.maximum(jnp.asarray(abstain, dtype=float), floor)
    a = a.at[:-1].min(t)                     # a_j <= t_j
    branches = spec.families

    def link(carry, xs):
        p, pr = carry if pairwise else (carry, None)
        m, pe_edge, trans, cgrid, fam, tab, th, ti, ai, ci, ratio = xs
        # both thresholds through one (vmapped) exit and forward step: row 0 is t_j, row 1 is a_j
        correct, answered, r, r_lo, r_hi = jax.vmap(lambda x: _chain_exit(m, pe_edge, p, x, pr))(jnp.stack([ti, ai]))
        stopped = _below(p, r[1], r_lo[1], r_hi[1])
        below, below_r = jax.vmap(lambda *rs: _chain_forward(branches, p, *rs, trans, cgrid, tab, fam, th, ratio))(
            r, r_lo, r_hi)
        nxt = below[0] - below[1]                                 # the deferred band a_j < Phi_j <= t_j
        nxt = (nxt, below_r[0] - below_r[1]) if pairwise else nxt
        return nxt, (correct[0], answered[0] - correct[0], stopped, (answered[0] + stopped) * ci)

    head = MarginalTable(*(z[:-1] for z in marg))
    xs = (head, grid.pe_edge[:-1], grid.trans, grid.cgrid, grid.family_index, table, theta, t, a[:-1], cum[:-1],
          grid.ratio)
    carry, (correct, wrong, stopped, cost) = jax.lax.scan(link, (p0, p0) if pairwise else p0, xs)
    p, pr = carry if pairwise else (carry, None)
    last_correct, last_answered, r_a, lo_a, hi_a = _chain_exit(marginal_at(marg, k - 1), grid.pe_edge[-1], p, a[-1], pr)
    last_stopped = _below(p, r_a, lo_a, hi_a)
    p_correct = jnp.sum(correct) + last_correct
    p_wrong = jnp.sum(wrong) + last_answered - last_correct
    p_abstain = jnp.sum(stopped) + last_stopped
    e_cost = jnp.sum(cost) + (last_answered + last_stopped) * cum[-1]
    return p_correct, p_wrong, p_abstain, e_cost


@partial(jax.jit, static_argnums=(1,))
def _metrics_batched(params, spec, costs, thresholds, abstain):
    return jax.vmap(lambda t, a: abstention_metrics(params, spec, costs, t, a))(thresholds, abstain)


@x64
def predict_abstention(cascade, thresholds, abstain, costs) -> dict[str, np.ndarray]:
    """Predicted P(correct answer), P(wrong answer), P(abstain) and E[Cost] of a
    :class:`~probcascade.joint.model.CascadeModel` for threshold vectors (..., k-1) and abstention vectors (..., k)
    (broadcast against each other; ``-inf`` never abstains), as a dict of arrays keyed by :data:`ABSTENTION_METRICS`.
    """
    k = cascade.k
    t = check_array(thresholds, "thresholds", finite="allow-inf")
    a = check_array(abstain, "abstain", finite="allow-inf")
    if t.ndim == 0 or t.shape[-1] != k - 1 or a.ndim == 0 or a.shape[-1] != k:
        raise DataValidationError(f"'thresholds' needs {k - 1} and 'abstain' {k} values per vector for the cascade "
                                  f"{list(cascade.models)}, got shapes {t.shape} and {a.shape}")
    try:
        costs = check_array(costs, "costs", shape=(k,))
    except DataValidationError as exc:
        raise DataValidationError(f"cascade {list(cascade.models)}: {exc}") from exc
    lead = np.broadcast_shapes(t.shape[:-1], a.shape[:-1])
    t = np.broadcast_to(t, lead + (k - 1,)).reshape(-1, k - 1)
    a = np.broadcast_to(a, lead + (k,)).reshape(-1, k)
    n = t.shape[0]
    size = padded_size(n, minimum=64)          # the common padding rule: few distinct compilations
    tp, _ = pad_rows(t, size, "first" if n else 0.0)
    ap, _ = pad_rows(a, size, "first" if n else -np.inf)
    out = _metrics_batched(cascade.params, cascade.static_families, jnp.asarray(costs), jnp.asarray(tp),
                           jnp.asarray(ap))
    return {name: np.asarray(v)[:n].reshape(lead) for name, v in zip(ABSTENTION_METRICS, out)}
