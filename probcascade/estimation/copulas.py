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
from dataclasses import dataclass
from functools import partial
from typing import Sequence
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from probcascade.precision import x64
from probcascade.exceptions import DataValidationError, FitError, IndependenceFallbackWarning
from probcascade.distributions.copulas import COPULA_FAMILIES
from probcascade.distributions.copulas import Copula
from probcascade.distributions.copulas import IndependenceCopula
from probcascade.distributions.copulas import clip_unit
from probcascade.distributions.copulas import eval_theta_from_tau
from probcascade.distributions.copulas import get_family
from probcascade.distributions.copulas import is_traced

__all__ = ["CopulaFit", "pseudo_observations", "kendall_tau", "kendall_tau_matrix", "fit_copula", "compare_copulas"]



# Data of different sizes share compiled code: arrays are padded to a multiple of PAD_BUCKET with PAD_VALUE, a value above
# every copula argument, so that padded entries sort last and never count as "<=" a real one; the true size n is
# a traced argument and masks the padding out.
PAD_BUCKET = 128
PAD_VALUE = 2.0


def pad_capacity(n: int) -> int:
    return -(-n // PAD_BUCKET) * PAD_BUCKET


def pad_unit(x: np.ndarray) -> jnp.ndarray:
    return jnp.asarray(np.concatenate([x, np.full(pad_capacity(x.size) - x.size, PAD_VALUE)]))


# ------------------------------------------------------------------------------------------------ results
def kv_table(title: str, rows: Sequence[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    line = "=" * max(len(title), width + 24)
    return "\n".join([title, line, *(f"{k:<{width}}  {val:>20}" for k, val in rows), line])


def check_vector(x, name: str, *, unit: bool = False, min_n: int = 3) -> np.ndarray:
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


def check_pair(x, y, names: tuple[str, str] = ("u", "v"), *, unit: bool = True) -> tuple[np.ndarray, np.ndarray]:
    a, b = check_vector(x, names[0], unit=unit), check_vector(y, names[1], unit=unit)
    if a.size != b.size:
        raise DataValidationError(f"arguments '{names[0]}' and '{names[1]}' differ in length ({a.size} vs {b.size})")
    return a, b


# ------------------------------------------------------------------------------------------------ rank statistics (core)
def rank_pseudo(x: jnp.ndarray) -> jnp.ndarray:
    """Average ranks / (n + 1) along axis 0 (ties share their mean rank)."""
    xs = jnp.sort(x)
    left = jnp.searchsorted(xs, x, side="left").astype(x.dtype)  # searchsorted returns int32
    right = jnp.searchsorted(xs, x, side="right").astype(x.dtype)
    return (left + right + 1) / 2.0 / (x.shape[0] + 1)


def row_blocks(n: int, block: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Row indices (n_blocks, block) covering 0..n-1, clamped into range, and the unclamped indices."""
    block = max(1, min(block, n))
    raw = jnp.arange(-(-n // block) * block).reshape(-1, block)
    return jnp.minimum(raw, n - 1), raw


def _pairwise_sums(x: jnp.ndarray, y: jnp.ndarray, kernel, n_valid, block: int = 256) -> jnp.ndarray:
    """sum over ordered pairs i, j < n_valid of kernel(x_i, x_j, y_i, y_j), in row blocks (O(n^2) time)."""
    rows, raw = row_blocks(x.shape[0], block)
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


def kendall_tau_b(x: jnp.ndarray, y: jnp.ndarray, n_valid=None) -> jnp.ndarray:
    """Kendall's tau-b (tie-corrected) of the first ``n_valid`` entries (default all); O(n^2), vmap-able.

    NaN when either vector is constant.
    """
    n = x.shape[0] if n_valid is None else n_valid
    s, tx, ty = _pairwise_sums(x, y, _tau_kernel, n)
    n0 = n * (n - 1) / 2.0
    n1, n2 = (tx - n) / 2.0, (ty - n) / 2.0  # tied pairs (the diagonal counts as a tie)
    return (s / 2.0) / jnp.sqrt((n0 - n1) * (n0 - n2))


kendall_tau_b_jit = jax.jit(kendall_tau_b)


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
    return jnp.sum(jnp.where(jnp.arange(u.shape[0]) < n, cls._log_pdf(clip_unit(u), clip_unit(v), theta), 0.0))


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
        return kv_table("Copula fit", rows)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"family": self.family, "requested_family": self.requested_family, "method": self.method,
                              "n": self.n, "theta": self.theta, "tau": self.tau, "n_params": self.n_params,
                              "loglik": self.loglik, "aic": self.aic}])


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
        cols = [pseudo_observations(check_vector(x[c], f"column '{c}'", min_n=1)) for c in x.columns]
        return pd.DataFrame(np.column_stack(cols) if cols else np.empty((len(x), 0)), index=x.index, columns=x.columns)
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2:
        return np.column_stack([pseudo_observations(check_vector(a[:, j], f"x[:, {j}]", min_n=1)) for j in range(a.shape[1])])
    return np.asarray(rank_pseudo(jnp.asarray(check_vector(a, "x", min_n=1))))


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
    if is_traced(x, y):
        return kendall_tau_b(jnp.asarray(x), jnp.asarray(y))
    a, b = check_pair(x, y, ("x", "y"), unit=False)
    tau = float(kendall_tau_b_jit(pad_unit(a), pad_unit(b), a.size))
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
    data = np.column_stack([check_vector(frame[c], f"column '{c}'") for c in frame.columns])
    i, j = np.triu_indices(data.shape[1], k=1)
    taus = np.asarray(jax.jit(jax.vmap(kendall_tau_b))(jnp.asarray(data[:, i].T), jnp.asarray(data[:, j].T)))
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
    cls = get_family(family)
    if method not in ("tau", "mle"):
        raise DataValidationError(f"unknown fitting method '{method}' (choose 'tau' or 'mle')")
    a, b = check_pair(u, v)
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
    pa, pb = pad_unit(a), pad_unit(b)
    theta = eval_theta_from_tau(cls, tau)
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
