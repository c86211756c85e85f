"""JAX's persistent compilation cache in a per-user directory, so that a program is compiled once per machine.

The command line turns it on for every command it runs; Python users opt in with
:func:`probcascade.enable_compilation_cache` (``import probcascade`` never changes JAX's global configuration).

Where: ``platformdirs.user_cache_dir("probcascade")/jax`` (e.g. ``~/.cache/probcascade/jax`` on Linux), never inside
the package or the working directory. ``PROBCASCADE_CACHE_DIR`` moves it (the folder is used as given);
``PROBCASCADE_NO_CACHE=1`` turns it off. Every compiled program is cached, however small or quick to compile
(JAX's defaults skip programs compiled in under a second). JAX treats the cache as trusted code: keep it in a
folder only you can write to.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["enable_compilation_cache", "default_cache_dir", "cache_disabled"]

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
