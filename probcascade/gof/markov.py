"""The Markov-property check of §4.3 of the study (Table 3): does an earlier ancestor add to the immediate
predecessor when a model's correctness is predicted by logistic regression?

:func:`markov_logit_table` regresses each model's correctness on its predecessor's and one earlier ancestor's
calibrated confidence, for every such ancestor, and tabulates the coefficients and the log10 of their Wald
p-values (log scale so that underflowing p-values stay readable). Under the Markov factorisation of the model the
predecessor carries the signal and the ancestor adds little.
"""

from __future__ import annotations

import math
import numpy as np
import pandas as pd
from scipy import stats
from probcascade.estimation.logistic import fit_logistic
from probcascade.exceptions import DataValidationError
from probcascade.validation import check_array

__all__ = ["markov_logit_table", "MARKOV_TABLE_COLUMNS"]

MARKOV_TABLE_COLUMNS = ("ancestor", "log10_p_markov", "log10_p_ancestor", "coef_markov", "coef_ancestor")


def _log10_p(z: float) -> float:
    """log10 of the two-sided normal p-value of a Wald statistic, finite even where the p-value underflows."""
    return float((math.log(2.0) + stats.norm.logsf(abs(z))) / math.log(10.0))


def _check_frames(phi_frame: pd.DataFrame, correct_frame: pd.DataFrame) -> None:
    for name, frame in (("phi_frame", phi_frame), ("correct_frame", correct_frame)):
        if not isinstance(frame, pd.DataFrame):
            raise DataValidationError(f"'{name}' must be a pandas DataFrame, got {type(frame).__name__}")
    if list(phi_frame.columns) != list(correct_frame.columns):
        raise DataValidationError(
            f"'correct_frame': columns {list(correct_frame.columns)} differ from the models of 'phi_frame' "
            f"{list(phi_frame.columns)} (same models in the same cascade order required)"
        )
    if len(phi_frame) != len(correct_frame):
        raise DataValidationError(
            f"'correct_frame' has {len(correct_frame)} rows but 'phi_frame' has {len(phi_frame)}"
        )
    check_array(phi_frame, "phi_frame", ndim=2)  # errors name the model (column)
    check_array(correct_frame, "correct_frame", ndim=2, binary=True)


def markov_logit_table(phi_frame: pd.DataFrame, correct_frame: pd.DataFrame) -> pd.DataFrame:
    """Probe the Markov property by logistic regression (Table 3 of the study).

    For every model ``i >= 2`` (0-based cascade position) and every earlier ancestor ``j < i - 1``, the correctness
    of model ``i`` is regressed on ``[1, phi_{i-1}, phi_j]`` (the immediate predecessor is the Markov predictor).
    Under the Markov property the predecessor carries the signal and the ancestor adds little.

    Parameters
    ----------
    phi_frame : DataFrame
        Calibrated confidences, one column per model in cascade order, one row per query.
    correct_frame : DataFrame
        0/1 correctness with the same columns and rows.

    Returns
    -------
    DataFrame
        One row per regression, indexed by ``predicted`` (the model whose correctness is predicted), with columns
        ``ancestor`` (the earlier ancestor's name), ``log10_p_markov``, ``log10_p_ancestor`` (log10 of the Wald
        p-values, computed from the z statistics so they stay finite when the p-value underflows), ``coef_markov``
        and ``coef_ancestor``. ``k`` models give ``(k - 1)(k - 2) / 2`` rows (none for ``k < 3``).

    Raises
    ------
    DataValidationError
        Frames that do not match, non-finite confidences, correctness other than 0/1.
    FitError
        A predicted model has a single outcome (names the model).
    """
    _check_frames(phi_frame, correct_frame)
    models = [str(m) for m in phi_frame.columns]
    phi = phi_frame.to_numpy(dtype=np.float64)
    correct = correct_frame.to_numpy(dtype=np.float64)
    rows, index = [], []
    for i in range(2, len(models)):
        for j in range(i - 1):
            design = np.column_stack([np.ones(len(phi)), phi[:, i - 1], phi[:, j]])
            fit = fit_logistic(design, correct[:, i], names=("const", models[i - 1], models[j]), model=models[i])
            index.append(models[i])
            rows.append({"ancestor": models[j], "log10_p_markov": _log10_p(fit.z[1]),
                         "log10_p_ancestor": _log10_p(fit.z[2]), "coef_markov": float(fit.coef[1]),
                         "coef_ancestor": float(fit.coef[2])})
    return pd.DataFrame(rows, index=pd.Index(index, name="predicted", dtype=object), columns=list(MARKOV_TABLE_COLUMNS))
