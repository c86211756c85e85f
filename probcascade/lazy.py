"""Lazy attributes for package ``__init__`` modules (PEP 562): public names are imported on first use, so that
``import probcascade`` and the CLI's argument parsing do not pay for importing JAX."""

from __future__ import annotations

import importlib
import sys
from typing import Callable, Mapping, Sequence

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, table: Mapping[str, Sequence[str]],
                    public: Sequence[str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the package ``package``: ``table`` maps a module (absolute, or relative to the
    package) to the names it provides. A name is imported on first access and then cached in the package."""
    where = {name: module for module, names in table.items() for name in names}

    def __getattr__(name: str):
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        target = module if module.startswith("probcascade") else f"{package}.{module}"
        value = getattr(importlib.import_module(target), name)
        setattr(sys.modules[package], name, value)      # later look-ups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__
