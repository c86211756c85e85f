"""What a fitted routing rule is: the :class:`Policy` protocol and the :class:`Decisions` it returns.

A policy sees the calibrated confidences of the models of a cascade, in cascade order, and decides per query how
many models to consult and which answer to return. The threshold cascade (:mod:`.threshold`) is one policy; the
binned cascading ensemble is another. Evaluation, frontiers, plots and the CLI only use this protocol.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

import numpy as np


class Decisions(NamedTuple):
    """Per-query outcome of routing ``n`` queries through a policy.

    exit : (n,) int
        Index of the last model consulted (the query paid for models ``0..exit``).
    cost : (n,) float
        Cost paid for the query: the summed costs of the consulted models.
    answer : (n,) object array or None
        The policy's final answer when it aggregates answers; ``None`` when it returns the exit model's own answer
        (threshold cascades), whose correctness is then ``correct[i, exit[i]]``.
    """

    exit: np.ndarray
    cost: np.ndarray
    answer: np.ndarray | None = None


@runtime_checkable
class Policy(Protocol):
    """A fitted routing rule over a cascade of ``k`` models.

    ``kind`` names the policy family ("threshold", "binned_ensemble", ...); ``models`` the cascade order;
    ``to_dict()`` its parameters as JSON-serialisable values (what a :class:`~probcascade.Frontier` stores per point).
    """

    kind: ClassVar[str]
    models: tuple[str, ...]

    def route(self, conf: np.ndarray, cost: np.ndarray, answers: np.ndarray | None = None) -> Decisions:
        """Route queries: ``conf`` (n, k) calibrated confidences, ``cost`` (n, k) or (k,) per-model costs,
        ``answers`` (n, k) the models' answers (needed by policies that aggregate answers)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        ...
