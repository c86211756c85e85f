"""Rank-based estimation of bivariate copulas (§3.2 of the study) from pseudo-observations.

The copula between two models' calibrated confidences is fitted on their ranks, not their values, so the margins
never enter the estimate: :func:`pseudo_observations` turns each variable into ranks / (n + 1).
:func:`fit_copula` estimates a family's parameter either by inverting Kendall's tau (eq. 10 for the Gumbel copula,
``theta = 1 / (1 - tau)``; the study's method) or by maximum likelihood (a grid over tau refined by golden-section
search, so only function values are compiled), and returns a :class:`CopulaFit` with log-likelihood, AIC and a
standard error for theta (delta method on tau's U-statistic variance, or the observed information).
:func:`compare_copulas` ranks several families by AIC. A family that models positive dependence only falls back to
the independence copula, with a warning, when the data's tau is not positive.

:func:`kendall_tau` is tau-b (ties handled), computed in row blocks in JAX so that memory stays O(n x block);
:func:`kendall_tau_matrix` applies it to every pair of a frame's columns. Data are padded to a multiple of
:data:`PAD_BUCKET`, with the true size a traced argument, so samples of similar sizes share one compilation; the
goodness-of-fit test (:mod:`probcascade.gof.copula`) reuses these rank helpers and padding.

The entry points enable float64 themselves and return NumPy / pandas objects; the families are in
:mod:`probcascade.distributions.copulas`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property, partial
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
from probcascade.summary import FitResultMixin, Summary
from probcascade.validation import check_array, check_choice, check_matching_rows

__all__ = ["CopulaFit", "pseudo_observations", "kendall_tau", "kendall_tau_matrix", "fit_copula", "compare_copulas"]



# Data of different sizes share compiled code: arrays are padded to a multiple of PAD_BUCKET with PAD_VALUE, a value above
# every copula argument, so that padded entries sort last and never count as "<=" a real one; the true size n is
# a traced argument and masks the padding out.
PAD_BUCKET = 128
PAD_VALUE = 2.0


def pad_capacity(n: int) -> int:
    # Not validation.padded_size: the rank statistics and the goodness-of-fit bootstrap are O(n^2) in the padded
    # size, so rounding to a power of two could cost up to 4x the work; multiples of 128 keep the waste below 128
    # entries. The padding is by PAD_VALUE (sorts last), not by a mask, and changing the size would change sums.
    return -(-n // PAD_BUCKET) * PAD_BUCKET


def pad_unit(x: np.ndarray) -> jnp.ndarray:
    return jnp.asarray(np.concatenate([x, np.full(pad_capacity(x.size) - x.size, PAD_VALUE)]))


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


@partial(jax.jit, static_argnames=("block",))
def _tau_rows(x: jnp.ndarray, y: jnp.ndarray, n_valid, block: int = 256) -> jnp.ndarray:
    """Per row i < n_valid, sums over j < n_valid of (sign(x_i - x_j) sign(y_i - y_j), [x_i == x_j], [y_i == y_j]);
    shape (len(x), 3), rows >= n_valid are garbage.  The row sums of :func:`kendall_tau_b`'s kernel, for the
    variance of Kendall's tau (its U-statistic projection)."""
    rows, _ = row_blocks(x.shape[0], block)
    col_ok = jnp.arange(x.shape[0]) < n_valid

    def one(r):
        k = _tau_kernel(x[r][:, None], x[None, :], y[r][:, None], y[None, :])
        return jnp.sum(jnp.where(col_ok[None, :, None], k, 0.0), axis=1)

    return jax.lax.map(one, rows).reshape(-1, 3)[: x.shape[0]]


@x64
def tau_standard_error(x: np.ndarray, y: np.ndarray) -> float:
    """Asymptotic standard error of Kendall's tau-b of the 1-d float samples ``x``, ``y`` (of equal length >= 3).

    Kendall's tau is a U-statistic of degree 2, so ``n Var(tau_n) -> 4 Var(h1(X, Y))`` with the projection
    ``h1(x, y) = E[sign(x - X) sign(y - Y)]`` (Hoeffding 1948); ``h1`` is estimated at each observation by its
    average over the other ``n - 1``, and the tie correction of tau-b is applied as a constant factor.
    """
    n = x.size
    sums = np.asarray(_tau_rows(pad_unit(x), pad_unit(y), n))[:n]
    h1 = sums[:, 0] / (n - 1)
    var_h1 = float(np.sum((h1 - h1.mean()) ** 2) / (n - 1))
    n0 = n * (n - 1) / 2.0
    n1, n2 = (sums[:, 1].sum() - n) / 2.0, (sums[:, 2].sum() - n) / 2.0
    return float(n0 / math.sqrt((n0 - n1) * (n0 - n2)) * math.sqrt(4.0 * var_h1 / n))


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


@partial(jax.jit, static_argnames=("cls",))
def _loglik_curvature(u: jnp.ndarray, v: jnp.ndarray, n, theta, cls: type[Copula]) -> jnp.ndarray:
    """d^2 loglik / d theta^2 of the first n (padded) points, by ``jax.hessian``."""
    return jax.hessian(lambda t: _loglik(u, v, n, t, cls))(theta)


@dataclass(frozen=True)
class CopulaFit(FitResultMixin):
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
    converged : bool
        Always True for :func:`fit_copula` (tau inversion is closed form or a bisection to machine precision; the
        likelihood search brackets the maximum to machine precision).
    data : tuple of two ndarrays or None
        The ``(u, v)`` the fit used, kept for the standard error (``None``: no standard error).

    The common fit-result interface (:class:`~probcascade.summary.FitResultMixin`) adds ``params`` (``theta``;
    empty for independence), ``se``, ``conf_int(alpha)``, ``bic``, ``to_frame()`` and ``summary()``.

    Standard error of ``theta`` (computed on first access of ``se`` from the data kept by :func:`fit_copula`;
    NaN for a fit built without data or whose ``theta`` is at a bound of the family's range):

    * ``method="tau"``: the delta method, ``se(theta) = se(tau) / |d tau / d theta|``, with ``se(tau)`` the
      U-statistic asymptotic standard error of Kendall's tau (:func:`tau_standard_error`) and the derivative by
      ``jax.grad`` of the family's tau(theta).  Kendall's tau depends on ranks only, so this accounts for the
      margins being estimated by pseudo-observations.
    * ``method="mle"``: the observed information, ``se(theta) = (-d^2 loglik / d theta^2)^(-1/2)`` at the
      estimate, the second derivative by ``jax.hessian``.  This is the MLE's standard error when ``u``, ``v`` are
      the true uniform margins; on pseudo-observations it ignores the estimation of the margins and understates
      the standard error of the pseudo-likelihood estimator (Genest, Ghoudi and Rivest 1995).
    """

    family: str
    theta: float
    tau: float
    n: int
    loglik: float
    aic: float
    method: str
    requested_family: str
    converged: bool = True
    data: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    @property
    def copula(self) -> Copula:
        """The fitted copula as a distribution object."""
        return COPULA_FAMILIES[self.family](self.theta)

    @property
    def n_params(self) -> int:
        return COPULA_FAMILIES[self.family].n_params

    @property
    def params(self) -> pd.Series:
        """``theta`` as a one-entry Series (empty for the independence copula)."""
        return pd.Series([self.theta][: self.n_params], index=["theta"][: self.n_params], dtype=float)

    @cached_property
    def se(self) -> pd.Series:
        """Standard error of ``theta`` (see the class docstring for the method)."""
        return pd.Series([self._theta_se()][: self.n_params], index=["theta"][: self.n_params], dtype=float)

    @x64
    def _theta_se(self) -> float:
        cls = COPULA_FAMILIES[self.family]
        lo, hi = cls.theta_bounds
        if self.data is None or not lo < self.theta < hi:
            return float("nan")
        u, v = self.data
        theta = jnp.asarray(self.theta, dtype=jnp.float64)
        if self.method == "mle":
            info = -float(_loglik_curvature(pad_unit(u), pad_unit(v), u.size, theta, cls))
            return 1.0 / math.sqrt(info) if info > 0 else float("nan")
        slope = abs(float(jax.grad(cls._tau)(theta)))
        return tau_standard_error(u, v) / slope if slope > 0 else float("nan")

    def summary(self, title: str | None = None) -> Summary:
        """Family, fit statistics and ``theta`` with its standard error (a :class:`~probcascade.summary.Summary`)."""
        fam = self.family if self.family == self.requested_family else f"{self.family} (fallback from {self.requested_family})"
        out = Summary(title if title is not None else "Copula fit")
        out.add_dict({"family": fam, "method": self.method, "n": self.n, "Kendall tau (data)": self.tau,
                      "log-likelihood": self.loglik, "AIC": self.aic, "BIC": self.bic, "converged": self.converged},
                     ncols=2)
        if self.n_params:
            out.add_table(FitResultMixin.to_frame(self).set_index("param"), "Parameters (95% Wald intervals)")
            out.add_note("Standard error: " + ("delta method on Kendall's tau." if self.method == "tau"
                                               else "observed information of the copula log-likelihood."))
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row: family, method, ``n``, ``theta`` and its standard error ``se`` (NaN for independence), tau,
        log-likelihood, AIC and BIC."""
        return pd.DataFrame([{"family": self.family, "requested_family": self.requested_family, "method": self.method,
                              "n": self.n, "theta": self.theta, "tau": self.tau, "n_params": self.n_params,
                              "loglik": self.loglik, "aic": self.aic, "se": self.se.get("theta", np.nan),
                              "bic": self.bic}])


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
        a = check_array(x, "x", ndim=2, min_rows=1 if x.shape[1] else None)
        cols = [pseudo_observations(a[:, j]) for j in range(a.shape[1])]
        return pd.DataFrame(np.column_stack(cols) if cols else np.empty((len(x), 0)), index=x.index, columns=x.columns)
    a = check_array(x, "x", ndim=(1, 2), min_rows=1)
    if a.ndim == 2:
        return np.column_stack([pseudo_observations(a[:, j]) for j in range(a.shape[1])])
    return np.asarray(rank_pseudo(jnp.asarray(a)))


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
    a = check_array(x, "x", ndim=1, min_rows=3)
    b = check_array(y, "y", ndim=1, min_rows=3)
    check_matching_rows("x", a, "y", b)
    tau = float(kendall_tau_b_jit(pad_unit(a), pad_unit(b), a.size))
    if not np.isfinite(tau):
        which = "x" if np.ptp(a) == 0 else "y"
        raise DataValidationError(f"'{which}' is constant: Kendall's tau is undefined")
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
        raise DataValidationError(f"'frame' must be a pandas DataFrame, got {type(frame).__name__}")
    if frame.shape[1] < 2:
        raise DataValidationError(f"'frame' needs at least 2 columns, got {frame.shape[1]}")
    data = check_array(frame, "frame", ndim=2, min_rows=3)
    i, j = np.triu_indices(data.shape[1], k=1)
    taus = np.asarray(jax.jit(jax.vmap(kendall_tau_b))(jnp.asarray(data[:, i].T), jnp.asarray(data[:, j].T)))
    if not np.isfinite(taus).all():
        const = [str(c) for c in frame.columns[np.ptp(data, axis=0) == 0]]
        raise DataValidationError(f"'frame' has constant column(s) {const}: Kendall's tau is undefined")
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
    check_choice(method, "method", ("tau", "mle"))
    a = check_array(u, "u", ndim=1, unit_interval=True, min_rows=3)
    b = check_array(v, "v", ndim=1, unit_interval=True, min_rows=3)
    check_matching_rows("u", a, "v", b)
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
    return CopulaFit(cls.name, float(theta), tau, int(a.size), loglik, 2.0 * cls.n_params - 2.0 * loglik, method, requested,
                     data=(a.copy(), b.copy()))


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
        raise DataValidationError("'families' is empty")
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
