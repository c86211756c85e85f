"""Binning and training (Hovsepian et al. 2024 Algorithm 1) of the binned cascading ensemble: vectorised JAX and plain Python.

Bins and keys
    Model ``j`` has sorted interior edges ``e_j`` (``B_j = len(e_j) + 1`` bins); a confidence ``s`` falls in bin
    ``searchsorted(e_j, s, side="right")``. After ``d`` models a query has the nested key ``(b_1, ..., b_d)``,
    flattened mixed-radix (``key_d = key_{d-1} * B_d + b_d``, ``key_0 = 0``). "Level ``a``" of a query is its
    prefix ``(b_1, ..., b_a)``; level 0 is the root (all queries).

Training (Algorithm 1, from depth K down to 1)
    Reward of a query that exits at depth ``d`` with strategy ``h``: ``hit_h - mu * cost_{1..d} / cost_scale``
    (``mu = 0``: hits, the seed's reward; ``mu > 0``: each full-cascade cost unit is worth ``mu`` hits, the
    Lagrangian of the accuracy-cost trade-off). For each cell at depth ``d`` the best strategy's summed reward is
    compared with the summed reward of the same queries when they go deeper (their realised reward under the
    already-trained depth ``d + 1`` decisions: for a cell with enough data, the sum of its children's best rewards,
    exactly as in Algorithm 1). Ties go to the cheaper decision (exit; and among strategies, the earlier one).

Fallback for empty or tiny cells
    A cell with fewer than ``min_count`` training queries does not decide alone: its queries take the decision
    trained, at the same depth, on the whole population of a coarser *context* with at least ``min_count`` queries
    (the root at worst). With ``fallback="prefix"`` the contexts are the ancestors of the nested key, ``(b_1..b_a)``
    (the parent's decision, the issue's wording); with ``fallback="suffix"`` they are the most recent bins,
    ``(b_{d-a+1}..b_d)``, so the latest (most capable) model's confidence is dropped last, as in n-gram back-off.
    Every (depth, level, context) carries a decision, and a query at depth ``d`` uses the longest of its contexts
    that is not tiny. The recursion stays exact: a context's GoDeeper reward is the sum of its queries' realised
    rewards at depth ``d + 1``. With ``min_count <= 1`` only cells empty in training (met at inference) fall back,
    and the occupied cells' decisions are Algorithm 1's, verbatim, for both fallbacks.

Vectorisation
    Cells are the occupied keys of each context level (``np.unique``; at most ``n`` per level, so the key space
    of ``prod B_j`` cells is never materialised). All sums are ``jax.ops.segment_sum`` over those cell ids; the only
    Python loops are over depth and prefix level (trace time); the ``mu`` sweep is a ``jax.vmap``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from probcascade.exceptions import DataValidationError

__all__ = ["FALLBACKS", "Binning", "TrainingProblem", "build_problem", "train_core", "train_reference", "algorithm1_reference",
           "GO_DEEPER", "UNUSED", "TIE_TOL"]

GO_DEEPER = -1
FALLBACKS = ("prefix", "suffix")
UNUSED = -2
#: Relative tolerance of the GoDeeper comparison: going deeper must beat exiting by more than this (ties -> exit).
TIE_TOL = 1e-9


# ------------------------------------------------------------------------------------------------------ binning
@dataclass(frozen=True, eq=False)
class Binning:
    """Per-model bin edges (sorted interior edges; model ``j`` has ``len(edges[j]) + 1`` bins)."""

    edges: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        clean = []
        for j, e in enumerate(self.edges):
            e = np.atleast_1d(np.asarray(e, dtype=np.float64)) if np.size(e) else np.zeros(0)
            if e.ndim != 1 or not np.all(np.isfinite(e)):
                raise DataValidationError(f"bin edges of model {j} must be a 1-d array of finite numbers")
            if np.any(np.diff(e) <= 0):
                raise DataValidationError(f"bin edges of model {j} must be strictly increasing, got {e.tolist()}")
            clean.append(e)
        if not clean:
            raise DataValidationError("a binning needs at least one model")
        object.__setattr__(self, "edges", tuple(clean))
        if np.prod([float(b) for b in self.n_bins]) > 2.0 ** 62:
            raise DataValidationError(f"too many nested bins ({self.n_bins}): the flattened key overflows int64")

    @classmethod
    def quantile(cls, conf: np.ndarray, bins: int | Sequence[int] = 5) -> "Binning":
        """Quantile bins of each model's confidences (``bins`` per model, or one count per model).

        Repeated quantiles (ties in the confidences) are merged, so a model may get fewer bins.
        """
        conf = np.asarray(conf, dtype=np.float64)
        if conf.ndim != 2 or conf.shape[0] == 0:
            raise DataValidationError(f"conf must be a non-empty (n_queries, n_models) array, got shape {conf.shape}")
        k = conf.shape[1]
        counts = [int(bins)] * k if np.ndim(bins) == 0 else [int(b) for b in bins]
        if len(counts) != k:
            raise DataValidationError(f"got {len(counts)} bin counts for {k} models")
        if min(counts) < 1:
            raise DataValidationError(f"bin counts must be >= 1, got {counts}")
        edges = []
        for j, b in enumerate(counts):
            e = np.unique(np.quantile(conf[:, j], np.arange(1, b) / b)) if b > 1 else np.zeros(0)
            edges.append(e[e > conf[:, j].min()])        # an edge at the minimum would leave bin 0 empty
        return cls(tuple(edges))

    @property
    def n_models(self) -> int:
        return len(self.edges)

    @property
    def n_bins(self) -> tuple[int, ...]:
        return tuple(len(e) + 1 for e in self.edges)

    def assign(self, conf: np.ndarray) -> np.ndarray:
        """(n, k) bin index of every confidence."""
        conf = np.asarray(conf, dtype=np.float64)
        if conf.ndim != 2 or conf.shape[1] != self.n_models:
            raise DataValidationError(f"conf must have shape (n, {self.n_models}), got {conf.shape}")
        if np.isnan(conf).any():
            raise DataValidationError("conf contains NaN")
        return np.column_stack([np.searchsorted(e, conf[:, j], side="right") for j, e in enumerate(self.edges)]
                               ).astype(np.int64).reshape(conf.shape)

    def prefix_keys(self, conf: np.ndarray) -> np.ndarray:
        """(n, k + 1) flattened nested key of every prefix level (column 0: the root, always 0)."""
        b = self.assign(conf)
        radix = np.asarray(self.n_bins, dtype=np.int64)
        keys = np.zeros((b.shape[0], self.n_models + 1), dtype=np.int64)
        for a in range(self.n_models):                  # loop over depth only
            keys[:, a + 1] = keys[:, a] * radix[a] + b[:, a]
        return keys

    def context_keys(self, conf: np.ndarray, fallback: str = "prefix") -> np.ndarray:
        """(n, K, K + 1) key of every query's level-``a`` context at depth ``d + 1`` (``a <= d + 1``; others 0).

        ``fallback="prefix"``: level ``a`` is the prefix ``(b_1, ..., b_a)`` (the parent chain of the nested bins);
        ``"suffix"``: the ``a`` most recent bins ``(b_{d-a+2}, ..., b_{d+1})`` (back-off keeps the latest model's
        bin longest). Level ``d + 1`` is the full nested key and level 0 the root in both.
        """
        if fallback not in FALLBACKS:
            raise DataValidationError(f"unknown fallback {fallback!r} (choose from {FALLBACKS})")
        b = self.assign(conf)
        n, K = b.shape
        radix = np.asarray(self.n_bins, dtype=np.int64)
        out = np.zeros((n, K, K + 1), dtype=np.int64)
        for d in range(K):                              # loops over depth and level only
            for a in range(1, d + 2):
                lo = 0 if fallback == "prefix" else d + 1 - a
                hi = a if fallback == "prefix" else d + 1
                key = np.zeros(n, dtype=np.int64)
                for j in range(lo, hi):
                    key = key * radix[j] + b[:, j]
                out[:, d, a] = key
        return out

    def to_list(self) -> list[list[float]]:
        return [e.tolist() for e in self.edges]


# ------------------------------------------------------------------------------------------------ the problem
class TrainingProblem(NamedTuple):
    """Everything the trainer needs, as arrays (n queries, K models, S strategies).

    hits : (n, K, S) 1.0 where strategy s on the first d + 1 models answers query i correctly
    cum_cost : (n, K) cost paid by query i when it exits at depth d + 1, in units of ``cost_scale``
    inv : (K, K + 1, n) int32 cell id of each query in its level-``a`` context at depth ``d + 1``
    context_keys, context_counts : ``[d][a]`` the occupied context keys (sorted; ids index them) and their counts
    ok : (K, K + 1, n) bool, per depth, level and cell id (padded to n): count >= min_count (level 0: always)
    """

    hits: np.ndarray
    cum_cost: np.ndarray
    inv: np.ndarray
    context_keys: tuple[tuple[np.ndarray, ...], ...]
    context_counts: tuple[tuple[np.ndarray, ...], ...]
    ok: np.ndarray


def build_problem(ckeys: np.ndarray, hits: np.ndarray, cum_cost: np.ndarray, min_count: int) -> TrainingProblem:
    """Cell ids of the occupied contexts (``np.unique`` per depth and level) from ``ckeys`` (n, K, K + 1)."""
    n, K, _ = ckeys.shape
    if n == 0:
        raise DataValidationError("no training queries")
    inv = np.zeros((K, K + 1, n), dtype=np.int32)
    ok = np.zeros((K, K + 1, n), dtype=bool)
    keys, counts = [], []
    for d in range(K):                                  # loops over depth and level only
        kd, cd = [], []
        for a in range(K + 1):
            if a > d + 1:
                kd.append(np.zeros(0, np.int64)), cd.append(np.zeros(0, np.int64))
                continue
            uniq, idx, cnt = np.unique(ckeys[:, d, a], return_inverse=True, return_counts=True)
            inv[d, a] = idx.ravel()
            ok[d, a, : len(uniq)] = (cnt >= min_count) | (a == 0)
            kd.append(uniq), cd.append(cnt)
        keys.append(tuple(kd)), counts.append(tuple(cd))
    return TrainingProblem(np.asarray(hits, np.float64), np.asarray(cum_cost, np.float64), inv,
                           tuple(keys), tuple(counts), ok)


# ----------------------------------------------------------------------------------------------- JAX trainer
@jax.jit
def _train_core(hits, cum_cost, inv, ok, mus):
    n, K, S = hits.shape
    seg = lambda x, d, a: jax.ops.segment_sum(x, inv[d, a], num_segments=n)
    # mu-independent per-cell sums: hits (n_cells, S) and cost (n_cells,) at every (depth, level)
    sum_hits = [[seg(hits[:, d, :], d, a) for a in range(d + 2)] for d in range(K)]
    sum_cost = [[seg(cum_cost[:, d], d, a) for a in range(d + 2)] for d in range(K)]
    ok_q = [jnp.stack([ok[d, a][inv[d, a]] for a in range(d + 2)]) for d in range(K)]   # (d + 2, n)
    rows = jnp.arange(n)

    def one(mu):
        r_next = jnp.zeros(n, hits.dtype)
        exit_next = jnp.full(n, K - 1, jnp.int32)
        hit_next = jnp.zeros(n, hits.dtype)
        decs = jnp.full((K, K + 1, n), -2, jnp.int32)
        for d in reversed(range(K)):
            per_level = []
            for a in range(d + 2):
                ex = sum_hits[d][a] - mu * sum_cost[d][a][:, None]
                best_s = jnp.argmax(ex, axis=1).astype(jnp.int32)
                if d < K - 1:
                    best = jnp.max(ex, axis=1)
                    deep = seg(r_next, d, a)
                    dec = jnp.where(deep > best + TIE_TOL * (1.0 + jnp.abs(best)), -1, best_s)
                else:
                    dec = best_s
                decs = decs.at[d, a].set(dec)
                per_level.append(dec[inv[d, a]])
            level = jnp.sum(ok_q[d][1:], axis=0)                                   # longest context with enough data
            dec_q = jnp.stack(per_level)[level, rows]
            go = dec_q < 0
            s = jnp.maximum(dec_q, 0)
            h = hits[rows, d, s]
            r_next = jnp.where(go, r_next, h - mu * cum_cost[:, d])
            hit_next = jnp.where(go, hit_next, h)
            exit_next = jnp.where(go, exit_next, d)
        return decs, r_next, exit_next, hit_next

    return jax.vmap(one)(mus)


def _bucket(n: int) -> int:
    return max(8, 1 << (int(n) - 1).bit_length())


def train_core(problem: TrainingProblem, mus) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised training for every ``mu``: ``(decisions (M, K, K+1, n), reward (M, n), exit (M, n), hit (M, n))``.

    ``decisions[m, d, a, c]``: at depth ``d + 1``, for level-``a`` cell id ``c``: ``-1`` GoDeeper, ``s >= 0`` exit
    with strategy ``s`` (``-2``: no such cell). ``reward``, ``exit`` (0-based depth) and ``hit`` are each training
    query's outcome under the trained policy. Runs in float64. The query axis is padded to a power of two (padded
    rows carry an out-of-range cell id, which ``segment_sum`` drops), so sizes share compilations.
    """
    n = problem.hits.shape[0]
    m = _bucket(n)
    pad = m - n
    hits = np.pad(problem.hits, ((0, pad), (0, 0), (0, 0)))
    cum = np.pad(problem.cum_cost, ((0, pad), (0, 0)))
    inv = np.pad(problem.inv, ((0, 0), (0, 0), (0, pad)), constant_values=m)
    ok = np.pad(problem.ok, ((0, 0), (0, 0), (0, pad)))
    with jax.enable_x64(True):
        out = _train_core(jnp.asarray(hits), jnp.asarray(cum), jnp.asarray(inv), jnp.asarray(ok),
                          jnp.atleast_1d(jnp.asarray(mus, dtype=jnp.float64)))
        decs, reward, exit_, hit = (np.asarray(o) for o in out)
    return decs[..., :n], reward[:, :n], exit_[:, :n], hit[:, :n]


# ------------------------------------------------------------------------------------- plain-Python references
def _context(row: tuple[int, ...], d: int, a: int, fallback: str) -> tuple[int, ...]:
    return row[:a] if fallback == "prefix" else row[d - a:d]


def train_reference(bins, hits, cum_cost, mu: float, min_count: int,
                    fallback: str = "prefix") -> dict[tuple[int, tuple[int, ...]], int]:
    """Plain-Python trainer (loops and dicts) with the same semantics as :func:`train_core`, for tests and timing.

    ``bins[i]``: the bin indices of query i (length K); ``hits[i][d][s]``, ``cum_cost[i][d]`` as in
    :class:`TrainingProblem`. Returns ``{(depth (1-based), context tuple of any length <= depth): decision}``.
    """
    n = len(bins)
    K = len(bins[0])
    S = len(hits[0][0])
    bins = [tuple(int(b) for b in row) for row in bins]
    table: dict[tuple[int, tuple[int, ...]], int] = {}
    r_next = [0.0] * n
    for d in range(K, 0, -1):
        counts = defaultdict(int)
        for a in range(d + 1):
            groups = defaultdict(list)
            for i, row in enumerate(bins):
                groups[_context(row, d, a, fallback)].append(i)
            for ctx, members in groups.items():
                counts[ctx] = len(members)
                cost = sum(cum_cost[i][d - 1] for i in members)
                ex = [sum(hits[i][d - 1][s] for i in members) - mu * cost for s in range(S)]
                best_s = max(range(S), key=lambda s: (ex[s], -s))
                dec = best_s
                if d < K:
                    deep = sum(r_next[i] for i in members)
                    if deep > ex[best_s] + TIE_TOL * (1.0 + abs(ex[best_s])):
                        dec = GO_DEEPER
                table[(d, ctx)] = dec
        r = [0.0] * n
        for i, row in enumerate(bins):
            level = max(a for a in range(d + 1) if a == 0 or counts[_context(row, d, a, fallback)] >= min_count)
            dec = table[(d, _context(row, d, level, fallback))]
            r[i] = r_next[i] if dec == GO_DEEPER else hits[i][d - 1][dec] - mu * cum_cost[i][d - 1]
        r_next = r
    return table


def algorithm1_reference(bins, hits, cum_cost, mu: float = 0.0) -> dict[tuple[int, tuple[int, ...]], int]:
    """Seed 000 Algorithm 1 as written (children sums over nested bins, no fallback), for occupied cells.

    Returns ``{(depth, full prefix): decision}``; the reward of a cell is its best strategy's summed reward, or the
    sum of its children's when that is larger (GoDeeper).
    """
    K = len(bins[0])
    S = len(hits[0][0])
    bins = [tuple(int(b) for b in row) for row in bins]
    m_next: dict[tuple[int, ...], float] = {}
    table = {}
    for d in range(K, 0, -1):
        members = defaultdict(list)
        for i, row in enumerate(bins):
            members[row[:d]].append(i)
        m = {}
        for cell, idx in members.items():
            cost = sum(cum_cost[i][d - 1] for i in idx)
            mu_h = [sum(hits[i][d - 1][s] for i in idx) - mu * cost for s in range(S)]
            best_s = max(range(S), key=lambda s: (mu_h[s], -s))
            table[(d, cell)], m[cell] = best_s, mu_h[best_s]
            if d < K:
                children = sum(v for child, v in m_next.items() if child[:d] == cell)
                if children > m[cell] + TIE_TOL * (1.0 + abs(m[cell])):
                    table[(d, cell)], m[cell] = GO_DEEPER, children
        m_next = m
    return table
