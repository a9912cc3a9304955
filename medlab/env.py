"""Run-time environment of a chapter: quick/full mode, seeds, device, health check.

Introduced in the chapter *Background* (its setup cell); every chapter's first
code cell calls :func:`setup`.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

QUICK_ENV = "MEDLAB_QUICK"
"""Name of the environment variable that selects quick mode (``1``/``true``/``yes``)."""

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def is_quick() -> bool:
    """Return True when quick mode is selected by ``MEDLAB_QUICK``.

    Quick mode (for tests and CI) trains for fewer epochs on smaller subsets;
    it never changes the code path. The default is full mode.

    Raises
    ------
    ValueError
        If the variable holds something other than a yes/no value.
    """
    value = os.environ.get(QUICK_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{QUICK_ENV}={os.environ[QUICK_ENV]!r} is not understood; "
        f"use one of {sorted(_TRUE)} for quick mode or {sorted(_FALSE - {''})} for full mode."
    )


def pick(full: T, quick: T) -> T:
    """Return ``quick`` in quick mode and ``full`` otherwise.

    Examples
    --------
    >>> epochs = pick(full=30, quick=2)
    """
    return quick if is_quick() else full


def mode_name() -> str:
    """Return ``"quick"`` or ``"full"``."""
    return "quick" if is_quick() else "full"


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and (if already imported) TensorFlow's generators.

    TensorFlow is seeded only when it has been imported, so that this function
    never pays TensorFlow's import time by itself.
    """
    from medlab.validate import check_int

    seed = check_int(seed, "seed", low=0)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    if "tensorflow" in sys.modules:
        import keras

        keras.utils.set_random_seed(int(seed))


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up messages (call before importing it).

    oneDNN's CPU kernels stay on (TensorFlow's default on x86-64): two executions of every
    chapter with them gave identical glued numbers (README, "Benchmarks"), and they train
    about twice as fast on the CPU. ``TF_ENABLE_ONEDNN_OPTS=0`` set beforehand still wins.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def device_summary() -> str:
    """Describe the compute device TensorFlow would use, without importing it if absent.

    Short, so that the setup line fits a code block of the book's column (77 characters).
    """
    cores = os.cpu_count() or 1
    if "tensorflow" not in sys.modules:
        return f"CPU, {cores} cores (no TensorFlow)"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"GPU x{len(gpus)} ({', '.join(g.name.replace('/physical_device:', '') for g in gpus)})"
    return f"CPU, {cores} cores, no GPU"


@dataclass(frozen=True)
class SetupInfo:
    """What :func:`setup` did: the mode, the seed and the device."""

    mode: str
    seed: int
    device: str

    def __str__(self) -> str:
        return f"medlab {_version()} | mode: {self.mode} | seed: {self.seed} | device: {self.device}"


def setup(seed: int = 0, tensorflow: bool = False, deterministic: bool = True, *,
          figures: bool = True) -> SetupInfo:
    """Prepare a chapter: quiet logs, seed everything, figure style, report mode and device.

    Parameters
    ----------
    seed
        Seed for Python, NumPy and TensorFlow.
    tensorflow
        Import TensorFlow now (quietly) and seed it; chapters that train
        models pass True.
    deterministic
        With TensorFlow, also ask for deterministic kernels, so that a
        chapter's numbers do not drift between runs, and for full float32
        arithmetic (TensorFloat-32 off on the GPUs that have it), so that a
        chapter's checks against NumPy or PyTorch hold on any device.
    figures
        Apply the book's figure style (:func:`medlab.viz.book_style`: column-wide figures,
        12 pt text, SVG output in notebooks). False leaves matplotlib's settings alone.
    """
    quiet_tensorflow()
    if figures:
        from medlab.viz import book_style

        book_style()
    if tensorflow:
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
        if deterministic:
            tf.config.experimental.enable_op_determinism()
            tf.config.experimental.enable_tensor_float_32_execution(False)
    seed_everything(seed)
    info = SetupInfo(mode=mode_name(), seed=int(seed), device=device_summary())
    print(info)
    return info


COLAB_DRIVE = Path("/content/drive/MyDrive")
"""Where Colab mounts the reader's Google Drive (``drive.mount("/content/drive")``)."""


def colab_after_install(before: dict[str, str], *, drive: str | os.PathLike = COLAB_DRIVE) -> dict:
    """Report what the setup cell's ``%pip install`` changed; stop if the session must restart.

    Introduced in the chapter *Background* (the setup cell, Colab branch only). ``before`` maps
    each installed distribution to its version, taken just before the install. A package that
    pip changed while one of its modules was already imported keeps running the old code until
    the session restarts, so this raises with that instruction instead of letting the chapter
    run on a mixture of versions. When Google Drive is mounted (``drive`` exists), downloads and
    trained models go to ``drive/medlab`` (``MEDLAB_DOWNLOAD_DIR``) and survive the session.

    Returns
    -------
    dict
        ``added`` (name -> version), ``changed`` (name -> (old, new)), ``restart`` (names).

    Raises
    ------
    RuntimeError
        If a package already imported in this session was changed: restart, then run the cell again.
    """
    import importlib
    import importlib.metadata as md

    if not isinstance(before, dict):
        raise TypeError(f"before must be a dict of distribution versions, got {type(before).__name__}")
    importlib.invalidate_caches()
    now = {d.metadata["Name"]: d.version for d in md.distributions() if d.metadata["Name"]}
    norm_before = {_normalise(k): v for k, v in before.items()}
    added = {k: v for k, v in now.items() if _normalise(k) not in norm_before}
    changed = {k: (norm_before[_normalise(k)], v) for k, v in now.items()
               if _normalise(k) in norm_before and norm_before[_normalise(k)] != v}
    providers = md.packages_distributions()
    imported = {_normalise(d) for m in list(sys.modules) for d in providers.get(m.partition(".")[0], [])}
    restart = sorted(k for k in changed if _normalise(k) in imported)
    print(f"pip added {len(added)} package(s)"
          + (": " + ", ".join(f"{k} {v}" for k, v in sorted(added.items())) if added else "")
          + f"; changed {len(changed)}"
          + (": " + ", ".join(f"{k} {a} -> {b}" for k, (a, b) in sorted(changed.items())) if changed else ""))
    drive_dir = Path(drive)
    if drive_dir.is_dir() and not os.environ.get("MEDLAB_DOWNLOAD_DIR"):
        os.environ["MEDLAB_DOWNLOAD_DIR"] = str(drive_dir / "medlab")
        print(f"Google Drive is mounted: downloads and trained models are kept in {drive_dir / 'medlab'}")
    elif not drive_dir.is_dir():
        print("Downloads last as long as this session; to keep them, mount Google Drive "
              "(from google.colab import drive; drive.mount('/content/drive')) and run this cell again.")
    if restart:
        raise RuntimeError(
            "Restart the session (Runtime > Restart session), then run this cell again: pip changed "
            + ", ".join(f"{k} {changed[k][0]} -> {changed[k][1]}" for k in restart)
            + ", already imported in this session.")
    return {"added": added, "changed": changed, "restart": restart}


GLUED: dict[str, Any] = {}
"""Every value glued in this kernel, by name: a chapter's cell that checks the claims of its
prose against the run's numbers reads them here."""


def glue(name: str, value: Any, display: bool = False) -> None:
    """Store ``value`` for the prose of the rendered book (myst-nb ``glue``) and in :data:`GLUED`.

    NumPy scalars are converted to Python numbers first: NumPy 2 shows
    ``np.float64(0.9)`` as its text form, which myst-nb cannot format with
    ``{glue:text}`name:.3f```. Outside a book build (e.g. on Colab, where
    myst-nb is not installed) the value is only kept in :data:`GLUED`.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string (the glue key), got {name!r}")
    if isinstance(value, np.generic):
        value = value.item()
    GLUED[name] = value
    try:
        from myst_nb import glue as _glue
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    _glue(name, value, display=display)
    return None


def _version() -> str:
    from medlab._version import __version__

    return __version__


KEY_PACKAGES = (
    "tensorflow", "keras", "numpy", "SimpleITK", "pydicom", "pydicom-data", "nibabel", "nilearn",
    "scikit-learn", "scikit-image", "matplotlib", "pooch", "ipywidgets", "jupyter-book",
)
"""Packages whose versions :func:`doctor` always prints."""

LOCK_FILE = Path(__file__).resolve().parents[1] / "requirements.lock"
"""The lock file of a repository checkout (absent when medlab was installed from a wheel)."""


def _normalise(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def locked_versions(path: str | os.PathLike | None = None) -> dict[str, str]:
    """Exact versions pinned in ``requirements.lock``: ``{normalised name: version}``.

    Introduced in the chapter *Background* (the setup cell and `doctor`).
    Returns an empty dict when there is no lock file (e.g. on Colab).
    """
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a path to a lock file, got {type(path).__name__}")
    lock = Path(path) if path is not None else LOCK_FILE
    if not lock.is_file():
        return {}
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9_.\-]*)==([^\s\\;]+)", lock.read_text(), re.M)
    return {_normalise(name): version for name, version in pins}


def lock_differences(path: str | os.PathLike | None = None) -> list[tuple[str, str, str | None]]:
    """``(package, locked, installed)`` for every locked package installed at another version.

    ``installed`` is None for a locked package that is missing. An empty list
    means the environment is exactly the one the book's numbers were made with.
    """
    out = []
    for name, version in locked_versions(path).items():
        got = _installed(name)
        if not _same_version(version, got):
            out.append((name, version, got))
    return out


def _same_version(locked: str, installed: str | None) -> bool:
    """``2.13.0`` pinned is satisfied by ``2.13.0+cpu`` installed (a local build label), as in pip."""
    if installed is None:
        return False
    if installed == locked:
        return True
    from packaging.version import InvalidVersion, Version

    try:
        want, got = Version(locked), Version(installed)
    except InvalidVersion:
        return False
    return want == got or (not want.local and want.public == got.public)


def _installed(dist: str) -> str | None:
    if dist == "python":
        return platform.python_version()
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def doctor(check_tensorflow: bool = True) -> list[str]:
    """Print a health report and return the list of problems found.

    Compares every installed package with ``requirements.lock`` (the exact
    environment the book's numbers were made with) and prints each
    difference, then the compute device, the quick/full mode and the state of
    every data file the book uses, saying what to do about each problem.
    """
    if not isinstance(check_tensorflow, (bool, np.bool_)):
        raise TypeError(f"check_tensorflow must be True or False, got {check_tensorflow!r}")
    problems: list[str] = []
    print(f"medlab {_version()} on {platform.platform()}, Python {platform.python_version()}")
    locked = locked_versions()
    print(f"{'package':<14}{'installed':<14}locked")
    for dist in KEY_PACKAGES:
        print(f"{dist:<14}{_installed(dist) or '-':<14}{locked.get(_normalise(dist), '-')}")
    if not locked:
        print(f"no lock file at {LOCK_FILE}: versions not compared (fine on Colab)")
    else:
        diffs = lock_differences()
        for name, want, got in diffs:
            print(f"  differs from the lock: {name} {got or 'missing'} (locked {want})")
        if diffs:
            problems.append(f"{len(diffs)} of {len(locked)} packages differ from requirements.lock: "
                            "bash scripts/setup.sh installs the locked versions (numbers may differ)")
        else:
            print(f"all {len(locked)} locked packages installed at their locked versions")
    try:
        mode = mode_name()
    except ValueError as err:
        mode = "?"
        problems.append(str(err))
    if check_tensorflow and _installed("tensorflow"):
        quiet_tensorflow()
        import tensorflow  # noqa: F401
    print(f"mode: {mode} (set {QUICK_ENV}=1 for quick mode) | device: {device_summary()}")
    problems += _doctor_data()
    print("\n".join(["problems:", *(f"  - {p}" for p in problems)]) if problems else "all good")
    return problems


def _doctor_data() -> list[str]:
    from medlab import data

    problems = []
    folders = os.pathsep.join(map(str, data.data_dirs()))
    print(f"data folders: {folders} ({data.DATA_DIR_ENV}={os.environ.get(data.DATA_DIR_ENV)})")
    rows = {r["name"]: r for r in data.status()}
    for name in data.BOOK_FILES:
        row = rows[name]
        print(f"  {name:<36}{row['state']:<16}{row['where']}")
        if row["state"] == "not downloaded":
            problems.append(f"{name} not cached: medlab.data.fetch({name!r}) downloads it (needs "
                            "internet; in a clone of the book, python -m tools.fetch_data --all fetches "
                            f"every file), or set {data.DATA_DIR_ENV} to a folder holding it")
        elif row["state"] != "verified":
            problems.append(f"{name}: {row['state']}")
    return problems
