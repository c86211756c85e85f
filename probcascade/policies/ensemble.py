"""Cost-aware cascading ensemble over binned confidences (Hovsepian et al. 2024 §3, Algorithms 1 and 2) as a :class:`Policy`.

Models are consulted from the cheapest on. After ``d`` models a query's confidences are binned per model into the
nested key ``(b_1, ..., b_d)``; a trained look-up table says, per key, either *answer now* with one of the answer
strategies (:mod:`.ensemble_strategies`: last model, plurality vote, weighted majority vote, most confident) or
*GoDeeper* (ask the next model). Training is :mod:`.ensemble_train` (Algorithm 1 as a vectorised JAX reduction,
with a plain-Python reference); inference (Algorithm 2) is :meth:`BinnedEnsemblePolicy.route`, vectorised over
queries. The report, baselines and bin-edge optimisation are in :mod:`.ensemble_report`.

Typical use::

    from probcascade import calibrate, load_benchmark
    from probcascade.policies.ensemble import read_answers, train_ensemble

    train, test = load_benchmark(DIR, "mmlu_llama")
    ans_tr, ans_te = read_answers(DIR / "mmlu_llama_train.csv", train), read_answers(DIR / "mmlu_llama_test.csv", test)
    cal = calibrate(train)
    policy = train_ensemble(cal.predict(train), train.correct, train.cost, ans_tr, models=train.models)
    decisions = policy.route(cal.predict(test), test.cost, ans_te.answers)   # exit, cost, answer per query
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from probcascade.exceptions import DataValidationError
from probcascade.policies.threshold import per_query_costs

from .base import Decisions
from .ensemble_strategies import (
    DEFAULT_STRATEGIES, STRATEGIES, Answers, Strategy, encode_labels, gold_codes, label_strings, read_answers,
    register_strategy, require_answers, resolve_strategies,
)
from .ensemble_train import (
    FALLBACKS, GO_DEEPER, Binning, TrainingProblem, algorithm1_reference, build_problem, train_core, train_reference,
)

__all__ = [
    "BinnedEnsemblePolicy", "train_ensemble", "train_ensemble_sweep", "default_mus", "prepare_training",
    "strategy_outputs", "Binning", "Answers", "read_answers", "STRATEGIES", "DEFAULT_STRATEGIES", "Strategy",
    "register_strategy", "train_reference", "algorithm1_reference", "macro_f1", "error_cost_auc_local",
    "DEFAULT_MIN_COUNT", "DEFAULT_BINS", "DEFAULT_FALLBACK", "FALLBACKS",
]

DEFAULT_BINS = 5
#: Cells with fewer training queries take the decision of their longest context with enough data (see
#: :mod:`.ensemble_train`); 20 as in rpart's ``minsplit``. Chosen, with the suffix fallback, by nested
#: cross-validation on the training splits only (experiments/results/ensemble_llama.md).
DEFAULT_MIN_COUNT = 20
DEFAULT_FALLBACK = "suffix"


def default_mus(n: int = 32, lo: float = 1e-3, hi: float = 30.0) -> np.ndarray:
    """The default cost-weight sweep: 0 and ``n - 1`` log-spaced values in [lo, hi] (hits per full-cascade cost)."""
    return np.concatenate([[0.0], np.geomspace(lo, hi, n - 1)]) if n > 1 else np.zeros(1)


# --------------------------------------------------------------------------------------------------- helpers
def _as_cost(cost, n: int, k: int) -> np.ndarray:
    return per_query_costs(cost, n, k)


def _as_answers(answers, gold, n: int, k: int):
    if isinstance(answers, Answers):
        answers, gold = answers.answers, answers.gold if gold is None else gold
    if answers is None:
        return None, None
    a = label_strings(answers)
    if a.shape != (n, k):
        raise DataValidationError(f"answers must have shape ({n}, {k}), got {a.shape}")
    if gold is not None:
        gold = label_strings(gold)
        if gold.shape != (n,):
            raise DataValidationError(f"gold must have shape ({n},), got {gold.shape}")
    return a, gold


@partial(jax.jit, static_argnames=("fns", "n_labels"))
def _outputs(codes, conf, fns, n_labels):
    K = codes.shape[1]
    return jnp.stack([jnp.stack([fn(codes[:, : d + 1], conf[:, : d + 1], n_labels) for fn in fns], axis=1)
                      for d in range(K)], axis=1)


def strategy_outputs(codes: np.ndarray, conf: np.ndarray, strategies: Sequence[Strategy], n_labels: int) -> np.ndarray:
    """(n, K, S) label code answered by each strategy on the first d + 1 models (one jitted call).

    The label axis is padded to a power of two (unused labels get no votes, so no strategy picks them), so data
    sets with different label counts share compilations.
    """
    width = max(8, 1 << (max(int(n_labels), 1) - 1).bit_length())
    with jax.enable_x64(True):
        return np.asarray(_outputs(jnp.asarray(codes, jnp.int32), jnp.asarray(conf, jnp.float64),
                                   tuple(s.fn for s in strategies), width))


def prepare_training(conf, correct, cost, answers=None, gold=None, *, binning: Binning,
                     strategies: Sequence[Strategy], min_count: int, cost_scale: float | None = None,
                     fallback: str = DEFAULT_FALLBACK):
    """Arrays for the trainer: ``(TrainingProblem, cost_scale)``. Hits compare answers with gold labels (derived
    from ``correct`` when there is no gold column); without answers only ``needs_answers=False`` strategies
    (``last``) are allowed and their hits are ``correct``."""
    conf = np.asarray(conf, dtype=np.float64)
    correct = np.asarray(correct)
    n, k = conf.shape
    if correct.shape != (n, k):
        raise DataValidationError(f"correct must have shape {conf.shape}, got {correct.shape}")
    if binning.n_models != k:
        raise DataValidationError(f"the binning has {binning.n_models} models, the data {k}")
    if int(min_count) < 1:
        raise DataValidationError(f"min_count must be >= 1, got {min_count}")
    c = _as_cost(cost, n, k)
    a, gold = _as_answers(answers, gold, n, k)
    require_answers(strategies, a, "training")
    if a is None:
        hits = np.repeat(correct.astype(np.float64)[:, :, None], len(strategies), axis=2)
    else:
        vocab, codes, gcodes = encode_labels(a, gold)
        g = gold_codes(codes, correct, gcodes)
        hits = (strategy_outputs(codes, conf, strategies, len(vocab)) == g[:, None, None]).astype(np.float64)
    if cost_scale is None:
        cost_scale = float(c.sum(axis=1).mean())
    if not cost_scale > 0:
        cost_scale = 1.0
    cum = np.cumsum(c, axis=1) / cost_scale
    return build_problem(binning.context_keys(conf, fallback), hits, cum, int(min_count)), cost_scale


# ------------------------------------------------------------------------------------------------------ policy
@dataclass(frozen=True, eq=False)
class BinnedEnsemblePolicy:
    """A trained cascading ensemble (Hovsepian et al. 2024 Algorithm 2 applies it; :func:`train_ensemble` trains it).

    decisions[d, a, c] : at depth ``d + 1`` (models ``0..d`` consulted), for the ``c``-th occupied training context
        of level ``a`` (``context_keys[d][a][c]``): ``-1`` GoDeeper, ``s >= 0`` answer with ``strategies[s]``.
    A query at depth ``d + 1`` uses its longest context (prefix of its nested key with ``fallback="prefix"``)
    seen at least ``min_count`` times in training.
    """

    kind: ClassVar[str] = "binned_ensemble"
    models: tuple[str, ...]
    binning: Binning
    strategies: tuple[str, ...]
    context_keys: tuple[tuple[np.ndarray, ...], ...]
    context_counts: tuple[tuple[np.ndarray, ...], ...]
    decisions: np.ndarray
    mu: float = 0.0
    min_count: int = DEFAULT_MIN_COUNT
    cost_scale: float = 1.0
    fallback: str = DEFAULT_FALLBACK

    @property
    def n_models(self) -> int:
        return len(self.models)

    def _lookup(self, conf: np.ndarray) -> np.ndarray:
        """(n, K) decision of every query at every depth (Algorithm 2's table look-ups, vectorised)."""
        ckeys = self.binning.context_keys(conf, self.fallback)
        n, K = ckeys.shape[0], self.n_models
        out = np.empty((n, K), dtype=np.int64)
        rows = np.arange(n)
        for d in range(K):                              # loops over depth and level only
            pos = np.zeros((d + 2, n), dtype=np.int64)
            ok = np.ones((d + 2, n), dtype=bool)
            for a in range(1, d + 2):
                ck, cnt = self.context_keys[d][a], self.context_counts[d][a]
                pc = np.minimum(np.searchsorted(ck, ckeys[:, d, a]), len(ck) - 1)
                pos[a] = pc
                ok[a] = (ck[pc] == ckeys[:, d, a]) & (cnt[pc] >= self.min_count)
            level = np.cumprod(ok[1:], axis=0).sum(axis=0)                    # longest non-tiny context
            out[:, d] = self.decisions[d, level, pos[level, rows]]
        return out

    def exits(self, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(exit depth index (0-based), strategy index) of every query."""
        dec = self._lookup(np.asarray(conf, dtype=np.float64))
        dec[:, -1] = np.maximum(dec[:, -1], 0)
        stop = dec >= 0
        exit_ = np.argmax(stop, axis=1)
        return exit_, dec[np.arange(len(dec)), exit_]

    def route(self, conf: np.ndarray, cost: np.ndarray, answers: np.ndarray | None = None) -> Decisions:
        """Algorithm 2 for every query: ``Decisions(exit, cost, answer)``.

        ``conf`` (n, K) confidences of the kind the policy was trained on (calibrated, usually); ``cost`` (n, K)
        or (K,); ``answers`` (n, K) the models' answers (an :class:`Answers` is accepted). ``answer`` is ``None``
        when the policy only uses the last model's answer and no answers are given (then it is the exit model's).
        """
        conf = np.asarray(conf, dtype=np.float64)
        if conf.ndim != 2 or conf.shape[1] != self.n_models:
            raise DataValidationError(f"conf must have shape (n, {self.n_models}), got {conf.shape}")
        n = conf.shape[0]
        c = _as_cost(cost, n, self.n_models)
        a, _ = _as_answers(answers, None, n, self.n_models)
        strategies = resolve_strategies(self.strategies)
        require_answers(strategies, a, f"policy (strategies {list(self.strategies)})")
        exit_, strat = self.exits(conf)
        paid = np.cumsum(c, axis=1)[np.arange(n), exit_]
        if a is None:
            return Decisions(exit_, paid, None)
        vocab, codes, _ = encode_labels(a)
        out = strategy_outputs(codes, conf, strategies, len(vocab))
        return Decisions(exit_, paid, vocab[out[np.arange(n), exit_, strat]])

    def decision_table(self) -> list[dict[str, Any]]:
        """The trained look-up table, one row per (depth, level, occupied context), for inspection."""
        rows = []
        for d in range(self.n_models):
            for a in range(d + 2):
                for c, key in enumerate(self.context_keys[d][a]):
                    dec = int(self.decisions[d, a, c])
                    rows.append({"depth": d + 1, "level": a, "key": int(key), "count": int(self.context_counts[d][a][c]),
                                 "decision": "GoDeeper" if dec == GO_DEEPER else self.strategies[dec]})
        return rows

    def to_dict(self) -> dict[str, Any]:
        K = self.n_models
        return {
            "kind": self.kind, "models": list(self.models), "edges": self.binning.to_list(),
            "strategies": list(self.strategies), "mu": float(self.mu), "min_count": int(self.min_count),
            "cost_scale": float(self.cost_scale), "fallback": self.fallback,
            "context_keys": [[self.context_keys[d][a].tolist() for a in range(d + 2)] for d in range(K)],
            "context_counts": [[self.context_counts[d][a].tolist() for a in range(d + 2)] for d in range(K)],
            "decisions": [[self.decisions[d, a, : len(self.context_keys[d][a])].tolist() for a in range(d + 2)]
                          for d in range(K)],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BinnedEnsemblePolicy":
        if d.get("kind") != cls.kind:
            raise DataValidationError(f"not a {cls.kind} policy: kind={d.get('kind')!r}")
        K = len(d["models"])
        pad = lambda rows: tuple(tuple(np.asarray(r, dtype=np.int64) for r in levels) +
                                 tuple(np.zeros(0, np.int64) for _ in range(K + 1 - len(levels))) for levels in rows)
        keys, counts = pad(d["context_keys"]), pad(d["context_counts"])
        width = max(len(k) for levels in keys for k in levels)
        dec = np.full((K, K + 1, width), -2, dtype=np.int32)
        for depth, levels in enumerate(d["decisions"]):
            for a, row in enumerate(levels):
                dec[depth, a, : len(row)] = row
        return cls(tuple(d["models"]), Binning(tuple(np.asarray(e) for e in d["edges"])), tuple(d["strategies"]),
                   keys, counts, dec, float(d["mu"]), int(d["min_count"]), float(d["cost_scale"]),
                   d.get("fallback", DEFAULT_FALLBACK))

    def __repr__(self) -> str:
        return (f"BinnedEnsemblePolicy(models={list(self.models)}, bins={list(self.binning.n_bins)}, mu={self.mu:g}, "
                f"min_count={self.min_count}, fallback={self.fallback!r}, strategies={list(self.strategies)})")


# ---------------------------------------------------------------------------------------------------- training
def _policies(problem: TrainingProblem, mus: np.ndarray, models, binning, strategies, min_count, cost_scale, fallback):
    decs = train_core(problem, mus)[0]
    width = max(len(k) for levels in problem.context_keys for k in levels)
    return [BinnedEnsemblePolicy(tuple(models), binning, tuple(s.name for s in strategies), problem.context_keys,
                                 problem.context_counts, decs[m, :, :, :width].copy(), float(mu), int(min_count),
                                 float(cost_scale), fallback) for m, mu in enumerate(mus)]


def _setup(conf, models, bins, edges, strategies):
    conf = np.asarray(conf, dtype=np.float64)
    if conf.ndim != 2 or conf.shape[0] == 0:
        raise DataValidationError(f"conf must be a non-empty (n_queries, n_models) array, got shape {conf.shape}")
    k = conf.shape[1]
    models = tuple(models) if models is not None else tuple(f"model_{j}" for j in range(k))
    if len(models) != k:
        raise DataValidationError(f"{len(models)} model names for {k} models")
    binning = edges if isinstance(edges, Binning) else (Binning(tuple(edges)) if edges is not None
                                                       else Binning.quantile(conf, bins))
    return conf, models, binning, resolve_strategies(strategies)


def train_ensemble_sweep(conf, correct, cost, answers=None, gold=None, *, mus=None, models: Sequence[str] | None = None,
                         bins: int | Sequence[int] = DEFAULT_BINS, edges=None,
                         strategies: Sequence[str] = DEFAULT_STRATEGIES, min_count: int = DEFAULT_MIN_COUNT,
                         cost_scale: float | None = None, fallback: str = DEFAULT_FALLBACK) -> list[BinnedEnsemblePolicy]:
    """Train one policy per cost weight ``mu`` (one vmapped JAX call); see :func:`train_ensemble`."""
    conf, models, binning, strats = _setup(conf, models, bins, edges, strategies)
    mus = default_mus() if mus is None else np.atleast_1d(np.asarray(mus, dtype=np.float64))
    if not np.all(np.isfinite(mus)) or (mus < 0).any():
        raise DataValidationError("mu values must be finite and >= 0")
    problem, scale = prepare_training(conf, correct, cost, answers, gold, binning=binning, strategies=strats,
                                      min_count=min_count, cost_scale=cost_scale, fallback=fallback)
    return _policies(problem, mus, models, binning, strats, min_count, scale, fallback)


def train_ensemble(conf, correct, cost, answers=None, gold=None, *, mu: float = 0.0, models: Sequence[str] | None = None,
                   bins: int | Sequence[int] = DEFAULT_BINS, edges=None, strategies: Sequence[str] = DEFAULT_STRATEGIES,
                   min_count: int = DEFAULT_MIN_COUNT, cost_scale: float | None = None,
                   fallback: str = DEFAULT_FALLBACK) -> BinnedEnsemblePolicy:
    """Train a binned cascading ensemble (Hovsepian et al. 2024 Algorithm 1).

    Parameters
    ----------
    conf : (n, K) confidences (calibrated, usually) in cascade order; correct : (n, K) 0/1;
    cost : (n, K) or (K,) per-model costs; answers : (n, K) answers or :class:`Answers`; gold : (n,) gold labels
        (default: ``answers.gold``, else derived from ``correct``).
    mu : cost weight: reward = hits - mu * paid cost / cost_scale (``cost_scale``: the mean full-cascade cost per
        training query unless given). ``0``: the seed's hits reward.
    bins : bins per model (quantile bins of ``conf``), or ``edges``: per-model interior edges or a :class:`Binning`.
    strategies : names in :data:`STRATEGIES` (ties between equally rewarded strategies go to the earlier one).
    min_count : cells with fewer training queries take the decision of their longest context with enough data.
    fallback : the context chain of that fallback: ``"prefix"`` (the parent cells of the nested bins) or
        ``"suffix"`` (drop the earliest models' bins first); see :mod:`.ensemble_train`.
    """
    return train_ensemble_sweep(conf, correct, cost, answers, gold, mus=[mu], models=models, bins=bins, edges=edges,
                                strategies=strategies, min_count=min_count, cost_scale=cost_scale,
                                fallback=fallback)[0]


# ----------------------------------------------------------------------------------------------------- metrics
def macro_f1(pred, gold) -> float:
    """Macro-F1 over the gold label set (answers outside it are misses, never a class of their own)."""
    pred, gold = label_strings(pred).astype(str), label_strings(gold).astype(str)
    if pred.shape != gold.shape or pred.ndim != 1 or pred.size == 0:
        raise DataValidationError(f"pred and gold must be non-empty and of equal length, got {pred.shape}, {gold.shape}")
    labels, g = np.unique(gold, return_inverse=True)
    p = np.searchsorted(labels, pred)
    p = np.where((p < len(labels)) & (labels[np.minimum(p, len(labels) - 1)] == pred), p, -1)
    L = len(labels)
    tp = np.bincount(g[p == g], minlength=L)
    fp = np.bincount(p[(p >= 0) & (p != g)], minlength=L)
    fn = np.bincount(g[p != g], minlength=L)
    denom = 2 * tp + fp + fn
    return float(np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)))


def error_cost_auc_local(cost_a, err_a, cost_b, err_b) -> tuple[float, float, float, float]:
    """The project's AUC (:func:`probcascade.evaluation.error_cost_auc`: error vs cost on the common cost range,
    linear interpolation, normalised by the range), with NaNs instead of an error when the two cost ranges do not
    overlap in an interval. Returns ``(auc_a, auc_b, lo, hi)``."""
    from probcascade.evaluation.auc import error_cost_auc

    xa, xb = np.asarray(cost_a, np.float64).ravel(), np.asarray(cost_b, np.float64).ravel()
    if xa.size == 0 or xb.size == 0:
        raise DataValidationError("a curve needs equally many finite costs and errors (at least one)")
    lo, hi = max(xa.min(), xb.min()), min(xa.max(), xb.max())
    if not hi > lo:
        return float("nan"), float("nan"), float(lo), float(hi)
    return tuple(float(v) for v in error_cost_auc(cost_a, err_a, cost_b, err_b))
