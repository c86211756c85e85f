"""Calibration: confidence transforms, logistic/Platt/temperature calibrators, softmax and vector scaling over
answer-token logits, and calibration metrics."""

from .aggregation import aggregate_class_logits, select_prediction_score
from .softmax import fit_softmax_scaling, SoftmaxScalingFit, SoftmaxTemperatureScaler, VectorScaler
from .transforms import one_sided, two_sided, logit_from_logprob, transform_logprob, ConfidenceTransform, TRANSFORMS
from .calibrators import LogisticCalibrator, PlattCalibrator, TemperatureCalibrator, CALIBRATORS, make_calibrator, calibrate, CascadeCalibration, CalibrationReport
from .metrics import reliability_table, ece, ace, brier_score, nll, auroc, calibration_metrics

__all__ = ["aggregate_class_logits", "select_prediction_score", "fit_softmax_scaling", "SoftmaxScalingFit", "SoftmaxTemperatureScaler", "VectorScaler", "one_sided", "two_sided", "logit_from_logprob", "transform_logprob", "ConfidenceTransform", "TRANSFORMS", "fit_logistic", "LogisticFit", "LogisticCalibrator", "PlattCalibrator", "TemperatureCalibrator", "CALIBRATORS", "make_calibrator", "calibrate", "CascadeCalibration", "CalibrationReport", "reliability_table", "ece", "ace", "brier_score", "nll", "auroc", "calibration_metrics"]
