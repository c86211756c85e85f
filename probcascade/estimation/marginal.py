"""Maximum-likelihood fit of the point-mass beta mixture (eq. 7-8 of the study) to one model's calibrated confidences.

:func:`fit_marginal` estimates the distribution as the study does - the support ``[lo, hi]`` at the observed
extremes, the point masses by counting the observations at the ends, the beta mixture by EM on the interior points
(:mod:`probcascade.estimation.em`) - optionally choosing the number of components by AIC or BIC, and returns a
:class:`MarginalFit` (parameters, log-likelihood, AIC/BIC, convergence flag, ``summary()``). It is the user entry
point around the pure fit: it validates the data, enables float64 itself, and pads the sample to a power of two so
that fits of similar sizes reuse one compilation. :func:`as_params` reads the parameters out of any of the
marginal's representations (fit, distribution or parameter tuple).
"""

from __future__ import annotations

import dataclasses
import math
import jax.numpy as jnp
import numpy as np
import pandas as pd
from probcascade.precision import x64
from probcascade.exceptions import DataValidationError, FitError
from probcascade.distributions.marginal import MarginalParams
from probcascade.distributions.marginal import PointMassBetaMixture
from probcascade.estimation.em import N_ITER, fit_core
from probcascade.summary import FitResultMixin, Summary
from probcascade.validation import check_array, check_choice, check_float, check_int, pad_rows, padded_size

__all__ = ["fit_marginal", "MarginalFit", "as_params"]



def as_params(dist, name: str = "dist") -> MarginalParams:
    """The unbatched :class:`MarginalParams` of a ``MarginalFit``, ``PointMassBetaMixture`` or ``MarginalParams``.

    ``name`` is the argument named in the error raised for anything else (or a batched distribution).
    """
    if isinstance(dist, MarginalFit):
        return dist.params
    if isinstance(dist, PointMassBetaMixture):
        if dist.batch_shape != ():
            raise DataValidationError(f"'{name}' must be an unbatched distribution, got batch shape {dist.batch_shape}")
        return MarginalParams(*(np.asarray(z) for z in dist.params))
    if isinstance(dist, MarginalParams):
        return dist
    raise DataValidationError(
        f"'{name}' must be a PointMassBetaMixture, MarginalFit or MarginalParams, got {type(dist).__name__}"
    )


# ---------------------------------------------------------------------------------------------------------------
# User entry points
# ---------------------------------------------------------------------------------------------------------------


def check_marginal_data(values, name: str, min_size: int = 2, allow_constant: bool = False) -> np.ndarray:
    """A finite 1-D sample of at least ``min_size`` observations, with spread unless ``allow_constant``."""
    arr = check_array(values, name, ndim=1, min_rows=min_size)
    if not allow_constant and arr.min() == arr.max():
        raise DataValidationError(
            f"'{name}' is constant: all {arr.size} values equal {float(arr[0])!r}; a constant sample has no spread to fit"
        )
    return arr


def _to_numpy(params: MarginalParams) -> MarginalParams:
    return MarginalParams(*(np.asarray(z) for z in params))


@dataclasses.dataclass(frozen=True)
class MarginalFit(FitResultMixin):
    """A fitted point-mass beta mixture.

    The common fit-result interface (:class:`~probcascade.summary.FitResultMixin`: ``se``, ``conf_int(alpha)``,
    ``to_frame()``, ``summary()`` next to ``loglik``, ``aic``, ``bic``, ``n``, ``converged``) sees the parameters
    as a Series named ``lo``, ``hi``, ``w_lo``, ``w_hi``, ``mix[j]``, ``alpha[j]``, ``beta[j]`` (:attr:`param_series`);
    ``params`` stays the :class:`MarginalParams`.  Standard errors: binomial ``sqrt(w (1 - w) / n)`` for the point
    masses (counted proportions); NaN for the ends (sample extremes, a non-regular problem) and the beta mixture
    (EM gives no information matrix).

    Attributes
    ----------
    params : MarginalParams
        Fitted parameters (NumPy arrays).
    n : int
        Number of observations.
    loglik : float
        Observed-data log-likelihood (density w.r.t. Lebesgue plus counting measure at the ends).
    aic, bic : float
        Information criteria with ``k = 3 m - 1`` mixture parameters, plus ``w_lo``, ``w_hi``, plus ``lo`` and
        ``hi`` when they were estimated from the data.
    n_components : int
        Number of beta components ``m``.
    n_params : int
        ``k`` above.
    n_iter : int
        EM iterations run.
    converged : bool
        Whether the log-likelihood changed by less than ``1e-6 (1 + |loglik|)`` over the last 10 iterations.
    criterion : str or None
        ``'aic'``/``'bic'`` if ``n_components`` was selected by it.
    """

    params: MarginalParams
    n: int
    loglik: float
    aic: float
    bic: float
    n_components: int
    n_params: int
    n_iter: int
    converged: bool
    criterion: str | None = None

    @property
    @x64
    def distribution(self) -> PointMassBetaMixture:
        """The fitted :class:`PointMassBetaMixture` (float64; evaluate it under ``probcascade.float64()``)."""
        return PointMassBetaMixture.from_params(self.params)

    @property
    def param_series(self) -> pd.Series:
        """The parameters as a flat Series: ``lo``, ``hi``, ``w_lo``, ``w_hi``, then ``mix[j]``, ``alpha[j]``,
        ``beta[j]`` per component ``j``."""
        p = self.params
        names = ["lo", "hi", "w_lo", "w_hi"]
        values = [float(getattr(p, name)) for name in names]
        for j in range(self.n_components):
            names += [f"{name}[{j}]" for name in ("mix", "alpha", "beta")]
            values += [float(getattr(p, name)[j]) for name in ("mix", "alpha", "beta")]
        return pd.Series(values, index=names, dtype=float)

    @property
    def se(self) -> pd.Series:
        """Standard errors (see the class docstring): binomial for ``w_lo``, ``w_hi``, NaN otherwise."""
        par = self.param_series
        out = pd.Series(np.nan, index=par.index)
        for name in ("w_lo", "w_hi"):
            out[name] = math.sqrt(par[name] * (1.0 - par[name]) / self.n)
        return out

    def _estimates(self) -> tuple[pd.Series, pd.Series]:
        return self.param_series, self.se

    def to_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """Parameters in long form: columns ``parameter``, ``component`` (NaN for scalars), ``value``, and the
        standard error ``se`` with the Wald ``1 - alpha`` interval ``lower``, ``upper`` (see the class docstring)."""
        p = self.params
        rows = [(name, np.nan, float(getattr(p, name))) for name in ("lo", "hi", "w_lo", "w_hi")]
        for j in range(self.n_components):
            rows += [(name, j, float(getattr(p, name)[j])) for name in ("mix", "alpha", "beta")]
        out = pd.DataFrame(rows, columns=["parameter", "component", "value"])
        ci = self.conf_int(alpha)
        out["se"], out["lower"], out["upper"] = self.se.to_numpy(), ci["lower"].to_numpy(), ci["upper"].to_numpy()
        return out

    def summary(self, title: str | None = None) -> Summary:
        """Fit statistics, the ends with their point masses and the beta components (a
        :class:`~probcascade.summary.Summary`)."""
        p = self.params
        sel = f" (selected by {self.criterion.upper()})" if self.criterion else ""
        out = Summary(title if title is not None else "Point-mass beta mixture (marginal of calibrated confidence)")
        out.add_dict({"n observations": self.n, "components": f"{self.n_components}{sel}",
                      "log-likelihood": self.loglik, "AIC": self.aic, "BIC": self.bic, "EM iterations": self.n_iter,
                      "converged": self.converged}, ncols=2)
        out.add_dict({"phi_min (lo)": float(p.lo), "phi_max (hi)": float(p.hi), "w_lo": float(p.w_lo),
                      "w_hi": float(p.w_hi)}, ncols=2)
        a, b = np.asarray(p.alpha, dtype=np.float64), np.asarray(p.beta, dtype=np.float64)
        comps = pd.DataFrame({"weight": np.asarray(p.mix, dtype=np.float64), "alpha": a, "beta": b,
                              "mean (0,1)": a / (a + b)}, index=pd.RangeIndex(self.n_components, name="component"))
        out.add_table(comps, float_format="{:.4f}")
        if not self.converged:
            out.add_note("Warning: the EM did not converge; estimates may be unreliable.")
        return out


def _make_fit(x: np.ndarray, lo: float, hi: float, m: int, n_iter: int, n_bounds: int, criterion) -> MarginalFit:
    # padded (the common rule, at least 128 rows) with copies of x[0], which keep the masked rows inside the
    # support, so that fits of samples of similar sizes reuse one compilation
    xp, valid = pad_rows(x, padded_size(x.size, minimum=128), "first")
    params, em, loglik = fit_core(
        jnp.asarray(xp), jnp.asarray(valid), jnp.asarray(lo), jnp.asarray(hi), n_components=m, n_iter=n_iter
    )
    loglik = float(loglik)
    if not math.isfinite(loglik):
        raise FitError(f"n_components={m}: the beta-mixture EM produced a non-finite log-likelihood")
    trace = np.asarray(em.loglik_trace)
    window = trace[-min(11, trace.size):]
    converged = bool(np.ptp(window) < 1e-6 * (1.0 + abs(trace[-1])))
    k = 3 * m - 1 + 2 + n_bounds
    n = x.size
    return MarginalFit(
        params=_to_numpy(params),
        n=n,
        loglik=loglik,
        aic=2 * k - 2 * loglik,
        bic=k * math.log(n) - 2 * loglik,
        n_components=m,
        n_params=k,
        n_iter=n_iter,
        converged=converged,
        criterion=criterion,
    )


@x64
def fit_marginal(
    phi,
    n_components: int = 2,
    lo: float | None = None,
    hi: float | None = None,
    criterion: str | None = None,
    max_components: int = 4,
    n_iter: int = N_ITER,
) -> MarginalFit:
    """Fit the point-mass beta mixture (eq. 7-8 of the study) to calibrated confidences.

    Parameters
    ----------
    phi : array_like, shape (n,)
        Calibrated confidences.
    n_components : int
        Number of beta components (ignored when ``criterion`` is given).
    lo, hi : float, optional
        Ends of the support; default to the observed minimum and maximum, as in the study.  All of ``phi`` must
        lie in ``[lo, hi]``.
    criterion : {'aic', 'bic'}, optional
        Select the number of components in ``1..max_components`` by this criterion.
    max_components : int
        Largest number of components tried with ``criterion``.
    n_iter : int
        EM iterations.

    Returns
    -------
    MarginalFit

    Raises
    ------
    DataValidationError
        ``phi`` is not a finite 1-D sample with spread, or falls outside ``[lo, hi]``; bad ``lo``/``hi``.
    FitError
        Too few interior observations for the number of components.
    """
    x = check_marginal_data(phi, "phi")
    check_choice(criterion, "criterion", (None, "aic", "bic"))
    check_int(n_components, "n_components", low=1)
    check_int(max_components, "max_components", low=1)
    check_int(n_iter, "n_iter", low=1)
    n_bounds = (lo is None) + (hi is None)
    lo_v = float(x.min()) if lo is None else check_float(lo, "lo")
    hi_v = float(x.max()) if hi is None else check_float(hi, "hi")
    if not lo_v < hi_v:
        raise DataValidationError(f"'lo' must be < 'hi', got lo={lo_v!r}, hi={hi_v!r}")
    if x.min() < lo_v or x.max() > hi_v:
        raise DataValidationError(
            f"'phi' must lie in [lo, hi] = [{lo_v!r}, {hi_v!r}], observed range [{float(x.min())!r}, {float(x.max())!r}]"
        )
    n_interior = int(np.sum((x > lo_v) & (x < hi_v)))
    candidates = range(1, max_components + 1) if criterion else (n_components,)
    feasible = [m for m in candidates if n_interior >= 3 * m]
    if not feasible:
        raise FitError(
            f"n_components: {n_interior} interior observations (strictly between lo and hi) are too few for "
            f"{min(candidates)} beta component(s); need at least 3 per component"
        )
    fits = [_make_fit(x, lo_v, hi_v, m, n_iter, n_bounds, criterion) for m in feasible]
    return min(fits, key=lambda f: getattr(f, criterion)) if criterion else fits[0]
