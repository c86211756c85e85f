"""Capability calibration ("On Calibration of LLMs: From Response to Capability"): confidence as "can the model solve this kind of query?", pass@k and budgets.

Seed 003 distinguishes *response* calibration (does the confidence match whether this one sampled answer was
correct?) from *capability* calibration (does it match the model's expected accuracy on the query, over its
stochastic decoding?). With one answer per query the expected accuracy of a single query cannot be observed, so a
task column (``subject`` in the shared MMLU/MedMCQA files) stands in: the queries of a group are treated as draws of
one task and the group's accuracy is the capability target. Notation: ``N`` queries with calibrated confidence
``p_i``, correctness ``y_i`` and group ``g(i)``; group ``g`` has ``n_g`` queries,

* group accuracy      ``a_g = (1 / n_g) sum_{i in g} y_i``   (the capability target),
* group confidence    ``c_g = (1 / n_g) sum_{i in g} p_i``   (the capability confidence: mean per-query confidence).

Calibration errors (bins ``b`` are the study's adaptive quantile bins of ``p``, :func:`.metrics.bin_indices`):

* response ECE    ``sum_b (n_b / N) |mean_b p_i - mean_b y_i|``          the usual ECE (:func:`.metrics.ece`);
* instance ECE    ``sum_b (n_b / N) |mean_b p_i - mean_b a_g(i)|``       per-query confidences, binned, against the
  capability target of each query instead of its 0/1 outcome ("On Calibration of LLMs: From Response to Capability"'s capability ECE with ``a_g`` for the
  expected accuracy);
* group ECE       ``sum_g (n_g / N) |c_g - a_g|``                        the groups are the bins: the group-level
  (capability) confidence against group accuracy;
* instance MAE    ``(1 / N) sum_i |p_i - a_g(i)|``                       unbinned; by the triangle inequality it bounds
  both the instance and the group ECE from above.

Group ECE is noisy for small groups (``a_g`` has standard error ``sqrt(a_g (1 - a_g) / n_g)``), so the table keeps
``n`` and that standard error per group.

The same calibrated ``p`` predicts repeated sampling: if each of ``k`` independent samples is correct with
probability ``p``, ``pass@k = 1 - (1 - p)^k`` (:func:`pass_at_k`); :func:`pass_at_k_unbiased` is Chen et al.'s (2021)
estimator from ``n`` observed samples with ``c`` correct, to check predictions against. :func:`allocate_samples`
spends a budget of extra samples where they raise the expected number of solved queries most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import gammaln

from probcascade.calibration.metrics import bin_indices
from probcascade.exceptions import DataValidationError
from probcascade.summary import Summary
from probcascade.validation import (
    check_array,
    check_choice,
    check_int,
    check_matching_rows,
)

__all__ = [
    "CapabilityCalibration",
    "SampleAllocation",
    "allocate_samples",
    "capability_calibration",
    "pass_at_k",
    "pass_at_k_unbiased",
]


# ------------------------------------------------------------------------------------------------ checks
def _check_groups(groups, n: int) -> np.ndarray:
    """Group labels as a 1-D object array of length ``n`` without missing labels (strings or numbers)."""
    try:
        g = groups.to_numpy(dtype=object) if hasattr(groups, "to_numpy") else np.asarray(groups, dtype=object)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"'groups' is not a 1-D array of labels ({exc})") from exc
    if g.ndim != 1:
        raise DataValidationError(f"'groups' must be a 1-D array of labels, got shape {g.shape}")
    check_matching_rows("confidence", np.empty(n), "groups", g)
    missing = pd.isna(g)
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        raise DataValidationError(f"'groups' has {int(missing.sum())} missing label(s), first at index {first}")
    return g


def _binned_gap(p: np.ndarray, target: np.ndarray, bins: np.ndarray) -> float:
    """``sum_b (n_b / N) |mean_b p - mean_b target|`` over the non-empty bins ``bins`` (integer bin of each row)."""
    counts = np.bincount(bins)
    used = counts > 0
    mean_p = np.bincount(bins, weights=p)[used] / counts[used]
    mean_t = np.bincount(bins, weights=target)[used] / counts[used]
    return float(np.sum(counts[used] / p.size * np.abs(mean_p - mean_t)))


# ------------------------------------------------------------------------------------------------ capability ECE
@dataclass(frozen=True)
class CapabilityCalibration:
    """Group-level (capability) calibration of one model's confidences (see the module docstring for the metrics).

    ``groups`` is the tidy per-group table (index: the group label, sorted): ``n``, ``accuracy`` (``a_g``),
    ``accuracy_se`` (``sqrt(a_g (1 - a_g) / n_g)``), ``mean_confidence`` (``c_g``), ``gap`` (``c_g - a_g``: positive
    is over-confident on the task) and ``instance_mae`` (mean ``|p_i - a_g|`` within the group).
    """

    groups: pd.DataFrame
    n: int
    accuracy: float
    mean_confidence: float
    ece_response: float
    ece_instance: float
    ece_group: float
    mae_instance: float
    n_bins: int
    strategy: str

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    def to_dict(self) -> dict[str, float | int | str]:
        """The scalar results (no per-group table), JSON-ready."""
        return {"n": self.n, "n_groups": self.n_groups, "accuracy": self.accuracy,
                "mean_confidence": self.mean_confidence, "ece_response": self.ece_response,
                "ece_instance": self.ece_instance, "ece_group": self.ece_group, "mae_instance": self.mae_instance,
                "n_bins": self.n_bins, "strategy": self.strategy}

    def summary(self, title: str | None = "Capability calibration") -> Summary:
        """The scalar metrics and the per-group table (a :class:`~probcascade.summary.Summary`)."""
        s = Summary(title)
        s.add_dict({"queries": self.n, "groups": self.n_groups, "accuracy": self.accuracy,
                    "mean confidence": self.mean_confidence, "response ECE (vs y)": self.ece_response,
                    "instance ECE (vs group acc.)": self.ece_instance, "group ECE (vs group acc.)": self.ece_group,
                    "instance MAE (vs group acc.)": self.mae_instance}, ncols=2, float_format="{:.4g}")
        s.add_table(self.groups, "Per group", float_format="{:.4g}")
        s.add_note(f"Instance and response ECE over {self.n_bins} {self.strategy} bins of the confidence; group ECE "
                   "uses the groups as bins. Targets: group accuracy (capability) or the 0/1 outcome (response).")
        return s


def capability_calibration(confidence, correct, groups, *, n_bins: int = 10,
                           strategy: str = "quantile") -> CapabilityCalibration:
    """Instance- and group-level calibration of ``confidence`` against group accuracy ("On Calibration of LLMs: From Response to Capability"'s capability view).

    Parameters
    ----------
    confidence : array_like, shape (n,)
        Calibrated per-query confidence in [0, 1] (one model).
    correct : array_like, shape (n,)
        1 if the model's answer to the query was correct, else 0.
    groups : array_like, shape (n,)
        The task of each query (e.g. the ``subject`` column): strings or numbers, no missing labels.
    n_bins, strategy
        Bins of the instance and response ECE (:func:`.metrics.bin_indices`: ``"quantile"`` or ``"uniform"``).
    """
    p = check_array(confidence, "confidence", ndim=1, unit_interval=True, min_rows=1)
    y = check_array(correct, "correct", ndim=1, binary=True)
    check_matching_rows("confidence", p, "correct", y)
    g = _check_groups(groups, p.size)
    n_bins = check_int(n_bins, "n_bins", low=1)
    check_choice(strategy, "strategy", ("quantile", "uniform"))

    labels, code = np.unique(g.astype(str) if any(isinstance(v, str) for v in g) else g, return_inverse=True)
    code = code.ravel()
    n_g = np.bincount(code)
    acc_g = np.bincount(code, weights=y) / n_g
    conf_g = np.bincount(code, weights=p) / n_g
    target = acc_g[code]                                  # a_g(i): each query's capability target
    dev = np.abs(p - target)
    groups_frame = pd.DataFrame({
        "n": n_g, "accuracy": acc_g, "accuracy_se": np.sqrt(acc_g * (1 - acc_g) / n_g), "mean_confidence": conf_g,
        "gap": conf_g - acc_g, "instance_mae": np.bincount(code, weights=dev) / n_g,
    }, index=pd.Index(labels, name="group"))
    bins = bin_indices(p, n_bins, strategy)
    return CapabilityCalibration(
        groups=groups_frame, n=int(p.size), accuracy=float(y.mean()), mean_confidence=float(p.mean()),
        ece_response=_binned_gap(p, y, bins), ece_instance=_binned_gap(p, target, bins),
        ece_group=float(np.sum(n_g / p.size * np.abs(conf_g - acc_g))), mae_instance=float(dev.mean()),
        n_bins=n_bins, strategy=strategy,
    )


# ------------------------------------------------------------------------------------------------ pass@k
def _check_k(k, name: str = "k", low: int = 1) -> np.ndarray:
    """``k`` (an integer or an integer array) as int64, every entry ``>= low``."""
    if np.ndim(k) == 0:
        return np.asarray(check_int(k, name, low=low), dtype=np.int64)
    return check_array(k, name, dtype=int, low=low)


def pass_at_k(p, k):
    """Predicted pass@k ``1 - (1 - p)^k`` of queries each solved by one sample with probability ``p``.

    Why: with capability-calibrated ``p`` ("On Calibration of LLMs: From Response to Capability") the chance that at least one of ``k`` independent samples is
    correct follows without drawing them. ``p`` (in [0, 1]) and ``k`` (integers >= 1) broadcast against each other;
    computed as ``-expm1(k log1p(-p))``, accurate for small ``p`` and large ``k``. Returns a float for scalar inputs,
    else an array of the broadcast shape.
    """
    scalar = np.ndim(p) == 0 and np.ndim(k) == 0
    pp = check_array(np.atleast_1d(p) if np.ndim(p) == 0 else p, "p", unit_interval=True)
    kk = _check_k(k)
    try:
        pp, kk = np.broadcast_arrays(pp, kk)
    except ValueError as exc:
        raise DataValidationError(f"'p' and 'k' do not broadcast (shapes {np.shape(p)} and {np.shape(k)})") from exc
    with np.errstate(divide="ignore"):
        out = -np.expm1(kk * np.log1p(-pp))               # log1p(-1) = -inf -> pass@k = 1
    return float(out.ravel()[0]) if scalar else out


def pass_at_k_unbiased(n, c, k):
    """Chen et al.'s (2021) unbiased pass@k estimate from ``n`` samples of which ``c`` are correct.

    ``1 - C(n - c, k) / C(n, k)``: the probability that ``k`` of the ``n`` samples drawn without replacement include
    a correct one; its expectation over ``c ~ Binomial(n, p)`` is exactly ``1 - (1 - p)^k``, so it is the reference
    for :func:`pass_at_k`. Computed in log space with ``gammaln`` (no overflow of the binomial coefficients) and
    equal to 1 when ``n - c < k``. ``n``, ``c``, ``k`` are integers (or integer arrays, broadcast) with
    ``1 <= k <= n`` and ``0 <= c <= n``.
    """
    scalar = all(np.ndim(v) == 0 for v in (n, c, k))
    nn, cc, kk = _check_k(n, "n"), _check_k(c, "c", low=0), _check_k(k, "k")
    try:
        nn, cc, kk = np.broadcast_arrays(nn, cc, kk)
    except ValueError as exc:
        raise DataValidationError(f"'n', 'c' and 'k' do not broadcast (shapes {np.shape(n)}, {np.shape(c)}, "
                                  f"{np.shape(k)})") from exc
    if np.any(cc > nn):
        raise DataValidationError(f"'c' must be at most 'n' (the number of samples), got c = {int(cc[cc > nn][0])}")
    if np.any(kk > nn):
        raise DataValidationError(f"'k' must be at most 'n' (the number of samples), got k = {int(kk[kk > nn][0])}")
    wrong = nn - cc
    solved = wrong < kk
    w = np.where(solved, kk, wrong)                       # any valid value where the ratio is 0
    log_ratio = gammaln(w + 1) - gammaln(w - kk + 1) - gammaln(nn + 1) + gammaln(nn - kk + 1)
    out = np.where(solved, 1.0, -np.expm1(log_ratio))
    return float(out.ravel()[0]) if scalar else out


# ------------------------------------------------------------------------------------------------ budget allocation
@dataclass(frozen=True)
class SampleAllocation:
    """Samples per query from :func:`allocate_samples`.

    ``extra``: extra samples given to each query; ``samples = base + extra``; ``expected_solved``:
    ``sum_i 1 - (1 - p_i)^samples_i``; ``baseline_solved``: the same with ``base`` samples each (no budget).
    """

    extra: np.ndarray
    samples: np.ndarray
    expected_solved: float
    baseline_solved: float

    @property
    def gain(self) -> float:
        """Expected extra solved queries bought by the budget."""
        return self.expected_solved - self.baseline_solved


def allocate_samples(p, budget: int, *, base: int = 1) -> SampleAllocation:
    """Spend ``budget`` extra samples across queries to maximise the expected number solved (pass@samples).

    Query ``i`` already has ``base`` samples; with ``m`` samples it is solved with probability ``1 - (1 - p_i)^m``,
    so its ``j``-th extra sample (``j = 1, 2, ...``) adds ``p_i (1 - p_i)^(base + j - 1)``: the probability that this
    sample is the first correct one (with ``base = 1``, "On Calibration of LLMs: From Response to Capability"'s ``p (1 - p)^j``). The gains of a query do not
    increase in ``j`` (diminishing returns), so the objective is a sum of concave functions of the counts and the
    greedy allocation (one sample at a time to the largest gain) is optimal; it equals the ``budget`` largest gains of
    the ``n x budget`` gain matrix taken at once. That is what is computed, by one stable sort (ties go to the lower
    query index, then the earlier sample), with no loop over the budget; memory is ``n * budget`` floats.

    Parameters
    ----------
    p : array_like, shape (n,)
        Calibrated per-query probability that one sample is correct, in [0, 1].
    budget : int
        Extra samples to spend (>= 0).
    base : int
        Samples every query gets regardless (>= 0; default 1: the one answer already drawn).
    """
    pp = check_array(p, "p", ndim=1, unit_interval=True, min_rows=1)
    budget = check_int(budget, "budget", low=0)
    base = check_int(base, "base", low=0)
    n = pp.size
    extra = np.zeros(n, dtype=np.int64)
    if budget:
        steps = base + np.arange(budget)                  # samples held before the j-th extra one
        with np.errstate(divide="ignore", invalid="ignore"):   # log(0) at p = 1; 0 * -inf masked below
            log_q = np.log1p(-pp)[:, None] * steps[None, :]
        gains = pp[:, None] * np.exp(np.where(steps[None, :] == 0, 0.0, log_q))   # p (1 - p)^m, 0^0 = 1
        top = np.argsort(-gains.ravel(), kind="stable")[:budget]
        extra = np.bincount(top // budget, minlength=n).astype(np.int64)
    samples = base + extra
    return SampleAllocation(extra=extra, samples=samples,
                            expected_solved=float(np.sum(_solved_probability(pp, samples))),
                            baseline_solved=float(np.sum(_solved_probability(pp, np.full(n, base)))))


def _solved_probability(p: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``1 - (1 - p)^m`` for checked arrays, with ``m = 0`` allowed (nothing drawn: 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):   # 0 * log(0) at p = 1, m = 0: masked
        return np.where(m == 0, 0.0, -np.expm1(m * np.log1p(-p)))
