"""Softmax scaling of class logits: calibrated confidence scores for LLM classification answers, steps 2-3 of
Hovsepian et al. (2024, §2.1) (steps 1 and 4, logit aggregation and prediction-score selection, are in
:mod:`probcascade.calibration.aggregation`).

2. **Uncalibrated scaling**: ``z = softmax(x)``.
3. **Calibrated scaling**: ``z = softmax(x; theta)`` with either temperature scaling
   (:class:`SoftmaxTemperatureScaler`, ST, ``softmax(x / T)``) or vector scaling (:class:`VectorScaler`, SV,
   ``softmax(w * x + b)``), ``theta`` fitted by maximum likelihood on a dev set of (logits, label) pairs.

Fitting.  The multiclass negative log-likelihood (optionally weighted, e.g. by the importance weights of
:func:`probcascade.data.selection.select_calibration_data`) is minimised with ``optax.lbfgs`` (zoom line search)
inside a ``jax.lax.while_loop``: the whole fit is one jit-compiled, vmap-able JAX function
(:func:`fit_softmax_scaling`), which SciPy's optimisers (host-side loops) would not allow.  ST is parametrised by
``log T`` so that ``T > 0``; SV fixes the bias of class 0 at zero (softmax is invariant to a common shift of the
biases, so the free-bias parametrisation is not identifiable).  Both likelihoods are convex in the natural
parameters (``1/T``; ``(w, b)``), so L-BFGS finds the global optimum when one exists.

It does not exist when the dev set is *separated*: when some direction in parameter space raises no example's
likelihood and raises some (for ST: every label is an arg-max of its logits, common on a small dev set of a
strong model, and the ML temperature is 0; for SV also any dev set that a linear rule ``w * x + b`` classifies
perfectly).  A linear programme detects this before fitting (:func:`_separated`); the scalers then warn with
:class:`~probcascade.exceptions.SeparationWarning` and add a small ridge penalty (``ridge_on_separation``) that
keeps the parameters finite.  A fit that fails to converge warns with
:class:`~probcascade.exceptions.ConvergenceWarning`.  At the other end, when the labels are no more likely under
the logits than under chance, ST's likelihood is maximised at ``T = infinity`` (uniform probabilities); the fit
then stops at a very large ``T``.

Standard errors come from the inverse observed information of the summed NLL (unweighted fits) or from the
sandwich estimator ``H^{-1} J H^{-1}`` (weighted fits, ``J`` the weighted outer product of per-example scores).
"""

from __future__ import annotations

import abc
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, ClassVar
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pandas as pd
from scipy.optimize import linprog
from probcascade.precision import x64
from probcascade.exceptions import ConvergenceWarning, DataValidationError, FitError, SeparationWarning
from probcascade.calibration.aggregation import select_prediction_score
from probcascade.summary import FitResultMixin, Summary
from probcascade.validation import check_array, pad_rows, padded_size

__all__ = ["temperature_logits", "vector_logits", "softmax_nll", "fit_softmax_scaling", "SoftmaxScalingFit", "SoftmaxTemperatureScaler", "VectorScaler"]

# ---------------------------------------------------------------------------------------------------------- steps 2-4
def temperature_logits(theta: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """ST scaled logits ``x / T`` with ``theta = [log T]``."""
    return x * jnp.exp(-theta[0])


def vector_logits(theta: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """SV scaled logits ``w * x + b`` with ``theta = [w_0..w_{C-1}, b_1..b_{C-1}]`` and ``b_0 = 0``."""
    c = x.shape[-1]
    b = jnp.concatenate([jnp.zeros(1, dtype=theta.dtype), theta[c:]])
    return x * theta[:c] + b


def _per_example_nll(theta, x, y, transform):
    logp = jax.nn.log_softmax(transform(theta, x), axis=-1)
    return -jnp.take_along_axis(logp, y[:, None], axis=-1)[:, 0]


def softmax_nll(
    theta: jnp.ndarray,
    x: jnp.ndarray,
    y: jnp.ndarray,
    weights: jnp.ndarray,
    transform: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray],
    theta_ref: jnp.ndarray,
    ridge: float,
) -> jnp.ndarray:
    """Weighted mean multiclass NLL of ``softmax(transform(theta, x))`` plus ``ridge/2 * ||theta - theta_ref||^2``.

    ``x`` (n, C) class logits, ``y`` (n,) integer labels, ``weights`` (n,) non-negative.  Pure JAX.
    """
    nll = jnp.sum(weights * _per_example_nll(theta, x, y, transform)) / jnp.sum(weights)
    return nll + 0.5 * ridge * jnp.sum((theta - theta_ref) ** 2)


@partial(jax.jit, static_argnames=("transform", "max_iter"))
def fit_softmax_scaling(
    theta0: jnp.ndarray,
    x: jnp.ndarray,
    y: jnp.ndarray,
    weights: jnp.ndarray,
    transform: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray],
    ridge: float = 0.0,
    max_iter: int = 500,
    tol: float = 1e-9,
):
    """Minimise :func:`softmax_nll` over ``theta`` by L-BFGS, starting (and ridge-centred) at ``theta0``.

    Returns ``(theta, nll, n_iter, converged)`` where ``converged`` means the gradient's l2 norm fell below
    ``tol``.  Pure and jit-compiled; vmap-able over batches of ``(x, y, weights)``.
    """

    def fun(theta):
        return softmax_nll(theta, x, y, weights, transform, theta0, ridge)

    opt = optax.lbfgs(linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps=30))
    value_and_grad = optax.value_and_grad_from_state(fun)

    def body(carry):
        theta, state, _, it = carry
        value, grad = value_and_grad(theta, state=state)
        updates, state = opt.update(grad, state, theta, value=value, grad=grad, value_fn=fun)
        return optax.apply_updates(theta, updates), state, optax.tree_utils.tree_norm(grad), it + 1

    def cond(carry):
        _, _, gnorm, it = carry
        return (it < max_iter) & (gnorm >= tol)

    init = (theta0, opt.init(theta0), jnp.asarray(jnp.inf, dtype=theta0.dtype), 0)
    theta, _, _, it = jax.lax.while_loop(cond, body, init)
    gnorm = optax.tree_utils.tree_norm(jax.grad(fun)(theta))
    return theta, fun(theta), it, gnorm < tol


# ---------------------------------------------------------------------------------------------------------- validation
def _check_logits(logits: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Class logits (n, C): n >= 1 queries, C >= 2 classes (``n_classes`` once fitted), finite."""
    x = check_array(logits, "logits", ndim=2, min_rows=1, finite="allow-inf")
    if x.shape[1] < 2:
        raise DataValidationError(f"'logits' must have C >= 2 classes (columns), got shape {x.shape}")
    if n_classes is not None and x.shape[1] != n_classes:
        raise DataValidationError(f"'logits': the scaler was fitted on {n_classes} classes, got {x.shape[1]}")
    if np.isinf(x).any():
        raise DataValidationError(
            "'logits' contains infinite values (replace -inf log-probabilities by a finite floor first)"
        )
    return x


def _separated(margins: np.ndarray, bounds: list[tuple[float, float]]) -> bool:
    """True when a parameter direction ``d`` raises no margin's loss and lowers some: ``A d >= 0``, ``A d != 0``.

    Then the multinomial likelihood increases without bound along ``d`` (complete or quasi-complete separation,
    Albert & Anderson 1984), and has a finite maximiser otherwise.  Decided by the linear programme
    ``max 1'A d  s.t.  A d >= 0``, ``d`` in the box ``bounds``.
    """
    res = linprog(-margins.sum(axis=0), A_ub=-margins, b_ub=np.zeros(margins.shape[0]), bounds=bounds, method="highs")
    if res.status != 0:
        raise FitError(f"separation check: the linear programme failed ({res.message})")
    return bool(-res.fun > 1e-9 * max(1.0, float(np.abs(margins).max())))


# ---------------------------------------------------------------------------------------------------------- results
@dataclass
class SoftmaxScalingFit(FitResultMixin):
    """Maximum-likelihood softmax scaling results.

    ``params``/``se`` are on the reported scale (``T`` for ST; ``w``, ``b`` for SV, ``b_0 = 0`` fixed), arrays in
    the order of ``names``.
    ``nll_before`` is the mean (weighted) NLL of the uncalibrated ``softmax(x)``; ``nll_after`` that of the fit
    (without the ridge penalty).  The common fit-result interface (:class:`~probcascade.summary.FitResultMixin`)
    adds ``loglik`` (``-n * nll_after``: for weighted fits the weighted log-likelihood rescaled to ``n`` queries),
    ``aic``, ``bic``, ``conf_int(alpha)`` (Wald intervals on the reported scale) and ``summary()``.
    """

    method: str
    names: tuple[str, ...]
    params: np.ndarray
    se: np.ndarray
    nll_before: float
    nll_after: float
    n: int
    n_classes: int
    n_iter: int
    converged: bool
    weighted: bool = False
    separated: bool = False
    ridge: float = 0.0

    @property
    def loglik(self) -> float:
        """Log-likelihood of the fit, ``-n * nll_after`` (weighted fits: the weighted one rescaled to ``n``)."""
        return -float(self.n) * float(self.nll_after)

    def _estimates(self) -> tuple[pd.Series, pd.Series]:
        index = pd.Index(self.names, name="term")
        return (pd.Series(np.asarray(self.params, dtype=np.float64), index=index),
                pd.Series(np.asarray(self.se, dtype=np.float64), index=index))

    def to_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """Parameter table (index ``term``: estimate, std_err and the Wald ``1 - alpha`` interval ``ci_low``,
        ``ci_high``); NLLs and ``n`` are in ``DataFrame.attrs``."""
        ci = self.conf_int(alpha)
        frame = pd.DataFrame({"estimate": self.params, "std_err": self.se, "ci_low": ci["lower"].to_numpy(),
                              "ci_high": ci["upper"].to_numpy()}, index=pd.Index(self.names, name="term"))
        frame.attrs.update(method=self.method, n=self.n, nll_before=self.nll_before, nll_after=self.nll_after)
        return frame

    def summary(self, title: str | None = None) -> Summary:
        """Fit statistics and the parameter table (a :class:`~probcascade.summary.Summary`)."""
        if title is None:
            title = {"ST": "Softmax temperature scaling (ST)", "SV": "Softmax vector scaling (SV)"}[self.method]
        out = Summary(title).add_dict({
            "n": f"{self.n} (weighted)" if self.weighted else self.n, "classes": self.n_classes,
            "mean NLL uncalibrated": self.nll_before, "mean NLL calibrated": self.nll_after,
            "converged": self.converged, "L-BFGS steps": self.n_iter,
            "std_err": "sandwich" if self.weighted else "observed information",
        }, ncols=2, float_format="{:.5f}")
        out.add_table(self.to_frame(), float_format="{:.5g}")
        if self.separated:
            out.add_note(f"WARNING: separated dev set (ridge = {self.ridge:g})")
        return out


# ---------------------------------------------------------------------------------------------------------- scalers
@dataclass
class _SoftmaxScaler(abc.ABC):
    """Shared fit/predict logic; subclasses define the transform, its identity parameters and reporting scale."""

    ridge: float = 0.0
    ridge_on_separation: float = 1e-3
    max_iter: int = 500
    tol: float = 1e-9
    result_: SoftmaxScalingFit | None = field(default=None, init=False, repr=False)
    theta_: np.ndarray | None = field(default=None, init=False, repr=False)

    method: ClassVar[str]
    transform: ClassVar[Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray]]
    _separation_hint: ClassVar[str]

    @staticmethod
    @abc.abstractmethod
    def _identity(n_classes: int) -> np.ndarray:
        """Parameters at which the scaler is the identity (uncalibrated softmax); also the ridge centre."""

    @staticmethod
    @abc.abstractmethod
    def _margins(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, list[tuple[float, float]]]:
        """Margin matrix ``A`` and direction bounds for :func:`_separated`.

        Row ``(i, c != y_i)`` of ``A`` maps the natural (logit-linear) parameters to the margin
        ``z_{i, y_i} - z_{i, c}``; the bounds restrict directions to the parameter domain.
        """

    @staticmethod
    @abc.abstractmethod
    def _report(theta: np.ndarray, cov: np.ndarray, n_classes: int) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """(names, estimates, standard errors) on the reporting scale from theta and its covariance."""

    @x64
    def fit(self, logits: np.ndarray, labels: np.ndarray, sample_weight: np.ndarray | None = None):
        """Fit by maximum likelihood on dev-set class logits (n, C) and integer labels (n,).

        ``sample_weight`` (n,), optional: non-negative weights of the NLL terms (e.g. importance weights).
        Returns ``self``.
        """
        x = _check_logits(logits)
        n, c = x.shape
        y = check_array(labels, "labels", shape=(n,), dtype=int, low=0, high=c - 1)
        if sample_weight is None:
            w = np.ones(n)
        else:
            w = check_array(sample_weight, "sample_weight", shape=(n,), low=0.0)
            if w.sum() <= 0:
                raise DataValidationError("'sample_weight' is all zero: at least one weight must be positive")
        ridge = float(self.ridge)
        separated = _separated(*self._margins(x[w > 0], y[w > 0]))
        if separated and ridge == 0.0:
            warnings.warn(
                f"{self.method} scaler: the dev set is (quasi-)separated, so the likelihood has no finite maximum "
                f"({self._separation_hint}); using a ridge penalty of {self.ridge_on_separation}",
                SeparationWarning,
                stacklevel=3,
            )
            ridge = float(self.ridge_on_separation)
        theta0 = jnp.asarray(self._identity(c))
        # rows padded with zero weight (the common padding rule): zero-weight rows leave the NLL, its derivatives
        # and the covariance unchanged, and the jit-compiled fit is compiled once per padded size, not per dev set
        size = padded_size(n, minimum=64)
        xj, yj, wj = (jnp.asarray(pad_rows(a, size, 0)[0]) for a in (x, y, w))
        transform = type(self).transform
        theta, _, it, ok = fit_softmax_scaling(theta0, xj, yj, wj, transform, ridge, self.max_iter, self.tol)
        if not np.all(np.isfinite(np.asarray(theta))):
            raise FitError(f"{self.method} scaler: the likelihood optimisation diverged (non-finite parameters)")
        if not bool(ok):
            warnings.warn(
                f"{self.method} scaler: L-BFGS did not converge in {int(it)} steps (often a separated dev set: "
                "set ridge > 0)",
                ConvergenceWarning,
                stacklevel=3,
            )
        cov, nll_before, nll_after = _post_fit(theta, xj, yj, wj, transform, theta0, ridge, sample_weight is not None)
        names, params, se = self._report(np.asarray(theta), cov, c)
        self.theta_ = np.asarray(theta)
        self.result_ = SoftmaxScalingFit(
            method=self.method, names=names, params=params, se=se,
            nll_before=float(nll_before), nll_after=float(nll_after),
            n=n, n_classes=c, n_iter=int(it), converged=bool(ok), weighted=sample_weight is not None,
            separated=separated, ridge=ridge,
        )
        return self

    def _fitted(self) -> SoftmaxScalingFit:
        if self.result_ is None:
            raise FitError(f"{self.method} scaler is not fitted: call fit() first")
        return self.result_

    @x64
    def predict_proba(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities ``softmax(x; theta)``, shape (n, C)."""
        res = self._fitted()
        x = _check_logits(logits, res.n_classes)
        return np.asarray(jax.nn.softmax(type(self).transform(jnp.asarray(self.theta_), jnp.asarray(x)), axis=-1))

    def confidence(self, logits: np.ndarray, answers: np.ndarray | None = None) -> np.ndarray:
        """Calibrated probability of each query's answer (Hovsepian et al. 2024, §2.1, step 4), shape (n,).

        ``answers`` (n,) integer class indices of the LLM's answers; by default the arg-max of the uncalibrated
        class logits (the model's greedy answer).  For the answer that is scored, this is the estimated
        probability of correctness.
        """
        proba = self.predict_proba(logits)
        if answers is None:
            answers = np.argmax(np.asarray(logits, dtype=np.float64), axis=1)
        return select_prediction_score(proba, answers)

    def summary(self) -> Summary:
        """The fit's :class:`~probcascade.summary.Summary`."""
        return self._fitted().summary()

    def to_frame(self) -> pd.DataFrame:
        return self._fitted().to_frame()


@partial(jax.jit, static_argnames=("transform", "weighted"))
def _post_fit(theta, x, y, w, transform, theta0, ridge, weighted):
    """Covariance of theta and the unpenalised mean NLL at ``theta0`` (identity) and at ``theta``.

    Covariance: inverse observed information of the (penalised) summed NLL, or for weighted fits the sandwich
    ``H^-1 J H^-1`` with ``J`` the outer product of the weighted per-example scores.
    """
    total = lambda t: jnp.sum(w * _per_example_nll(t, x, y, transform)) + 0.5 * ridge * jnp.sum(w) * jnp.sum((t - theta0) ** 2)
    h_inv = jnp.linalg.inv(jax.hessian(total)(theta))
    if weighted:
        one = lambda t, xi, yi: _per_example_nll(t, xi[None], yi[None], transform)[0]
        scores = jax.vmap(jax.grad(one), (None, 0, 0))(theta, x, y) * w[:, None]
        h_inv = h_inv @ (scores.T @ scores) @ h_inv
    mean_nll = lambda t: softmax_nll(t, x, y, w, transform, theta0, 0.0)
    return h_inv, mean_nll(theta0), mean_nll(theta)


@dataclass
class SoftmaxTemperatureScaler(_SoftmaxScaler):
    """Softmax temperature scaling, ST: ``softmax(x / T)`` with one temperature ``T > 0`` (fitted as ``log T``).

    Parameters
    ----------
    ridge : float
        Penalty ``ridge/2 * (log T)^2`` added to the mean NLL (0: maximum likelihood).
    ridge_on_separation : float
        Ridge used instead when the dev set is separated (every label an arg-max of its logits).
    max_iter, tol : int, float
        L-BFGS iteration cap and gradient-norm tolerance on the mean NLL.

    Examples
    --------
    >>> st = SoftmaxTemperatureScaler().fit(dev_logits, dev_labels)      # doctest: +SKIP
    >>> st.temperature_, st.confidence(test_logits)                       # doctest: +SKIP
    """

    method: ClassVar[str] = "ST"
    transform: ClassVar = staticmethod(temperature_logits)

    @staticmethod
    def _identity(n_classes: int) -> np.ndarray:
        return np.zeros(1)

    _separation_hint: ClassVar[str] = "every label is an arg-max of its logits: the ML temperature is 0"

    @staticmethod
    def _margins(x, y):
        # natural parameter 1/T >= 0: margins (x_{i,y_i} - x_{i,c}) / T
        i, c = np.nonzero(np.arange(x.shape[1])[None, :] != y[:, None])
        return (x[i, y[i]] - x[i, c])[:, None], [(0.0, 1.0)]

    @staticmethod
    def _report(theta, cov, n_classes):
        t = float(np.exp(theta[0]))
        return ("T",), np.array([t]), np.array([t * float(np.sqrt(cov[0, 0]))])

    @property
    def temperature_(self) -> float:
        """Fitted temperature ``T``."""
        return float(self._fitted().params[0])


@dataclass
class VectorScaler(_SoftmaxScaler):
    """Softmax vector scaling, SV: ``softmax(w * x + b)`` with per-class scales ``w`` and biases ``b`` (``b_0 = 0``).

    Initialised at the identity (``w = 1``, ``b = 0``); with ``w = (1/T) * 1`` and ``b = 0`` it equals ST.
    Parameters as in :class:`SoftmaxTemperatureScaler`; the ridge penalty shrinks towards the identity.
    """

    method: ClassVar[str] = "SV"
    transform: ClassVar = staticmethod(vector_logits)

    @staticmethod
    def _identity(n_classes: int) -> np.ndarray:
        return np.concatenate([np.ones(n_classes), np.zeros(n_classes - 1)])

    _separation_hint: ClassVar[str] = "a linear rule w * x + b classifies every dev example"

    @staticmethod
    def _margins(x, y):
        # natural parameters (w_0..w_{C-1}, b_1..b_{C-1}): margins w_y x_y + b_y - w_c x_c - b_c
        n_classes = x.shape[1]
        i, c = np.nonzero(np.arange(n_classes)[None, :] != y[:, None])
        rows, yi = np.arange(i.size), y[i]
        a = np.zeros((i.size, 2 * n_classes))
        a[rows, yi] += x[i, yi]
        a[rows, c] -= x[i, c]
        a[rows, n_classes + yi] += 1.0
        a[rows, n_classes + c] -= 1.0
        return np.delete(a, n_classes, axis=1), [(-1.0, 1.0)] * (2 * n_classes - 1)

    @staticmethod
    def _report(theta, cov, n_classes):
        names = tuple(f"w[{c}]" for c in range(n_classes)) + tuple(f"b[{c}]" for c in range(1, n_classes))
        return names, np.asarray(theta, dtype=np.float64), np.sqrt(np.clip(np.diag(np.asarray(cov)), 0.0, None))

    @property
    def scale_(self) -> np.ndarray:
        """Fitted per-class scales ``w``, shape (C,)."""
        res = self._fitted()
        return res.params[: res.n_classes].copy()

    @property
    def bias_(self) -> np.ndarray:
        """Fitted per-class biases ``b`` with ``b_0 = 0``, shape (C,)."""
        res = self._fitted()
        return np.concatenate([[0.0], res.params[res.n_classes:]])
