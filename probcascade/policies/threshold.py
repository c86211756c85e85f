"""The threshold cascade: model ``i`` answers when its calibrated confidence exceeds ``t_i``, else it defers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from probcascade.exceptions import DataValidationError
from probcascade.policies.base import Decisions
from probcascade.validation import check_array

__all__ = ["ThresholdPolicy", "per_query_costs"]


def per_query_costs(cost, n: int, k: int, name: str = "cost") -> np.ndarray:
    """``cost`` as an (n, k) array of per-query model costs: (n, k) is kept, a (k,) vector of expected costs is
    broadcast to every query. Costs must be finite and >= 0."""
    c = check_array(cost, name, low=0.0)
    if c.shape == (k,):
        return np.broadcast_to(c, (n, k))
    if c.shape != (n, k):
        raise DataValidationError(f"'{name}' must have shape ({n}, {k}) or ({k},), got {c.shape}")
    return c


@dataclass(frozen=True, eq=False)
class ThresholdPolicy:
    """A threshold cascade ``M_1 -> ... -> M_k``: a query stops at the first model ``i < k`` with
    ``conf[:, i] > thresholds[i]`` (strict), else at ``M_k``, and pays for every model it visited.

    ``thresholds`` has ``k - 1`` entries; ``+inf`` always defers, ``-inf`` never does.
    """

    kind: ClassVar[str] = "threshold"
    models: tuple[str, ...]
    thresholds: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        models = tuple(str(m) for m in self.models)
        thr = check_array(self.thresholds, "thresholds", finite="allow-inf").reshape(-1)  # +-inf: always/never defer
        if len(models) < 2:
            raise DataValidationError(f"a threshold cascade needs at least 2 models, got {list(models)}")
        if thr.size != len(models) - 1:
            raise DataValidationError(f"'thresholds' needs {len(models) - 1} values for the cascade {list(models)}, "
                                      f"got {thr.size}")
        object.__setattr__(self, "models", models)
        object.__setattr__(self, "thresholds", thr)

    @property
    def k(self) -> int:
        return len(self.models)

    def route(self, conf, cost, answers=None) -> Decisions:
        """Exit model and cost of each query (the exit model's own answer is the answer: ``Decisions.answer`` is
        None). ``conf`` (n, k) calibrated confidences in cascade order; ``cost`` (n, k) or (k,)."""
        c = check_array(conf, "conf", ndim=2)
        if c.shape[1] != self.k:
            raise DataValidationError(f"'conf' must have shape (n, {self.k}) for the cascade {list(self.models)}, "
                                      f"got {c.shape}")
        n = c.shape[0]
        accept = np.concatenate([c[:, :-1] > self.thresholds, np.ones((n, 1), dtype=bool)], axis=1)
        exit_ = np.argmax(accept, axis=1)
        cum = np.cumsum(per_query_costs(cost, n, self.k), axis=1)
        return Decisions(exit=exit_, cost=cum[np.arange(n), exit_], answer=None)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "models": list(self.models), "thresholds": self.thresholds.tolist()}

    def __repr__(self) -> str:
        t = ", ".join(f"{v:.4g}" for v in self.thresholds)
        return f"ThresholdPolicy({' -> '.join(self.models)}; thresholds [{t}])"


