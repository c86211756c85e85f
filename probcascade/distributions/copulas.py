"""Bivariate copulas as NumPyro distributions over the unit square.

A copula ``C(u, v)`` is the joint distribution function of two uniform variables; the Markov-copula model joins the
calibrated confidences of adjacent models of a cascade with one (eq. 9 of the study, a Gumbel copula whose parameter
follows from Kendall's tau, eq. 10).

Families (:data:`COPULA_FAMILIES`): ``gumbel`` (upper tail dependence, theta >= 1), ``clayton`` (lower tail
dependence, theta > 0), ``frank`` (no tail dependence, any real theta), ``survival_gumbel`` (Gumbel rotated by 180
degrees) and ``independence``. Each is a :class:`numpyro.distributions.Distribution` with event shape ``(2,)``:
``cdf(u, v)``, ``log_prob(uv)``, the conditional distribution ``h(v, u) = P(V <= v | U = u)`` and its inverse in
``v`` (``h_inv``, for conditional sampling), Kendall's tau and the Kendall distribution function
``kendall_K(t) = P(C(U, V) <= t)``. The formulas are evaluated in log space (``x = -log u``, log-sum-exp,
``log1mexp``) with ``u``, ``v`` clipped to ``[1e-12, 1 - 1e-12]`` so that values and gradients stay finite at the
boundary; ``cdf`` returns the exact boundary values ``C(u, 0) = 0``, ``C(u, 1) = u``. The ``eval_*`` functions are
the same operations for a family class and a traced parameter, for code that jit-compiles over families.

The methods are pure JAX and assume float64 (``with probcascade.float64():``).

This module is longer than 500 lines: it holds the base class and the five families, about 60 lines each, which
share the numerics above them; splitting the families from their base would scatter one concept over files.
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar
import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from numpyro.distributions import constraints
from probcascade.exceptions import DataValidationError
from probcascade.special import log1mexp
from probcascade.special import log_expm1
from probcascade.special import fixed_point
from probcascade.validation import check_choice, check_float

__all__ = ["Copula", "GumbelCopula", "ClaytonCopula", "FrankCopula", "SurvivalGumbelCopula", "IndependenceCopula", "COPULA_FAMILIES"]




EPS = 1e-12
"""Copula arguments are clipped to ``[EPS, 1 - EPS]`` before the formulas are evaluated."""
_FRANK_SMALL = 1e-5  # |theta| below this: first-order (FGM) expansion of the Frank copula, error O(theta^2)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(64)
_GL_X01, _GL_W01 = (_GL_X + 1.0) / 2.0, _GL_W / 2.0  # Gauss-Legendre on [0, 1]
# Kendall distribution by quadrature (families without a closed form): 32 Gauss-Legendre nodes and 40 bisection
# steps. The goodness-of-fit test tabulates it on a 128-point grid, dense near 0 and 1, and interpolates linearly.
# Accuracy of both: docs/design_notes.md#distributions
_K_NODES, _K_WEIGHTS = np.polynomial.legendre.leggauss(32)
_K_BISECT = 40
_K_S = np.linspace(0.0, 1.0, 129)[1:]
_K_GRID = _K_S**2 * (3.0 - 2.0 * _K_S)


# ------------------------------------------------------------------------------------------------ numerics helpers
def clip_unit(u: jnp.ndarray) -> jnp.ndarray:
    return jnp.clip(u, EPS, 1.0 - EPS)


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
    s = step(fixed_point(step, s0))
    # y = (A^theta - x^theta)^(1/theta); A >= x up to rounding
    return jnp.exp(s + log1mexp(jnp.minimum(theta * (lx - s), -1e-300)) / theta)


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
    return jnp.where(pos, log1mexp(-tp * z), log_expm1(tn * z))


def _frank_log_abs_N(u, v, pos, tp, tn) -> jnp.ndarray:
    """log|N|, N = (1 - e^-theta) - (1 - e^-theta u)(1 - e^-theta v), as a sum of non-negative terms."""
    n_pos = jnp.logaddexp(-tp * u + log1mexp(-tp * v), -tp * v + log1mexp(-tp * (1.0 - v)))
    n_neg = jnp.logaddexp(log_expm1(tn), log_expm1(tn * u) + log_expm1(tn * v))
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
        u = clip_unit(t + (1.0 - t) * s)
        lo = jnp.broadcast_to(t, u.shape)
        hi = jnp.ones_like(lo)

        def body(_, bounds):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            below = cls._cdf(u, clip_unit(mid), theta) < t
            return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

        lo, hi = jax.lax.fori_loop(0, _K_BISECT, body, (lo, hi))
        integrand = cls._h(clip_unit(0.5 * (lo + hi)), u, theta)
        return t[..., 0] + (1.0 - t[..., 0]) * jnp.sum(ds * integrand, axis=-1)

    @classmethod
    def _K_fast(cls, t, theta):
        """Kendall distribution at many points for one theta: closed form, or the quadrature tabulated on a grid."""
        if cls.closed_form_K:
            return cls._K(clip_unit(t), theta)
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
        return eval_cdf(type(self), u, v, self.theta)

    def log_prob(self, value):
        """Log copula density log c(u, v) of points ``value[..., 0] = u``, ``value[..., 1] = v``."""
        if self._validate_args:
            self._validate_sample(value)
        return eval_log_prob(type(self), value, self.theta)

    def h(self, v, u):
        """P(V <= v | U = u) = dC(u, v)/du."""
        return eval_h(type(self), v, u, self.theta)

    def h_inv(self, w, u):
        """The v with h(v, u) = w (conditional quantile of V given U = u); w and u are clipped to the open square."""
        return eval_h_inv(type(self), w, u, self.theta)

    def sample(self, key, sample_shape=()):
        """Draw (u, v) pairs by conditional inversion: u ~ U(0, 1), v = h_inv(w, u) with w ~ U(0, 1)."""
        return eval_sample(type(self), key, self.theta, tuple(sample_shape) + tuple(self.batch_shape))

    def kendall_K(self, t):
        """Kendall distribution function K(t) = P(C(U, V) <= t)."""
        return eval_kendall_K(type(self), t, self.theta)

    @property
    def tau(self):
        """Kendall's tau of the copula."""
        return eval_tau(type(self), self.theta)

    @classmethod
    def theta_from_tau(cls, tau):
        """theta giving Kendall's tau ``tau`` (clipped to the family's parameter range)."""
        return eval_theta_from_tau(cls, tau)

    @classmethod
    def tau_from_theta(cls, theta):
        """Kendall's tau of the family at ``theta``."""
        return eval_tau(cls, theta)


# The public methods run through these jit-compiled evaluators (one compilation per family and input shape, instead
# of op-by-op dispatch); inside a caller's jit they are simply inlined.
def as_float(x) -> jnp.ndarray:
    return jnp.asarray(x, dtype=float)


@partial(jax.jit, static_argnums=0)
def eval_cdf(cls: type[Copula], u, v, theta):
    u, v = as_float(u), as_float(v)
    c = cls._cdf(clip_unit(u), clip_unit(v), theta)
    uc, vc = jnp.clip(u, 0.0, 1.0), jnp.clip(v, 0.0, 1.0)
    lower = jnp.maximum(jnp.maximum(uc - (1.0 - vc), vc - (1.0 - uc)), 0.0)  # u + v - 1, exact when u or v is 1
    return jnp.clip(c, lower, jnp.minimum(uc, vc))  # Frechet bounds: exact boundary values


@partial(jax.jit, static_argnums=0)
def eval_log_prob(cls: type[Copula], value, theta):
    value = as_float(value)
    return cls._log_pdf(clip_unit(value[..., 0]), clip_unit(value[..., 1]), theta)


@partial(jax.jit, static_argnums=0)
def eval_h(cls: type[Copula], v, u, theta):
    v, u = as_float(v), as_float(u)
    return jnp.where(v >= 1.0, 1.0, jnp.where(v <= 0.0, 0.0, cls._h(clip_unit(v), clip_unit(u), theta)))


@partial(jax.jit, static_argnums=0)
def eval_h_inv(cls: type[Copula], w, u, theta):
    return cls._h_inv(clip_unit(as_float(w)), clip_unit(as_float(u)), theta)


@partial(jax.jit, static_argnums=(0, 3))
def eval_sample(cls: type[Copula], key, theta, shape: tuple[int, ...]):
    ku, kw = jax.random.split(key)
    u = jax.random.uniform(ku, shape, dtype=theta.dtype)
    w = jax.random.uniform(kw, shape, dtype=theta.dtype)
    return jnp.stack([u, cls._h_inv(clip_unit(w), clip_unit(u), theta)], axis=-1)


@partial(jax.jit, static_argnums=0)
def eval_kendall_K(cls: type[Copula], t, theta):
    t = as_float(t)
    return jnp.where(t <= 0.0, 0.0, jnp.where(t >= 1.0, 1.0, cls._K(clip_unit(t), theta)))


@partial(jax.jit, static_argnums=0)
def eval_tau(cls: type[Copula], theta):
    return cls._tau(as_float(theta))


@partial(jax.jit, static_argnums=0)
def eval_theta_from_tau(cls: type[Copula], tau):
    return cls._theta_from_tau(as_float(tau))


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
        log_large = jnp.logaddexp(-a_l, -b_l + log1mexp(-a_l))
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
        alpha = log_expm1(p) - theta * jnp.log(u)
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
        log_e = jnp.where(pos, log1mexp(-tp), log_expm1(tn))
        c = -(_frank_log_abs_N(u, v, pos, tp, tn) - log_e) / ts
        return jnp.where(small, u * v * (1.0 + 0.5 * theta * (1.0 - u) * (1.0 - v)), c)

    @staticmethod
    def _log_pdf(u, v, theta):
        small, pos, tp, tn, ts = _frank_split(theta)
        log_e = jnp.where(pos, log1mexp(-tp), log_expm1(tn))
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
        log_e = jnp.where(pos, log1mexp(-tp), log_expm1(tn))
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


def get_family(family: str | type[Copula]) -> type[Copula]:
    if isinstance(family, type) and issubclass(family, Copula):
        return family
    return COPULA_FAMILIES[check_choice(family, "family", COPULA_FAMILIES)]


# ------------------------------------------------------------------------------------------------ validation
def is_traced(*xs) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in xs)


def check_theta(cls: type[Copula], theta) -> float:
    """``theta`` as a float within the family's bounds (any number for a family without parameter)."""
    lo, hi = cls.theta_bounds
    try:
        if not cls.n_params:
            return check_float(theta, "theta", finite=False)
        return check_float(theta, "theta", low=lo, high=hi)
    except DataValidationError as exc:
        raise DataValidationError(f"{cls.name} copula: {exc}") from exc
