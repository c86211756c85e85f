"""The parameters of a cascade as the compiled objective sees them: marginal look-up tables and cell tables.

Each model's calibrated confidence Phi_i has a point-mass beta-mixture marginal
(:mod:`probcascade.distributions.marginal`): atoms at phi_min = ``lo`` and phi_max = ``hi`` and a continuous part
with cdf ``G_i`` in between. The study restricts the copula to the smooth interior; here every query's confidence
falls in one of three *cells* - the atom at ``lo`` (0), the interior (1), the atom at ``hi`` (2) - and for every
pair of models (i, j) the 3 x 3 table ``pi[r, c] = P(cell_i = r, cell_j = c)`` is counted on the training data
(its row and column sums are the marginals' ``w_lo``/``w_hi``). Only the interior x interior cell is coupled by the
copula, ``P(Phi_i <= a, Phi_j <= b | both interior) = C(G_i(a), G_j(b))``; in a cell where one confidence sits on
an atom, the other follows its interior marginal. With ``H_i(a) = (1{a >= lo_i}, G_i(a), 1{a >= hi_i})``
(:func:`cells_below`),

    P(Phi_i <= a, Phi_j <= b) = sum_{r,c} pi[r,c] H_i(a)_r H_j(b)_c     (the (1,1) term uses C(G_i(a), G_j(b)))

which is exact at and near the atoms and reduces to the study's model when the atoms are negligible.

This module holds the pytrees that the evaluations in :mod:`.algorithm1` and :mod:`.chain` take
(:class:`MarginalTable`, :class:`CascadeParams`, :class:`ChainGrid`), the copula helpers they share (exact on the
boundary of the unit square), and the marginal look-up tables: the compiled objective reads ``G_i`` and the partial
expectation ``E[Phi 1{Phi > x} | interior]`` from a cubic-Hermite interpolant on :data:`N_TABLE` + 1 nodes that
cluster at both ends of the support, not from the special functions, which keeps its compilation short and its
derivatives in the thresholds continuous.

Accuracy notes: docs/design_notes.md#joint
"""

from __future__ import annotations

from typing import NamedTuple
import jax
import jax.numpy as jnp
import numpy as np
from probcascade.distributions.copulas import COPULA_FAMILIES, eval_cdf, eval_h, eval_h_inv
from probcascade.distributions.marginal import MarginalParams, interior_cdf, interior_log_prob, interior_partial_expectation
from probcascade.compilation_cache import cached_program

__all__ = ["CascadeParams", "ChainGrid", "MarginalTable", "build_table", "table_arrays", "table_cdf", "table_partial_expectation"]

class MarginalTable(NamedTuple):
    """A marginal as the objective sees it: support, atoms and look-up tables of the interior part.

    ``tab`` (4, N_TABLE + 1) holds, on the grid ``s_j = j / N_TABLE`` of the coordinate
    ``u = (1 - cos(pi s)) / 2`` (nodes cluster at both ends of the support, where beta densities are steep), the
    interior cdf G, its derivative dG/ds, the interior partial expectation PE(x) = E[Phi 1{Phi > x} | interior] and
    dPE/ds. Between nodes a cubic Hermite interpolant is used: C1 in the thresholds, exact at the nodes, accurate
    next to the ends even for small beta shapes, and it compiles to a few dozen operations where the special
    functions it replaces compile to thousands (accuracy: docs/design_notes.md#joint).
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
    see :class:`~probcascade.joint.model.CascadeModel`).
    """

    marg: MarginalTable
    table: jnp.ndarray
    theta: jnp.ndarray
    chain: "ChainGrid | None" = None


class ChainGrid(NamedTuple):
    """Precomputed pieces of the exact Markov-chain evaluation of a cascade (see :mod:`probcascade.joint.chain`).

    ``trans`` (k-1, M+2, M+2): transition matrices between the states (lo atom, M interior bins, hi atom) of
    consecutive models; ``cgrid`` (k-1, M+1, M+1): the copula at the bin edges, ``C(e_b, e_c)``; ``pe_edge``
    (k, M+1): the interior partial expectation ``E[Phi 1{Phi > x} | interior]`` at the bin edges x = G^-1(e_b);
    ``family_index`` (k-1,): each link's copula family as an index into
    :data:`~probcascade.joint.chain.CHAIN_FAMILIES`. The family is data, not a compile-time constant, so one
    compiled evaluation serves every mix of families (e.g. ``family="aic"``). ``ratio`` (k-1, M+2, M+2) or None:
    the pairwise correctness model's factor on the next model's correctness for each (state of the model, state of
    the next model) (see :mod:`probcascade.joint.correctness`); None is the study's model, in which the next model
    is correct with probability equal to its calibrated confidence. ``split_table`` (k-1, 2, R, M+1) or None: the
    copula ``C(n_r, e_c)`` and ``dC/du(n_r, e_c)`` at the nodes n_r of :func:`~probcascade.joint.chain.split_nodes`
    (the bin edges refined 4 times, and geometrically towards 0 and 1), from which the tabulated split of the
    threshold's bin interpolates the copula inside the bin (``ChainSpec.split == "table"``; None: exact split only).
    """

    trans: jnp.ndarray
    cgrid: jnp.ndarray
    pe_edge: jnp.ndarray
    family_index: jnp.ndarray
    ratio: jnp.ndarray | None = None
    split_table: jnp.ndarray | None = None

#: Intervals of the look-up tables of each marginal.
N_TABLE = 4096


def grid_u(n: int = N_TABLE) -> tuple[np.ndarray, np.ndarray]:
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
def _table_values(p: MarginalParams, x):
    """Interior cdf, partial expectation and log density at ``x``: one compilation for the three."""
    return interior_cdf(p, x), interior_partial_expectation(p, x), interior_log_prob(p, x)


def build_table(p: MarginalParams, n: int = N_TABLE) -> np.ndarray:
    """Look-up tables (4, n + 1) of one marginal (see :class:`MarginalTable`); call under float64."""
    u, du_ds = grid_u(n)
    lo, hi = float(p.lo), float(p.hi)
    x = lo + (hi - lo) * u
    values = cached_program("marginal_table", _table_values, (), MarginalParams(*map(jnp.asarray, p)), jnp.asarray(x))
    g, pe, logpdf = (np.array(z) for z in values)
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


def table_arrays(p: MarginalParams, n: int = N_TABLE) -> jnp.ndarray:
    """:func:`build_table` in pure JAX (traceable: the posterior predictive vmaps it over draws); call under float64."""
    u, du_ds = (jnp.asarray(z) for z in grid_u(n))
    x = p.lo + (p.hi - p.lo) * u
    g, pe, logpdf = interior_cdf(p, x), interior_partial_expectation(p, x), interior_log_prob(p, x)
    dens_u = (p.hi - p.lo) * jnp.exp(logpdf)
    g = g.at[0].set(0.0).at[-1].set(1.0)

    def ends(d, vals):       # one-sided differences at the ends, where the density may be infinite
        d = d.at[0].set((vals[1] - vals[0]) * n).at[-1].set((vals[-1] - vals[-2]) * n)
        return jnp.where(jnp.isfinite(d), d, 0.0)

    return jnp.stack([g, ends(dens_u * du_ds, g), pe, ends(-x * dens_u * du_ds, pe)])


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
def copula_cdf(family: str, theta, u, v):
    """C(u, v), exact on the boundary of the unit square, with finite gradients there (double-where)."""
    inside = (u > 0.0) & (u < 1.0) & (v > 0.0) & (v < 1.0)
    c = eval_cdf(COPULA_FAMILIES[family], jnp.where(inside, u, 0.5), jnp.where(inside, v, 0.5), theta)
    edge = jnp.where((u <= 0.0) | (v <= 0.0), 0.0, jnp.minimum(u, v))   # C(u, 1) = u, C(1, v) = v
    return jnp.where(inside, c, edge)


def copula_h(family: str, theta, u, v):
    """dC(u, v)/du = P(V <= v | U = u); ``u`` is clipped into the open interval (one-sided limits at 0 and 1)."""
    return eval_h(COPULA_FAMILIES[family], v, u, theta)


def copula_h_inv(family: str, theta, w, u):
    """Inverse in v of the conditional cdf P(V <= v | U = u) (conditional sampling)."""
    return eval_h_inv(COPULA_FAMILIES[family], w, u, theta)


def marginal_at(marg, i: int):
    return type(marg)(*(z[i] for z in marg))


def cells_below(m: MarginalTable, a):
    """H(a) = (1{a >= lo}, G(a), 1{a >= hi}), shape (..., 3)."""
    return jnp.stack([(a >= m.lo).astype(float), table_interior_cdf(m, a), (a >= m.hi).astype(float)], axis=-1)
