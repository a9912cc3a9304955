"""Figures of the book.

Overlay part: introduced in the chapter *U-Net: segmentation shape by shape*
(chapters/unet.ipynb). Label maps are drawn as semi-transparent colours over a
greyscale image; label 0 (background) is left transparent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# --- label overlays (chapter unet) ------------------------------------------------------------------

TISSUE_COLORS = ("#00000000", "#3b528b", "#21918c", "#fde725")
"""Default colours of labels 0..3 (transparent, then three viridis colours)."""


def label_rgba(labels: np.ndarray, colors: Sequence[str] = TISSUE_COLORS, alpha: float = 0.45) -> np.ndarray:
    """Turn a 2D integer label map into an RGBA image for :func:`matplotlib.pyplot.imshow`.

    Label ``k`` gets ``colors[k]`` with opacity ``alpha``; label 0 is fully
    transparent. Raises ValueError for labels without a colour.
    """
    from matplotlib.colors import to_rgba

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2D label map, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(colors)):
        raise ValueError(f"labels range {labels.min()}..{labels.max()} but only {len(colors)} colours given")
    table = np.array([to_rgba(c) for c in colors], dtype=float)
    table[1:, 3] = alpha
    table[0, 3] = 0.0
    return table[labels]


def overlay(ax: Any, image: np.ndarray, labels: np.ndarray | None = None,
            colors: Sequence[str] = TISSUE_COLORS, alpha: float = 0.45,
            window: tuple[float, float] | None = None, extent: Sequence[float] | None = None) -> Any:
    """Draw a greyscale 2D image with an optional label-map overlay on ``ax``.

    ``image`` and ``labels`` are indexed ``[row, column]`` and drawn with row 0
    at the top. ``window`` is the grey range (default: 1st-99th percentile).
    Returns ``ax``.
    """
    image = np.asarray(image, dtype=float)
    if image.ndim != 2:
        raise ValueError(f"image must be 2D, got shape {image.shape}")
    if labels is not None and np.shape(labels) != image.shape:
        raise ValueError(f"labels shape {np.shape(labels)} differs from image shape {image.shape}")
    lo, hi = window if window is not None else np.percentile(image, [1, 99])
    ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, extent=extent, interpolation="nearest")
    if labels is not None:
        ax.imshow(label_rgba(labels, colors, alpha), extent=extent, interpolation="nearest")
    return ax


def three_planes(volume: np.ndarray, labels: np.ndarray | None = None,
                 index: Sequence[int] | None = None, spacing: Sequence[float] = (1.0, 1.0, 1.0),
                 titles: Sequence[str] = ("sagittal", "coronal", "axial"), axes: Sequence[Any] | None = None,
                 **kwargs: Any) -> Any:
    """Show a volume indexed ``[x, y, z]`` (RAS-like, as nibabel returns it) in three planes.

    Each plane is drawn with the patient's top (or front) up and millimetre
    axes from ``spacing``; ``index`` is the (x, y, z) voxel where the planes
    cross (default: the centre). Extra keyword arguments go to :func:`overlay`.
    Returns the figure.
    """
    import matplotlib.pyplot as plt

    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"volume must be 3D [x, y, z], got shape {volume.shape}")
    if labels is not None and np.shape(labels) != volume.shape:
        raise ValueError(f"labels shape {np.shape(labels)} differs from volume shape {volume.shape}")
    index = [s // 2 for s in volume.shape] if index is None else list(index)
    if len(index) != 3 or any(not 0 <= i < s for i, s in zip(index, volume.shape, strict=True)):
        raise ValueError(f"index must be 3 voxel indices inside {volume.shape}, got {index!r}")
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    sx, sy, sz = spacing
    nx, ny, nz = volume.shape
    cuts = [(np.s_[index[0], :, :], (0, ny * sy, 0, nz * sz), ("y (mm)", "z (mm)")),
            (np.s_[:, index[1], :], (0, nx * sx, 0, nz * sz), ("x (mm)", "z (mm)")),
            (np.s_[:, :, index[2]], (0, nx * sx, 0, ny * sy), ("x (mm)", "y (mm)"))]
    window = kwargs.pop("window", tuple(np.percentile(volume, [1, 99])))
    for ax, (cut, extent, (xl, yl)), title in zip(axes, cuts, titles, strict=True):
        lab = None if labels is None else np.asarray(labels)[cut].T[::-1]
        overlay(ax, volume[cut].T[::-1], lab, window=window, extent=extent, **kwargs)
        ax.set_title(title)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
    return axes[0].figure
