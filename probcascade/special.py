"""Special functions shared by the distributions and their fits, in pure JAX, one copy each.

* :func:`betainc` - the regularised incomplete beta function, the cdf of the beta components of the marginal
  model. Its value is a modified-Lentz continued fraction that stops once the whole array is within a relative
  1e-15, because XLA's own continued fraction (behind ``jax.scipy.special.betainc`` and ``tfp.math.betainc``)
  iterates until every element has converged to the last bit, which dominates the cost of a bootstrap. Its custom
  JVP gives the ``x``-derivative as the beta density and delegates the shape-parameter derivatives, which
  ``jax.scipy.special.betainc`` lacks, to ``tfp.math.betainc``: TensorFlow Probability (``tfp-nightly >=``
  :data:`TFP_MIN_VERSION`) is imported only when those derivatives are requested.
* :func:`betaln`, :func:`digamma`, :func:`trigamma` - short closed forms, accurate and cheap to compile, for the
  EM's M-step and the derivatives of :func:`betainc`.
* :func:`log_gamma_variates` - Gamma variates in log space by vectorised rejection sampling, for drawing the beta
  components in bootstraps (exact in distribution, and faster on CPU than ``jax.random.gamma``).
* :func:`log1mexp`, :func:`log_expm1` - ``log(1 - e^x)`` and ``log(e^x - 1)`` without cancellation, for the
  confidence transforms and the copulas' log-space formulas; :func:`fixed_point`, a gradient-free fixed-point
  iteration.

The functions assume 64-bit JAX types (``with probcascade.float64():``).

Accuracy and timing notes: docs/design_notes.md#special
"""

from __future__ import annotations

import math

import jax
import numpy as np
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero
from jax.scipy.special import gammaln

__all__ = ["digamma", "trigamma", "betaln", "betainc", "log_gamma_variates", "log1mexp", "log_expm1", "fixed_point"]

_CF_TOL = 1e-15
_PSI_SHIFT = 8
_CF_MAX_ITER = 300
TINY = 1e-300



# ---------------------------------------------------------------------------------------------------------------
# Special functions and random variates
# ---------------------------------------------------------------------------------------------------------------


def _shifted(x):
    """``x + 8`` and the recurrence corrections ``sum_{k<8} 1/(x+k)``, ``sum_{k<8} 1/(x+k)^2``."""
    terms = 1.0 / (x[..., None] + jnp.arange(_PSI_SHIFT, dtype=x.dtype))
    return x + _PSI_SHIFT, jnp.sum(terms, axis=-1), jnp.sum(terms * terms, axis=-1)


def digamma(x):
    """Digamma function for ``x > 0``: recurrence to ``x + 8``, then the asymptotic series (error < 1e-13).

    A few dozen operations instead of the ~150-line ``jax.scipy.special.digamma`` graph; it is used inside the
    EM iterations and its automatic derivative is an equally accurate trigamma, which keeps compile times down.
    """
    z, inv, _ = _shifted(jnp.asarray(x))
    w = 1.0 / (z * z)
    series = w * (1.0 / 12 - w * (1.0 / 120 - w * (1.0 / 252 - w * (1.0 / 240 - w * (1.0 / 132 - w * 691.0 / 32760)))))
    return jnp.log(z) - 0.5 / z - series - inv


def trigamma(x):
    """Trigamma function for ``x > 0``: recurrence to ``x + 8``, then the asymptotic series (error < 1e-13)."""
    z, _, inv2 = _shifted(jnp.asarray(x))
    w = 1.0 / (z * z)
    series = w * (1.0 / 6 - w * (1.0 / 30 - w * (1.0 / 42 - w * (1.0 / 30 - w * (5.0 / 66 - w * 691.0 / 2730)))))
    return 1.0 / z + 0.5 * w + series / z + inv2


@jax.custom_jvp
def betaln(a, b):
    """``log B(a, b)`` from log-gamma values.

    ``jax.scipy.special.betaln`` is off by up to ~2e-8 when one argument is much larger than the other
    (e.g. ``betaln(24.67, 1.327)``), which is visible in incomplete-beta values; the plain log-gamma difference is
    accurate to ~1e-14 there.  Its derivatives use :func:`digamma`.
    """
    return gammaln(a) + gammaln(b) - gammaln(a + b)


@betaln.defjvp
def _betaln_jvp(primals, tangents):
    a, b = primals
    ta, tb = tangents
    both = digamma(a + b)
    return betaln(a, b), (digamma(a) - both) * ta + (digamma(b) - both) * tb


@jax.custom_jvp
def betainc(a, b, x):
    """Regularised incomplete beta function ``I_x(a, b)`` (value by continued fraction, see module notes)."""
    return _betainc_value(a, b, x)


@jax.jit
def _betainc_value(a, b, x):
    a, b, x = jnp.broadcast_arrays(a, b, x)
    inside = (x > 0) & (x < 1)
    x_safe = jnp.where(inside, x, 0.5)
    swap = x_safe > (a + 1.0) / (a + b + 2.0)
    aa, bb = jnp.where(swap, b, a), jnp.where(swap, a, b)
    xx = jnp.where(swap, 1.0 - x_safe, x_safe)

    def clamp(z):
        return jnp.where(jnp.abs(z) < TINY, TINY, z)

    def lentz(c, d, h, num):
        d = 1.0 / clamp(1.0 + num * d)
        c = clamp(1.0 + num / c)
        return c, d, h * c * d, c * d

    def body(state):
        k, c, d, h, _ = state
        c, d, h, _ = lentz(c, d, h, k * (bb - k) * xx / ((aa + 2.0 * k - 1.0) * (aa + 2.0 * k)))
        c, d, h, delta = lentz(c, d, h, -(aa + k) * (aa + bb + k) * xx / ((aa + 2.0 * k) * (aa + 2.0 * k + 1.0)))
        return k + 1.0, c, d, h, jnp.any(jnp.abs(delta - 1.0) > _CF_TOL)

    d0 = 1.0 / clamp(1.0 - (aa + bb) * xx / (aa + 1.0))
    init = (jnp.asarray(1.0, xx.dtype), jnp.ones_like(xx), d0, d0, jnp.asarray(True))
    _, _, _, h, _ = jax.lax.while_loop(lambda st: st[4] & (st[0] <= _CF_MAX_ITER), body, init)
    front = jnp.exp(aa * jnp.log(xx) + bb * jnp.log1p(-xx) - betaln(aa, bb)) / aa
    val = jnp.where(swap, 1.0 - front * h, front * h)
    return jnp.where(inside, val, jnp.where(x <= 0, 0.0, 1.0))


def _betainc_jvp(primals, tangents):
    a, b, x = primals
    ta, tb, tx = tangents
    out = betainc(a, b, x)
    tangent = jnp.zeros_like(out)
    if not isinstance(tx, SymbolicZero):
        inside = (x > 0) & (x < 1)
        xs = jnp.where(inside, x, 0.5)
        pdf = jnp.exp((a - 1.0) * jnp.log(xs) + (b - 1.0) * jnp.log1p(-xs) - betaln(a, b))
        tangent = tangent + tx * jnp.where(inside, pdf, 0.0)
    if not (isinstance(ta, SymbolicZero) and isinstance(tb, SymbolicZero)):
        ta = jnp.zeros_like(a) if isinstance(ta, SymbolicZero) else ta
        tb = jnp.zeros_like(b) if isinstance(tb, SymbolicZero) else tb
        _, t_ab = jax.jvp(_tfp_betainc(), (a, b, x), (ta, tb, jnp.zeros_like(x)))
        tangent = tangent + t_ab
    return out, tangent


betainc.defjvp(_betainc_jvp, symbolic_zeros=True)

#: Oldest TensorFlow Probability line whose JAX substrate works with current JAX: the 0.26 nightlies (the stable
#: 0.25 release fails to import under jax >= 0.5).
TFP_MIN_VERSION = "0.26"


def _tfp_betainc():
    """``tfp.math.betainc``, imported on first use: only the shape-parameter derivatives of :func:`betainc` need it
    (posterior sampling, differentiating through fitted parameters), so importing probcascade does not pay for it."""
    try:
        from tensorflow_probability.substrates import jax as tfp
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ImportError("derivatives of betainc in its shape parameters need TensorFlow Probability's JAX substrate: "
                          "pip install tfp-nightly") from exc
    version = getattr(tfp, "__version__", "0")
    try:
        major_minor = tuple(int(v) for v in version.split(".")[:2])
    except ValueError:  # pragma: no cover - an unparsable version string: trust it
        major_minor = (99, 0)
    if major_minor < tuple(int(v) for v in TFP_MIN_VERSION.split(".")):
        raise ImportError(f"tensorflow_probability {version} is too old for this JAX; derivatives of betainc in its shape "
                          f"parameters need tfp-nightly >= {TFP_MIN_VERSION} (pip install -U tfp-nightly)")
    return tfp.math.betainc


@jax.jit
def log_gamma_variates(key, shape_param):
    """``log G`` with ``G ~ Gamma(shape_param, 1)``, elementwise (pure, exact in distribution).

    Marsaglia-Tsang squeeze-free rejection for ``Gamma(a + 1)`` with the boost ``G = G_{a+1} U^{1/a}``, applied
    to every element so the code is branch-free.  All elements are proposed together in rounds until every one
    is accepted (acceptance >= 95 % per round), which is much faster on CPU than ``jax.random.gamma``, whose
    per-element loops and key splits dominate the cost of a bootstrap.  Working in logs keeps small shape
    parameters (``log G`` far below the float range) exact.
    """
    shape_param = jnp.asarray(shape_param)
    d = shape_param + 1.0 - 1.0 / 3.0
    c = 1.0 / jnp.sqrt(9.0 * d)
    key, k_boost = jax.random.split(key)

    def body(state):
        key, log_v, done = state
        key, k_norm, k_unif = jax.random.split(key, 3)
        z = jax.random.normal(k_norm, shape_param.shape, shape_param.dtype)
        log_u = jnp.log(jax.random.uniform(k_unif, shape_param.shape, shape_param.dtype, minval=TINY))
        v = 1.0 + c * z
        log_v_new = 3.0 * jnp.log(jnp.where(v > 0, v, 1.0))
        accept = (v > 0) & (log_u < 0.5 * z * z + d - d * jnp.exp(log_v_new) + d * log_v_new)
        take = accept & ~done
        return key, jnp.where(take, log_v_new, log_v), done | accept

    init = (key, jnp.zeros_like(d), jnp.zeros(shape_param.shape, bool))
    _, log_v, _ = jax.lax.while_loop(lambda st: ~jnp.all(st[2]), body, init)
    log_boost = jnp.log(jax.random.uniform(k_boost, shape_param.shape, shape_param.dtype, minval=TINY)) / shape_param
    return jnp.log(d) + log_v + log_boost


_LN2 = math.log(2.0)

def log1mexp(x):
    """log(1 - exp(x)) for x <= 0, accurate over the whole range (Maechler 2012): ``log(-expm1(x))`` for
    x > -log 2, ``log1p(-exp(x))`` below.

    NumPy input (or a Python number) gives float64 NumPy output with the exact limit ``-inf`` at ``x = 0`` (a
    log-probability of 0, certainty, is legal data). JAX arrays and tracers evaluate each branch on its own range
    only, so that the branch ``where`` discards has finite gradients (``x = 0`` then gives about -690.8).
    """
    if not isinstance(x, jax.Array):
        xn = np.asarray(x, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(xn > -_LN2, np.log(-np.expm1(xn)), np.log1p(-np.exp(xn)))
    near0 = jnp.log(-jnp.expm1(jnp.clip(x, -_LN2, -1e-300)))
    far = jnp.log1p(-jnp.exp(jnp.minimum(x, -_LN2)))
    return jnp.where(x > -_LN2, near0, far)


def log_expm1(x: jnp.ndarray) -> jnp.ndarray:
    """log(exp(x) - 1) for x > 0."""
    return x + log1mexp(-x)


def fixed_point(step, s0: jnp.ndarray, max_iter: int = 200, tol: float = 1e-14) -> jnp.ndarray:
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
