"""Preparing image intensities and geometry for a network.

Introduced in the chapter *Medical images as data* (chapters/images_as_data.ipynb):
windowing of CT values, clipping and scaling, z-scoring, 8-bit export,
resizing with the aspect ratio kept, and resampling with SimpleITK.

Array functions take NumPy arrays; resampling functions take
:class:`SimpleITK.Image` objects (they need the geometry) and give spacings in
SimpleITK's ``(x, y, z)`` order, like ``image.GetSpacing()``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from medlab.validate import check_finite, check_int, check_number, check_one_of

CT_WINDOWS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "mediastinum": (50.0, 350.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
}
"""Common CT display windows as ``(level, width)`` in HU (textbook values;
sites and vendors use slightly different ones)."""

INTERPOLATORS = {
    "nearest": sitk.sitkNearestNeighbor,
    "linear": sitk.sitkLinear,
    "bspline": sitk.sitkBSpline,
    "label_gaussian": sitk.sitkLabelGaussian,
}
"""SimpleITK interpolators by name. Label maps need ``"nearest"`` or ``"label_gaussian"``."""


def _numeric(array, name: str = "array", ndims: Sequence[int] | None = None, *,
             finite: bool = True) -> np.ndarray:
    arr = np.asarray(array)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if ndims is not None and arr.ndim not in ndims:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndims))} dimensions, "
                         f"got {arr.ndim} (shape {arr.shape})")
    if finite:
        check_finite(arr, name)
    return arr


def clip_scale(array, low: float, high: float) -> np.ndarray:
    """Clip values to ``[low, high]`` and map that range linearly onto ``[0, 1]``."""
    arr = _numeric(array)
    low, high = check_number(low, "low"), check_number(high, "high")
    if high <= low:
        raise ValueError(f"high ({high}) must be larger than low ({low})")
    return np.clip((arr.astype(np.float64) - low) / (high - low), 0.0, 1.0)


def window(array, level: float, width: float) -> np.ndarray:
    """Apply a display window: values in ``level +- width/2`` map linearly to ``[0, 1]``.

    Values below the window become 0 (black), values above it 1 (white). This
    is SimpleITK's ``IntensityWindowing``; the DICOM standard's VOI LUT
    formula differs from it by half a stored unit.

    Raises
    ------
    ValueError
        If ``width`` is not positive or a parameter is not finite.
    """
    level, width = check_number(level, "level"), check_number(width, "width")
    if width <= 0:
        raise ValueError(f"window width must be positive, got {width}")
    return clip_scale(array, level - width / 2, level + width / 2)


def percentile_scale(array, low: float = 1.0, high: float = 99.0, mask=None) -> np.ndarray:
    """Clip to the ``low``-th and ``high``-th percentiles (inside ``mask``) and scale to [0, 1].

    For images without an absolute unit (MR, radiographs, ultrasound).
    """
    arr = _numeric(array)
    low = check_number(low, "low", low=0, high=100)
    high = check_number(high, "high", low=0, high=100)
    if not low < high:
        raise ValueError(f"low must be smaller than high (low < high), got low={low:g}, high={high:g}")
    values = arr[_mask(mask, arr.shape)] if mask is not None else arr
    lo, hi = np.percentile(values, [low, high])
    if hi <= lo:
        raise ValueError(f"the {low:g}th and {high:g}th percentiles of array are equal ({lo}): "
                         "a constant image (or mask) cannot be scaled")
    return clip_scale(arr, float(lo), float(hi))


def zscore(array, mask=None) -> np.ndarray:
    """Subtract the mean and divide by the standard deviation (both over ``mask``).

    The usual normalisation for MR, whose intensities have no absolute unit.
    """
    arr = _numeric(array).astype(np.float64)
    values = arr[_mask(mask, arr.shape)] if mask is not None else arr
    sd = values.std()
    if not sd > 0:
        raise ValueError("cannot z-score a constant image: array has standard deviation 0"
                         + (" inside mask" if mask is not None else ""))
    return (arr - values.mean()) / sd


def _mask(mask, shape) -> np.ndarray:
    m = np.asarray(mask)
    if m.dtype.kind not in "biu":
        raise TypeError(f"mask must be boolean (or 0/1 integers), got dtype {m.dtype}")
    if m.shape != shape:
        raise ValueError(f"mask shape {m.shape} differs from the image shape {shape}")
    m = m.astype(bool)
    if not m.any():
        raise ValueError("mask is empty")
    return m


def to_uint8(array01) -> np.ndarray:
    """Quantise values in ``[0, 1]`` to 8 bits (0-255), as PNG/JPEG export does."""
    arr = _numeric(array01, "array01").astype(np.float64)
    if arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"array01 must hold values in [0, 1], got {arr.min():g} to {arr.max():g}; "
                         "window or scale the image first")
    return np.round(arr * 255).astype(np.uint8)


def resize_keep_aspect(array, size: int, *, spacing: Sequence[float] | None = None, order: int = 1,
                       pad_value: float = 0.0) -> np.ndarray:
    """Resize a 2D image so its longer side is ``size`` pixels, then pad to ``size x size``.

    Parameters
    ----------
    array
        2D image ``(rows, columns)``.
    size
        Side of the square output.
    spacing
        Pixel spacing ``(row, column)`` in mm. When given, the *physical*
        aspect ratio is kept (square output pixels); otherwise the pixel aspect.
    order
        Spline order: 1 (linear) for images, 0 (nearest) for label maps.
    pad_value
        Value of the padding (e.g. -1024 for CT in HU, 0 for labels).
    """
    from skimage.transform import resize

    arr = _numeric(array, ndims=(2,))
    size = check_int(size, "size", low=1)
    order = check_one_of(check_int(order, "order"), "order", (0, 1, 3))
    pad_value = check_number(pad_value, "pad_value")
    if spacing is None:
        sy, sx = 1.0, 1.0
    else:
        sp = np.asarray(spacing)
        if sp.shape != (2,) or sp.dtype.kind not in "iuf":
            raise ValueError(f"spacing must be two numbers (row, column) in mm, got {spacing!r}")
        sy, sx = (check_number(v, "spacing", low=0, low_open=True) for v in sp)
    height, width = arr.shape[0] * sy, arr.shape[1] * sx
    scale = size / max(height, width)
    new = (max(1, round(height * scale)), max(1, round(width * scale)))
    small = resize(arr.astype(np.float64), new, order=order, anti_aliasing=order > 0,
                   preserve_range=True, mode="edge")
    out = np.full((size, size), float(pad_value))
    top, left = (size - new[0]) // 2, (size - new[1]) // 2
    out[top:top + new[0], left:left + new[1]] = small
    return out.astype(arr.dtype) if order == 0 else out


def _interpolator(name: str) -> int:
    if name not in INTERPOLATORS:
        raise ValueError(f"unknown interpolator {name!r}; choose one of {sorted(INTERPOLATORS)}")
    return INTERPOLATORS[name]


def resample_to_spacing(image: sitk.Image, spacing: float | Sequence[float],
                        interpolator: str = "linear", default_value: float = 0.0) -> sitk.Image:
    """Resample an image onto a grid with the given voxel spacing (mm).

    The direction is kept. The number of voxels is chosen so that the field of
    view stays the same (rounded to whole voxels), and the grid is placed so
    that its outer edges coincide with the input's: the first voxel's *centre*
    moves by half the change in spacing. (Keeping the origin instead shifts
    the field of view and leaves empty voxels at the far end.)

    Parameters
    ----------
    image
        The image to resample.
    spacing
        New spacing, one number (isotropic) or one per axis in SimpleITK's
        ``(x, y, z)`` order.
    interpolator
        ``"linear"`` or ``"bspline"`` for images, ``"nearest"`` or
        ``"label_gaussian"`` for label maps (linear interpolation invents
        labels that were never drawn).
    default_value
        Value of voxels that fall outside the input.
    """
    if not isinstance(image, sitk.Image):
        raise TypeError(f"expected a SimpleITK.Image, got {type(image).__name__}")
    dim = image.GetDimension()
    new = [float(spacing)] * dim if np.isscalar(spacing) else [float(s) for s in spacing]
    if len(new) != dim or min(new) <= 0 or not all(map(math.isfinite, new)):
        raise ValueError(f"spacing must be {dim} positive numbers (or one), got {spacing}")
    old = np.array(image.GetSpacing())
    size = [max(1, round(n * s / t)) for n, s, t in zip(image.GetSize(), old, new, strict=True)]
    # Keep the outer edge of the first voxel in place: centres move by half the spacing change.
    direction = np.array(image.GetDirection()).reshape(dim, dim)
    origin = np.array(image.GetOrigin()) + direction @ ((np.array(new) - old) / 2)
    return sitk.Resample(image, size, sitk.Transform(), _interpolator(interpolator), origin.tolist(),
                         new, image.GetDirection(), float(default_value), image.GetPixelID())


def resample_like(image: sitk.Image, reference: sitk.Image, interpolator: str = "linear",
                  default_value: float = 0.0) -> sitk.Image:
    """Resample ``image`` onto the voxel grid of ``reference`` (same size, spacing, origin, direction)."""
    for name, im in (("image", image), ("reference", reference)):
        if not isinstance(im, sitk.Image):
            raise TypeError(f"{name} must be a SimpleITK.Image, got {type(im).__name__}")
    return sitk.Resample(image, reference, sitk.Transform(), _interpolator(interpolator),
                         float(default_value), image.GetPixelID())
