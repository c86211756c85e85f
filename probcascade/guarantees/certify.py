"""Guaranteed operating points: the cheapest threshold vector whose accuracy is certified ``>= target`` with
probability ``>= 1 - delta`` over the calibration sample (Learn-then-Test, see :mod:`.ltt`).

Protocol (split the labelled data in two, *before* looking at the calibration part):

1. **fit part**: fit the Markov-copula model and tune its frontier (or run grid search: the model-free baseline);
   the frontier's threshold vectors are the candidates, and their *order* is fixed from the fit part alone;
2. **calibration part**: score every candidate (one vectorised routing call), compute p-values of
   ``H_j: accuracy < target`` for all of them at once, run fixed-sequence testing in the fixed order, and return
   the cheapest certified candidate (cheapest by its calibration cost; any choice among the certified keeps the
   guarantee).

Which order gives power. Fixed-sequence testing stops at the first candidate it cannot certify, so the order must
run from the candidates most surely above the target to those least surely above it: ``order="accuracy"`` (the
default) tests the frontier by decreasing predicted accuracy (on a Pareto frontier: most expensive first) and walks
down towards the target until the calibration data no longer support it. Testing cheapest-first among the points
predicted to meet the target would put first the candidate whose predicted accuracy sits *at* the target: its
p-value is about 1/2 whatever the sample size, the sequence stops there and nothing is certified.
``order="cost"`` (decreasing cost of the frontier: the model-free baseline's order, by the empirical cost of a grid
search) coincides with ``"accuracy"`` on a monotone frontier.

Cross-fitting. Running the protocol on K splits with the roles of the parts exchanged (fold i's candidates tested
on fold i's calibration part) and taking the cheapest of the K certified points is valid at level ``delta`` when
each fold is tested at ``delta / K`` (a union bound over the K families of tests; :func:`cross_fit`). It uses every
query for both fitting and testing, at the price of the smaller level per fold; with two folds it pays when the fit
part is the bottleneck (the model orders badly from few queries), not when the calibration part is (the test at
``delta / 2`` needs a wider margin). Pooling the folds' calibration counts into one test is *not* valid (each
candidate list saw the other fold's calibration data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from probcascade.evaluation.routing import route_core, validate_cascade_data, validate_thresholds
from probcascade.exceptions import DataValidationError
from probcascade.guarantees.ltt import clopper_pearson_lower, fixed_sequence, pvalues, select_cheapest
from probcascade.precision import x64
from probcascade.summary import Summary
from probcascade.validation import check_array, check_choice, check_float, check_probability, pad_rows, padded_size

__all__ = ["ORDERS", "Certification", "learn_then_test", "candidate_order", "calibration_scores", "cross_fit"]

#: Orders of the candidates for fixed-sequence testing (see the module doc).
ORDERS = ("accuracy", "cost")


def candidate_order(predicted_accuracy, predicted_cost, order: str = "accuracy") -> np.ndarray:
    """Indices of the candidates in test order: decreasing ``predicted_accuracy`` (ties: costlier first) for
    ``"accuracy"``, decreasing ``predicted_cost`` (ties: more accurate first) for ``"cost"``."""
    check_choice(order, "order", ORDERS)
    acc = np.asarray(predicted_accuracy, dtype=np.float64)
    c = np.asarray(predicted_cost, dtype=np.float64)
    return np.lexsort((-c, -acc)) if order == "accuracy" else np.lexsort((-acc, -c))


@partial(jax.jit, static_argnames=("batch_size",))
def _scores(conf, correct, cumcost, thresholds, batch_size):
    err, cost, _ = jax.vmap(lambda a, b, c: route_core(a, b, c, thresholds, batch_size))(conf, correct, cumcost)
    return err, cost


@x64
def calibration_scores(conf, correct, cost, thresholds, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Correct answers (counts) and mean cost per query of every threshold vector (T, k-1) on every calibration
    sample: ``conf``/``correct`` (R, n, k) or (n, k), ``cost`` (k,) per-model expected costs (or (R, n, k)).
    Returns arrays (R, T) (or (T,)): one compiled call, vmapped over samples and threshold vectors."""
    conf = np.asarray(conf, dtype=np.float64)
    single = conf.ndim == 2
    correct_arr = np.asarray(correct, dtype=np.float64)
    if single:
        conf, correct_arr = conf[None], correct_arr[None]
        cost = cost if np.ndim(cost) == 1 else np.asarray(cost)[None]
    if conf.ndim != 3 or correct_arr.shape != conf.shape:
        raise DataValidationError(f"'conf' and 'correct' must both be (n, k) or (R, n, k), got {conf.shape} and "
                                  f"{correct_arr.shape}")
    r, n, k = conf.shape
    cost_arr = np.asarray(cost, dtype=np.float64)
    if cost_arr.ndim == 1:
        validate_cascade_data(conf[0], correct_arr[0], cost_arr)          # names the bad argument
        cumcost = np.broadcast_to(np.cumsum(cost_arr), (r, n, k))
    else:
        cumcost = np.cumsum(check_array(cost_arr, "cost", shape=(r, n, k), low=0.0), axis=-1)
    if not np.all((correct_arr == 0) | (correct_arr == 1)):
        raise DataValidationError("'correct' must be 0/1 outcomes to certify an accuracy (the binomial test counts "
                                  "correct answers)")
    thr = validate_thresholds(thresholds, k).reshape(-1, k - 1)
    t = thr.shape[0]
    # the common padding rule: candidate lists of similar length share one compilation (+inf rows: dropped)
    padded, _ = pad_rows(thr, padded_size(t), np.inf)
    err, c = _scores(jnp.asarray(conf), jnp.asarray(correct_arr), jnp.asarray(cumcost), jnp.asarray(padded),
                     batch_size=int(min(batch_size, padded.shape[0])))
    succ = np.rint((1.0 - np.asarray(err)[:, :t]) * n)
    c = np.asarray(c)[:, :t]
    return (succ[0], c[0]) if single else (succ, c)


@dataclass(frozen=True, eq=False)
class Certification:
    """Result of :func:`learn_then_test` (and :meth:`probcascade.Frontier.certify`).

    ``certified`` says whether any candidate was certified; when it is, ``thresholds`` is the chosen vector and
    ``bound`` (= ``target``) the accuracy guaranteed with probability >= 1 - ``delta`` over the calibration sample.
    ``cp_lower`` is the chosen point's own one-sided (1 - delta) Clopper-Pearson bound (a per-point interval, not
    adjusted for the selection; >= ``target`` for every point the binomial test certifies). ``predicted_accuracy``
    and ``predicted_cost`` are the frontier's (model-based or training) values at the chosen point;
    ``calibration_accuracy`` and ``calibration_cost`` are measured on the calibration part. ``table`` lists every
    candidate in test order with its p-value.
    """

    models: tuple[str, ...]
    target: float
    delta: float
    pvalue: str
    order: str
    n_calibration: int
    table: pd.DataFrame
    index: int | None
    method: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def certified(self) -> bool:
        return self.index is not None

    @property
    def n_candidates(self) -> int:
        return len(self.table)

    @property
    def n_tested(self) -> int:
        """Candidates whose p-value the fixed sequence examined (the certified ones plus the one it stopped at)."""
        return int(self.table["tested"].sum())

    @property
    def n_certified(self) -> int:
        return int(self.table["certified"].sum())

    def _row(self) -> pd.Series | None:
        return None if self.index is None else self.table.loc[self.table["frontier_index"] == self.index].iloc[0]

    @property
    def thresholds(self) -> np.ndarray | None:
        row = self._row()
        return None if row is None else row[[f"threshold_{i + 1}" for i in range(len(self.models) - 1)]].to_numpy(
            dtype=np.float64)

    @property
    def bound(self) -> float | None:
        """The certified lower bound of the accuracy (the target), or None when nothing was certified."""
        return self.target if self.certified else None

    def _value(self, col: str) -> float | None:
        row = self._row()
        return None if row is None else float(row[col])

    cp_lower = property(lambda self: self._value("cp_lower"), doc="Clopper-Pearson bound of the chosen point")
    predicted_accuracy = property(lambda self: self._value("p_correct"), doc="frontier accuracy of the chosen point")
    predicted_cost = property(lambda self: self._value("e_cost"), doc="frontier cost of the chosen point")
    calibration_accuracy = property(lambda self: self._value("cal_accuracy"), doc="calibration accuracy")
    calibration_cost = property(lambda self: self._value("cal_cost"), doc="calibration mean cost per query")

    def message(self) -> str:
        """One plain sentence: what was certified, or that nothing could be."""
        if self.certified:
            return (f"certified: accuracy >= {self.target:g} with probability >= {1 - self.delta:g} at thresholds "
                    f"{np.round(self.thresholds, 4).tolist()} (calibration accuracy {self.calibration_accuracy:.4f}, "
                    f"cost {self.calibration_cost:.4g} per query; {self.n_certified} of {self.n_candidates} "
                    f"candidates certified)")
        best = float(self.table["cal_accuracy"].max()) if len(self.table) else float("nan")
        return (f"nothing certified: no candidate's accuracy could be shown >= {self.target:g} at delta = "
                f"{self.delta:g} from {self.n_calibration} calibration queries (the first candidate tested has "
                f"p = {float(self.table['p_value'].iloc[0]) if len(self.table) else float('nan'):.3g}; the best "
                f"calibration accuracy is {best:.4f}); lower the target, raise delta or add calibration data")

    def to_frame(self) -> pd.DataFrame:
        """Every candidate in test order: ``rank``, ``frontier_index``, thresholds, frontier ``p_correct`` and
        ``e_cost``, ``cal_accuracy``, ``cal_cost``, ``p_value``, ``cp_lower``, ``tested``, ``certified``,
        ``chosen`` (metadata in ``.attrs``)."""
        out = self.table.copy()
        out["chosen"] = out["frontier_index"] == (-1 if self.index is None else self.index)
        out.attrs.update(models=self.models, target=self.target, delta=self.delta, pvalue=self.pvalue,
                         order=self.order, method=self.method)
        return out

    def to_dict(self) -> dict:
        """JSON-ready summary of the certified point (None values where nothing was certified)."""
        th = self.thresholds
        return {"certified": self.certified, "target": self.target, "delta": self.delta, "bound": self.bound,
                "thresholds": None if th is None else dict(zip(self.models[:-1], th.tolist())),
                "cp_lower": self.cp_lower, "calibration_accuracy": self.calibration_accuracy,
                "calibration_cost": self.calibration_cost, "predicted_accuracy": self.predicted_accuracy,
                "predicted_cost": self.predicted_cost, "n_calibration": self.n_calibration,
                "n_candidates": self.n_candidates, "n_tested": self.n_tested, "n_certified": self.n_certified,
                "pvalue": self.pvalue, "order": self.order, "message": self.message()}

    def summary(self, max_rows: int = 12) -> Summary:
        """The certified point and the first ``max_rows`` candidates in test order (a
        :class:`~probcascade.summary.Summary`)."""
        out = Summary(f"Learn-then-Test: accuracy >= {self.target:g} at delta = {self.delta:g}"
                      + (f" ({self.method} candidates)" if self.method else ""))
        out.add_dict({"Cascade": " -> ".join(self.models), "p-values": self.pvalue, "Order": self.order,
                      "Calibration queries": self.n_calibration, "Candidates": self.n_candidates,
                      "Tested": self.n_tested, "Certified": self.n_certified}, ncols=2)
        if self.certified:
            out.add_dict({"Certified bound": self.bound, "Clopper-Pearson (chosen)": self.cp_lower,
                          "Calibration accuracy": self.calibration_accuracy, "Calibration cost": self.calibration_cost,
                          "Predicted accuracy": self.predicted_accuracy, "Predicted cost": self.predicted_cost},
                         "Chosen point", ncols=2)
        out.add_table(self.to_frame().head(max_rows), "Candidates in test order", index=False)
        out.add_note(self.message())
        return out


def learn_then_test(
    thresholds,
    predicted_accuracy,
    predicted_cost,
    conf,
    correct,
    cost,
    *,
    target: float,
    delta: float = 0.1,
    pvalue: str = "binomial",
    order: str = "accuracy",
    models: Sequence[str] | None = None,
    method: str = "",
) -> Certification:
    """Certify the cheapest candidate threshold vector with accuracy >= ``target`` at level ``delta``.

    Parameters
    ----------
    thresholds : array_like, shape (T, k-1)
        Candidates (e.g. a frontier fitted on data *disjoint* from the calibration data).
    predicted_accuracy, predicted_cost : array_like, shape (T,)
        The candidates' accuracy and cost from the fit part (the model's prediction, or a grid search's training
        values); they fix the test order (see ``order``) and are reported, never used as evidence.
    conf, correct, cost :
        Calibration data as in :func:`~probcascade.evaluation.routing.route`: calibrated confidences (n, k), 0/1
        correctness (n, k), per-query (n, k) or per-model (k,) costs.
    target : float
        Accuracy to certify, in (0, 1).
    delta : float
        Probability, over the calibration sample, that the certified point misses the target (at most).
    pvalue : {"binomial", "hb"}
        Exact binomial (Clopper-Pearson) or Hoeffding-Bentkus p-values (see :mod:`probcascade.guarantees.ltt`).
    order : {"accuracy", "cost"}
        Test order: decreasing predicted accuracy, or decreasing cost (see the module doc).

    Returns
    -------
    Certification
        Says plainly (``.certified``, ``.message()``) when nothing can be certified.
    """
    check_float(target, "target", low=0.0, high=1.0, low_open=True, high_open=True, note="the accuracy to certify")
    check_probability(delta, "delta")
    thr = check_array(thresholds, "thresholds", ndim=2, finite="allow-inf")
    t = thr.shape[0]
    acc = check_array(predicted_accuracy, "predicted_accuracy", shape=(t,))
    pc = check_array(predicted_cost, "predicted_cost", shape=(t,))
    if t == 0:
        raise DataValidationError("no candidate threshold vectors to test ('thresholds' is empty)")
    conf_arr = check_array(conf, "conf", ndim=2, min_rows=1)
    if conf_arr.shape[1] != thr.shape[1] + 1:
        raise DataValidationError(f"'conf' has {conf_arr.shape[1]} models but the candidates have {thr.shape[1]} "
                                  "thresholds (k-1)")
    models = tuple(models) if models is not None else tuple(f"M{i + 1}" for i in range(conf_arr.shape[1]))
    idx = candidate_order(acc, pc, order)
    n = conf_arr.shape[0]
    succ, cal_cost = calibration_scores(conf_arr, correct, cost, thr[idx])
    p = pvalues(succ, n, target, pvalue)
    cert = fixed_sequence(p, delta)
    tested = np.zeros(t, dtype=bool)
    tested[: min(int(cert.sum()) + 1, t)] = True
    pos, any_ = select_cheapest(cert, cal_cost)
    table = pd.DataFrame({"rank": np.arange(1, t + 1), "frontier_index": idx})
    for j in range(thr.shape[1]):
        table[f"threshold_{j + 1}"] = thr[idx, j]
    table = table.assign(p_correct=acc[idx], e_cost=pc[idx], cal_accuracy=succ / n, cal_cost=cal_cost, p_value=p,
                         cp_lower=clopper_pearson_lower(succ, n, delta), tested=tested, certified=cert)
    return Certification(models, float(target), float(delta), pvalue, order, n, table,
                         int(idx[pos]) if any_ else None, method)


def cross_fit(results: Sequence[Certification], delta: float) -> Certification:
    """The cheapest certified point of K folds (see the module doc), each of which must have been tested at level
    ``delta / K``; returns the chosen fold's :class:`Certification` (or the first fold's when none certified)."""
    check_probability(delta, "delta")
    res = list(results)
    if not res:
        raise DataValidationError("'results' is empty")
    bad = [r.delta for r in res if r.delta > delta / len(res) * (1 + 1e-12)]
    if bad:
        raise DataValidationError(f"cross-fitting {len(res)} folds at delta = {delta:g} needs each fold tested at "
                                  f"delta / {len(res)} = {delta / len(res):g}; got fold level(s) {bad}")
    ok = [r for r in res if r.certified]
    return min(ok, key=lambda r: r.calibration_cost) if ok else res[0]
