"""Cascade data: the tidy per-query table (:class:`CascadeData`), the package's own generative model (synthetic
data) and the choice of queries to label (selection)."""

from .cascade import CascadeData, load_benchmark, load_shared, SIGNAL_COLUMNS
from .synthetic import SyntheticCascadeSpec, DEFAULT_SPEC, DEMO_PARAMS_FILE, load_spec, make_synthetic_cascade, many_model_spec, synthetic_train_test
from .selection import surrogate_error, select_calibration_data, CalibrationSample, balanced_pairs_subset

__all__ = ["CascadeData", "load_benchmark", "load_shared", "SIGNAL_COLUMNS", "SyntheticCascadeSpec", "DEFAULT_SPEC", "DEMO_PARAMS_FILE", "load_spec", "make_synthetic_cascade", "many_model_spec", "synthetic_train_test", "surrogate_error", "select_calibration_data", "CalibrationSample", "balanced_pairs_subset"]
