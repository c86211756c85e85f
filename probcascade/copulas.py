"""Bivariate copulas, rank-based fitting and the Kendall's-transform goodness-of-fit test (seed 002, §2, §3.2, §4.3).

A copula ``C(u, v)`` is the joint distribution function of two uniform variables. The Markov-copula model joins the
calibrated confidences of adjacent models of a cascade with a Gumbel copula (eq. 9) whose parameter follows from
Kendall's tau (eq. 10, ``theta = 1 / (1 - tau)``).

Families (:data:`COPULA_FAMILIES`)
    ``gumbel`` (upper tail dependence, theta >= 1), ``clayton`` (lower tail dependence, theta > 0), ``frank``
    (no tail dependence, any real theta, negative theta for negative dependence), ``survival_gumbel`` (the Gumbel
    copula rotated by 180 degrees: lower tail dependence) and ``independence``.

Every family is a :class:`numpyro.distributions.Distribution` over the unit square (event shape ``(2,)``) with the
copula cdf ``cdf(u, v)``, the log density ``log_prob(uv)``, the conditional distribution ``h(v, u) = P(V <= v | U = u)``
and its inverse in ``v`` (``h_inv``, used for conditional sampling), Kendall's tau and the Kendall distribution
function ``kendall_K(t) = P(C(U, V) <= t)``. The formulas are evaluated in log space (``x = -log u``, log-sum-exp,
``log1mexp``) with ``u`` and ``v`` clipped to ``[1e-12, 1 - 1e-12]``, so that values, gradients in ``u``, ``v`` and
``theta`` stay finite at the boundary of the square; ``cdf`` returns the exact boundary values ``C(u, 0) = 0``,
``C(u, 1) = u``.

The copula methods are pure JAX (jit- and vmap-able) and assume the caller enabled float64 (``with
probcascade.float64():``). The fitting and testing entry points (:func:`fit_copula`, :func:`compare_copulas`,
:func:`copula_gof`, :func:`simulate_copula_gof`, :func:`kendall_tau`, :func:`kendall_tau_matrix`,
:func:`pseudo_observations`) enable it themselves and return NumPy / pandas objects.

Goodness of fit (Genest, Remillard and Beaudoin 2009, "Kendall's transform")
    ``W_i = (1/n) #{j : U_j <= U_i, V_j <= V_i}`` is the empirical copula at each pseudo-observation and ``K_n`` the
    empirical distribution function of the ``W_i``. The statistic ``S_n = n * int (K_n - K_theta)^2 dK_theta``
    compares it with the family's Kendall distribution; the study's Table 4 reports ``sqrt(n) * int (K_n -
    K_theta)^2 dK_theta`` (``sqrt_n_cvm``). The p-value comes from a parametric bootstrap run as one compiled call.
    ``statistic="plugin"`` gives the variant of the study's code (K_theta replaced by the empirical cdf of
    C_theta(U_i, V_i)); see ``experiments/results/copula_gof_llama.md`` for both on the study's data.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import numpyro.distributions as dist
from numpyro.distributions import constraints

from ._x64 import x64
from .exceptions import DataValidationError, FitError, IndependenceFallbackWarning

__all__ = [
    "Copula",
    "GumbelCopula",
    "ClaytonCopula",
    "FrankCopula",
    "SurvivalGumbelCopula",
    "IndependenceCopula",
    "COPULA_FAMILIES",
    "CopulaFit",
    "CopulaGofResult",
    "pseudo_observations",
    "kendall_tau",
    "kendall_tau_matrix",
    "fit_copula",
    "compare_copulas",
    "copula_gof",
    "simulate_copula_gof",
    "GOF_STATISTICS",
]

EPS = 1e-12
"""Copula arguments are clipped to ``[EPS, 1 - EPS]`` before the formulas are evaluated."""

_LN2 = math.log(2.0)
_FRANK_SMALL = 1e-5  # |theta| below this: first-order (FGM) expansion of the Frank copula, error O(theta^2)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(64)
_GL_X01, _GL_W01 = (_GL_X + 1.0) / 2.0, _GL_W / 2.0  # Gauss-Legendre on [0, 1]
# Kendall distribution by quadrature (families without a closed form): 32 Gauss-Legendre nodes and 40 bisection
# steps agree with the closed forms of Gumbel, Clayton and Frank to < 2e-7. The goodness-of-fit test tabulates it on
# a 128-point grid, dense near 0 and 1, and interpolates linearly (within 7e-5 for survival Gumbel, theta >= 1.05).
_K_NODES, _K_WEIGHTS = np.polynomial.legendre.leggauss(32)
_K_BISECT = 40
_K_S = np.linspace(0.0, 1.0, 129)[1:]
_K_GRID = _K_S**2 * (3.0 - 2.0 * _K_S)


# ------------------------------------------------------------------------------------------------ numerics helpers
def _clip(u: jnp.ndarray) -> jnp.ndarray:
    return jnp.clip(u, EPS, 1.0 - EPS)


def _log1mexp(x: jnp.ndarray) -> jnp.ndarray:
    """log(1 - exp(x)) for x < 0 (Maechler 2012).

    Each branch is evaluated on its own range only, so that the branch ``where`` discards has finite gradients.
    """
    near0 = jnp.log(-jnp.expm1(jnp.clip(x, -_LN2, -1e-300)))
    far = jnp.log1p(-jnp.exp(jnp.minimum(x, -_LN2)))
    return jnp.where(x > -_LN2, near0, far)


def _log_expm1(x: jnp.ndarray) -> jnp.ndarray:
    """log(exp(x) - 1) for x > 0."""
    return x + _log1mexp(-x)


def _newton_fixed_point(step, s0: jnp.ndarray, max_iter: int = 200, tol: float = 1e-14) -> jnp.ndarray:
    """Iterate ``s <- step(s)`` until the largest change is below ``tol * (1 + |s|)`` (no gradient)."""

    def cond(state):
        s, delta, it = state
        return (it < max_iter) & (delta > tol)

    def body(state):
        s, _, it = state
        s_new = step(s)
        return s_new, jnp.max(jnp.abs(s_new - s) / (1.0 + jnp.abs(s_new))), it + 1

    s0 = jax.lax.stop_gradient(s0)
    s, _, _ = jax.lax.while_loop(cond, body, (s0, jnp.asarray(jnp.inf, s0.dtype), 0))
    return jax.lax.stop_gradient(s)


# ------------------------------------------------------------------------------------------------ Gumbel core (x = -log u)
def _gumbel_log_A(x: jnp.ndarray, y: jnp.ndarray, theta: jnp.ndarray) -> jnp.ndarray:
    """log A with A = (x^theta + y^theta)^(1/theta), by log-sum-exp."""
    return jnp.logaddexp(theta * jnp.log(x), theta * jnp.log(y)) / theta


def _gumbel_log_pdf_xy(x: jnp.ndarray, y: jnp.ndarray, theta: jnp.ndarray) -> jnp.ndarray:
    """log c(u, v) of the Gumbel copula in terms of x = -log u, y = -log v."""
    la = _gumbel_log_A(x, y, theta)
    a = jnp.exp(la)
    return -a + (theta - 1.0) * (jnp.log(x) + jnp.log(y)) + x + y + (1.0 - 2.0 * theta) * la + jnp.log(a + theta - 1.0)


def _gumbel_log_h_xy(x: jnp.ndarray, y: jnp.ndarray, theta: jnp.ndarray) -> jnp.ndarray:
    """log dC/du = log P(V <= v | U = u) of the Gumbel copula, x = -log u, y = -log v."""
    la = _gumbel_log_A(x, y, theta)
    return -jnp.exp(la) + (1.0 - theta) * la + (theta - 1.0) * jnp.log(x) + x


def _gumbel_h_inv_y(logw: jnp.ndarray, x: jnp.ndarray, theta: jnp.ndarray) -> jnp.ndarray:
    """y = -log v solving h(v | u) = w for the Gumbel copula.

    With s = log A the equation is F(s) = e^s + (theta - 1) s - k = 0, k = x + (theta - 1) log x - log w. F is
    increasing and convex, so Newton's method from s0 = log(max(k, 1)) (where F >= 0) decreases monotonically to the
    root. The iterations run without gradient; one final Newton step carries the implicit-function derivative.
    """
    lx = jnp.log(x)
    k = x + (theta - 1.0) * lx - logw

    def step(s):
        return s - (jnp.exp(s) + (theta - 1.0) * s - k) / (jnp.exp(s) + theta - 1.0)

    s0 = jnp.log(jnp.maximum(k, 1.0))
    s = step(_newton_fixed_point(step, s0))
    # y = (A^theta - x^theta)^(1/theta); A >= x up to rounding
    return jnp.exp(s + _log1mexp(jnp.minimum(theta * (lx - s), -1e-300)) / theta)


# ------------------------------------------------------------------------------------------------ Frank core
def _frank_split(theta: jnp.ndarray):
    """Safe parameters of the positive / negative / near-zero branches of the Frank formulas."""
    small = jnp.abs(theta) < _FRANK_SMALL
    pos = theta > 0
    tp = jnp.where(pos & ~small, theta, 1.0)
    tn = jnp.where(~pos & ~small, -theta, 1.0)
    ts = jnp.where(small, 1.0, theta)
    return small, pos, tp, tn, ts


def _frank_log_abs_em1(z: jnp.ndarray, pos, tp, tn) -> jnp.ndarray:
    """log|expm1(-theta z)| for z in (0, 1]."""
    return jnp.where(pos, _log1mexp(-tp * z), _log_expm1(tn * z))


def _frank_log_abs_N(u, v, pos, tp, tn) -> jnp.ndarray:
    """log|N|, N = (1 - e^-theta) - (1 - e^-theta u)(1 - e^-theta v), as a sum of non-negative terms."""
    n_pos = jnp.logaddexp(-tp * u + _log1mexp(-tp * v), -tp * v + _log1mexp(-tp * (1.0 - v)))
    n_neg = jnp.logaddexp(_log_expm1(tn), _log_expm1(tn * u) + _log_expm1(tn * v))
    return jnp.where(pos, n_pos, n_neg)


def _frank_debye_integral(a: jnp.ndarray) -> jnp.ndarray:
    """int_0^a x / (e^x - 1) dx for a > 0 (Gauss-Legendre on [0, min(a, 60)]; the tail beyond 60 is < 1e-24)."""
    b = jnp.minimum(a, 60.0)[..., None]
    # explicit dtype: a NumPy float64 constant met first under x64 must not leak into a float32 trace
    x01, w01 = jnp.asarray(_GL_X01, dtype=b.dtype), jnp.asarray(_GL_W01, dtype=b.dtype)
    xs = b * x01
    return jnp.sum(b * w01 * xs / jnp.expm1(xs), axis=-1)


# ------------------------------------------------------------------------------------------------ base class
class Copula(dist.Distribution):
    """A one-parameter bivariate copula as a NumPyro distribution on the unit square.

    Parameters
    ----------
    theta : float or array
        Dependence parameter (its batch shape becomes the distribution's batch shape).
    validate_args : bool, optional
        NumPyro argument validation.

    Notes
    -----
    A family sets the class attributes ``name``, ``theta_bounds``, ``positive_only`` (tau <= 0 not representable),
    ``n_params`` and ``closed_form_K``, and implements the elementwise static primitives ``_cdf(u, v, theta)``,
    ``_log_pdf(u, v, theta)``, ``_h(v, u, theta)``, ``_h_inv(w, u, theta)`` (arguments already clipped to
    ``[EPS, 1 - EPS]``), ``_tau(theta)``, ``_theta(tau)`` and, where a closed form exists, ``_K(t, theta)`` (else the
    quadrature below is used). The public methods broadcast ``u``, ``v`` against ``theta``, are jit-compiled per
    family and are safe on the closed unit square.
    """

    name: ClassVar[str] = ""
    theta_bounds: ClassVar[tuple[float, float]] = (-np.inf, np.inf)
    positive_only: ClassVar[bool] = True
    n_params: ClassVar[int] = 1
    closed_form_K: ClassVar[bool] = True
    arg_constraints = {"theta": constraints.real}
    support = constraints.independent(constraints.unit_interval, 1)
    reparametrized_params = ["theta"]

    def __init__(self, theta, *, validate_args: bool | None = None) -> None:
        self.theta = jnp.asarray(theta, dtype=float)
        super().__init__(batch_shape=jnp.shape(self.theta), event_shape=(2,), validate_args=validate_args)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(theta={np.asarray(self.theta)!r})"

    # --------------------------------------------------------------------------- family primitives
    @classmethod
    def _K(cls, t, theta):
        """Kendall distribution by quadrature: K(t) = t + int_t^1 P(V <= v*(u, t) | U = u) du, C(u, v*) = t.

        Used by families without a closed form. The u-integral uses Gauss-Legendre nodes after the substitution
        u = t + (1 - t) r^3 (10 - 15 r + 6 r^2), which clusters nodes at both ends where the integrand has power-law
        singularities; v* is found by bisection on [t, 1] (C(u, v) <= v).
        """
        t = jnp.asarray(t)[..., None]
        theta = jnp.asarray(theta)[..., None]
        r = (_K_NODES + 1.0) / 2.0
        s = r**3 * (10.0 - 15.0 * r + 6.0 * r**2)
        ds = 30.0 * r**2 * (1.0 - r) ** 2 * _K_WEIGHTS / 2.0
        u = _clip(t + (1.0 - t) * s)
        lo = jnp.broadcast_to(t, u.shape)
        hi = jnp.ones_like(lo)

        def body(_, bounds):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            below = cls._cdf(u, _clip(mid), theta) < t
            return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

        lo, hi = jax.lax.fori_loop(0, _K_BISECT, body, (lo, hi))
        integrand = cls._h(_clip(0.5 * (lo + hi)), u, theta)
        return t[..., 0] + (1.0 - t[..., 0]) * jnp.sum(ds * integrand, axis=-1)

    @classmethod
    def _K_fast(cls, t, theta):
        """Kendall distribution at many points for one theta: closed form, or the quadrature tabulated on a grid."""
        if cls.closed_form_K:
            return cls._K(_clip(t), theta)
        grid = jnp.asarray(_K_GRID)
        return jnp.interp(t, jnp.concatenate([jnp.zeros(1), grid]), jnp.concatenate([jnp.zeros(1), cls._K(grid, theta)]))

    @classmethod
    def _clip_theta(cls, theta):
        lo, hi = cls.theta_bounds
        return jnp.clip(theta, lo, hi)

    @classmethod
    def _theta_from_tau(cls, tau):
        """theta(tau) clipped to the family's bounds (pure JAX; positive-only families map tau <= 0 to the bound)."""
        return cls._clip_theta(cls._theta(jnp.clip(tau, -1.0 + 1e-12, 1.0 - 1e-12)))

    # --------------------------------------------------------------------------- public API
    def cdf(self, u, v):
        """C(u, v), clipped to the Frechet bounds, hence exact on the boundary (C(u, 0) = 0, C(u, 1) = u)."""
        return _eval_cdf(type(self), u, v, self.theta)

    def log_prob(self, value):
        """Log copula density log c(u, v) of points ``value[..., 0] = u``, ``value[..., 1] = v``."""
        if self._validate_args:
            self._validate_sample(value)
        return _eval_log_prob(type(self), value, self.theta)

    def h(self, v, u):
        """P(V <= v | U = u) = dC(u, v)/du."""
        return _eval_h(type(self), v, u, self.theta)

    def h_inv(self, w, u):
        """The v with h(v, u) = w (conditional quantile of V given U = u); w and u are clipped to the open square."""
        return _eval_h_inv(type(self), w, u, self.theta)

    def sample(self, key, sample_shape=()):
        """Draw (u, v) pairs by conditional inversion: u ~ U(0, 1), v = h_inv(w, u) with w ~ U(0, 1)."""
        return _eval_sample(type(self), key, self.theta, tuple(sample_shape) + tuple(self.batch_shape))

    def kendall_K(self, t):
        """Kendall distribution function K(t) = P(C(U, V) <= t)."""
        return _eval_kendall_K(type(self), t, self.theta)

    @property
    def tau(self):
        """Kendall's tau of the copula."""
        return _eval_tau(type(self), self.theta)

    @classmethod
    def theta_from_tau(cls, tau):
        """theta giving Kendall's tau ``tau`` (clipped to the family's parameter range)."""
        return _eval_theta_from_tau(cls, tau)

    @classmethod
    def tau_from_theta(cls, theta):
        """Kendall's tau of the family at ``theta``."""
        return _eval_tau(cls, theta)


# The public methods run through these jit-compiled evaluators (one compilation per family and input shape, instead
# of op-by-op dispatch); inside a caller's jit they are simply inlined.
def _float(x) -> jnp.ndarray:
    return jnp.asarray(x, dtype=float)


@partial(jax.jit, static_argnums=0)
def _eval_cdf(cls: type[Copula], u, v, theta):
    u, v = _float(u), _float(v)
    c = cls._cdf(_clip(u), _clip(v), theta)
    uc, vc = jnp.clip(u, 0.0, 1.0), jnp.clip(v, 0.0, 1.0)
    lower = jnp.maximum(jnp.maximum(uc - (1.0 - vc), vc - (1.0 - uc)), 0.0)  # u + v - 1, exact when u or v is 1
    return jnp.clip(c, lower, jnp.minimum(uc, vc))  # Frechet bounds: exact boundary values


@partial(jax.jit, static_argnums=0)
def _eval_log_prob(cls: type[Copula], value, theta):
    value = _float(value)
    return cls._log_pdf(_clip(value[..., 0]), _clip(value[..., 1]), theta)


@partial(jax.jit, static_argnums=0)
def _eval_h(cls: type[Copula], v, u, theta):
    v, u = _float(v), _float(u)
    return jnp.where(v >= 1.0, 1.0, jnp.where(v <= 0.0, 0.0, cls._h(_clip(v), _clip(u), theta)))


@partial(jax.jit, static_argnums=0)
def _eval_h_inv(cls: type[Copula], w, u, theta):
    return cls._h_inv(_clip(_float(w)), _clip(_float(u)), theta)


@partial(jax.jit, static_argnums=(0, 3))
def _eval_sample(cls: type[Copula], key, theta, shape: tuple[int, ...]):
    ku, kw = jax.random.split(key)
    u = jax.random.uniform(ku, shape, dtype=theta.dtype)
    w = jax.random.uniform(kw, shape, dtype=theta.dtype)
    return jnp.stack([u, cls._h_inv(_clip(w), _clip(u), theta)], axis=-1)


@partial(jax.jit, static_argnums=0)
def _eval_kendall_K(cls: type[Copula], t, theta):
    t = _float(t)
    return jnp.where(t <= 0.0, 0.0, jnp.where(t >= 1.0, 1.0, cls._K(_clip(t), theta)))


@partial(jax.jit, static_argnums=0)
def _eval_tau(cls: type[Copula], theta):
    return cls._tau(_float(theta))


@partial(jax.jit, static_argnums=0)
def _eval_theta_from_tau(cls: type[Copula], tau):
    return cls._theta_from_tau(_float(tau))


# ------------------------------------------------------------------------------------------------ families
class GumbelCopula(Copula):
    """Gumbel copula (eq. 9): C(u, v) = exp(-((-log u)^theta + (-log v)^theta)^(1/theta)), theta >= 1.

    Upper tail dependence 2 - 2^(1/theta); Kendall's tau = 1 - 1/theta (eq. 10); K(t) = t - t log(t) / theta.
    """

    name = "gumbel"
    theta_bounds = (1.0, 200.0)
    arg_constraints = {"theta": constraints.greater_than_eq(1.0)}

    @staticmethod
    def _cdf(u, v, theta):
        return jnp.exp(-jnp.exp(_gumbel_log_A(-jnp.log(u), -jnp.log(v), theta)))

    @staticmethod
    def _log_pdf(u, v, theta):
        return _gumbel_log_pdf_xy(-jnp.log(u), -jnp.log(v), theta)

    @staticmethod
    def _h(v, u, theta):
        return jnp.exp(_gumbel_log_h_xy(-jnp.log(u), -jnp.log(v), theta))

    @staticmethod
    def _h_inv(w, u, theta):
        return jnp.exp(-_gumbel_h_inv_y(jnp.log(w), -jnp.log(u), theta))

    @classmethod
    def _K(cls, t, theta):
        return t - t * jnp.log(t) / theta

    @staticmethod
    def _tau(theta):
        return 1.0 - 1.0 / theta

    @staticmethod
    def _theta(tau):
        return 1.0 / (1.0 - tau)


class SurvivalGumbelCopula(Copula):
    """Gumbel copula rotated by 180 degrees: C(u, v) = u + v - 1 + C_G(1 - u, 1 - v), theta >= 1.

    Lower tail dependence; tau as for Gumbel. The formulas use -log1p(-u) so that no precision is lost near 0; the
    Kendall distribution has no closed form and is computed by quadrature.
    """

    name = "survival_gumbel"
    theta_bounds = (1.0, 200.0)
    closed_form_K = False
    arg_constraints = {"theta": constraints.greater_than_eq(1.0)}

    @staticmethod
    def _cdf(u, v, theta):
        xb, yb = -jnp.log1p(-u), -jnp.log1p(-v)
        c = u + v + jnp.expm1(-jnp.exp(_gumbel_log_A(xb, yb, theta)))
        return jnp.clip(c, u * v, jnp.minimum(u, v))  # positive quadrant dependence: uv <= C <= min(u, v)

    @staticmethod
    def _log_pdf(u, v, theta):
        return _gumbel_log_pdf_xy(-jnp.log1p(-u), -jnp.log1p(-v), theta)

    @staticmethod
    def _h(v, u, theta):
        return -jnp.expm1(_gumbel_log_h_xy(-jnp.log1p(-u), -jnp.log1p(-v), theta))

    @staticmethod
    def _h_inv(w, u, theta):
        return -jnp.expm1(-_gumbel_h_inv_y(jnp.log1p(-w), -jnp.log1p(-u), theta))

    _tau = staticmethod(GumbelCopula._tau)
    _theta = staticmethod(GumbelCopula._theta)


class ClaytonCopula(Copula):
    """Clayton copula: C(u, v) = (u^-theta + v^-theta - 1)^(-1/theta), theta > 0.

    Lower tail dependence 2^(-1/theta); tau = theta / (theta + 2); K(t) = t + t (1 - t^theta) / theta.
    """

    name = "clayton"
    theta_bounds = (1e-10, 400.0)
    arg_constraints = {"theta": constraints.positive}

    @staticmethod
    def _log_S(u, v, theta):
        """log(u^-theta + v^-theta - 1) = a + b + log(1 - (1 - e^-a)(1 - e^-b)), a = -theta log u, b = -theta log v.

        Smooth in (a, b) (no max/min, so second derivatives are right on the diagonal u = v): log1p of the product
        when min(a, b) < 1, else log(e^-a + e^-b (1 - e^-a)), a sum of positive terms (no cancellation).
        """
        a, b = -theta * jnp.log(u), -theta * jnp.log(v)
        small = jnp.minimum(a, b) < 1.0
        a_s, b_s = jnp.where(small, a, 0.5), jnp.where(small, b, 0.5)
        a_l, b_l = jnp.where(small, 1.0, a), jnp.where(small, 1.0, b)
        log_small = jnp.log1p(-jnp.expm1(-a_s) * jnp.expm1(-b_s))
        log_large = jnp.logaddexp(-a_l, -b_l + _log1mexp(-a_l))
        return a + b + jnp.where(small, log_small, log_large)

    @staticmethod
    def _cdf(u, v, theta):
        return jnp.exp(-ClaytonCopula._log_S(u, v, theta) / theta)

    @staticmethod
    def _log_pdf(u, v, theta):
        ls = ClaytonCopula._log_S(u, v, theta)
        return jnp.log1p(theta) - (theta + 1.0) * (jnp.log(u) + jnp.log(v)) - (1.0 / theta + 2.0) * ls

    @staticmethod
    def _h(v, u, theta):
        ls = ClaytonCopula._log_S(u, v, theta)
        return jnp.exp(-(theta + 1.0) * jnp.log(u) - (1.0 / theta + 1.0) * ls)

    @staticmethod
    def _h_inv(w, u, theta):
        # v = ((w^(-theta/(1+theta)) - 1) u^-theta + 1)^(-1/theta), in log space
        p = -theta / (1.0 + theta) * jnp.log(w)
        alpha = _log_expm1(p) - theta * jnp.log(u)
        return jnp.exp(-jax.nn.softplus(alpha) / theta)

    @classmethod
    def _K(cls, t, theta):
        return t - t * jnp.expm1(theta * jnp.log(t)) / theta

    @staticmethod
    def _tau(theta):
        return theta / (theta + 2.0)

    @staticmethod
    def _theta(tau):
        return 2.0 * tau / (1.0 - tau)


class FrankCopula(Copula):
    """Frank copula: C(u, v) = -log(1 + (e^-theta u - 1)(e^-theta v - 1) / (e^-theta - 1)) / theta, theta real.

    Radially symmetric, no tail dependence, negative dependence for theta < 0. tau = 1 - 4 (1 - D1(theta)) / theta
    with the Debye function D1. For |theta| < 1e-5 the first-order (FGM) expansion is used.
    """

    name = "frank"
    theta_bounds = (-700.0, 700.0)
    positive_only = False

    @staticmethod
    def _cdf(u, v, theta):
        small, pos, tp, tn, ts = _frank_split(theta)
        log_e = jnp.where(pos, _log1mexp(-tp), _log_expm1(tn))
        c = -(_frank_log_abs_N(u, v, pos, tp, tn) - log_e) / ts
        return jnp.where(small, u * v * (1.0 + 0.5 * theta * (1.0 - u) * (1.0 - v)), c)

    @staticmethod
    def _log_pdf(u, v, theta):
        small, pos, tp, tn, ts = _frank_split(theta)
        log_e = jnp.where(pos, _log1mexp(-tp), _log_expm1(tn))
        lp = jnp.log(jnp.abs(ts)) + log_e - ts * (u + v) - 2.0 * _frank_log_abs_N(u, v, pos, tp, tn)
        return jnp.where(small, jnp.log1p(0.5 * theta * (1.0 - 2.0 * u) * (1.0 - 2.0 * v)), lp)

    @staticmethod
    def _h(v, u, theta):
        small, pos, tp, tn, ts = _frank_split(theta)
        lh = -ts * u + _frank_log_abs_em1(v, pos, tp, tn) - _frank_log_abs_N(u, v, pos, tp, tn)
        return jnp.where(small, v + 0.5 * theta * v * (1.0 - v) * (1.0 - 2.0 * u), jnp.exp(lh))

    @staticmethod
    def _h_inv(w, u, theta):
        small, _, _, _, ts = _frank_split(theta)
        lw, l1w = jnp.log(w), jnp.log1p(-w)
        log1pa = jnp.logaddexp(l1w - ts * u, lw - ts) - jnp.logaddexp(lw, l1w - ts * u)
        return jnp.where(small, w - 0.5 * theta * w * (1.0 - w) * (1.0 - 2.0 * u), -log1pa / ts)

    @classmethod
    def _K(cls, t, theta):
        small, pos, tp, tn, ts = _frank_split(theta)
        log_e = jnp.where(pos, _log1mexp(-tp), _log_expm1(tn))
        k = t - jnp.expm1(ts * t) / ts * (_frank_log_abs_em1(t, pos, tp, tn) - log_e)
        lt = jnp.log(t)
        return jnp.where(small, t - t * lt - 0.5 * theta * (t * (1.0 - t) + t * t * lt), k)

    @staticmethod
    def _tau(theta):
        a = jnp.abs(theta)
        big = a >= 1e-3
        ab = jnp.where(big, a, 1.0)
        tau_big = 1.0 - 4.0 / ab + 4.0 * _frank_debye_integral(ab) / ab**2
        tau_small = a / 9.0 - a**3 / 900.0
        return jnp.sign(theta) * jnp.where(big, tau_big, tau_small)

    @staticmethod
    def _theta(tau):
        """Invert tau(theta) by bisection on [0, 700] (tau is increasing); a final Newton step gives the gradient."""
        target = jnp.abs(tau)
        lo, hi = jnp.zeros_like(target), jnp.full_like(target, 700.0)

        def body(_, bounds):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            below = FrankCopula._tau(mid) < target
            return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

        lo, hi = jax.lax.fori_loop(0, 80, body, (jax.lax.stop_gradient(lo), jax.lax.stop_gradient(hi)))
        th = jax.lax.stop_gradient(0.5 * (lo + hi))
        slope = jax.jvp(FrankCopula._tau, (th,), (jnp.ones_like(th),))[1]   # elementwise derivative
        th = th - (FrankCopula._tau(th) - target) / slope
        return jnp.sign(tau) * th


class IndependenceCopula(Copula):
    """Independence copula C(u, v) = u v. ``theta`` is ignored (kept so every family is built the same way)."""

    name = "independence"
    theta_bounds = (0.0, 0.0)
    positive_only = False
    n_params = 0

    def __init__(self, theta=0.0, *, validate_args: bool | None = None) -> None:
        super().__init__(jnp.zeros_like(jnp.asarray(theta, dtype=float)), validate_args=validate_args)

    @staticmethod
    def _cdf(u, v, theta):
        return u * v + 0.0 * theta

    @staticmethod
    def _log_pdf(u, v, theta):
        return jnp.zeros(jnp.broadcast_shapes(jnp.shape(u), jnp.shape(v), jnp.shape(theta)))

    @staticmethod
    def _h(v, u, theta):
        return jnp.broadcast_to(v, jnp.broadcast_shapes(jnp.shape(u), jnp.shape(v), jnp.shape(theta)))

    @staticmethod
    def _h_inv(w, u, theta):
        return jnp.broadcast_to(w, jnp.broadcast_shapes(jnp.shape(u), jnp.shape(w), jnp.shape(theta)))

    @classmethod
    def _K(cls, t, theta):
        return t - t * jnp.log(t) + 0.0 * theta

    @staticmethod
    def _tau(theta):
        return jnp.zeros_like(theta)

    @staticmethod
    def _theta(tau):
        return jnp.zeros_like(tau)


COPULA_FAMILIES: dict[str, type[Copula]] = {
    c.name: c for c in (GumbelCopula, ClaytonCopula, FrankCopula, SurvivalGumbelCopula, IndependenceCopula)
}
"""Copula family name -> class."""


def _family(family: str | type[Copula]) -> type[Copula]:
    if isinstance(family, type) and issubclass(family, Copula):
        return family
    if family not in COPULA_FAMILIES:
        raise DataValidationError(f"unknown copula family '{family}' (choose from {sorted(COPULA_FAMILIES)})")
    return COPULA_FAMILIES[family]


# ------------------------------------------------------------------------------------------------ validation
def _is_traced(*xs) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in xs)


def _vector(x, name: str, *, unit: bool = False, min_n: int = 3) -> np.ndarray:
    """A finite 1-d float vector (in [0, 1] if ``unit``) of length >= ``min_n``, or DataValidationError naming it."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"argument '{name}' is not numeric: {exc}") from exc
    if a.ndim != 1:
        raise DataValidationError(f"argument '{name}' must be a 1-d vector, got shape {a.shape}")
    if np.isnan(a).any():
        raise DataValidationError(f"argument '{name}' contains {int(np.isnan(a).sum())} NaN value(s)")
    if not np.isfinite(a).all():
        raise DataValidationError(f"argument '{name}' contains infinite values")
    if unit and ((a < 0.0) | (a > 1.0)).any():
        raise DataValidationError(
            f"argument '{name}' must lie in [0, 1] (pseudo-observations); got range [{a.min():.4g}, {a.max():.4g}]"
        )
    if a.size < min_n:
        raise DataValidationError(f"argument '{name}' has {a.size} observation(s); at least {min_n} are needed")
    return a


def _pair(x, y, names: tuple[str, str] = ("u", "v"), *, unit: bool = True) -> tuple[np.ndarray, np.ndarray]:
    a, b = _vector(x, names[0], unit=unit), _vector(y, names[1], unit=unit)
    if a.size != b.size:
        raise DataValidationError(f"arguments '{names[0]}' and '{names[1]}' differ in length ({a.size} vs {b.size})")
    return a, b


def _check_theta(cls: type[Copula], theta) -> float:
    try:
        th = float(theta)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"parameter 'theta' of the {cls.name} copula must be a number, got {theta!r}") from exc
    lo, hi = cls.theta_bounds
    if cls.n_params and not (np.isfinite(th) and lo <= th <= hi):
        raise DataValidationError(f"parameter 'theta' = {th!r} of the {cls.name} copula is outside [{lo}, {hi}]")
    return th


# ------------------------------------------------------------------------------------------------ rank statistics (core)
def _ranks_pseudo(x: jnp.ndarray) -> jnp.ndarray:
    """Average ranks / (n + 1) along axis 0 (ties share their mean rank)."""
    xs = jnp.sort(x)
    left = jnp.searchsorted(xs, x, side="left").astype(x.dtype)  # searchsorted returns int32
    right = jnp.searchsorted(xs, x, side="right").astype(x.dtype)
    return (left + right + 1) / 2.0 / (x.shape[0] + 1)


def _row_blocks(n: int, block: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Row indices (n_blocks, block) covering 0..n-1, clamped into range, and the unclamped indices."""
    block = max(1, min(block, n))
    raw = jnp.arange(-(-n // block) * block).reshape(-1, block)
    return jnp.minimum(raw, n - 1), raw


def _pairwise_sums(x: jnp.ndarray, y: jnp.ndarray, kernel, n_valid, block: int = 256) -> jnp.ndarray:
    """sum over ordered pairs i, j < n_valid of kernel(x_i, x_j, y_i, y_j), in row blocks (O(n^2) time)."""
    rows, raw = _row_blocks(x.shape[0], block)
    col_ok = jnp.arange(x.shape[0]) < n_valid

    def one(args):
        r, rr = args
        ok = (rr < n_valid)[:, None] & col_ok[None, :]
        k = kernel(x[r][:, None], x[None, :], y[r][:, None], y[None, :])
        return jnp.sum(jnp.where(ok[..., None], k, 0.0), axis=(0, 1))

    return jnp.sum(jax.lax.map(one, (rows, raw)), axis=0)


def _tau_kernel(xi, xj, yi, yj):
    sx, sy = jnp.sign(xi - xj), jnp.sign(yi - yj)
    return jnp.stack([sx * sy, (sx == 0) * 1.0, (sy == 0) * 1.0], axis=-1)


def _kendall_tau_b(x: jnp.ndarray, y: jnp.ndarray, n_valid=None) -> jnp.ndarray:
    """Kendall's tau-b (tie-corrected) of the first ``n_valid`` entries (default all); O(n^2), vmap-able.

    NaN when either vector is constant.
    """
    n = x.shape[0] if n_valid is None else n_valid
    s, tx, ty = _pairwise_sums(x, y, _tau_kernel, n)
    n0 = n * (n - 1) / 2.0
    n1, n2 = (tx - n) / 2.0, (ty - n) / 2.0  # tied pairs (the diagonal counts as a tie)
    return (s / 2.0) / jnp.sqrt((n0 - n1) * (n0 - n2))


def _empirical_copula_counts(u: jnp.ndarray, v: jnp.ndarray, block: int = 256) -> jnp.ndarray:
    """#{j : u_j <= u_i and v_j <= v_i} for every i (the point itself included), O(n^2) in row blocks."""
    rows, _ = _row_blocks(u.shape[0], block)

    def one(r):
        return jnp.sum((u[None, :] <= u[r][:, None]) & (v[None, :] <= v[r][:, None]), axis=1)

    return jax.lax.map(one, rows).reshape(-1)[: u.shape[0]]  # padding rows sit at the end


# Data of different sizes share compiled code: arrays are padded to a multiple of _BUCKET with _PAD, a value above
# every copula argument, so that padded entries sort last and never count as "<=" a real one; the true size n is
# a traced argument and masks the padding out.
_BUCKET = 128
_PAD = 2.0


def _capacity(n: int) -> int:
    return -(-n // _BUCKET) * _BUCKET


def _padded(x: np.ndarray) -> jnp.ndarray:
    return jnp.asarray(np.concatenate([x, np.full(_capacity(x.size) - x.size, _PAD)]))


_kendall_tau_b_jit = jax.jit(_kendall_tau_b)


# ------------------------------------------------------------------------------------------------ goodness of fit (core)
def _cvm_integral(k_sorted: jnp.ndarray, n) -> jnp.ndarray:
    """int_0^1 (K_n - K)^2 dK, exactly, given K at the sorted W_(1) <= ... <= W_(n) (then padding with K = 1).

    K_n = i/n on [W_(i), W_(i+1)) (W_(0) = 0, W_(n+1) = 1), so each piece integrates to
    ((K(W_(i+1)) - i/n)^3 - (K(W_(i)) - i/n)^3) / 3; pieces past the n-th have zero length.
    """
    level = jnp.arange(k_sorted.shape[0] + 1) / n
    lo = jnp.concatenate([jnp.zeros(1, k_sorted.dtype), k_sorted])
    hi = jnp.concatenate([k_sorted, jnp.ones(1, k_sorted.dtype)])
    return jnp.sum((hi - level) ** 3 - (lo - level) ** 3) / 3.0


GOF_STATISTICS = ("kendall", "plugin")
"""``kendall``: Genest, Remillard and Beaudoin (2009); ``plugin``: the variant of the study's code."""


def _gof_statistics(w, u, v, n, theta, cls: type[Copula]) -> jnp.ndarray:
    """Both versions of int (K_n - K_theta)^2 dK_theta, as [kendall, plugin] (first n entries valid, padding _PAD).

    ``kendall``: K_theta is the family's Kendall distribution (Genest et al. 2009). ``plugin`` (the study's code):
    K_theta is the empirical cdf of c_i = C_theta(U_i, V_i) at the pseudo-observations; against that step function
    the integral is (1/n) sum_k (K_n(c_(k)) - (k - 1/2)/n)^2 (midpoint value at each jump).
    """
    i = jnp.arange(w.shape[0])
    ws = jnp.sort(w)
    kendall = _cvm_integral(jnp.where(i < n, cls._K_fast(jnp.minimum(ws, 1.0), theta), 1.0), n)
    c = jnp.sort(jnp.where(i < n, cls._cdf(_clip(u), _clip(v), theta), _PAD))
    k_n = jnp.searchsorted(ws, c, side="right").astype(w.dtype) / n
    plugin = jnp.sum(jnp.where(i < n, (k_n - (i + 0.5) / n) ** 2, 0.0)) / n
    return jnp.stack([kendall, plugin])


@partial(jax.jit, static_argnames=("cls",))
def _gof_observed(u: jnp.ndarray, v: jnp.ndarray, n, theta, cls: type[Copula]) -> jnp.ndarray:
    w = jnp.where(jnp.arange(u.shape[0]) < n, _empirical_copula_counts(u, v) / n, _PAD)
    return _gof_statistics(w, u, v, n, theta, cls)


def _bootstrap_replicate(key, theta, n, reestimate, *, cap: int, cls: type[Copula]) -> jnp.ndarray:
    """One parametric-bootstrap draw of both statistics: sample n points from C_theta, rank, re-estimate theta (if
    ``reestimate``), evaluate.

    The u's are drawn already sorted, as normalised partial sums of n + 1 exponentials (Renyi's representation of
    uniform order statistics), and v_i = h_inv(w_i, u_i). Then U_j <= U_i iff j <= i, so
    W_i = #{j <= i : V_j <= V_i} / n, and the number of concordant pairs is sum_i (n W_i - 1), which gives tau.
    """
    ku, kw = jax.random.split(key)
    i = jnp.arange(cap)
    valid = i < n
    spacings = jax.random.exponential(ku, (cap + 1,), dtype=theta.dtype)
    partial_sums = jnp.cumsum(jnp.where(jnp.arange(cap + 1) <= n, spacings, 0.0))
    u = partial_sums[:cap] / partial_sums[n]
    w = jax.random.uniform(kw, (cap,), dtype=theta.dtype)
    v = jnp.where(valid, cls._h_inv(_clip(w), _clip(u), theta), _PAD)
    counts = jnp.sum((v[None, :] <= v[:, None]) & (i[None, :] <= i[:, None]), axis=1)
    tau = 4.0 * jnp.sum(jnp.where(valid, counts - 1, 0)) / (n * (n - 1.0)) - 1.0
    theta = jnp.where(reestimate, cls._theta_from_tau(tau), theta)
    pu = jnp.where(valid, (i + 1.0) / (n + 1.0), _PAD)
    pv = jnp.where(valid, (jnp.searchsorted(jnp.sort(v), v, side="left").astype(v.dtype) + 1.0) / (n + 1.0), _PAD)
    return _gof_statistics(jnp.where(valid, counts / n, _PAD), pu, pv, n, theta, cls)


@partial(jax.jit, static_argnames=("cap", "cls", "n_boot", "batch_size"))
def _gof_bootstrap(key, theta, n, reestimate, *, cap: int, cls: type[Copula], n_boot: int, batch_size: int):
    """All B bootstrap draws of both statistics, shape (B, 2), in one call: lax.map over replicates, vmapped in
    batches of ``batch_size``. Sample size, theta and the re-estimation switch are traced, so data of any size up to
    ``cap`` and both null hypotheses share one compilation."""
    replicate = partial(_bootstrap_replicate, theta=theta, n=n, reestimate=reestimate, cap=cap, cls=cls)
    return jax.lax.map(replicate, jax.random.split(key, n_boot), batch_size=batch_size)


def _boot_batch_size(n: int, n_boot: int, budget: int = 4_000_000) -> int:
    """Replicates per vmapped batch so that one batch's n x n comparison fits ``budget`` elements."""
    return int(max(1, min(n_boot, budget // (n * n))))


# ------------------------------------------------------------------------------------------------ maximum likelihood (core)
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


@partial(jax.jit, static_argnames=("cls",))
def _mle_core(u: jnp.ndarray, v: jnp.ndarray, n, cls: type[Copula]):
    """Maximise the log-likelihood of the first n points over the family's whole parameter range.

    The search runs over Kendall's tau (bounded, and monotone in theta): the negative log-likelihood is evaluated on
    a grid of 201 tau values spanning the family's range, then golden-section search refines the best grid cell to
    machine precision. Only function values are needed (no second derivatives to compile).
    """
    lo, hi = (cls._tau(jnp.asarray(b, dtype=u.dtype)) for b in cls.theta_bounds)

    def nll(tau):
        return -_loglik(u, v, n, cls._theta_from_tau(tau), cls)

    grid = jnp.linspace(lo, hi, 201)
    values = jax.vmap(nll)(grid)
    k = jnp.argmin(jnp.where(jnp.isfinite(values), values, jnp.inf))
    a, b = grid[jnp.maximum(k - 1, 0)], grid[jnp.minimum(k + 1, grid.size - 1)]

    def golden(_, bracket):
        a, b = bracket
        c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
        left = nll(c) < nll(d)
        return jnp.where(left, a, c), jnp.where(left, d, b)

    a, b = jax.lax.fori_loop(0, 80, golden, (a, b))
    return cls._theta_from_tau(0.5 * (a + b))


@partial(jax.jit, static_argnames=("cls",))
def _loglik(u: jnp.ndarray, v: jnp.ndarray, n, theta, cls: type[Copula]) -> jnp.ndarray:
    """Copula log-likelihood of the first n (padded) points."""
    return jnp.sum(jnp.where(jnp.arange(u.shape[0]) < n, cls._log_pdf(_clip(u), _clip(v), theta), 0.0))


# ------------------------------------------------------------------------------------------------ results
def _kv_table(title: str, rows: Sequence[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    line = "=" * max(len(title), width + 24)
    return "\n".join([title, line, *(f"{k:<{width}}  {val:>20}" for k, val in rows), line])


@dataclass(frozen=True)
class CopulaFit:
    """A copula fitted to pseudo-observations.

    Attributes
    ----------
    family : str
        Fitted family (``"independence"`` after a fallback).
    theta : float
        Dependence parameter (0 for independence).
    tau : float
        Empirical Kendall's tau-b of the data.
    n : int
        Number of observations.
    loglik, aic : float
        Copula log-likelihood at ``theta`` and AIC = 2 k - 2 loglik (k = number of parameters).
    method : {"tau", "mle"}
    requested_family : str
        The family asked for (differs from ``family`` after an independence fallback).
    """

    family: str
    theta: float
    tau: float
    n: int
    loglik: float
    aic: float
    method: str
    requested_family: str

    @property
    def copula(self) -> Copula:
        """The fitted copula as a distribution object."""
        return COPULA_FAMILIES[self.family](self.theta)

    @property
    def n_params(self) -> int:
        return COPULA_FAMILIES[self.family].n_params

    def summary(self) -> str:
        fam = self.family if self.family == self.requested_family else f"{self.family} (fallback from {self.requested_family})"
        rows = [("family", fam), ("method", self.method), ("n", str(self.n)), ("theta", f"{self.theta:.6g}"),
                ("Kendall tau (data)", f"{self.tau:.4f}"), ("log-likelihood", f"{self.loglik:.4f}"), ("AIC", f"{self.aic:.4f}")]
        return _kv_table("Copula fit", rows)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"family": self.family, "requested_family": self.requested_family, "method": self.method,
                              "n": self.n, "theta": self.theta, "tau": self.tau, "n_params": self.n_params,
                              "loglik": self.loglik, "aic": self.aic}])


@dataclass(frozen=True)
class CopulaGofResult:
    """Kendall's-transform Cramer-von Mises goodness-of-fit test of a copula family.

    Attributes
    ----------
    family : str
    theta : float
        Parameter of the null copula (estimated from ``tau`` or given).
    tau : float
        Empirical Kendall's tau-b of the tested data.
    n : int
    statistic : float
        S_n = n * int (K_n - K_theta)^2 dK_theta (Genest, Remillard and Beaudoin 2009 for ``statistic_kind =
        "kendall"``).
    sqrt_n_cvm : float
        sqrt(n) * int (K_n - K_theta)^2 dK_theta, the scale of the study's Table 4.
    p_value : float
        (1 + #{T_b >= T}) / (B + 1) from the parametric bootstrap.
    n_boot : int
    theta_estimated : bool
        True when theta was estimated on the data and re-estimated on every bootstrap sample (composite null);
        False when theta was given (fully specified null).
    statistic_kind : {"kendall", "plugin"}
        Which K_theta the statistic uses (see :func:`copula_gof`).
    boot_statistics : ndarray
        The B bootstrap values of ``statistic``.
    """

    family: str
    theta: float
    tau: float
    n: int
    statistic: float
    sqrt_n_cvm: float
    p_value: float
    n_boot: int
    theta_estimated: bool
    statistic_kind: str
    boot_statistics: np.ndarray = field(repr=False, compare=False)

    def rejects(self, alpha: float = 0.05) -> bool:
        """Whether the test rejects the family at level ``alpha``."""
        return self.p_value <= alpha

    def summary(self) -> str:
        null = "theta re-estimated per bootstrap sample" if self.theta_estimated else "theta fixed (fully specified)"
        kind = "Kendall distribution K_theta" if self.statistic_kind == "kendall" else "plug-in ecdf of C_theta(U_i)"
        rows = [("family", self.family), ("statistic", kind), ("n", str(self.n)), ("theta", f"{self.theta:.6g}"), ("Kendall tau (data)", f"{self.tau:.4f}"),
                ("S_n", f"{self.statistic:.5f}"), ("sqrt(n) CvM", f"{self.sqrt_n_cvm:.5f}"), ("p-value", f"{self.p_value:.4f}"),
                ("bootstrap B", str(self.n_boot)), ("null", null)]
        return _kv_table("Copula goodness of fit (Kendall's transform, Cramer-von Mises)", rows)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"family": self.family, "n": self.n, "theta": self.theta, "tau": self.tau,
                              "statistic": self.statistic, "sqrt_n_cvm": self.sqrt_n_cvm, "p_value": self.p_value,
                              "n_boot": self.n_boot, "theta_estimated": self.theta_estimated,
                              "statistic_kind": self.statistic_kind}])


# ------------------------------------------------------------------------------------------------ entry points
@x64
def pseudo_observations(x) -> np.ndarray | pd.DataFrame:
    """Ranks / (n + 1) of each column (average ranks for ties).

    Parameters
    ----------
    x : array-like, shape (n,) or (n, d), or DataFrame
        Observations; columns are transformed separately.

    Returns
    -------
    ndarray or DataFrame (same shape and labels as ``x``), values in (0, 1).
    """
    if isinstance(x, pd.DataFrame):
        cols = [pseudo_observations(_vector(x[c], f"column '{c}'", min_n=1)) for c in x.columns]
        return pd.DataFrame(np.column_stack(cols) if cols else np.empty((len(x), 0)), index=x.index, columns=x.columns)
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2:
        return np.column_stack([pseudo_observations(_vector(a[:, j], f"x[:, {j}]", min_n=1)) for j in range(a.shape[1])])
    return np.asarray(_ranks_pseudo(jnp.asarray(_vector(a, "x", min_n=1))))


@x64
def kendall_tau(x, y) -> float | jnp.ndarray:
    """Kendall's tau-b of two samples (tie-corrected, as ``scipy.stats.kendalltau``).

    O(n^2) pairwise comparisons in row blocks, pure JAX: under ``jax.vmap``/``jax.jit`` it returns a traced array
    (batched samples: ``jax.vmap(kendall_tau)(X, Y)``); on concrete input it validates the data and returns a float.

    Raises
    ------
    DataValidationError
        NaN, length mismatch, fewer than 3 observations, or a constant sample (tau undefined).
    """
    if _is_traced(x, y):
        return _kendall_tau_b(jnp.asarray(x), jnp.asarray(y))
    a, b = _pair(x, y, ("x", "y"), unit=False)
    tau = float(_kendall_tau_b_jit(_padded(a), _padded(b), a.size))
    if not np.isfinite(tau):
        which = "x" if np.ptp(a) == 0 else "y"
        raise DataValidationError(f"argument '{which}' is constant: Kendall's tau is undefined")
    return tau


@x64
def kendall_tau_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """Kendall's tau-b between every pair of columns (Figure 1 of the study).

    Parameters
    ----------
    frame : DataFrame
        One column per variable (for example the calibrated confidence of each model), one row per query.

    Returns
    -------
    DataFrame, square, indexed and labelled by the columns, ones on the diagonal.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataValidationError(f"argument 'frame' must be a pandas DataFrame, got {type(frame).__name__}")
    if frame.shape[1] < 2:
        raise DataValidationError(f"argument 'frame' needs at least 2 columns, got {frame.shape[1]}")
    data = np.column_stack([_vector(frame[c], f"column '{c}'") for c in frame.columns])
    i, j = np.triu_indices(data.shape[1], k=1)
    taus = np.asarray(jax.jit(jax.vmap(_kendall_tau_b))(jnp.asarray(data[:, i].T), jnp.asarray(data[:, j].T)))
    if not np.isfinite(taus).all():
        const = [str(c) for c in frame.columns[np.ptp(data, axis=0) == 0]]
        raise DataValidationError(f"constant column(s) {const}: Kendall's tau is undefined")
    out = np.eye(data.shape[1])
    out[i, j] = out[j, i] = taus
    return pd.DataFrame(out, index=frame.columns, columns=frame.columns)


@x64
def fit_copula(u, v, family: str = "gumbel", method: str = "tau") -> CopulaFit:
    """Fit a copula family to pseudo-observations.

    Parameters
    ----------
    u, v : array-like of float in [0, 1]
        Pseudo-observations (see :func:`pseudo_observations`) of the two variables.
    family : str
        A key of :data:`COPULA_FAMILIES`.
    method : {"tau", "mle"}
        ``"tau"``: invert Kendall's tau (eq. 10 for Gumbel). ``"mle"``: maximise the copula log-likelihood, starting
        from the tau estimate.

    Returns
    -------
    CopulaFit

    Warns
    -----
    IndependenceFallbackWarning
        Kendall's tau <= 0 for a family that models positive dependence only: the independence copula is returned.

    Raises
    ------
    DataValidationError
        Bad input (NaN, values outside [0, 1], length mismatch, n < 3, constant data, unknown family or method).
    FitError
        The log-likelihood is not finite at the fitted parameter.
    """
    cls = _family(family)
    if method not in ("tau", "mle"):
        raise DataValidationError(f"unknown fitting method '{method}' (choose 'tau' or 'mle')")
    a, b = _pair(u, v)
    tau = kendall_tau(a, b)
    requested = cls.name
    if cls.positive_only and tau <= 0.0:
        warnings.warn(
            f"Kendall's tau = {tau:.4f} <= 0: the {cls.name} copula models positive dependence only; "
            "falling back to the independence copula",
            IndependenceFallbackWarning,
            stacklevel=2,
        )
        cls = IndependenceCopula
    pa, pb = _padded(a), _padded(b)
    theta = _eval_theta_from_tau(cls, tau)
    if method == "mle" and cls.n_params:
        theta = _mle_core(pa, pb, a.size, cls)
    loglik = float(_loglik(pa, pb, a.size, theta, cls))
    if not np.isfinite(loglik):
        raise FitError(f"{cls.name} copula: log-likelihood is not finite at theta = {float(theta)!r}")
    return CopulaFit(cls.name, float(theta), tau, int(a.size), loglik, 2.0 * cls.n_params - 2.0 * loglik, method, requested)


@x64
def compare_copulas(
    u,
    v,
    families: Sequence[str] = ("gumbel", "clayton", "frank", "survival_gumbel", "independence"),
    method: str = "mle",
) -> pd.DataFrame:
    """Fit several families and rank them by AIC.

    Parameters
    ----------
    u, v : array-like of float in [0, 1]
        Pseudo-observations.
    families : sequence of str
    method : {"mle", "tau"}
        Fitting method (AIC is most meaningful at the maximum-likelihood estimate).

    Returns
    -------
    DataFrame indexed by family, sorted by AIC, with columns ``fitted_family`` (``independence`` after a fallback),
    ``theta``, ``model_tau``, ``loglik``, ``n_params``, ``aic``, ``delta_aic``.
    """
    if len(families) == 0:
        raise DataValidationError("argument 'families' is empty")
    rows = []
    for fam in families:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IndependenceFallbackWarning)
            fit = fit_copula(u, v, fam, method)
        rows.append({"family": fit.requested_family, "fitted_family": fit.family, "theta": fit.theta,
                     "model_tau": float(fit.copula.tau), "loglik": fit.loglik, "n_params": fit.n_params, "aic": fit.aic})
    out = pd.DataFrame(rows).set_index("family").sort_values("aic", kind="stable")
    out["delta_aic"] = out["aic"] - out["aic"].iloc[0]
    return out


@x64
def copula_gof(
    u,
    v,
    family: str = "gumbel",
    theta: float | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    statistic: str = "kendall",
) -> CopulaGofResult:
    """Goodness-of-fit test of a copula family by a Cramer-von Mises statistic of Kendall's transform.

    W_i = (1/n) #{j : U_j <= U_i, V_j <= V_i} is the empirical copula at each pseudo-observation and K_n the empirical
    cdf of the W_i. The statistic is S_n = n int (K_n - K_theta)^2 dK_theta, reported also as
    ``sqrt_n_cvm = S_n / sqrt(n)``; its p-value comes from a parametric bootstrap whose B replicates run as one
    jit-compiled ``lax.map`` over vmapped batches.

    Parameters
    ----------
    u, v : array-like of float in [0, 1]
        Pseudo-observations (ranks / (n + 1), see :func:`pseudo_observations`) of the tested data.
    family : str
        A key of :data:`COPULA_FAMILIES`.
    theta : float, optional
        ``None``: estimate theta from Kendall's tau on the data and re-estimate it on every bootstrap sample
        (composite null, Genest et al.'s parametric bootstrap). A number (e.g. fitted on training data): the null
        copula is fully specified and bootstrap samples use it without re-estimation.
    n_boot : int
        Number of bootstrap replicates B.
    seed : int
        Seed of the bootstrap.
    statistic : {"kendall", "plugin"}
        ``"kendall"`` (default): K_theta is the family's Kendall distribution function (Genest, Remillard and
        Beaudoin 2009). ``"plugin"``: K_theta is replaced by the empirical cdf of C_theta(U_i, V_i) at the data's own
        pseudo-observations, as in the code behind the study's Table 4; it compares the empirical and fitted copula
        only at the observed points and has much less power (see ``experiments/results/copula_gof_llama.md``).

    Returns
    -------
    CopulaGofResult
    """
    cls = _family(family)
    if statistic not in GOF_STATISTICS:
        raise DataValidationError(f"argument 'statistic' must be one of {GOF_STATISTICS}, got {statistic!r}")
    a, b = _pair(u, v)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise DataValidationError(f"argument 'n_boot' must be a positive integer, got {n_boot!r}")
    tau = kendall_tau(a, b)
    reestimate = theta is None and cls.n_params > 0
    # a strongly typed float64 either way, so that estimated and given theta share the compiled bootstrap
    th = _eval_theta_from_tau(cls, tau) if theta is None else _float(_check_theta(cls, theta))
    n, n_boot, cap = int(a.size), int(n_boot), _capacity(a.size)
    column = GOF_STATISTICS.index(statistic)
    stat = float(_gof_observed(_padded(a), _padded(b), n, th, cls)[column])
    boot = np.asarray(
        _gof_bootstrap(jax.random.PRNGKey(seed), th, n, reestimate, cap=cap, cls=cls, n_boot=n_boot,
                       batch_size=_boot_batch_size(cap, n_boot))
    )[:, column]
    p = (1.0 + np.sum(boot >= stat)) / (n_boot + 1.0)
    return CopulaGofResult(cls.name, float(th), tau, n, n * stat, math.sqrt(n) * stat, float(p), n_boot, reestimate,
                           statistic, n * boot)


@partial(jax.jit, static_argnames=("true_cls", "cls", "n", "n_rep", "n_boot", "batch_size"))
def _simulate_gof(key, true_theta, theta, reestimate, *, true_cls: type[Copula], cls: type[Copula], n: int, n_rep: int,
                  n_boot: int, batch_size: int):
    """For each of n_rep data sets drawn from true_cls(true_theta): [tau, theta, both statistics, both p-values]."""

    def one(k):
        k_data, k_boot = jax.random.split(k)
        uv = _eval_sample(true_cls, k_data, true_theta, (n,))
        u, v = _ranks_pseudo(uv[:, 0]), _ranks_pseudo(uv[:, 1])
        tau = _kendall_tau_b(u, v)
        th = jnp.where(reestimate, cls._theta_from_tau(tau), theta)
        observed = _gof_observed(u, v, n, th, cls)
        boot = _gof_bootstrap(k_boot, th, n, reestimate, cap=n, cls=cls, n_boot=n_boot, batch_size=batch_size)
        p = (1.0 + jnp.sum(boot >= observed, axis=0)) / (n_boot + 1.0)
        return jnp.concatenate([jnp.stack([tau, th]), math.sqrt(n) * observed, p])

    return jax.lax.map(one, jax.random.split(key, n_rep))


@x64
def simulate_copula_gof(
    copula: Copula,
    n: int,
    n_rep: int = 200,
    family: str = "gumbel",
    theta: float | None = None,
    n_boot: int = 500,
    seed: int = 0,
) -> pd.DataFrame:
    """Size or power of :func:`copula_gof` by simulation, as one compiled call (no Python loop over data sets).

    Draws ``n_rep`` data sets of ``n`` points from ``copula``, turns each into pseudo-observations and tests it
    against ``family`` with both statistics (the same bootstrap draws serve both).

    Parameters
    ----------
    copula : Copula
        The true copula (a scalar one). Testing against its own family measures the size of the test.
    n, n_rep : int
        Sample size and number of simulated data sets.
    family : str
        Family under test.
    theta : float, optional
        ``None``: theta estimated from tau on every data set and re-estimated on every bootstrap sample (composite
        null). A number: fully specified null.
    n_boot : int
        Bootstrap replicates B per data set.
    seed : int

    Returns
    -------
    DataFrame, one row per data set: ``tau``, ``theta``, ``sqrt_n_cvm_kendall``, ``sqrt_n_cvm_plugin``,
    ``p_kendall``, ``p_plugin``. The rejection rate at level alpha is ``(frame[p] <= alpha).mean()``.
    """
    cls = _family(family)
    for name, value, low in (("n", n, 3), ("n_rep", n_rep, 1), ("n_boot", n_boot, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise DataValidationError(f"argument '{name}' must be an integer >= {low}, got {value!r}")
    if not isinstance(copula, Copula) or copula.batch_shape != ():
        raise DataValidationError("argument 'copula' must be a scalar Copula instance (e.g. GumbelCopula(2.0))")
    th = _float(_check_theta(cls, theta)) if theta is not None else _float(0.0)
    out = _simulate_gof(jax.random.PRNGKey(seed), _float(copula.theta), th, theta is None and cls.n_params > 0,
                        true_cls=type(copula), cls=cls, n=int(n), n_rep=int(n_rep), n_boot=int(n_boot),
                        batch_size=_boot_batch_size(int(n), int(n_boot)))
    cols = ["tau", "theta", "sqrt_n_cvm_kendall", "sqrt_n_cvm_plugin", "p_kendall", "p_plugin"]
    return pd.DataFrame(np.asarray(out), columns=cols)
