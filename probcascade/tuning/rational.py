"""Rational tuning of cascade thresholds (§3.3 of the study: eq. 11-13, Proposition 2, Algorithm 1).

For every cost sensitivity lambda the thresholds minimise ``(1 - P(Correct)) + lambda E[Cost]`` under the fitted
Markov-copula model. All lambda values and all restarts are optimised at once: the objective is ``vmap``-ed over a
(lambda, restart) batch and minimised with optax's Adam inside one ``jit``-compiled ``lax.scan``. Each threshold
lives in the open interval (phi_min, phi_max) of its model through ``phi = lo + (hi - lo) sigmoid(z)``, where the
objective is smooth (the study's §3.3, "Smoothness of the objective").

The lambda grid follows eq. 12 (``lambda <- (1 + r) lambda``) from a lambda so small that cost is irrelevant up to
the first lambda at which deferring can no longer pay (``lambda E[C_2] > 1``: no query's error can fall by more than
1), after which the optimum is the cheapest model alone; the sweep is truncated once the predicted cost reaches the
cheapest model's. The frontier is the Pareto-optimal subset of all (lambda, restart) solutions, so it is monotone
(more cost never raises predicted error) even where a restart ends in a poor local minimum. Gaps larger than
probability mass ``q`` are filled by eq. 13 (:func:`probcascade.tuning.frontier.infill`); infilled points that the
model predicts to be dominated are dropped again. Optionally (``max_cost_gap``), wide cost gaps left by the sweep,
which eq. 11 cannot fill where the frontier is not convex, are first split by cost-targeted solves.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Sequence
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
from probcascade.precision import x64
from probcascade.compilation_cache import cached_program
from probcascade.exceptions import DataValidationError
from probcascade.tuning.options import TuneOptions
from probcascade.validation import check_array, check_float, pad_first_rows
from probcascade.tuning.frontier import Frontier, infill, pareto_mask
from probcascade.joint.model import CascadeModel, MarkovCopulaModel
from probcascade.joint.chain import CHAIN_FAMILIES, cascade_metrics

__all__ = ["lambda_grid", "tune", "tune_many", "best_subcascade", "objective"]

def lambda_grid(costs: Sequence[float], r: float = 0.5, lam_min_rel: float = 1e-4) -> np.ndarray:
    """Geometric lambda schedule of eq. 12 in units of 1/USD.

    Starts at ``lam_min_rel / sum(costs)`` (cost changes the objective by at most 1e-4) and grows by ``1 + r`` up
    to ``(1 + r) / min(costs[1:])``, beyond which deferring any query costs more than it can gain.
    """
    costs = check_array(costs, "costs", ndim=1, min_rows=2)
    if np.any(costs <= 0):
        raise DataValidationError(f"'costs' must be positive expected costs per model, got {costs}")
    check_float(r, "r", low=0.0, low_open=True, note="the lambda growth rate")
    check_float(lam_min_rel, "lam_min_rel", low=0.0, low_open=True)
    lo = lam_min_rel / costs.sum()
    hi = (1.0 + r) / costs[1:].min()
    n = int(np.ceil(np.log(hi / lo) / np.log1p(r))) + 1
    return lo * (1.0 + r) ** np.arange(n)


#: Weight of the cost-target penalty, per squared frontier cost range. A stiff penalty (1e3) leaves Adam in the narrow
#: valley it makes, short of the constrained optimum; at 10 the first solve misses its target by about
#: slope / (2 rho) of the range (slope: error change per unit of the range, < 1 here) and one multiplier update
#: (a second solve aimed past the target by that miss) brings the cost close to the target.
_GAP_RHO = 10.0


def objective(params, families, costs, lo, hi, z, lam, target=0.0, rho=0.0):
    """(1 - P(Correct)) + lam E[Cost] + rho (E[Cost] - target)^2 at thresholds lo + (hi - lo) sigmoid(z).

    Pure and differentiable. With ``rho = 0`` (default) this is eq. 11; a large ``rho`` with ``lam = 0`` is the
    quadratic-penalty form of "least error at expected cost ``target``" (the epsilon-constraint scalarisation), which
    reaches the non-convex stretches of the frontier that no lambda of eq. 11 can.
    """
    t = lo + (hi - lo) * jax.nn.sigmoid(z)
    pc, ec = cascade_metrics(params, families, costs, t)
    return (1.0 - pc) + lam * ec + rho * (ec - target) ** 2


def _learning_rate(count, n_steps, base: float = 0.3, alpha: float = 0.02):
    """Cosine decay from ``base`` to ``alpha * base`` over ``n_steps`` (a traced value: one compilation serves all)."""
    frac = jnp.minimum(count / jnp.maximum(n_steps, 1), 1.0)
    return base * ((1.0 - alpha) * 0.5 * (1.0 + jnp.cos(jnp.pi * frac)) + alpha)


#: Step lengths tried at once along each Newton direction (the best one that lowers the objective is taken; a
#: unit-length step down the gradient is tried beside them, so a member never stalls where the model is not convex).
_NEWTON_ALPHAS = (1.0, 0.5, 0.2, 0.05)
#: Longest Newton step in z (a trust region: far from a minimum the quadratic model is not to be trusted).
_NEWTON_MAX_STEP = 4.0
#: Forward-difference step in z of the Newton Hessian (float64 gradients: truncation and rounding both ~1e-5
#: relative; the line search makes the step robust to such errors in the Hessian).
_FD_STEP = 1e-5


def _adam_steps(f, z0, lam, target, rho, n_steps):
    """``n_steps`` Adam steps with a cosine-decayed step size on every batch member (the solver of earlier releases)."""
    opt = optax.chain(optax.scale_by_adam(), optax.scale_by_schedule(lambda c: -_learning_rate(c, n_steps)))
    grad = jax.vmap(jax.grad(f))

    def step(_, carry):
        z, state = carry
        g = grad(z, lam, target, rho)
        g = jnp.where(jnp.isfinite(g), g, 0.0)
        updates, state = opt.update(g, state, z)
        return jnp.clip(optax.apply_updates(z, updates), -30.0, 30.0), state

    z, _ = jax.lax.fori_loop(0, n_steps, step, (z0, opt.init(z0)))
    return z


def _newton_steps(f, z0, lam, target, rho, n_steps):
    """``n_steps`` damped Newton steps on every batch member, each with a parallel line search.

    The Hessian of these 1-4 dimensional problems is tiny (forward differences of the gradient): its eigenvalues are replaced by their absolute values
    (floored at 1e-3 |gradient|), so the step always descends, and capped to :data:`_NEWTON_MAX_STEP`. All step
    lengths of :data:`_NEWTON_ALPHAS` and a unit gradient step are evaluated at once (a vmapped batch, no
    data-dependent loop) and the best is taken if it lowers the objective; a member at a minimum stays put.
    """
    fv = jax.vmap(f)
    grad = jax.vmap(jax.grad(f))
    alphas = jnp.asarray(_NEWTON_ALPHAS)
    rows = jnp.arange(z0.shape[0])
    k1 = z0.shape[-1]

    def grad_hess(z):
        # the Hessian by forward differences of the gradient: k-1 more gradients in one vmapped call, and the
        # compiled program holds one reverse-mode gradient (forward-over-reverse AD of the chain compiles ~20x longer)
        zs = jnp.concatenate([z[None], z[None] + _FD_STEP * jnp.eye(k1)[:, None, :]])
        gs = jax.vmap(lambda zz: grad(zz, lam, target, rho))(zs)               # (k, B, k-1)
        h = jnp.swapaxes((gs[1:] - gs[:1]) / _FD_STEP, 0, 1)                   # (B, k-1, k-1)
        return gs[0], 0.5 * (h + jnp.swapaxes(h, 1, 2))

    def step(_, carry):
        z, fz = carry
        g, h = grad_hess(z)
        ok = jnp.all(jnp.isfinite(g), axis=-1) & jnp.all(jnp.isfinite(h), axis=(-2, -1))
        g = jnp.where(ok[:, None], g, 0.0)
        h = jnp.where(ok[:, None, None], h, 0.0)
        w, v = jnp.linalg.eigh(h)
        gn = jnp.linalg.norm(g, axis=-1, keepdims=True)
        w = jnp.maximum(jnp.abs(w), 1e-3 * gn + 1e-12)
        d = -jnp.einsum("bij,bj,bkj,bk->bi", v, 1.0 / w, v, g)
        d = d * jnp.minimum(1.0, _NEWTON_MAX_STEP / (jnp.linalg.norm(d, axis=-1, keepdims=True) + 1e-300))
        cand = jnp.concatenate([z[None] + alphas[:, None, None] * d[None], (z - g / (gn + 1e-300))[None]])
        cand = jnp.clip(cand, -30.0, 30.0)
        vals = jax.vmap(lambda zz: fv(zz, lam, target, rho))(cand)
        vals = jnp.where(jnp.isfinite(vals), vals, jnp.inf)
        best = jnp.argmin(vals, axis=0)
        vb = vals[best, rows]
        better = vb < fz
        return jnp.where(better[:, None], cand[best, rows], z), jnp.where(better, vb, fz)

    z, _ = jax.lax.fori_loop(0, n_steps, step, (z0, fv(z0, lam, target, rho)))
    return z


@partial(jax.jit, static_argnames=("families", "solver"))
def _solve(params, families, costs, lo, hi, z0, lam, target, rho, n_steps, solver="adam"):
    """Minimise the objective for a stack of cascades of one length, each with a batch of (z0, lam, target, rho).

    ``params``, ``costs``, ``lo``, ``hi`` carry a leading cascade axis C, ``z0`` is (C, B, k-1) and ``lam``,
    ``target``, ``rho`` are (C, B): the whole stack is one vmapped solve (``solver``: :func:`_newton_steps` or
    :func:`_adam_steps`). A fixed number of steps vectorises cleanly over the batch; ``n_steps`` is traced (a
    ``fori_loop`` bound), so one compilation per (cascade length, families covered, C, B, solver) serves every
    call, including ``n_steps = 0``, which just evaluates the model at ``z0`` (used for the infilled thresholds).
    Returns the final z and the predicted (P(Correct), E[Cost]) there (costs in the units passed in).
    """
    steps = _newton_steps if solver == "newton" else _adam_steps

    def one(params, costs, lo, hi, z0, lam, target, rho):
        f = lambda z, lam_one, target_one, rho_one: objective(params, families, costs, lo, hi, z, lam_one, target_one,
                                                              rho_one)
        z = steps(f, z0, lam, target, rho, n_steps)
        t = lo + (hi - lo) * jax.nn.sigmoid(z)
        pc, ec = jax.vmap(lambda tt: cascade_metrics(params, families, costs, tt))(t)
        return z, pc, ec

    return jax.vmap(one)(params, costs, lo, hi, z0, lam, target, rho)


def _to_z(thr, lo, hi) -> np.ndarray:
    """Inverse of ``lo + (hi - lo) sigmoid(z)`` (thresholds strictly inside (lo, hi))."""
    frac = np.clip((np.asarray(thr) - lo) / (hi - lo), 1e-13, 1.0 - 1e-13)
    return np.log(frac) - np.log1p(-frac)


class _Stack:
    """Cascades of one length solved together: their parameters stacked along a leading axis, the compile-time
    spec they share, and the batch size every solve is padded to (see :func:`tune_many`)."""

    def __init__(self, cms, costs_list, opt: TuneOptions, size: int):
        spec = cms[0].static_families
        specs = {cm.static_families for cm in cms}
        if len(specs) > 1:                           # families covered differ: cover their union
            spec = spec._replace(families=tuple(f for f in CHAIN_FAMILIES if any(f in s.families for s in specs)))
        if opt.solver == "newton" and spec.evaluator == "chain":
            spec = spec._replace(split="table")
        self.spec, self.solver, self.size = spec, opt.solver, size
        self.params = jax.tree_util.tree_map(lambda *z: np.stack([np.asarray(a) for a in z]), *[cm.params for cm in cms])
        self.scale = np.array([c.sum() for c in costs_list])
        self.unit_costs = np.stack([c / c.sum() for c in costs_list])
        self.lo = np.stack([np.asarray(cm.bounds[0], dtype=np.float64) for cm in cms])
        self.hi = np.stack([np.asarray(cm.bounds[1], dtype=np.float64) for cm in cms])

    def solve(self, rows, n_steps: int):
        """Solve per cascade ``rows[c] = (z0, lam, target, rho)`` (any number of rows each, possibly none) in chunks
        of ``size`` rows per cascade; returns per cascade (z, P(Correct), E[Cost] in unit costs)."""
        n = [r[0].shape[0] for r in rows]
        out = [([], [], []) for _ in rows]
        for i in range(0, max(n), self.size):
            batch = []
            for (z0, lam, target, rho), m in zip(rows, n):
                sl = slice(i, min(i + self.size, m))
                if sl.start >= sl.stop:                  # this cascade has no rows left: evaluate a dummy row
                    z0, lam, target, rho, sl = np.zeros((1, z0.shape[1])), np.zeros(1), np.zeros(1), np.zeros(1), slice(0, 1)
                batch.append(pad_first_rows((z0[sl], lam[sl], target[sl], rho[sl]), size=self.size)[0])
            zb, lb, tb, rb = (np.stack(a) for a in zip(*batch))       # numpy: no eager JAX program
            # through the exported-program cache: a new process with the persistent cache on skips the tracing
            solve = lambda p, c, lo, hi, z, la, t, r, n: _solve(p, self.spec, c, lo, hi, z, la, t, r, n, self.solver)
            res = cached_program("tune_solve", solve, (self.spec, self.solver), self.params, self.unit_costs,
                                 self.lo, self.hi, zb, lb, tb, rb, n_steps)
            z, pc, ec = (np.asarray(a) for a in res)
            for c, m in enumerate(n):
                k = max(0, min(self.size, m - i))
                for lst, a in zip(out[c], (z, pc, ec)):
                    lst.append(a[c, :k])
        return [tuple(np.concatenate(a) for a in o) for o in out]


def _fill_cost_gaps(solve, z, pc, ec, lam, max_gap: float, n_steps: int):
    """Split the wide cost gaps of a swept frontier (arrays of its Pareto points; ``ec`` in unit costs).

    Eq. 11 only reaches the convex hull of the frontier: where the optimum jumps between two lambdas, solve "least
    error at expected cost c" for costs c inside the gap, from both ends of the gap and its midpoint, and keep the
    Pareto set of old and new points. Returns the new (z, pc, ec, lam) and the number of cost targets.
    """
    order = np.argsort(ec)
    targets, left = _gap_targets(ec[order], max_gap)
    if not targets.size:
        return z, pc, ec, lam, 0
    za, zb = z[order][left], z[order][left + 1]
    z0 = np.clip(np.concatenate([za, zb, 0.5 * (za + zb)]), -6.0, 6.0)   # saturated starts would barely move
    tg = np.tile(targets, 3)
    rho = np.full(tg.size, _GAP_RHO / (ec.max() - ec.min()) ** 2)
    zeros = np.zeros(tg.size)
    zg, _, ecg = solve(z0, zeros, tg, rho, n_steps)
    # one multiplier update of the augmented Lagrangian: aim past the target by the miss of the first solve
    zg, pcg, ecg = solve(zg, zeros, 2.0 * tg - ecg, rho, n_steps)
    z, pc, ec = np.concatenate([z, zg]), np.concatenate([pc, pcg]), np.concatenate([ec, ecg])
    lam = np.concatenate([lam, np.full(tg.size, np.nan)])
    keep = pareto_mask(ec, pc)
    return z[keep], pc[keep], ec[keep], lam[keep], int(targets.size)


def _gap_targets(ec: np.ndarray, max_gap: float) -> tuple[np.ndarray, np.ndarray]:
    """Cost targets that split every gap between consecutive frontier costs wider than ``max_gap`` of their range.

    ``ec`` sorted in either order. Returns the targets and, per target, the index of the gap's left point.
    """
    c = np.asarray(ec)
    span = c.max() - c.min()
    if c.size < 2 or span <= 0:
        return np.empty(0), np.empty(0, dtype=int)
    gaps = np.abs(np.diff(c))
    n_new = np.maximum(np.ceil(gaps / (max_gap * span)).astype(int) - 1, 0)
    left = np.repeat(np.arange(gaps.size), n_new)
    frac = np.concatenate([np.arange(1, n + 1) / (n + 1) for n in n_new]) if n_new.sum() else np.empty(0)
    return c[left] + frac * (c[left + 1] - c[left]), left


def _initial_points(k1: int, n_restarts: int, seed: int) -> np.ndarray:
    """Restart points in z-space: the centre, then spread/random points (deterministic given the seed)."""
    rng = np.random.default_rng(seed)
    pts = [np.zeros(k1)]
    fixed = [np.full(k1, -2.0), np.full(k1, 2.0)]
    pts += fixed[: max(0, n_restarts - 1)]
    while len(pts) < n_restarts:
        pts.append(rng.normal(0.0, 2.0, k1))
    return np.stack(pts[:n_restarts])


@x64
def cascade_and_costs(model, costs, models, opt: TuneOptions, *, low: float | None = None):
    """The cascade to tune (a sub-cascade of a :class:`MarkovCopulaModel`, or ``model`` itself when it is already a
    cascade) and its per-model expected costs as a checked array in cascade order (a Series is aligned by name)."""
    cm = model.cascade(models, joint=opt.joint, correctness=opt.correctness) if isinstance(model, MarkovCopulaModel) \
        else model
    if cm.k < 2:
        raise DataValidationError(f"a cascade needs at least 2 models to tune, got {list(cm.models)}")
    if isinstance(costs, pd.Series):
        missing = [m for m in cm.models if m not in costs.index]
        if missing:
            raise DataValidationError(f"'costs' has no expected cost for model(s) {missing}")
        costs = costs.loc[list(cm.models)].to_numpy()
    try:
        costs = check_array(costs, "costs", shape=(cm.k,), low=low)
    except DataValidationError as exc:
        raise DataValidationError(f"cascade {list(cm.models)}: {exc}") from exc
    return cm, costs


def tune(
    model: MarkovCopulaModel | CascadeModel,
    costs: Sequence[float] | pd.Series,
    models: Sequence[str] | None = None,
    *,
    options: TuneOptions | None = None,
    **overrides,
) -> Frontier:
    """Rational tuning: the predicted error-cost frontier of a cascade (eq. 11 minimised over a lambda sweep).

    Parameters
    ----------
    model : MarkovCopulaModel or CascadeModel
        Fitted joint model (any sub-cascade of a :class:`MarkovCopulaModel` can be tuned via ``models``).
    costs : sequence or Series
        Expected per-query cost (USD) of each model of the cascade, in cascade order (a Series indexed by model
        name is aligned automatically).
    models : sequence of str, optional
        Sub-cascade to tune (default: all models of ``model``).
    options : TuneOptions, optional
        Solver and model options (see :class:`~probcascade.TuneOptions`, where each is documented); ``joint`` and
        ``correctness`` are ignored when ``model`` is already a :class:`CascadeModel`.
    **overrides
        Single options changed on top of ``options``, e.g. ``tune(model, costs, n_steps=300, max_cost_gap=0.02)``.
    """
    return tune_many(model, [costs], [models], options=options, **overrides)[0]


@x64
def tune_many(
    model: MarkovCopulaModel | CascadeModel,
    costs: Sequence[Sequence[float] | pd.Series],
    cascades: Sequence[Sequence[str] | None],
    *,
    options: TuneOptions | None = None,
    **overrides,
) -> list[Frontier]:
    """:func:`tune` for several cascades at once: those of one length are solved together in one vmapped solve
    (their parameters stacked along a leading axis), instead of one solve per cascade.

    ``costs[i]`` are the expected costs of ``cascades[i]`` (as in :func:`tune`; a single Series of all models'
    costs is aligned to every cascade). Returns the frontiers in the order of ``cascades``; each equals what
    :func:`tune` gives for that cascade up to the rounding of batched arithmetic. ``info["time_s"]`` of a frontier
    is its share of its group's solve time.
    """
    opt = (options or TuneOptions()).replace(**overrides) if overrides else (options or TuneOptions())
    if isinstance(costs, pd.Series):
        costs = [costs] * len(cascades)
    if len(costs) != len(cascades):
        raise DataValidationError(f"'costs' has {len(costs)} entries for {len(cascades)} cascades")
    pairs = [cascade_and_costs(model, c, sub, opt) for c, sub in zip(costs, cascades)]
    out: list[Frontier | None] = [None] * len(pairs)
    for k in sorted({cm.k for cm, _ in pairs}):
        idx = [i for i, (cm, _) in enumerate(pairs) if cm.k == k]
        for i, fr in zip(idx, _tune_stack([pairs[i][0] for i in idx], [pairs[i][1] for i in idx], opt)):
            out[i] = fr
    return out


def _tune_stack(cms, costs_list, opt: TuneOptions) -> list[Frontier]:
    """Frontiers of cascades of one length: one stacked sweep, then per cascade the Pareto filter, the optional
    cost-gap filling and eq. 13 infilling (whose new thresholds are evaluated in one stacked call)."""
    t0 = time.perf_counter()
    lams_list = [lambda_grid(c, opt.r) if opt.lambdas is None else np.asarray(opt.lambdas, dtype=np.float64)
                 for c in costs_list]
    k1 = cms[0].k - 1
    starts = _initial_points(k1, opt.n_restarts, opt.seed)
    R = starts.shape[0]
    # pad the batch to a multiple of 32: few distinct shapes to compile. Not validation.padded_size: every padded
    # row is a full solve, so a power of two could double the work where multiples of 32 waste < 32 solves, and
    # the batch is cut into chunks of exactly this size (a different size would change the compiled program).
    # Cascades of a stack share the size of the longest lambda sweep among them.
    size = -(-max(lams.size for lams in lams_list) * R // 32) * 32
    stack = _Stack(cms, costs_list, opt, size)
    n_steps = opt.newton_steps if opt.solver == "newton" else opt.n_steps
    rows = []
    for lams, scale in zip(lams_list, stack.scale):
        zeros = np.zeros(lams.size * R)
        rows.append((np.tile(starts, (lams.size, 1)), np.repeat(lams * scale, R), zeros, zeros))
    sweeps = stack.solve(rows, n_steps)
    states = []
    for c, (cm, (z, pc, ec), lams) in enumerate(zip(cms, sweeps, lams_list)):
        lam_rep = np.repeat(lams, R)
        keep = pareto_mask(ec, pc)
        z, pc, ec, lam_rep = z[keep], pc[keep], ec[keep], lam_rep[keep]
        n_gap = 0
        if opt.max_cost_gap is not None and ec.size > 1:
            # the cost-targeted (penalty) solves run Adam, for which the penalty weight and the one multiplier update
            # were tuned (with 10 Newton steps some gaps stayed wider and chords rose above the model by > 1e-3)
            one = _Stack([cm], [costs_list[c]], opt.replace(solver="adam"), size)
            solve = lambda z0_, lam_, target_, rho_, steps, one=one: one.solve([(z0_, lam_, target_, rho_)], steps)[0]
            z, pc, ec, lam_rep, n_gap = _fill_cost_gaps(solve, z, pc, ec, lam_rep, opt.max_cost_gap, opt.n_steps)
        lo, hi = stack.lo[c], stack.hi[c]
        thr = lo + (hi - lo) / (1.0 + np.exp(-z))
        order = np.argsort(ec)[::-1]  # from expensive (small lambda) to cheap
        states.append([thr[order], pc[order], ec[order] * stack.scale[c], lam_rep[order], n_gap, 0, lams.size])
    # eq. 13 infilling; the new thresholds of all cascades are evaluated with the compiled solver itself (0 steps)
    fills = []
    for cm, st in zip(cms, states):
        thr = st[0]
        if opt.infill_q is not None and thr.shape[0] > 1:
            thr_f, src = infill(thr, [cm.cdf_numpy(i) for i in range(k1)], q=opt.infill_q, return_index=True)
        else:
            thr_f, src = thr, np.arange(thr.shape[0])
        fills.append((thr_f, src))
    new_rows = []
    for c, (thr_f, src) in enumerate(fills):
        z_new = _to_z(thr_f[src < 0], stack.lo[c], stack.hi[c]).reshape(-1, k1)
        zeros = np.zeros(z_new.shape[0])
        new_rows.append((z_new, zeros, zeros, zeros))
    evaluated = stack.solve(new_rows, 0) if any(r[0].shape[0] for r in new_rows) else None
    frontiers = []
    for c, (cm, st, (thr_f, src)) in enumerate(zip(cms, states, fills)):
        thr, pc, ec, lam_rep, n_gap, _, n_lams = st
        new = src < 0
        n_infilled = int(new.sum())
        if n_infilled:
            _, pc_new, ec_new = evaluated[c]
            pc_f, ec_f = np.empty(len(src)), np.empty(len(src))
            pc_f[~new], ec_f[~new] = pc[src[~new]], ec[src[~new]]
            pc_f[new], ec_f[new] = pc_new, ec_new * stack.scale[c]
            lam_f = np.where(new, np.nan, lam_rep[np.maximum(src, 0)])
            thr, pc, ec, lam_rep = thr_f, pc_f, ec_f, lam_f
            keep = pareto_mask(ec, pc)          # a midpoint can be dominated; the frontier stays monotone
            thr, pc, ec, lam_rep = thr[keep], pc[keep], ec[keep], lam_rep[keep]
        info = {"n_lambdas": int(n_lams), "n_restarts": int(R), "n_steps": int(n_steps), "solver": opt.solver,
                "n_gap_targets": n_gap, "n_infilled": n_infilled, "n_stacked": len(cms),
                "time_s": (time.perf_counter() - t0) / len(cms)}
        frontiers.append(Frontier.from_arrays(thr, pc, ec, lam=lam_rep, models=cm.models, method="rational_tuning",
                                              info=info))
    return frontiers


def best_subcascade(frontiers: dict[tuple[str, ...], Frontier], budgets: Sequence[float]) -> pd.DataFrame:
    """For each cost budget, the sub-cascade and thresholds with the highest predicted accuracy within it."""
    rows = []
    for b in budgets:
        best = None
        for sub, fr in frontiers.items():
            f = fr.frame[fr.frame.e_cost <= b]
            if len(f) == 0:
                continue
            row = f.loc[f.p_correct.idxmax()]
            if best is None or row.p_correct > best["p_correct"]:
                best = {"budget": b, "models": "->".join(sub), "k": len(sub), "p_correct": row.p_correct,
                        "e_cost": row.e_cost, "thresholds": [row[c] for c in fr.frame.columns if c.startswith("threshold_")]}
        rows.append(best or {"budget": b, "models": None, "k": 0, "p_correct": np.nan, "e_cost": np.nan, "thresholds": []})
    return pd.DataFrame(rows)
