"""Calibrators: map a raw confidence signal to a calibrated probability of correctness.

* :class:`LogisticCalibrator` - logistic regression on a transformed signal (the study's calibrator, seed 002 §4.1),
  fitted by maximum likelihood with a jit-compiled Newton (IRLS) iteration in JAX, with standard errors, z and
  p-values from the observed Fisher information.
* :class:`PlattCalibrator` - logistic regression on logit(p) (Platt 1999).
* :class:`TemperatureCalibrator` - sigmoid(logit(p) / T) (one parameter, no intercept).

:func:`calibrate` fits one calibrator per model of a :class:`~probcascade.data.CascadeData` and returns a
:class:`CascadeCalibration`, whose :meth:`~CascadeCalibration.report` scores the calibration on (test) data.

Perfect separation (a threshold on the signal splits correct from incorrect answers) makes the logistic MLE
diverge; the fit then warns with :class:`~probcascade.exceptions.SeparationWarning` and uses a small ridge penalty
(``ridge_on_separation``) so that predictions stay finite; the results object records ``separated=True``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import stats

from ._x64 import x64
from .data import CascadeData
from .exceptions import DataValidationError, FitError, SeparationWarning
from .metrics import calibration_metrics
from .transforms import TRANSFORMS, ConfidenceTransform

__all__ = [
    "fit_logistic",
    "LogisticFit",
    "LogisticCalibrator",
    "PlattCalibrator",
    "TemperatureCalibrator",
    "CALIBRATORS",
    "make_calibrator",
    "calibrate",
    "CascadeCalibration",
    "CalibrationReport",
]


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
class LogisticFit:
    """Maximum-likelihood logistic regression results (statsmodels-like).

    ``se``, ``z`` and ``p_value`` come from the observed Fisher information at the MLE.
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
    def aic(self) -> float:
        return 2 * len(self.coef) - 2 * self.loglik

    @property
    def bic(self) -> float:
        return len(self.coef) * np.log(self.n) - 2 * self.loglik

    def to_frame(self) -> pd.DataFrame:
        ci = stats.norm.ppf(0.975) * self.se
        return pd.DataFrame(
            {"coef": self.coef, "std_err": self.se, "z": self.z, "p_value": self.p_value,
             "ci_low": self.coef - ci, "ci_high": self.coef + ci},
            index=pd.Index(self.names, name="term"),
        )

    def summary(self) -> str:
        head = (
            f"Logistic calibration{' of ' + self.model if self.model else ''}\n"
            f"  n = {self.n}   log-likelihood = {self.loglik:.4f}   AIC = {self.aic:.2f}   BIC = {self.bic:.2f}\n"
            f"  converged = {self.converged} ({self.n_iter} Newton steps)"
            + ("   WARNING: perfect separation (ridge-penalised fit)" if self.separated else "")
        )
        return head + "\n" + self.to_frame().to_string(float_format=lambda v: f"{v: .4g}")


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
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise DataValidationError(f"model '{model}': design matrix {X.shape} and outcome {y.shape} do not match")
    if not np.all(np.isfinite(X)):
        raise DataValidationError(f"model '{model}': the calibration feature has non-finite values")
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


# ---------------------------------------------------------------------------------------------------------- calibrators
@dataclass
class LogisticCalibrator:
    """Logistic regression of correctness on a transformed confidence signal.

    ``phi = sigmoid(b0 + b1 * xi(logprob))`` with ``xi`` one of :data:`probcascade.transforms.TRANSFORMS`.
    """

    transform: str = "one-sided"
    model: str = ""
    fit_intercept: bool = True
    method: str = field(default="logistic", init=False)
    transform_: ConfidenceTransform | None = field(default=None, init=False, repr=False)
    result_: LogisticFit | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise DataValidationError(f"unknown transform '{self.transform}' (choose from {TRANSFORMS})")

    def _design(self, logprob: np.ndarray) -> np.ndarray:
        xi = self.transform_.transform(logprob)
        return np.column_stack([np.ones_like(xi), xi]) if self.fit_intercept else xi[:, None]

    def fit(self, logprob: np.ndarray, correct: np.ndarray) -> "LogisticCalibrator":
        """Fit on training log-probabilities and 0/1 correctness."""
        logprob = np.asarray(logprob, dtype=np.float64)
        correct = np.asarray(correct)
        if logprob.shape != correct.shape or logprob.ndim != 1:
            raise DataValidationError(f"model '{self.model}': raw_logprob {logprob.shape} and correct {correct.shape} must be equal-length vectors")
        if not np.isin(correct, (0, 1)).all():
            raise DataValidationError(f"model '{self.model}': column 'correct' must be 0 or 1")
        self.transform_ = ConfidenceTransform(self.transform, self.model).fit(logprob)
        names = ("const", "xi") if self.fit_intercept else ("xi",)
        self.result_ = fit_logistic(self._design(logprob), correct, names=names, model=self.model)
        return self

    def _check_fitted(self) -> None:
        if self.result_ is None:
            raise DataValidationError(f"calibrator of model '{self.model}' is not fitted: call fit() first")

    def linear_predictor(self, logprob: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self._design(np.asarray(logprob, dtype=np.float64)) @ self.result_.coef

    def predict(self, logprob: np.ndarray) -> np.ndarray:
        """Calibrated probability of correctness."""
        eta = self.linear_predictor(logprob)
        return np.exp(-np.logaddexp(0.0, -eta))

    @property
    def slope(self) -> tuple[float, float, float]:
        """(coefficient, standard error, p-value) of the confidence feature."""
        self._check_fitted()
        j = -1
        return float(self.result_.coef[j]), float(self.result_.se[j]), float(self.result_.p_value[j])

    def summary(self) -> str:
        self._check_fitted()
        return self.result_.summary()


@dataclass
class PlattCalibrator(LogisticCalibrator):
    """Platt scaling: logistic regression on logit(p_raw)."""

    transform: str = "logit"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.method = "platt"


@dataclass
class TemperatureCalibrator(LogisticCalibrator):
    """Temperature scaling of a binary confidence: ``phi = sigmoid(logit(p_raw) / T)``."""

    transform: str = "logit"
    fit_intercept: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        self.method = "temperature"

    @property
    def temperature(self) -> float:
        self._check_fitted()
        return 1.0 / float(self.result_.coef[0])


CALIBRATORS = {"logistic": LogisticCalibrator, "platt": PlattCalibrator, "temperature": TemperatureCalibrator}


def make_calibrator(method: str = "logistic", transform: str | None = None, model: str = "") -> LogisticCalibrator:
    """A calibrator by name; ``transform`` applies to ``logistic`` only (Platt/temperature work on logit(p))."""
    if method not in CALIBRATORS:
        raise DataValidationError(f"unknown calibration method '{method}' (choose from {sorted(CALIBRATORS)})")
    if method == "logistic":
        return LogisticCalibrator(transform=transform or "one-sided", model=model)
    return CALIBRATORS[method](model=model)


# ---------------------------------------------------------------------------------------------------------- cascades
@dataclass
class CalibrationReport:
    """Per-model calibration metrics on a data set (ECE/ACE with quantile bins, Brier, NLL, AUROC) plus coefficients."""

    table: pd.DataFrame
    n_bins: int
    method: str
    transform: str

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def to_records(self) -> list[dict]:
        """JSON-ready list of per-model records."""
        recs = self.table.reset_index().to_dict(orient="records")
        return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in recs]

    def summary(self) -> str:
        t = self.table.copy()
        pct = ["accuracy", "cert_fraction", "ece", "ace"]
        t[pct] = t[pct] * 100
        t = t.rename(columns={"accuracy": "%Corr", "cert_fraction": "%Cert", "ece": "%ECE", "ace": "%ACE"})
        title = f"Calibration ({self.method}, transform={self.transform}, {self.n_bins} quantile bins)"
        return title + "\n" + t.to_string(float_format=lambda v: f"{v:.4g}")


@dataclass
class CascadeCalibration:
    """One fitted calibrator per model of a cascade."""

    calibrators: dict[str, LogisticCalibrator]
    method: str
    transform: str

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.calibrators)

    @x64
    def predict(self, data: CascadeData) -> np.ndarray:
        """Calibrated confidences, shape (n_queries, n_models) in ``data.models`` order."""
        cols = []
        for j, m in enumerate(data.models):
            if m not in self.calibrators:
                raise DataValidationError(f"no calibrator for model '{m}' (calibrated models: {list(self.calibrators)})")
            cols.append(self.calibrators[m].predict(data.logprob[:, j]))
        return np.column_stack(cols)

    def predict_frame(self, data: CascadeData) -> pd.DataFrame:
        """Calibrated confidences as a tidy frame (query, model, phi)."""
        phi = self.predict(data)
        return pd.DataFrame(
            {"query": np.repeat(data.queries, data.n_models), "model": np.tile(np.array(data.models, dtype=object), data.n_queries),
             "phi": phi.ravel()}
        )

    def coefficients(self) -> pd.DataFrame:
        """Tidy frame of every model's coefficients, standard errors and p-values."""
        parts = []
        for m, c in self.calibrators.items():
            f = c.result_.to_frame().reset_index()
            f.insert(0, "model", m)
            parts.append(f)
        return pd.concat(parts, ignore_index=True)

    def report(self, data: CascadeData, n_bins: int = 10) -> CalibrationReport:
        """Score the calibrators on ``data`` (usually the test split)."""
        phi = self.predict(data)
        rows = []
        cert = data.certainty_fraction
        for j, m in enumerate(data.models):
            c = self.calibrators[m]
            coef, se, p = c.slope
            met = calibration_metrics(phi[:, j], data.correct[:, j], n_bins=n_bins)
            rows.append({"model": m, "n": data.n_queries, "accuracy": float(data.correct[:, j].mean()),
                         "cert_fraction": float(cert[m]), **met, "coef": coef, "se": se, "p_value": p})
        return CalibrationReport(pd.DataFrame(rows).set_index("model"), n_bins, self.method, self.transform)

    def summary(self) -> str:
        return "\n\n".join(c.summary() for c in self.calibrators.values())

    def to_frame(self) -> pd.DataFrame:
        return self.coefficients()


def calibrate(train: CascadeData, method: str = "logistic", transform: str = "one-sided") -> CascadeCalibration:
    """Fit one calibrator per model on training data.

    Parameters
    ----------
    train : CascadeData
    method : {"logistic", "platt", "temperature"}
    transform : {"one-sided", "two-sided", "logit", "none"}
        Feature transform for ``method="logistic"`` (one-sided for multiple choice, two-sided for open-ended
        questions, as in the study).
    """
    cals = {}
    for j, m in enumerate(train.models):
        cal = make_calibrator(method, transform, model=m)
        cals[m] = cal.fit(train.logprob[:, j], train.correct[:, j])
    return CascadeCalibration(cals, method, transform if method == "logistic" else "logit")
