"""Progress bars on stderr for the long steps (bootstraps, sub-cascades, lambda sweeps, demo and ensemble stages).

One helper, :func:`bar`, used everywhere: it returns a ``tqdm`` bar writing to ``sys.stderr`` when progress is on and
a silent stand-in with the same methods (``update``, ``set_postfix_str``, ``set_description``, ``close``, iteration,
``with``) when it is off, so that ``tqdm`` is imported only when a bar is really shown (``import probcascade`` and the
numerical core stay free of it). Bars never touch stdout, so JSON/CSV output stays machine-readable.

Whether a bar shows:

* ``progress=True`` / ``False`` passed to a function wins;
* ``progress=None`` (the library default) follows :func:`progress_enabled`'s setting for the current context, which
  is off unless set. The command line sets it per run: on when stderr is a terminal or with ``--progress``, off with
  ``-q``/``--quiet`` (:func:`progress_enabled` is a context manager, so nothing leaks between calls of ``main``).

A bar is drawn when it starts (:data:`DELAY` is 0: with tqdm's ``delay`` a bar that describes its first, often
longest, stage by ``set_postfix_str`` would stay invisible until that stage ended). The vectorised computations (a ``vmap`` over bootstrap replicates or lambda values) are one call each: bars count stages
(one test, one cascade and tuner) rather than replicates.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Iterable, Iterator

__all__ = ["DELAY", "bar", "close_all", "progress_enabled", "resolve_progress", "stderr_is_terminal"]

#: Seconds before a bar is drawn (tqdm's ``delay``); 0: at once (see the module docstring).
DELAY = 0.0

_ENABLED: contextvars.ContextVar[bool | None] = contextvars.ContextVar("probcascade_progress", default=None)


def stderr_is_terminal() -> bool:
    """Whether ``sys.stderr`` is an interactive terminal (where progress shows by default on the command line)."""
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def resolve_progress(progress: bool | None = None) -> bool:
    """``progress`` when given, else the setting of the current context (:func:`progress_enabled`; off by default)."""
    if progress is not None:
        return bool(progress)
    return bool(_ENABLED.get())


@contextlib.contextmanager
def progress_enabled(enabled: bool) -> Iterator[None]:
    """Within the ``with`` block, functions called with ``progress=None`` show (or hide) their bars."""
    token = _ENABLED.set(bool(enabled))
    try:
        yield
    finally:
        _ENABLED.reset(token)


class _Silent:
    """A stand-in for a tqdm bar that draws nothing (progress off): same methods, no tqdm import."""

    def __init__(self, iterable: Iterable | None = None, total: int | None = None) -> None:
        self.iterable, self.total, self.n = iterable, total, 0

    def __iter__(self):
        return iter(self.iterable if self.iterable is not None else ())

    def __enter__(self) -> "_Silent":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_description(self, *args, **kwargs) -> None:
        pass

    def set_postfix_str(self, *args, **kwargs) -> None:
        pass

    def set_postfix(self, *args, **kwargs) -> None:
        pass

    def close(self) -> None:
        pass


def bar(iterable: Iterable | None = None, *, total: int | None = None, desc: str | None = None, unit: str = "step",
        progress: bool | None = None, leave: bool = False):
    """A progress bar on stderr (``tqdm``) when progress is on (see :func:`resolve_progress`), else a silent one.

    Use it like ``tqdm``: ``for x in bar(items, desc="bootstrap")`` or ``with bar(total=3, desc="demo") as pb:
    ...; pb.set_postfix_str("calibration"); pb.update()``.
    """
    if not resolve_progress(progress):
        return _Silent(iterable, total)
    from tqdm import tqdm   # lazily: only a bar that is shown pays tqdm's import

    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, leave=leave, delay=DELAY,
                dynamic_ncols=True)


def close_all() -> None:
    """Close every open bar (e.g. one left by a step that raised), so that an error message starts on its own line."""
    tqdm_module = sys.modules.get("tqdm.std")
    if tqdm_module is None:          # no bar was ever shown
        return
    for instance in list(getattr(tqdm_module.tqdm, "_instances", ())):
        instance.close()
