"""Calibration: confidence transforms, logistic/Platt/temperature calibrators, softmax and vector scaling over
answer-token logits, and calibration metrics."""

import importlib

# Imported on first use (PEP 562), so that the choice lists (.choices) load without JAX.
_LAZY = {
    "aggregation": ("aggregate_class_logits", "select_prediction_score"),
    "softmax": ("fit_softmax_scaling", "SoftmaxScalingFit", "SoftmaxTemperatureScaler", "VectorScaler"),
    "transforms": ("one_sided", "two_sided", "logit_from_logprob", "transform_logprob", "ConfidenceTransform"),
    "choices": ("TRANSFORMS", "CALIBRATOR_NAMES"),
    "calibrators": ("LogisticCalibrator", "PlattCalibrator", "TemperatureCalibrator", "CALIBRATORS", "make_calibrator",
                    "calibrate", "CascadeCalibration", "CalibrationReport", "fit_logistic", "LogisticFit"),
    "metrics": ("reliability_table", "ece", "ace", "brier_score", "nll", "auroc", "calibration_metrics"),
    "corp": ("corp_reliability", "corp_decomposition", "pav_recalibrate", "ece_estimates", "CorpResult", "EceResult"),
    "capability": ("capability_calibration", "pass_at_k", "pass_at_k_unbiased", "allocate_samples"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}

__all__ = ["aggregate_class_logits", "select_prediction_score", "fit_softmax_scaling", "SoftmaxScalingFit", "SoftmaxTemperatureScaler", "VectorScaler", "one_sided", "two_sided", "logit_from_logprob", "transform_logprob", "ConfidenceTransform", "TRANSFORMS", "fit_logistic", "LogisticFit", "LogisticCalibrator", "PlattCalibrator", "TemperatureCalibrator", "CALIBRATORS", "make_calibrator", "calibrate", "CascadeCalibration", "CalibrationReport", "reliability_table", "ece", "ace", "brier_score", "nll", "auroc", "calibration_metrics", "corp_reliability", "corp_decomposition", "pav_recalibrate", "ece_estimates", "CorpResult", "EceResult", "capability_calibration", "pass_at_k", "pass_at_k_unbiased", "allocate_samples"]


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value   # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
