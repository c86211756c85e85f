"""Sweeps over many sub-cascades, mapped onto Dask tasks (or run in this process) with the JAX work inside each task.

:func:`sweep_subcascades` tunes every sub-cascade of a fitted :class:`~probcascade.MarkovCopulaModel` (rational tuning,
:func:`probcascade.tune`'s frontier) and picks the best sub-cascade per cost budget
(:func:`probcascade.tuning.rational.best_subcascade`). With ``client=None`` it runs in this process; with a
``dask.distributed.Client`` the fitted model is scattered to every worker once and each task tunes one chunk of
sub-cascades there. Both paths run the same chunk function, so they return the same objects (a dict of
:class:`~probcascade.Frontier` in sub-cascade order and the best-per-budget table). A task tunes its chunk with
:func:`probcascade.tuning.rational.tune_many`: the chunk's sub-cascades (one length) in one stacked solve. Batched
arithmetic rounds differently for another batch shape (and a Pareto filter can then keep another point), so the
numbers are the same where the chunks are: the default chunks depend on the worker threads (below), and
``threads=`` cuts them for a given count, e.g. to reproduce a cluster's run in this process.

Chunking rule: sub-cascades are grouped by length (one length: the same compiled programs, and one batch for a
solver that stacks all cascades of a length); each length is split into ``ceil(n_k / chunk_size)`` consecutive
chunks, by default ``chunk_size = ceil(n_k / (4 * threads))`` with ``threads`` the cluster's total worker threads
(1 in process): about four tasks per thread and length, so that a slow chunk does not leave the other workers idle
at the end, while each task still amortises its scheduling (milliseconds) over many solves (tens of ms each).

Workers: one XLA thread per worker process (:func:`worker_env`: ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1`` and the BLAS/OpenMP thread counts set to 1), so that ``n`` single-threaded
workers share ``n`` cores instead of each spawning a thread pool over all of them. :func:`local_cluster` starts
such workers (set in the worker's environment before it starts, since XLA reads the flags once per process); on
another cluster export the same variables where the workers start (``dask worker --nthreads 1``). Before the
first task the workers are pointed at this process's persistent JAX compilation cache
(:func:`share_compilation_cache`): a program one worker compiled is loaded by the others. JAX's cache key includes
``XLA_FLAGS``, so the workers load this process's compiled programs only where they run with its flags (not with
:func:`worker_env`'s); the traced programs :func:`probcascade.compilation_cache.cached_program` keeps are shared
either way (BENCHMARKS.md, "Scale-out").

Dask is an optional dependency (``pip install probcascade[scale]``), imported only when a client is used.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from probcascade.exceptions import DataValidationError
from probcascade.pipeline import parse_cascades
from probcascade.progress import bar
from probcascade.summary import Summary
from probcascade.tuning.frontier import Frontier
from probcascade.tuning.options import TuneOptions
from probcascade.tuning.rational import best_subcascade, tune_many
from probcascade.validation import check_int

__all__ = ["SubcascadeSweep", "chunk_subcascades", "default_budgets", "local_cluster", "map_chunks",
           "share_compilation_cache", "subcascades", "sweep_subcascades", "tune_chunk", "worker_env"]

#: XLA on one thread per worker process (see the module docstring).
XLA_SINGLE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def worker_env() -> dict[str, str]:
    """Environment of a worker process: XLA, OpenMP and BLAS on one thread each."""
    return {"XLA_FLAGS": XLA_SINGLE_THREAD, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1"}


def local_cluster(n_workers: int = 2, **kwargs: Any):
    """A ``dask.distributed.LocalCluster`` of ``n_workers`` process workers with one thread each and
    :func:`worker_env` in their environment (``kwargs`` go to ``LocalCluster``, e.g. ``dashboard_address=None``).
    Use it as ``with local_cluster(2) as cluster, cluster.get_client() as client: ...``."""
    from distributed import LocalCluster

    env = {**worker_env(), **kwargs.pop("env", {})}
    kwargs.setdefault("dashboard_address", None)
    return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, env=env, **kwargs)


def subcascades(models: Sequence[str], max_len: int | None = None, min_len: int = 2) -> list[tuple[str, ...]]:
    """Every sub-cascade of ``models`` with ``min_len <= k <= max_len`` models, in the order of ``models`` (the
    rule of ``probcascade tune --cascade all``: :func:`probcascade.pipeline.parse_cascades`)."""
    max_len = len(models) if max_len is None else max_len
    if min_len < 2 or max_len < min_len:
        raise DataValidationError(f"sub-cascade lengths: need 2 <= min_len <= max_len, got {min_len}..{max_len}")
    return [s for s in parse_cascades("all", models) if min_len <= len(s) <= max_len]


def chunk_subcascades(subs: Sequence[Sequence[str]], threads: int = 1,
                      chunk_size: int | None = None) -> list[list[tuple[str, ...]]]:
    """Chunks of sub-cascades by the module's chunking rule: grouped by length (longest first, the costliest tasks
    start first), each length cut into consecutive chunks of ``chunk_size`` (default ``ceil(n_k / (4 threads))``)."""
    if chunk_size is not None and chunk_size < 1:
        raise DataValidationError(f"chunk_size must be >= 1, got {chunk_size}")
    by_len: dict[int, list[tuple[str, ...]]] = {}
    for s in subs:
        by_len.setdefault(len(s), []).append(tuple(s))
    chunks = []
    for k in sorted(by_len, reverse=True):
        group = by_len[k]
        size = chunk_size or math.ceil(len(group) / (4 * max(int(threads), 1)))
        chunks += [group[i:i + size] for i in range(0, len(group), size)]
    return chunks


def tune_chunk(model, costs: pd.Series, options: TuneOptions | None,
               chunk: Sequence[Sequence[str]]) -> list[Frontier]:
    """The task: the frontier of every sub-cascade of ``chunk`` (all of one length, by the chunking rule), in this
    process: :func:`~probcascade.tuning.rational.tune_many`, one stacked solve for the chunk."""
    return tune_many(model, costs, [list(sub) for sub in chunk], options=options)


def _cache_folder() -> str | None:
    """The persistent compilation cache of this process: the one JAX uses here (set by
    :func:`probcascade.enable_compilation_cache`, as the command line does), else the default folder
    (``PROBCASCADE_CACHE_DIR`` or the per-user cache), or None with ``PROBCASCADE_NO_CACHE=1``."""
    import sys

    from probcascade.compilation_cache import cache_disabled, default_cache_dir

    jax = sys.modules.get("jax")
    here = jax.config.jax_compilation_cache_dir if jax is not None else None
    if here:
        return str(here)
    return None if cache_disabled() else str(default_cache_dir())


def _enable_cache_on_worker(folder: str) -> str | None:
    """On a worker: use ``folder`` as JAX's persistent compilation cache; None where it cannot be created there."""
    from probcascade.compilation_cache import enable_compilation_cache

    try:
        return str(enable_compilation_cache(folder))
    except OSError:             # e.g. the folder is not writable on a remote worker: it compiles as before
        return None


def share_compilation_cache(client) -> dict[str, str | None]:
    """Point every worker of ``client`` at this process's persistent JAX compilation cache (the folder JAX uses here,
    else ``PROBCASCADE_CACHE_DIR`` or the per-user folder; nothing with ``PROBCASCADE_NO_CACHE=1``),
    so that a worker loads what another worker (or this process, where the XLA flags are the same) compiled instead
    of compiling it again. Returns the
    folder per worker address (None: cache off there); idempotent. :func:`map_chunks` calls it before its tasks."""
    folder = _cache_folder()
    if folder is None:
        return {}
    return client.run(_enable_cache_on_worker, folder)


def _client_threads(client) -> int:
    return max(sum(client.nthreads().values()), 1)


def map_chunks(fn: Callable, chunks: Sequence, *, shared: Sequence = (), client=None, progress: bool | None = None,
               desc: str = "tasks") -> list:
    """``[fn(*shared, chunk) for chunk in chunks]``, on a Dask cluster when ``client`` is given.

    ``shared`` objects (a fitted model, costs, options) are sent to every worker once (``client.scatter(...,
    broadcast=True)``) and passed to each task by reference; ``fn`` must be importable on the workers (a module-level
    function). Results come back in the order of ``chunks``. A bar counts finished tasks.
    """
    pb = bar(total=len(chunks), desc=desc, unit="task", progress=progress)
    try:
        if client is None:
            out = []
            for c in chunks:
                out.append(fn(*shared, c))
                pb.update()
            return out
        from distributed import as_completed

        share_compilation_cache(client)          # before any task compiles (a no-op when already pointed there)
        refs = [client.scatter(obj, broadcast=True, hash=False) for obj in shared]
        futures = [client.submit(fn, *refs, c, pure=False) for c in chunks]
        for _ in as_completed(futures):
            pb.update()
        return client.gather(futures)
    finally:
        pb.close()


@dataclass
class SubcascadeSweep:
    """Result of :func:`sweep_subcascades`: each sub-cascade's frontier and the best sub-cascade per budget."""

    frontiers: dict[tuple[str, ...], Frontier]
    best: pd.DataFrame
    info: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One row per sub-cascade: length, frontier points, cost range and best predicted accuracy."""
        return pd.DataFrame([{"cascade": " -> ".join(sub), "k": len(sub), "points": len(fr),
                              "min_cost": fr.frame.e_cost.min(), "max_cost": fr.frame.e_cost.max(),
                              "max_p_correct": fr.frame.p_correct.max()} for sub, fr in self.frontiers.items()])

    def summary(self) -> Summary:
        """The best sub-cascade per budget and how the sweep ran (a :class:`~probcascade.summary.Summary`)."""
        i = self.info
        out = Summary(f"Best sub-cascade per budget over {len(self.frontiers)} sub-cascades "
                      f"({i.get('n_tasks')} tasks on {i.get('backend')}, {i.get('wall_s', float('nan')):.1f} s)")
        best = self.best.drop(columns=["thresholds"], errors="ignore")
        out.add_table(best, index=False, float_format="{:.6g}")
        return out


def default_budgets(frontiers: dict[tuple[str, ...], Frontier], n: int = 20) -> np.ndarray:
    """``n`` log-spaced budgets from the cheapest to the most expensive predicted cost of any frontier."""
    costs = np.concatenate([fr.frame.e_cost.to_numpy() for fr in frontiers.values()])
    costs = costs[costs > 0]
    return np.geomspace(costs.min(), costs.max(), n)


def sweep_subcascades(
    model,
    costs: pd.Series,
    cascades: str | Sequence[Sequence[str]] = "all",
    *,
    max_len: int | None = None,
    budgets: Sequence[float] | None = None,
    options: TuneOptions | None = None,
    client=None,
    chunk_size: int | None = None,
    threads: int | None = None,
    progress: bool | None = None,
    **overrides,
) -> SubcascadeSweep:
    """Tune many sub-cascades of a fitted model and pick the best one per cost budget, in process or on Dask.

    Parameters
    ----------
    model : MarkovCopulaModel
        The fitted joint model (:func:`probcascade.fit_markov_copula`); sent to each Dask worker once.
    costs : Series or sequence
        Expected cost per query (USD) of every model, indexed by model name (a sequence: in ``model.models`` order).
    cascades : "all" or sequence of sequences of str
        ``"all"``: every sub-cascade of ``model.models`` in their order (the rule of ``tune --cascade all``), up to
        ``max_len`` models; or an explicit list.
    budgets : sequence of float, optional
        Cost budgets (USD per query) for :func:`~probcascade.tuning.rational.best_subcascade`; default 20
        log-spaced budgets over the range of predicted costs (:func:`default_budgets`).
    options, **overrides
        Tuning options, as for :func:`probcascade.tune`.
    client : dask.distributed.Client, optional
        Run the chunks as tasks on this client's cluster (e.g. ``Client(local_cluster(2))``); None: here.
    chunk_size : int, optional
        Sub-cascades per task (default: the module's chunking rule).
    threads : int, optional
        Worker threads the default chunks are cut for (default: the client's total, 1 in this process). A chunk is
        one stacked solve whose rounding depends on its shape: the same ``threads`` (or ``chunk_size``) gives the
        same numbers in this process and on a cluster.
    """
    opt = (options or TuneOptions()).replace(**overrides) if overrides else (options or TuneOptions())
    if isinstance(cascades, str):
        if cascades != "all":
            raise DataValidationError(f"cascades: 'all' or a list of sub-cascades, got {cascades!r}")
        subs = subcascades(model.models, max_len)
    else:
        subs = [tuple(s) for s in cascades]
    if not subs:
        raise DataValidationError("no sub-cascade to tune")
    if not isinstance(costs, pd.Series):          # a sequence in the model's order
        costs = np.asarray(costs, dtype=np.float64).reshape(-1)
        if costs.size != len(model.models):
            raise DataValidationError(f"costs: one expected cost per model {list(model.models)}, got {costs.size}")
        costs = pd.Series(costs, index=list(model.models))
    costs = costs.astype(np.float64)
    backend_threads = 1 if client is None else _client_threads(client)
    chunk_threads = backend_threads if threads is None else check_int(threads, "threads", low=1)
    chunks = chunk_subcascades(subs, chunk_threads, chunk_size)
    t0 = time.perf_counter()
    results = map_chunks(tune_chunk, chunks, shared=(model, costs, opt), client=client, progress=progress,
                         desc="sub-cascades")
    wall = time.perf_counter() - t0
    by_sub = {sub: fr for chunk, frs in zip(chunks, results) for sub, fr in zip(chunk, frs)}
    frontiers = {sub: by_sub[sub] for sub in subs}
    budgets = default_budgets(frontiers) if budgets is None else np.asarray(budgets, dtype=np.float64)
    info = {"n_subcascades": len(subs), "n_tasks": len(chunks), "threads": backend_threads,
            "chunk_threads": chunk_threads, "wall_s": wall,
            "backend": "this process" if client is None else f"dask ({backend_threads} worker threads)"}
    return SubcascadeSweep(frontiers, best_subcascade(frontiers, budgets), info)
