"""A cache of trained models, keyed by the code that trained them and its arguments.

A chapter that needs a model an earlier chapter already trained (the CNN project's
PneumoniaMNIST network, reused by *Can we trust the model?*) gets it from here instead of
training a copy. The key hashes the source of the modules that build, train and evaluate the
model, the call's arguments and the versions of the numerical libraries, so any change to the
recipe trains afresh. Where the cache lives: ``MEDLAB_CACHE_DIR``, else the ``models`` folder of
the data layer's user cache (:func:`medlab.data.user_cache_dir`, ``~/.cache/medlab/models`` on Linux);
``MEDLAB_CACHE_DIR=off`` turns it off. Benchmarks never use it (they measure training).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any

_LIBRARIES = ("keras", "tensorflow", "numpy")


def cache_dir() -> Path | None:
    """The folder of cached models, or ``None`` when ``MEDLAB_CACHE_DIR=off``."""
    from medlab.data import user_cache_dir

    value = os.environ.get("MEDLAB_CACHE_DIR", "")
    if value.lower() == "off":
        return None
    return Path(value).expanduser() if value else user_cache_dir() / "models"


def code_key(modules: tuple[str, ...], **params: Any) -> str:
    """A hash of the modules' source, ``params`` (JSON) and the numerical libraries' versions.

    Parameters
    ----------
    modules
        Module names, e.g. ``("medlab.train", "medlab.models")``: their whole source is hashed.
    **params
        The call's arguments; they must be JSON-serialisable.
    """
    digest = hashlib.sha256()
    for name in modules:
        digest.update(inspect.getsource(importlib.import_module(name)).encode())
    versions = {}
    for lib in _LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = None
    try:
        digest.update(json.dumps({"params": params, "versions": versions}, sort_keys=True).encode())
    except TypeError as err:
        raise TypeError(f"cache key arguments must be JSON-serialisable: {err}") from None
    return digest.hexdigest()[:16]


def load(stem: str) -> tuple[Any, dict] | None:
    """The cached ``(keras_model, info)`` saved under ``stem``, or ``None`` if there is none."""
    folder = cache_dir()
    if folder is None or not (folder / f"{stem}.keras").is_file() or not (folder / f"{stem}.json").is_file():
        return None
    import keras

    try:
        model = keras.saving.load_model(folder / f"{stem}.keras")
        info = json.loads((folder / f"{stem}.json").read_text())
    except (OSError, ValueError):  # a truncated or foreign file: train afresh
        return None
    return model, info


def save(stem: str, model: Any, info: dict) -> None:
    """Save ``model`` and its JSON ``info`` under ``stem`` (atomically; silently skipped if the
    cache is off or its folder cannot be written)."""
    folder = cache_dir()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{stem}.{os.getpid()}"
        model.save(f"{tmp}.keras")
        Path(f"{tmp}.json").write_text(json.dumps(info, sort_keys=True))
        os.replace(f"{tmp}.keras", folder / f"{stem}.keras")
        os.replace(f"{tmp}.json", folder / f"{stem}.json")
    except OSError:
        return
