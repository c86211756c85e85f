"""Logistic regression by Newton's method (maximum likelihood, optional Gaussian prior): the fit behind the
calibrators and the pairwise correctness model."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import partial
from typing import Sequence
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import stats
from probcascade.precision import x64
from probcascade.exceptions import DataValidationError, FitError, SeparationWarning
from probcascade.summary import FitResultMixin, Summary
from probcascade.validation import check_array, check_matching_rows


# ---------------------------------------------------------------------------------------------------------- core
def _loglik(beta: jnp.ndarray, X: jnp.ndarray, y: jnp.ndarray, ridge: float, center: jnp.ndarray) -> jnp.ndarray:
    eta = X @ beta
    # y*eta - log(1 + e^eta), stable for large |eta|
    return jnp.sum(y * eta - jnp.logaddexp(0.0, eta)) - 0.5 * ridge * jnp.sum((beta - center) ** 2)


@partial(jax.jit, static_argnames=("max_iter",))
def _newton(X: jnp.ndarray, y: jnp.ndarray, ridge: float, center: jnp.ndarray, tol: float = 1e-12, max_iter: int = 100):
    """Maximise the (ridge-penalised, towards ``center``) logistic log-likelihood by Newton's method with step halving.

    Returns (beta, loglik, n_iter, converged). Pure and jit-compiled; vmap-able over (X, y) batches.
    """
    p = X.shape[1]
    grad_fn = jax.grad(_loglik)
    hess_fn = jax.hessian(_loglik)
    steps = 0.5 ** jnp.arange(12.0)

    def body(state):
        beta, ll, it, _ = state
        g = grad_fn(beta, X, y, ridge, center)
        H = hess_fn(beta, X, y, ridge, center)
        direction = jnp.linalg.solve(H - 1e-12 * jnp.eye(p), -g)
        cands = beta[None, :] + steps[:, None] * direction[None, :]
        lls = jax.vmap(lambda b: _loglik(b, X, y, ridge, center))(cands)
        lls = jnp.where(jnp.isfinite(lls), lls, -jnp.inf)
        best = jnp.argmax(lls)
        improved = lls[best] >= ll
        new_beta = jnp.where(improved, cands[best], beta)
        new_ll = jnp.where(improved, lls[best], ll)
        done = (jnp.abs(new_ll - ll) <= tol * (1.0 + jnp.abs(ll))) & (jnp.max(jnp.abs(g)) < 1e-6 * (1.0 + X.shape[0]))
        return new_beta, new_ll, it + 1, done | ~improved

    def cond(state):
        _, _, it, done = state
        return (it < max_iter) & ~done

    beta0 = center
    state = (beta0, _loglik(beta0, X, y, ridge, center), 0, False)
    beta, ll, it, done = jax.lax.while_loop(cond, body, state)
    return beta, ll, it, done


def _separated_1d(x: np.ndarray, y: np.ndarray) -> bool:
    """True when a threshold on x splits y perfectly or quasi-perfectly (the logistic MLE then does not exist)."""
    x0, x1 = x[y == 0], x[y == 1]
    return bool(x0.max() <= x1.min() or x1.max() <= x0.min())


@dataclass
class LogisticFit(FitResultMixin):
    """Maximum-likelihood logistic regression results (statsmodels-like).

    ``se``, ``z`` and ``p_value`` come from the observed Fisher information at the MLE.  The common fit-result
    interface (:class:`~probcascade.summary.FitResultMixin`): ``params`` (``coef`` as a Series indexed by
    ``names``), ``se``, ``conf_int(alpha)``, ``loglik``, ``aic``, ``bic``, ``n``, ``converged``, ``to_frame()``,
    ``summary()``.
    """

    names: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    z: np.ndarray
    p_value: np.ndarray
    loglik: float
    n: int
    n_iter: int
    converged: bool
    separated: bool = False
    model: str = ""

    @property
    def params(self) -> pd.Series:
        """``coef`` as a Series indexed by the term names."""
        return pd.Series(np.asarray(self.coef, dtype=np.float64), index=pd.Index(self.names, name="term"))

    @property
    def aic(self) -> float:
        return 2 * len(self.coef) - 2 * self.loglik

    @property
    def bic(self) -> float:
        return len(self.coef) * np.log(self.n) - 2 * self.loglik

    def to_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """One row per term (index ``term``): ``coef``, ``std_err``, ``z``, ``p_value`` and the Wald ``1 - alpha``
        interval ``ci_low``, ``ci_high``."""
        ci = self.conf_int(alpha)
        return pd.DataFrame(
            {"coef": self.coef, "std_err": self.se, "z": self.z, "p_value": self.p_value,
             "ci_low": ci["lower"].to_numpy(), "ci_high": ci["upper"].to_numpy()},
            index=pd.Index(self.names, name="term"),
        )

    def summary(self, title: str | None = None) -> Summary:
        """Fit statistics and the coefficient table (a :class:`~probcascade.summary.Summary`)."""
        out = Summary(title if title is not None else f"Logistic calibration{' of ' + self.model if self.model else ''}")
        out.add_dict({"n": self.n, "log-likelihood": self.loglik, "AIC": self.aic, "BIC": self.bic,
                      "converged": self.converged, "Newton steps": self.n_iter}, ncols=2, float_format="{:.4f}")
        out.add_table(self.to_frame(), float_format="{:.4g}")
        if self.separated:
            out.add_note(f"WARNING{' (' + self.model + ')' if self.model else ''}: perfect separation (ridge-penalised fit)")
        return out


@x64
def fit_logistic(
    X: np.ndarray,
    y: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    ridge: float = 0.0,
    model: str = "",
    ridge_on_separation: float = 1e-3,
    center: Sequence[float] | None = None,
) -> LogisticFit:
    """Fit a logistic regression of 0/1 ``y`` on the design matrix ``X`` (include a column of ones for an intercept).

    ``ridge`` penalises ``0.5 ridge |beta - center|^2`` (``center`` default 0): a Gaussian prior with precision
    ``ridge`` around ``center``, whose mode this returns.

    Raises :class:`FitError` naming ``model`` if ``y`` has a single outcome; warns with :class:`SeparationWarning`
    (and refits with ``ridge_on_separation``) under perfect separation.
    """
    try:
        X = check_array(X, "X", ndim=2, column_names=names)
        y = check_array(y, "y", ndim=1, binary=True)
        check_matching_rows("X", X, "y", y)
    except DataValidationError as exc:
        raise DataValidationError(f"model '{model}': {exc}") from exc
    outcomes = np.unique(y)
    if outcomes.size < 2:
        raise FitError(
            f"model '{model}': 'correct' has a single outcome ({int(outcomes[0]) if outcomes.size else 'none'}) in the "
            "training data; calibration needs both correct and incorrect answers"
        )
    names = tuple(names) if names is not None else tuple(f"x{i}" for i in range(X.shape[1]))
    slope_cols = [j for j in range(X.shape[1]) if not np.all(X[:, j] == X[0, j])]
    separated = len(slope_cols) == 1 and _separated_1d(X[:, slope_cols[0]], y)
    if separated and ridge == 0.0:
        warnings.warn(
            f"model '{model}': the calibration feature separates correct from incorrect answers perfectly; "
            f"the logistic MLE does not exist, using a ridge penalty of {ridge_on_separation}",
            SeparationWarning,
            stacklevel=2,
        )
        ridge = ridge_on_separation
    ctr = jnp.zeros(X.shape[1]) if center is None else jnp.asarray(center, dtype=jnp.float64)
    if ctr.shape != (X.shape[1],):
        raise DataValidationError(f"model '{model}': center has shape {ctr.shape}, expected ({X.shape[1]},)")
    beta, ll, it, done = _newton(jnp.asarray(X), jnp.asarray(y), float(ridge), ctr)
    beta = np.asarray(beta)
    eta = X @ beta
    w = np.exp(-np.logaddexp(0.0, eta) - np.logaddexp(0.0, -eta))  # p(1-p), stable
    info = (X * w[:, None]).T @ X + ridge * np.eye(X.shape[1])
    try:
        cov = np.linalg.inv(info)
        se = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    except np.linalg.LinAlgError:
        se = np.full(X.shape[1], np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = beta / se
    p = 2 * stats.norm.sf(np.abs(z))
    if not bool(done) and not separated:
        warnings.warn(f"model '{model}': Newton iterations did not converge in {int(it)} steps", SeparationWarning, stacklevel=2)
    return LogisticFit(names, beta, se, z, p, float(ll), int(X.shape[0]), int(it), bool(done), separated, model)


__all__ = ["LogisticFit", "fit_logistic"]
