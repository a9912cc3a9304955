"""A cache of trained models, keyed by the code that trained them and its arguments.

A chapter that needs a model an earlier chapter already trained (the CNN project's
PneumoniaMNIST network, reused by *Can we trust the model?*) gets it from here instead of
training a copy. One helper, :func:`cached`, serves every recipe that caches
(``medlab.train.fit_medmnist``, ``medlab.train3d.fit_medmnist3d``, ``medlab.ordinal.fit_retinamnist``).

**The key** (:func:`code_key`) hashes the source of every ``medlab`` module the recipe's code
imports, found by reading the code (:func:`code_modules`: an AST scan of the module that defines
the recipe for its ``medlab`` imports, at module level and inside functions, followed through
every module reached), the call's arguments and the versions of the numerical libraries. No
module list is typed by hand, so a change to any code the run imports (the metrics that compute
its report included) trains afresh.

**An entry** is three files: the model (``<key>.keras``), its arrays (``<key>.npz``, e.g. the
predictions a chapter plots) and a record (``<key>.json``: the JSON values, the SHA-256 of the
other two files and the model's input/output signature). The record is written last, so an
interrupted save leaves no entry. On load, an entry that does not verify (unreadable record, a
file whose hash differs, a file that Keras cannot load, a model of another signature) is
discarded with one printed line and the model is trained again.

Where the cache lives: ``MEDLAB_CACHE_DIR``, else the ``models`` folder of the data layer's user
cache (:func:`medlab.data.user_cache_dir`, ``~/.cache/medlab/models`` on Linux);
``MEDLAB_CACHE_DIR=off`` turns it off. Benchmarks never use it (they measure training).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import os
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from medlab.validate import check_model

_LIBRARIES = ("keras", "tensorflow", "numpy")
"""Libraries whose versions enter every key."""

_FORMAT = 2
"""Version of the entry format; older entries are not read."""


def cache_dir() -> Path | None:
    """The folder of cached models, or ``None`` when ``MEDLAB_CACHE_DIR=off``."""
    from medlab.data import user_cache_dir

    value = os.environ.get("MEDLAB_CACHE_DIR", "")
    if value.lower() == "off":
        return None
    return Path(value).expanduser() if value else user_cache_dir() / "models"


# ----------------------------------------------------------------------------- the key
def _source_path(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise ValueError(f"{module!r} is not a module with Python source")
    return Path(spec.origin)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _medlab_imports(source: str) -> set[str]:
    """Names of the ``medlab`` modules a source imports, anywhere in it (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name == "medlab" or a.name.startswith("medlab.")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                (node.module == "medlab" or node.module.startswith("medlab.")):
            found.add(node.module)
            for alias in node.names:  # `from medlab import data`: a submodule, not an attribute
                if _is_module(f"{node.module}.{alias.name}"):
                    found.add(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id == "medlab" and _is_module(f"medlab.{node.attr}"):
            found.add(f"medlab.{node.attr}")  # `import medlab`, then `medlab.metrics.dice(...)`
    return found


def code_modules(module: str) -> tuple[str, ...]:
    """Every ``medlab`` module whose code a run of ``module``'s functions can reach, sorted.

    Starts from ``module`` and follows its ``medlab`` imports (at module level and inside
    functions, read from the source with :mod:`ast`, nothing imported), then theirs, until no
    new module turns up. A package counts with its ``__init__``.
    """
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(_medlab_imports(_source_path(name).read_text()) - seen)
        parent = name.rpartition(".")[0]
        if parent and parent not in seen:  # importing medlab.x runs medlab/__init__.py first
            todo.append(parent)
    return tuple(sorted(seen))


def code_key(module: str, **params: Any) -> str:
    """A hash of the code ``module`` reaches (:func:`code_modules`), ``params`` and library versions.

    Parameters
    ----------
    module
        The module that defines the recipe, e.g. ``"medlab.train"``.
    **params
        The call's arguments; they must be JSON-serialisable.
    """
    digest = hashlib.sha256()
    for name in code_modules(module):
        digest.update(name.encode() + b"\0" + _source_path(name).read_bytes() + b"\0")
    versions = {}
    for lib in _LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = None
    try:
        digest.update(json.dumps({"params": params, "versions": versions, "format": _FORMAT},
                                 sort_keys=True).encode())
    except TypeError as err:
        raise TypeError(f"params (the cache key arguments) must be JSON-serialisable: {err}") from None
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- the entries
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_stem(stem: Any, name: str) -> str:
    if not isinstance(stem, str) or not stem or any(c in stem for c in "/\\\0") or stem.startswith("."):
        raise ValueError(f"{name} must be a plain file-name prefix (no folder, not hidden), got {stem!r}")
    return stem


def signature(model: Any) -> dict[str, Any]:
    """A model's name and the shapes and dtypes of its inputs and outputs (JSON-ready)."""
    def spec(tensors: Any) -> list[list[Any]]:
        tensors = tensors if isinstance(tensors, (list, tuple)) else [tensors]
        return [[list(t.shape), str(t.dtype)] for t in tensors]

    check_model(model)
    return {"name": model.name, "inputs": spec(model.inputs), "outputs": spec(model.outputs)}


def _split(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """JSON values and arrays of a record (NumPy scalars become Python numbers)."""
    values, arrays = {}, {}
    for key, value in record.items():
        if isinstance(value, np.ndarray):
            arrays[key] = value
        elif isinstance(value, np.generic):
            values[key] = value.item()
        else:
            values[key] = value
    return values, arrays


def save(stem: str, model: Any, record: dict[str, Any]) -> None:
    """Store ``model`` and ``record`` under ``stem`` (skipped if the cache is off or cannot be written).

    Arrays of ``record`` go to ``<stem>.npz``, the rest to ``<stem>.json`` with the SHA-256 of
    both files and the model's :func:`signature`; the JSON record is moved into place last.

    Raises
    ------
    TypeError
        A value of ``record`` that is neither an array nor JSON-serialisable.
    """
    _check_stem(stem, "stem")
    check_model(model)
    if not isinstance(record, dict):
        raise TypeError(f"record must be a dict of values and arrays, got {type(record).__name__}")
    folder = cache_dir()
    if folder is None:
        return
    values, arrays = _split(record)
    try:
        json.dumps(values)
    except TypeError as err:
        raise TypeError(f"record values must be arrays or JSON-serialisable: {err}") from None
    tmp = folder / f".{stem}.{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        model.save(f"{tmp}.keras")
        np.savez(f"{tmp}.npz", **arrays)
        meta = {"format": _FORMAT, "values": values, "keras_sha256": _sha256(Path(f"{tmp}.keras")),
                "npz_sha256": _sha256(Path(f"{tmp}.npz")), "signature": signature(model)}
        Path(f"{tmp}.json").write_text(json.dumps(meta, sort_keys=True))
        for suffix in (".keras", ".npz", ".json"):  # the record last: a complete entry or none
            os.replace(f"{tmp}{suffix}", folder / f"{stem}{suffix}")
    except OSError:
        pass  # a read-only or full disk: the model is simply not cached
    finally:
        for suffix in (".keras", ".npz", ".json"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)


def _discard(folder: Path, stem: str, why: str) -> None:
    print(f"medlab.cache: the cached model {stem} does not verify ({why}); training it again.")
    for suffix in (".keras", ".npz", ".json"):
        (folder / f"{stem}{suffix}").unlink(missing_ok=True)


def load(stem: str) -> tuple[Any, dict[str, Any]] | None:
    """The cached ``(model, record)`` saved under ``stem``, or ``None`` when there is none.

    An entry that does not verify is deleted, with one printed line saying why, and ``None`` is
    returned (the caller trains again).
    """
    _check_stem(stem, "stem")
    folder = cache_dir()
    if folder is None or not (folder / f"{stem}.json").is_file():
        return None
    try:
        meta = json.loads((folder / f"{stem}.json").read_text())
        if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
            raise ValueError("unknown record format")
        for suffix, key in ((".keras", "keras_sha256"), (".npz", "npz_sha256")):
            path = folder / f"{stem}{suffix}"
            if not path.is_file():
                raise ValueError(f"{path.name} is missing")
            if _sha256(path) != meta[key]:
                raise ValueError(f"{path.name} does not match its recorded SHA-256")
    except (OSError, ValueError, KeyError, TypeError) as err:  # JSONDecodeError is a ValueError
        _discard(folder, stem, str(err) or type(err).__name__)
        return None
    import keras

    try:
        model = keras.saving.load_model(folder / f"{stem}.keras")
        with np.load(folder / f"{stem}.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as err:  # noqa: BLE001 - any failure to load means: train again
        _discard(folder, stem, f"{type(err).__name__}: {str(err)[:120]}")
        return None
    if signature(model) != meta["signature"]:
        _discard(folder, stem, "the model's inputs or outputs are not the ones recorded")
        return None
    return model, {**meta["values"], **arrays}


def cached(name: str, train: Callable[[], tuple[Any, dict[str, Any]]], *, code: str, params: dict[str, Any],
           use: bool = True) -> tuple[Any, dict[str, Any], bool]:
    """Run ``train()`` once per code and arguments; later calls get its model and record from disk.

    Parameters
    ----------
    name
        A readable prefix of the entry's file names, e.g. ``"pneumoniamnist-seed1"``.
    train
        Trains and returns ``(model, record)``; ``record`` holds JSON values and NumPy arrays.
    code
        The module that defines the recipe (its ``medlab`` imports are followed, see
        :func:`code_key`).
    params
        Every argument that changes the result (JSON-serialisable).
    use
        False trains without reading or writing the cache.

    Returns
    -------
    (model, record, hit)
        ``hit`` is True when the model came from the cache.
    """
    _check_stem(name, "name")
    if not callable(train):
        raise TypeError(f"train must be a function of no arguments returning (model, record), got "
                        f"{type(train).__name__}")
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict, got {type(params).__name__}")
    if not use or cache_dir() is None:
        model, record = train()
        return model, record, False
    stem = f"{name}-{code_key(code, **params)}"
    hit = load(stem)
    if hit is not None:
        return hit[0], hit[1], True
    model, record = train()
    save(stem, model, record)
    return model, record, False
