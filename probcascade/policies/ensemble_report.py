"""Evaluation, baselines, operating-point selection, bin-edge optimisation and the report of the binned ensemble.

* :func:`evaluate_decisions` - accuracy, macro-F1, mean cost per query, depth shares of routed queries.
* :func:`wmv_all` / :func:`single_model` - the baselines: weighted majority vote over all models (Hovsepian et al. 2024 eq. 1)
  and each model alone.
* :func:`cross_validate` - a policy's mu-sweep on repeated train/validation splits of the training data.
* :func:`select_operating_point` - the default ``mu`` (and optionally ``min_count``): the cheapest cross-validated
  sweep point whose validation accuracy matches the all-model WMV's (nothing is tuned on test data).
* :func:`optimize_edges` - optuna (TPE, seeded) over per-model bin edges (as quantile levels), objective averaged
  over repeated splits, with a tqdm progress bar on stderr.
* :func:`ensemble_report` / :func:`format_table` - the report of issue 12 (``--format json`` / ``table``).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from probcascade.exceptions import DataValidationError

from .ensemble import (
    DEFAULT_BINS, DEFAULT_FALLBACK, DEFAULT_MIN_COUNT, BinnedEnsemblePolicy, default_mus, error_cost_auc_local,
    macro_f1, strategy_outputs, train_ensemble_sweep,
)
from .ensemble_strategies import DEFAULT_STRATEGIES, STRATEGIES, Answers, encode_labels, read_answers, resolve_strategies
from .ensemble_train import Binning

__all__ = [
    "evaluate_decisions", "wmv_all", "single_model", "cv_splits", "cross_validate", "select_operating_point",
    "optimize_edges", "ensemble_report", "format_table", "load_with_answers", "MIN_COUNT_GRID",
]

#: ``min_count`` values tried when ``min_count="auto"``.
MIN_COUNT_GRID = (5, 10, 20, 40)


def load_with_answers(path: str | Path, models: Sequence[str] | None = None, **kwargs):
    """``(CascadeData, Answers)`` from one tidy CSV (the answers are read as text, see :func:`read_answers`)."""
    from probcascade import CascadeData

    data = CascadeData.from_csv(path, models=models, **kwargs)
    return data, read_answers(path, data)


# -------------------------------------------------------------------------------------------------- evaluation
def evaluate_decisions(exit_, paid, answer, gold, correct, n_models: int) -> dict[str, Any]:
    """``{accuracy, f1, cost_per_query, depth_shares}`` of routed queries (``f1`` is None without gold labels).

    Without an ``answer`` (policies answering with the exit model's own answer) correctness is ``correct[i, exit]``.
    """
    exit_ = np.asarray(exit_)
    if answer is not None and gold is not None:
        hit = np.asarray(answer).astype(str) == np.asarray(gold).astype(str)
        f1 = macro_f1(answer, gold)
    else:
        hit = np.asarray(correct)[np.arange(len(exit_)), exit_] == 1
        f1 = None
    return {"accuracy": float(hit.mean()), "f1": f1, "cost_per_query": float(np.mean(paid)),
            "depth_shares": (np.bincount(exit_, minlength=n_models) / len(exit_)).tolist()}


def wmv_all(answers: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """Weighted majority vote over all models (Hovsepian et al. 2024 eq. 1) for every query."""
    vocab, codes, _ = encode_labels(answers)
    out = strategy_outputs(codes, conf, (STRATEGIES["wmv"],), len(vocab))
    return vocab[out[:, -1, 0]]


def _metrics(answer, gold, correct_col, cost) -> dict[str, Any]:
    hit = (np.asarray(answer).astype(str) == np.asarray(gold).astype(str)) if gold is not None else correct_col == 1
    return {"accuracy": float(np.mean(hit)), "f1": macro_f1(answer, gold) if gold is not None else None,
            "cost_per_query": float(np.mean(cost))}


def single_model(answers: Answers | None, correct: np.ndarray, cost: np.ndarray, j: int) -> dict[str, Any]:
    if answers is None:
        return {"accuracy": float(np.mean(correct[:, j])), "f1": None, "cost_per_query": float(np.mean(cost[:, j]))}
    return _metrics(answers.answers[:, j], answers.gold, correct[:, j], cost[:, j])


# ------------------------------------------------------------------------------------ cross-validated sweeps
def cv_splits(n: int, n_splits: int = 10, val_frac: float = 0.2, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Repeated random train/validation splits (the seed's 10 x 80/20)."""
    if not 0 < val_frac < 1:
        raise DataValidationError(f"val_frac must lie in (0, 1), got {val_frac}")
    n_val = max(1, int(round(val_frac * n)))
    if n - n_val < 1:
        raise DataValidationError(f"too few queries ({n}) for a train/validation split")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(int(n_splits)):
        p = rng.permutation(n)
        out.append((np.sort(p[n_val:]), np.sort(p[:n_val])))
    return out


def _hits(decisions, answers: Answers | None, correct, rows):
    if decisions.answer is not None and answers is not None and answers.gold is not None:
        return decisions.answer.astype(str) == answers.gold[rows].astype(str)
    return correct[rows][np.arange(len(rows)), decisions.exit] == 1


def cross_validate(conf, correct, cost, answers: Answers | None, splits, *, mus, metric: str = "accuracy",
                   **train_kwargs) -> dict[str, np.ndarray]:
    """Train the mu-sweep on each split's training part and score it on its validation part.

    Returns ``accuracy``, ``metric`` and ``cost`` (mean cost per query) arrays of shape (n_splits, n_mus), and the
    all-model WMV's validation ``wmv_accuracy`` (n_splits,).
    """
    conf, correct = np.asarray(conf, np.float64), np.asarray(correct)
    n, k = conf.shape
    cost = np.broadcast_to(np.asarray(cost, np.float64), (n, k))
    mus = np.atleast_1d(np.asarray(mus, np.float64))
    acc = np.zeros((len(splits), len(mus)))
    val = np.zeros_like(acc)
    paid = np.zeros_like(acc)
    wmv = np.zeros(len(splits))
    w = None
    if answers is not None and answers.gold is not None:
        w = wmv_all(answers.answers, conf).astype(str) == answers.gold.astype(str)
    for s, (tr, va) in enumerate(splits):
        pols = train_ensemble_sweep(conf[tr], correct[tr], cost[tr], None if answers is None else answers.take(tr),
                                    mus=mus, **train_kwargs)
        a_va = None if answers is None else answers.answers[va]
        for m, pol in enumerate(pols):
            d = pol.route(conf[va], cost[va], a_va)
            hit = _hits(d, answers, correct, va)
            acc[s, m] = hit.mean()
            paid[s, m] = d.cost.mean()
            if metric == "f1" and d.answer is not None and answers is not None and answers.gold is not None:
                val[s, m] = macro_f1(d.answer, answers.gold[va])
            elif metric == "reward":
                val[s, m] = hit.mean() - mus[m] * d.cost.mean() / pol.cost_scale
            else:
                val[s, m] = acc[s, m]
        wmv[s] = w[va].mean() if w is not None else np.nan
    return {"accuracy": acc, "metric": val, "cost": paid, "wmv_accuracy": wmv, "mus": mus}


def select_operating_point(conf, correct, cost, answers: Answers | None, *, mus=None, min_counts=(DEFAULT_MIN_COUNT,),
                           n_splits: int = 10, val_frac: float = 0.2, seed: int = 0, target: float | str = "wmv",
                           rule: str = "first_crossing", **train_kwargs) -> dict[str, Any]:
    """The default operating point, from the training data alone.

    Every (``min_count``, ``mu``) pair is cross-validated (:func:`cross_validate`, the same splits for all); the
    choice is the pair with the lowest mean validation cost among the *eligible* ones, whose mean validation accuracy
    is at least ``target`` (``"wmv"``: the all-model weighted majority vote's mean validation accuracy on the same
    splits; or a number). ``rule="first_crossing"`` (default): for each ``min_count`` only the mus before the first
    one (in increasing order) whose accuracy falls below the target are eligible, so that a noisy late pass of the
    cross-validated curve is not picked; ``"cheapest"``: every pair reaching the target is. When none reaches it,
    the most accurate pair (ties: cheaper). Returns ``mu``, ``min_count``, ``cv_accuracy``, ``cv_cost`` (relative
    to the mean full-cascade cost), ``target_accuracy``, ``met``.
    """
    if rule not in ("first_crossing", "cheapest"):
        raise DataValidationError(f"unknown rule {rule!r} (first_crossing, cheapest)")
    conf = np.asarray(conf, np.float64)
    n, k = conf.shape
    mus = default_mus() if mus is None else np.atleast_1d(np.asarray(mus, np.float64))
    splits = cv_splits(n, n_splits, val_frac, seed)
    full = float(np.broadcast_to(np.asarray(cost, np.float64), (n, k)).sum(axis=1).mean()) or 1.0
    order = np.argsort(mus, kind="stable")
    rows, curves = [], []
    for mc in min_counts:
        cv = cross_validate(conf, correct, cost, answers, splits, mus=mus[order], min_count=int(mc), **train_kwargs)
        curves.append([(int(mc), float(mu), cv["accuracy"][:, m].mean(), cv["cost"][:, m].mean() / full)
                       for m, mu in enumerate(mus[order])])
        rows += curves[-1]
        wmv_acc = float(np.nanmean(cv["wmv_accuracy"])) if np.isfinite(cv["wmv_accuracy"]).any() else np.nan
    goal = wmv_acc if target == "wmv" else float(target)
    passes = lambda r: np.isfinite(goal) and r[2] >= goal - 1e-12
    if rule == "cheapest":
        ok = [r for r in rows if passes(r)]
    else:
        ok = []
        for curve in curves:
            for r in curve:
                if not passes(r):
                    break
                ok.append(r)
    if ok:
        best = min(ok, key=lambda r: (r[3], -r[2], -r[1]))
    else:
        best = max(rows, key=lambda r: (r[2], -r[3]))
    return {"mu": best[1], "min_count": best[0], "cv_accuracy": best[2], "cv_cost": best[3],
            "target_accuracy": goal, "met": bool(ok), "n_splits": int(n_splits), "val_frac": float(val_frac)}


# ----------------------------------------------------------------------------------------- bin-edge optimisation
def optimize_edges(conf, correct, cost, answers: Answers | None, *, bins: int | Sequence[int] = DEFAULT_BINS,
                   n_trials: int = 50, n_splits: int = 10, val_frac: float = 0.2, seed: int = 0,
                   metric: str = "accuracy", mu: float = 0.0, progress: bool = True, **train_kwargs):
    """Optimise per-model bin edges with optuna (TPE sampler seeded with ``seed``).

    Each model's ``B - 1`` edges are searched as quantile levels in (0, 1) of its training confidences (sorted, so
    any sample is a valid binning); the objective, maximised, is ``metric`` (``"accuracy"``, ``"f1"`` or
    ``"reward"`` = accuracy - mu * cost) of the policy at ``mu`` averaged over repeated train/validation splits of
    the training data. The quantile bins are enqueued as the first trial. Returns ``(Binning, info)``.
    """
    import optuna
    from tqdm.auto import tqdm

    conf = np.asarray(conf, np.float64)
    n, k = conf.shape
    counts = [int(bins)] * k if np.ndim(bins) == 0 else [int(b) for b in bins]
    splits = cv_splits(n, n_splits, val_frac, seed)
    if metric not in ("accuracy", "f1", "reward"):
        raise DataValidationError(f"unknown metric {metric!r} (accuracy, f1, reward)")

    def binning_from(levels) -> Binning:
        edges = []
        for j in range(k):
            q = np.sort(np.asarray(levels[j], dtype=np.float64))
            e = np.unique(np.quantile(conf[:, j], q)) if len(q) else np.zeros(0)
            edges.append(e[e > conf[:, j].min()])
        return Binning(tuple(edges))

    def objective(trial) -> float:
        levels = [[trial.suggest_float(f"m{j}_q{i}", 0.0, 1.0) for i in range(counts[j] - 1)] for j in range(k)]
        cv = cross_validate(conf, correct, cost, answers, splits, mus=[mu], metric=metric, edges=binning_from(levels),
                            **train_kwargs)
        trial.set_user_attr("cv_cost", float(cv["cost"].mean()))
        return float(cv["metric"].mean())

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({f"m{j}_q{i}": (i + 1) / counts[j] for j in range(k) for i in range(counts[j] - 1)})
    bar = tqdm(total=int(n_trials), desc="bin edges", file=sys.stderr, disable=not progress, leave=False)

    def tick(study_, trial_):
        bar.update(1)
        bar.set_postfix(best=f"{study_.best_value:.4f}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
        study.optimize(objective, n_trials=int(n_trials), callbacks=[tick])
    bar.close()
    best = study.best_params
    levels = [[best[f"m{j}_q{i}"] for i in range(counts[j] - 1)] for j in range(k)]
    return binning_from(levels), {"best_value": float(study.best_value), "n_trials": len(study.trials),
                                  "quantile_value": float(study.trials[0].value), "metric": metric, "mu": float(mu)}


# ------------------------------------------------------------------------------------------------------ report
def _need_answers(answers, which: str, strategies) -> None:
    if answers is None and any(s.needs_answers for s in resolve_strategies(strategies)):
        raise DataValidationError(f"{which}: the ensemble needs the models' answers (column 'answer'); pass "
                                  f"{which}_answers=read_answers(csv, data), or use strategies=('last',)")


def _policy_block(policy: BinnedEnsemblePolicy, conf, data, answers) -> dict[str, Any]:
    d = policy.route(conf, data.cost, None if answers is None else answers.answers)
    return evaluate_decisions(d.exit, d.cost, d.answer, None if answers is None else answers.gold, data.correct,
                              data.n_models)


def ensemble_report(train, test, *, train_answers: Answers | None = None, test_answers: Answers | None = None,
                    bins: int | Sequence[int] = DEFAULT_BINS, optimize_bins: int = 0, seed: int = 0,
                    mu: float | str = "auto", min_count: int | str = DEFAULT_MIN_COUNT, fallback: str = DEFAULT_FALLBACK,
                    strategies: Sequence[str] = DEFAULT_STRATEGIES, mus=None, n_splits: int = 10,
                    calibration=None, rational=None, metric: str = "accuracy", progress: bool = False,
                    details: bool = False) -> dict[str, Any]:
    """Train the calibrated cascading ensemble on ``train``, score it and its baselines on ``test``.

    ``train``/``test``: :class:`~probcascade.CascadeData`; ``*_answers``: their :class:`Answers`
    (:func:`read_answers` / :func:`load_with_answers`; CascadeData does not keep answers). Confidences are
    calibrated with ``calibration`` (default ``calibrate(train)``). ``mu="auto"`` / ``min_count="auto"``: chosen by
    :func:`select_operating_point` on ``train`` only (``n_splits`` x 80/20, ``seed``); ``optimize_bins=N`` runs
    :func:`optimize_edges` for N optuna trials (on ``train``, at the chosen ``mu``) instead of quantile bins.
    ``rational``: optional ``(cost_per_query, accuracy)`` test points of the rational-tuning frontier of the same
    cascade, for the AUCs (error vs cost, local helper :func:`error_cost_auc_local`).

    Returns exactly the issue's JSON structure: ``policy`` (accuracy, f1, cost_per_query, depth_shares), ``wmv``,
    ``single`` (per model), ``sweep`` ([cost_per_query, accuracy] per mu), ``rational_auc_same_range``,
    ``policy_auc``; with ``details=True`` also ``uncalibrated`` (policy and WMV on raw probabilities) and
    ``settings``.
    """
    from probcascade import calibrate

    if tuple(train.models) != tuple(test.models):
        raise DataValidationError(f"train and test models differ: {list(train.models)} vs {list(test.models)}")
    _need_answers(train_answers, "train", strategies)
    _need_answers(test_answers, "test", strategies)
    cal = calibration if calibration is not None else calibrate(train)
    p_tr, p_te = cal.predict(train), cal.predict(test)
    mus = default_mus() if mus is None else np.atleast_1d(np.asarray(mus, np.float64))
    common = dict(strategies=strategies, fallback=fallback)

    def fit(conf_tr, edges=None):
        kw = dict(common, bins=bins) if edges is None else dict(common, edges=edges)
        op = None
        mu_, mc_ = mu, min_count
        if mu == "auto" or min_count == "auto":
            op = select_operating_point(conf_tr, train.correct, train.cost, train_answers, mus=mus if mu == "auto" else [mu],
                                        min_counts=MIN_COUNT_GRID if min_count == "auto" else (int(min_count),),
                                        n_splits=n_splits, seed=seed, **kw)
            mu_, mc_ = op["mu"], op["min_count"]
        sweep = train_ensemble_sweep(conf_tr, train.correct, train.cost, train_answers, mus=mus, min_count=int(mc_),
                                     models=train.models, **kw)
        policy = train_ensemble_sweep(conf_tr, train.correct, train.cost, train_answers, mus=[float(mu_)],
                                      min_count=int(mc_), models=train.models, **kw)[0]
        return policy, sweep, op

    edges_info = None
    policy, sweep, op = fit(p_tr)
    if optimize_bins:
        binning, edges_info = optimize_edges(p_tr, train.correct, train.cost, train_answers, bins=bins,
                                             n_trials=optimize_bins, n_splits=n_splits, seed=seed, metric=metric,
                                             mu=policy.mu, min_count=policy.min_count, progress=progress, **common)
        policy, sweep, op = fit(p_tr, edges=binning)          # operating point re-selected for the new edges

    gold = None if test_answers is None else test_answers.gold
    report: dict[str, Any] = {"policy": _policy_block(policy, p_te, test, test_answers)}
    full = test.cost.sum(axis=1)
    if test_answers is not None:
        report["wmv"] = dict(_metrics(wmv_all(test_answers.answers, p_te), gold, None, full),
                             depth_shares=[0.0] * (test.n_models - 1) + [1.0])
    else:
        report["wmv"] = None
    report["single"] = {m: single_model(test_answers, test.correct, test.cost, j) for j, m in enumerate(test.models)}
    pts = []
    for pol in sweep:
        b = _policy_block(pol, p_te, test, test_answers)
        pts.append([b["cost_per_query"], b["accuracy"]])
    report["sweep"] = pts
    if rational is not None:
        rc, ra = (np.asarray(x, np.float64) for x in rational)
        sc, sa = np.asarray(pts).T
        auc_p, auc_r, lo, hi = error_cost_auc_local(sc, 1 - sa, rc, 1 - ra)
        report["rational_auc_same_range"], report["policy_auc"] = auc_r, auc_p
    else:
        report["rational_auc_same_range"], report["policy_auc"] = None, None
    if details:
        raw_tr, raw_te = np.exp(train.logprob), np.exp(test.logprob)
        upol, _, uop = fit(raw_tr)                             # same procedure on raw probabilities
        report["uncalibrated"] = {
            "policy": _policy_block(upol, raw_te, test, test_answers),
            "wmv": None if test_answers is None else _metrics(wmv_all(test_answers.answers, raw_te), gold, None, full),
        }
        report["settings"] = {
            "models": list(train.models), "n_train": train.n_queries, "n_test": test.n_queries,
            "bins": list(policy.binning.n_bins), "edges": policy.binning.to_list(), "mu": policy.mu,
            "min_count": policy.min_count, "fallback": policy.fallback, "strategies": list(policy.strategies),
            "seed": seed, "cost_scale": policy.cost_scale, "mus": mus.tolist(), "operating_point": op,
            "uncalibrated_operating_point": uop,
            "optimize_bins": edges_info,
            "auc_range": None if rational is None else [lo, hi],
        }
    return report


def _fmt(x, spec: str) -> str:
    width = int(spec.split(".")[0]) if spec[0].isdigit() else 0
    return "-".rjust(width) if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def format_table(report: dict[str, Any]) -> str:
    """Plain-text table of an :func:`ensemble_report` (USD cost per query; cost relative to WMV in parentheses)."""
    wmv = report.get("wmv")
    ref = wmv["cost_per_query"] if wmv else None
    rows = [("policy (calibrated)", report["policy"])]
    unc = report.get("uncalibrated") or {}
    if unc.get("policy"):
        rows.append(("policy (uncalibrated)", unc["policy"]))
    if wmv:
        rows.append(("WMV all models", wmv))
    if unc.get("wmv"):
        rows.append(("WMV (uncalibrated)", unc["wmv"]))
    rows += [(m, v) for m, v in report["single"].items()]
    w = max(len(r[0]) for r in rows)
    lines = [f"{'':{w}}  accuracy  macro-F1  cost/query (USD)  vs WMV", "-" * (w + 46)]
    for name, b in rows:
        rel = f"{b['cost_per_query'] / ref:6.1%}" if ref else "-".rjust(6)
        lines.append(f"{name:{w}}  {_fmt(b['accuracy'], '8.4f')}  {_fmt(b['f1'], '8.4f')}  "
                     f"{_fmt(b['cost_per_query'], '16.3e')}  {rel}")
    shares = report["policy"]["depth_shares"]
    lines += ["", "policy: share of queries stopping at depth " +
              ", ".join(f"{i + 1}: {s:.1%}" for i, s in enumerate(shares))]
    st = report.get("settings")
    if st:
        lines.append(f"policy settings: bins {st['bins']}, mu {st['mu']:.4g}, min_count {st['min_count']}, "
                     f"fallback {st['fallback']}, seed {st['seed']}")
    lines.append(f"mu sweep: {len(report['sweep'])} points, cost/query {min(p[0] for p in report['sweep']):.3e} .. "
                 f"{max(p[0] for p in report['sweep']):.3e}, accuracy {min(p[1] for p in report['sweep']):.4f} .. "
                 f"{max(p[1] for p in report['sweep']):.4f}")
    if report.get("policy_auc") is not None:
        lines.append(f"AUC (error vs cost, common cost range): policy sweep {report['policy_auc']:.4f}, "
                     f"rational tuning {report['rational_auc_same_range']:.4f}")
    return "\n".join(lines)
