"""JAX's persistent compilation cache in a per-user directory, so that a program is compiled once per machine.

The command line turns it on for every command it runs; Python users opt in with
:func:`probcascade.enable_compilation_cache` (``import probcascade`` never changes JAX's global configuration).

Where: ``platformdirs.user_cache_dir("probcascade")/jax`` (e.g. ``~/.cache/probcascade/jax`` on Linux), never inside
the package or the working directory. ``PROBCASCADE_CACHE_DIR`` moves it (the folder is used as given);
``PROBCASCADE_NO_CACHE=1`` turns it off. Every compiled program is cached, however small or quick to compile
(JAX's defaults skip programs compiled in under a second). JAX treats the cache as trusted code: keep it in a
folder only you can write to.

JAX's cache saves the compilation but not the tracing: a large program (the Newton solve of a k = 5 cascade) still
spends seconds in Python re-tracing it in every new process before the cache is even consulted. With the cache on,
:func:`cached_program` also keeps the traced program itself, serialised with :mod:`jax.export` (StableHLO in a
flatbuffer, not a pickle) in ``exported/`` beside the compiled ones, keyed by the function, its static arguments, the
shapes and dtypes of its arguments, JAX's and jaxlib's versions and a fingerprint of probcascade's own source (so an
edited or upgraded package never runs a stale program). A later process deserialises it (milliseconds) and
compiles it from JAX's cache, without tracing.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path

__all__ = ["enable_compilation_cache", "default_cache_dir", "cache_disabled", "cached_program"]

ENV_DIR = "PROBCASCADE_CACHE_DIR"
ENV_OFF = "PROBCASCADE_NO_CACHE"


def cache_disabled() -> bool:
    """Whether ``PROBCASCADE_NO_CACHE`` is set to a true value (anything but empty, 0, false, no, off)."""
    return os.environ.get(ENV_OFF, "").strip().lower() not in ("", "0", "false", "no", "off")


def default_cache_dir() -> Path:
    """``PROBCASCADE_CACHE_DIR`` if set, else the per-user cache folder ``user_cache_dir("probcascade")/jax``."""
    env = os.environ.get(ENV_DIR, "").strip()
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("probcascade")) / "jax"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache for this process; returns its folder, or None when turned off.

    path : folder of the cache; None: :func:`default_cache_dir` (``PROBCASCADE_CACHE_DIR`` or the per-user cache
        folder). With ``path=None`` and ``PROBCASCADE_NO_CACHE=1`` nothing changes. An explicit ``path`` wins.

    This sets JAX's global options ``jax_compilation_cache_dir``, ``jax_persistent_cache_min_compile_time_secs``
    (0) and ``jax_persistent_cache_min_entry_size_bytes`` (-1: cache every program) and so affects all JAX code of the
    process; call it before the first compilation. Compiled programs are keyed by JAX, jaxlib, the backend and the
    program itself, so a stale entry is never used.
    """
    if path is None:
        if cache_disabled():
            return None
        path = default_cache_dir()
    folder = Path(path).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    import jax

    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return folder


@lru_cache(maxsize=1)
def _source_fingerprint() -> str:
    """SHA-256 over the paths and contents of probcascade's Python files (read once per process)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


_PROGRAMS: dict = {}        # key -> jitted call of a deserialised or freshly exported program (None: not exportable)


def cached_program(name: str, fn, static, *args):
    """``fn(*args)`` for a ``jit``-compiled ``fn`` whose static arguments are already bound (``static`` describes
    them and is part of the key), through a traced program kept across processes when the persistent cache is on.

    Without the cache (``jax_compilation_cache_dir`` unset: Python use without :func:`enable_compilation_cache`,
    or ``PROBCASCADE_NO_CACHE=1``) this is ``fn(*args)``. Otherwise the program traced for these argument shapes is
    loaded from ``exported/`` (or exported there on first use; an unreadable entry is exported again), so the
    result is the same computation: the exported program is the lowering of ``fn`` itself. ``fn`` returns an array
    or a tuple of arrays (a program whose output cannot be serialised runs as ``fn(*args)``); called with tracers
    (inside another transformation) it is ``fn(*args)``.
    """
    import jax
    import jaxlib

    folder = jax.config.jax_compilation_cache_dir
    if not folder:
        return fn(*args)
    leaves, treedef = jax.tree_util.tree_flatten(args)
    if any(isinstance(x, jax.core.Tracer) for x in leaves):      # inside a trace: part of a larger program
        return fn(*args)
    # numpy, not jnp.asarray: in a fresh process every eager jnp conversion is a small program of its own to lower
    # and fetch from the cache (about 15 ms each, 0.2 s for a tuning solve's 40 leaves)
    leaves = [x if isinstance(x, jax.Array) else _host_array(x) for x in leaves]
    parts = [name, repr(static), str(treedef), jax.__version__, jaxlib.__version__,
             str(jax.config.jax_enable_x64), jax.default_backend(), _source_fingerprint()]
    parts += [f"{x.shape}:{x.dtype}" for x in leaves]
    key = hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]
    if key not in _PROGRAMS:
        _PROGRAMS[key] = _load_or_export(Path(folder) / "exported" / f"{name}-{key}.jaxexport", fn, treedef, leaves)
    call = _PROGRAMS[key]
    return fn(*args) if call is None else call(*leaves)


def _host_array(x):
    """``x`` as a numpy array of the dtype JAX would give it (float64 -> float32 without x64)."""
    import jax
    import numpy as np

    a = np.asarray(x)
    return a.astype(jax.dtypes.canonicalize_dtype(a.dtype), copy=False)


def _load_or_export(path: Path, fn, treedef, leaves):
    """The jitted ``call`` of the program at ``path``, exporting (and writing) it first when it is missing or
    unreadable; None when ``fn``'s program cannot be exported or serialised."""
    import jax
    from jax import export

    if path.exists():
        try:
            return jax.jit(export.deserialize(bytearray(path.read_bytes())).call)
        except Exception:       # a truncated or foreign entry: export it again
            pass
    try:
        flat = jax.jit(lambda *lv: fn(*jax.tree_util.tree_unflatten(treedef, lv)))
        exported = export.export(flat)(*[jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves])
        blob = bytes(exported.serialize())
    except Exception:           # e.g. an output tree jax.export cannot serialise, flatbuffers missing
        return None
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
            tmp.write(blob)
        os.replace(tmp.name, path)          # atomic: a reader sees the old entry, or the whole new one
    except OSError:             # a read-only or full cache folder: the program still runs, it is just not kept
        if tmp is not None:
            Path(tmp.name).unlink(missing_ok=True)      # no half-written temporary file left behind
    return jax.jit(exported.call)
