"""Learn-then-Test (Angelopoulos, Bates, Candès, Jordan and Lei, "Learn then Test: calibrating predictive algorithms
to achieve risk control", 2021) for the accuracy of a threshold cascade: p-values and fixed-sequence testing.

For each candidate threshold vector ``theta_j`` the null hypothesis is ``H_j: accuracy(theta_j) < target``. On ``n``
calibration queries, independent of how the candidates and their order were chosen, the number answered correctly
``S_j`` is Binomial(n, accuracy(theta_j)), so

* the exact binomial p-value ``P(Bin(n, target) >= S_j)`` (the test behind the one-sided Clopper-Pearson bound:
  ``p_j <= delta`` exactly when the (1 - delta) lower Clopper-Pearson bound of the accuracy is >= ``target``) and
* the Hoeffding-Bentkus p-value of the error ``1 - S_j / n`` against ``alpha = 1 - target`` (Bates et al. 2021,
  the LTT paper's default for bounded losses; conservative for 0/1 losses, where the binomial one is exact)

are valid (super-uniform under ``H_j``). Fixed-sequence testing rejects ``H_(1), H_(2), ...`` in a fixed order while
``p <= delta`` and stops at the first ``p > delta``; it controls the family-wise error at ``delta`` without any
multiplicity correction, so every certified candidate (every rejected null) has accuracy >= ``target``
simultaneously with probability >= 1 - delta, and any choice among them (the cheapest) keeps the guarantee.

Everything here is vectorised over candidates and over leading replicate axes (``(..., T)`` arrays): the simulation
of ``experiments/guarantees_validity.py`` tests thousands of calibration samples in one call.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from probcascade.exceptions import DataValidationError
from probcascade.validation import check_choice, check_float, check_probability

__all__ = ["PVALUES", "binomial_pvalues", "hoeffding_bentkus_pvalues", "pvalues", "fixed_sequence",
           "clopper_pearson_lower", "select_cheapest"]

#: Names of the p-value methods of :func:`pvalues`.
PVALUES = ("binomial", "hb")


def binomial_pvalues(successes, n, target: float) -> np.ndarray:
    """Exact binomial p-values of ``H: accuracy < target`` given ``successes`` correct answers out of ``n``:
    ``P(Bin(n, target) >= successes)`` (any shape; ``n`` broadcasts)."""
    s = np.asarray(successes, dtype=np.float64)
    return stats.binom.sf(s - 1.0, np.asarray(n), target)


def hoeffding_bentkus_pvalues(successes, n, target: float) -> np.ndarray:
    """Hoeffding-Bentkus p-values of ``H: error > alpha = 1 - target`` (Bates et al. 2021, Proposition 3 of the LTT
    paper): ``min(exp(-n h(min(err, alpha), alpha)), e P(Bin(n, alpha) <= ceil(n err)))`` with ``err`` the
    calibration error rate and ``h(a, b) = a log(a / b) + (1 - a) log((1 - a) / (1 - b))``."""
    s = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    alpha = 1.0 - target
    err = 1.0 - s / n
    a = np.minimum(err, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = (np.where(a > 0, a * np.log(a / alpha), 0.0)
             + np.where(a < 1, (1.0 - a) * np.log((1.0 - a) / (1.0 - alpha)), 0.0))
    hoeffding = np.exp(-n * h)
    bentkus = np.e * stats.binom.cdf(np.ceil(n * err - 1e-9), n, alpha)
    return np.minimum(np.minimum(hoeffding, bentkus), 1.0)


def pvalues(successes, n, target: float, method: str = "binomial") -> np.ndarray:
    """p-values of ``H: accuracy < target`` by ``method`` (``"binomial"`` or ``"hb"``, see the module doc)."""
    check_choice(method, "pvalue", PVALUES)
    check_float(target, "target", low=0.0, high=1.0, low_open=True, high_open=True,
                note="the accuracy to certify")
    return (binomial_pvalues if method == "binomial" else hoeffding_bentkus_pvalues)(successes, n, target)


def fixed_sequence(pvals, delta: float) -> np.ndarray:
    """Fixed-sequence testing along the last axis: True for the leading run of ``p <= delta`` (the rejected nulls,
    i.e. the certified candidates), False from the first ``p > delta`` on. ``pvals`` must already be in test order."""
    check_probability(delta, "delta")
    p = np.asarray(pvals, dtype=np.float64)
    return np.cumprod(p <= delta, axis=-1).astype(bool)


def clopper_pearson_lower(successes, n, delta: float) -> np.ndarray:
    """One-sided (1 - delta) Clopper-Pearson lower bound of a binomial proportion (0 when ``successes = 0``)."""
    s = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        lo = stats.beta.ppf(delta, s, n - s + 1.0)
    return np.where(s > 0, lo, 0.0)


def select_cheapest(certified, cost) -> tuple[np.ndarray, np.ndarray]:
    """Per leading index, the position (along the last axis) of the cheapest certified candidate (ties: the first),
    and whether any candidate was certified (position 0 where none was)."""
    ok = np.asarray(certified, dtype=bool)
    c = np.asarray(cost, dtype=np.float64)
    if ok.shape != c.shape:
        raise DataValidationError(f"'certified' has shape {ok.shape} but 'cost' has shape {c.shape}")
    masked = np.where(ok, c, np.inf)
    return np.argmin(masked, axis=-1), ok.any(axis=-1)
