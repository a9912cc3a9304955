"""Input checks: the one home of the rules a public ``medlab`` function applies to its arguments.

Every public function checks its arguments once, at its entry, with these helpers; the private
helpers it calls trust what was checked. (scikit-image keeps its checks the same way, in one
module, ``skimage/_shared/utils.py``.) Each helper raises ``TypeError`` (wrong kind of value) or
``ValueError`` (right kind, wrong value) with a message that names the argument, says what was
expected and shows what was given, and returns the value in the form the caller computes with
(an array, an ``int``, a ``float``), so that a check and a conversion are one line::

    from medlab import validate

    def shrink(images, factor, *, mode="area"):
        x = validate.check_images(images)
        factor = validate.check_int(factor, "factor", low=1)
        validate.check_one_of(mode, "mode", ("area", "nearest"))

Introduced with the batch checks of the chapter *A CNN classification project*
(:func:`check_images`, :func:`check_labels`) and of *Applications* (:func:`check_volumes`).
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

__all__ = [
    "check_array", "check_finite", "check_images", "check_int", "check_labels", "check_model", "check_number",
    "check_one_of", "check_probabilities", "check_same_length", "check_volumes",
]


def _shown(value: Any, limit: int = 60) -> str:
    """A short description of a given value for an error message."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({type(value).__name__})"


def check_one_of(value: Any, name: str, choices: Collection[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``; otherwise raise ``ValueError`` listing them."""
    try:
        ok = value in choices
    except TypeError:  # an unhashable value looked up in a set
        ok = False
    if not ok:
        listed = ", ".join(sorted(map(repr, choices)))
        raise ValueError(f"{name} must be one of {listed}, got {_shown(value)}")
    return value


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """An integer in ``[low, high]`` (either bound optional), as a Python ``int``.

    ``True``/``False`` and floats are refused, even ``3.0``: an epoch count or a seed that
    arrives as a float is usually a mistake upstream.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {_shown(value)}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = " and ".join(s for s in (f">= {low}" if low is not None else "",
                                          f"<= {high}" if high is not None else "") if s)
        raise ValueError(f"{name} must be an integer {bounds}, got {value}")
    return value


def check_number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number within the bounds given (closed unless ``low_open``/``high_open``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.number)):
        raise TypeError(f"{name} must be a number, got {_shown(value)}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
        where = f"in {lo or '(-inf'}, {hi or 'inf)'}"
        raise ValueError(f"{name} must be a number {where}, got {value:g}")
    return value


_KINDS = {"numeric": "biufc", "integer": "iu", "float": "f", "bool": "b"}


def check_array(value: Any, name: str, *, ndim: int | Sequence[int] | None = None,
                kind: str | None = "numeric", finite: bool = False, non_empty: bool = False) -> np.ndarray:
    """``value`` as a NumPy array, checked for its number of axes, its kind and finiteness.

    Parameters
    ----------
    value
        Array-like.
    name
        The argument's name, for the error message.
    ndim
        Required number of axes (one number, or several allowed).
    kind
        ``"numeric"`` (numbers or booleans), ``"integer"``, ``"float"``, ``"bool"``, or None
        (anything).
    finite
        Refuse NaN and infinite values.
    non_empty
        Refuse an array without elements.
    """
    arr = np.asarray(value)
    if kind is not None:
        allowed = _KINDS[check_one_of(kind, "kind", _KINDS)] + ("b" if kind == "numeric" else "")
        if arr.dtype.kind not in allowed:
            raise TypeError(f"{name} must be {kind}, got dtype {arr.dtype}")
    if ndim is not None:
        wanted = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in wanted:
            axes = " or ".join(map(str, wanted))
            raise ValueError(f"{name} must have {axes} axes, got shape {arr.shape}")
    if non_empty and arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if finite:
        check_finite(arr, name)
    return arr


def check_finite(value: Any, name: str) -> np.ndarray:
    """Refuse NaN and infinite values (counting them in the message); return the array."""
    arr = np.asarray(value)
    if arr.dtype.kind in "fc":
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        if bad:
            raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
    return arr


def check_probabilities(value: Any, name: str) -> np.ndarray:
    """Finite numbers in [0, 1] (e.g. a model's probabilities) as a float64 array."""
    arr = check_array(value, name, kind="numeric", finite=True).astype(np.float64)
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(f"{name} must be probabilities in [0, 1], got values from {arr.min():g} to "
                         f"{arr.max():g} (apply a sigmoid or softmax to logits first)")
    return arr


def check_same_length(first: tuple[str, Any], *others: tuple[str, Any]) -> int:
    """Refuse sequences of different lengths, given as ``(name, value)`` pairs; return the length."""
    n = len(first[1])
    for name, value in others:
        if len(value) != n:
            raise ValueError(f"{first[0]} has {n} entries but {name} has {len(value)}; "
                             "they must match one to one")
    return n


def _check_batch(data: Any, axes: Sequence[str], input_shape: Sequence[int] | None, name: str) -> np.ndarray:
    """A batch ``(n, *axes, channels)``: numeric, the right number of axes, the model's size."""
    arr = np.asarray(data)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != len(axes) + 2:
        hint = f" (add the channel axis: {name}[..., None])" if arr.ndim == len(axes) + 1 else ""
        raise ValueError(f"{name} must have shape (n, {', '.join(axes)}, channels), got {arr.shape}{hint}")
    if input_shape is not None:
        want = tuple(int(s) for s in input_shape)
        if arr.shape[1:-1] != want[:-1]:
            got, expected = "x".join(map(str, arr.shape[1:-1])), "x".join(map(str, want[:-1]))
            raise ValueError(f"{name} are {got} ({', '.join(axes)}); the model expects {expected}")
        if arr.shape[-1] != want[-1]:
            raise ValueError(f"{name} have {arr.shape[-1]} channel(s); the model expects {want[-1]}")
    return arr


def check_images(images: Any, input_shape: Sequence[int] | None = None, *,
                 name: str = "images") -> np.ndarray:
    """Check a batch of images ``(n, height, width, channels)`` and return it as an array.

    Parameters
    ----------
    images
        Array-like of shape ``(n, height, width, channels)``.
    input_shape
        Expected ``(height, width, channels)`` of one image, e.g. a model's input shape;
        ``None`` checks the number of axes only.
    name
        The argument's name, for the error message.

    Raises
    ------
    ValueError
        Wrong number of axes, wrong image size or wrong number of channels, with a message
        saying what was expected.
    TypeError
        Not numeric.
    """
    return _check_batch(images, ("height", "width"), input_shape, name)


def check_volumes(volumes: Any, input_shape: Sequence[int] | None = None, *,
                  name: str = "volumes") -> np.ndarray:
    """Check a batch of volumes ``(n, depth, height, width, channels)`` and return it as an array.

    Parameters
    ----------
    volumes
        Array-like of shape ``(n, depth, height, width, channels)``.
    input_shape
        Expected ``(depth, height, width, channels)`` of one volume, e.g. a model's input
        shape; ``None`` checks the number of axes only.
    name
        The argument's name, for the error message.

    Raises
    ------
    ValueError
        Wrong number of axes, wrong volume size or wrong number of channels.
    TypeError
        Not numeric.
    """
    return _check_batch(volumes, ("depth", "height", "width"), input_shape, name)


def check_labels(labels: Any, n_classes: int, *, name: str = "labels") -> np.ndarray:
    """Return integer class labels as a flat ``int64`` array, checking they lie in ``0 .. n_classes-1``.

    MedMNIST stores labels as a column ``(n, 1)``; that shape is accepted and flattened.

    Raises
    ------
    ValueError
        Labels that are not whole numbers, not one per image, or out of range.
    TypeError
        Labels that are not numbers.
    """
    n_classes = check_int(n_classes, "n_classes", low=1)
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must have shape (n,) or (n, 1), got {np.asarray(labels).shape}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be class indices (numbers), got dtype {arr.dtype}")
    if arr.size and not np.all(np.equal(np.mod(arr, 1), 0)):
        raise ValueError(f"{name} must be whole numbers (class indices), not probabilities")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(f"{name} must lie in 0..{n_classes - 1} for {n_classes} classes; "
                         f"found values from {arr.min()} to {arr.max()}")
    return arr


def check_model(model: Any, name: str = "model") -> Any:
    """A Keras model (anything with a ``predict`` method); return it.

    Checked by its attributes, so that this module never imports Keras; a path or a string given
    where a model is expected is refused with a ``TypeError`` instead of an ``AttributeError`` deep
    inside the function.
    """
    if isinstance(model, (str, bytes, np.ndarray)) or not hasattr(model, "predict"):
        raise TypeError(f"{name} must be a Keras model, got {_shown(model)}"
                        + (" (load a saved model with keras.saving.load_model first)"
                           if isinstance(model, str) else ""))
    return model
