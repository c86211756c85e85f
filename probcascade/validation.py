"""Argument checks shared by every public entry point, and the one padding rule for compiled-shape reuse.

In the manner of scikit-learn's ``utils/validation.py``: each check returns the cleaned value (a Python ``int`` or
``float``, or a NumPy array) or raises :class:`~probcascade.exceptions.DataValidationError` (a ``ValueError``)
with a message that starts with the argument's name in quotes, e.g. ``'n_boot' must be an integer >= 1, got
True``. NumPy only (no JAX): the checks run on concrete host values before anything is traced or compiled.

Misuse of the checks themselves (an unknown ``dtype``, ``unit_interval`` together with ``low``) raises
``TypeError``/``ValueError``, not :class:`DataValidationError`: that is a bug in the caller, not bad user data.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from probcascade.exceptions import DataValidationError

__all__ = [
    "PAD_STEP",
    "check_array",
    "check_choice",
    "check_float",
    "check_int",
    "check_matching_rows",
    "check_probability",
    "describe_value",
    "pad_first_rows",
    "pad_rows",
    "padded_size",
]

#: Above this size :func:`padded_size` rounds up to multiples of it instead of to powers of two.
PAD_STEP = 4096

_FINITE_MODES = (True, "allow-inf", "allow-neg-inf")


# ------------------------------------------------------------------------------------------------ formatting
def _num(v) -> str:
    """A bound or value for a message: integral numbers without ``.0`` (so ``[0, 1]``), others by ``repr``."""
    f = float(v)
    if f.is_integer() and abs(f) < 1e16:
        return str(int(f))
    return repr(f)


def _show(value) -> str:
    """``repr`` of a user value for a message, without NumPy's ``np.int64(...)`` wrapping, at most 80 characters."""
    if isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, np.ndarray) or (hasattr(value, "shape") and hasattr(value, "dtype")):
        shape = tuple(np.shape(value))
        if shape == ():
            try:
                value = np.asarray(value).item()
            except Exception:  # noqa: BLE001 - a value we cannot even read back: describe it by type
                return f"a {type(value).__name__}"
        else:
            return f"an array of shape {shape}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def describe_value(value) -> str:
    """A user value for an error message: its ``repr`` without NumPy's ``np.float64(...)`` wrapping (NumPy 2's scalar
    repr), an array by its shape, at most 80 characters; e.g. ``0.5``, ``'abc'``, ``an array of shape (3,)``."""
    return _show(value)


def _interval(low, high, low_open: bool, high_open: bool) -> str:
    """`` in [0, 1)``, `` >= 0``, `` < 1`` or ``""``."""
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{_num(low)}, {_num(high)}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {_num(low)}"
    if high is not None:
        return f" {'<' if high_open else '<='} {_num(high)}"
    return ""


def _with_note(text: str, note: str | None) -> str:
    return f"{text} ({note})" if note else text


# ------------------------------------------------------------------------------------------------ scalars
def check_int(value, name: str, *, low: int | None = None, high: int | None = None, allow_none: bool = False,
              note: str | None = None) -> int | None:
    """``value`` as a Python ``int`` in ``[low, high]`` (inclusive; ``None`` = unbounded).

    Accepted: ``int``, NumPy integers and 0-d integer arrays. Rejected: ``bool`` / ``numpy.bool_`` (``True`` is
    an ``int`` in Python, but a flag passed as a count is a bug) and every float, even an integral one such as
    ``3.0`` (as scikit-learn's ``check_scalar``): a count that arrives as a float is usually a silently truncated
    computation (``n / 2``), so it is refused rather than guessed. ``allow_none`` returns ``None`` for ``None``
    (e.g. an optional seed); ``note`` explains a bound in the message, e.g. ``"the number of scored queries"``.
    """
    if value is None and allow_none:
        return None
    out = None
    if not isinstance(value, (bool, np.bool_)):
        if isinstance(value, numbers.Integral):
            out = int(value)
        elif hasattr(value, "__array__") and not isinstance(value, (str, bytes)):
            try:
                arr = np.asarray(value)
            except Exception:  # noqa: BLE001 - anything that is not an array is simply not an integer
                arr = None
            if arr is not None and arr.ndim == 0 and arr.dtype.kind in "iu":
                out = int(arr)
    if out is None or (low is not None and out < low) or (high is not None and out > high):
        expected = _with_note("an integer" + _interval(low, high, False, False), note)
        raise DataValidationError(f"'{name}' must be {expected}{' or None' if allow_none else ''}, got {_show(value)}")
    return out


def check_float(value, name: str, *, low: float | None = None, high: float | None = None, low_open: bool = False,
                high_open: bool = False, allow_none: bool = False, finite: bool = True,
                note: str | None = None) -> float | None:
    """``value`` as a Python ``float`` within the bounds (``low_open``/``high_open``: strict inequality).

    Accepted: real numbers (``int``, ``float``, NumPy scalars, 0-d real arrays). Rejected: ``bool``, strings
    (no parsing of ``"0.5"``), complex numbers and NaN always; ``+-inf`` unless ``finite=False`` (a bound still
    applies to it). ``allow_none`` returns ``None`` for ``None`` (an optional setting such as ``max_cost_gap``).
    """
    if value is None and allow_none:
        return None
    out = None
    if not isinstance(value, (bool, np.bool_, str, bytes)):
        if isinstance(value, numbers.Real):
            out = float(value)
        elif hasattr(value, "__array__"):
            try:
                arr = np.asarray(value)
            except Exception:  # noqa: BLE001
                arr = None
            if arr is not None and arr.ndim == 0 and arr.dtype.kind in "iuf":
                out = float(arr)
    ok = out is not None and not np.isnan(out) and not (finite and np.isinf(out))
    if ok and low is not None:
        ok = out > low if low_open else out >= low
    if ok and high is not None:
        ok = out < high if high_open else out <= high
    if not ok:
        bounded = low is not None and high is not None
        kind = "a finite number" if finite and not bounded else "a number"
        expected = _with_note(kind + _interval(low, high, low_open, high_open), note)
        raise DataValidationError(f"'{name}' must be {expected}{' or None' if allow_none else ''}, got {_show(value)}")
    return out


def check_probability(value, name: str, *, open: bool = True, allow_none: bool = False) -> float | None:
    """A level such as ``alpha``, ``delta`` or the infill mass ``q``: in ``(0, 1)`` (``open=False``: ``[0, 1]``)."""
    return check_float(value, name, low=0, high=1, low_open=open, high_open=open, allow_none=allow_none)


def _same(value, choice) -> bool:
    """``value == choice`` as one bool; a bool never equals a number, a failing comparison is no match."""
    if isinstance(value, (bool, np.bool_)) != isinstance(choice, (bool, np.bool_)):
        return False
    try:
        return bool(value == choice)
    except (TypeError, ValueError):  # e.g. an array against a string: ambiguous truth value
        return False


def check_choice(value, name: str, choices: Iterable[Any]):
    """``value`` if it is one of ``choices`` (a tuple, list, set or the keys of a dict); the message lists them.

    ``True``/``False`` never match ``1``/``0`` (Python's ``True == 1``), unhashable values simply do not match.
    """
    options = list(choices)
    if any(_same(value, c) for c in options):
        return value
    listed = ", ".join(repr(c) for c in options)
    raise DataValidationError(f"'{name}' must be one of {listed}, got {_show(value)}")


# ------------------------------------------------------------------------------------------------ arrays
def _is_pandas(x) -> bool:
    return type(x).__module__.split(".", 1)[0] == "pandas" and hasattr(x, "to_numpy")


def _as_numpy(x, name: str, dtype) -> tuple[np.ndarray, list | None]:
    """Convert to an ndarray of ``dtype`` (float64, int64 or bool); DataFrame column labels for messages."""
    labels = list(x.columns) if _is_pandas(x) and getattr(x, "ndim", 1) == 2 else None
    try:
        raw = x.to_numpy() if _is_pandas(x) else np.asarray(x)
    except (TypeError, ValueError) as exc:  # ragged nested lists, objects NumPy cannot read
        raise DataValidationError(f"'{name}' is not an array of numbers ({exc})") from exc
    kind = raw.dtype.kind
    if dtype is bool:
        if kind != "b":
            raise DataValidationError(f"'{name}' must be a boolean array, got dtype {raw.dtype}")
        return raw, labels
    if kind in "US" or (kind == "O" and any(isinstance(v, (str, bytes)) for v in raw.flat)):
        raise DataValidationError(f"'{name}' must hold numbers, not strings")
    if kind not in "biufO":
        raise DataValidationError(f"'{name}' must hold real numbers, got dtype {raw.dtype}")
    if dtype is int and kind in "biu":
        return raw.astype(np.int64, copy=False), labels
    try:
        if _is_pandas(x):  # nullable dtypes: pd.NA -> NaN, reported below as missing
            arr = x.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            arr = np.asarray(raw, dtype=np.float64)  # None -> NaN, reported below as missing
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"'{name}' is not an array of numbers ({exc})") from exc
    return arr, labels


def _bad_values(a: np.ndarray, bad: np.ndarray, name: str, what: str, labels: Sequence | None) -> str:
    """``'name' [column j ('label')] <what>: <count> value(s), first at <place> (<value>)`` for the first offender."""
    if a.ndim == 2:
        cols = np.flatnonzero(bad.any(axis=0))
        j = int(cols[0])
        rows = np.flatnonzero(bad[:, j])
        label = f" ({labels[j]!r})" if labels is not None and len(labels) == a.shape[1] else ""
        text = (f"'{name}' column {j}{label} {what}: {rows.size} value(s), first at row {int(rows[0])} "
                f"({_show(a[rows[0], j])})")
        if cols.size > 1:
            more = cols[:10].tolist()
            text += f"; columns affected: {more}{' ...' if cols.size > 10 else ''}"
        return text
    if a.ndim == 0:
        return f"'{name}' {what}: got {_show(a)}"
    first = np.unravel_index(int(np.argmax(bad.ravel())), a.shape)
    place = f"index {int(first[0])}" if a.ndim == 1 else f"position {tuple(int(i) for i in first)}"
    return f"'{name}' {what}: {int(bad.sum())} value(s), first at {place} ({_show(a[first])})"


def _dims(ndim) -> tuple[int, ...] | None:
    if ndim is None:
        return None
    dims = (ndim,) if isinstance(ndim, (int, np.integer)) else tuple(ndim)
    if not dims or not all(isinstance(d, (int, np.integer)) and d >= 0 for d in dims):
        raise TypeError(f"ndim must be None, an int or a tuple of ints, got {ndim!r}")
    return dims


def check_array(
    x,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    shape: tuple[int | None, ...] | None = None,
    dtype: type = float,
    finite: bool | str = True,
    min_rows: int | None = None,
    unit_interval: bool = False,
    binary: bool = False,
    low: float | None = None,
    high: float | None = None,
    column_names: Sequence | None = None,
) -> np.ndarray:
    """``x`` (list, NumPy, JAX or pandas) as a NumPy array that satisfies every requested property.

    Parameters
    ----------
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions (no silent ravel or promotion).
    shape : tuple, optional
        Required shape; ``None`` entries match any length, e.g. ``(None, k)``.
    dtype : float, int or bool
        ``float``: float64. ``int``: int64, from integer/boolean data or integral floats (``1.0``; ``0.5`` is
        rejected). ``bool``: the data must already be boolean (a mask; 0/1 numbers are rejected).
        Strings are never parsed as numbers; complex data are rejected.
    finite : True, "allow-inf" or "allow-neg-inf"
        Which infinities are legal data: none (default), both (e.g. thresholds "always/never defer"), or only
        ``-inf`` (log-probabilities of events of probability 0). NaN is always rejected, including NaN produced
        by the conversion itself (``None``, ``pd.NA``): no check returns an array with NaN in it.
    min_rows : int, optional
        Fewest entries along the first axis (``1`` for "non-empty").
    unit_interval, binary, low, high
        Values must lie in ``[0, 1]``, be 0 or 1, or lie in ``[low, high]`` (inclusive; ``-inf``/``+inf`` count
        as values when ``finite`` lets them through).
    column_names : sequence, optional
        Labels of the columns of 2-D data for messages (default: a DataFrame's columns), so that an error names
        the offending column by index and label, e.g. ``'phi' column 2 ('llama-70b') contains NaN ...``.
    """
    if dtype in (float, np.float64):
        dtype = float
    elif dtype in (int, np.int64):
        dtype = int
    elif dtype not in (bool, np.bool_):
        raise TypeError(f"dtype must be float, int or bool, got {dtype!r}")
    else:
        dtype = bool
    if finite not in _FINITE_MODES:
        raise ValueError(f"finite must be one of {_FINITE_MODES}, got {finite!r}")
    if unit_interval:
        if low is not None or high is not None:
            raise ValueError("give either unit_interval=True or low/high, not both")
        low, high = 0, 1
    dims = _dims(ndim)

    a, labels = _as_numpy(x, name, dtype)
    if column_names is not None:
        labels = list(column_names)
    if dims is not None and a.ndim not in dims:
        wanted = " or ".join(f"{d}-D" for d in dims)
        raise DataValidationError(f"'{name}' must be a {wanted} array, got shape {a.shape}")
    if shape is not None:
        shape = tuple(shape)
        if a.ndim != len(shape):
            raise DataValidationError(f"'{name}' must be a {len(shape)}-D array, got shape {a.shape}")
        for axis, (want, got) in enumerate(zip(shape, a.shape)):
            if want is not None and want != got:
                unit = {0: "rows", 1: "columns"}.get(axis, f"entries along axis {axis}") if a.ndim > 1 else "entries"
                pattern = ", ".join("*" if s is None else str(s) for s in shape)
                raise DataValidationError(
                    f"'{name}' must have {want} {unit} (shape ({pattern}{',' if len(shape) == 1 else ''})), "
                    f"got shape {a.shape}"
                )
    if dtype is bool:
        return _check_rows(a, name, min_rows)

    if a.dtype.kind == "f":
        nan = np.isnan(a)
        if nan.any():
            raise DataValidationError(_bad_values(a, nan, name, "contains NaN or missing values", labels))
        if finite is True or dtype is int:
            inf, what = np.isinf(a), "contains infinite values"
        elif finite == "allow-neg-inf":
            inf, what = np.isposinf(a), "contains +inf (only -inf is allowed)"
        else:
            inf = None
        if inf is not None and inf.any():
            raise DataValidationError(_bad_values(a, inf, name, what, labels))
    if low is not None or high is not None:
        out = np.zeros(a.shape, dtype=bool)
        if low is not None:
            out |= a < low
        if high is not None:
            out |= a > high
        if out.any():
            bound = _interval(low, high, False, False).strip()
            what = f"must lie {bound}" if low is not None and high is not None else f"must be {bound}"
            raise DataValidationError(_bad_values(a, out, name, what, labels))
    if binary:
        other = (a != 0) & (a != 1)
        if other.any():
            raise DataValidationError(_bad_values(a, other, name, "must be 0 or 1", labels))
    if dtype is int and a.dtype.kind == "f":
        frac = a != np.round(a)
        if frac.any():
            raise DataValidationError(_bad_values(a, frac, name, "must hold integers", labels))
        a = a.astype(np.int64)
    return _check_rows(a, name, min_rows)  # after the value checks (as scikit-learn): a NaN is reported as such


def _check_rows(a: np.ndarray, name: str, min_rows: int | None) -> np.ndarray:
    if min_rows is not None:
        rows = a.shape[0] if a.ndim else 0
        if rows == 0 and min_rows > 0:
            raise DataValidationError(f"'{name}' is empty: at least {min_rows} observation(s) (rows) needed")
        if rows < min_rows:
            raise DataValidationError(f"'{name}' has {rows} observation(s) (rows); at least {min_rows} needed")
    return a


def check_matching_rows(name_a: str, a, name_b: str, b) -> int:
    """The common length of the first axis of ``a`` and ``b`` (paired samples, rows of the same queries)."""
    na, nb = np.shape(a), np.shape(b)
    for name, s in ((name_a, na), (name_b, nb)):
        if len(s) == 0:
            raise DataValidationError(f"'{name}' must be an array, got a scalar")
    if na[0] != nb[0]:
        raise DataValidationError(f"'{name_a}' and '{name_b}' differ in length (lengths {na[0]} and {nb[0]})")
    return int(na[0])


# ------------------------------------------------------------------------------------------------ padding
def padded_size(n: int, *, minimum: int = 32) -> int:
    """The padded length of a leading axis of ``n`` rows: the one rule for reusing compiled shapes.

    The next power of two ``>= max(n, minimum)`` up to :data:`PAD_STEP` (4096), above it the next multiple of
    4096. Why: XLA compiles one program per input shape, so padding the data (with a mask) to a few sizes lets
    calls with similar sizes share one compilation: 8 sizes cover 32..4096 and one more size per 4096 rows
    beyond. Powers of two keep the number of shapes logarithmic; beyond 4096 they would waste up to half the
    memory and compute, multiples of 4096 keep the waste below 4096 rows. For ``n > minimum`` the result is
    always ``< 2 n`` (padding waste below 2x); it is never below ``n`` and never decreases as ``n`` grows.
    """
    n = check_int(n, "n", low=0)
    minimum = check_int(minimum, "minimum", low=1)
    m = max(n, minimum)
    if m <= PAD_STEP:
        return 1 << (m - 1).bit_length()
    return -(-m // PAD_STEP) * PAD_STEP


def pad_first_rows(arrays: Sequence[Any], *, size: int | None = None,
                   multiple: int | None = None) -> tuple[tuple[Any, ...], int]:
    """A batch of arrays (equal leading axes, NumPy or JAX) padded along the first axis with copies of their first
    row, to ``size`` rows or to the next multiple of ``multiple``; returns ``(padded arrays, original rows)``.

    For batched solves and maps whose padded rows are computed and then cut off: copies of a real row keep them
    inside the data's domain (finite, no warnings). Each array keeps its kind (a JAX array stays on its device: the
    padding uses the array's own namespace, ``__array_namespace__``), so this module stays free of JAX. Unlike
    :func:`pad_rows` no mask is returned: callers slice ``[:n]``. Used by rational tuning (chunks of a fixed size)
    and :func:`probcascade.scale.sharding.pad_batch` (a multiple of the device count).
    """
    if (size is None) == (multiple is None):
        raise TypeError("give exactly one of 'size' and 'multiple'")
    arrays = tuple(arrays)
    if not arrays:
        raise ValueError("'arrays' is empty: nothing to pad")
    n = int(arrays[0].shape[0])
    if any(int(a.shape[0]) != n for a in arrays):
        raise ValueError(f"the arrays differ in length (leading axes {[int(a.shape[0]) for a in arrays]})")
    if multiple is not None:
        size = -(-n // check_int(multiple, "multiple", low=1)) * multiple
    size = check_int(size, "size", low=n, note="the number of rows of the arrays")
    if size == n:
        return arrays, n
    if n == 0:
        raise DataValidationError("the arrays have no rows: padding with copies of the first row needs one")

    def pad(a):
        xp = a.__array_namespace__() if hasattr(a, "__array_namespace__") else np
        return xp.concat([a, xp.broadcast_to(a[:1], (size - n,) + tuple(a.shape[1:]))])

    return tuple(pad(a) for a in arrays), n


def pad_rows(x, size: int, fill) -> tuple[np.ndarray, np.ndarray]:
    """``x`` padded along its first axis to ``size`` rows, and the (size,) boolean mask of the real rows.

    ``fill`` is a scalar (e.g. ``np.inf`` for thresholds that always defer, ``0`` for zero weights) or
    ``"first"``: copies of the first row, which keeps padded entries inside the data's domain so that masked
    computations on them stay finite. The dtype is kept unless ``fill`` needs a wider one (``inf`` in int data).
    """
    a = np.asarray(x)
    if a.ndim == 0:
        raise DataValidationError("'x' must have a leading axis to pad, got a scalar")
    n = a.shape[0]
    size = check_int(size, "size", low=n, note="the number of rows of 'x'")
    mask = np.arange(size) < n
    if size == n:
        return a, mask
    if isinstance(fill, str):
        if fill != "first":
            raise ValueError(f"fill must be a scalar or 'first', got {fill!r}")
        if n == 0:
            raise DataValidationError("'x' has no rows: fill='first' needs at least one row to copy")
        pad = np.broadcast_to(a[:1], (size - n,) + a.shape[1:])
    else:
        pad = np.full((size - n,) + a.shape[1:], fill, dtype=np.result_type(a.dtype, fill))
    return np.concatenate([a, pad]), mask
