"""The study's Algorithm 1: P(Correct) and E[Cost] of a cascade in O(k), pure and differentiable in the thresholds.

Per link, Algorithm 1 needs ``P(Phi_i <= a | Phi_{i-1} <= b)`` (from :func:`joint_cdf`, exact at the atoms through
the cell table of :mod:`.tables`) and ``J_i(b, a) = E[Phi_i 1{Phi_i > a} 1{Phi_{i-1} <= b}]`` (:func:`partial_joint`,
eq. 30 times P(Phi_{i-1} <= b)). The atom and mixed cells of ``J_i`` are closed forms (partial expectations of the
marginal); the interior cell is a Riemann-Stieltjes integral, integrated by parts,

    int_{a'}^{hi} x d_x C(u, G(x)) = hi u - a' C(u, G(a')) - int_{a'}^{hi} C(u, G(x)) dx,   a' = clip(a, lo, hi),

whose last term is a fixed-node Gauss-Legendre rule (:data:`N_QUAD` nodes), so the result stays differentiable in
both thresholds.

For k = 2 this is Proposition 2 of the study and exact. For k >= 3 it relies on the study's approximation (5),
which replaces P(. | Phi_{i-1} <= t_{i-1}, ..., Phi_1 <= t_1) by P(. | Phi_{i-1} <= t_{i-1}); that conditions on
*events*, which a chain that is Markov in the *values* does not satisfy. Cascades are therefore evaluated by the
Markov chain of :mod:`.chain` by default, and Algorithm 1 is kept as ``joint="algorithm1"`` to compare with the
study. The pair functions also give :class:`~probcascade.joint.model.MarkovCopulaModel` its joint and conditional
probabilities.

Accuracy notes: docs/design_notes.md#joint
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from probcascade.joint.tables import CascadeParams
from probcascade.joint.tables import MarginalTable
from probcascade.joint.tables import cells_below
from probcascade.joint.tables import copula_cdf
from probcascade.joint.tables import marginal_at
from probcascade.joint.tables import table_cdf
from probcascade.joint.tables import table_interior_cdf
from probcascade.joint.tables import table_interior_pe
from probcascade.joint.tables import table_partial_expectation

__all__ = ["N_QUAD", "joint_cdf", "partial_joint", "algorithm1_metrics"]

#: Gauss-Legendre nodes for the interior-cell integral of J_i.
N_QUAD = 64
_GL_T, _GL_W = np.polynomial.legendre.leggauss(N_QUAD)


def joint_cdf(m_i: MarginalTable, m_j: MarginalTable, table, family: str, theta, a, b):
    """P(Phi_i <= a, Phi_j <= b) for one pair of models (exact at the atoms)."""
    hi_ = cells_below(m_i, a)
    hj_ = cells_below(m_j, b)
    outer = hi_[..., :, None] * hj_[..., None, :] * table
    inner = table[1, 1] * copula_cdf(family, theta, hi_[..., 1], hj_[..., 1])
    return jnp.sum(outer, axis=(-2, -1)) - outer[..., 1, 1] + inner


def marginal_cdf_from_table(m_i: MarginalTable, table_rows, a):
    """P(Phi_i <= a) using the cell probabilities ``table_rows`` (3,) (row sums of a pair table)."""
    return jnp.sum(cells_below(m_i, a) * table_rows, axis=-1)


def _interior_integral(m_j: MarginalTable, family: str, theta, u, a):
    """int_{a'}^{hi} x d_x C(u, G_j(x)) over the interior cell, a' = clip(a, lo, hi)."""
    a_c = jnp.clip(a, m_j.lo, m_j.hi)
    half = 0.5 * (m_j.hi - a_c)
    x = a_c + half * (jnp.asarray(_GL_T) + 1.0)
    g = table_interior_cdf(m_j, x)
    integral = half * jnp.sum(jnp.asarray(_GL_W) * copula_cdf(family, theta, u, g))
    c_at = copula_cdf(family, theta, u, table_interior_cdf(m_j, a_c))
    return m_j.hi * u - a_c * c_at - integral


def partial_joint(m_i: MarginalTable, m_j: MarginalTable, table, family: str, theta, b, a):
    """J(b, a) = E[Phi_j 1{Phi_j > a} 1{Phi_i <= b}] for the pair (i, j) = (previous, current)."""
    h = cells_below(m_i, b)                                   # (3,) over cells of model i
    atoms = table[:, 0] * jnp.where(m_j.lo > a, m_j.lo, 0.0) + table[:, 2] * jnp.where(m_j.hi > a, m_j.hi, 0.0)
    mixed = (table[:, 1] * table_interior_pe(m_j, a)).at[1].set(0.0)
    inner = table[1, 1] * _interior_integral(m_j, family, theta, h[1], a)
    return jnp.sum(h * (atoms + mixed)) + inner


def _step(prev: MarginalTable, cur: MarginalTable, tab, family: str, theta, b, a):
    """(P(Phi_i <= a | Phi_{i-1} <= b), I_i(b, a)) of Algorithm 1 for one link of the chain."""
    fb = marginal_cdf_from_table(prev, jnp.sum(tab, axis=1), b)
    ok = fb > 0
    safe = jnp.where(ok, fb, 1.0)
    cond = jnp.where(ok, joint_cdf(prev, cur, tab, family, theta, b, a) / safe, 0.0)
    integral = jnp.where(ok, partial_joint(prev, cur, tab, family, theta, b, a) / safe, 0.0)
    return cond, integral


def algorithm1_metrics(params: CascadeParams, families: tuple[str, ...], costs, thresholds):
    """Algorithm 1: (P(Correct), E[Cost]) of the cascade for thresholds (k-1,), in O(k). Pure and differentiable.

    Exact for k = 2; for k >= 3 it uses the study's approximation (5) (see the module notes and
    :func:`~probcascade.joint.chain.chain_metrics`).

    When every link uses the same copula family the k-1 links run in one ``lax.scan`` (compiled once whatever k);
    otherwise the loop is unrolled.
    """
    k = len(families) + 1
    costs = jnp.asarray(costs, dtype=float)
    t = jnp.concatenate([jnp.asarray(thresholds, dtype=float), jnp.array([-jnp.inf])])
    marg = MarginalTable(*map(jnp.asarray, params.marg))
    m0 = marginal_at(marg, 0)
    below = table_cdf(m0, t[0])
    correct0 = table_partial_expectation(m0, t[0])
    cum_costs = jnp.cumsum(costs)
    if k == 1:
        return correct0, cum_costs[0]
    prev = MarginalTable(*(z[:-1] for z in marg))
    cur = MarginalTable(*(z[1:] for z in marg))
    table, theta = jnp.asarray(params.table), jnp.asarray(params.theta)
    if len(set(families)) == 1:
        fam = families[0]
        conds, integrals = jax.vmap(lambda p, c, tb, th, b, a: _step(p, c, tb, fam, th, b, a))(
            prev, cur, table, theta, t[:-1], t[1:])
    else:
        outs = [_step(marginal_at(prev, i), marginal_at(cur, i), table[i], families[i], theta[i], t[i], t[i + 1])
                for i in range(k - 1)]
        conds, integrals = (jnp.stack(z) for z in zip(*outs))
    # cumulative probability of reaching model i (i = 2..k): P(Phi_1 <= t_1) prod_{j<i} P(Phi_j <= t_j | ...)
    reach = below * jnp.concatenate([jnp.ones(1), jnp.cumprod(conds)[:-1]])
    correct = correct0 + jnp.sum(reach * integrals)
    e_cost = (1.0 - below) * cum_costs[0] + jnp.sum(reach * (1.0 - conds) * cum_costs[1:])
    return correct, e_cost
