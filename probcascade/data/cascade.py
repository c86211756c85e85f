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

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence
import numpy as np
import pandas as pd
from probcascade.exceptions import DataValidationError

__all__ = ["CascadeData", "load_benchmark", "load_shared", "SIGNAL_COLUMNS"]

SIGNAL_COLUMNS = ("raw_logprob", "raw_prob")


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Column as float64, with an error naming the model and column of the first non-numeric value."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if bad.any():
        row = frame.loc[bad].iloc[0]
        raise DataValidationError(
            f"column '{column}' has a non-numeric value {row[column]!r} for model '{row.get('model', '?')}' "
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
            raise DataValidationError("'frame' has no rows")
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
                    f"{row['raw_logprob']!r} at query {row['query']}"
                )
            frame["_logprob"] = values
        else:
            bad = (values < 0) | (values > 1)
            if bad.any():
                row = frame.loc[bad].iloc[0]
                raise DataValidationError(
                    f"column 'raw_prob' must lie in [0, 1] but model '{row['model']}' has {row['raw_prob']!r} "
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
                f"column 'correct' must be 0 or 1 but model '{row['model']}' has {row['correct']!r} at query {row['query']}"
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
            raise DataValidationError(f"cost ({source}) must be finite and >= 0 but model '{row['model']}' has {cost[bad][0]!r}")
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
        path = Path(path)
        if not path.exists():
            raise DataValidationError(f"file not found: {path}")
        kwargs.setdefault("name", path.stem)
        return cls.from_frame(pd.read_csv(path), models=models, **kwargs)

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
