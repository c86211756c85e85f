"""Calibrators: map a raw confidence signal to a calibrated probability of correctness.

* :class:`LogisticCalibrator` - logistic regression on a transformed signal (the study's calibrator, its §4.1),
  fitted by maximum likelihood with a jit-compiled Newton (IRLS) iteration in JAX, with standard errors, z and
  p-values from the observed Fisher information.
* :class:`PlattCalibrator` - logistic regression on logit(p) (Platt 1999).
* :class:`TemperatureCalibrator` - sigmoid(logit(p) / T) (one parameter, no intercept).

:func:`calibrate` fits one calibrator per model of a :class:`~probcascade.data.CascadeData` and returns a
:class:`CascadeCalibration`, whose :meth:`~CascadeCalibration.report` scores the calibration on (test) data.

Perfect separation (a threshold on the signal splits correct from incorrect answers) makes the logistic MLE
diverge; the fit then warns with :class:`~probcascade.exceptions.SeparationWarning` and uses a small ridge penalty
(``ridge_on_separation``) so that predictions stay finite; the results object records ``separated=True``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import numpy as np
import pandas as pd
from probcascade.precision import x64
from probcascade.estimation.logistic import LogisticFit, fit_logistic
from probcascade.data.cascade import CascadeData
from probcascade.exceptions import DataValidationError
from probcascade.calibration.metrics import calibration_metrics
from probcascade.calibration.choices import CALIBRATOR_NAMES
from probcascade.calibration.transforms import TRANSFORMS, ConfidenceTransform
from probcascade.summary import Summary
from probcascade.validation import check_array, check_choice, check_matching_rows, describe_value

__all__ = ["LogisticCalibrator", "PlattCalibrator", "TemperatureCalibrator", "CALIBRATORS", "make_calibrator", "calibrate", "CascadeCalibration", "CalibrationReport"]


# ---------------------------------------------------------------------------------------------------------- calibrators
@dataclass
class LogisticCalibrator:
    """Logistic regression of correctness on a transformed confidence signal.

    ``phi = sigmoid(b0 + b1 * xi(logprob))`` with ``xi`` one of :data:`probcascade.calibration.transforms.TRANSFORMS`.
    """

    transform: str = "one-sided"
    model: str = ""
    fit_intercept: bool = True
    method: str = field(default="logistic", init=False)
    transform_: ConfidenceTransform | None = field(default=None, init=False, repr=False)
    result_: LogisticFit | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        check_choice(self.transform, "transform", TRANSFORMS)

    def _design(self, logprob: np.ndarray) -> np.ndarray:
        xi = self.transform_.transform(logprob)
        return np.column_stack([np.ones_like(xi), xi]) if self.fit_intercept else xi[:, None]

    def fit(self, logprob: np.ndarray, correct: np.ndarray) -> "LogisticCalibrator":
        """Fit on training log-probabilities and 0/1 correctness."""
        try:
            logprob = check_array(logprob, "raw_logprob", ndim=1, finite="allow-neg-inf", high=0.0)
            check_array(correct, "correct", ndim=1, binary=True)
            check_matching_rows("raw_logprob", logprob, "correct", correct)
        except DataValidationError as exc:
            raise DataValidationError(f"model '{self.model}': {exc}") from exc
        correct = np.asarray(correct)
        if self.fit_intercept and logprob.size and np.all(logprob == logprob[0]):
            # one value: intercept and slope are confounded, the fit would report a meaningless SE and p-value
            raise DataValidationError(
                f"model '{self.model}': raw_logprob is constant ({describe_value(logprob[0])} on all {logprob.size} "
                "training queries), so the calibration slope is not identified; a confidence signal must vary")
        self.transform_ = ConfidenceTransform(self.transform, self.model).fit(logprob)
        names = ("const", "xi") if self.fit_intercept else ("xi",)
        self.result_ = fit_logistic(self._design(logprob), correct, names=names, model=self.model)
        return self

    def _check_fitted(self) -> None:
        if self.result_ is None:
            raise DataValidationError(f"calibrator of model '{self.model}' is not fitted: call fit() first")

    def linear_predictor(self, logprob: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self._design(np.asarray(logprob, dtype=np.float64)) @ self.result_.coef

    def predict(self, logprob: np.ndarray) -> np.ndarray:
        """Calibrated probability of correctness."""
        eta = self.linear_predictor(logprob)
        return np.exp(-np.logaddexp(0.0, -eta))

    @property
    def slope(self) -> tuple[float, float, float]:
        """(coefficient, standard error, p-value) of the confidence feature."""
        self._check_fitted()
        j = -1
        return float(self.result_.coef[j]), float(self.result_.se[j]), float(self.result_.p_value[j])

    def summary(self) -> Summary:
        """The fitted logistic regression's :class:`~probcascade.summary.Summary`."""
        self._check_fitted()
        return self.result_.summary()


@dataclass
class PlattCalibrator(LogisticCalibrator):
    """Platt scaling: logistic regression on logit(p_raw)."""

    transform: str = "logit"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.method = "platt"


@dataclass
class TemperatureCalibrator(LogisticCalibrator):
    """Temperature scaling of a binary confidence: ``phi = sigmoid(logit(p_raw) / T)``."""

    transform: str = "logit"
    fit_intercept: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        self.method = "temperature"

    @property
    def temperature(self) -> float:
        self._check_fitted()
        return 1.0 / float(self.result_.coef[0])


#: calibrator classes by name; the names are :data:`probcascade.calibration.choices.CALIBRATOR_NAMES` (the command line
#: reads them from there without loading JAX), the classes follow in the same order
CALIBRATORS = dict(zip(CALIBRATOR_NAMES, (LogisticCalibrator, PlattCalibrator, TemperatureCalibrator), strict=True))


def make_calibrator(method: str = "logistic", transform: str | None = None, model: str = "") -> LogisticCalibrator:
    """A calibrator by name; ``transform`` applies to ``logistic`` only (Platt/temperature work on logit(p))."""
    check_choice(method, "method", CALIBRATORS)
    if method == "logistic":
        return LogisticCalibrator(transform=transform or "one-sided", model=model)
    return CALIBRATORS[method](model=model)


# ---------------------------------------------------------------------------------------------------------- cascades
@dataclass
class CalibrationReport:
    """Per-model calibration metrics on a data set (ECE/ACE with quantile bins, Brier, NLL, AUROC) plus coefficients."""

    table: pd.DataFrame
    n_bins: int
    method: str
    transform: str

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def to_records(self) -> list[dict]:
        """JSON-ready list of per-model records."""
        recs = self.table.reset_index().to_dict(orient="records")
        return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in recs]

    def summary(self) -> Summary:
        """The metrics table, rates in percent (a :class:`~probcascade.summary.Summary`)."""
        t = self.table.copy()
        pct = ["accuracy", "cert_fraction", "ece", "ace"]
        t[pct] = t[pct] * 100
        t = t.rename(columns={"accuracy": "%Corr", "cert_fraction": "%Cert", "ece": "%ECE", "ace": "%ACE"})
        title = f"Calibration ({self.method}, transform={self.transform}, {self.n_bins} quantile bins)"
        return Summary(title).add_table(t, float_format="{:.4g}")


@dataclass
class CascadeCalibration:
    """One fitted calibrator per model of a cascade."""

    calibrators: dict[str, LogisticCalibrator]
    method: str
    transform: str

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.calibrators)

    @x64
    def predict(self, data: CascadeData) -> np.ndarray:
        """Calibrated confidences, shape (n_queries, n_models) in ``data.models`` order."""
        cols = []
        for j, m in enumerate(data.models):
            if m not in self.calibrators:
                raise DataValidationError(f"no calibrator for model '{m}' (calibrated models: {list(self.calibrators)})")
            cols.append(self.calibrators[m].predict(data.logprob[:, j]))
        return np.column_stack(cols)

    def coefficients(self) -> pd.DataFrame:
        """Tidy frame of every model's coefficients, standard errors and p-values."""
        parts = []
        for m, c in self.calibrators.items():
            f = c.result_.to_frame().reset_index()
            f.insert(0, "model", m)
            parts.append(f)
        return pd.concat(parts, ignore_index=True)

    def report(self, data: CascadeData, n_bins: int = 10) -> CalibrationReport:
        """Score the calibrators on ``data`` (usually the test split)."""
        phi = self.predict(data)
        rows = []
        cert = data.certainty_fraction
        for j, m in enumerate(data.models):
            c = self.calibrators[m]
            coef, se, p = c.slope
            met = calibration_metrics(phi[:, j], data.correct[:, j], n_bins=n_bins)
            rows.append({"model": m, "n": data.n_queries, "accuracy": float(data.correct[:, j].mean()),
                         "cert_fraction": float(cert[m]), **met, "coef": coef, "se": se, "p_value": p})
        return CalibrationReport(pd.DataFrame(rows).set_index("model"), n_bins, self.method, self.transform)

    def summary(self) -> Summary:
        """Every model's calibrator fit, one after the other (a :class:`~probcascade.summary.Summary`)."""
        out = Summary(f"Cascade calibration ({self.method}, transform={self.transform})")
        for c in self.calibrators.values():
            out.extend(c.summary())
        return out

    def to_frame(self) -> pd.DataFrame:
        return self.coefficients()


def calibrate(train: CascadeData, method: str = "logistic", transform: str = "one-sided") -> CascadeCalibration:
    """Fit one calibrator per model on training data.

    Parameters
    ----------
    train : CascadeData
    method : {"logistic", "platt", "temperature"}
    transform : {"one-sided", "two-sided", "logit", "none"}
        Feature transform for ``method="logistic"`` (one-sided for multiple choice, two-sided for open-ended
        questions, as in the study).
    """
    cals = {}
    for j, m in enumerate(train.models):
        cal = make_calibrator(method, transform, model=m)
        cals[m] = cal.fit(train.logprob[:, j], train.correct[:, j])
    return CascadeCalibration(cals, method, transform if method == "logistic" else "logit")
