"""The exact Markov-chain evaluation of a cascade (the default, ``joint="chain"``), the dispatch between it and
Algorithm 1, and the chain sampler.

:func:`chain_metrics` gives P(Correct) and E[Cost] without the study's approximation (5). The state of model i is
one of ``N_BINS + 2`` cells (the atom at lo, :data:`N_BINS` interior bins of equal interior probability, i.e. equal
width in u = G_i(x), the atom at hi), and the probability vector of the queries that reach model i is pushed
forward by a transition matrix built from the cell table and the copula's exact rectangle probabilities
``C(e_b+1, e_c+1) - C(e_b, e_c+1) - C(e_b+1, e_c) + C(e_b, e_c)``. The bin that contains a threshold is split
exactly at it (copula evaluated at the threshold), so the first link - hence every k = 2 quantity except the
within-bin mean of the last model - is exact; the one approximation is that a query's position within a bin is
taken as uniform once it has passed through a link. Expected correctness inside a bin uses the exact partial
expectations of the marginal at the bin edges and at the threshold. A link costs ``N_BINS + 1`` copula evaluations
and one ``(N_BINS + 2)^2`` matrix-vector product: O(k) for the cascade, differentiable in the thresholds.

What does not depend on the thresholds (transition matrices, the copula on the bin-edge grid, partial expectations
at the bin edges) is precomputed once per cascade in a :class:`ChainGrid` (:func:`build_chain_grid`). Each link's
copula family is data (an index into :data:`CHAIN_FAMILIES`) and the compile-time key is a small hashable
:class:`ChainSpec`, so one compiled program serves every cascade of one length whose families it covers.

With the pairwise correctness model (:mod:`.correctness`) the chain also carries the state vector weighted by each
state's correctness ratio, ``(p_deferred @ (T * R)) + split part * R``, with R the link's (previous state, own
state) ratio grid (:func:`build_ratio`); the expected correctness is linear in it and both vectors come from one
product of the deferred vector with ``[T, T * R]``, so the cost stays O(k).

:func:`sample_chain` draws confidences from the model itself (exact marginals, no tables): the reference of the
Monte Carlo tests and the generator of the synthetic data.

Accuracy notes: docs/design_notes.md#joint
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, Sequence
import jax
import jax.numpy as jnp
import numpy as np
from probcascade.precision import x64
from probcascade.compilation_cache import cached_program
from probcascade.exceptions import DataValidationError
from probcascade.joint.tables import CascadeParams
from probcascade.joint.tables import ChainGrid
from probcascade.joint.tables import MarginalTable
from probcascade.joint.tables import copula_cdf
from probcascade.joint.tables import copula_h, copula_h_inv
from probcascade.joint.tables import marginal_at
from probcascade.joint.algorithm1 import algorithm1_metrics
from probcascade.joint.tables import table_interior_cdf
from probcascade.joint.tables import table_interior_pe
from probcascade.distributions.copulas import COPULA_FAMILIES
from probcascade.distributions.marginal import MarginalParams, icdf, interior_cdf, interior_partial_expectation, sample
from probcascade.joint.correctness import ratio_matrix

__all__ = ["ChainSpec", "as_spec", "N_BINS", "cascade_metrics", "chain_metrics", "build_chain_grid", "chain_grid", "sample_chain", "CHAIN_FAMILIES", "static_families"]

#: Copula families the chain evaluation selects among at run time (``ChainGrid.family_index``).
CHAIN_FAMILIES = tuple(COPULA_FAMILIES)

#: Interior bins of the exact Markov-chain evaluation.
N_BINS = 64


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


class ChainSpec(NamedTuple):
    """The compile-time key of a cascade evaluation: small and hashable, the static argument of the compiled code.

    ``evaluator`` is ``"chain"`` (the exact Markov-chain evaluation) or ``"algorithm1"`` (the study's Algorithm 1);
    ``links`` is k - 1. For the chain, ``families`` are the copula families the compiled program covers: a cascade's
    own families are data (``ChainGrid.family_index``), so every cascade of the same length whose families lie in
    this set shares one compilation. For Algorithm 1, ``families`` is the family of each link.
    """

    evaluator: str
    links: int
    families: tuple[str, ...]
    #: how the chain splits the bin that holds a threshold: ``"exact"`` evaluates the copula at the threshold
    #: (N_BINS + 1 copula evaluations per link), ``"table"`` interpolates it inside the bin by cubic Hermite from the
    #: copula and dC/du at nodes around it (``ChainGrid.split_table``; O(N_BINS) arithmetic, error in
    #: docs/design_notes.md#faster-frontier); ``"table"`` falls back to ``"exact"`` where the grid has no table.
    split: str = "exact"


def as_spec(params: CascadeParams, families) -> ChainSpec:
    """A :class:`ChainSpec` from a spec (returned as is) or a tuple of per-link family names."""
    if isinstance(families, ChainSpec):
        return families
    return static_families(params, tuple(families))


def _switch_copula_cdf(branches: tuple[str, ...], family_index, theta, u, v):
    """``C(u, v)`` of family ``CHAIN_FAMILIES[family_index]`` (a traced index), compiled only for ``branches``.

    One family compiles straight-line code; several compile a ``lax.switch`` over just those families (each branch
    is a copula CDF with its gradient, so every family left out saves compilation time).
    """
    if len(branches) == 1:
        return copula_cdf(branches[0], theta, u, v)
    lut = np.zeros(len(CHAIN_FAMILIES), dtype=np.int32)
    lut[[CHAIN_FAMILIES.index(f) for f in branches]] = np.arange(len(branches), dtype=np.int32)
    return jax.lax.switch(jnp.asarray(lut)[family_index], [partial(copula_cdf, f) for f in branches], theta, u, v)


#: Rows of the tabulated split per bin (uniform) and the geometric refinement towards u = 0 and 1 (nodes at distance
#: 2^-m from either end, m = 9..26, inside the outermost rows), where dC/du of Gumbel/Clayton-type copulas is singular.
SPLIT_ROWS_PER_BIN, SPLIT_DEPTH = 4, 26


def split_nodes(n_bins: int = N_BINS) -> np.ndarray:
    """The nodes in u of the tabulated split (sorted, including every bin edge): the bin edges refined
    :data:`SPLIT_ROWS_PER_BIN` times, plus nodes at distance 2^-m from 0 and 1 inside the outermost rows."""
    step = 1.0 / (n_bins * SPLIT_ROWS_PER_BIN)
    d = 2.0 ** -np.arange(1, SPLIT_DEPTH + 1)
    d = d[d < step]
    return np.unique(np.concatenate([np.arange(n_bins * SPLIT_ROWS_PER_BIN + 1) * step, d, 1.0 - d]))


def _split_column(branches, j, frac, cgrid, family_index, theta, table=None):
    """``C(u_t, e_c) - C(e_j, e_c)`` for every bin edge e_c of the next model, u_t = e_j + frac / N inside bin j.

    Exact (the copula at u_t) without ``table``; with it (``ChainGrid.split_table`` of the link), the cubic Hermite
    interpolant between the two nodes of :func:`split_nodes` around u_t through the copula and ``dC/du`` there:
    exact at the nodes (so at the bin edges), C1 in the threshold, exact in total mass (``C(u, 1) = u`` is linear),
    O(N_BINS) arithmetic instead of N_BINS + 1 copula evaluations (accuracy: docs/design_notes.md#faster-frontier).
    """
    nb = cgrid.shape[-1] - 1
    u_t = (j + frac) / nb
    if table is None:
        edges = jnp.arange(nb + 1) / nb
        return _switch_copula_cdf(branches, family_index, theta, jnp.full(nb + 1, u_t), edges) - cgrid[j]
    nodes = jnp.asarray(split_nodes(nb))
    r = jnp.clip(jnp.sum(nodes[1:-1] <= u_t), 0, nodes.shape[0] - 2)              # node interval holding u_t
    w = nodes[r + 1] - nodes[r]
    s = jnp.clip((u_t - nodes[r]) / w, 0.0, 1.0)
    s2 = s * s
    s3 = s2 * s
    c, h = table[0], table[1]
    val = (2 * s3 - 3 * s2 + 1) * c[r] + (3 * s2 - 2 * s3) * c[r + 1] + w * ((s3 - 2 * s2 + s) * h[r] + (s3 - s2) * h[r + 1])
    return val - cgrid[j]


def _chain_forward(branches, p, r_int, r_lo, r_hi, trans, cgrid, tab, family_index, theta, ratio=None,
                   split_table=None):
    """State vector of the next model for the deferred part of ``p``; the threshold's bin is split at it (exactly, or
    by interpolation in the link's ``split_table``, see :func:`_split_column`).

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
    col = _split_column(branches, j, frac, cgrid, family_index, theta, split_table)
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


def _chain_inputs(params: CascadeParams, spec: ChainSpec, costs, thresholds):
    """What every chain evaluation starts from: k, thresholds, the marginal table, the chain grid, whether the
    correctness is pairwise, cumulative costs, the first model's state distribution p0 and the copula tables."""
    k = spec.links + 1
    t = jnp.asarray(thresholds, dtype=float)
    marg = MarginalTable(*map(jnp.asarray, params.marg))
    grid = ChainGrid(*(None if z is None else jnp.asarray(z) for z in params.chain))
    nb = grid.pe_edge.shape[-1] - 1
    m0 = marginal_at(marg, 0)
    p0 = jnp.concatenate([m0.w_lo[None], jnp.full(nb, (1.0 - m0.w_lo - m0.w_hi) / nb), m0.w_hi[None]])
    cum = jnp.cumsum(jnp.asarray(costs, dtype=float))
    return k, t, marg, grid, grid.ratio is not None, cum, p0, jnp.asarray(params.table), jnp.asarray(params.theta)


def chain_metrics(params: CascadeParams, spec: ChainSpec | tuple[str, ...], costs, thresholds):
    """(P(Correct), E[Cost]) by pushing the state distribution through the Markov chain (no approximation (5)).

    Needs ``params.chain`` (see :class:`ChainGrid`, built by
    :meth:`~probcascade.joint.model.MarkovCopulaModel.cascade`). Pure and differentiable in the thresholds; the k-1 links run in one ``lax.scan`` and the copula family of each link is
    read from ``params.chain.family_index``; ``spec`` (see :class:`ChainSpec`) fixes k and the families covered.
    """
    spec = as_spec(params, spec)
    k, t, marg, grid, pairwise, cum, p0, table, theta = _chain_inputs(params, spec, costs, thresholds)
    branches = spec.families
    split_table = grid.split_table if spec.split == "table" else None

    def link(carry, xs):
        p, pr = carry if pairwise else (carry, None)
        m, pe_edge, trans, cgrid, fam, tab, th, ti, ci, ratio, hg = xs
        correct, mass, r_int, r_lo, r_hi = _chain_exit(m, pe_edge, p, ti, pr)
        nxt, nxt_r = _chain_forward(branches, p, r_int, r_lo, r_hi, trans, cgrid, tab, fam, th, ratio, hg)
        return ((nxt, nxt_r) if pairwise else nxt), (correct, mass * ci)

    head = MarginalTable(*(z[:-1] for z in marg))
    xs = (head, grid.pe_edge[:-1], grid.trans, grid.cgrid, grid.family_index, table, theta, t, cum[:-1], grid.ratio,
          split_table)
    carry, (correct, cost) = jax.lax.scan(link, (p0, p0) if pairwise else p0, xs)
    p, pr = carry if pairwise else (carry, None)
    correct, cost = jnp.sum(correct), jnp.sum(cost)
    last_correct, last_mass = _chain_last(marginal_at(marg, k - 1), grid.pe_edge[-1], p, pr)
    return correct + last_correct, cost + last_mass * cum[-1]


@jax.jit
def _edge_partial_expectations(pi: MarginalParams, edges):
    """Interior partial expectations of one model at the bin edges x = G^-1(e_b) (one compilation serves every
    model and cascade: the shapes only depend on the number of bins and mixture components)."""
    c = 1.0 - pi.w_lo - pi.w_hi
    x = icdf(pi, pi.w_lo + c * edges[1:-1])
    full = interior_partial_expectation(pi, pi.lo)
    return jnp.concatenate([full[None], interior_partial_expectation(pi, x), jnp.zeros(1)])


@partial(jax.jit, static_argnums=0)
def _link_grid(family: str, theta, tab, edges):
    """The copula on the bin-edge grid and the link's transition matrix."""
    g = copula_cdf(family, theta, edges[:, None], edges[None, :])
    return g, _chain_transition_matrix(tab, g)


@partial(jax.jit, static_argnums=0)
def _split_table(family: str, theta, nodes, edges):
    """(2, R, M+1): the copula and dC/du at (node, bin edge) for the tabulated split (:func:`_split_column`)."""
    u, v = nodes[:, None], edges[None, :]
    return jnp.stack([copula_cdf(family, theta, u, v), copula_h(family, theta, u, v)])


@x64
def build_chain_grid(params: CascadeParams, families: tuple[str, ...], exact: MarginalParams,
                     n_bins: int = N_BINS) -> ChainGrid:
    """Precompute the :class:`ChainGrid` of a cascade (bin edges from the exact marginal quantiles)."""
    edges = jnp.arange(n_bins + 1) / n_bins
    k = len(families) + 1
    # each piece through the exported-program cache (a new process with the persistent cache on skips tracing)
    pe = [cached_program("edge_pe", _edge_partial_expectations, (), MarginalParams(*(jnp.asarray(z)[i] for z in exact)),
                         edges) for i in range(k)]
    nodes = jnp.asarray(split_nodes(n_bins))
    cg, tr, st = [], [], []
    for i, fam in enumerate(families):
        theta, tab = jnp.asarray(params.theta)[i], jnp.asarray(params.table)[i]
        g, t = cached_program("link_grid", partial(_link_grid, fam), fam, theta, tab, edges)
        cg.append(g)
        tr.append(t)
        st.append(cached_program("split_table", partial(_split_table, fam), fam, theta, nodes, edges))
    stack = lambda zs, empty: np.asarray(jnp.stack(zs)) if zs else np.zeros(empty)
    return ChainGrid(stack(tr, (0, n_bins + 2, n_bins + 2)), stack(cg, (0, n_bins + 1, n_bins + 1)),
                     np.asarray(jnp.stack(pe)), np.array([CHAIN_FAMILIES.index(f) for f in families], dtype=np.int32),
                     split_table=stack(st, (0, 2, nodes.shape[0], n_bins + 1)))


def chain_grid(params: CascadeParams, families: tuple[str, ...], exact: MarginalParams,
               n_bins: int = N_BINS) -> ChainGrid:
    """:func:`build_chain_grid` in pure JAX (traceable: the posterior predictive vmaps it over draws); k >= 2."""
    edges = jnp.arange(n_bins + 1) / n_bins
    pe = jnp.stack([_edge_partial_expectations(marginal_at(exact, i), edges) for i in range(len(families) + 1)])
    links = [_link_grid(f, jnp.asarray(params.theta)[i], jnp.asarray(params.table)[i], edges)
             for i, f in enumerate(families)]
    return ChainGrid(jnp.stack([t for _, t in links]), jnp.stack([g for g, _ in links]), pe,
                     jnp.asarray([CHAIN_FAMILIES.index(f) for f in families], dtype=jnp.int32))


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
    return np.asarray(ratio_matrix(jnp.asarray(coef, dtype=float), states[:-1], states[1:]))


def static_families(params: CascadeParams, families: tuple[str, ...],
                    branches: Sequence[str] | None = None) -> ChainSpec:
    """The :class:`ChainSpec` of a cascade whose links have copula ``families``.

    With a chain grid the spec covers ``families`` and ``branches`` (default: its own families), so every cascade
    of the same length whose families lie in that set shares one compiled program; without a chain grid it is
    Algorithm 1 with the families themselves.
    """
    families = tuple(families)
    if params.chain is None or len(families) == 0:
        return ChainSpec("algorithm1", len(families), families)
    cover = set(families) | set(branches or ())
    unknown = cover - set(CHAIN_FAMILIES)
    if unknown:
        raise DataValidationError(f"copula families {sorted(unknown)} are not chain families {list(CHAIN_FAMILIES)}")
    return ChainSpec("chain", len(families), tuple(f for f in CHAIN_FAMILIES if f in cover))


def cascade_metrics(params: CascadeParams, spec: ChainSpec | tuple[str, ...], costs, thresholds):
    """(P(Correct), E[Cost]) of the cascade for thresholds (k-1,): the exact chain or Algorithm 1
    (:func:`algorithm1_metrics`), as ``spec`` says (a tuple of per-link family names: the chain when ``params``
    has a chain grid). Pure and differentiable."""
    spec = as_spec(params, spec)
    if spec.evaluator == "chain":
        return chain_metrics(params, spec, costs, thresholds)
    return algorithm1_metrics(params, spec.families, costs, thresholds)


def sample_chain(marg: MarginalParams, table, theta, families: tuple[str, ...], key, n: int):
    """Draw n queries' calibrated confidences (n, k) from the Markov chain (exact marginals, no tables)."""
    k = len(families) + 1
    keys = jax.random.split(key, 3 * k)
    p0 = marginal_at(marg, 0)
    x = sample(p0, keys[0], (n,))
    cell = jnp.where(x <= p0.lo, 0, jnp.where(x >= p0.hi, 2, 1))
    u = interior_cdf(p0, x)
    out = [x]
    for i in range(1, k):
        cur = marginal_at(marg, i)
        rows = table[i - 1][cell]                                  # (n, 3)
        rows = rows / jnp.sum(rows, axis=-1, keepdims=True)
        new_cell = jax.random.categorical(keys[3 * i], jnp.log(rows), axis=-1)
        w = jax.random.uniform(keys[3 * i + 1], (n,), minval=1e-12, maxval=1.0 - 1e-12)
        v_cop = copula_h_inv(families[i - 1], theta[i - 1], w, u)
        v = jnp.where(cell == 1, v_cop, w)                         # coupled only when both are interior
        c = 1.0 - cur.w_lo - cur.w_hi
        x_int = icdf(cur, cur.w_lo + c * v)
        x_int = jnp.clip(x_int, jnp.nextafter(cur.lo, cur.hi), jnp.nextafter(cur.hi, cur.lo))
        x = jnp.where(new_cell == 0, cur.lo, jnp.where(new_cell == 2, cur.hi, x_int))
        u = jnp.where(new_cell == 1, v, 0.5)
        cell = new_cell
        out.append(x)
    return jnp.stack(out, axis=-1)
