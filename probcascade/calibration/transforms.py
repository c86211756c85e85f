"""Hyperparameter-free feature transforms of raw confidence (eq. 16-18 of the study), the inputs of the calibrators.

All transforms take *log*-probabilities, so that probabilities within 1e-16 of 1 keep their information.

``one-sided`` (eq. 16)
    xi = log(1 / (1 - p)) = -log1mexp(log p).
``two-sided`` (eq. 17)
    xi = log(1 / (1 - p)) for p >= 1/2 and xi = log(4 p) = log p + 2 log 2 for p < 1/2.
    Eq. 17 as printed uses log(1/p) on the lower branch, which is not monotone in p (p = 0.01 and p = 0.99 map to the
    same value); this is the continuous, increasing branch that meets the upper one at log 2 for p = 1/2, and the one
    that reproduces the study's Table 1 (docs/design_notes.md#calibration).
``logit``
    log(p / (1 - p)), the input of Platt and temperature scaling.
``none``
    the raw probability p.

Certainty (log p = 0 or -inf) makes xi infinite; eq. 18 reassigns +inf to the largest and -inf to the smallest
finite value seen in *training* data. :class:`ConfidenceTransform` learns these bounds with :meth:`fit` and applies
them to new data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import numpy as np
from probcascade.exceptions import DataValidationError
from probcascade.special import log1mexp
from probcascade.validation import check_array, check_choice
from probcascade.calibration.choices import TRANSFORMS

__all__ = ["one_sided", "two_sided", "logit_from_logprob", "transform_logprob", "ConfidenceTransform", "TRANSFORMS"]

_LOG_HALF = -np.log(2.0)


def one_sided(logp: np.ndarray) -> np.ndarray:
    """Eq. 16: xi = log(1/(1-p)); +inf at p = 1, 0 at p = 0."""
    return -log1mexp(logp)


def two_sided(logp: np.ndarray) -> np.ndarray:
    """Eq. 17 (continuous increasing form): -log(1-p) for p >= 1/2, log p + 2 log 2 for p < 1/2."""
    x = np.asarray(logp, dtype=np.float64)
    return np.where(x >= _LOG_HALF, -log1mexp(x), x + 2.0 * np.log(2.0))


def logit_from_logprob(logp: np.ndarray) -> np.ndarray:
    """log(p/(1-p)) computed from log p."""
    x = np.asarray(logp, dtype=np.float64)
    return x - log1mexp(x)


def transform_logprob(logp: np.ndarray, kind: str) -> np.ndarray:
    """Apply a transform by name (before the infinity reassignment of eq. 18)."""
    check_choice(kind, "kind", TRANSFORMS)
    if kind == "one-sided":
        return one_sided(logp)
    if kind == "two-sided":
        return two_sided(logp)
    if kind == "logit":
        return logit_from_logprob(logp)
    return np.exp(np.asarray(logp, dtype=np.float64))  # "none"


@dataclass
class ConfidenceTransform:
    """A transform with the +-inf reassignment of eq. 18 learned on training data.

    Parameters
    ----------
    kind : {"one-sided", "two-sided", "logit", "none"}
    model : str
        Name used in error messages.
    """

    kind: str = "one-sided"
    model: str = ""
    xi_min: float | None = field(default=None)
    xi_max: float | None = field(default=None)

    def __post_init__(self) -> None:
        try:
            check_choice(self.kind, "kind", TRANSFORMS)
        except DataValidationError as exc:
            raise DataValidationError(f"model '{self.model}': {exc}") from exc

    def _check(self, logp: np.ndarray) -> np.ndarray:
        try:  # log-probabilities: -inf (p = 0) is data, anything above 0 is not
            return check_array(logp, "raw_logprob", finite="allow-neg-inf", high=0.0)
        except DataValidationError as exc:
            raise DataValidationError(f"model '{self.model}': {exc}") from exc

    def fit(self, logp: np.ndarray) -> "ConfidenceTransform":
        """Learn the finite range of xi on training data."""
        xi = transform_logprob(self._check(logp), self.kind)
        finite = xi[np.isfinite(xi)]
        if finite.size == 0:
            raise DataValidationError(
                f"model '{self.model}': every training raw_logprob signals certainty, so the {self.kind} transform "
                "has no finite value to reassign infinities to (eq. 18)"
            )
        self.xi_min, self.xi_max = float(finite.min()), float(finite.max())
        return self

    def transform(self, logp: np.ndarray) -> np.ndarray:
        """Transform new data; +inf -> training max, -inf -> training min (eq. 18)."""
        if self.xi_min is None or self.xi_max is None:
            raise DataValidationError(f"transform of model '{self.model}' is not fitted: call fit() on training data first")
        xi = transform_logprob(self._check(logp), self.kind)
        return np.where(np.isposinf(xi), self.xi_max, np.where(np.isneginf(xi), self.xi_min, xi))

    def fit_transform(self, logp: np.ndarray) -> np.ndarray:
        return self.fit(logp).transform(logp)
