"""The options of tuning, in one frozen object passed unchanged from the CLI through the pipeline to the core."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from probcascade.exceptions import DataValidationError

__all__ = ["TuneOptions", "COPULA_CHOICES", "CORRECTNESS_CHOICES", "JOINT_CHOICES", "SOLVER_CHOICES"]

#: Copula family of every adjacent pair, or "aic" (per pair, the candidate with the smallest AIC).
COPULA_CHOICES = ("gumbel", "clayton", "frank", "survival_gumbel", "aic")
#: Models of the answering model's correctness (see :mod:`probcascade.joint.correctness`).
CORRECTNESS_CHOICES = ("marginal", "pairwise")
#: Evaluations of cascades of k >= 3 models (see :mod:`probcascade.joint`).
JOINT_CHOICES = ("chain", "algorithm1")
#: Minimisers of eq. 11 (see :mod:`probcascade.tuning.rational`).
SOLVER_CHOICES = ("newton", "adam")


@dataclass(frozen=True)
class TuneOptions:
    """Everything that shapes a tuned frontier besides the data.

    Model (used when the joint model is fitted and a cascade is taken from it)

    family : {"gumbel", "clayton", "frank", "survival_gumbel", "aic"}
        Copula family of every adjacent pair; ``"aic"`` picks, per pair, the family with the smallest AIC. Default
        ``"gumbel"``, the study's model.
    correctness : {"marginal", "pairwise"}
        P(correct) of the answering model: its calibrated confidence (``"marginal"``, the study's model) or a
        logistic model given its predecessor's confidence too (``"pairwise"``; needs correctness data at fit time).
    joint : {"chain", "algorithm1"}
        How cascades of k >= 3 models are evaluated: the Markov chain itself (default) or the study's Algorithm 1.

    Rational tuning (eq. 11: minimise P(error) + lambda E[cost] by gradient descent, for a sweep of lambda)

    lambdas : sequence of float or None
        Cost sensitivities (1/USD); None: a geometric grid with growth rate ``r`` spanning the cascade's costs.
    r : float
        Growth rate of the default lambda grid (0.5).
    solver : {"newton", "adam"}
        ``"newton"`` (default): ``newton_steps`` damped Newton steps with a parallel line search per batch member,
        on the chain with the tabulated split of the threshold's bin; ``"adam"``: ``n_steps`` Adam steps on the
        chain with the exact split (the solver of earlier releases, kept to reproduce their frontiers).
    n_restarts, n_steps : int
        Starting points per lambda and Adam iterations (``solver="adam"``), all solved as one vectorised batch
        (4, 150).
    newton_steps : int
        Newton iterations per batch member (``solver="newton"``; 10).
    infill_q : float or None
        Probability mass of eq. 13's adaptive infilling between neighbouring frontier points (0.1; None: off).
    max_cost_gap : float or None
        Split cost gaps of the lambda sweep wider than this fraction of the cost range with cost-targeted solves
        (e.g. 0.02; None: off, the study's sweep). Eq. 11 reaches only the convex hull of the frontier.
    seed : int
        Seed of the random starting points (and of the Bayesian-optimisation baseline).

    Baselines

    grid_step, grid_offset : float
        Quantile grid of the grid search (40 candidates per model at the defaults).
    bo_trials : int
        Trials per lambda of the Bayesian-optimisation baseline.

    Override single options with :meth:`replace`; unknown or invalid options raise a
    :class:`~probcascade.DataValidationError` naming the option.
    """

    family: str = "gumbel"
    correctness: str = "marginal"
    joint: str = "chain"
    lambdas: tuple[float, ...] | None = None
    r: float = 0.5
    n_restarts: int = 4
    n_steps: int = 150
    solver: str = "newton"
    newton_steps: int = 10
    infill_q: float | None = 0.1
    max_cost_gap: float | None = None
    seed: int = 0
    grid_step: float = 0.025
    grid_offset: float = 0.01
    bo_trials: int = 60

    def __post_init__(self) -> None:
        from probcascade.validation import check_choice, check_float, check_int

        check_choice(self.family, "family", COPULA_CHOICES)
        check_choice(self.correctness, "correctness", CORRECTNESS_CHOICES)
        check_choice(self.joint, "joint", JOINT_CHOICES)
        if self.correctness == "pairwise" and self.joint != "chain":
            raise DataValidationError("correctness='pairwise' needs joint='chain' (Algorithm 1 has no pairwise form)")
        if self.lambdas is not None:
            lams = np.asarray(self.lambdas, dtype=np.float64).reshape(-1)
            if lams.size == 0 or np.any(lams < 0) or not np.all(np.isfinite(lams)):
                raise DataValidationError("'lambdas' must be a non-empty sequence of finite values >= 0")
            object.__setattr__(self, "lambdas", tuple(float(v) for v in lams))
        check_float(self.r, "r", low=0.0, low_open=True)
        check_choice(self.solver, "solver", SOLVER_CHOICES)
        check_int(self.newton_steps, "newton_steps", low=1, note="Newton iterations per solve")
        check_int(self.n_restarts, "n_restarts", low=1, note="starting points per lambda")
        check_int(self.n_steps, "n_steps", low=1, note="Adam iterations per solve; 0 would return the random "
                                                       "starting points untuned")
        check_float(self.infill_q, "infill_q", low=0.0, high=1.0, low_open=True, high_open=True, allow_none=True)
        check_float(self.max_cost_gap, "max_cost_gap", low=0.0, high=1.0, low_open=True, high_open=True,
                    allow_none=True)
        check_int(self.seed, "seed", low=0)
        check_float(self.grid_step, "grid_step", low=0.0, high=0.5, low_open=True)
        check_float(self.grid_offset, "grid_offset", low=0.0, high=0.5)
        check_int(self.bo_trials, "bo_trials", low=1)

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def replace(self, **changes: Any) -> "TuneOptions":
        """A copy with some options changed (unknown names raise, naming them)."""
        unknown = sorted(set(changes) - set(self.fields()))
        if unknown:
            raise DataValidationError(f"unknown tuning option(s) {unknown} (options: {list(self.fields())})")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
