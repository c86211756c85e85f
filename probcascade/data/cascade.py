"""Cascade data: per-query confidence signals, correctness and costs of the models of a cascade.

The input is a tidy long frame, one row per (query, model), with the columns of the shared benchmark files:

===================  ==========================================================================================
``query``            query identifier; the same identifier is the same question for every model
``model``            model name
``raw_logprob``      raw confidence as a natural-log probability (<= 0; 0 and -inf mean certainty and are legal)
 or ``raw_prob``     ... or as a probability in [0, 1]
``correct``          1 if the model's answer was correct, else 0
``cost_usd``         cost of the query on the model in USD, or ``tokens_in``/``tokens_out`` plus ``prices``
``model_rank``       optional: position of the model in the cascade (0 = cheapest)
===================  ==========================================================================================

:class:`CascadeData` validates all of it (errors name the model and column), orders the models (explicitly,
by ``model_rank``, or by mean cost) and gives aligned ``(n_queries, n_models)`` arrays.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence
import numpy as np
import pandas as pd
from probcascade.exceptions import DataValidationError, ProbcascadeWarning
from probcascade.validation import describe_value

__all__ = ["CascadeData", "load_benchmark", "load_shared", "SIGNAL_COLUMNS", "check_text_file", "warn_cost_order"]

SIGNAL_COLUMNS = ("raw_logprob", "raw_prob")
#: Suffixes of serialised Python objects: refused by :meth:`CascadeData.from_csv` without reading a byte (unpickling
#: runs arbitrary code).
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill", ".npy", ".npz", ".pt", ".pth")
#: Suffixes pandas decompresses: their bytes are not text, so the binary sniff of :func:`check_text_file` skips them.
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".zip", ".xz", ".zst", ".tar")


def check_text_file(path: str | Path) -> Path:
    """``path`` as a ``Path`` if it names a readable, non-empty text file; else a DataValidationError naming it.

    Refused with a one-line reason: a missing path, a directory, a pickle (by suffix, never opened), an empty file,
    and a binary file (a NUL byte or bytes that are not UTF-8 in its first 64 KiB). Compressed CSVs (``.gz``, ...)
    are left to pandas.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise DataValidationError(f"{path}: refusing to read a '{suffix}' file (serialised Python objects can run "
                                  "code when loaded); give the data as a tidy CSV")
    if not path.exists():
        raise DataValidationError(f"{path}: file not found")
    if path.is_dir():
        raise DataValidationError(f"{path}: is a directory, not a CSV file")
    if path.stat().st_size == 0:
        raise DataValidationError(f"{path}: the file is empty (expected a CSV header such as "
                                  "query,model,raw_logprob,correct,cost_usd)")
    if suffix not in COMPRESSED_SUFFIXES:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
        if b"\x00" in head:
            raise DataValidationError(f"{path}: is a binary file, not a CSV text file")
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not merely a multi-byte character cut at the end of the chunk
                raise DataValidationError(f"{path}: is not UTF-8 text (byte 0x{head[exc.start]:02x} at offset "
                                          f"{exc.start}); save the CSV as UTF-8") from None
    return path


def warn_cost_order(models: Sequence[str], costs: Sequence[float], *, stacklevel: int = 2) -> bool:
    """Warn (:class:`~probcascade.exceptions.ProbcascadeWarning`) when a model of a cascade costs less than the one
    before it; True if none does (equal costs, e.g. two models at one price, do not warn). A cascade normally asks
    the cheaper model first: the other order is legal (the study's model does not assume it) but usually a mistake
    in ``--cascade``."""
    c = np.asarray(costs, dtype=np.float64)
    bad = np.flatnonzero(np.diff(c) < 0)
    if bad.size == 0:
        return True
    i = int(bad[0])
    warnings.warn(f"cascade {' -> '.join(models)} is not in increasing cost order: '{models[i]}' costs "
                  f"{float(c[i]):.4g} USD per query, the next model '{models[i + 1]}' only {float(c[i + 1]):.4g}; "
                  "cheaper models normally come first", ProbcascadeWarning, stacklevel=stacklevel)
    return False


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Column as float64, with an error naming the model and column of the first non-numeric value."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if bad.any():
        row = frame.loc[bad].iloc[0]
        raise DataValidationError(
            f"column '{column}' has a non-numeric value {describe_value(row[column])} for model '{row.get('model', '?')}' "
            f"(query {row.get('query', '?')})"
        )
    missing = values.isna()
    if missing.any():
        row = frame.loc[missing].iloc[0]
        raise DataValidationError(
            f"column '{column}' has a missing (NaN) value for model '{row.get('model', '?')}' (query {row.get('query', '?')})"
        )
    return values.to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class CascadeData:
    """Validated confidences, correctness and costs of the models of a cascade, aligned by query.

    Build it with :meth:`from_frame` or :meth:`from_csv`.

    Attributes
    ----------
    models : tuple of str
        Model names in cascade order (cheapest / first model first).
    queries : ndarray
        Query identifiers (the row order of every array).
    logprob : ndarray, shape (n_queries, n_models)
        Raw confidence as a log-probability (<= 0, may be 0 or -inf).
    correct : ndarray of int, shape (n_queries, n_models)
        1 if the model answered correctly.
    cost : ndarray, shape (n_queries, n_models)
        Per-query cost of each model in USD.
    name : str
        A label (e.g. the file stem).
    """

    models: tuple[str, ...]
    queries: np.ndarray
    logprob: np.ndarray
    correct: np.ndarray
    cost: np.ndarray
    name: str = ""

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        models: Sequence[str] | None = None,
        *,
        cost_column: str = "cost_usd",
        prices: Mapping[str, tuple[float, float]] | None = None,
        name: str = "",
    ) -> "CascadeData":
        """Validate a tidy long frame and align it by query.

        Parameters
        ----------
        frame : DataFrame
            One row per (query, model); see the module docstring for the columns.
        models : sequence of str, optional
            Cascade order (a subset of the frame's models is allowed). Default: by ``model_rank`` if present,
            else by ascending mean cost.
        cost_column : str
            Column with per-query cost in USD. If absent, ``tokens_in``/``tokens_out`` and ``prices`` are used.
        prices : mapping model -> (USD per 1M input tokens, USD per 1M output tokens), optional
            Used when ``cost_column`` is absent.
        name : str
            Label of the data set.
        """
        if not isinstance(frame, pd.DataFrame):
            raise DataValidationError(f"'frame' must be a pandas DataFrame, got {type(frame).__name__}")
        for col in ("query", "model", "correct"):
            if col not in frame.columns:
                raise DataValidationError(f"missing column '{col}' (columns present: {list(frame.columns)})")
        signal = next((c for c in SIGNAL_COLUMNS if c in frame.columns), None)
        if signal is None:
            raise DataValidationError(
                f"missing confidence column: need one of {SIGNAL_COLUMNS} (columns present: {list(frame.columns)})"
            )
        if len(frame) == 0:
            raise DataValidationError("no data rows (only a header)")
        if all(c in frame.columns for c in SIGNAL_COLUMNS):
            warnings.warn("both 'raw_logprob' and 'raw_prob' are present: using 'raw_logprob' and ignoring "
                          "'raw_prob'", ProbcascadeWarning, stacklevel=2)
        frame = frame.copy()
        frame["model"] = frame["model"].astype(str)
        if frame["query"].isna().any():
            row = frame.loc[frame["query"].isna()].iloc[0]
            raise DataValidationError(f"column 'query' has a missing value for model '{row['model']}'")

        # --- confidence signal
        values = _numeric(frame, signal)
        if signal == "raw_logprob":
            bad = values > 0
            if bad.any():
                row = frame.loc[bad].iloc[0]
                raise DataValidationError(
                    f"column 'raw_logprob' must be <= 0 (a log-probability) but model '{row['model']}' has "
                    f"{describe_value(row['raw_logprob'])} at query {row['query']}"
                )
            frame["_logprob"] = values
        else:
            bad = (values < 0) | (values > 1)
            if bad.any():
                row = frame.loc[bad].iloc[0]
                raise DataValidationError(
                    f"column 'raw_prob' must lie in [0, 1] but model '{row['model']}' has {describe_value(row['raw_prob'])} "
                    f"at query {row['query']}"
                )
            with np.errstate(divide="ignore"):
                frame["_logprob"] = np.log(values)

        # --- correctness
        corr = _numeric(frame, "correct")
        bad = ~np.isin(corr, (0.0, 1.0))
        if bad.any():
            row = frame.loc[bad].iloc[0]
            raise DataValidationError(
                f"column 'correct' must be 0 or 1 but model '{row['model']}' has {describe_value(row['correct'])} at query {row['query']}"
            )
        frame["_correct"] = corr.astype(np.int64)

        # --- cost
        if cost_column in frame.columns:
            cost = _numeric(frame, cost_column)
            source = cost_column
        elif {"tokens_in", "tokens_out"} <= set(frame.columns) and prices is not None:
            tin, tout = _numeric(frame, "tokens_in"), _numeric(frame, "tokens_out")
            missing = sorted(set(frame["model"]) - set(prices))
            if missing:
                raise DataValidationError(f"no prices given for model(s) {missing} (needed since '{cost_column}' is absent)")
            p_in = frame["model"].map(lambda m: float(prices[m][0])).to_numpy()
            p_out = frame["model"].map(lambda m: float(prices[m][1])).to_numpy()
            cost = (tin * p_in + tout * p_out) / 1e6
            source = "tokens_in/tokens_out"
        else:
            raise DataValidationError(
                f"missing column '{cost_column}': give per-query costs, or 'tokens_in'/'tokens_out' plus prices"
            )
        bad = ~np.isfinite(cost) | (cost < 0)
        if bad.any():
            row = frame.loc[bad].iloc[0]
            raise DataValidationError(f"cost ({source}) must be finite and >= 0 but model '{row['model']}' has "
                                      f"{describe_value(cost[bad][0])} at query {row['query']}")
        frame["_cost"] = cost

        # --- model order
        present = list(dict.fromkeys(frame["model"]))
        if models is None:
            if "model_rank" in frame.columns:
                ranks = frame.groupby("model")["model_rank"].agg(["min", "max"])
                inconsistent = ranks.index[ranks["min"] != ranks["max"]]
                if len(inconsistent):
                    raise DataValidationError(f"column 'model_rank' is not constant for model '{inconsistent[0]}'")
                order = list(ranks["min"].sort_values(kind="stable").index)
            else:
                order = list(frame.groupby("model")["_cost"].mean().sort_values(kind="stable").index)
        else:
            order = [str(m) for m in models]
            unknown = [m for m in order if m not in present]
            if unknown:
                raise DataValidationError(f"model(s) {unknown} not in the data (models present: {present})")
            if len(set(order)) != len(order):
                raise DataValidationError(f"duplicate model in cascade order {order}")
            frame = frame[frame["model"].isin(order)]

        # --- alignment by query
        dup = frame.duplicated(["query", "model"], keep=False)
        if dup.any():
            row = frame.loc[dup].iloc[0]
            raise DataValidationError(f"query {row['query']} appears more than once for model '{row['model']}'")
        all_queries = pd.Index(pd.unique(frame["query"]))
        for m in order:
            q = pd.Index(frame.loc[frame["model"] == m, "query"])
            missing = all_queries.difference(q)
            if len(missing):
                raise DataValidationError(
                    f"model '{m}' has no row for {len(missing)} quer{'y' if len(missing) == 1 else 'ies'} "
                    f"present for other models (first: {missing[0]})"
                )
        try:
            queries = np.sort(all_queries.to_numpy())
        except TypeError:
            queries = all_queries.to_numpy()

        def wide(col: str) -> np.ndarray:
            table = frame.pivot(index="query", columns="model", values=col)
            return table.loc[queries, order].to_numpy()

        return cls(
            models=tuple(order),
            queries=queries,
            logprob=wide("_logprob").astype(np.float64),
            correct=wide("_correct").astype(np.int64),
            cost=wide("_cost").astype(np.float64),
            name=name,
        )

    @classmethod
    def from_csv(cls, path: str | Path, models: Sequence[str] | None = None, **kwargs) -> "CascadeData":
        """Read a tidy long CSV (see :meth:`from_frame`). Only plain text is parsed, nothing is unpickled."""
        path = check_text_file(path)
        kwargs.setdefault("name", path.stem)
        try:
            frame = pd.read_csv(path)
        except UnicodeDecodeError as exc:
            raise DataValidationError(f"{path}: is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except pd.errors.EmptyDataError:
            raise DataValidationError(f"{path}: has no CSV header or rows") from None
        except (pd.errors.ParserError, ValueError) as exc:
            raise DataValidationError(f"{path}: is not a readable CSV ({' '.join(str(exc).split())})") from None
        try:
            return cls.from_frame(frame, models=models, **kwargs)
        except DataValidationError as exc:
            raise DataValidationError(f"{path}: {exc}") from exc

    # ------------------------------------------------------------------ views
    @property
    def n_queries(self) -> int:
        return int(self.logprob.shape[0])

    @property
    def n_models(self) -> int:
        return len(self.models)

    def __len__(self) -> int:
        return self.n_queries

    def __repr__(self) -> str:
        return f"CascadeData(name={self.name!r}, n_queries={self.n_queries}, models={list(self.models)})"

    def index(self, model: str) -> int:
        """Position of ``model`` in the cascade."""
        try:
            return self.models.index(model)
        except ValueError:
            raise DataValidationError(f"unknown model '{model}' (models: {list(self.models)})") from None

    @property
    def expected_costs(self) -> pd.Series:
        """Mean per-query cost of each model (USD), in cascade order."""
        return pd.Series(self.cost.mean(axis=0), index=list(self.models), name="expected_cost_usd")

    @property
    def accuracy(self) -> pd.Series:
        return pd.Series(self.correct.mean(axis=0), index=list(self.models), name="accuracy")

    @property
    def certainty_fraction(self) -> pd.Series:
        """Fraction of queries whose raw log-probability signals certainty (0 or -inf)."""
        cert = (self.logprob == 0.0) | np.isneginf(self.logprob)
        return pd.Series(cert.mean(axis=0), index=list(self.models), name="cert_fraction")

    def subset(self, models: Iterable[str]) -> "CascadeData":
        """The same queries restricted to (and ordered as) ``models``."""
        idx = [self.index(m) for m in models]
        return CascadeData(
            models=tuple(self.models[i] for i in idx),
            queries=self.queries,
            logprob=self.logprob[:, idx],
            correct=self.correct[:, idx],
            cost=self.cost[:, idx],
            name=self.name,
        )

    def take(self, rows: np.ndarray | Sequence[int]) -> "CascadeData":
        """A subset of queries by row position (e.g. from :func:`probcascade.data.selection.balanced_pairs_subset`)."""
        rows = np.asarray(rows)
        return CascadeData(self.models, self.queries[rows], self.logprob[rows], self.correct[rows], self.cost[rows], self.name)

    def to_frame(self) -> pd.DataFrame:
        """Tidy long frame (query, model, model_rank, raw_logprob, correct, cost_usd)."""
        n, k = self.logprob.shape
        return pd.DataFrame(
            {
                "query": np.repeat(self.queries, k),
                "model": np.tile(np.array(self.models, dtype=object), n),
                "model_rank": np.tile(np.arange(k), n),
                "raw_logprob": self.logprob.ravel(),
                "correct": self.correct.ravel(),
                "cost_usd": self.cost.ravel(),
            }
        )

    def wide(self) -> pd.DataFrame:
        """Wide view: index = query, columns = MultiIndex (field, model)."""
        parts = {
            "raw_logprob": pd.DataFrame(self.logprob, index=self.queries, columns=list(self.models)),
            "correct": pd.DataFrame(self.correct, index=self.queries, columns=list(self.models)),
            "cost_usd": pd.DataFrame(self.cost, index=self.queries, columns=list(self.models)),
        }
        out = pd.concat(parts, axis=1)
        out.index.name = "query"
        return out


def load_benchmark(directory: str | Path, stem: str, **kwargs) -> tuple[CascadeData, CascadeData]:
    """Load ``{stem}_train.csv`` and ``{stem}_test.csv`` from ``directory`` (train, test)."""
    directory = Path(directory)
    return (
        CascadeData.from_csv(directory / f"{stem}_train.csv", **kwargs),
        CascadeData.from_csv(directory / f"{stem}_test.csv", **kwargs),
    )


def load_shared(directory: str | Path) -> dict[str, CascadeData]:
    """Load every ``*.csv`` in a folder laid out like the shared benchmark data, keyed by file stem."""
    directory = Path(directory)
    files = sorted(directory.glob("*.csv"))
    if not files:
        raise DataValidationError(f"no CSV files in {directory}")
    return {f.stem: CascadeData.from_csv(f) for f in files}
