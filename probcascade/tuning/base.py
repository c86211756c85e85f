"""What a tuner is (:class:`Tuner`: a problem and options in, a :class:`~probcascade.Frontier` out) and the registry
the pipeline and the CLI read: adding a tuner is one :func:`register_tuner` call, with no if/elif to extend.

This module imports no JAX (the tuners import their implementation inside ``frontier``), so that the command line can
list and check ``--baselines`` from this registry without loading JAX."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from probcascade.exceptions import DataValidationError
from probcascade.tuning.options import TuneOptions

if TYPE_CHECKING:
    from probcascade.tuning.frontier import Frontier

__all__ = ["TuningProblem", "Tuner", "register_tuner", "get_tuner", "tuner_names", "RationalTuner", "GridTuner",
           "BayesianOptimizationTuner", "EnsembleTuner", "BayesTuner"]


@dataclass(frozen=True, eq=False)
class TuningProblem:
    """What every tuner of one cascade sees: the training data of its models, in cascade order.

    models : tuple of str
    costs : (k,) expected cost per query of each model (USD) on the training data
    conf, correct : (n, k) calibrated training confidences and 0/1 correctness
    joint_model : the fitted :class:`~probcascade.MarkovCopulaModel` (model-based tuners), or None
    answers : the models' answers and the gold labels (``probcascade.policies.ensemble_strategies.Answers``) for
        policies that aggregate answers, or None
    """

    models: tuple[str, ...]
    costs: np.ndarray
    conf: np.ndarray
    correct: np.ndarray
    joint_model: Any = None
    answers: Any = None

    @property
    def k(self) -> int:
        return len(self.models)


@runtime_checkable
class Tuner(Protocol):
    """A method that turns a :class:`TuningProblem` into an error-cost :class:`~probcascade.Frontier`."""

    name: ClassVar[str]
    #: whether the tuner needs ``TuningProblem.joint_model`` (the pipeline fits it only when one does)
    needs_model: ClassVar[bool]

    def frontier(self, problem: TuningProblem, options: TuneOptions) -> Frontier:
        ...


class RationalTuner:
    """Rational tuning (eq. 11 over a lambda sweep) on the fitted Markov-copula model: :func:`probcascade.tune`."""

    name: ClassVar[str] = "rational"
    needs_model: ClassVar[bool] = True

    def frontier(self, problem: TuningProblem, options: TuneOptions) -> Frontier:
        from probcascade.tuning.rational import tune

        if problem.joint_model is None:
            raise DataValidationError("rational tuning needs a fitted joint model (TuningProblem.joint_model)")
        return tune(problem.joint_model, problem.costs, models=problem.models, options=options)


class GridTuner:
    """High-resolution grid search over quantile thresholds on the training data (§4.4 of the study)."""

    name: ClassVar[str] = "grid"
    needs_model: ClassVar[bool] = False

    def frontier(self, problem: TuningProblem, options: TuneOptions) -> Frontier:
        from probcascade.tuning.grid import grid_search

        return grid_search(problem.conf, problem.correct, problem.costs, step=options.grid_step,
                           offset=options.grid_offset, models=problem.models)


class BayesianOptimizationTuner:
    """Bayesian optimisation (optuna) of the training objective of eq. 11, per lambda (§4.4 of the study)."""

    name: ClassVar[str] = "bo"
    needs_model: ClassVar[bool] = False

    def frontier(self, problem: TuningProblem, options: TuneOptions) -> Frontier:
        from probcascade.tuning.bo import bayesian_optimization
        from probcascade.tuning.rational import lambda_grid

        lams = lambda_grid(problem.costs, r=1.0)
        return bayesian_optimization(problem.conf, problem.correct, problem.costs, lams, n_trials=options.bo_trials,
                                     seed=options.seed, models=problem.models)


class EnsembleTuner:
    """The binned cascading ensemble's cost-weight sweep (:func:`probcascade.policies.ensemble.train_ensemble_sweep`):
    a frontier of :class:`~probcascade.policies.ensemble.BinnedEnsemblePolicy` points with parameter ``mu``, scored
    on the training data. Without answers it uses the last model's answer only."""

    name: ClassVar[str] = "ensemble"
    needs_model: ClassVar[bool] = False

    def frontier(self, problem: TuningProblem, options: TuneOptions) -> Frontier:
        from probcascade.evaluation.routing import score_policy
        from probcascade.policies.ensemble import default_mus, train_ensemble_sweep
        from probcascade.tuning.frontier import Frontier

        mus = default_mus()
        strategies = {} if problem.answers is not None else {"strategies": ("last",)}
        pols = train_ensemble_sweep(problem.conf, problem.correct, problem.costs, problem.answers, mus=mus,
                                    models=problem.models, **strategies)
        gold = None if problem.answers is None else problem.answers.gold
        scores = [score_policy(p, problem.conf, problem.costs, correct=problem.correct, answers=problem.answers,
                               gold=gold) for p in pols]
        return Frontier.from_policies(pols, [s.accuracy for s in scores], [s.cost for s in scores], params=mus,
                                      param_names=("mu",), method="binned_ensemble")


class BayesTuner:
    """Bayesian tuning (issue 13): thresholds minimising the posterior-expected objective over NUTS draws of the
    marginals and copulas (:class:`probcascade.posterior.tuning.BayesianTuner`). The posterior subpackage builds on
    this one, so it is loaded by name when the tuner runs (a plug-in, not an import edge)."""

    name: ClassVar[str] = "bayes"
    needs_model: ClassVar[bool] = False

    def frontier(self, problem: TuningProblem, options: TuneOptions) -> Frontier:
        import importlib

        return importlib.import_module("probcascade.posterior.tuning").BayesianTuner().frontier(problem, options)


_TUNERS: dict[str, Tuner] = {}


def register_tuner(tuner: Tuner, *, replace: bool = False) -> Tuner:
    """Make ``tuner`` available by its ``name`` to :func:`get_tuner`, the pipeline and the CLI."""
    if not isinstance(tuner, Tuner):
        raise DataValidationError(f"'tuner' must implement the Tuner protocol (name, needs_model, frontier), got "
                                  f"{type(tuner).__name__}")
    if tuner.name in _TUNERS and not replace:
        raise DataValidationError(f"a tuner named {tuner.name!r} is already registered (pass replace=True)")
    _TUNERS[tuner.name] = tuner
    return tuner


def tuner_names() -> tuple[str, ...]:
    """Names of the registered tuners, in registration order."""
    return tuple(_TUNERS)


def get_tuner(name: str) -> Tuner:
    """The registered tuner called ``name``."""
    try:
        return _TUNERS[name]
    except (KeyError, TypeError):
        raise DataValidationError(f"unknown tuning method {name!r} (choose from {list(_TUNERS)})") from None


for _tuner in (RationalTuner(), GridTuner(), BayesianOptimizationTuner(), EnsembleTuner(), BayesTuner()):
    register_tuner(_tuner)
