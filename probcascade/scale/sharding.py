"""Batches sharded across JAX devices (several GPUs, or several hosts of a multi-host JAX set-up).

:func:`sharded_vmap` maps a pure per-row function over a batch (bootstrap replicates, lambda values, posterior
draws) with the rows split across the devices by a :class:`jax.sharding.NamedSharding` over a 1-D mesh; arguments
shared by every row are replicated. The batch is padded to a multiple of the device count with copies of its first
row (valid inputs, so no NaN or warning is produced in the padding) and the padding is cut from the result. On one
device it is a ``jit(vmap(fn))``.

:func:`cvm_null_refit_sharded` is the marginal goodness-of-fit bootstrap of
:func:`probcascade.gof.marginal.cvm_null_refit` (draw ``n_boot`` samples, refit each, CvM distance to its refit)
with the refits sharded: the same samples and the same statistics, spread over the devices.

Test it on a CPU with ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (two host "devices"), set before JAX
starts.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from probcascade.distributions.marginal import MarginalParams, sample
from probcascade.estimation.em import N_ITER, fit_marginal_params
from probcascade.gof.marginal import cvm_core
from probcascade.precision import x64
from probcascade.validation import pad_first_rows

__all__ = ["AXIS", "batch_mesh", "cvm_null_refit_sharded", "pad_batch", "refit_cvm", "sharded_vmap"]

#: Name of the mesh axis the batch is split along.
AXIS = "batch"


def batch_mesh(devices: Sequence[Any] | None = None) -> Mesh:
    """A 1-D mesh over ``devices`` (default: every device JAX sees, across hosts), axis :data:`AXIS`."""
    return Mesh(np.asarray(jax.devices() if devices is None else list(devices)), (AXIS,))


def pad_batch(tree, multiple: int):
    """Pad every leaf's leading axis to a multiple of ``multiple`` with copies of its first row; returns
    ``(padded tree, original batch size)``."""
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    padded, n = pad_first_rows(leaves, multiple=multiple)      # each leaf stays where it is (host or device)
    return jax.tree_util.tree_unflatten(treedef, padded), n


@lru_cache(maxsize=64)
def _compiled(fn: Callable, static: tuple, mesh: Mesh, n_shared: int):
    rows = NamedSharding(mesh, PartitionSpec(AXIS))
    everywhere = NamedSharding(mesh, PartitionSpec())
    one = lambda x, *shared: fn(x, *shared, **dict(static))
    return jax.jit(jax.vmap(one, in_axes=(0,) + (None,) * n_shared),
                   in_shardings=(rows,) + (everywhere,) * n_shared, out_shardings=rows)


def sharded_vmap(fn: Callable, batched, *shared, devices: Sequence[Any] | None = None, **static):
    """``vmap(fn)(batched, *shared)`` with the rows of ``batched`` (a pytree, leading axis = batch) split across
    ``devices`` (default all); ``shared`` arguments are replicated, ``static`` keyword arguments are compile-time
    constants. ``fn`` must be pure, and a module-level function (the compiled program is cached per ``fn``).
    Returns the result as NumPy arrays with the batch's length."""
    mesh = batch_mesh(devices)
    padded, n = pad_batch(batched, mesh.devices.size)
    out = _compiled(fn, tuple(sorted(static.items())), mesh, len(shared))(padded, *shared)
    return jax.tree_util.tree_map(lambda a: np.asarray(a)[:n], out)


def refit_cvm(x, n_components: int = 2, n_iter: int = N_ITER):
    """One replicate of the refit null: the CvM distance of a sample to its own refitted marginal (pure)."""
    return cvm_core(fit_marginal_params(x, n_components, n_iter), x)


_draw = jax.jit(sample, static_argnums=(2,))


@x64
def cvm_null_refit_sharded(params: MarginalParams, key, n: int, n_boot: int, n_components: int = 2,
                           n_iter: int = N_ITER, devices: Sequence[Any] | None = None) -> np.ndarray:
    """:func:`probcascade.gof.marginal.cvm_null_refit` (same draws, same statistics, shape ``(n_boot,)``) with the
    ``n_boot`` refits sharded across ``devices``."""
    params = MarginalParams(*(jnp.asarray(z, dtype=jnp.float64) for z in params))
    xs = _draw(params, key, (int(n_boot), int(n)))
    return sharded_vmap(refit_cvm, xs, devices=devices, n_components=int(n_components), n_iter=int(n_iter))
