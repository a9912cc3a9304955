"""medlab: the helper package of *Machine Learning for Medical Image Analysis*.

Every function here is first taught in the open in a chapter of the book; the
docstring of each one names that chapter. ``import medlab`` is fast: heavy
libraries (TensorFlow above all) are imported only by the functions that need
them, and submodules load on first use (``medlab.data``, ``medlab.conv``, ...).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from medlab._version import __version__
from medlab.env import doctor, glue, is_quick, pick, seed_everything, setup

__all__ = ["doctor", "glue", "is_quick", "pick", "seed_everything", "setup", "__version__"]

_SUBMODULES = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))
"""Every public submodule, read from the package folder (so the list cannot fall behind)."""


def __getattr__(name: str) -> Any:
    """Import submodules lazily, so that ``import medlab`` stays fast."""
    if name in _SUBMODULES:
        return importlib.import_module(f"medlab.{name}")
    raise AttributeError(f"module 'medlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_SUBMODULES])
