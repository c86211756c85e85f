"""Float64 handling.

Statistical fits need double precision, but flipping JAX's global ``jax_enable_x64`` flag at import time would
silently change the behaviour of a user's other JAX code.  probcascade therefore enables 64-bit types only *inside*
its public entry points, with JAX's own context manager, and returns NumPy/pandas objects (which keep float64) at
the user boundary.

Users who call the pure-JAX core directly (``probcascade.distributions``, ``probcascade.joint`` …) should do so inside
``with probcascade.float64():`` or enable x64 globally themselves (``jax.config.update("jax_enable_x64", True)``).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, TypeVar
import jax

__all__ = ["float64", "x64"]

F = TypeVar("F", bound=Callable)


@contextlib.contextmanager
def float64():
    """Context manager: run JAX code inside it in float64 (restores the previous setting on exit)."""
    with jax.enable_x64(True):
        yield


def x64(fn: F) -> F:
    """Decorator: run ``fn`` with JAX 64-bit types enabled."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with jax.enable_x64(True):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
