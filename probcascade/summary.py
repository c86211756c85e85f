"""One report object for every ``summary()`` in the package.

:class:`Summary` collects blocks - tables (:class:`pandas.DataFrame`), key/value dicts and notes - and renders
them the same way everywhere: fixed-width text (``str``/``repr``), an HTML fragment (also shown by Jupyter), Markdown
pipe tables for written reports, and a JSON-serialisable dict, modelled on statsmodels' ``iolib.summary2.Summary``.
Fit results get a shared interface (AIC, BIC, Wald intervals, a tidy frame and a default summary) from
:class:`FitResultMixin`.  The module needs only the standard library, numpy and pandas (scipy when intervals are
computed), so it is cheap to import.
"""

from __future__ import annotations

import html
import json
import math
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_FLOAT_FORMAT", "FitResultMixin", "Summary"]

#: Format of floats in every block unless ``float_format`` says otherwise; NaN always renders as a blank cell.
DEFAULT_FLOAT_FORMAT = "{:.6g}"
_NOTE_MIN_WIDTH = 40


def _formatter(spec: str | Callable[[float], str]) -> Callable[[float], str]:
    if callable(spec):
        return spec
    if isinstance(spec, str):
        return spec.format if "{" in spec else (lambda v: spec % v)
    raise TypeError(f"float_format must be a format string or a callable, got {type(spec).__name__}")


def _is_missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _cell(v: Any, fmt: Callable[[float], str]) -> str:
    """Text of one cell: floats through ``fmt``, missing values blank, tuples (MultiIndex labels) space-joined."""
    if isinstance(v, np.generic):
        v = v.item()
    if _is_missing(v):
        return ""
    if isinstance(v, tuple):
        return " ".join(_cell(x, fmt) for x in v)
    if isinstance(v, float) and not isinstance(v, bool):
        return ("inf" if v > 0 else "-inf") if math.isinf(v) else fmt(v)
    return str(v)


def _py(v: Any) -> Any:
    """JSON-safe Python value: numpy scalars unwrapped, NaN/inf/NA to None, tuples to lists."""
    if isinstance(v, np.generic):
        v = v.item()
    if _is_missing(v):
        return None
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, (tuple, list)):
        return [_py(x) for x in v]
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


@dataclass(frozen=True)
class _Block:
    kind: str  # "table" | "dict" | "text"
    title: str | None = None
    columns: tuple = ()
    index: tuple | None = None
    data: tuple = ()
    numeric: tuple = ()  # per column: right-align in text
    fmt: Callable[[float], str] = DEFAULT_FLOAT_FORMAT.format
    ncols: int = 1
    text: str = ""
    index_name: str = ""

    def cells(self) -> tuple[list[str] | None, list[list[str]], list[bool], list[bool]]:
        """(header or None, rows of cell text, right-align flags, row-label flags), shared by all formats."""
        if self.kind == "table":
            idx = self.index is not None
            header = ([self.index_name] if idx else []) + [_cell(c, str) for c in self.columns]
            rows = [([_cell(self.index[i], self.fmt)] if idx else []) + [_cell(v, self.fmt) for v in row]
                    for i, row in enumerate(self.data)]
            flags = [False] * len(self.columns)
            return header, rows, ([False] if idx else []) + list(self.numeric), ([True] if idx else []) + flags
        pairs = [[f"{k}:", _cell(v, self.fmt)] for k, v in self.data]
        if self.ncols == 1:
            return None, pairs, [False, True], [True, False]
        half = -(-len(pairs) // 2)
        right = pairs[half:] + [["", ""]] * (2 * half - len(pairs))
        return None, [a + b for a, b in zip(pairs[:half], right)], [False, True] * 2, [True, False] * 2


def _grid(b: _Block) -> list[str]:
    """Fixed-width lines of a table or dict block (two spaces between columns, four between dict halves)."""
    header, rows, right, _ = b.cells()
    table = ([header] if header is not None else []) + rows
    widths = [max((len(r[j]) for r in table), default=0) for j in range(len(right))]
    seps = ["  " if j != 2 or b.kind == "table" else "    " for j in range(len(right))]
    return ["".join((seps[j] if j else "") + (c.rjust(w) if r else c.ljust(w))
                    for j, (c, w, r) in enumerate(zip(row, widths, right))).rstrip() for row in table]


class Summary:
    """A titled sequence of tables, key/value blocks and notes with text, HTML, Markdown and JSON renderings.

    Notes (:meth:`add_text`/:meth:`add_note`) are printed after all tables, as in statsmodels.  For code that
    treated ``summary()`` as a string, ``in``, :meth:`splitlines` and f-strings act on :meth:`as_text`.
    """

    def __init__(self, title: str | None = None) -> None:
        self.title = title
        self.blocks: list[_Block] = []

    # -- building -------------------------------------------------------------------------------------------
    def add_title(self, title: str | None) -> Summary:
        self.title = title
        return self

    def add_table(self, frame: pd.DataFrame | pd.Series, title: str | None = None, *, index: bool = True,
                  float_format: str | Callable[[float], str] = DEFAULT_FLOAT_FORMAT) -> Summary:
        """Append ``frame`` (copied now); ``index=False`` hides the row labels."""
        if isinstance(frame, pd.Series):
            frame = frame.to_frame()
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame must be a pandas DataFrame or Series, got {type(frame).__name__}")
        numeric = tuple(pd.api.types.is_numeric_dtype(t) for t in frame.dtypes)
        self.blocks.append(_Block(
            "table", title, tuple(frame.columns), (tuple(frame.index) if index else None),
            tuple(map(tuple, frame.to_numpy(dtype=object))), numeric, _formatter(float_format),
            index_name=" ".join(str(n) for n in frame.index.names if n is not None),
        ))
        return self

    def add_dict(self, mapping: Mapping[str, object], title: str | None = None, ncols: int = 1, *,
                 float_format: str | Callable[[float], str] = DEFAULT_FLOAT_FORMAT) -> Summary:
        """Append ``key: value`` pairs in ``ncols`` (1 or 2) column pairs, filled column by column."""
        if ncols not in (1, 2):
            raise ValueError(f"ncols must be 1 or 2, got {ncols!r}")
        data = tuple((str(k), v) for k, v in dict(mapping).items())
        self.blocks.append(_Block("dict", title, ("key", "value"), None, data, fmt=_formatter(float_format),
                                  ncols=ncols))
        return self

    def add_text(self, text: str) -> Summary:
        """Append a note, printed under the tables."""
        self.blocks.append(_Block("text", text=str(text)))
        return self

    add_note = add_text

    def extend(self, other: Summary) -> Summary:
        """Append ``other``'s blocks; its title is kept (as ours if we have none, else as a prefix of its first
        table's title)."""
        if not isinstance(other, Summary):
            raise TypeError(f"can only extend a Summary with a Summary, got {type(other).__name__}")
        blocks = list(other.blocks)
        if other.title and self.title is None:
            self.title = other.title
        elif other.title:
            for i, b in enumerate(blocks):
                if b.kind != "text":
                    blocks[i] = replace(b, title=other.title if not b.title else f"{other.title} - {b.title}")
                    break
        self.blocks.extend(blocks)
        return self

    # -- rendering ------------------------------------------------------------------------------------------
    def _ordered(self) -> list[_Block]:
        return [b for b in self.blocks if b.kind != "text"] + [b for b in self.blocks if b.kind == "text"]

    def as_text(self) -> str:
        tables = [(b.title, _grid(b)) for b in self.blocks if b.kind != "text"]
        notes = [b.text for b in self.blocks if b.kind == "text"]
        width = max([len(self.title or "")] + [len(t or "") for t, _ in tables]
                    + [len(line) for _, lines in tables for line in lines])
        if width == 0:
            width = min(78, max((len(line) for n in notes for line in n.splitlines()), default=0))
        out: list[str] = []
        if self.title:
            out += ["=" * width, self.title.center(width).rstrip()]
        if self.title or tables:
            out.append("=" * width)
        for i, (title, lines) in enumerate(tables):
            out += (["-" * width] if i else []) + ([title.center(width).rstrip()] if title else []) + lines
        if tables:
            out.append("=" * width)
        wrap = max(width, _NOTE_MIN_WIDTH)
        for note in notes:
            out += [textwrap.fill(p, wrap, break_long_words=False) if p else "" for p in note.splitlines()]
        return "\n".join(out)

    def as_html(self) -> str:
        esc = html.escape
        parts = ['<div class="summary">']
        if self.title:
            parts.append(f"<h4>{esc(self.title)}</h4>")
        for b in self._ordered():
            if b.kind == "text":
                parts.append(f"<p>{esc(b.text)}</p>")
                continue
            header, rows, _, label = b.cells()
            parts.append('<table class="simpletable">' + (f"<caption>{esc(b.title)}</caption>" if b.title else ""))
            if header is not None:
                parts.append("<thead><tr>" + "".join(f"<th>{esc(c)}</th>" for c in header) + "</tr></thead>")
            cell = lambda c, th: f"<th>{esc(c)}</th>" if th else f"<td>{esc(c)}</td>"
            parts.append("<tbody>" + "".join("<tr>" + "".join(map(cell, row, label)) + "</tr>" for row in rows)
                         + "</tbody></table>")
        parts.append("</div>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.as_html()

    def as_markdown(self) -> str:
        md = lambda c: c.replace("|", "\\|")
        out = [f"**{self.title}**", ""] if self.title else []
        for b in self._ordered():
            if b.kind == "text":
                out += [b.text, ""]
                continue
            header, rows, right, _ = b.cells()
            header = header if header is not None else [""] * len(right)
            out += [f"*{b.title}*", ""] if b.title else []
            out.append("| " + " | ".join(map(md, header)) + " |")
            out.append("|" + "|".join("---:" if r else ":---" for r in right) + "|")
            out += ["| " + " | ".join(map(md, row)) + " |" for row in rows] + [""]
        return "\n".join(out).rstrip() + "\n"

    def to_dict(self) -> dict:
        """JSON-serialisable content: raw values (not formatted), NaN/inf as None, numpy scalars as Python."""
        blocks = []
        for b in self._ordered():
            d: dict[str, Any] = {"kind": b.kind, "title": b.title}
            if b.kind == "text":
                d.update(columns=[], index=[], data=[], text=b.text)
            else:
                d.update(columns=[_py(c) for c in b.columns],
                         index=None if b.index is None else [_py(i) for i in b.index],
                         data=[[_py(v) for v in row] for row in b.data])
            blocks.append(d)
        return {"title": self.title, "blocks": blocks}

    def as_json(self, **json_kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **json_kwargs)

    # -- string compatibility -------------------------------------------------------------------------------
    def __str__(self) -> str:
        return self.as_text()

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return format(self.as_text(), spec)

    def __contains__(self, item: str) -> bool:
        return item in self.as_text()

    def splitlines(self, keepends: bool = False) -> list[str]:
        return self.as_text().splitlines(keepends)


class _overridable:
    """Computed read-only attribute that a subclass may replace with a dataclass field or plain attribute.

    A non-data descriptor (no ``__set__``), so an instance value - e.g. a (frozen) dataclass field of the same
    name - takes precedence, where a ``property`` fails in the generated ``__init__``.  Class access raises
    :class:`AttributeError`, as otherwise ``@dataclass`` would take the descriptor as that field's default.
    """

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func, self.__doc__, self.__name__ = func, func.__doc__, func.__name__

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            raise AttributeError(f"{self.__name__} is computed per instance")
        return self.func(obj)


class FitResultMixin:
    """Common interface of fit results, computed from what the subclass provides.

    The subclass provides ``params`` (:class:`pandas.Series` indexed by parameter name), ``se`` (Series, same
    index, NaN where unavailable), ``loglik`` (float), ``n`` (int) and ``converged`` (bool); ``n_params`` defaults
    to ``len(params)``.  ``aic``, ``bic`` and ``n_params`` may be overridden by dataclass fields (frozen or not),
    properties or attributes.  The mixin stores nothing on the instance.
    """

    @_overridable
    def n_params(self) -> int:
        """Number of estimated parameters ``k`` (default ``len(params)``)."""
        return len(self.params)

    @_overridable
    def aic(self) -> float:
        """Akaike information criterion ``2k - 2 loglik``."""
        return 2.0 * self.n_params - 2.0 * float(self.loglik)

    @_overridable
    def bic(self) -> float:
        """Bayesian information criterion ``k log(n) - 2 loglik``."""
        return self.n_params * math.log(self.n) - 2.0 * float(self.loglik)

    def _estimates(self) -> tuple[pd.Series, pd.Series]:
        params = pd.Series(self.params, dtype=float)
        se = self.se
        se = se.reindex(params.index) if isinstance(se, pd.Series) else pd.Series(np.asarray(se, float), params.index)
        return params, se.astype(float)

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald ``1 - alpha`` intervals ``params -/+ z_{1-alpha/2} se``: columns ``lower``, ``upper``."""
        from scipy.stats import norm

        try:
            ok = 0.0 < float(alpha) < 1.0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
        params, se = self._estimates()
        z = float(norm.ppf(1.0 - float(alpha) / 2.0))
        return pd.DataFrame({"lower": params - z * se, "upper": params + z * se}, index=params.index)

    def to_frame(self, alpha: float = 0.05) -> pd.DataFrame:
        """Tidy frame, one row per parameter: ``param``, ``estimate``, ``se``, ``lower``, ``upper``."""
        params, se = self._estimates()
        ci = self.conf_int(alpha)
        return pd.DataFrame({"param": params.index, "estimate": params.to_numpy(), "se": se.to_numpy(),
                             "lower": ci["lower"].to_numpy(), "upper": ci["upper"].to_numpy()})

    def summary(self, title: str | None = None) -> Summary:
        """Fit statistics (n, loglik, AIC, BIC, converged) and the parameter table."""
        s = Summary(title if title is not None else type(self).__name__)
        s.add_dict({"n": int(self.n), "loglik": float(self.loglik), "aic": float(self.aic),
                    "bic": float(self.bic), "converged": bool(self.converged)}, ncols=2)
        s.add_table(self.to_frame().set_index("param"), "Parameters (95% Wald intervals)")
        if not self.converged:
            s.add_note("Warning: the fit did not converge; estimates may be unreliable.")
        return s
