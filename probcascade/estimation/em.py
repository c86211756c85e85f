"""EM for the beta mixture of the point-mass beta-mixture marginal: a pure, vmappable core (fixed iteration count,
padding mask, Newton M-step with damping) and :func:`fit_marginal_params`, the whole marginal fit as one pure
function (ends at the observed extremes, point masses by counting, the beta mixture by EM on the interior points)."""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from probcascade.distributions.marginal import MarginalParams
from probcascade.special import TINY, betaln, digamma, trigamma



#: Box constraints on the beta shape parameters during EM.  Below 1e-4 a component is a point mass for any
#: practical purpose; above 1e6 its standard deviation is below 5e-4 of the interval.
SHAPE_MIN = 1e-4
SHAPE_MAX = 1e6
#: Default number of EM iterations (fixed, so that fits jit and vmap; see ``MarginalFit.converged``).
N_ITER = 30
_NEWTON_STEPS = 4
_N_HALVINGS = 12
_MAX_NEWTON_STEP = 2.0
_DAMPING_MIN = 1e-8
_DAMPING_MAX = 1e4
_DAMPING_FACTOR = 8.0


# ---------------------------------------------------------------------------------------------------------------
# EM for beta mixtures
# ---------------------------------------------------------------------------------------------------------------


class BetaMixtureEM(NamedTuple):
    """Result of :func:`em_beta_mixture` (a pytree).

    ``loglik`` is the interior log-likelihood of the final parameters (density on (0, 1)); ``loglik_trace`` has
    ``n_iter`` entries, the log-likelihood after each iteration (the last one is ``loglik``).
    """

    mix: Any
    alpha: Any
    beta: Any
    loglik: Any
    loglik_trace: Any


def _beta_objective(alpha, beta, s1, s2):
    """Per-observation weighted beta log-likelihood ``(a-1) E[log u] + (b-1) E[log(1-u)] - log B(a, b)``."""
    return (alpha - 1.0) * s1 + (beta - 1.0) * s2 - betaln(alpha, beta)


def _best_candidate(cand_a, cand_b, s1, s2):
    """The column of ``(cand_a, cand_b)`` (shape ``(m, k)``) with the largest weighted beta log-likelihood."""
    obj = _beta_objective(cand_a, cand_b, s1[:, None], s2[:, None])
    best = jnp.argmax(jnp.where(jnp.isfinite(obj), obj, -jnp.inf), axis=1)[:, None]
    return jnp.take_along_axis(cand_a, best, axis=1)[:, 0], jnp.take_along_axis(cand_b, best, axis=1)[:, 0]


def _m_step(stats, current):
    """Weighted beta MLE per component from sufficient statistics ``stats`` of shape ``(m, 5)``.

    Columns of ``stats``: total weight, weighted sums of ``log u``, ``log(1 - u)``, ``u`` and ``u^2``.  The start
    is the better (by the weighted log-likelihood) of the weighted method-of-moments estimate and ``current``
    (a pair of ``(m,)`` arrays); each Newton step on the digamma equations is damped by trying step lengths
    ``2^-k`` and keeping the best candidate, the current point included.  The objective therefore never
    decreases, which makes EM monotone (a generalised EM step).  Components with (numerically) zero weight keep
    their current parameters.
    """
    n_j = stats[:, 0]
    alive = n_j > 1e-10
    n_safe = jnp.where(alive, n_j, 1.0)
    s1, s2, m1, m2 = (stats[:, i] / n_safe for i in range(1, 5))
    var = m2 - m1**2
    k = m1 * (1.0 - m1) / jnp.where(var > 0, var, 1.0) - 1.0
    mom_ok = (var > 0) & (k > 0) & jnp.isfinite(k)
    mom_a = jnp.clip(jnp.where(mom_ok, m1 * k, 1.0), SHAPE_MIN, SHAPE_MAX)
    mom_b = jnp.clip(jnp.where(mom_ok, (1.0 - m1) * k, 1.0), SHAPE_MIN, SHAPE_MAX)
    a, b = _best_candidate(jnp.stack([current[0], mom_a], 1), jnp.stack([current[1], mom_b], 1), s1, s2)
    steps = 2.0 ** -jnp.arange(_N_HALVINGS)

    def newton(_, ab):
        a, b = ab
        dg = digamma(jnp.stack([a, b, a + b]))
        tg = trigamma(jnp.stack([a, b, a + b]))
        g_a, g_b = s1 - dg[0] + dg[2], s2 - dg[1] + dg[2]
        h_aa, h_bb, h_ab = tg[2] - tg[0], tg[2] - tg[1], tg[2]
        det = h_aa * h_bb - h_ab**2
        d_a = -(h_bb * g_a - h_ab * g_b) / det
        d_b = -(h_aa * g_b - h_ab * g_a) / det
        cand_a = jnp.clip(a[:, None] + steps * d_a[:, None], SHAPE_MIN, SHAPE_MAX)
        cand_b = jnp.clip(b[:, None] + steps * d_b[:, None], SHAPE_MIN, SHAPE_MAX)
        return _best_candidate(
            jnp.concatenate([a[:, None], cand_a], axis=1), jnp.concatenate([b[:, None], cand_b], axis=1), s1, s2
        )

    a, b = jax.lax.fori_loop(0, _NEWTON_STEPS, newton, (a, b))
    a, b = jnp.where(alive, a, current[0]), jnp.where(alive, b, current[1])
    total = jnp.sum(n_j)
    m = stats.shape[0]
    mix = jnp.where(total > 0, n_j / jnp.where(total > 0, total, 1.0), 1.0 / m)
    return mix, a, b


def _select(pred, on_true, on_false):
    """``jnp.where`` over matching pytrees."""
    return jax.tree_util.tree_map(lambda t, f: jnp.where(pred, t, f), on_true, on_false)


def _newton_direction(resp, psi, theta, omega_fn, damping):
    """Saddle-free Newton ascent direction for the mixture log-likelihood in the parameters ``theta``.

    The log-likelihood is ``sum_i log sum_j exp(omega_j . phi_i)`` with ``phi_i = (1, log u_i, log(1 - u_i))`` and
    ``omega_j = (log pi_j - log B(alpha_j, beta_j), alpha_j - 1, beta_j - 1)``.  In ``omega`` its gradient is
    ``sum_i r_ij phi_i`` and its Hessian ``sum_i (delta_jk r_ij - r_ij r_ik) phi_i phi_i^T`` (``r`` the
    responsibilities), i.e. weighted sums of the six products in ``psi`` (the diagonal ``r_ij^2`` terms follow from
    ``sum_k r_ik = 1``, so only the cross products are summed); the chain rule through the small map
    ``omega(theta)`` gives gradient and Hessian in ``theta``.  Eigenvalues are replaced by minus their absolute
    values, so the step is an ascent direction even away from a maximum, and increased by ``damping`` times the
    largest of them (Levenberg-Marquardt), which shortens the step towards a scaled gradient step.
    """
    m = resp.shape[1]
    sym = jnp.array([[0, 1, 2], [1, 3, 4], [2, 4, 5]])
    s1 = resp.T @ psi
    j_idx, k_idx = np.triu_indices(m, 1)
    cross = (resp[:, j_idx] * resp[:, k_idx]).T @ psi
    s2 = jnp.zeros((m, m, 6), psi.dtype).at[j_idx, k_idx].set(cross).at[k_idx, j_idx].set(cross)
    s2 = s2 + jnp.eye(m)[:, :, None] * (s1 - jnp.sum(s2, axis=1))[:, None, :]
    s1, s2 = s1[:, sym], s2[:, :, sym]
    h_omega = jnp.einsum("jk,jab->jakb", jnp.eye(m), s1) - jnp.transpose(s2, (0, 2, 1, 3))
    h_omega = h_omega.reshape(3 * m, 3 * m)
    g_omega = s1[:, 0, :].reshape(-1)
    jac = jax.jacfwd(omega_fn)(theta)
    grad = jac.T @ g_omega
    hess = jac.T @ h_omega @ jac + jax.hessian(lambda t: g_omega @ omega_fn(t))(theta)
    lam, vec = jnp.linalg.eigh(0.5 * (hess + hess.T))
    top = jnp.max(jnp.abs(lam))
    scale = jnp.maximum(jnp.abs(lam) + damping * top, 1e-10 * top + TINY)
    step = vec @ ((vec.T @ grad) / scale)
    return step * jnp.minimum(1.0, _MAX_NEWTON_STEP / jnp.maximum(jnp.max(jnp.abs(step)), 1e-300))


@partial(jax.jit, static_argnames=("n_components", "n_iter"))
def em_beta_mixture(u, mask, n_components: int = 2, n_iter: int = N_ITER, v=None) -> BetaMixtureEM:
    """Fit a mixture of ``n_components`` beta distributions to the points ``u[mask]`` in (0, 1) by EM (pure).

    Parameters
    ----------
    u : array, shape (n,)
        Data in (0, 1); entries where ``mask`` is False are ignored (padding), whatever their value.
    mask : bool array, shape (n,)
        Which entries are observations.  With a mask, datasets of different sizes can share one padded shape and
        be fitted in a single ``jax.vmap``.
    n_components : int
        Number of beta components ``m`` (static).
    n_iter : int
        Number of iterations (static; fixed so that the fit jits and vmaps).
    v : array, shape (n,), optional
        ``1 - u`` computed without cancellation (e.g. ``(hi - x) / (hi - lo)``); defaults to ``1 - u``.

    Returns
    -------
    BetaMixtureEM
        ``mix``, ``alpha``, ``beta`` of shape ``(m,)``, the final log-likelihood and its trace.

    Notes
    -----
    Initialisation is deterministic: the masked points are split into ``m`` groups at their empirical
    ``1/m, 2/m, ...`` quantiles and the first M-step fits each component to its group (weighted beta MLE from
    the better of ``Beta(1, 1)`` and the method-of-moments estimate).

    Each iteration is an EM step (E-step, then the M-step of :func:`_m_step`, which never decreases the expected
    complete-data log-likelihood) followed, for ``m > 1``, by a Newton step on the observed-data
    log-likelihood from the EM point (:func:`_newton_direction`; weights as softmax logits, shape parameters on
    the log scale).  The Newton point is kept only if its log-likelihood is at least that of the EM point, so
    the log-likelihood never decreases (an iteration whose result is lower by rounding error is not taken);
    plain EM converges linearly and very slowly when components overlap
    (thousands of iterations), the Newton steps make the end of the convergence quadratic.  An iteration
    costs two E-steps.
    """
    m = n_components
    maskf = mask.astype(u.dtype)
    u_s = jnp.where(mask, u, 0.5)
    v_s = jnp.where(mask, 1.0 - u if v is None else v, 0.5)
    log_u, log_v = jnp.log(u_s), jnp.log(v_s)
    ones = jnp.ones_like(u_s)
    feats = jnp.stack([ones, log_u, log_v, u_s, u_s**2], axis=-1) * maskf[:, None]
    psi = jnp.stack([ones, log_u, log_v, log_u**2, log_u * log_v, log_v**2], axis=-1) * maskf[:, None]
    n_valid = jnp.sum(maskf)
    rank = jnp.argsort(jnp.argsort(jnp.where(mask, u, jnp.inf)))
    group = jnp.clip(jnp.floor(rank * m / jnp.maximum(n_valid, 1.0)), 0, m - 1)
    resp0 = jax.nn.one_hot(group.astype(jnp.int32), m, dtype=u.dtype) * maskf[:, None]
    unit = jnp.ones(m, u.dtype)

    def e_step(params):
        mix, a, b = params
        logp = jnp.log(mix) + (a - 1.0) * log_u[:, None] + (b - 1.0) * log_v[:, None] - betaln(a, b)
        top = jnp.max(logp, axis=1, keepdims=True)
        w = jnp.exp(logp - top)
        total = jnp.sum(w, axis=1, keepdims=True)
        lse = (top + jnp.log(total))[:, 0]
        return w / total * maskf[:, None], jnp.sum(maskf * lse)

    def to_theta(params):
        mix, a, b = params
        log_mix = jnp.log(jnp.maximum(mix, TINY))
        return jnp.concatenate([log_mix[:-1] - log_mix[-1], jnp.log(a), jnp.log(b)])

    def from_theta(theta):
        logits = jnp.concatenate([theta[: m - 1], jnp.zeros(1, theta.dtype)])
        shapes = jnp.clip(jnp.exp(theta[m - 1 :]), SHAPE_MIN, SHAPE_MAX)
        return jax.nn.softmax(logits), shapes[:m], shapes[m:]

    def omega(theta):
        logits = jnp.concatenate([theta[: m - 1], jnp.zeros(1, theta.dtype)])
        a, b = jnp.exp(theta[m - 1 : 2 * m - 1]), jnp.exp(theta[2 * m - 1 :])
        return jnp.stack([jax.nn.log_softmax(logits) - betaln(a, b), a - 1.0, b - 1.0], axis=1).reshape(-1)

    def iteration(state, _):
        params, resp, ll, damping = state
        em_params = _m_step(resp.T @ feats, params[1:])
        em_resp, em_ll = e_step(em_params)
        if m == 1:
            return _select(em_ll >= ll, (em_params, em_resp, em_ll, damping), state), ll
        theta = to_theta(em_params)
        cand = from_theta(theta + _newton_direction(em_resp, psi, theta, omega, damping))
        cand_resp, cand_ll = e_step(cand)
        take = jnp.isfinite(cand_ll) & (cand_ll >= em_ll)
        damping = jnp.clip(jnp.where(take, damping / _DAMPING_FACTOR, damping * _DAMPING_FACTOR), _DAMPING_MIN, _DAMPING_MAX)
        new = _select(take, (cand, cand_resp, cand_ll, damping), (em_params, em_resp, em_ll, damping))
        return _select(new[2] >= ll, new, (*state[:3], damping)), ll

    # The first iteration's M-step starts from the quantile split (``resp0``) with log-likelihood -inf.
    init = ((unit / m, unit, unit), resp0, jnp.asarray(-jnp.inf, u.dtype), jnp.asarray(_DAMPING_MIN, u.dtype))
    (final, _, ll_final, _), trace = jax.lax.scan(iteration, init, None, length=n_iter)
    return BetaMixtureEM(final[0], final[1], final[2], ll_final, jnp.concatenate([trace[1:], ll_final[None]]))


@partial(jax.jit, static_argnames=("n_components", "n_iter"))
def fit_core(x, valid, lo, hi, n_components: int, n_iter: int):
    """Point masses by counting at ``lo``/``hi`` and EM on the interior (pure); returns ``(params, em, loglik)``.

    ``valid`` marks the observations (the rest is padding, so that samples of different sizes can share a
    compiled shape).  ``loglik`` is the observed-data log-likelihood of the mixed model (density w.r.t.
    Lebesgue plus counting measure at the ends).
    """
    n = jnp.sum(valid)
    n_lo = jnp.sum(valid & (x == lo))
    n_hi = jnp.sum(valid & (x == hi))
    mask = valid & (x > lo) & (x < hi)
    s = hi - lo
    s_safe = jnp.where(s > 0, s, 1.0)
    em = em_beta_mixture((x - lo) / s_safe, mask, n_components, n_iter, v=(hi - x) / s_safe)
    w_lo, w_hi = n_lo / n, n_hi / n
    params = MarginalParams(lo, hi, w_lo, w_hi, em.mix, em.alpha, em.beta)
    n_int = jnp.sum(mask)

    def xlogy(k, w):
        return jnp.where(k > 0, k * jnp.log(jnp.where(k > 0, w, 1.0)), 0.0)

    loglik = xlogy(n_lo, w_lo) + xlogy(n_hi, w_hi) + xlogy(n_int, 1.0 - w_lo - w_hi) + em.loglik - n_int * jnp.log(s_safe)
    return params, em, loglik


@partial(jax.jit, static_argnames=("n_components", "n_iter"))
def fit_marginal_params(x, n_components: int = 2, n_iter: int = N_ITER) -> MarginalParams:
    """Fit the point-mass beta mixture to ``x`` of shape ``(n,)`` (pure, jit- and vmap-able).

    ``lo``/``hi`` are the sample minimum/maximum, ``w_lo``/``w_hi`` the fractions of observations equal to them,
    and the beta mixture is fitted by :func:`em_beta_mixture` to the points strictly inside.  ``B`` bootstrap
    refits are one call: ``jax.vmap(lambda x: fit_marginal_params(x, m, n_iter))(xs)`` with ``xs`` of shape
    ``(B, n)``.
    """
    x = jnp.asarray(x, dtype=jnp.result_type(float))      # float32 input under x64 must not mix dtypes in EM
    params, _, _ = fit_core(x, jnp.ones(x.shape, bool), jnp.min(x), jnp.max(x), n_components, n_iter)
    return params


__all__ = ["BetaMixtureEM", "em_beta_mixture", "fit_marginal_params", "fit_core", "SHAPE_MIN", "SHAPE_MAX", "N_ITER"]
