"""Multi-patient 3D segmentation: the Decathlon's hippocampus volumes.

Introduced in the chapter *3D segmentation across patients*
(chapters/hippocampus.ipynb). The Medical Segmentation Decathlon's Task04
(Simpson et al. 2019) holds 260 T1-weighted MRI crops around one hippocampus,
each with a label volume: 0 background, 1 anterior (head), 2 posterior (body
and tail). The cases are loaded by :func:`medlab.data.load_hippocampus` (registered as
``imagesTr/hippocampus_NNN.nii.gz`` and ``labelsTr/hippocampus_NNN.nii.gz``).

Everything here works on NumPy arrays indexed ``[x, y, z]`` as nibabel
returns them (1 mm isotropic voxels for this data set); a batch for Keras
adds a leading case axis and a trailing channel axis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from medlab.data import HippocampusCase

LABELS = {1: "anterior", 2: "posterior"}
"""Foreground labels of the data set (0 is background)."""


def volume_mm3(mask: np.ndarray, spacing: Sequence[float]) -> float:
    """Volume of a binary mask in mm³: voxel count times the voxel volume."""
    mask = np.asarray(mask)
    if mask.dtype != bool and not np.isin(mask, (0, 1)).all():
        raise ValueError("mask must be binary (bool or 0/1); pass `labels == k` for a label map")
    sp = np.asarray(spacing, dtype=float)
    if sp.shape != (mask.ndim,) or not np.all(sp > 0):
        raise ValueError(f"spacing must hold {mask.ndim} positive voxel sizes (mm), got {spacing!r}")
    return float(np.count_nonzero(mask) * np.prod(sp))


def normalise(image: np.ndarray) -> np.ndarray:
    """Z-score one volume (mean 0, standard deviation 1), since MR units differ between scans."""
    image = np.asarray(image, dtype=np.float32)
    sd = float(image.std())
    if not np.isfinite(sd) or sd == 0:
        raise ValueError("image is constant or not finite: cannot z-score it")
    return (image - image.mean()) / sd


def padded_shape(shape: Sequence[int], multiple: int) -> tuple[int, ...]:
    """Smallest shape at least ``shape`` whose sizes are multiples of ``multiple`` (e.g. ``2**depth``)."""
    if int(multiple) < 1:
        raise ValueError(f"multiple must be a positive integer, got {multiple!r}")
    m = int(multiple)
    return tuple(-(-int(s) // m) * m for s in shape)


def pad_to_shape(array: np.ndarray, shape: Sequence[int],
                 value: float = 0) -> tuple[np.ndarray, tuple[slice, ...]]:
    """Pad ``array`` with ``value`` around its centre to ``shape``.

    Returns the padded array and the slices that cut the original back out
    (``padded[crop]`` equals ``array``).
    """
    array = np.asarray(array)
    if len(shape) != array.ndim or any(t < s for s, t in zip(array.shape, shape, strict=True)):
        raise ValueError(f"cannot pad shape {array.shape} to {tuple(shape)}: "
                         "target must be at least as large")
    before = [(t - s) // 2 for s, t in zip(array.shape, shape, strict=True)]
    pads = [(b, t - s - b) for b, s, t in zip(before, array.shape, shape, strict=True)]
    crop = tuple(slice(b, b + s) for b, s in zip(before, array.shape, strict=True))
    return np.pad(array, pads, constant_values=value), crop


def pad_to_multiple(array: np.ndarray, multiple: int,
                    value: float = 0) -> tuple[np.ndarray, tuple[slice, ...]]:
    """Pad to the next multiple of ``multiple`` along every axis (see :func:`pad_to_shape`)."""
    return pad_to_shape(array, padded_shape(np.shape(array), multiple), value)


def stack_cases(cases: Mapping[int, HippocampusCase], ids: Sequence[int],
                shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Normalised images ``(n, *shape, 1)`` float32 and labels ``(n, *shape)`` uint8, padded centrally."""
    x = np.stack([pad_to_shape(normalise(cases[i].image), shape)[0] for i in ids])[..., None]
    y = np.stack([pad_to_shape(cases[i].label, shape)[0] for i in ids])
    return x.astype(np.float32), y.astype(np.uint8)


def patient_split(ids: Sequence[int], fractions: Sequence[float] = (0.7, 0.1, 0.2),
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Shuffle patients with a seeded generator and cut them into train/val/test.

    Every patient goes to exactly one set (sizes rounded, the test set takes
    the remainder); the sets are returned sorted.
    """
    ids = np.asarray(list(ids))
    if ids.ndim != 1 or len(ids) < 3:
        raise ValueError(f"need a flat list of at least 3 patient ids, got shape {ids.shape}")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("patient ids must be unique: split patients, not images")
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or np.any(f <= 0) or not np.isclose(f.sum(), 1.0):
        raise ValueError(f"fractions must be three positive numbers summing to 1, got {fractions!r}")
    order = np.random.default_rng(seed).permutation(ids)
    n_train, n_val = int(round(f[0] * len(ids))), int(round(f[1] * len(ids)))
    parts = (order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:])
    return {k: np.sort(p) for k, p in zip(("train", "val", "test"), parts, strict=True)}


def leaking_patients(split: Mapping[str, Sequence[int]],
                     patient_of: Mapping[Any, int] | None = None) -> set[int]:
    """Patients that appear in more than one set of a split.

    ``split`` maps set names to items (patient ids, or e.g. ``(patient, slice)``
    keys with ``patient_of`` giving each item's patient). An empty set means
    the split is by patient.
    """
    seen: dict[int, str] = {}
    leaks = set()
    for name, items in split.items():
        for item in items:
            key = item.item() if isinstance(item, np.generic) else item
            p = int(key if patient_of is None else patient_of[key])
            if seen.setdefault(p, name) != name:
                leaks.add(p)
    return leaks


def bland_altman(measured: Sequence[float], reference: Sequence[float],
                 level: float = 0.95) -> dict[str, Any]:
    """Bland–Altman agreement of two measurements of the same cases (e.g. volumes in mm³).

    For each case the mean of the two values and their difference
    ``measured - reference``; the bias is the mean difference and the limits
    of agreement are ``bias ± z * sd`` with ``sd`` the sample standard
    deviation (``ddof=1``) of the differences and ``z`` the normal quantile
    of ``level`` (1.96 for 95 %), as in Bland and Altman (1986).

    Returns
    -------
    dict
        ``mean`` and ``difference`` (arrays, one per case), ``bias``, ``sd``,
        ``lower`` and ``upper`` (limits of agreement), ``level``.
    """
    from scipy.stats import norm

    m, r = np.asarray(measured, dtype=float), np.asarray(reference, dtype=float)
    if m.ndim != 1 or m.shape != r.shape:
        raise ValueError(f"need two flat sequences of equal length, got shapes {m.shape} and {r.shape}")
    if len(m) < 2 or not (np.all(np.isfinite(m)) and np.all(np.isfinite(r))):
        raise ValueError("need at least two cases with finite values")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    diff = m - r
    bias, sd = float(diff.mean()), float(diff.std(ddof=1))
    z = float(norm.ppf(0.5 + level / 2))
    return {"mean": (m + r) / 2, "difference": diff, "bias": bias, "sd": sd,
            "lower": bias - z * sd, "upper": bias + z * sd, "level": level}


def sample_patch(image: np.ndarray, label: np.ndarray, size: Sequence[int],
                 rng: np.random.Generator, foreground: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Cut one random patch of ``size`` voxels from a volume and its labels.

    With probability ``foreground`` the patch is centred (as far as the
    border allows) on a random labelled voxel, otherwise placed uniformly at
    random: the sampling nnU-Net and MONAI use so that small structures are
    seen often enough. Volumes smaller than ``size`` are padded first
    (image and label with 0).
    """
    image, label = np.asarray(image), np.asarray(label)
    size = tuple(int(s) for s in size)
    if image.shape != label.shape or len(size) != image.ndim or min(size) < 1:
        raise ValueError(f"image {image.shape}, label {label.shape} and size {size} do not match")
    if not 0 <= foreground <= 1:
        raise ValueError(f"foreground must be a probability, got {foreground!r}")
    shape = tuple(max(s, t) for s, t in zip(image.shape, size, strict=True))
    image, _ = pad_to_shape(image, shape)
    label, _ = pad_to_shape(label, shape)
    fg = np.argwhere(label > 0)
    if len(fg) and rng.random() < foreground:
        centre = fg[rng.integers(len(fg))]
        start = [int(np.clip(c - t // 2, 0, s - t)) for c, s, t in zip(centre, shape, size, strict=True)]
    else:
        start = [int(rng.integers(0, s - t + 1)) for s, t in zip(shape, size, strict=True)]
    cut = tuple(slice(a, a + t) for a, t in zip(start, size, strict=True))
    return image[cut], label[cut]


def dice_ce_loss(n_classes: int, smooth: float = 1.0) -> Any:
    """Loss = cross-entropy + (1 - mean soft Dice over classes), for softmax outputs.

    Works for 2D and 3D outputs alike: the soft Dice sums over the batch and
    every spatial axis, so a class absent from one image still counts.
    """
    import keras
    from keras import ops

    if not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an integer >= 2, got {n_classes!r}")

    def loss(y_true: Any, y_pred: Any) -> Any:
        y_true = ops.cast(ops.reshape(y_true, ops.shape(y_pred)[:-1]), "int32")
        onehot = ops.one_hot(y_true, n_classes)
        axes = tuple(range(len(y_pred.shape) - 1))
        ce = ops.mean(keras.losses.sparse_categorical_crossentropy(y_true, y_pred))
        inter = ops.sum(onehot * y_pred, axis=axes)
        total = ops.sum(onehot + y_pred, axis=axes)
        return ce + 1.0 - ops.mean((2.0 * inter + smooth) / (total + smooth))

    return loss
