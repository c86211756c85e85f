"""The names the calibration offers, as plain constants (no JAX), so that the command line can list and check them
without loading the numerics: the one place to add a transform's or a calibrator's name."""

from __future__ import annotations

__all__ = ["TRANSFORMS", "CALIBRATOR_NAMES"]

#: Confidence transforms of :func:`probcascade.calibration.transforms.transform_logprob`.
TRANSFORMS = ("one-sided", "two-sided", "logit", "none")
#: Keys of :data:`probcascade.calibration.calibrators.CALIBRATORS`, in order (checked when that module loads).
CALIBRATOR_NAMES = ("logistic", "platt", "temperature")
