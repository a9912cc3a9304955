"""Evaluation metrics of the book.

Segmentation part: introduced in the chapter *U-Net: segmentation shape by
shape* (chapters/unet.ipynb). Masks are NumPy arrays of any dimension (2D
slices or 3D volumes); distances are in the units of ``spacing`` (mm).

Empty masks have a defined, documented result, never a NaN:

* Dice and IoU: both masks empty -> 1.0 (they agree perfectly); one empty -> 0.0.
* Hausdorff distances: both empty -> 0.0; exactly one empty -> ``inf``
  (no surface to measure to).
* Relative volume difference: truth empty -> 0.0 if the prediction is empty
  too, else ``inf``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# --- segmentation metrics (chapter unet) ------------------------------------------------------------


def _seg_masks(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert a pair of binary masks."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"pred and truth must have the same shape, got {pred.shape} and {truth.shape}")
    if pred.size == 0:
        raise ValueError("masks are empty arrays (size 0); pass at least one pixel")
    for name, m in (("pred", pred), ("truth", truth)):
        if m.dtype != bool and not np.isin(m, (0, 1)).all():
            raise ValueError(f"{name} must be a binary mask (bool or 0/1); for a label map pass "
                             f"`labels == k`, or use dice_per_class")
    return pred.astype(bool), truth.astype(bool)


def _seg_spacing(spacing: float | Sequence[float] | None, ndim: int) -> np.ndarray:
    if spacing is None:
        return np.ones(ndim)
    sp = np.broadcast_to(np.asarray(spacing, dtype=float), (ndim,)) if np.ndim(spacing) == 0 \
        else np.asarray(spacing, dtype=float)
    if sp.shape != (ndim,) or not np.all(sp > 0):
        raise ValueError(f"spacing must be one positive number or {ndim} of them (one per axis), "
                         f"got {spacing!r}")
    return sp


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient ``2|P & T| / (|P| + |T|)`` of two binary masks.

    Both masks empty gives 1.0, one empty gives 0.0 (see the module docstring).
    """
    p, t = _seg_masks(pred, truth)
    total = int(p.sum()) + int(t.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(p, t).sum()) / total


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union (Jaccard index) ``|P & T| / |P | T|`` of two binary masks.

    Both masks empty gives 1.0, one empty gives 0.0. For any pair,
    ``iou = dice / (2 - dice)``.
    """
    p, t = _seg_masks(pred, truth)
    union = int(np.logical_or(p, t).sum())
    return 1.0 if union == 0 else int(np.logical_and(p, t).sum()) / union


def surface(mask: np.ndarray) -> np.ndarray:
    """Surface (contour) voxels of a binary mask: foreground voxels with a background
    face-neighbour; the region outside the array counts as background."""
    from scipy import ndimage

    m = np.asarray(mask, dtype=bool)
    return m & ~ndimage.binary_erosion(m, structure=ndimage.generate_binary_structure(m.ndim, 1),
                                       border_value=0)


def surface_distances(pred: np.ndarray, truth: np.ndarray,
                      spacing: float | Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distances from every surface voxel of ``pred`` to the surface of ``truth``, and back.

    Returns
    -------
    (d_pred_to_truth, d_truth_to_pred)
        1D arrays in the units of ``spacing`` (Euclidean distance between voxel centres).
    """
    from scipy import ndimage

    p, t = _seg_masks(pred, truth)
    sp = _seg_spacing(spacing, p.ndim)
    sp_, st_ = surface(p), surface(t)
    if not sp_.any() or not st_.any():
        raise ValueError("surface distances need two non-empty masks; hausdorff() handles empty ones")
    to_t = ndimage.distance_transform_edt(~st_, sampling=sp)
    to_p = ndimage.distance_transform_edt(~sp_, sampling=sp)
    return to_t[sp_], to_p[st_]


def hausdorff(pred: np.ndarray, truth: np.ndarray, percentile: float = 100.0,
              spacing: float | Sequence[float] | None = None) -> float:
    """Symmetric Hausdorff distance between the surfaces of two masks.

    ``percentile=100`` gives the classical (maximum) Hausdorff distance;
    ``percentile=95`` the robust HD95: the 95th percentile of the distances
    of both directions pooled together. Both masks empty -> 0.0; exactly one
    empty -> ``inf``.
    """
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {percentile!r}")
    p, t = _seg_masks(pred, truth)
    _seg_spacing(spacing, p.ndim)  # check it even when a mask is empty
    if not p.any() and not t.any():
        return 0.0
    if not p.any() or not t.any():
        return float("inf")
    d_pt, d_tp = surface_distances(p, t, spacing)
    return float(np.percentile(np.concatenate([d_pt, d_tp]), percentile))


def hd95(pred: np.ndarray, truth: np.ndarray, spacing: float | Sequence[float] | None = None) -> float:
    """95th-percentile Hausdorff distance (see :func:`hausdorff`)."""
    return hausdorff(pred, truth, 95.0, spacing)


def volume_difference(pred: np.ndarray, truth: np.ndarray, relative: bool = True,
                      spacing: float | Sequence[float] | None = None) -> float:
    """Signed volume difference ``V(pred) - V(truth)``.

    With ``relative=True`` (default) it is divided by ``V(truth)`` (0.05 means
    5 % too large); truth empty -> 0.0 if pred is empty too, else ``inf``.
    Otherwise it is in the units of ``spacing`` cubed (mm^3 for spacing in mm).
    """
    p, t = _seg_masks(pred, truth)
    voxel = float(np.prod(_seg_spacing(spacing, p.ndim)))
    vp, vt = p.sum() * voxel, t.sum() * voxel
    if not relative:
        return float(vp - vt)
    if vt == 0:
        return 0.0 if vp == 0 else float("inf")
    return float((vp - vt) / vt)


def dice_per_class(pred: np.ndarray, truth: np.ndarray, labels: Sequence[int]) -> dict[int, float]:
    """Dice of every label of two label maps (integer arrays of the same shape)."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"pred and truth must have the same shape, got {pred.shape} and {truth.shape}")
    for name, a in (("pred", pred), ("truth", truth)):
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"{name} must be an integer label map, got dtype {a.dtype}")
    return {int(k): dice(pred == k, truth == k) for k in labels}


def segmentation_report(pred: np.ndarray, truth: np.ndarray, labels: dict[int, str],
                        spacing: float | Sequence[float] | None = None) -> list[dict[str, float | str]]:
    """Dice, IoU, HD95 and relative volume difference of each named label of two label maps."""
    rows = []
    for k, name in labels.items():
        p, t = np.asarray(pred) == k, np.asarray(truth) == k
        rows.append({"class": name, "dice": dice(p, t), "iou": iou(p, t), "hd95": hd95(p, t, spacing),
                     "volume_difference": volume_difference(p, t, spacing=spacing)})
    return rows
