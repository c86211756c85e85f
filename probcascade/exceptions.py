"""Exceptions and warnings raised by probcascade."""



class ProbcascadeError(Exception):
    """Base class of probcascade's errors."""


class DataValidationError(ProbcascadeError, ValueError):
    """Input data is malformed; the message names the model and column at fault."""


class FitError(ProbcascadeError, RuntimeError):
    """A statistical fit cannot be carried out (for example a model with a single outcome)."""


class ProbcascadeWarning(UserWarning):
    """Base class of probcascade's warnings."""


class SeparationWarning(ProbcascadeWarning):
    """Logistic regression data are (quasi-)perfectly separated; the MLE does not exist or is unstable."""


class IndependenceFallbackWarning(ProbcascadeWarning):
    """Kendall's tau <= 0: a copula family that models only positive dependence fell back to independence."""


class ConvergenceWarning(ProbcascadeWarning):
    """An iterative fit (e.g. L-BFGS) stopped before meeting its convergence criterion."""


class InfillWarning(ProbcascadeWarning):
    """Adaptive infilling (eq. 13 of the study) stopped with gaps above q (an atom lies between thresholds)."""
