"""Sliding-window inference: predict a large image window by window and blend.

Introduced in the chapter *Segmentation in 3D: the hippocampus*
(chapters/hippocampus.ipynb), where it is first written out in the open.
The windows and their blending follow MONAI's ``sliding_window_inference``
(``monai/inferers/utils.py``, functions ``sliding_window_inference`` and
``_get_scan_interval``; ``monai/data/utils.py``, ``dense_patch_slices``):

* the step between windows along an axis is ``int(roi * (1 - overlap))``
  (at least 1; the whole axis when the window spans it);
* windows start at ``0, step, 2 step, ...`` until one reaches the end; the
  last start is moved back to ``size - roi`` so no window leaves the image;
* an image smaller than the window is zero-padded (centred) first and the
  padding removed from the result;
* each window's prediction is multiplied by an importance map (all ones, or
  a Gaussian with standard deviation ``sigma_scale * roi`` centred on the
  window, clamped below at ``1e-3``), summed into the output and divided by
  the summed importance (the "count map").

Arrays here are channels-last NumPy arrays without a batch axis:
``image[..., channels]``; the predictor takes a batch ``(n, *roi, c)`` and
returns ``(n, *roi, k)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from medlab.validate import check_array, check_int, check_number, check_one_of

BLEND_MODES = ("constant", "gaussian")
"""Weightings of :func:`sliding_window_inference`."""


def _sizes(value: Sequence[int], name: str) -> tuple[int, ...]:
    arr = check_array(value, name, ndim=1, kind="integer", non_empty=True)
    if arr.min() < 1:
        raise ValueError(f"{name} must be positive sizes, got {tuple(arr.tolist())}")
    return tuple(int(v) for v in arr)


def scan_interval(image_size: Sequence[int], roi_size: Sequence[int], overlap: float) -> tuple[int, ...]:
    """Step between window starts along each axis (MONAI's ``_get_scan_interval``)."""
    overlap = check_number(overlap, "overlap", low=0, high=1, high_open=True)
    image_size, roi_size = _sizes(image_size, "image_size"), _sizes(roi_size, "roi_size")
    if len(image_size) != len(roi_size):
        raise ValueError(f"image_size {tuple(image_size)} and roi_size {tuple(roi_size)} differ in length")
    return tuple(int(r) if r == s else max(int(r * (1 - overlap)), 1)
                 for s, r in zip(image_size, roi_size, strict=True))


def window_starts(size: int, roi: int, step: int) -> list[int]:
    """Start indices of the windows along one axis: ``0, step, ...``, the last moved to ``size - roi``."""
    size, roi = check_int(size, "size", low=1), check_int(roi, "roi", low=1)
    step = check_int(step, "step", low=1)
    if roi > size:
        raise ValueError(f"need 1 <= roi <= size and step >= 1, got size={size}, roi={roi}, step={step}")
    n = next(d for d in range(size) if d * step + roi >= size) + 1
    return [min(d * step, size - roi) for d in range(n)]


def window_slices(image_size: Sequence[int], roi_size: Sequence[int],
                  overlap: float = 0.25) -> list[tuple[slice, ...]]:
    """All windows (tuples of slices) covering an image, in row-major order."""
    steps = scan_interval(image_size, roi_size, overlap)
    starts = [window_starts(s, r, st) for s, r, st in zip(image_size, roi_size, steps, strict=True)]
    return [tuple(slice(a, a + r) for a, r in zip(origin, roi_size, strict=True))
            for origin in itertools.product(*starts)]


def importance_map(roi_size: Sequence[int], mode: str = "constant",
                   sigma_scale: float = 0.125) -> np.ndarray:
    """Weight of every voxel of a window: ones, or a Gaussian peaking at 1 in the centre.

    The Gaussian has standard deviation ``sigma_scale * roi`` along each axis
    and is centred on voxel ``roi // 2``; weights below 1e-3 are raised to
    1e-3 so every voxel of the image keeps a positive total weight.
    """
    check_one_of(mode, "mode", BLEND_MODES)
    roi_size = _sizes(roi_size, "roi_size")
    sigma_scale = check_number(sigma_scale, "sigma_scale", low=0, low_open=True)
    if mode == "constant":
        return np.ones(roi_size, dtype=np.float32)
    w = np.ones(roi_size, dtype=np.float64)
    for axis, r in enumerate(roi_size):
        d = np.arange(r) - r // 2
        g = np.exp(-0.5 * (d / (sigma_scale * r)) ** 2)
        shape = [1] * len(roi_size)
        shape[axis] = r
        w = w * g.reshape(shape)
    w /= w.max()
    return np.maximum(w, 1e-3).astype(np.float32)


def sliding_window_inference(image: np.ndarray, roi_size: Sequence[int],
                             predictor: Callable[[np.ndarray], np.ndarray], *, overlap: float = 0.25,
                             mode: str = "constant", sigma_scale: float = 0.125,
                             batch_size: int = 4) -> np.ndarray:
    """Predict ``image`` window by window and blend the overlapping predictions.

    Parameters
    ----------
    image
        Channels-last array ``(*spatial, channels)``, e.g. ``(d, h, w, 1)``.
    roi_size
        Window size, one per spatial axis; a size larger than the image pads
        the image with zeros (centred) for the prediction.
    predictor
        Function from a batch ``(n, *roi_size, channels)`` to ``(n, *roi_size, k)``,
        e.g. ``lambda x: model.predict(x, verbose=0)``.
    overlap
        Fraction of a window shared with the next one, in ``[0, 1)``.
    mode
        ``"constant"`` (every prediction counts equally) or ``"gaussian"``
        (predictions near a window's centre count more).
    sigma_scale
        Gaussian standard deviation as a fraction of the window size.
    batch_size
        Windows passed to ``predictor`` at once.

    Returns
    -------
    numpy.ndarray
        ``(*spatial, k)``: the weighted mean of all window predictions at each voxel.
    """
    image = check_array(image, "image", finite=True)
    n_spatial = image.ndim - 1
    roi = _sizes(roi_size, "roi_size")
    overlap = check_number(overlap, "overlap", low=0, high=1, high_open=True)
    sigma_scale = check_number(sigma_scale, "sigma_scale", low=0, low_open=True)
    check_one_of(mode, "mode", BLEND_MODES)
    if not callable(predictor):
        raise TypeError(f"predictor must be a function of a batch of windows, got {type(predictor).__name__}")
    if n_spatial < 1 or len(roi) != n_spatial:
        raise ValueError(f"image must be (*spatial, channels) with {len(roi)} spatial axes to match "
                         f"roi_size {roi}; got shape {image.shape}")
    batch_size = check_int(batch_size, "batch_size", low=1)
    spatial = image.shape[:-1]
    extra = [max(r - s, 0) for s, r in zip(spatial, roi, strict=True)]
    pads = [(e // 2, e - e // 2) for e in extra]
    padded = np.pad(image, [*pads, (0, 0)])
    size = padded.shape[:-1]
    weight = importance_map(roi, mode, sigma_scale)
    windows = window_slices(size, roi, overlap)
    out = count = None
    for i in range(0, len(windows), int(batch_size)):
        chunk = windows[i:i + int(batch_size)]
        pred = np.asarray(predictor(np.stack([padded[w] for w in chunk])), dtype=np.float32)
        if pred.shape[:-1] != (len(chunk), *roi):
            raise ValueError(f"predictor returned shape {pred.shape}; expected ({len(chunk)}, *{roi}, k)")
        if not np.isfinite(pred).all():
            raise ValueError("predictor returned NaN or infinite values for windows "
                             f"{i}..{i + len(chunk) - 1}; check the model and its input")
        if out is None:
            out = np.zeros((*size, pred.shape[-1]), np.float32)
            count = np.zeros(size, np.float32)
        for w, p in zip(chunk, pred, strict=True):
            out[w] += weight[..., None] * p
            count[w] += weight
    out /= count[..., None]
    crop = tuple(slice(a, a + s) for (a, _), s in zip(pads, spatial, strict=True))
    return out[crop]
