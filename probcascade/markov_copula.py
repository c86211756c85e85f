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

from dataclasses import dataclass, field
from functools import partial
from itertools import combinations
from typing import NamedTuple, Sequence
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import copulas as _cop
from . import correctness as _corr
from . import marginals as _mg
from ._x64 import x64
from .exceptions import DataValidationError, FitError, IndependenceFallbackWarning

__all__ = ["CascadeParams", "ChainGrid", "MarkovCopulaModel", "CascadeModel", "fit_markov_copula", "N_QUAD", "N_BINS",
           "cell_of", "joint_cdf", "partial_joint", "cascade_metrics", "chain_metrics", "algorithm1_metrics",
           "build_chain_grid", "sample_chain", "AIC_FAMILIES",
           "CHAIN_FAMILIES", "static_families"]

#: Gauss-Legendre nodes for the interior-cell integral of J_i.
N_QUAD = 64
_GL_T, _GL_W = np.polynomial.legendre.leggauss(N_QUAD)


class MarginalTable(NamedTuple):
    """A marginal as the objective sees it: support, atoms and look-up tables of the interior part.

    ``tab`` (4, N_TABLE + 1) holds, on the grid ``s_j = j / N_TABLE`` of the coordinate
    ``u = (1 - cos(pi s)) / 2`` (nodes cluster at both ends of the support, where beta densities are steep), the
    interior cdf G, its derivative dG/ds, the interior partial expectation PE(x) = E[Phi 1{Phi > x} | interior] and
    dPE/ds. Between nodes a cubic Hermite interpolant is used: C1 in the thresholds, exact at the nodes, with an
    error below 1e-8 even for beta shapes near 0.25 (see the tests), and it compiles to a few dozen operations where the special functions it
    replaces compile to thousands.
    """

    lo: jnp.ndarray
    hi: jnp.ndarray
    w_lo: jnp.ndarray
    w_hi: jnp.ndarray
    tab: jnp.ndarray


class CascadeParams(NamedTuple):
    """Parameters of a cascade M_1 -> ... -> M_k as a JAX pytree.

    ``marg`` is a :class:`MarginalTable` batched over the k models; ``table`` (k-1, 3, 3) are the cell tables of
    consecutive models; ``theta`` (k-1,) the copula parameters. The copula families are static (a tuple of names,
    see :class:`CascadeModel`).
    """

    marg: MarginalTable
    table: jnp.ndarray
    theta: jnp.ndarray
    chain: "ChainGrid | None" = None


class ChainGrid(NamedTuple):
    """Precomputed pieces of the exact Markov-chain evaluation of a cascade (see the module notes).

    ``trans`` (k-1, M+2, M+2): transition matrices between the states (lo atom, M interior bins, hi atom) of
    consecutive models; ``cgrid`` (k-1, M+1, M+1): the copula at the bin edges, ``C(e_b, e_c)``; ``pe_edge``
    (k, M+1): the interior partial expectation ``E[Phi 1{Phi > x} | interior]`` at the bin edges x = G^-1(e_b);
    ``family_index`` (k-1,): each link's copula family as an index into :data:`CHAIN_FAMILIES`. The family is data,
    not a compile-time constant, so one compiled evaluation serves every mix of families (e.g. ``family="aic"``).
    ``ratio`` (k-1, M+2, M+2) or None: the pairwise correctness model's factor on the next model's correctness for
    each (state of the model, state of the next model) (see :mod:`probcascade.correctness`); None is the study's
    model, in which the next model is correct with probability equal to its calibrated confidence.
    """

    trans: jnp.ndarray
    cgrid: jnp.ndarray
    pe_edge: jnp.ndarray
    family_index: jnp.ndarray
    ratio: jnp.ndarray | None = None


#: Candidate families of ``fit_markov_copula(..., family="aic")``.
AIC_FAMILIES = ("gumbel", "survival_gumbel", "clayton", "frank")

#: Copula families the chain evaluation selects among at run time (``ChainGrid.family_index``).
CHAIN_FAMILIES = tuple(_cop.COPULA_FAMILIES)

#: Interior bins of the exact Markov-chain evaluation.
N_BINS = 64

#: Intervals of the look-up tables of each marginal.
N_TABLE = 4096


def _grid_u(n: int = N_TABLE) -> tuple[np.ndarray, np.ndarray]:
    """Nodes u(s) = w(w(s)), w(s) = (1 - cos(pi s)) / 2, and du/ds on a uniform s grid.

    The doubled cosine map puts nodes at distance ~ s^4 from the ends, so a beta cdf with a shape parameter as
    small as 0.25 is still C1 in s and the cubic Hermite interpolant stays accurate next to phi_min/phi_max.
    """
    s = np.linspace(0.0, 1.0, n + 1)
    w1 = 0.5 * (1.0 - np.cos(np.pi * s))
    u = 0.5 * (1.0 - np.cos(np.pi * w1))
    du = 0.5 * np.pi * np.sin(np.pi * w1) * 0.5 * np.pi * np.sin(np.pi * s)
    return u, du


@jax.jit
def _table_values(p: _mg.MarginalParams, x):
    """Interior cdf, partial expectation and log density at ``x``: one compilation for the three."""
    return _mg.interior_cdf(p, x), _mg.interior_partial_expectation(p, x), _mg.interior_log_prob(p, x)


def build_table(p: _mg.MarginalParams, n: int = N_TABLE) -> np.ndarray:
    """Look-up tables (4, n + 1) of one marginal (see :class:`MarginalTable`); call under float64."""
    u, du_ds = _grid_u(n)
    lo, hi = float(p.lo), float(p.hi)
    x = lo + (hi - lo) * u
    g, pe, logpdf = (np.array(z) for z in _table_values(_mg.MarginalParams(*map(jnp.asarray, p)), jnp.asarray(x)))
    dens_u = (hi - lo) * np.exp(logpdf)   # density in u
    dg = dens_u * du_ds
    dpe = -x * dens_u * du_ds
    g[0], g[-1] = 0.0, 1.0
    for arr, vals in ((dg, g), (dpe, pe)):       # ends: density may be infinite; one-sided differences instead
        h = 1.0 / n
        arr[0] = (vals[1] - vals[0]) / h
        arr[-1] = (vals[-1] - vals[-2]) / h
        bad = ~np.isfinite(arr)
        arr[bad] = 0.0
    return np.stack([g, dg, pe, dpe])


def _hermite(tab_v, tab_d, s):
    tab_v, tab_d = jnp.asarray(tab_v), jnp.asarray(tab_d)
    n = tab_v.shape[-1] - 1
    pos = jnp.clip(s * n, 0.0, n - 1e-9)
    j = jnp.floor(pos).astype(jnp.int32)
    t = pos - j
    h = 1.0 / n
    y0, y1 = tab_v[j], tab_v[j + 1]
    d0, d1 = tab_d[j] * h, tab_d[j + 1] * h
    t2, t3 = t * t, t * t * t
    return (2 * t3 - 3 * t2 + 1) * y0 + (t3 - 2 * t2 + t) * d0 + (-2 * t3 + 3 * t2) * y1 + (t3 - t2) * d1


def _w_inv(u, v):
    """Inverse of w(s) = (1 - cos(pi s)) / 2 given u and v = 1 - u (both kept for precision at either end)."""
    return jnp.where(u < 0.5, jnp.arcsin(jnp.sqrt(u)), 0.5 * jnp.pi - jnp.arcsin(jnp.sqrt(v))) * (2.0 / jnp.pi)


def _s_of(m: MarginalTable, x):
    span = m.hi - m.lo
    u = jnp.clip((x - m.lo) / span, 1e-300, 1.0)
    v = jnp.clip((m.hi - x) / span, 1e-300, 1.0)
    w = _w_inv(u, v)
    return _w_inv(w, 1.0 - w)


def table_interior_cdf(m: MarginalTable, x):
    """G(x) from the table: 0 at or below lo, 1 at or above hi."""
    g = _hermite(m.tab[0], m.tab[1], _s_of(m, x))
    return jnp.where(x <= m.lo, 0.0, jnp.where(x >= m.hi, 1.0, g))


def table_interior_pe(m: MarginalTable, x):
    """E[Phi 1{Phi > x} | interior] from the table (its full mean below lo, 0 above hi)."""
    pe = _hermite(m.tab[2], m.tab[3], _s_of(m, x))
    return jnp.where(x <= m.lo, m.tab[2][0], jnp.where(x >= m.hi, 0.0, pe))


def table_cdf(m: MarginalTable, x):
    """P(Phi <= x)."""
    c = 1.0 - m.w_lo - m.w_hi
    return jnp.where(x < m.lo, 0.0, jnp.where(x >= m.hi, 1.0, m.w_lo + c * table_interior_cdf(m, x)))


def table_partial_expectation(m: MarginalTable, x):
    """E[Phi 1{Phi > x}]."""
    c = 1.0 - m.w_lo - m.w_hi
    atoms = jnp.where(m.lo > x, m.w_lo * m.lo, 0.0) + jnp.where(m.hi > x, m.w_hi * m.hi, 0.0)
    return atoms + c * table_interior_pe(m, x)


# ------------------------------------------------------------------------------------------------ pure JAX core
def _copula_cdf(family: str, theta, u, v):
    """C(u, v), exact on the boundary of the unit square, with finite gradients there (double-where)."""
    inside = (u > 0.0) & (u < 1.0) & (v > 0.0) & (v < 1.0)
    c = _cop._eval_cdf(_cop.COPULA_FAMILIES[family], jnp.where(inside, u, 0.5), jnp.where(inside, v, 0.5), theta)
    edge = jnp.where((u <= 0.0) | (v <= 0.0), 0.0, jnp.minimum(u, v))   # C(u, 1) = u, C(1, v) = v
    return jnp.where(inside, c, edge)


def _copula_h_inv(family: str, theta, w, u):
    """Inverse in v of the conditional cdf P(V <= v | U = u) (conditional sampling)."""
    return _cop._eval_h_inv(_cop.COPULA_FAMILIES[family], w, u, theta)


def _marg_i(marg, i: int):
    return type(marg)(*(z[i] for z in marg))


def _cells_below(m: MarginalTable, a):
    """H(a) = (1{a >= lo}, G(a), 1{a >= hi}), shape (..., 3)."""
    return jnp.stack([(a >= m.lo).astype(float), table_interior_cdf(m, a), (a >= m.hi).astype(float)], axis=-1)


def joint_cdf(m_i: MarginalTable, m_j: MarginalTable, table, family: str, theta, a, b):
    """P(Phi_i <= a, Phi_j <= b) for one pair of models (exact at the atoms)."""
    hi_ = _cells_below(m_i, a)
    hj_ = _cells_below(m_j, b)
    outer = hi_[..., :, None] * hj_[..., None, :] * table
    inner = table[1, 1] * _copula_cdf(family, theta, hi_[..., 1], hj_[..., 1])
    return jnp.sum(outer, axis=(-2, -1)) - outer[..., 1, 1] + inner


def marginal_cdf_from_table(m_i: MarginalTable, table_rows, a):
    """P(Phi_i <= a) using the cell probabilities ``table_rows`` (3,) (row sums of a pair table)."""
    return jnp.sum(_cells_below(m_i, a) * table_rows, axis=-1)


def _interior_integral(m_j: MarginalTable, family: str, theta, u, a):
    """int_{a'}^{hi} x d_x C(u, G_j(x)) over the interior cell, a' = clip(a, lo, hi)."""
    a_c = jnp.clip(a, m_j.lo, m_j.hi)
    half = 0.5 * (m_j.hi - a_c)
    x = a_c + half * (jnp.asarray(_GL_T) + 1.0)
    g = table_interior_cdf(m_j, x)
    integral = half * jnp.sum(jnp.asarray(_GL_W) * _copula_cdf(family, theta, u, g))
    c_at = _copula_cdf(family, theta, u, table_interior_cdf(m_j, a_c))
    return m_j.hi * u - a_c * c_at - integral


def partial_joint(m_i: MarginalTable, m_j: MarginalTable, table, family: str, theta, b, a):
    """J(b, a) = E[Phi_j 1{Phi_j > a} 1{Phi_i <= b}] for the pair (i, j) = (previous, current)."""
    h = _cells_below(m_i, b)                                   # (3,) over cells of model i
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
    m0 = _marg_i(marg, 0)
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
        outs = [_step(_marg_i(prev, i), _marg_i(cur, i), table[i], families[i], theta[i], t[i], t[i + 1])
                for i in range(k - 1)]
        conds, integrals = (jnp.stack(z) for z in zip(*outs))
    # cumulative probability of reaching model i (i = 2..k): P(Phi_1 <= t_1) prod_{j<i} P(Phi_j <= t_j | ...)
    reach = below * jnp.concatenate([jnp.ones(1), jnp.cumprod(conds)[:-1]])
    correct = correct0 + jnp.sum(reach * integrals)
    e_cost = (1.0 - below) * cum_costs[0] + jnp.sum(reach * (1.0 - conds) * cum_costs[1:])
    return correct, e_cost


def _cell_transitions(tab):
    """P(cell_j | cell_i) from a pair's 3 x 3 cell table (rows of empty cells left at 0)."""
    rows = jnp.sum(tab, axis=1)
    return tab / jnp.where(rows > 0, rows, 1.0)[:, None]


def _chain_transition_matrix(tab, cgrid):
    """(M+2, M+2) transition matrix between states of consecutive models from the cell table and copula grid."""
    m = cgrid.shape[-1] - 1
    rect = cgrid[1:, 1:] - cgrid[:-1, 1:] - cgrid[1:, :-1] + cgrid[:-1, :-1]       # P(U in bin b, V in bin c)
    rect = jnp.maximum(rect, 0.0)
    tn = _cell_transitions(tab)
    ones = jnp.ones((m, 1))
    atom_row = lambda r: jnp.concatenate([tn[r, :1], jnp.full(m, tn[r, 1] / m), tn[r, 2:]])
    interior = jnp.concatenate([tn[1, 0] * ones, tn[1, 1] * m * rect, tn[1, 2] * ones], axis=1)
    return jnp.concatenate([atom_row(0)[None], interior, atom_row(2)[None]], axis=0)


def _chain_exit(m: MarginalTable, pe_edge, p, t, pr=None):
    """Queries of state vector ``p`` answered at threshold ``t``: (expected correct, mass, deferral fractions).

    ``pr``: the state vector weighted by the pairwise correctness ratio of each state (``p`` under the study's
    model); the expected correctness is linear in it."""
    pr = p if pr is None else pr
    nb = pe_edge.shape[-1] - 1
    u_t = table_interior_cdf(m, t)
    r_int = jnp.clip(u_t * nb - jnp.arange(nb), 0.0, 1.0)                            # deferred fraction of each bin
    r_lo, r_hi = (t >= m.lo).astype(float), (t >= m.hi).astype(float)
    pe_t = table_interior_pe(m, t)
    pe_low = jnp.where(r_int >= 1.0, pe_edge[1:], jnp.where(r_int <= 0.0, pe_edge[:-1], pe_t))
    correct = pr[0] * (1 - r_lo) * m.lo + pr[-1] * (1 - r_hi) * m.hi + jnp.sum(pr[1:-1] * nb * (pe_low - pe_edge[1:]))
    mass = p[0] * (1 - r_lo) + p[-1] * (1 - r_hi) + jnp.sum(p[1:-1] * (1 - r_int))
    return correct, mass, r_int, r_lo, r_hi


def _branch_families(families: tuple[str, ...]) -> tuple[str, ...]:
    """The families a compiled chain evaluation must cover, from the static ``families`` argument.

    ``("chain:gumbel+clayton", ...)`` (see :func:`static_families`) names them; the bare ``"chain"`` means all of
    :data:`CHAIN_FAMILIES`; plain family names cover themselves.
    """
    head = families[0]
    if head == "chain":
        return CHAIN_FAMILIES
    if head.startswith("chain:"):
        return tuple(head[len("chain:"):].split("+"))
    return tuple(f for f in CHAIN_FAMILIES if f in families)


def _switch_copula_cdf(branches: tuple[str, ...], family_index, theta, u, v):
    """``C(u, v)`` of family ``CHAIN_FAMILIES[family_index]`` (a traced index), compiled only for ``branches``.

    One family compiles straight-line code; several compile a ``lax.switch`` over just those families (each branch
    is a copula CDF with its gradient, so every family left out saves compilation time).
    """
    if len(branches) == 1:
        return _copula_cdf(branches[0], theta, u, v)
    lut = np.zeros(len(CHAIN_FAMILIES), dtype=np.int32)
    lut[[CHAIN_FAMILIES.index(f) for f in branches]] = np.arange(len(branches), dtype=np.int32)
    return jax.lax.switch(jnp.asarray(lut)[family_index], [partial(_copula_cdf, f) for f in branches], theta, u, v)


def _chain_forward(branches, p, r_int, r_lo, r_hi, trans, cgrid, tab, family_index, theta, ratio=None):
    """State vector of the next model for the deferred part of ``p``; the threshold's bin is split exactly.

    With a pairwise correctness ``ratio`` (M+2, M+2) also the next state vector weighted by the ratio (else None).
    """
    nb = r_int.shape[-1]
    full = jnp.floor(r_int)
    deferred = jnp.concatenate([(p[0] * r_lo)[None], p[1:-1] * full, (p[-1] * r_hi)[None]])
    if ratio is None:
        nxt = deferred @ trans
    else:                               # one product for both vectors (the matrices do not depend on the thresholds)
        nxt, nxt_r = jnp.split(deferred @ jnp.concatenate([trans, trans * ratio], axis=1), 2)
    j = jnp.clip(jnp.sum(full).astype(jnp.int32), 0, nb - 1)                       # the bin holding the threshold
    frac = r_int[j] - full[j]
    edges = jnp.arange(nb + 1) / nb
    col = _switch_copula_cdf(branches, family_index, theta, jnp.full(nb + 1, edges[j] + frac / nb), edges) - cgrid[j]
    rect = jnp.maximum(col[1:] - col[:-1], 0.0)                                     # P(U in [e_j, u_t], V in bin c)
    tn1 = _cell_transitions(tab)[1]
    mass = p[1 + j] * frac
    part = jnp.concatenate([(mass * tn1[0])[None], p[1 + j] * nb * rect * tn1[1], (mass * tn1[2])[None]])
    if ratio is None:
        return nxt + part, None
    return nxt + part, nxt_r + part * ratio[1 + j]


def _chain_last(m: MarginalTable, pe_edge, p, pr=None):
    nb = pe_edge.shape[-1] - 1
    pr = p if pr is None else pr
    return pr[0] * m.lo + pr[-1] * m.hi + jnp.sum(pr[1:-1] * nb * (pe_edge[:-1] - pe_edge[1:])), jnp.sum(p)


def chain_metrics(params: CascadeParams, families: tuple[str, ...], costs, thresholds):
    """(P(Correct), E[Cost]) by pushing the state distribution through the Markov chain (no approximation (5)).

    Needs ``params.chain`` (see :class:`ChainGrid`, built by :meth:`MarkovCopulaModel.cascade`). Pure and
    differentiable in the thresholds; the k-1 links run in one ``lax.scan`` and the copula family of each link is
    read from ``params.chain.family_index``, so ``families`` only fixes k (see :func:`static_families`).
    """
    k = len(families) + 1
    costs = jnp.asarray(costs, dtype=float)
    t = jnp.asarray(thresholds, dtype=float)
    marg = MarginalTable(*map(jnp.asarray, params.marg))
    grid = ChainGrid(*(None if z is None else jnp.asarray(z) for z in params.chain))
    pairwise = grid.ratio is not None
    nb = grid.pe_edge.shape[-1] - 1
    cum = jnp.cumsum(costs)
    m0 = _marg_i(marg, 0)
    p0 = jnp.concatenate([m0.w_lo[None], jnp.full(nb, (1.0 - m0.w_lo - m0.w_hi) / nb), m0.w_hi[None]])
    table, theta = jnp.asarray(params.table), jnp.asarray(params.theta)
    branches = _branch_families(families)

    def link(carry, xs):
        p, pr = carry if pairwise else (carry, None)
        m, pe_edge, trans, cgrid, fam, tab, th, ti, ci, ratio = xs
        correct, mass, r_int, r_lo, r_hi = _chain_exit(m, pe_edge, p, ti, pr)
        nxt, nxt_r = _chain_forward(branches, p, r_int, r_lo, r_hi, trans, cgrid, tab, fam, th, ratio)
        return ((nxt, nxt_r) if pairwise else nxt), (correct, mass * ci)

    head = MarginalTable(*(z[:-1] for z in marg))
    xs = (head, grid.pe_edge[:-1], grid.trans, grid.cgrid, grid.family_index, table, theta, t, cum[:-1], grid.ratio)
    carry, (correct, cost) = jax.lax.scan(link, (p0, p0) if pairwise else p0, xs)
    p, pr = carry if pairwise else (carry, None)
    correct, cost = jnp.sum(correct), jnp.sum(cost)
    last_correct, last_mass = _chain_last(_marg_i(marg, k - 1), grid.pe_edge[-1], p, pr)
    return correct + last_correct, cost + last_mass * cum[-1]


@jax.jit
def _edge_partial_expectations(pi: _mg.MarginalParams, edges):
    """Interior partial expectations of one model at the bin edges x = G^-1(e_b) (one compilation serves every
    model and cascade: the shapes only depend on the number of bins and mixture components)."""
    c = 1.0 - pi.w_lo - pi.w_hi
    x = _mg.icdf(pi, pi.w_lo + c * edges[1:-1])
    full = _mg.interior_partial_expectation(pi, pi.lo)
    return jnp.concatenate([full[None], _mg.interior_partial_expectation(pi, x), jnp.zeros(1)])


@partial(jax.jit, static_argnums=0)
def _link_grid(family: str, theta, tab, edges):
    """The copula on the bin-edge grid and the link's transition matrix."""
    g = _copula_cdf(family, theta, edges[:, None], edges[None, :])
    return g, _chain_transition_matrix(tab, g)


@x64
def build_chain_grid(params: CascadeParams, families: tuple[str, ...], exact: _mg.MarginalParams,
                     n_bins: int = N_BINS) -> ChainGrid:
    """Precompute the :class:`ChainGrid` of a cascade (bin edges from the exact marginal quantiles)."""
    edges = jnp.arange(n_bins + 1) / n_bins
    k = len(families) + 1
    pe = [_edge_partial_expectations(_mg.MarginalParams(*(jnp.asarray(z)[i] for z in exact)), edges)
          for i in range(k)]
    cg, tr = [], []
    for i, fam in enumerate(families):
        g, t = _link_grid(fam, jnp.asarray(params.theta)[i], jnp.asarray(params.table)[i], edges)
        cg.append(g)
        tr.append(t)
    shape = (0, n_bins + 1, n_bins + 1)
    return ChainGrid(np.asarray(jnp.stack(tr)) if tr else np.zeros((0, n_bins + 2, n_bins + 2)),
                     np.asarray(jnp.stack(cg)) if cg else np.zeros(shape), np.asarray(jnp.stack(pe)),
                     np.array([CHAIN_FAMILIES.index(f) for f in families], dtype=np.int32))


@x64
def build_ratio(params: CascadeParams, grid: ChainGrid, coef) -> np.ndarray:
    """The pairwise correctness ratios (k-1, M+2, M+2) of a cascade's links, ``coef`` (k-1, 3) per link.

    Each state is represented by its mean confidence: the atoms by ``lo``/``hi``, an interior bin by the exact
    mean of the marginal over it (from the partial expectations at the bin edges)."""
    nb = grid.pe_edge.shape[-1] - 1
    pe = jnp.asarray(grid.pe_edge)
    means = nb * (pe[:, :-1] - pe[:, 1:])
    lo, hi = jnp.asarray(params.marg.lo), jnp.asarray(params.marg.hi)
    states = jnp.concatenate([lo[:, None], means, hi[:, None]], axis=1)                 # (k, M+2)
    return np.asarray(_corr.ratio_matrix(jnp.asarray(coef, dtype=float), states[:-1], states[1:]))


def static_families(params: CascadeParams, families: tuple[str, ...],
                    branches: Sequence[str] | None = None) -> tuple[str, ...]:
    """The ``families`` to pass as a compile-time constant.

    With a chain grid the families are data (``ChainGrid.family_index``) and the constant only names the set of
    families the compiled program covers, ``("chain:gumbel+clayton",) * (k-1)``: every cascade of the same length
    whose families lie in ``branches`` (default: its own families) shares one compiled program. Without a chain
    grid the families themselves are the constant.
    """
    if params.chain is None or len(families) == 0:
        return families
    cover = set(families) | set(branches or ())
    unknown = cover - set(CHAIN_FAMILIES)
    if unknown:
        raise DataValidationError(f"copula families {sorted(unknown)} are not chain families {list(CHAIN_FAMILIES)}")
    return ("chain:" + "+".join(f for f in CHAIN_FAMILIES if f in cover),) * len(families)


def cascade_metrics(params: CascadeParams, families: tuple[str, ...], costs, thresholds):
    """(P(Correct), E[Cost]) of the cascade for thresholds (k-1,): the exact chain when ``params.chain`` is set,
    else Algorithm 1 (:func:`algorithm1_metrics`). Pure and differentiable."""
    if params.chain is not None and len(families) > 0:
        return chain_metrics(params, families, costs, thresholds)
    return algorithm1_metrics(params, families, costs, thresholds)


def sample_chain(marg: _mg.MarginalParams, table, theta, families: tuple[str, ...], key, n: int):
    """Draw n queries' calibrated confidences (n, k) from the Markov chain (exact marginals, no tables)."""
    k = len(families) + 1
    keys = jax.random.split(key, 3 * k)
    p0 = _marg_i(marg, 0)
    x = _mg.sample(p0, keys[0], (n,))
    cell = jnp.where(x <= p0.lo, 0, jnp.where(x >= p0.hi, 2, 1))
    u = _mg.interior_cdf(p0, x)
    out = [x]
    for i in range(1, k):
        cur = _marg_i(marg, i)
        rows = table[i - 1][cell]                                  # (n, 3)
        rows = rows / jnp.sum(rows, axis=-1, keepdims=True)
        new_cell = jax.random.categorical(keys[3 * i], jnp.log(rows), axis=-1)
        w = jax.random.uniform(keys[3 * i + 1], (n,), minval=1e-12, maxval=1.0 - 1e-12)
        v_cop = _copula_h_inv(families[i - 1], theta[i - 1], w, u)
        v = jnp.where(cell == 1, v_cop, w)                         # coupled only when both are interior
        c = 1.0 - cur.w_lo - cur.w_hi
        x_int = _mg.icdf(cur, cur.w_lo + c * v)
        x_int = jnp.clip(x_int, jnp.nextafter(cur.lo, cur.hi), jnp.nextafter(cur.hi, cur.lo))
        x = jnp.where(new_cell == 0, cur.lo, jnp.where(new_cell == 2, cur.hi, x_int))
        u = jnp.where(new_cell == 1, v, 0.5)
        cell = new_cell
        out.append(x)
    return jnp.stack(out, axis=-1)


def cell_of(phi: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Cell of each value: 0 at (or below) ``lo``, 2 at (or above) ``hi``, else 1."""
    return np.where(phi <= lo, 0, np.where(phi >= hi, 2, 1))


# ------------------------------------------------------------------------------------------------ user objects
@dataclass(frozen=True)
class PairFit:
    """The dependence model of one pair of models: the cell table and the interior copula."""

    model_a: str
    model_b: str
    table: np.ndarray
    family: str
    theta: float
    tau: float
    n_interior: int


def _pad(params: Sequence[_mg.MarginalParams]) -> _mg.MarginalParams:
    m = max(int(np.size(p.mix)) for p in params)

    def padded(p):
        extra = m - int(np.size(p.mix))
        return (np.concatenate([p.mix, np.zeros(extra)]), np.concatenate([p.alpha, np.ones(extra)]),
                np.concatenate([p.beta, np.ones(extra)]))

    mixes, alphas, betas = zip(*(padded(p) for p in params))
    return _mg.MarginalParams(
        lo=np.array([float(p.lo) for p in params]), hi=np.array([float(p.hi) for p in params]),
        w_lo=np.array([float(p.w_lo) for p in params]), w_hi=np.array([float(p.w_hi) for p in params]),
        mix=np.stack(mixes), alpha=np.stack(alphas), beta=np.stack(betas),
    )


@dataclass(frozen=True)
class CascadeModel:
    """A (sub-)cascade of a fitted :class:`MarkovCopulaModel`: parameters for models in the given order.

    ``params`` (with look-up tables) drives the objective; ``exact`` (the padded marginal parameters) drives the
    sampler, which uses the exact marginals. ``branches``: the copula families the compiled chain evaluation covers
    (the fitted model's families, so that all its cascades of one length share one compilation; see
    :func:`static_families`).
    """

    models: tuple[str, ...]
    params: CascadeParams
    families: tuple[str, ...]
    exact: _mg.MarginalParams
    branches: tuple[str, ...] = ()

    @property
    def static_families(self) -> tuple[str, ...]:
        """The compile-time ``families`` of :func:`cascade_metrics` for this cascade."""
        return static_families(self.params, self.families, self.branches)

    @property
    def k(self) -> int:
        return len(self.models)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) of the first k-1 models: the open box the thresholds live in."""
        return np.asarray(self.params.marg.lo[:-1]), np.asarray(self.params.marg.hi[:-1])

    @x64
    def metrics(self, thresholds, costs) -> tuple[np.ndarray, np.ndarray]:
        """Predicted (P(Correct), E[Cost]) for thresholds of shape (..., k-1)."""
        t = jnp.asarray(thresholds, dtype=float)
        if t.ndim == 0 or t.shape[-1] != self.k - 1:
            raise DataValidationError(f"thresholds: expected {self.k - 1} per vector for cascade {list(self.models)}, got shape {t.shape}")
        costs = np.asarray(costs, dtype=np.float64)
        if costs.shape != (self.k,):
            raise DataValidationError(f"costs: expected {self.k} expected costs for cascade {list(self.models)}, got shape {costs.shape}")
        flat = t.reshape(-1, self.k - 1)
        n = flat.shape[0]
        size = max(64, 1 << (n - 1).bit_length())            # pad to a power of two: few distinct compilations
        padded = jnp.concatenate([flat, jnp.broadcast_to(flat[:1], (size - n, self.k - 1))]) if n else jnp.zeros((size, self.k - 1))
        pc, ec = _metrics_batched(self.params, self.static_families, jnp.asarray(costs), padded)
        return np.asarray(pc)[:n].reshape(t.shape[:-1]), np.asarray(ec)[:n].reshape(t.shape[:-1])

    def cdf_numpy(self, i: int):
        """Vectorised NumPy cdf of model i's confidence from its look-up table (linear interpolation)."""
        m = MarginalTable(*(np.asarray(z)[i] for z in self.params.marg))
        u, _ = _grid_u(m.tab.shape[-1] - 1)
        x = m.lo + (m.hi - m.lo) * u
        c = 1.0 - m.w_lo - m.w_hi

        def cdf(t):
            t = np.asarray(t, dtype=np.float64)
            return np.where(t < m.lo, 0.0, np.where(t >= m.hi, 1.0, m.w_lo + c * np.interp(t, x, m.tab[0])))

        return cdf

    @x64
    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """n draws of the calibrated confidences (n, k) from the Markov chain."""
        return np.asarray(_sample_jit(self.exact, self.params.table, self.params.theta, self.families,
                                      jax.random.PRNGKey(seed), int(n)))


@partial(jax.jit, static_argnums=(1,))
def _metrics_batched(params, families, costs, thresholds):
    return jax.vmap(lambda t: cascade_metrics(params, families, costs, t))(thresholds)


_sample_jit = jax.jit(sample_chain, static_argnums=(3, 5))


@partial(jax.jit, static_argnums=(2,))
def _pair_quantities(pair_params, table, family, a, b):
    """(P(Phi_i <= a, Phi_j <= b), E[Phi_j 1{Phi_j > b} 1{Phi_i <= a}], P(Phi_i <= a)) batched over a, b."""
    m_i, m_j, theta = pair_params
    def one(x, y):
        return (joint_cdf(m_i, m_j, table, family, theta, x, y), partial_joint(m_i, m_j, table, family, theta, x, y),
                marginal_cdf_from_table(m_i, jnp.sum(table, axis=1), x))
    return jax.vmap(one)(a, b)


@dataclass
class MarkovCopulaModel:
    """Marginals for every model and copulas for every pair, so any sub-cascade can be evaluated without refitting.

    Build with :func:`fit_markov_copula`.
    """

    models: tuple[str, ...]
    marginals: dict[str, _mg.MarginalFit]
    pairs: dict[tuple[str, str], PairFit]
    family: str = "gumbel"
    n: int = 0
    warnings_: list[str] = field(default_factory=list)
    correctness: dict = field(default_factory=dict)
    _tables: dict = field(default_factory=dict, repr=False)

    def pair(self, a: str, b: str) -> PairFit:
        if (a, b) in self.pairs:
            return self.pairs[(a, b)]
        if (b, a) in self.pairs:
            p = self.pairs[(b, a)]
            return PairFit(a, b, p.table.T.copy(), p.family, p.theta, p.tau, p.n_interior)
        raise DataValidationError(f"no copula fitted for the pair ({a!r}, {b!r}); models: {list(self.models)}")

    @x64
    def table(self, model: str) -> MarginalTable:
        """Look-up-table view of a model's marginal (computed once, cached)."""
        if model not in self.marginals:
            raise DataValidationError(f"unknown model '{model}' (models: {list(self.models)})")
        if model not in self._tables:
            p = self.marginals[model].params
            self._tables[model] = MarginalTable(np.float64(p.lo), np.float64(p.hi), np.float64(p.w_lo),
                                                np.float64(p.w_hi), build_table(p))
        return self._tables[model]

    def cascade(self, models: Sequence[str] | None = None, joint: str = "chain",
                correctness: str = "marginal") -> CascadeModel:
        """Parameters of the cascade ``models`` (default: all models in order); uses the all-pairs copulas.

        ``joint="chain"`` evaluates P(Correct) and E[Cost] through the Markov chain itself (exact up to the
        within-bin position, see the module notes); ``"algorithm1"`` uses the study's Algorithm 1 with its
        approximation (5) for k >= 3.

        ``correctness="marginal"`` (the study's model) counts the answering model as correct with probability its
        calibrated confidence; ``"pairwise"`` uses P(correct | own and predecessor's confidence) fitted by
        :func:`fit_markov_copula` with ``correct=`` (see :mod:`probcascade.correctness`; needs ``joint="chain"``).
        """
        if joint not in ("chain", "algorithm1"):
            raise DataValidationError(f"joint: expected 'chain' or 'algorithm1', got {joint!r}")
        if _corr.check_correctness(correctness) == "pairwise" and joint != "chain":
            raise DataValidationError("correctness='pairwise' is evaluated by the Markov chain: use joint='chain'")
        models = tuple(models) if models is not None else self.models
        unknown = [m for m in models if m not in self.marginals]
        if unknown:
            raise DataValidationError(f"model(s) {unknown} are not in the fitted model (models: {list(self.models)})")
        if len(models) < 1:
            raise DataValidationError("a cascade needs at least one model")
        pfs = [self.pair(a, b) for a, b in zip(models[:-1], models[1:])]
        table = np.stack([p.table for p in pfs]) if pfs else np.zeros((0, 3, 3))
        theta = np.array([p.theta for p in pfs], dtype=np.float64)
        tabs = [self.table(m) for m in models]
        marg = MarginalTable(*(np.stack([np.asarray(getattr(t, f)) for t in tabs]) for f in MarginalTable._fields))
        families = tuple(p.family for p in pfs)
        exact = _pad([self.marginals[m].params for m in models])
        params = CascadeParams(marg, table, theta)
        if joint == "chain" and pfs:
            key = ("chain", models)
            if key not in self._tables:
                self._tables[key] = build_chain_grid(params, families, exact)
            if correctness == "pairwise":
                links = list(zip(models[:-1], models[1:]))
                missing = [lk for lk in links if lk not in self.correctness]
                if missing:
                    raise DataValidationError(
                        f"correctness='pairwise': no pairwise correctness fitted for {missing}; pass correct= (the "
                        "training outcomes) to fit_markov_copula")
                pkey = ("chain", models, "pairwise")
                if pkey not in self._tables:
                    coef = np.stack([self.correctness[lk].coef for lk in links])
                    self._tables[pkey] = self._tables[key]._replace(ratio=build_ratio(params, self._tables[key], coef))
                key = pkey
            params = params._replace(chain=self._tables[key])
        branches = tuple(f for f in CHAIN_FAMILIES if any(p.family == f for p in self.pairs.values()))
        return CascadeModel(models, params, families, exact, branches)

    # ---------------------------------------------------------------- convenience probabilities
    @x64
    def prob_below(self, model: str, a) -> np.ndarray:
        """P(Phi_model <= a) (exact marginal)."""
        p = self.marginals[model].params
        return np.asarray(_mg.cdf(_mg.MarginalParams(*map(jnp.asarray, p)), jnp.asarray(a, dtype=float)))

    @x64
    def _pair_eval(self, model_a: str, a, model_b: str, b):
        pf = self.pair(model_a, model_b)
        a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
        out = _pair_quantities((self.table(model_a), self.table(model_b), np.float64(pf.theta)), pf.table, pf.family,
                               jnp.asarray(a.ravel()), jnp.asarray(b.ravel()))
        return [np.asarray(o).reshape(a.shape) for o in out]

    def joint_prob_below(self, model_a: str, a, model_b: str, b) -> np.ndarray:
        """P(Phi_a <= a, Phi_b <= b) (exact at the point masses)."""
        return self._pair_eval(model_a, a, model_b, b)[0]

    def conditional_prob_below(self, model: str, a, given: str, b) -> np.ndarray:
        """P(Phi_model <= a | Phi_given <= b)."""
        joint, _, below = self._pair_eval(given, b, model, a)
        return joint / below

    def expected_correct_above(self, model: str, a, given: str, b) -> np.ndarray:
        """I(b, a) of eq. 30: E[Phi_model 1{Phi_model > a} | Phi_given <= b]."""
        _, pj, below = self._pair_eval(given, b, model, a)
        return pj / below

    def sample(self, n: int, seed: int = 0, models: Sequence[str] | None = None) -> pd.DataFrame:
        """n draws from the Markov chain over ``models`` (default all), as a wide frame (one column per model)."""
        cm = self.cascade(models)
        return pd.DataFrame(cm.sample(n, seed), columns=list(cm.models))

    # ---------------------------------------------------------------- reporting
    def to_frame(self) -> pd.DataFrame:
        """One row per pair: family, theta, Kendall's tau, interior count and the cell table."""
        rows = []
        for (a, b), p in self.pairs.items():
            rows.append({"model_a": a, "model_b": b, "adjacent": self.models.index(b) == self.models.index(a) + 1,
                         "family": p.family, "theta": p.theta, "tau": p.tau, "n_interior": p.n_interior,
                         "p_both_interior": float(p.table[1, 1])})
        return pd.DataFrame(rows)

    def marginal_frame(self) -> pd.DataFrame:
        rows = []
        for m, f in self.marginals.items():
            p = f.params
            rows.append({"model": m, "phi_min": float(p.lo), "phi_max": float(p.hi), "w_min": float(p.w_lo),
                         "w_max": float(p.w_hi), "components": f.n_components, "loglik": f.loglik, "bic": f.bic})
        return pd.DataFrame(rows).set_index("model")

    def correctness_frame(self) -> pd.DataFrame:
        """The pairwise correctness model (empty without ``correct=`` at fit time): one row per ordered pair and
        term, with estimate, standard error, z, p-value and 95 % interval (see :mod:`probcascade.correctness`)."""
        frames = [pc.to_frame().reset_index() for pc in self.correctness.values()]
        if not frames:
            return pd.DataFrame(columns=["prev", "nxt", "term", "coef", "std_err", "z", "p_value", "ci_low", "ci_high"])
        return pd.concat(frames, ignore_index=True)

    def summary(self) -> str:
        with pd.option_context("display.width", 160):
            out = (f"Markov-copula model ({self.family}), {len(self.models)} models, n = {self.n}\n\n"
                   "Marginals (point-mass beta mixtures)\n" + self.marginal_frame().to_string(float_format=lambda v: f"{v:.4g}")
                   + "\n\nCopulas (adjacent pairs drive the Markov chain)\n"
                   + self.to_frame().to_string(index=False, float_format=lambda v: f"{v:.4g}"))
            if self.correctness:
                adj = [(a, b) for a, b in zip(self.models[:-1], self.models[1:]) if (a, b) in self.correctness]
                rows = [{"prev": a, "nxt": b, **dict(zip(("alpha", "beta", "gamma"), self.correctness[(a, b)].coef)),
                         "z_gamma": float(self.correctness[(a, b)].fit.z[2])} for a, b in adj]
                out += ("\n\nPairwise correctness, adjacent pairs: P(correct_nxt) = sigmoid(alpha + beta logit phi_nxt"
                        " + gamma logit phi_prev); the study's model is (0, 1, 0)\n"
                        + pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
            return out


@x64
def fit_markov_copula(
    phi: np.ndarray | pd.DataFrame,
    models: Sequence[str] | None = None,
    *,
    family: str = "gumbel",
    n_components: int = 2,
    criterion: str | None = None,
    theta_method: str = "tau",
    all_pairs: bool = True,
    min_interior: int = 10,
    correct: np.ndarray | pd.DataFrame | None = None,
    correctness_ridge: float = 0.0,
) -> MarkovCopulaModel:
    """Fit the Markov-copula model to calibrated confidences.

    Parameters
    ----------
    phi : array (n, k) or DataFrame with one column per model
        Calibrated confidences on training data, models in cascade order.
    models : sequence of str, optional
        Model names (default: the frame's columns or ``model_0..``).
    family : str
        Copula family for every pair (see :data:`probcascade.copulas.COPULA_FAMILIES`), or ``"aic"``: for each pair
        the family of :data:`AIC_FAMILIES` with the smallest AIC (all have one parameter, so this is the largest
        copula log-likelihood at the fitted theta).
    n_components, criterion : int, {None, "aic", "bic"}
        Beta components of each marginal (2 as in the study) or selection by information criterion.
    theta_method : {"tau", "mle"}
        Copula parameter from Kendall's tau (eq. 10) or by maximum likelihood on pseudo-observations.
    all_pairs : bool
        Fit copulas for all pairs (any sub-cascade can then be evaluated) or adjacent pairs only.
    min_interior : int
        Pairs with fewer queries in the interior x interior cell use the independence copula.
    correct : array (n, k) of 0/1, optional
        The training outcomes of the same queries. When given, also fits the pairwise correctness model
        P(correct_j | Phi_i, Phi_j) for every ordered pair (adjacent pairs only with ``all_pairs=False``), used by
        ``cascade(..., correctness="pairwise")`` (see :mod:`probcascade.correctness`).
    correctness_ridge : float
        Prior precision of the pairwise correctness coefficients towards the study's model (0: maximum likelihood;
        1 is a sensible choice with a few dozen training queries).
    """
    if family != "aic":
        _cop._family(family)                       # unknown family: a clear error before any fitting
    if isinstance(phi, pd.DataFrame):
        models = tuple(models) if models is not None else tuple(map(str, phi.columns))
        phi = phi.to_numpy()
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim != 2 or phi.shape[1] < 1:
        raise DataValidationError(f"phi: expected an (n_queries, n_models) array, got shape {phi.shape}")
    n, k = phi.shape
    models = tuple(models) if models is not None else tuple(f"model_{i}" for i in range(k))
    if len(models) != k:
        raise DataValidationError(f"models: {len(models)} names for {k} columns of phi")
    for j, m in enumerate(models):
        col = phi[:, j]
        if not np.all(np.isfinite(col)):
            raise DataValidationError(f"phi: model '{m}' has non-finite calibrated confidences")
        if (col < 0).any() or (col > 1).any():
            raise DataValidationError(f"phi: model '{m}' has calibrated confidences outside [0, 1]")
    marginals = {}
    for j, m in enumerate(models):
        try:
            marginals[m] = _mg.fit_marginal(phi[:, j], n_components=n_components, criterion=criterion)
        except (DataValidationError, FitError) as exc:
            raise type(exc)(f"marginal of model '{m}': {exc}") from exc
    cells = np.column_stack([cell_of(phi[:, j], float(marginals[m].params.lo), float(marginals[m].params.hi))
                             for j, m in enumerate(models)])
    pair_idx = list(combinations(range(k), 2)) if all_pairs else [(i, i + 1) for i in range(k - 1)]
    pairs, notes = {}, []
    for i, j in pair_idx:
        table = np.zeros((3, 3))
        np.add.at(table, (cells[:, i], cells[:, j]), 1.0)
        table /= n
        both = (cells[:, i] == 1) & (cells[:, j] == 1)
        a, b = models[i], models[j]
        if both.sum() < min_interior:
            fam, theta, tau = "independence", 0.0, 0.0
            notes.append(f"pair ({a}, {b}): {both.sum()} interior queries < {min_interior}; independence copula")
        else:
            # pseudo-observations of the interior x interior queries: the copula couples G_i and G_j there
            u, v = _cop.pseudo_observations(phi[both, i]), _cop.pseudo_observations(phi[both, j])
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if family == "aic":
                    cf = min((_cop.fit_copula(u, v, family=f, method=theta_method) for f in AIC_FAMILIES),
                             key=lambda c: c.aic)
                else:
                    cf = _cop.fit_copula(u, v, family=family, method=theta_method)
            notes += [f"pair ({a}, {b}): {w.message}" for w in caught
                      if family != "aic" or not issubclass(w.category, IndependenceFallbackWarning)]
            fam, theta, tau = cf.family, float(cf.theta), float(cf.tau)
        pairs[(a, b)] = PairFit(a, b, table, fam, theta, tau, int(both.sum()))
    corr = {}
    if correct is not None:
        correct = correct.to_numpy() if isinstance(correct, pd.DataFrame) else np.asarray(correct)
        ordered = [(i, j) for i in range(k) for j in range(k) if i != j] if all_pairs else [(i, i + 1) for i in range(k - 1)]
        corr = _corr.fit_pairwise_correctness(phi, correct, models, ordered, ridge=correctness_ridge)
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return MarkovCopulaModel(models, marginals, pairs, family, n, notes, corr)
