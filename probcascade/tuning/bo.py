"""The Bayesian-optimisation baseline of §4.4 of the study: per cost sensitivity lambda, minimise the training
objective of eq. 11 over the thresholds with optuna, then infill the optima (eq. 13).

Threshold vectors are scored *empirically* on the training data (accuracy and expected cost of the routed queries),
as in the study. The study used HEBO; optuna stands in for it (its GP sampler when torch is installed, TPE
otherwise) because HEBO would make torch a dependency. optuna is an optional extra (``bo``), imported only when
this tuner runs. The result is a :class:`~probcascade.tuning.frontier.Frontier`, like the rational tuner's.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Sequence
import jax
import jax.numpy as jnp
import numpy as np
from probcascade.precision import x64
from probcascade.evaluation.routing import route_one, route
from probcascade.exceptions import DataValidationError
from probcascade.tuning.frontier import Frontier, empirical_cdf, infill
from probcascade.tuning.grid import check_tuning_inputs
from probcascade.validation import check_array, check_choice, check_int, check_probability

__all__ = ["bayesian_optimization"]

# ------------------------------------------------------------------------------------- Bayesian optimisation
def _optuna():
    try:
        import optuna
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "bayesian_optimization needs optuna: install the 'bo' extra, pip install 'probcascade[bo]'"
        ) from exc
    return optuna


@x64
def bayesian_optimization(
    conf,
    correct,
    expected_costs,
    lambdas,
    n_trials: int = 100,
    seed: int = 0,
    infill_q: float | None = 0.1,
    models: Sequence[str] | None = None,
    accuracy: str = "confidence",
    sampler: str = "auto",
) -> "Frontier":
    """Bayesian-optimisation baseline (§4.4 of the study): per lambda, minimise the training objective of eq. 11.

    For every cost sensitivity ``lam`` the empirical objective ``(1 - accuracy) + lam * cost`` on the training data
    is minimised over thresholds in the box of observed training confidences with optuna.  The study used HEBO
    (a GP-based optimiser, four parallel suggestions per iteration, run until the loss changed by < 1e-5); HEBO is
    not a dependency here, so this uses optuna's GP sampler when its backend (torch) is installed and otherwise
    its TPE sampler, seeded (``seed + index of lam``).  Each study starts from the previous lambda's optimum
    (``enqueue_trial``), which keeps the frontier close to monotone.  Finally the optima are infilled (eq. 13) with
    the empirical training cdfs at ``infill_q`` and every vector is scored on the training data.

    The loop over lambdas is a Python loop: black-box optimisation is sequential, there is nothing to vmap.

    Parameters
    ----------
    conf, correct, expected_costs
        As in :func:`~probcascade.tuning.grid.grid_search`.
    lambdas : array_like, shape (L,)
        Cost sensitivities (in error per unit of cost; with costs in USD per query, useful values are of order
        ``1 / (cost of the last model)``, e.g. ``np.geomspace(1e2, 1e6, 20)`` for the Llama data).
    n_trials : int
        Objective evaluations per lambda.
    seed : int
        Base seed of the samplers.
    infill_q : float or None
        Probability-mass gap for infilling; None skips it.
    models, accuracy
        As in :func:`~probcascade.tuning.grid.grid_search`.
    sampler : {"auto", "gp", "tpe"}
        ``"auto"``: GP when torch is importable, else TPE.

    Returns
    -------
    Frontier
        One row per optimum (``lam`` set) and per infilled vector (``lam`` NaN), in order of increasing lambda;
        ``p_correct``/``e_cost`` are training values.  ``info`` records the sampler, ``n_trials`` and ``time_s``.
    """
    optuna = _optuna()
    start = time.perf_counter()
    conf, _, weight, costs, models = check_tuning_inputs(conf, correct, expected_costs, models, accuracy)
    k = conf.shape[1]
    lams = np.sort(check_array(lambdas, "lambdas", low=0.0).ravel())
    if lams.size == 0:
        raise DataValidationError("'lambdas' is empty: at least one cost sensitivity is needed")
    check_int(n_trials, "n_trials", low=1)
    check_int(seed, "seed", low=0)
    check_probability(infill_q, "infill_q", allow_none=True)
    check_choice(sampler, "sampler", ("auto", "gp", "tpe"))
    if sampler == "auto":
        sampler = "gp" if importlib.util.find_spec("torch") is not None else "tpe"

    c_j, w_j = jnp.asarray(conf), jnp.asarray(weight)
    cum = jnp.broadcast_to(jnp.cumsum(jnp.asarray(costs)), conf.shape)
    score = jax.jit(lambda t: route_one(c_j, w_j, cum, t)[:2])
    lo, hi = conf[:, : k - 1].min(axis=0), conf[:, : k - 1].max(axis=0)
    names = [f"threshold_{i + 1}" for i in range(k - 1)]

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    best: list[np.ndarray] = []
    try:
        for idx, lam in enumerate(lams):
            make = optuna.samplers.GPSampler if sampler == "gp" else optuna.samplers.TPESampler
            study = optuna.create_study(direction="minimize", sampler=make(seed=seed + idx))
            if best:
                study.enqueue_trial(dict(zip(names, best[-1])))

            def objective(trial, lam=lam):
                t = np.array([trial.suggest_float(nm, lo[i], hi[i]) for i, nm in enumerate(names)])
                err, cost = score(jnp.asarray(t))
                return float(err) + float(lam) * float(cost)

            study.optimize(objective, n_trials=n_trials)
            best.append(np.array([study.best_params[nm] for nm in names]))
    finally:
        optuna.logging.set_verbosity(verbosity)

    thr = np.vstack(best)
    lam_col = lams.copy()
    if infill_q is not None:
        cdfs = [empirical_cdf(conf[:, i]) for i in range(k - 1)]
        thr, src = infill(thr, cdfs, q=infill_q, return_index=True)
        lam_col = np.where(src >= 0, lams[np.maximum(src, 0)], np.nan)
    r = route(conf, weight, costs, thr)
    info = {"sampler": sampler, "n_trials": n_trials, "time_s": time.perf_counter() - start, "accuracy": accuracy}
    return Frontier.from_arrays(thr, 1.0 - r.error, r.cost, lam_col, models, "bayesian_optimization", info)
