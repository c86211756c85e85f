"""Error-cost frontiers of a cascade: threshold vectors with their (predicted or training) accuracy and cost.

:class:`Frontier` is what every threshold-tuning method returns (rational tuning, grid search, Bayesian
optimisation).  It is backed by a pandas DataFrame with one row per threshold vector:

=================================  ============================================================================
``lam``                            cost sensitivity lambda of eq. 11 (NaN for methods without one, for
                                   infilled points and for cost-targeted gap points)
``threshold_1`` .. ``threshold_{k-1}``  confidence thresholds of models ``M_1 .. M_{k-1}``
``p_correct``                      predicted (model-based) or training accuracy
``e_cost``                         predicted or training expected cost per query
=================================  ============================================================================

plus the metadata ``models`` (model names in cascade order), ``method`` and a free-form ``info`` mapping.

:func:`pareto_mask` is the 2-D skyline (non-dominated points); :func:`infill` is the adaptive infilling of
eq. 13.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence
import numpy as np
import pandas as pd
from probcascade.evaluation.auc import AUCResult, error_cost_auc
from probcascade.evaluation.routing import route, score_policy
from probcascade.exceptions import DataValidationError, InfillWarning
from probcascade.policies.threshold import ThresholdPolicy
from probcascade.summary import Summary
from probcascade.validation import check_array, check_float, check_int, check_matching_rows, check_probability

__all__ = ["Frontier", "pareto_mask", "infill", "empirical_cdf", "threshold_columns"]

def threshold_columns(n_thresholds: int) -> list[str]:
    """Column names ``threshold_1 .. threshold_{n}``."""
    return [f"threshold_{i + 1}" for i in range(n_thresholds)]


# ------------------------------------------------------------------------------------------------- skyline
def pareto_mask(cost, p_correct, tol: float = 1e-12) -> np.ndarray:
    """Boolean mask of the non-dominated points (minimise cost, maximise accuracy).

    A point is dominated when another point is at least as cheap and at least as accurate and strictly better in
    one of the two (§4.4 of the study).  Of exact duplicates, the first is kept.  Vectorised 2-D skyline: sort by cost
    (ties: most accurate first), then keep each point whose accuracy is strictly above every accuracy before it.
    This is O(m log m) and replaces the ``paretoset`` package the study used, which is not a dependency here
    (for two objectives the skyline needs no more than a sort and a running maximum).

    Accuracies within ``tol`` of each other count as equal, so that the rounding noise of different summation
    orders (the same accuracy computed twice) does not keep a costlier duplicate.
    """
    cost = check_array(cost, "cost").ravel()
    acc = check_array(p_correct, "p_correct").ravel()
    check_matching_rows("cost", cost, "p_correct", acc)
    mask = np.zeros(cost.size, dtype=bool)
    if cost.size == 0:
        return mask
    order = np.lexsort((np.arange(cost.size), -acc, cost))
    sorted_acc = acc[order]
    best_before = np.concatenate([[-np.inf], np.maximum.accumulate(sorted_acc)[:-1]])
    mask[order[sorted_acc > best_before + tol]] = True
    return mask


# ------------------------------------------------------------------------------------------------- infilling
def empirical_cdf(sample) -> Callable[[np.ndarray], np.ndarray]:
    """Vectorised empirical distribution function ``t -> mean(sample <= t)`` of a 1-D sample."""
    xs = np.sort(check_array(sample, "sample").ravel())
    if xs.size == 0:
        raise DataValidationError("'sample' is empty: the empirical cdf needs at least one value")
    return lambda t: np.searchsorted(xs, np.asarray(t, dtype=np.float64), side="right") / xs.size


def infill(
    thresholds,
    cdfs: Sequence[Callable[[np.ndarray], np.ndarray]],
    q: float = 0.1,
    max_rounds: int = 12,
    return_index: bool = False,
):
    """Adaptive infilling of a sequence of optimal threshold vectors (eq. 13 of the study).

    Between consecutive vectors ``theta^(i)`` and ``theta^(i+1)``, whenever some threshold ``j`` moves by more than
    probability mass ``q``, i.e. ``|F_j(theta_j^(i+1)) - F_j(theta_j^(i))| > q`` with ``F_j`` the distribution
    function of model ``j``'s calibrated confidence, the midpoint ``(theta^(i) + theta^(i+1)) / 2`` is inserted.
    All gaps of a round are filled at once; rounds repeat until no gap exceeds ``q``.

    Parameters
    ----------
    thresholds : array_like, shape (T, k-1)
        Threshold vectors in frontier order (e.g. by increasing lambda).
    cdfs : sequence of k-1 callables
        Vectorised distribution functions of the calibrated confidences of models ``1..k-1``: the empirical
        training cdf (:func:`empirical_cdf`) for grid search and Bayesian optimisation, the fitted marginal for
        rational tuning.
    q : float
        Largest probability mass allowed between consecutive thresholds (the study used 0.1; ``q < 0.2`` works).
    max_rounds : int
        Bound on the number of rounds.  A gap can survive them only when an atom of mass > ``q`` lies between two
        thresholds (the cdf jumps there and no midpoint can split the jump); then :class:`InfillWarning` is issued.

    return_index : bool
        Also return, per output row, the index of the input row it is (-1 for inserted midpoints).

    Returns
    -------
    ndarray, shape (T', k-1)
        The vectors with midpoints inserted, in order; the input rows are kept unchanged.
    ndarray of int, shape (T',)
        Only with ``return_index``: source row index, -1 for inserted rows.
    """
    thr = check_array(thresholds, "thresholds", ndim=2)  # (T, k-1), finite to be infilled
    if len(cdfs) != thr.shape[1]:
        raise DataValidationError(f"'cdfs' has {len(cdfs)} distribution functions, 'thresholds' has {thr.shape[1]} columns")
    check_probability(q, "q")
    check_int(max_rounds, "max_rounds", low=0)

    def masses(t: np.ndarray) -> np.ndarray:
        return np.column_stack([np.asarray(f(t[:, j]), dtype=np.float64) for j, f in enumerate(cdfs)])

    src = np.arange(thr.shape[0])
    for _ in range(max_rounds):
        wide = np.flatnonzero(np.abs(np.diff(masses(thr), axis=0)).max(axis=1, initial=0.0) > q)
        if wide.size == 0:
            break
        thr = np.insert(thr, wide + 1, 0.5 * (thr[wide] + thr[wide + 1]), axis=0)
        src = np.insert(src, wide + 1, -1)
    gap = np.abs(np.diff(masses(thr), axis=0)).max(axis=1, initial=0.0)
    if np.any(gap > q):
        warnings.warn(
            f"infill: {int(np.sum(gap > q))} gap(s) still exceed q={q} after {max_rounds} rounds (largest "
            f"{gap.max():.3f}); an atom of the confidence distribution lies between consecutive thresholds",
            InfillWarning,
            stacklevel=2,
        )
    return (thr, src) if return_index else thr


# --------------------------------------------------------------------------------------------------- Frontier
@dataclass(frozen=True, eq=False)
class Frontier:
    """Operating points of a routing policy over a cascade, with their accuracy and expected cost.

    Build it with :meth:`from_arrays` (threshold cascades) or :meth:`from_policies` (any
    :class:`~probcascade.Policy`), or directly from a DataFrame with the documented columns.

    Attributes
    ----------
    frame : DataFrame
        Columns ``lam``, the policy's parameter columns (``threshold_1 .. threshold_{k-1}`` for threshold
        cascades), ``p_correct``, ``e_cost``. ``lam`` is NaN for points that no lambda produced (infilled points).
    models : tuple of str
        Model names in cascade order (length ``k``).
    method : str
        Name of the method that produced the frontier (``"grid_search"``, ``"rational_tuning"`` ...).
    info : mapping
        Free-form metadata (run time, number of candidates, settings).
    policy : str
        The policy kind of every point (``"threshold"`` or another :class:`~probcascade.Policy`'s ``kind``).
    param_names : tuple of str
        The frame's parameter columns (default for threshold cascades: ``threshold_1 .. threshold_{k-1}``).
    policies : tuple of Policy, optional
        The policy object of each point, for policies that numbers alone do not describe (not threshold cascades).
    """

    frame: pd.DataFrame
    models: tuple[str, ...]
    method: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)
    policy: str = "threshold"
    param_names: tuple[str, ...] | None = None
    policies: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        k = len(self.models)
        if k < 2:
            raise DataValidationError(f"a frontier needs at least 2 models, 'models' has {k}")
        threshold = self.policy == "threshold"
        if self.param_names is None:
            if not threshold:
                raise DataValidationError(f"'param_names' is needed for a frontier of {self.policy!r} policies")
            names = tuple(threshold_columns(k - 1))
        else:
            names = tuple(str(c) for c in self.param_names)
        cols = ["lam", *names, "p_correct", "e_cost"]
        missing = [c for c in cols if c not in self.frame.columns]
        if missing:
            raise DataValidationError(f"'frame' lacks column(s) {missing} for models {self.models}")
        if threshold:
            extra = [c for c in self.frame.columns if c.startswith("threshold_") and c not in cols]
            if extra:
                raise DataValidationError(f"'frame' has threshold column(s) {extra} beyond k-1={k - 1} for "
                                          f"{self.models}")
        frame = self.frame[cols].astype(np.float64).reset_index(drop=True)
        for c in ("p_correct", "e_cost", *(names if threshold else ())):
            if frame[c].isna().any():
                raise DataValidationError(f"'frame' column '{c}' contains NaN")
        if self.policies is not None:
            pols = tuple(self.policies)
            if len(pols) != len(frame):
                raise DataValidationError(f"'policies' has {len(pols)} entries, the frame has {len(frame)} rows")
            object.__setattr__(self, "policies", pols)
        elif not threshold:
            raise DataValidationError(f"'policies' is needed for a frontier of {self.policy!r} policies")
        object.__setattr__(self, "frame", frame)
        object.__setattr__(self, "models", tuple(str(m) for m in self.models))
        object.__setattr__(self, "param_names", names)

    @classmethod
    def from_arrays(
        cls,
        thresholds,
        p_correct,
        e_cost,
        lam=None,
        models: Sequence[str] | None = None,
        method: str = "",
        info: Mapping[str, Any] | None = None,
    ) -> "Frontier":
        """Frontier of a threshold cascade from arrays: ``thresholds`` (T, k-1), ``p_correct`` (T,), ``e_cost`` (T,),
        ``lam`` (T,) or None.

        ``models`` defaults to ``("M1", ..., "Mk")``.
        """
        thr = check_array(thresholds, "thresholds", ndim=2, finite="allow-inf")  # (T, k-1)
        if thr.shape[1] < 1:
            raise DataValidationError(f"'thresholds' must have k-1 >= 1 columns, got shape {thr.shape}")
        t, km1 = thr.shape
        models = tuple(models) if models is not None else tuple(f"M{i + 1}" for i in range(km1 + 1))
        if len(models) != km1 + 1:
            raise DataValidationError(f"'models' has {len(models)} names but 'thresholds' has {km1} columns (k-1)")
        frame = _points_frame(t, lam, threshold_columns(km1), thr, p_correct, e_cost)
        return cls(frame, models, method, dict(info or {}))

    @classmethod
    def from_policies(
        cls,
        policies: Sequence[Any],
        p_correct,
        e_cost,
        lam=None,
        params=None,
        param_names: Sequence[str] = (),
        method: str = "",
        info: Mapping[str, Any] | None = None,
    ) -> "Frontier":
        """Frontier of any :class:`~probcascade.Policy` objects (all of one ``kind`` over one cascade), with their
        ``p_correct`` and ``e_cost`` (T,), optional ``lam`` (T,) and numeric parameters ``params`` (T, p) named
        ``param_names`` (e.g. the cost weight ``mu`` of a policy's sweep)."""
        pols = tuple(policies)
        if not pols:
            raise DataValidationError("'policies' is empty")
        kinds = {p.kind for p in pols}
        models = {tuple(p.models) for p in pols}
        if len(kinds) != 1 or len(models) != 1:
            raise DataValidationError(f"'policies' mixes kinds {sorted(kinds)} or cascades {sorted(models)}")
        names = [str(c) for c in param_names]
        par = np.zeros((len(pols), 0)) if params is None else np.asarray(params, dtype=np.float64).reshape(len(pols), -1)
        if par.shape[1] != len(names):
            raise DataValidationError(f"'params' has {par.shape[1]} columns but 'param_names' names {len(names)}")
        frame = _points_frame(len(pols), lam, names, par, p_correct, e_cost)
        return cls(frame, models.pop(), method, dict(info or {}), policy=kinds.pop(), param_names=tuple(names),
                   policies=pols)

    # ---------------------------------------------------------------------------------------------- access
    @property
    def k(self) -> int:
        """Number of models in the cascade."""
        return len(self.models)

    @property
    def thresholds(self) -> np.ndarray:
        """Threshold vectors, shape (T, k-1) (threshold cascades only)."""
        if self.policy != "threshold":
            raise DataValidationError(f"a frontier of {self.policy!r} policies has no thresholds; see .params and "
                                      ".policy_at(i)")
        return self.frame[list(self.param_names)].to_numpy()

    @property
    def params(self) -> np.ndarray:
        """The policies' numeric parameters, shape (T, p), columns :attr:`param_names`."""
        return self.frame[list(self.param_names)].to_numpy()

    def policy_at(self, i: int):
        """The :class:`~probcascade.Policy` of point ``i`` (a :class:`~probcascade.ThresholdPolicy` for threshold
        cascades)."""
        if self.policies is not None:
            return self.policies[i]
        return ThresholdPolicy(self.models, self.thresholds[i])

    def __len__(self) -> int:
        return len(self.frame)

    def _subset(self, rows: np.ndarray) -> "Frontier":
        pols = None if self.policies is None else tuple(self.policies[i] for i in rows)
        return Frontier(self.frame.iloc[rows], self.models, self.method, self.info, self.policy, self.param_names, pols)

    def to_frame(self) -> pd.DataFrame:
        """Copy of the frontier as a DataFrame (metadata in ``.attrs``)."""
        out = self.frame.copy()
        out.attrs.update(models=self.models, method=self.method, policy=self.policy)
        return out

    def summary(self, max_rows: int = 20) -> Summary:
        """Readable table of the frontier (sorted by cost; at most ``max_rows`` rows, evenly spaced), as a
        :class:`~probcascade.summary.Summary`."""
        f = self.frame.sort_values("e_cost", kind="stable")
        if len(f) > max_rows:
            f = f.iloc[np.unique(np.linspace(0, len(f) - 1, max_rows).round().astype(int))]
        cost, acc = self.frame["e_cost"], self.frame["p_correct"]
        head: dict[str, Any] = {"Points": len(self.frame)}
        if len(self.frame):
            head.update({"Cost (min)": cost.min(), "Cost (max)": cost.max(),
                         "Accuracy (min)": acc.min(), "Accuracy (max)": acc.max()})
        out = Summary(f"Frontier: {self.method or 'unnamed method'}").add_dict({"Cascade": " -> ".join(self.models)})
        out.add_dict(head, ncols=2)
        out.add_table(f, index=False)
        if len(f) < len(self.frame):
            out.add_note(f"{len(f)} of {len(self.frame)} points shown, evenly spaced by cost.")
        return out

    # ------------------------------------------------------------------------------------------- selection
    def pareto(self) -> "Frontier":
        """Non-dominated subset (see :func:`pareto_mask`), sorted by cost."""
        mask = pareto_mask(self.frame["e_cost"], self.frame["p_correct"])
        rows = np.flatnonzero(mask)
        return self._subset(rows[np.argsort(self.frame["e_cost"].to_numpy()[rows], kind="stable")])

    def at_budget(self, max_cost: float) -> pd.Series:
        """Most accurate point with ``e_cost <= max_cost`` (ties: the cheaper one)."""
        check_float(max_cost, "max_cost", finite=False)
        f = self.frame[self.frame["e_cost"] <= max_cost]
        if f.empty:
            raise DataValidationError(
                f"no frontier point has e_cost <= max_cost={max_cost}; the cheapest costs {self.frame['e_cost'].min()}"
            )
        return f.sort_values(["p_correct", "e_cost"], ascending=[False, True], kind="stable").iloc[0]

    def at_error(self, max_error: float) -> pd.Series:
        """Cheapest point with ``1 - p_correct <= max_error`` (ties: the more accurate one)."""
        check_float(max_error, "max_error", finite=False)
        f = self.frame[1.0 - self.frame["p_correct"] <= max_error]
        if f.empty:
            raise DataValidationError(
                f"no frontier point has error <= max_error={max_error}; the lowest error is "
                f"{1.0 - self.frame['p_correct'].max()}"
            )
        return f.sort_values(["e_cost", "p_correct"], ascending=[True, False], kind="stable").iloc[0]

    # ------------------------------------------------------------------------------------------ evaluation
    def evaluate(self, conf, correct, cost, answers=None, gold=None) -> pd.DataFrame:
        """Score every threshold vector on (test) data with :func:`~probcascade.evaluation.routing.route`.

        Parameters are those of :func:`~probcascade.evaluation.routing.route` (``conf``/``correct`` (n, k) in this
        frontier's model order; ``cost`` (n, k) or (k,)); policies that return their own answers are scored
        with ``answers`` (n, k) and ``gold`` (n,) instead of ``correct``.  Returns the frontier's frame plus ``test_error``,
        ``test_cost`` and ``share_<model>`` columns.
        """
        shape = np.shape(conf)
        if len(shape) != 2 or shape[1] != self.k:
            raise DataValidationError(f"'conf' must be (n, {self.k}) for the cascade {self.models}, got shape {np.shape(conf)}")
        if self.policies is None:
            r = route(conf, correct, cost, self.thresholds)
            error, mean_cost, shares = r.error, r.cost, r.shares
        else:   # arbitrary policies: each routes all queries at once
            scores = [score_policy(p, conf, cost, correct=correct, answers=answers, gold=gold) for p in self.policies]
            error = np.array([1.0 - s.accuracy for s in scores])
            mean_cost = np.array([s.cost for s in scores])
            shares = np.array([s.shares for s in scores]).reshape(len(scores), self.k)
        out = self.frame.copy()
        out["test_error"] = error
        out["test_cost"] = mean_cost
        for j, m in enumerate(self.models):
            out[f"share_{m}"] = shares[:, j]
        return out

    def auc_against(self, other: "Frontier", conf, correct, cost) -> AUCResult:
        """Test AUC of this frontier (``auc_a``) and ``other`` (``auc_b``) on their common test cost range."""
        if other.models != self.models:
            raise DataValidationError(f"'other' is a frontier of {other.models}, not of {self.models}")
        a = self.evaluate(conf, correct, cost)
        b = other.evaluate(conf, correct, cost)
        return error_cost_auc(a["test_cost"], a["test_error"], b["test_cost"], b["test_error"])

    def certify(self, calibration_data, correct=None, cost=None, *, target: float, delta: float = 0.1,
                calibration=None, pvalue: str = "binomial", order: str = "accuracy"):
        """The cheapest point of this frontier certified to have accuracy >= ``target`` with probability >= 1 -
        ``delta`` (Learn-then-Test with fixed-sequence testing; :func:`probcascade.guarantees.learn_then_test`).

        ``calibration_data`` must be disjoint from the data this frontier was fitted on: either calibrated
        confidences ``(n, k)`` in this frontier's model order with ``correct`` (0/1, (n, k)) and ``cost`` ((n, k) or
        (k,)), or a :class:`~probcascade.CascadeData` with ``calibration`` (the fitted
        :class:`~probcascade.CascadeCalibration` that maps its log-probabilities to confidences). Candidates are
        tested by decreasing ``p_correct`` (``order="accuracy"``) or ``e_cost`` (``"cost"``). Returns a
        :class:`~probcascade.guarantees.Certification` (``.certified`` False, with a plain message, when nothing
        can be certified).
        """
        from probcascade.guarantees.certify import learn_then_test

        if self.policy != "threshold":
            raise DataValidationError(f"certify needs a frontier of threshold cascades, not of {self.policy!r} policies")
        conf = calibration_data
        if hasattr(calibration_data, "logprob"):        # a CascadeData: calibrate it, take its outcomes and costs
            if calibration is None:
                raise DataValidationError("certify: a CascadeData needs 'calibration' (the fitted calibrators) to map "
                                          "its log-probabilities to confidences")
            data = calibration_data.subset(self.models)
            conf, correct, cost = calibration.predict(data), data.correct, data.cost
        if correct is None or cost is None:
            raise DataValidationError("certify: pass 'correct' and 'cost' with calibrated confidences")
        return learn_then_test(self.thresholds, self.frame["p_correct"].to_numpy(), self.frame["e_cost"].to_numpy(),
                               conf, correct, cost, target=target, delta=delta, pvalue=pvalue, order=order,
                               models=self.models, method=self.method)


def _points_frame(t: int, lam, names, params, p_correct, e_cost) -> pd.DataFrame:
    """The frontier frame ``lam, *names, p_correct, e_cost`` from arrays of ``t`` points (sizes checked)."""
    cols: dict[str, np.ndarray] = {}
    lam_arr = np.full(t, np.nan) if lam is None else np.asarray(lam, dtype=np.float64).ravel()
    for name, arr in (("lam", lam_arr), ("p_correct", p_correct), ("e_cost", e_cost)):
        arr = np.asarray(arr, dtype=np.float64).ravel()
        if arr.size != t:
            raise DataValidationError(f"'{name}' has {arr.size} entries, the frontier has {t} points")
        cols[name] = arr
    params = np.asarray(params, dtype=np.float64).reshape(t, len(names))
    return pd.DataFrame({"lam": cols["lam"], **dict(zip(names, params.T)), "p_correct": cols["p_correct"],
                         "e_cost": cols["e_cost"]})
