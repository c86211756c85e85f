"""Scale-out: sweeps over many sub-cascades as Dask tasks (:mod:`.sweep`), batches sharded across JAX devices
(:mod:`.sharding`); :func:`many_model_spec` (from :mod:`probcascade.data.synthetic`) stretches the generative model to
many models to exercise them.

Dask (``pip install probcascade[scale]``) is imported only when a cluster is used; this package's ``__init__`` is lazy
(PEP 562), like the others.
"""

from probcascade.lazy import lazy_attributes

_LAZY = {
    "sweep": ("SubcascadeSweep", "chunk_subcascades", "default_budgets", "local_cluster", "map_chunks",
              "share_compilation_cache", "subcascades", "sweep_subcascades", "tune_chunk", "worker_env"),
    "sharding": ("batch_mesh", "cvm_null_refit_sharded", "pad_batch", "refit_cvm", "sharded_vmap"),
    "probcascade.data.synthetic": ("many_model_spec",),      # re-exported: it lives with the generative model
}

__all__ = [name for names in _LAZY.values() for name in names]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, __all__)
