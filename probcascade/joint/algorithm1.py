"""The Markov-copula model of a cascade's calibrated confidences (seed 002 §3.1-3.2).

Each model's calibrated confidence Phi_i has a point-mass beta-mixture marginal (:mod:`probcascade.marginals`):
atoms at phi_min = ``lo`` and phi_max = ``hi`` and a continuous part with cdf ``G_i`` in between. Neighbours in
the cascade are coupled by bivariate copulas (:mod:`probcascade.copulas`), and the joint law of the chain follows
from the Markov assumption (eq. 5-6).

Point masses, exactly
---------------------
The study restricts the copula to the smooth interior. Here every query's confidence falls in one of three
*cells*: the atom at ``lo`` (0), the interior (1), the atom at ``hi`` (2). For every pair of models (i, j) the
3 x 3 table ``pi[r, c] = P(cell_i = r, cell_j = c)`` is estimated by counting on the training data (the row and
column sums are the marginals' ``w_lo``/``w_hi``, also estimated by counting). Within the interior x interior cell
the copula couples the interior cdfs, ``P(Phi_i <= a, Phi_j <= b | both interior) = C(G_i(a), G_j(b))``; in a cell
where one confidence sits on an atom, the other's interior value follows its interior marginal ``G``. Hence, with
``H_i(a) = (1{a >= lo_i}, G_i(a), 1{a >= hi_i})``,

    P(Phi_i <= a, Phi_j <= b) = sum_{r,c} pi[r,c] H_i(a)_r H_j(b)_c     (the (1,1) term uses C(G_i(a), G_j(b)))

which is exact at and near the atoms, and reduces to the study's model when the atoms are negligible.

Expected correctness above a threshold
--------------------------------------
Algorithm 1 needs ``J_i(b, a) = E[Phi_i 1{Phi_i > a} 1{Phi_{i-1} <= b}]`` (eq. 30 times P(Phi_{i-1} <= b)). The
atom and mixed cells are closed forms (:func:`probcascade.marginals.interior_partial_expectation`); the interior
cell is a Riemann-Stieltjes integral, integrated by parts,

    int_{a'}^{hi} x d_x C(u, G(x)) = hi u - a' C(u, G(a')) - int_{a'}^{hi} C(u, G(x)) dx,   a' = clip(a, lo, hi),

whose last term is a fixed-node Gauss-Legendre rule (``N_QUAD`` nodes), differentiable in both thresholds; the
quadrature error is below 1e-6 on the shared benchmarks (see the tests).

The whole chain: exact Markov evaluation (default) vs Algorithm 1
-----------------------------------------------------------------
For k >= 3, Algorithm 1 replaces P(. | Phi_{i-1} <= t_{i-1}, ..., Phi_1 <= t_1) by P(. | Phi_{i-1} <= t_{i-1})
(the study's approximation, eq. 5), which conditions on *events*; a chain that is Markov in the *values* does
not satisfy it. The error is largest where a late model receives almost every query that reaches its predecessor
(e.g. P(Correct) 0.922 against 0.906 by Monte Carlo for llama 3b -> 8b -> 70b on MedMCQA at the expensive end of
the frontier). ``joint="chain"`` (the default of :meth:`MarkovCopulaModel.cascade`) evaluates the Markov chain
itself: the state of model i is one of ``N_BINS + 2`` cells (the atom at lo, ``N_BINS`` interior bins of equal
interior probability, i.e. equal width in u = G_i(x), the atom at hi), and the probability vector of the queries
that reach model i is pushed forward by a transition matrix built from the cell table and the copula's exact
rectangle probabilities ``C(e_b+1, e_c+1) - C(e_b, e_c+1) - C(e_b+1, e_c) + C(e_b, e_c)``. The bin that contains
a threshold is split exactly at it (copula evaluated at the threshold), so the first link - hence every k = 2
quantity except the within-bin mean of the last model - is exact; the remaining approximation is that a query's
position within a bin is taken as uniform once it has passed through a link. Expected correctness inside a bin
uses the exact partial expectations of the marginal at the bin edges and at the threshold. The cost per link is
``N_BINS + 1`` copula evaluations and one ``(N_BINS + 2)^2`` matrix-vector product; the tests bound its error
against Monte Carlo from the sampler for k = 2..5.

Who is correct: the study's model or the pairwise one
-----------------------------------------------------
The study counts the answering model j as correct with probability Phi_j. ``cascade(..., correctness="pairwise")``
uses instead P(correct_j | Phi_{j-1}, Phi_j) fitted by logistic regression (:mod:`probcascade.correctness`): the
chain then carries, besides the state vector p of the queries that reach model j, the vector weighted by each
state's correctness ratio, ``(p_deferred @ (T * R)) + split part * R``, with R the link's (previous state, own
state) ratio grid, and the expected correctness is linear in it. Same O(k) cost; both vectors come from one
product of the deferred vector with ``[T, T * R]``.
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
    :func:`chain_metrics`).

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
