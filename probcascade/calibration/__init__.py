"""Calibration: confidence transforms, logistic/Platt/temperature calibrators, softmax and vector scaling over
answer-token logits, and calibration metrics."""

from probcascade.lazy import lazy_attributes

# Imported on first use (PEP 562), so that the choice lists (.choices) load without JAX.
_LAZY = {
    "aggregation": ("aggregate_class_logits", "select_prediction_score"),
    "softmax": ("fit_softmax_scaling", "SoftmaxScalingFit", "SoftmaxTemperatureScaler", "VectorScaler"),
    "transforms": ("one_sided", "two_sided", "logit_from_logprob", "transform_logprob", "ConfidenceTransform"),
    "choices": ("TRANSFORMS", "CALIBRATOR_NAMES"),
    "calibrators": ("LogisticCalibrator", "PlattCalibrator", "TemperatureCalibrator", "CALIBRATORS", "make_calibrator",
                    "calibrate", "CascadeCalibration", "CalibrationReport", "fit_logistic", "LogisticFit"),
    "metrics": ("reliability_table", "ece", "ace", "brier_score", "nll", "auroc", "calibration_metrics"),
    "corp": ("corp_reliability", "corp_decomposition", "pav_recalibrate", "ece_estimates", "ece_replicates", "CorpResult",
             "EceResult"),
    "capability": ("capability_calibration", "pass_at_k", "pass_at_k_unbiased", "allocate_samples"),
}

__all__ = ["aggregate_class_logits", "select_prediction_score", "fit_softmax_scaling", "SoftmaxScalingFit", "SoftmaxTemperatureScaler", "VectorScaler", "one_sided", "two_sided", "logit_from_logprob", "transform_logprob", "ConfidenceTransform", "TRANSFORMS", "fit_logistic", "LogisticFit", "LogisticCalibrator", "PlattCalibrator", "TemperatureCalibrator", "CALIBRATORS", "make_calibrator", "calibrate", "CascadeCalibration", "CalibrationReport", "reliability_table", "ece", "ace", "brier_score", "nll", "auroc", "calibration_metrics", "corp_reliability", "corp_decomposition", "pav_recalibrate", "ece_estimates", "ece_replicates", "CorpResult", "EceResult", "capability_calibration", "pass_at_k", "pass_at_k_unbiased", "allocate_samples"]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
