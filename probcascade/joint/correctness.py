"""Deferral-aware correctness: P(model j correct | its own and its predecessor's calibrated confidence).

The study's model (its §3) scores a cascade with the calibrated confidences alone: the query answered by
model j counts as correct with probability Phi_j, whatever the earlier models said. In a cascade, though, model j
only sees the queries its predecessor was unsure about, and those can be harder than Phi_j says; on the shared
Llama data the predecessor's confidence does predict model j's correctness given Phi_j (measurements:
docs/design_notes.md#joint).

The *pairwise* correctness model keeps the Markov-copula law of the confidences and replaces only the last step:

    P(correct_j | Phi_i = u, Phi_j = v) = sigmoid(alpha + beta logit v + gamma logit u),

fitted on the training queries by maximum likelihood (optionally the posterior mode under a Gaussian prior
centred at the study's model), for every ordered pair (i, j) a sub-cascade may use. With
``(alpha, beta, gamma) = (0, 1, 0)`` it is the study's model exactly. The chain evaluation
(:func:`probcascade.joint.chain.chain_metrics`) applies it as a ratio ``sigmoid(...) / v`` on the (predecessor
state, own state) grid of each link (:func:`ratio_matrix`), so the objective stays a differentiable O(k) function
of the thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import special
from probcascade.estimation.logistic import LogisticFit, fit_logistic
from probcascade.exceptions import DataValidationError
from probcascade.validation import check_array, check_choice

__all__ = ["PairwiseCorrectness", "fit_pairwise_correctness", "ratio_matrix", "check_correctness", "CORRECTNESS", "EPS", "IDENTITY", "DEFAULT_RIDGE"]

#: Models of the answering model's correctness: its calibrated confidence (the study's) or the pairwise model.
CORRECTNESS = ("marginal", "pairwise")

#: Confidences are clipped to [EPS, 1 - EPS] before the logit.
EPS = 1e-6

#: Coefficients of the study's model: P(correct_j) = Phi_j.
IDENTITY = np.array([0.0, 1.0, 0.0])

#: Default prior precision of :func:`fit_pairwise_correctness` (towards :data:`IDENTITY`): 0, maximum likelihood.
DEFAULT_RIDGE = 0.0


def check_correctness(correctness: str) -> str:
    """``correctness`` if it names one of :data:`CORRECTNESS`, else a :class:`DataValidationError`."""
    return check_choice(correctness, "correctness", CORRECTNESS)


def _fixed_fit(prev: str, nxt: str, coef, se, n: int, converged: bool) -> LogisticFit:
    """A :class:`LogisticFit` with given coefficients and standard errors (nothing estimated)."""
    coef, se = np.asarray(coef, dtype=np.float64), np.asarray(se, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = coef / se
    return LogisticFit(("intercept", f"logit phi[{nxt}]", f"logit phi[{prev}]"), coef, se, z,
                       2 * special.ndtr(-np.abs(z)), float("nan"), n, 0, converged, False, f"{prev} -> {nxt}")


def _logit(p, xp=np):
    p = xp.clip(p, EPS, 1.0 - EPS)
    return xp.log(p) - xp.log1p(-p)


@dataclass(frozen=True)
class PairwiseCorrectness:
    """The fitted ``P(correct of nxt | Phi_prev, Phi_nxt)`` of one ordered pair (``prev`` answers first)."""

    prev: str
    nxt: str
    fit: LogisticFit

    @classmethod
    def from_coef(cls, prev: str, nxt: str, coef) -> "PairwiseCorrectness":
        """A pair with given coefficients (alpha, beta, gamma), e.g. for simulation; no standard errors."""
        try:
            coef = check_array(coef, "coef", shape=(3,))
        except DataValidationError as exc:
            raise DataValidationError(f"pairwise correctness {prev} -> {nxt}: 3 finite coefficients needed: {exc}") from exc
        return cls(prev, nxt, _fixed_fit(prev, nxt, coef, np.full(3, np.nan), 0, True))

    @property
    def coef(self) -> np.ndarray:
        """(alpha, beta, gamma): intercept, own-confidence and predecessor-confidence coefficients."""
        return np.asarray(self.fit.coef, dtype=np.float64)

    def predict(self, phi_prev, phi_nxt) -> np.ndarray:
        """Probability that ``nxt`` answers correctly, given both calibrated confidences."""
        a, b, g = self.coef
        eta = a + b * _logit(np.asarray(phi_nxt, dtype=np.float64)) + g * _logit(np.asarray(phi_prev, dtype=np.float64))
        return special.expit(eta)

    def to_frame(self) -> pd.DataFrame:
        out = self.fit.to_frame()
        out.insert(0, "nxt", self.nxt)
        out.insert(0, "prev", self.prev)
        return out


def fit_pairwise_correctness(
    phi: np.ndarray, correct: np.ndarray, models: Sequence[str], pairs: Sequence[tuple[int, int]],
    ridge: float = DEFAULT_RIDGE,
) -> dict[tuple[str, str], PairwiseCorrectness]:
    """Fit ``correct_j ~ 1 + logit Phi_j + logit Phi_i`` for each ordered pair ``(i, j)`` of column indices.

    ``phi`` (n, k) calibrated confidences and ``correct`` (n, k) 0/1 outcomes of the same training queries.
    ``ridge``: precision of a Gaussian prior on (alpha, beta, gamma) centred at the study's model (0, 1, 0); the fit
    is its posterior mode. The default 0 is maximum likelihood (what Table 7 uses, n ~ 300). With a few dozen queries
    the three coefficients can separate correct from incorrect answers and run off; ``ridge=1`` (prior SD 1) keeps
    them finite and near the study's model (its effect on Table 7: docs/design_notes.md#joint).
    A pair whose model j has a single outcome keeps the study's model (coefficients (0, 1, 0), infinite standard
    errors) rather than failing: the ratio it implies is 1.
    """
    phi = np.asarray(phi, dtype=np.float64)
    correct = check_array(correct, "correct", shape=phi.shape, binary=True, column_names=models)  # like phi
    out = {}
    for i, j in pairs:
        prev, nxt = models[i], models[j]
        y = correct[:, j].astype(np.float64)
        X = np.column_stack([np.ones(len(y)), _logit(phi[:, j]), _logit(phi[:, i])])
        if np.unique(y).size < 2:
            fit = _fixed_fit(prev, nxt, IDENTITY, np.full(3, np.inf), len(y), False)
        else:
            names = ("intercept", f"logit phi[{nxt}]", f"logit phi[{prev}]")
            fit = fit_logistic(X, y, names=names, model=f"{prev} -> {nxt}", ridge=ridge, center=IDENTITY)
        out[(prev, nxt)] = PairwiseCorrectness(prev, nxt, fit)
    return out


def ratio_matrix(coef, u, v):
    """``R[b, c] = P(correct | Phi_prev = u_b, Phi_nxt = v_c) / v_c``: the factor by which the pairwise model
    scales the study's per-state correctness (1 up to rounding for the study's coefficients (0, 1, 0)). JAX, batched
    over the leading axes of ``coef`` (..., 3), ``u`` (..., S) and ``v`` (..., S)."""
    coef = jnp.asarray(coef)
    u, v = jnp.asarray(u), jnp.asarray(v)
    eta = (coef[..., 0, None, None] + coef[..., 1, None, None] * _logit(v, jnp)[..., None, :]
           + coef[..., 2, None, None] * _logit(u, jnp)[..., :, None])
    v_safe = jnp.clip(v, EPS, 1.0 - EPS)[..., None, :]
    return jax.nn.sigmoid(eta) / v_safe
