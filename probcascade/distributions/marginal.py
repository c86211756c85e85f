"""The marginal model of one LLM's calibrated confidence: the point-mass beta mixture (eq. 7-8 of the study).

Phi lives on ``[lo, hi]`` (phi_min, phi_max): point masses ``w_lo`` and ``w_hi`` at the two ends (confidences that
calibration maps to the extremes, e.g. a model reporting certainty) plus, with weight ``1 - w_lo - w_hi``, a
mixture of beta distributions rescaled to the interval.

Two layers share the parameters, :class:`MarginalParams` (a JAX pytree, batched over models or bootstrap
replicates):

* pure functions of ``(params, x)`` - :func:`cdf`, :func:`log_prob`, :func:`icdf`, :func:`sample`, :func:`mean`,
  :func:`variance` and :func:`partial_expectation` ``E[Phi 1{Phi > a}]`` (the integrals of the cascade objective,
  Appendix B of the study), with ``interior_*`` versions for the beta-mixture part alone - which the fitting,
  goodness-of-fit and joint-model code jit and vmap directly;
* :class:`PointMassBetaMixture`, the same operations as a NumPyro ``Distribution`` (NumPyro's ``cdf(value)``
  signature), for users and probabilistic programs.

Everything is closed-form and differentiable in ``x`` and in the parameters (the beta cdf is
:func:`probcascade.special.betainc`); call it with float64 enabled (``with probcascade.float64():``). Fitting is in
:mod:`probcascade.estimation.marginal`, the goodness-of-fit test in :mod:`probcascade.gof.marginal`.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple
import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as npdist
from jax.scipy.special import logsumexp
from numpyro.distributions import constraints
from typing import Sequence
from probcascade.special import betainc
from probcascade.special import betaln
from probcascade.special import log_gamma_variates

__all__ = ["MarginalParams", "PointMassBetaMixture", "interior_cdf", "interior_log_prob", "cdf", "log_prob", "interior_partial_expectation", "partial_expectation", "mean", "variance", "icdf", "sample", "stack_params"]



def stack_params(params: Sequence[MarginalParams]) -> MarginalParams:
    m = max(int(np.size(p.mix)) for p in params)

    def padded(p):
        extra = m - int(np.size(p.mix))
        return (np.concatenate([p.mix, np.zeros(extra)]), np.concatenate([p.alpha, np.ones(extra)]),
                np.concatenate([p.beta, np.ones(extra)]))

    mixes, alphas, betas = zip(*(padded(p) for p in params))
    return MarginalParams(
        lo=np.array([float(p.lo) for p in params]), hi=np.array([float(p.hi) for p in params]),
        w_lo=np.array([float(p.w_lo) for p in params]), w_hi=np.array([float(p.w_hi) for p in params]),
        mix=np.stack(mixes), alpha=np.stack(alphas), beta=np.stack(betas),
    )



def sample_categories(key, probs, shape):
    """Category indices of shape ``shape`` with probabilities ``probs[..., k]`` (one uniform per draw)."""
    edges = jnp.cumsum(probs, axis=-1)[..., :-1]
    unif = jax.random.uniform(key, shape, probs.dtype)
    return jnp.sum(unif[..., None] >= edges, axis=-1)


_ICDF_STEPS = 60




class MarginalParams(NamedTuple):
    """Parameters of the point-mass beta mixture (a JAX pytree).

    ``lo``, ``hi``, ``w_lo``, ``w_hi`` have the batch shape ``(...)``; ``mix``, ``alpha``, ``beta`` have shape
    ``(..., m)`` for ``m`` beta components.
    """

    lo: Any
    hi: Any
    w_lo: Any
    w_hi: Any
    mix: Any
    alpha: Any
    beta: Any


# ---------------------------------------------------------------------------------------------------------------
# Pure JAX core (callers enable x64)
# ---------------------------------------------------------------------------------------------------------------


def _geometry(p: MarginalParams, x):
    """Scaled coordinates ``u = (x - lo) / s`` and ``v = (hi - x) / s``, safe outside ``(lo, hi)``.

    Outside the open interval ``u`` and ``v`` are replaced by 0.5 so that functions of them (and their
    gradients) stay finite in the branch that ``jnp.where`` discards.
    """
    s = p.hi - p.lo
    s_safe = jnp.where(s > 0, s, 1.0)
    inside = (x > p.lo) & (x < p.hi)
    u = jnp.where(inside, (x - p.lo) / s_safe, 0.5)
    v = jnp.where(inside, (p.hi - x) / s_safe, 0.5)
    return u, v, inside, s_safe


def _mixture_cdf_u(mix, alpha, beta, u):
    """Beta-mixture cdf at ``u`` in (0, 1); ``u`` has the batch shape of ``mix[..., 0]``."""
    return jnp.sum(mix * betainc(alpha, beta, u[..., None]), axis=-1)


def _mixture_logpdf_u(mix, alpha, beta, log_u, log_v):
    """Beta-mixture log density given ``log u`` and ``log(1 - u)`` (computed accurately by the caller)."""
    comp = (alpha - 1.0) * log_u[..., None] + (beta - 1.0) * log_v[..., None] - betaln(alpha, beta)
    return logsumexp(jnp.log(mix) + comp, axis=-1)


@jax.jit
def interior_cdf(p: MarginalParams, x):
    """Cdf ``G`` of the continuous part (scaled beta mixture) at ``x``: 0 below ``lo``, 1 from ``hi`` on."""
    u, _, inside, _ = _geometry(p, x)
    g = _mixture_cdf_u(p.mix, p.alpha, p.beta, u)
    return jnp.where(inside, g, jnp.where(x <= p.lo, 0.0, 1.0))


@jax.jit
def interior_log_prob(p: MarginalParams, x):
    """Log density of the continuous part w.r.t. Lebesgue measure; ``-inf`` outside ``(lo, hi)``."""
    u, v, inside, s = _geometry(p, x)
    lp = _mixture_logpdf_u(p.mix, p.alpha, p.beta, jnp.log(u), jnp.log(v)) - jnp.log(s)
    return jnp.where(inside, lp, -jnp.inf)


@jax.jit
def cdf(p: MarginalParams, x):
    """Right-continuous cdf: 0 below ``lo``, ``w_lo + (1 - w_lo - w_hi) G(x)`` on ``[lo, hi)``, 1 from ``hi`` on."""
    c = 1.0 - p.w_lo - p.w_hi
    inner = p.w_lo + c * interior_cdf(p, x)
    return jnp.where(x < p.lo, 0.0, jnp.where(x >= p.hi, 1.0, inner))


@jax.jit
def log_prob(p: MarginalParams, x):
    """Log density w.r.t. Lebesgue measure plus counting measure at ``lo`` and ``hi``.

    ``log w_lo`` at ``x == lo``, ``log w_hi`` at ``x == hi`` (``-inf`` for an empty atom),
    ``log(1 - w_lo - w_hi) + log g(x)`` inside, ``-inf`` outside ``[lo, hi]``.
    """
    c = 1.0 - p.w_lo - p.w_hi
    inner = jnp.log(c) + interior_log_prob(p, x)
    return jnp.where(x == p.lo, jnp.log(p.w_lo), jnp.where(x == p.hi, jnp.log(p.w_hi), inner))


@jax.jit
def interior_partial_expectation(p: MarginalParams, a):
    """``E[Phi 1{Phi > a} | Phi interior]`` in closed form.

    With ``Phi = lo + s U``, ``U ~ sum_j pi_j Beta(alpha_j, beta_j)`` and ``u = (a - lo) / s``:
    ``E[(lo + s U) 1{U > u}] = sum_j pi_j [lo P_j(U > u) + s mu_j (1 - I_u(alpha_j + 1, beta_j))]``,
    ``mu_j = alpha_j / (alpha_j + beta_j)``.  Upper tails are evaluated as ``I_{1-u}(beta, alpha)`` with
    ``1 - u = (hi - a) / s`` computed directly, which keeps them accurate next to ``hi``.
    """
    _, v, inside, s = _geometry(p, a)
    al, be = p.alpha, p.beta
    mu = al / (al + be)
    surv = betainc(be, al, v[..., None])
    tail1 = betainc(be, al + 1.0, v[..., None])
    val = jnp.sum(p.mix * (p.lo[..., None] * surv + s[..., None] * mu * tail1), axis=-1)
    full = p.lo + (p.hi - p.lo) * jnp.sum(p.mix * mu, axis=-1)
    return jnp.where(inside, val, jnp.where(a <= p.lo, full, 0.0))


@jax.jit
def partial_expectation(p: MarginalParams, a):
    """``E[Phi 1{Phi > a}]``: the interior part weighted by ``1 - w_lo - w_hi`` plus the atoms above ``a``."""
    c = 1.0 - p.w_lo - p.w_hi
    atoms = jnp.where(p.lo > a, p.w_lo * p.lo, 0.0) + jnp.where(p.hi > a, p.w_hi * p.hi, 0.0)
    return atoms + c * interior_partial_expectation(p, a)


@jax.jit
def mean(p: MarginalParams):
    """``E[Phi]``."""
    return partial_expectation(p, jnp.full_like(p.lo, -jnp.inf))


@jax.jit
def variance(p: MarginalParams):
    """``Var[Phi]`` from the closed-form first two moments of the beta components."""
    c = 1.0 - p.w_lo - p.w_hi
    al, be = p.alpha, p.beta
    mu = al / (al + be)
    eu = jnp.sum(p.mix * mu, axis=-1)
    eu2 = jnp.sum(p.mix * mu * (al + 1.0) / (al + be + 1.0), axis=-1)
    s = p.hi - p.lo
    second = p.w_lo * p.lo**2 + p.w_hi * p.hi**2 + c * (p.lo**2 + 2.0 * p.lo * s * eu + s**2 * eu2)
    return second - mean(p) ** 2


@jax.jit
def icdf(p: MarginalParams, q):
    """Generalised inverse ``inf{x : F(x) >= q}``.

    ``lo`` for ``q <= w_lo``, ``hi`` for ``q > 1 - w_hi``; in between, ``G(u) = (q - w_lo) / (1 - w_lo - w_hi)``
    is solved in the scaled coordinate by Newton's method safeguarded by a bisection bracket, with a fixed
    number of steps (so that it jits and vmaps).  A final Newton step taken from the (gradient-stopped) root
    gives the implicit-function derivatives ``dx/dq = 1 / f(x)`` and ``dx/dtheta = -dF/dtheta / f(x)``.
    """
    q = jnp.asarray(q, dtype=jnp.result_type(float))
    c = 1.0 - p.w_lo - p.w_hi
    in_interior = (q > p.w_lo) & (q <= 1.0 - p.w_hi)
    t = jnp.where(in_interior, (q - p.w_lo) / jnp.where(c > 0, c, 1.0), 0.5)
    mix, al, be = (jax.lax.stop_gradient(z) for z in (p.mix, p.alpha, p.beta))
    t_sg = jax.lax.stop_gradient(t)

    def density(u, mix, al, be):
        return jnp.exp(_mixture_logpdf_u(mix, al, be, jnp.log(u), jnp.log1p(-u)))

    def step(_, state):
        u, lo_b, hi_b = state
        gu = _mixture_cdf_u(mix, al, be, u)
        below = gu < t_sg
        lo_b = jnp.where(below, u, lo_b)
        hi_b = jnp.where(below, hi_b, u)
        newton = u - (gu - t_sg) / density(u, mix, al, be)
        ok = jnp.isfinite(newton) & (newton > lo_b) & (newton < hi_b)
        return jnp.where(ok, newton, 0.5 * (lo_b + hi_b)), lo_b, hi_b

    shape = jnp.broadcast_shapes(jnp.shape(t), jnp.shape(p.lo))
    u0 = jnp.full(shape, 0.5)
    u_root, _, _ = jax.lax.fori_loop(0, _ICDF_STEPS, step, (u0, jnp.zeros(shape), jnp.ones(shape)))
    u_root = jax.lax.stop_gradient(u_root)
    f = density(u_root, p.mix, p.alpha, p.beta)
    good = jnp.isfinite(f) & (f > 0)
    correction = (_mixture_cdf_u(p.mix, p.alpha, p.beta, u_root) - t) / jnp.where(good, f, 1.0)
    u = jnp.clip(u_root - jnp.where(good, correction, 0.0), 0.0, 1.0)
    x = p.lo + (p.hi - p.lo) * u
    return jnp.where(q <= p.w_lo, p.lo, jnp.where(q > 1.0 - p.w_hi, p.hi, x))


@partial(jax.jit, static_argnames=("sample_shape",))
def sample(p: MarginalParams, key, sample_shape: tuple[int, ...] = ()):
    """Draw samples of shape ``sample_shape + batch_shape``.

    A category (0: atom at ``lo``, 1: atom at ``hi``, ``2 + j``: beta component ``j``) is drawn first; beta variates are formed
    from two log-gamma variates, ``U = sigmoid(log G_1 - log G_2)`` and ``1 - U = sigmoid(log G_2 - log G_1)``, so
    both ends keep full precision for small shape parameters.  Interior draws are kept strictly inside
    ``(lo, hi)`` (one ulp in at worst) so that refitting recognises the atoms exactly.
    """
    batch = jnp.shape(p.lo)
    shape = tuple(sample_shape) + batch
    m = p.mix.shape[-1]
    c = 1.0 - p.w_lo - p.w_hi
    probs = jnp.concatenate([p.w_lo[..., None], p.w_hi[..., None], c[..., None] * p.mix], axis=-1)
    k_cat, k_a, k_b = jax.random.split(key, 3)
    cat = sample_categories(k_cat, probs, shape)
    comp = jnp.clip(cat - 2, 0, m - 1)[..., None]
    al = jnp.take_along_axis(jnp.broadcast_to(p.alpha, shape + (m,)), comp, axis=-1)[..., 0]
    be = jnp.take_along_axis(jnp.broadcast_to(p.beta, shape + (m,)), comp, axis=-1)[..., 0]
    lg = log_gamma_variates(k_a, al) - log_gamma_variates(k_b, be)
    u, v = jax.nn.sigmoid(lg), jax.nn.sigmoid(-lg)
    x = jnp.where(u < 0.5, p.lo + (p.hi - p.lo) * u, p.hi - (p.hi - p.lo) * v)
    x = jnp.clip(x, jnp.nextafter(p.lo, p.hi), jnp.nextafter(p.hi, p.lo))
    return jnp.where(cat == 0, p.lo, jnp.where(cat == 1, p.hi, x))




# ---------------------------------------------------------------------------------------------------------------
# NumPyro distribution
# ---------------------------------------------------------------------------------------------------------------


class PointMassBetaMixture(npdist.Distribution):
    """Point masses at ``lo`` and ``hi`` plus a beta mixture rescaled to ``[lo, hi]`` (eq. 7-8 of the study).

    .. math::
        F = w_{lo} \\delta_{lo} + w_{hi} \\delta_{hi} + (1 - w_{lo} - w_{hi}) \\sum_j \\pi_j
            \\mathrm{Beta}\\left(\\tfrac{\\cdot - lo}{hi - lo} \\mid \\alpha_j, \\beta_j\\right)

    Parameters
    ----------
    lo, hi : array_like, batch shape
        Ends of the support (``phi_min``, ``phi_max``), ``lo < hi``.
    w_lo, w_hi : array_like, batch shape
        Point masses at ``lo`` and ``hi`` (``w_lo + w_hi <= 1``).
    mix : array_like, shape ``batch + (m,)``
        Component weights (sum to one).
    alpha, beta : array_like, shape ``batch + (m,)``
        Beta shape parameters (positive).
    validate_args : bool, optional
        NumPyro argument validation.

    Notes
    -----
    All methods are pure JAX and differentiable in ``x``/``a``/``q`` and in the parameters; call them with
    64-bit types enabled (``with probcascade.float64():``).  ``log_prob`` is a density w.r.t. Lebesgue measure
    plus counting measure at ``lo`` and ``hi``.
    """

    arg_constraints = {
        "lo": constraints.real,
        "hi": constraints.real,
        "w_lo": constraints.unit_interval,
        "w_hi": constraints.unit_interval,
        "mix": constraints.simplex,
        "alpha": constraints.positive,
        "beta": constraints.positive,
    }
    reparametrized_params: list[str] = []

    def __init__(self, lo, hi, w_lo, w_hi, mix, alpha, beta, *, validate_args: bool | None = None):
        mix, alpha, beta = (jnp.atleast_1d(jnp.asarray(z)) for z in (mix, alpha, beta))
        lo, hi, w_lo, w_hi = (jnp.asarray(z) for z in (lo, hi, w_lo, w_hi))
        batch_shape = jnp.broadcast_shapes(
            lo.shape, hi.shape, w_lo.shape, w_hi.shape, mix.shape[:-1], alpha.shape[:-1], beta.shape[:-1]
        )
        m = max(mix.shape[-1], alpha.shape[-1], beta.shape[-1])
        dtype = jnp.result_type(lo, hi, w_lo, w_hi, mix, alpha, beta, float)
        self.lo, self.hi, self.w_lo, self.w_hi = (
            jnp.broadcast_to(z, batch_shape).astype(dtype) for z in (lo, hi, w_lo, w_hi)
        )
        self.mix, self.alpha, self.beta = (
            jnp.broadcast_to(z, batch_shape + (m,)).astype(dtype) for z in (mix, alpha, beta)
        )
        super().__init__(batch_shape=batch_shape, event_shape=(), validate_args=validate_args)

    @classmethod
    def from_params(cls, params: MarginalParams, *, validate_args: bool | None = None) -> "PointMassBetaMixture":
        """Build the distribution from a :class:`MarginalParams` pytree."""
        return cls(*params, validate_args=validate_args)

    @property
    def params(self) -> MarginalParams:
        """The parameters as a :class:`MarginalParams` pytree."""
        return MarginalParams(self.lo, self.hi, self.w_lo, self.w_hi, self.mix, self.alpha, self.beta)

    @property
    def n_components(self) -> int:
        """Number of beta components."""
        return self.mix.shape[-1]

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(self.lo, self.hi)

    def sample(self, key, sample_shape: tuple[int, ...] = ()):
        """Samples of shape ``sample_shape + batch_shape`` (see :func:`sample`)."""
        return sample(self.params, key, tuple(sample_shape))

    def log_prob(self, value):
        """Log density (Lebesgue plus counting measure at ``lo``, ``hi``); see :func:`log_prob`."""
        if self._validate_args:
            self._validate_sample(value)
        return log_prob(self.params, value)

    def cdf(self, value):
        """Right-continuous distribution function."""
        return cdf(self.params, value)

    def icdf(self, q):
        """Generalised inverse of the cdf (see :func:`icdf`)."""
        return icdf(self.params, q)

    def interior_cdf(self, value):
        """Cdf of the continuous part (the scaled beta mixture ``G``)."""
        return interior_cdf(self.params, value)

    def interior_log_prob(self, value):
        """Log density of the continuous part."""
        return interior_log_prob(self.params, value)

    def partial_expectation(self, a):
        """``E[Phi 1{Phi > a}]`` in closed form (differentiable in ``a``)."""
        return partial_expectation(self.params, a)

    def interior_partial_expectation(self, a):
        """``E[Phi 1{Phi > a} | Phi interior]`` in closed form."""
        return interior_partial_expectation(self.params, a)

    @property
    def mean(self):
        return mean(self.params)

    @property
    def variance(self):
        return variance(self.params)
