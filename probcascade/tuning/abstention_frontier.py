"""The result of tuning with abstention: :class:`AbstentionFrontier` (error among answered vs cost vs abstention rate).

One row per operating point (a deferral threshold vector t and an abstention vector a, see
:class:`~probcascade.policies.abstention.AbstentionPolicy`):

=========================================  ======================================================================
``lam``, ``nu``                            the cost and abstention weights that produced the point (NaN if none)
``threshold_1`` .. ``threshold_{k-1}``     deferral thresholds t_j
``abstain_1`` .. ``abstain_k``             abstention thresholds a_j <= t_j
``p_correct``, ``p_wrong``, ``p_abstain``  predicted shares of all queries (they sum to 1)
``e_cost``                                 predicted expected cost per query
``error_answered``                         p_wrong / (1 - p_abstain): the error rate among answered queries
=========================================  ======================================================================

:func:`pareto_mask_nd` is the skyline in any number of objectives (three here: P(wrong), E[Cost], P(abstain)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from probcascade.exceptions import DataValidationError
from probcascade.policies.abstention import AbstentionPolicy, route_abstention
from probcascade.summary import Summary
from probcascade.validation import check_array, check_float

__all__ = ["AbstentionFrontier", "pareto_mask_nd", "abstain_columns"]

#: Columns of the predicted metrics, in the frame's order.
METRIC_COLUMNS = ("p_correct", "p_wrong", "p_abstain", "e_cost", "error_answered")


def abstain_columns(k: int) -> list[str]:
    """Column names ``abstain_1 .. abstain_k``."""
    return [f"abstain_{i + 1}" for i in range(k)]


def pareto_mask_nd(points, tol: float = 1e-12, chunk: int = 512) -> np.ndarray:
    """Boolean mask of the rows of ``points`` (m, d) that no other row dominates (all objectives minimised).

    Row i is dominated when some row is no worse (within ``tol``) in every objective and better by more than
    ``tol`` in one. Of exact duplicates the first is kept. O(m^2 d) comparisons in chunks of ``chunk`` rows: fine
    for the few thousand solutions of a (lambda, nu, restart) batch.
    """
    x = check_array(points, "points", ndim=2)
    m = x.shape[0]
    keep = np.ones(m, dtype=bool)
    for s in range(0, m, chunk):
        blk = x[s:s + chunk]
        no_worse = np.all(x[None, :, :] <= blk[:, None, :] + tol, axis=-1)            # (b, m): j no worse than i
        better = np.any(x[None, :, :] < blk[:, None, :] - tol, axis=-1)
        same = np.all(np.abs(x[None, :, :] - blk[:, None, :]) <= tol, axis=-1)
        earlier = np.arange(m)[None, :] < np.arange(s, s + blk.shape[0])[:, None]
        keep[s:s + chunk] = ~np.any((no_worse & better) | (same & earlier), axis=1)
    return keep


@dataclass(frozen=True, eq=False)
class AbstentionFrontier:
    """Operating points of a cascade with abstention (columns in the module docstring).

    Build it with :meth:`from_arrays` (what :func:`~probcascade.tuning.abstention.tune_abstention` returns).
    ``models`` is the cascade order, ``method`` the producing method, ``info`` free-form metadata.
    """

    frame: pd.DataFrame
    models: tuple[str, ...]
    method: str = ""
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = len(self.models)
        if k < 2:
            raise DataValidationError(f"a frontier needs at least 2 models, 'models' has {k}")
        cols = ["lam", "nu", *self.threshold_names(k), *abstain_columns(k), *METRIC_COLUMNS]
        missing = [c for c in cols if c not in self.frame.columns]
        if missing:
            raise DataValidationError(f"'frame' lacks column(s) {missing} for models {list(self.models)}")
        frame = self.frame[cols].astype(np.float64).reset_index(drop=True)
        object.__setattr__(self, "frame", frame)
        object.__setattr__(self, "models", tuple(str(m) for m in self.models))

    @staticmethod
    def threshold_names(k: int) -> list[str]:
        return [f"threshold_{i + 1}" for i in range(k - 1)]

    @classmethod
    def from_arrays(cls, thresholds, abstain, p_correct, p_wrong, p_abstain, e_cost, lam=None, nu=None,
                    models: Sequence[str] | None = None, method: str = "",
                    info: Mapping[str, Any] | None = None) -> "AbstentionFrontier":
        """From arrays: ``thresholds`` (T, k-1), ``abstain`` (T, k), the four metrics (T,), ``lam``/``nu`` (T,) or
        None; ``models`` defaults to ``("M1", ..., "Mk")``."""
        thr = check_array(thresholds, "thresholds", ndim=2, finite="allow-inf")
        t, km1 = thr.shape
        ab = check_array(abstain, "abstain", shape=(t, km1 + 1), finite="allow-inf")
        models = tuple(models) if models is not None else tuple(f"M{i + 1}" for i in range(km1 + 1))
        if len(models) != km1 + 1:
            raise DataValidationError(f"'models' has {len(models)} names but 'thresholds' has {km1} columns (k-1)")
        cols: dict[str, Any] = {}
        for name, v in (("lam", lam), ("nu", nu)):
            cols[name] = np.full(t, np.nan) if v is None else check_array(v, name, shape=(t,), finite="allow-inf")
        cols.update(zip(cls.threshold_names(km1 + 1), thr.T))
        cols.update(zip(abstain_columns(km1 + 1), ab.T))
        for name, v in zip(METRIC_COLUMNS[:4], (p_correct, p_wrong, p_abstain, e_cost)):
            cols[name] = check_array(v, name, shape=(t,))
        with np.errstate(invalid="ignore", divide="ignore"):
            cols["error_answered"] = np.where(cols["p_abstain"] < 1.0, cols["p_wrong"] / (1.0 - cols["p_abstain"]),
                                              np.nan)
        return cls(pd.DataFrame(cols), models, method, dict(info or {}))

    # ---------------------------------------------------------------------------------------------- access
    @property
    def k(self) -> int:
        return len(self.models)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def thresholds(self) -> np.ndarray:
        """Deferral thresholds (T, k-1)."""
        return self.frame[self.threshold_names(self.k)].to_numpy()

    @property
    def abstain(self) -> np.ndarray:
        """Abstention thresholds (T, k)."""
        return self.frame[abstain_columns(self.k)].to_numpy()

    def policy_at(self, i: int) -> AbstentionPolicy:
        """The :class:`~probcascade.policies.abstention.AbstentionPolicy` of point ``i``."""
        return AbstentionPolicy(self.models, self.thresholds[i], self.abstain[i])

    def subset(self, rows) -> "AbstentionFrontier":
        """The points ``rows`` (integer positions or a boolean mask)."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, dtype=int)
        return AbstentionFrontier(self.frame.iloc[rows], self.models, self.method, self.info)

    def to_frame(self) -> pd.DataFrame:
        """Copy of the points as a DataFrame (metadata in ``.attrs``)."""
        out = self.frame.copy()
        out.attrs.update(models=self.models, method=self.method, policy=AbstentionPolicy.kind)
        return out

    def summary(self, max_rows: int = 20) -> Summary:
        """The points sorted by cost (at most ``max_rows``, evenly spaced), with the ranges of cost, abstention and
        error among answered, as a :class:`~probcascade.summary.Summary`."""
        f = self.frame.sort_values(["e_cost", "p_abstain"], kind="stable")
        if len(f) > max_rows:
            f = f.iloc[np.unique(np.linspace(0, len(f) - 1, max_rows).round().astype(int))]
        fr = self.frame
        head: dict[str, Any] = {"Points": len(fr)}
        if len(fr):
            head.update({"Cost (min)": fr.e_cost.min(), "Cost (max)": fr.e_cost.max(),
                         "Abstention (min)": fr.p_abstain.min(), "Abstention (max)": fr.p_abstain.max(),
                         "Error among answered (min)": fr.error_answered.min(),
                         "Error among answered (max)": fr.error_answered.max()})
        out = Summary(f"Abstention frontier: {self.method or 'unnamed method'}")
        out.add_dict({"Cascade": " -> ".join(self.models)}).add_dict(head, ncols=2)
        out.add_table(f, index=False)
        out.add_note("A query abstains at model j when its confidence is at or below abstain_j, is deferred when it is "
                     "at or below threshold_j, else answered; p_correct + p_wrong + p_abstain = 1.")
        if len(f) < len(fr):
            out.add_note(f"{len(f)} of {len(fr)} points shown, evenly spaced by cost.")
        return out

    # ------------------------------------------------------------------------------------------- selection
    def rows_near(self, rate: float, tol: float = 0.02) -> np.ndarray:
        """Positions of the points whose predicted abstention rate is within ``tol`` of ``rate``, reduced to those
        no other of them beats in both cost and error among answered, sorted by cost."""
        check_float(rate, "rate", low=0.0, high=1.0)
        check_float(tol, "tol", low=0.0)
        rows = np.flatnonzero(np.abs(self.frame.p_abstain.to_numpy() - rate) <= tol)
        if rows.size:
            rows = rows[pareto_mask_nd(self.frame.iloc[rows][["e_cost", "error_answered"]].to_numpy())]
        return rows[np.argsort(self.frame.e_cost.to_numpy()[rows], kind="stable")]

    def near_abstention(self, rate: float, tol: float = 0.02) -> "AbstentionFrontier":
        """The points of :meth:`rows_near`: an error-cost curve at (about) the abstention rate ``rate``."""
        return self.subset(self.rows_near(rate, tol))

    def best(self, max_cost: float = np.inf, max_abstain: float = 1.0) -> pd.Series:
        """The point with the least predicted error among answered within a cost budget and an abstention rate."""
        check_float(max_cost, "max_cost", finite=False)
        check_float(max_abstain, "max_abstain", low=0.0, high=1.0)
        f = self.frame[(self.frame.e_cost <= max_cost) & (self.frame.p_abstain <= max_abstain)]
        if f.empty:
            raise DataValidationError(f"no point has e_cost <= {max_cost} and p_abstain <= {max_abstain} "
                                      f"(cheapest: {self.frame.e_cost.min()}, least abstention: "
                                      f"{self.frame.p_abstain.min()})")
        return f.sort_values(["error_answered", "e_cost"], kind="stable").iloc[0]

    # ------------------------------------------------------------------------------------------ evaluation
    def evaluate(self, conf, correct, cost) -> pd.DataFrame:
        """Score every point on (test) data: ``conf``/``correct`` (n, k) in this frontier's model order, ``cost``
        (n, k) or (k,). Returns the frame plus ``test_p_correct``, ``test_p_wrong``, ``test_p_abstain``,
        ``test_error_answered``, ``test_cost`` and ``share_<model>`` (share of queries stopping at each model)."""
        shape = np.shape(conf)
        if len(shape) != 2 or shape[1] != self.k:
            raise DataValidationError(f"'conf' must be (n, {self.k}) for the cascade {list(self.models)}, got shape "
                                      f"{shape}")
        s = route_abstention(conf, correct, cost, self.thresholds, self.abstain)
        out = self.frame.copy()
        for name in ("p_correct", "p_wrong", "p_abstain", "error_answered"):
            out[f"test_{name}"] = getattr(s, name)
        out["test_cost"] = s.cost
        for j, m in enumerate(self.models):
            out[f"share_{m}"] = s.shares[:, j]
        return out
