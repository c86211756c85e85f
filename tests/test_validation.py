"""probcascade.validation: accept/reject cases, messages that name the argument, the padding rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from probcascade.exceptions import DataValidationError
from probcascade.validation import (
    PAD_STEP,
    check_array,
    check_choice,
    check_float,
    check_int,
    check_matching_rows,
    check_probability,
    pad_first_rows,
    pad_rows,
    padded_size,
)


# ------------------------------------------------------------------------------------------------ check_int
@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3), np.array(3)])
def test_check_int_accepts_integers(value):
    out = check_int(value, "n", low=1, high=3)
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value", [True, False, np.True_, 3.0, np.float64(3.0), 2.5, "3", None, [3], np.array([3]),
                                   np.array(3.0), 3 + 0j])
def test_check_int_rejects_non_integers_naming_the_argument(value):
    with pytest.raises(DataValidationError, match=r"^'n_boot' must be an integer, got "):
        check_int(value, "n_boot")


def test_check_int_bool_rejected_with_the_brief_message():
    with pytest.raises(DataValidationError) as info:
        check_int(True, "n_boot", low=1)
    assert str(info.value) == "'n_boot' must be an integer >= 1, got True"


def test_check_int_bounds_are_inclusive():
    assert check_int(1, "n", low=1, high=5) == 1 and check_int(5, "n", low=1, high=5) == 5
    with pytest.raises(DataValidationError, match=r"'n' must be an integer in \[1, 5\], got 0"):
        check_int(0, "n", low=1, high=5)
    with pytest.raises(DataValidationError, match=r"'n' must be an integer <= 5, got 6"):
        check_int(6, "n", high=5)
    with pytest.raises(DataValidationError, match=r"in \[1, 2\] \(the number of scored queries\), got 3"):
        check_int(3, "n", low=1, high=2, note="the number of scored queries")
    # numpy scalars are shown as plain numbers
    with pytest.raises(DataValidationError, match=r"got 0$"):
        check_int(np.int64(0), "n", low=1)


def test_check_int_allow_none():
    assert check_int(None, "seed", allow_none=True) is None
    with pytest.raises(DataValidationError, match="'seed' must be an integer or None"):
        check_int(1.5, "seed", allow_none=True)


# ---------------------------------------------------------------------------------------------- check_float
@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.5), np.float64(0.5), np.int64(1), np.array(0.5)])
def test_check_float_accepts_real_numbers(value):
    out = check_float(value, "r", low=0, high=1)
    assert out == float(value) and type(out) is float


@pytest.mark.parametrize("value", [True, np.False_, float("nan"), np.nan, "0.5", None, [0.5], np.ones(2), 1j])
def test_check_float_rejects_nan_bool_and_non_numbers(value):
    with pytest.raises(DataValidationError, match=r"^'r' must be a finite number, got "):
        check_float(value, "r")


def test_check_float_infinity_only_when_asked():
    with pytest.raises(DataValidationError, match="'t' must be a finite number, got inf"):
        check_float(np.inf, "t")
    assert check_float(-np.inf, "t", finite=False) == -np.inf
    with pytest.raises(DataValidationError, match="'t'"):
        check_float(-np.inf, "t", finite=False, low=0)
    with pytest.raises(DataValidationError, match="'t'"):
        check_float(np.nan, "t", finite=False)


def test_check_float_open_and_closed_bounds():
    assert check_float(0.0, "x", low=0) == 0.0
    with pytest.raises(DataValidationError, match=r"'x' must be a finite number > 0, got 0"):
        check_float(0, "x", low=0, low_open=True)
    assert check_float(0.0, "defensive", low=0, high=1, high_open=True) == 0.0
    with pytest.raises(DataValidationError, match=r"'defensive' must be a number in \[0, 1\), got 1.0"):
        check_float(1.0, "defensive", low=0, high=1, high_open=True)
    with pytest.raises(DataValidationError, match=r"'step' must be a number in \(0, 0.5\]"):
        check_float(0.6, "step", low=0, high=0.5, low_open=True)
    with pytest.raises(DataValidationError, match=r"'x' must be a finite number < 1"):
        check_float(1, "x", high=1, high_open=True)


def test_check_float_allow_none():
    assert check_float(None, "max_cost_gap", allow_none=True) is None
    with pytest.raises(DataValidationError, match=r"'max_cost_gap' must be a number in \(0, 1\) or None, got 1.5"):
        check_float(1.5, "max_cost_gap", low=0, high=1, low_open=True, high_open=True, allow_none=True)
    with pytest.raises(DataValidationError, match="'max_cost_gap'"):
        check_float(None, "max_cost_gap")


# ------------------------------------------------------------------------------------------ check_probability
def test_check_probability():
    assert check_probability(0.05, "alpha") == 0.05
    for bad in (0.0, 1.0, -0.1, 1.5, np.nan, True, "0.1"):
        with pytest.raises(DataValidationError, match=r"^'alpha' must be a number in \(0, 1\)"):
            check_probability(bad, "alpha")
    assert check_probability(0.0, "p", open=False) == 0.0 and check_probability(1, "p", open=False) == 1.0
    with pytest.raises(DataValidationError, match=r"'p' must be a number in \[0, 1\]"):
        check_probability(1.01, "p", open=False)
    assert check_probability(None, "infill_q", allow_none=True) is None


# ---------------------------------------------------------------------------------------------- check_choice
def test_check_choice():
    assert check_choice("tpe", "sampler", ("auto", "gp", "tpe")) == "tpe"
    assert check_choice("mle", "method", {"mle": 1, "tau": 2}) == "mle"
    with pytest.raises(DataValidationError) as info:
        check_choice("ks", "statistic", ("kendall", "plugin"))
    assert str(info.value) == "'statistic' must be one of 'kendall', 'plugin', got 'ks'"
    with pytest.raises(DataValidationError, match="'k'"):
        check_choice(True, "k", (1, 2))          # True == 1 in Python, but a flag is not a choice of 1
    with pytest.raises(DataValidationError, match="'m'"):
        check_choice(["a"], "m", ("a", "b"))      # unhashable: no match, no TypeError
    with pytest.raises(DataValidationError, match="'m'"):
        check_choice(None, "m", ("a", "b"))


# ----------------------------------------------------------------------------------------------- check_array
def test_check_array_converts_lists_and_pandas_to_float64():
    out = check_array([1, 2, 3], "x", ndim=1)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    frame = pd.DataFrame({"a": [0.1, 0.2], "b": [1, 0]})
    out = check_array(frame, "phi", ndim=2)
    assert type(out) is np.ndarray and out.shape == (2, 2) and out.dtype == np.float64
    out = check_array(pd.Series([True, False]), "correct", binary=True)
    assert out.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("value", [[0.1, np.nan], [0.1, None], pd.Series([0.1, None]),
                                   pd.Series([0.1, pd.NA], dtype="Float64")])
def test_check_array_never_returns_nan(value):
    with pytest.raises(DataValidationError, match=(r"^'u' contains NaN or missing values: "
                                                   r"1 value\(s\), first at index 1")):
        check_array(value, "u")
    with pytest.raises(DataValidationError, match="'u' contains NaN"):
        check_array(value, "u", finite="allow-inf")


def test_check_array_minus_inf_only_when_asked():
    lp = [-0.1, -np.inf, -2.0]
    with pytest.raises(DataValidationError, match=(r"'logprob' contains infinite values: "
                                                   r"1 value\(s\), first at index 1")):
        check_array(lp, "logprob")
    out = check_array(lp, "logprob", finite="allow-neg-inf", high=0)
    assert np.isneginf(out[1]) and not np.isnan(out).any()
    with pytest.raises(DataValidationError, match=r"'logprob' contains \+inf"):
        check_array([-0.1, np.inf], "logprob", finite="allow-neg-inf")
    with pytest.raises(DataValidationError, match=r"'logprob' must be <= 0: 1 value\(s\), first at index 0 \(0.5\)"):
        check_array([0.5, -np.inf], "logprob", finite="allow-neg-inf", high=0)
    both = check_array([[-np.inf, np.inf]], "thresholds", finite="allow-inf")
    assert np.isinf(both).all()


def test_check_array_names_the_offending_column():
    x = np.full((4, 3), 0.5)
    x[2, 1] = np.nan
    with pytest.raises(DataValidationError, match=(r"^'phi' column 1 contains NaN or missing values: "
                                                   r"1 value\(s\), first at row 2")):
        check_array(x, "phi", ndim=2)
    frame = pd.DataFrame(x, columns=["m1", "m2", "m3"])
    with pytest.raises(DataValidationError, match=r"'phi' column 1 \('m2'\) contains NaN"):
        check_array(frame, "phi")
    x[2, 1] = 1.5
    x[0, 2] = -0.5
    with pytest.raises(DataValidationError,
                       match=(r"'phi' column 1 \('b'\) must lie in \[0, 1\]: "
                              r"1 value\(s\), first at row 2 \(1.5\); columns affected: \[1, 2\]")):
        check_array(x, "phi", unit_interval=True, column_names=["a", "b", "c"])


def test_check_array_ndim_shape_and_rows():
    assert check_array(np.zeros((2, 3, 4)), "logits", ndim=(2, 3)).shape == (2, 3, 4)
    with pytest.raises(DataValidationError, match=r"'logits' must be a 2-D or 3-D array, got shape \(5,\)"):
        check_array(np.zeros(5), "logits", ndim=(2, 3))
    with pytest.raises(DataValidationError, match=r"'conf' must be a 2-D array, got shape \(\)"):
        check_array(0.5, "conf", ndim=2)
    assert check_array(np.ones((5, 3)), "cost", shape=(None, 3)).shape == (5, 3)
    with pytest.raises(DataValidationError, match=(r"'cost' must have 3 columns "
                                                   r"\(shape \(\*, 3\)\), got shape \(5, 2\)")):
        check_array(np.ones((5, 2)), "cost", shape=(None, 3))
    with pytest.raises(DataValidationError, match=r"'costs' must have 4 entries \(shape \(4,\)\), got shape \(3,\)"):
        check_array(np.ones(3), "costs", shape=(4,))
    with pytest.raises(DataValidationError, match=r"'costs' must be a 1-D array"):
        check_array(np.ones((4, 1)), "costs", shape=(4,))
    with pytest.raises(DataValidationError, match=r"'u' has 2 observation\(s\) \(rows\); at least 3 needed"):
        check_array([0.1, 0.2], "u", min_rows=3)
    with pytest.raises(DataValidationError, match=r"'scores' is empty: at least 1 observation\(s\) \(rows\) needed"):
        check_array([], "scores", ndim=1, min_rows=1)
    with pytest.raises(DataValidationError, match="'u' contains NaN"):     # bad values are named before the count
        check_array([0.1, np.nan], "u", min_rows=3)
    assert check_array(np.empty((0, 2)), "thresholds", ndim=2).shape == (0, 2)


@pytest.mark.parametrize("value, match", [
    (["0.1", "0.2"], "'x' must hold numbers, not strings"),
    (np.array(["a", 1.0], dtype=object), "'x' must hold numbers, not strings"),
    ([1 + 2j], "'x' must hold real numbers"),
    ([[1.0, 2.0], [3.0]], "'x' is not an array of numbers"),
])
def test_check_array_rejects_non_numeric(value, match):
    with pytest.raises(DataValidationError, match=match):
        check_array(value, "x")


def test_check_array_binary_and_unit_interval():
    y = check_array([[0, 1], [1, 1]], "correct", binary=True)
    assert y.dtype == np.float64
    with pytest.raises(DataValidationError, match=(r"'correct' column 0 must be 0 or 1: "
                                                   r"1 value\(s\), first at row 1 \(2.0\)")):
        check_array([[0, 1], [2, 1]], "correct", binary=True)
    with pytest.raises(DataValidationError, match=r"'scores' must lie in \[0, 1\]"):
        check_array([0.2, 1.5], "scores", unit_interval=True)
    with pytest.raises(DataValidationError, match=r"'cost' must be >= 0"):
        check_array([1.0, -0.1], "cost", low=0)
    with pytest.raises(ValueError, match="not both"):
        check_array([0.5], "x", unit_interval=True, low=0)


def test_check_array_int_and_bool_dtypes():
    out = check_array([0, 2, 1], "labels", dtype=int, low=0, high=2)
    assert out.dtype == np.int64 and out.tolist() == [0, 2, 1]
    assert check_array(np.array([0.0, 2.0]), "labels", dtype=int).dtype == np.int64      # integral floats
    with pytest.raises(DataValidationError, match=(r"'labels' must hold integers: "
                                                   r"1 value\(s\), first at index 1 \(0.5\)")):
        check_array([0.0, 0.5], "labels", dtype=int)
    with pytest.raises(DataValidationError, match="'labels' contains NaN"):
        check_array([0.0, np.nan], "labels", dtype=int)
    with pytest.raises(DataValidationError, match="'labels' contains infinite"):
        check_array([0.0, -np.inf], "labels", dtype=int, finite="allow-neg-inf")
    mask = check_array(np.array([True, False]), "position_mask", dtype=bool)
    assert mask.dtype == bool
    with pytest.raises(DataValidationError, match="'position_mask' must be a boolean array, got dtype int64"):
        check_array(np.array([1, 0]), "position_mask", dtype=bool)
    with pytest.raises(TypeError):
        check_array([1.0], "x", dtype=str)
    with pytest.raises(ValueError):
        check_array([1.0], "x", finite=False)


def test_check_matching_rows():
    assert check_matching_rows("u", [1, 2, 3], "v", np.zeros((3, 2))) == 3
    with pytest.raises(DataValidationError, match=r"'u' and 'v' differ in length \(lengths 3 and 2\)"):
        check_matching_rows("u", [1, 2, 3], "v", [1, 2])
    with pytest.raises(DataValidationError, match="'v' must be an array"):
        check_matching_rows("u", [1], "v", 1.0)


# ---------------------------------------------------------------------------------------------------- padding
def test_padded_size_rule():
    assert [padded_size(n) for n in (0, 1, 32, 33, 64, 65, 1000, 4096)] == [32, 32, 32, 64, 64, 128, 1024, 4096]
    assert [padded_size(n) for n in (4097, 8192, 8193, 10_000)] == [8192, 8192, 12_288, 12_288]
    assert padded_size(5, minimum=64) == 64 and padded_size(5, minimum=1) == 8 and padded_size(100, minimum=100) == 128
    assert PAD_STEP == 4096


def test_padded_size_monotone_at_least_n_and_below_twice_n():
    n = np.arange(3 * PAD_STEP + 1)
    sizes = np.array([padded_size(int(i)) for i in n])
    assert np.all(np.diff(sizes) >= 0) and np.all(sizes >= n)
    assert np.all(sizes[n > 32] < 2 * n[n > 32])
    assert len(set(sizes)) == 8 + 2           # 32..4096, then 8192 and 12288


def test_padded_size_validates():
    for bad in (-1, 2.0, True):
        with pytest.raises(DataValidationError, match="'n'"):
            padded_size(bad)
    with pytest.raises(DataValidationError, match="'minimum'"):
        padded_size(3, minimum=0)


def test_pad_rows_values_and_mask():
    x = np.arange(6.0).reshape(3, 2)
    padded, mask = pad_rows(x, 5, np.inf)
    assert padded.shape == (5, 2) and mask.tolist() == [True, True, True, False, False]
    np.testing.assert_array_equal(padded[:3], x)
    assert np.isposinf(padded[3:]).all()
    first, mask = pad_rows(x, 4, "first")
    np.testing.assert_array_equal(first[3], x[0])
    same, mask = pad_rows(x, 3, 0.0)
    assert same.shape == (3, 2) and mask.all()
    ints, _ = pad_rows(np.arange(3), 4, 0)
    assert ints.dtype == np.arange(3).dtype
    f32, _ = pad_rows(np.ones(2, dtype=np.float32), 4, np.inf)     # no silent upcast of float32 data
    assert f32.dtype == np.float32
    widened, _ = pad_rows(np.arange(2), 3, np.inf)                 # inf needs a float dtype
    assert widened.dtype.kind == "f" and np.isposinf(widened[2])
    with pytest.raises(DataValidationError, match="'size' must be an integer >= 3"):
        pad_rows(x, 2, 0.0)
    with pytest.raises(DataValidationError, match="no rows"):
        pad_rows(np.empty((0, 2)), 4, "first")
    padded, mask = pad_rows(np.empty((0, 2)), padded_size(0), 0.0)
    assert padded.shape == (32, 2) and not mask.any()


def test_pad_first_rows_to_a_size_or_a_multiple():
    import jax.numpy as jnp

    z, lam = np.arange(6.0).reshape(3, 2), np.array([1.0, 2.0, 3.0])
    (zp, lp), n = pad_first_rows((z, lam), size=5)          # rational tuning: a chunk of a fixed size
    assert n == 3 and zp.shape == (5, 2) and isinstance(zp, np.ndarray)
    np.testing.assert_array_equal(zp[3:], [z[0], z[0]])
    np.testing.assert_array_equal(lp, [1.0, 2.0, 3.0, 1.0, 1.0])
    (xp,), n = pad_first_rows([jnp.arange(5.0)], multiple=4)   # sharding: a multiple of the device count
    assert n == 5 and not isinstance(xp, np.ndarray)           # a JAX array stays a JAX array
    np.testing.assert_array_equal(np.asarray(xp), [0, 1, 2, 3, 4, 0, 0, 0])
    same, n = pad_first_rows([z], multiple=3)
    assert n == 3 and same[0] is z                             # nothing to pad: the input itself
    empty, n = pad_first_rows([np.empty((0, 2))], multiple=4)
    assert n == 0 and empty[0].shape == (0, 2)
    with pytest.raises(DataValidationError, match="'size' must be an integer >= 3"):
        pad_first_rows([z], size=2)
    with pytest.raises(DataValidationError, match="no rows"):
        pad_first_rows([np.empty((0, 2))], size=4)
    with pytest.raises(ValueError, match="differ in length"):
        pad_first_rows([z, lam[:2]], size=4)
    with pytest.raises(TypeError, match="exactly one"):
        pad_first_rows([z], size=4, multiple=2)
