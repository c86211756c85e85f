"""Rational tuning with abstention: minimise P(wrong answer) + lambda E[Cost] + nu P(abstain) over a (lambda, nu) grid.

The model-based objective comes from :func:`probcascade.joint.abstention.abstention_metrics` (the exact chain
evaluation with an abstention threshold a_j <= t_j per model). A wrong answer costs 1, an abstention costs nu, so
nu in (0, 1) says how much worse a wrong answer is than no answer (nu >= 1: never abstain); lambda is eq. 11's cost
sensitivity. The solver is rational tuning's (:mod:`probcascade.tuning.rational`): Adam with a cosine-decayed step
size over a fixed number of steps, ``vmap``-ed over one batch that holds every (lambda, nu, restart) combination,
inside one ``jit``-compiled loop: no Python loop over lambda or nu.

Parametrisation (keeps a_j <= t_j): ``t_j = lo_j + (hi_j - lo_j) sigmoid(z_j)`` as in rational tuning and
``a_j = lo_j + (u_j - lo_j) sigmoid(w_j)`` with ``u_j = t_j`` for j < k and ``u_k = hi_k``. A tuned a_j therefore
lies inside (phi_min, t_j): it always abstains on the point mass at phi_min (probability w_min, 1/n of the
training queries on the shared data), so the tuned frontier's least abstention rate is about that mass times the
models reached; "no abstention" is rational tuning itself (:func:`~probcascade.tuning.rational.tune`).

The result is an :class:`~probcascade.tuning.abstention_frontier.AbstentionFrontier`: the solutions that no other
solution beats in all three of P(wrong), E[Cost] and P(abstain).
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

from probcascade.exceptions import DataValidationError
from probcascade.joint.abstention import abstention_metrics
from probcascade.joint.model import CascadeModel, MarkovCopulaModel
from probcascade.precision import x64
from probcascade.tuning.abstention_frontier import AbstentionFrontier, pareto_mask_nd
from probcascade.tuning.base import TuningProblem
from probcascade.tuning.options import TuneOptions
from probcascade.tuning.rational import _initial_points, _learning_rate, cascade_and_costs, lambda_grid
from probcascade.validation import check_array, pad_first_rows

__all__ = ["tune_abstention", "abstention_objective", "default_nu_grid"]


def default_nu_grid(n: int = 19, low: float = 0.05, high: float = 0.95) -> np.ndarray:
    """Default abstention weights: ``n`` values evenly spaced in [low, high] (inside (0, 1), where abstaining can
    pay: at nu the last model abstains roughly where its P(correct) falls below 1 - nu)."""
    return np.linspace(low, high, n)


def _unpack(lo, hi, x):
    """(t, a) from the unconstrained vector x = (z_1..z_{k-1}, w_1..w_k); ``lo``/``hi`` (k,) of all k models."""
    k = lo.shape[0]
    z, w = x[: k - 1], x[k - 1:]
    t = lo[:-1] + (hi[:-1] - lo[:-1]) * jax.nn.sigmoid(z)
    top = jnp.concatenate([t, hi[-1:]])
    return t, lo + (top - lo) * jax.nn.sigmoid(w)


def abstention_objective(params, spec, costs, lo, hi, x, lam, nu):
    """P(wrong) + lam E[Cost] + nu P(abstain) at the (t, a) of the unconstrained vector ``x`` (2k - 1,) (see the
    module docstring; ``lo``/``hi`` (k,) are the supports of all k models). Pure and differentiable."""
    t, a = _unpack(lo, hi, x)
    _, p_wrong, p_abstain, e_cost = abstention_metrics(params, spec, costs, t, a)
    return p_wrong + lam * e_cost + nu * p_abstain


@partial(jax.jit, static_argnames=("spec",))
def _solve(params, spec, costs, lo, hi, x0, lam, nu, n_steps):
    """Adam on the whole (lambda, nu, restart) batch at once (rational tuning's step-size schedule); returns the
    final (t, a) and the four predicted metrics of every row."""
    opt = optax.chain(optax.scale_by_adam(), optax.scale_by_schedule(lambda c: -_learning_rate(c, n_steps)))
    grad = jax.vmap(jax.grad(lambda x, l, v: abstention_objective(params, spec, costs, lo, hi, x, l, v)))

    def step(_, carry):
        x, state = carry
        g = grad(x, lam, nu)
        updates, state = opt.update(jnp.where(jnp.isfinite(g), g, 0.0), state, x)
        return jnp.clip(optax.apply_updates(x, updates), -30.0, 30.0), state

    x, _ = jax.lax.fori_loop(0, n_steps, step, (x0, opt.init(x0)))
    t, a = jax.vmap(lambda xx: _unpack(lo, hi, xx))(x)
    return t, a, jax.vmap(lambda tt, aa: abstention_metrics(params, spec, costs, tt, aa))(t, a)


def _grid(values, name: str) -> np.ndarray:
    return check_array(values, name, ndim=1, min_rows=1, low=0.0)


@x64
def tune_abstention(
    model: MarkovCopulaModel | CascadeModel | TuningProblem,
    costs: Sequence[float] | pd.Series | None = None,
    models: Sequence[str] | None = None,
    *,
    lam_grid: Sequence[float] | None = None,
    nu_grid: Sequence[float] | None = None,
    options: TuneOptions | None = None,
    **overrides,
) -> AbstentionFrontier:
    """The predicted abstention frontier of a cascade: P(wrong) + lambda E[Cost] + nu P(abstain) minimised for
    every (lambda, nu) of a grid, all at once.

    Parameters
    ----------
    model : MarkovCopulaModel, CascadeModel or TuningProblem
        The fitted joint model (a :class:`~probcascade.tuning.base.TuningProblem` brings its ``joint_model``,
        ``costs`` and ``models``). Cascades must use the chain evaluation (``joint="chain"``, the default).
    costs : sequence or Series, optional
        Expected cost per query of each model, in cascade order (a Series is aligned by model name); taken from the
        problem when ``model`` is a TuningProblem.
    models : sequence of str, optional
        Sub-cascade to tune (default: all models, or the problem's).
    lam_grid : sequence of float, optional
        Cost sensitivities (1/USD); default ``options.lambdas`` or eq. 12's grid with growth rate ``options.r``.
    nu_grid : sequence of float, optional
        Abstention weights; default :func:`default_nu_grid` (19 values in [0.05, 0.95]).
    options : TuneOptions, optional
        ``family``/``correctness``/``joint`` (when a cascade is taken from a fitted model), ``n_restarts``,
        ``n_steps``, ``seed``; ``infill_q`` and ``max_cost_gap`` do not apply. ``**overrides`` change single options.

    Returns
    -------
    AbstentionFrontier
        Non-dominated (P(wrong), E[Cost], P(abstain)) solutions with their thresholds, abstention thresholds,
        lambda and nu; ``.evaluate(conf, correct, cost)`` scores them on test data.
    """
    opt = (options or TuneOptions()).replace(**overrides) if overrides else (options or TuneOptions())
    t0 = time.perf_counter()
    if isinstance(model, TuningProblem):
        costs = model.costs if costs is None else costs
        models = model.models if models is None else models
        if model.joint_model is None:
            raise DataValidationError("tuning with abstention needs a fitted joint model (TuningProblem.joint_model)")
        model = model.joint_model
    if costs is None:
        raise DataValidationError("'costs' (expected cost per model) is needed to tune with abstention")
    cm, costs = cascade_and_costs(model, costs, models, opt, low=0.0)
    if lam_grid is None:
        lams = lambda_grid(costs, opt.r) if opt.lambdas is None else np.asarray(opt.lambdas, dtype=np.float64)
    else:
        lams = _grid(lam_grid, "lam_grid")
    nus = default_nu_grid() if nu_grid is None else _grid(nu_grid, "nu_grid")
    k = cm.k
    scale = costs.sum()
    lo = np.asarray(cm.params.marg.lo, dtype=np.float64)
    hi = np.asarray(cm.params.marg.hi, dtype=np.float64)
    # restarts: rational tuning's starting points for z; for w the same pattern shifted to little abstention (-2)
    starts = np.concatenate([_initial_points(k - 1, opt.n_restarts, opt.seed),
                             _initial_points(k, opt.n_restarts, opt.seed + 1) - 2.0], axis=1)
    L, N, R = lams.size, nus.size, starts.shape[0]
    x0 = np.tile(starts, (L * N, 1))
    lam_rows = np.repeat(lams, N * R)
    nu_rows = np.tile(np.repeat(nus, R), L)
    size = -(-x0.shape[0] // 32) * 32      # rational tuning's rule: multiples of 32 rows, few compiled shapes
    xb, lb, nb = (jnp.asarray(a) for a in pad_first_rows((x0, lam_rows * scale, nu_rows), size=size)[0])
    t, a, metrics = _solve(cm.params, cm.static_families, jnp.asarray(costs / scale), jnp.asarray(lo),
                           jnp.asarray(hi), xb, lb, nb, opt.n_steps)
    m = x0.shape[0]
    t, a = np.asarray(t)[:m], np.asarray(a)[:m]
    pc, pw, pa, ec = (np.asarray(v)[:m] for v in metrics)
    ec = ec * scale
    keep = pareto_mask_nd(np.column_stack([pw, ec, pa]))
    order = np.flatnonzero(keep)[np.argsort(ec[keep], kind="stable")[::-1]]       # from expensive to cheap
    info = {"n_lambdas": int(L), "n_nus": int(N), "n_restarts": int(R), "n_steps": int(opt.n_steps),
            "n_solutions": int(m), "time_s": time.perf_counter() - t0}
    return AbstentionFrontier.from_arrays(t[order], a[order], pc[order], pw[order], pa[order], ec[order],
                                          lam=lam_rows[order], nu=nu_rows[order], models=cm.models,
                                          method="rational_tuning_abstention", info=info)
