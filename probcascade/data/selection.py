"""Which queries to label for calibration.

* :func:`select_calibration_data` - the in-task dev-set sampling strategies of Hovsepian et al. (2024, §2.2.2),
  driven by a per-query *surrogate* score: uniform sampling (U), stratification by error (SE) and importance
  sampling by error (IE).  Their surrogate is the surrogate calibration error ``|uncalibrated score - reference
  calibrated score|`` (:func:`surrogate_error`; its reference was the best out-of-task calibrator), but any
  per-query score available without labels works, e.g. a small model's estimated error probability.
* :func:`balanced_pairs_subset` - the low-sample protocol of §4.4.1 of the study: a training set of at most ~30
  queries sampled in (correct, incorrect) pairs for every model, so that every model's calibrator sees both
  outcomes.

Every sampler is reproducible through ``seed`` (a :class:`numpy.random.Generator` is built from it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence
import numpy as np
import pandas as pd
from probcascade.exceptions import DataValidationError, FitError
from probcascade.summary import Summary
from probcascade.validation import check_array, check_choice, check_float, check_int, check_matching_rows

__all__ = ["surrogate_error", "select_calibration_data", "CalibrationSample", "balanced_pairs_subset"]

METHODS = ("uniform", "stratified", "importance")


def surrogate_error(uncalibrated: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The surrogate calibration error of Hovsepian et al. (2024), ``|uncalibrated - reference|`` per query.

    ``uncalibrated`` are the raw confidence scores, ``reference`` the scores of a calibrator fitted without in-task
    labels (Hovsepian et al. used out-of-task softmax temperature scaling); both 1-D of equal length.
    """
    u = check_array(uncalibrated, "uncalibrated", ndim=1, min_rows=1)
    r = check_array(reference, "reference", ndim=1, min_rows=1)
    check_matching_rows("uncalibrated", u, "reference", r)
    return np.abs(u - r)


@dataclass
class CalibrationSample:
    """Queries selected for labelling, with design weights.

    ``indices`` are positions into the scored population (sorted, distinct).  ``weights`` are the inverse inclusion
    probabilities scaled so that ``mean(weights * f[indices])`` is an unbiased (Horvitz-Thompson) estimate of the
    population mean ``mean(f)`` for any per-query quantity ``f``: all ones for uniform sampling, ``n N_h / (N n_h)``
    in stratum ``h`` for stratified sampling, ``n / (N pi_i)`` for importance sampling.  Pass them as
    ``sample_weight`` to a calibrator's ``fit`` to fit to the population rather than to the design.
    ``inclusion`` holds the inclusion probabilities ``pi_i`` and ``stratum`` each selected query's stratum
    (``-1`` when the method has none).
    """

    indices: np.ndarray
    weights: np.ndarray
    inclusion: np.ndarray
    stratum: np.ndarray
    method: str
    population: int
    seed: int | None

    @property
    def n(self) -> int:
        return int(self.indices.size)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"index": self.indices, "stratum": self.stratum, "inclusion": self.inclusion, "weight": self.weights}
        )

    def summary(self) -> Summary:
        """Design, sizes and weight range; per-stratum counts for stratified samples (a
        :class:`~probcascade.summary.Summary`)."""
        out = Summary("Calibration sample").add_dict(
            {"method": self.method, "n": self.n, "N": self.population, "seed": self.seed,
             "weights min": self.weights.min(), "weights mean": self.weights.mean(),
             "weights max": self.weights.max()}, ncols=2, float_format="{:.4g}")
        if self.method == "stratified":
            counts = pd.Series(self.stratum).value_counts().sort_index().rename_axis("stratum").rename("n_selected")
            out.add_table(counts.to_frame(), "Selected queries per stratum")
        return out


def _systematic_pps(pi: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Randomised systematic sampling with inclusion probabilities ``pi`` (each in (0, 1], summing to an integer)."""
    order = rng.permutation(pi.size)
    cum = np.cumsum(pi[order])
    points = rng.uniform() + np.arange(int(round(cum[-1])))
    picked = np.minimum(np.searchsorted(cum, points, side="right"), pi.size - 1)
    return order[picked]


def _pps_inclusion(mass: np.ndarray, n: int) -> np.ndarray:
    """Inclusion probabilities proportional to ``mass``, capped at 1 (capped units are taken with certainty)."""
    pi = np.zeros_like(mass)
    certain = np.zeros(mass.size, dtype=bool)
    while True:
        rest = ~certain
        pi[rest] = (n - certain.sum()) * mass[rest] / mass[rest].sum()
        over = rest & (pi >= 1.0)
        if not over.any():
            break
        certain |= over
    pi[certain] = 1.0
    return pi


def select_calibration_data(
    scores: np.ndarray,
    n: int,
    method: Literal["uniform", "stratified", "importance"] = "uniform",
    *,
    seed: int | None = 0,
    n_strata: int = 5,
    defensive: float = 0.0,
) -> CalibrationSample:
    """Select ``n`` distinct queries to label for calibration (Hovsepian et al. 2024, §2.2.2).

    Parameters
    ----------
    scores : array, shape (N,)
        Surrogate score per query of the population, e.g. :func:`surrogate_error`.  ``"importance"`` needs
        non-negative scores; ``"uniform"`` ignores their values.
    n : int
        Number of queries to select, ``1 <= n <= N``.
    method : {"uniform", "stratified", "importance"}
        * ``"uniform"`` (U): simple random sample without replacement.
        * ``"stratified"`` (SE): the queries are ranked by score (ties broken at random) and cut into ``n_strata``
          equal-size strata; ``n`` is allocated to strata proportionally to their size (largest remainder) and
          drawn uniformly without replacement within each, so every part of the score range is represented.
        * ``"importance"`` (IE): inclusion probability proportional to the score (probabilities that would exceed
          1 are capped, those queries taken with certainty), drawn by randomised systematic sampling, which gives
          exactly ``n`` distinct queries with exactly those inclusion probabilities.
    seed : int or None
        Seed of the :class:`numpy.random.Generator`.
    n_strata : int
        Number of strata for ``"stratified"``, ``1 <= n_strata <= n``.
    defensive : float in [0, 1)
        ``"importance"`` only: mix the score-proportional distribution with a uniform one,
        ``q = (1 - defensive) * s / sum(s) + defensive / N``.  With ``defensive = 0`` (Hovsepian et al.'s scheme)
        queries with score 0 are never selected, so the weights are unbiased only for quantities supported on
        positive-score queries; ``defensive > 0`` makes them unbiased for every quantity.

    Returns
    -------
    CalibrationSample
        Sorted selected indices with Horvitz-Thompson design weights (see :class:`CalibrationSample`).
    """
    s = check_array(scores, "scores", ndim=1, min_rows=1)
    size = s.size
    check_int(n, "n", low=1, high=size, note="the number of scored queries")
    check_choice(method, "method", METHODS)
    check_int(seed, "seed", low=0, allow_none=True)
    rng = np.random.default_rng(seed)
    stratum = np.full(size, -1)
    if method == "uniform":
        chosen = rng.choice(size, size=n, replace=False)
        pi = np.full(size, n / size)
    elif method == "stratified":
        check_int(n_strata, "n_strata", low=1, high=n, note="at most 'n'")
        ranked = np.lexsort((rng.permutation(size), s))  # by score, random among ties
        stratum[ranked] = np.arange(size) * n_strata // size
        sizes = np.bincount(stratum, minlength=n_strata)
        quota = n * sizes / size
        alloc = np.floor(quota).astype(int)
        alloc[np.argsort(-(quota - alloc), kind="stable")[: n - alloc.sum()]] += 1
        chosen = np.concatenate(
            [rng.choice(np.flatnonzero(stratum == h), size=alloc[h], replace=False) for h in range(n_strata)]
        )
        pi = (alloc / sizes)[stratum]
    else:
        if (s < 0).any():
            raise DataValidationError("'scores' must be non-negative for importance sampling (e.g. surrogate errors)")
        check_float(defensive, "defensive", low=0.0, high=1.0, high_open=True)
        if s.sum() == 0 and defensive == 0.0:
            raise DataValidationError("'scores' are all zero; importance sampling needs positive mass (or defensive > 0)")
        q = (1.0 - defensive) * s / max(s.sum(), np.finfo(float).tiny) + defensive / size
        if np.count_nonzero(q) < n:
            raise DataValidationError(
                f"'scores': only {np.count_nonzero(q)} queries have positive score, fewer than n={n}; use defensive > 0"
            )
        pi = _pps_inclusion(q, n)
        certain = np.flatnonzero(pi >= 1.0)
        rest = np.flatnonzero((pi > 0) & (pi < 1.0))
        chosen = np.concatenate([certain, rest[_systematic_pps(pi[rest], rng)]]) if rest.size else certain
    chosen = np.sort(chosen)
    return CalibrationSample(
        indices=chosen,
        weights=n / (size * pi[chosen]),
        inclusion=pi[chosen],
        stratum=stratum[chosen],
        method=method,
        population=size,
        seed=seed,
    )


def balanced_pairs_subset(
    correct: np.ndarray | pd.DataFrame,
    target: int = 30,
    *,
    seed: int | None = 0,
    n_iter: int | None = None,
    models: Sequence[str] | None = None,
) -> np.ndarray:
    """Low-sample training subset sampled in (correct, incorrect) pairs per model (§4.4.1 of the study).

    Iterations cycle over the models in order; iteration ``t`` draws, for model ``t mod k``, one query it answered
    correctly and one it answered incorrectly, each uniformly from all such queries.  The union of the draws is
    the subset.  Collisions (a query drawn twice, for the same or another model) are allowed and not replaced,
    so with the default ``n_iter = target // 2`` (``target`` draws in all) the subset has at most ``target``
    queries - between about 20 and 30 for ``target = 30`` on the study's benchmarks.  A pair that would take the
    subset beyond ``target`` queries ends the sampling, so a larger ``n_iter`` fills the subset up to ``target``.

    Parameters
    ----------
    correct : array or DataFrame, shape (n_queries, k)
        0/1 correctness of every model (columns) on every query (rows).
    target : int
        Maximum subset size; at least ``2k`` so that every model gets its pair.
    seed : int or None
        Seed of the :class:`numpy.random.Generator`.
    n_iter : int, optional
        Number of pair draws, at least ``k`` (default ``target // 2``).
    models : sequence of str, optional
        Model names for messages (default: the DataFrame's columns, else ``model 0 .. k-1``).

    Returns
    -------
    ndarray of int
        Sorted, distinct row positions of the selected queries.  Every model has both a correct and an
        incorrect answer among them.

    Raises
    ------
    FitError
        A model answered every query correctly, or every query incorrectly (no pair exists).
    DataValidationError
        Bad ``correct``, ``target`` or ``n_iter``.
    """
    if models is None and isinstance(correct, pd.DataFrame):
        models = [str(c) for c in correct.columns]
    y = check_array(correct, "correct", ndim=2, binary=True, min_rows=1, column_names=models)
    if y.shape[1] == 0:
        raise DataValidationError(f"'correct' must have one column per model (n_queries, n_models), got shape {y.shape}")
    k = y.shape[1]
    names = list(models) if models is not None else [f"model {j}" for j in range(k)]
    if len(names) != k:
        raise DataValidationError(f"'models' has {len(names)} names for {k} columns of 'correct'")
    check_int(target, "target", low=2 * k, note="2 * n_models")
    n_iter = target // 2 if n_iter is None else n_iter
    check_int(n_iter, "n_iter", low=k, note="n_models")
    check_int(seed, "seed", low=0, allow_none=True)
    pools = []
    for j in range(k):
        right, wrong = np.flatnonzero(y[:, j] == 1), np.flatnonzero(y[:, j] == 0)
        if right.size == 0 or wrong.size == 0:
            outcome = "incorrectly" if right.size == 0 else "correctly"
            raise FitError(f"{names[j]}: answered every query {outcome}; no (correct, incorrect) pair can be sampled")
        pools.append((right, wrong))
    rng = np.random.default_rng(seed)
    chosen: set[int] = set()
    for t in range(n_iter):
        right, wrong = pools[t % k]
        pair = {int(rng.choice(right)), int(rng.choice(wrong))}
        if len(chosen | pair) > target:
            break
        chosen |= pair
    return np.array(sorted(chosen), dtype=np.int64)
