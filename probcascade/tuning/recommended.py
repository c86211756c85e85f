"""Which Markov-copula model to fit: the recommended model from a stated training size up, the study's model below.

The rule (:func:`recommended_model`), used by ``probcascade tune``, ``gof`` and ``report`` when ``--copula`` and
``--correctness`` are left at ``auto``:

* ``n >= PAIRWISE_MIN_N`` (100) training queries: per-pair copula family by AIC (``family="aic"``) and the pairwise
  correctness model (``correctness="pairwise"``). On the study's three Llama benchmarks (n = 285-300) this model's mean
  test AUC is below the study's on MMLU and MedMCQA (-0.0009, -0.0013), ties it on TruthfulQA (-0.00004) and is
  below it on all three on the study's own cost ranges, while the study's model (Gumbel everywhere, marginal correctness)
  is above the study's numbers on all three (``experiments/results/defaults.md``, ``table7.md``,
  ``table7_gumbel.md``, ``table7_marginal.md``).
* ``n < PAIRWISE_MIN_N``: the study's model (``family="gumbel"``, ``correctness="marginal"``). At n <= 30 the pairwise
  model's three extra coefficients per pair do not pay: fitted by maximum likelihood (as here) it loses to grid search
  on TruthfulQA (by 0.45 %), and even with a ridge towards the study's model it is worse than the marginal model on
  MMLU (``table7_lowsample.md`` vs ``table7_lowsample_pairwise.md``), so the model with the fewest parameters, the published one, is kept.
  100 lies between the two measured sizes, n <= 30 (no consistent gain) and n ~ 300 (a clear gain): about ten
  training queries per coefficient of a pair's three. It is a stated judgement, not a measured optimum.

Explicit choices always win: :func:`resolve_model` resolves only the options given as ``"auto"``. The study's
model is :data:`STUDY_MODEL` (``probcascade tune --study-model``, or ``--copula gumbel --correctness marginal``).
JAX-free (the command line's argument checks import it).
"""

from __future__ import annotations

from dataclasses import dataclass

from probcascade.exceptions import DataValidationError

__all__ = ["PAIRWISE_MIN_N", "STUDY_MODEL", "ModelChoice", "recommended_model", "resolve_model"]

#: Fewest training queries at which the recommended model (AIC copulas, pairwise correctness) is the default.
PAIRWISE_MIN_N = 100
#: The study's model: the Gumbel copula for every pair and the answering model's calibrated confidence as P(correct).
STUDY_MODEL = {"family": "gumbel", "correctness": "marginal"}
#: The recommended model from :data:`PAIRWISE_MIN_N` training queries up.
RECOMMENDED_MODEL = {"family": "aic", "correctness": "pairwise"}
AUTO = "auto"


@dataclass(frozen=True)
class ModelChoice:
    """The model that runs: copula ``family``, ``correctness`` model and the ``rule`` that chose them (in words)."""

    family: str
    correctness: str
    rule: str

    @property
    def options(self) -> dict[str, str]:
        """Keyword arguments of :class:`~probcascade.TuneOptions` / ``tune_cascades``: ``family``, ``correctness``."""
        return {"family": self.family, "correctness": self.correctness}

    @property
    def is_study_model(self) -> bool:
        return self.options == STUDY_MODEL

    def to_dict(self) -> dict[str, str]:
        """``{"copula", "correctness", "rule"}`` (the ``model`` field of the command line's JSON)."""
        return {"copula": self.family, "correctness": self.correctness, "rule": self.rule}

    def describe(self) -> str:
        """One line for a table header: ``model: copula aic, correctness pairwise (rule ...)``."""
        return f"model: copula {self.family}, correctness {self.correctness} ({self.rule})"


def recommended_model(n: int) -> ModelChoice:
    """The recommended model for ``n`` training queries: AIC copulas and pairwise correctness from
    :data:`PAIRWISE_MIN_N` up, the study's model below (the evidence: this module's docstring).

    >>> recommended_model(300).options
    {'family': 'aic', 'correctness': 'pairwise'}
    >>> recommended_model(30).options
    {'family': 'gumbel', 'correctness': 'marginal'}

    Use it with the Python API as ``tune_cascades(train, test, **recommended_model(train.n_queries).options)``.
    """
    from probcascade.validation import check_int

    n = check_int(n, "n", low=0, note="training queries")
    if n >= PAIRWISE_MIN_N:
        return ModelChoice(**RECOMMENDED_MODEL, rule=f"recommended: n = {n} >= {PAIRWISE_MIN_N} training queries")
    return ModelChoice(**STUDY_MODEL, rule=f"study's model: n = {n} < {PAIRWISE_MIN_N} training queries")


def resolve_model(n: int, family: str = AUTO, correctness: str = AUTO, *, study_model: bool = False) -> ModelChoice:
    """The model to run for ``n`` training queries: each option given as ``"auto"`` follows
    :func:`recommended_model`, an explicit one is kept; ``study_model=True`` is :data:`STUDY_MODEL` (and refuses
    explicit options beside it). Unknown names raise :class:`~probcascade.DataValidationError` naming the option."""
    from probcascade.tuning.options import COPULA_CHOICES, CORRECTNESS_CHOICES
    from probcascade.validation import check_choice

    check_choice(family, "copula", (*COPULA_CHOICES, AUTO))
    check_choice(correctness, "correctness", (*CORRECTNESS_CHOICES, AUTO))
    if study_model:
        given = [f"--{name} {value}" for name, value in (("copula", family), ("correctness", correctness))
                 if value != AUTO]
        if given:
            raise DataValidationError("--study-model fixes --copula gumbel and --correctness marginal; drop "
                                      + " and ".join(given))
        return ModelChoice(**STUDY_MODEL, rule="study's model (asked for)")
    if family != AUTO and correctness != AUTO:
        return ModelChoice(family, correctness, rule="as given")
    auto = recommended_model(n)
    if family == AUTO and correctness == AUTO:
        return auto
    return ModelChoice(auto.family if family == AUTO else family,
                       auto.correctness if correctness == AUTO else correctness,
                       rule=f"{'copula' if family == AUTO else 'correctness'} by rule ({auto.rule}), "
                            "the other as given")
