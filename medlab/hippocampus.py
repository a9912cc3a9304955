"""Multi-patient 3D segmentation: the Decathlon's hippocampus volumes.

Introduced in the chapter *3D segmentation across patients*
(chapters/hippocampus.ipynb). The Medical Segmentation Decathlon's Task04
(Simpson et al. 2019) holds 260 T1-weighted MRI crops around one hippocampus,
each with a label volume: 0 background, 1 anterior (head), 2 posterior (body
and tail). The files are registered in :mod:`medlab.data` under the names
``imagesTr/hippocampus_NNN.nii.gz`` and ``labelsTr/hippocampus_NNN.nii.gz``.

Everything here works on NumPy arrays indexed ``[x, y, z]`` as nibabel
returns them (1 mm isotropic voxels for this data set); a batch for Keras
adds a leading case axis and a trailing channel axis.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LABELS = {1: "anterior", 2: "posterior"}
"""Foreground labels of the data set (0 is background)."""

_REGISTRY = json.loads(
    importlib.resources.files("medlab").joinpath("msd_hippocampus_registry.json").read_text())

CASE_IDS: tuple[int, ...] = tuple(sorted(
    int(name.split("_")[-1].split(".")[0]) for name in _REGISTRY["files"] if name.startswith("imagesTr/")))
"""The 260 case numbers (from 1 to 394, with gaps, as in the Decathlon's own numbering)."""


def file_names(case_id: int) -> tuple[str, str]:
    """Registry names of one case's image and label volume."""
    if case_id not in CASE_IDS:
        raise KeyError(f"hippocampus case {case_id!r} does not exist; valid ids run from "
                       f"{CASE_IDS[0]} to {CASE_IDS[-1]} with gaps (see medlab.hippocampus.CASE_IDS)")
    return (f"imagesTr/hippocampus_{case_id:03d}.nii.gz", f"labelsTr/hippocampus_{case_id:03d}.nii.gz")


@dataclass(frozen=True)
class Case:
    """One patient's volume and labels.

    Attributes
    ----------
    case_id
        Decathlon case number.
    image
        MR intensities as float32 ``[x, y, z]`` (arbitrary units, as stored).
    label
        uint8 ``[x, y, z]`` with 0 background, 1 anterior, 2 posterior.
    spacing
        Voxel size in mm along ``x, y, z``.
    stored_dtype
        The image's data type in the file (``float32`` or ``uint8``).
    """

    case_id: int
    image: np.ndarray
    label: np.ndarray
    spacing: tuple[float, float, float]
    stored_dtype: str


def load_case(case_id: int) -> Case:
    """Read one case (image and label) through :func:`medlab.data.fetch`, checking that they match.

    The image is converted to float32 whatever its stored type; the label
    to uint8 after checking that it holds whole numbers in {0, 1, 2}.
    """
    import nibabel as nib

    from medlab import data

    img_name, lab_name = file_names(case_id)
    img, lab = nib.load(data.fetch(img_name)), nib.load(data.fetch(lab_name))
    if img.shape != lab.shape or not np.allclose(img.affine, lab.affine):
        raise ValueError(f"case {case_id}: image {img.shape} and label {lab.shape} do not share a grid")
    image = np.asarray(img.dataobj, dtype=np.float32)
    raw = np.asarray(lab.dataobj)
    if not np.array_equal(raw, np.round(raw)) or not np.isin(raw, (0, 1, 2)).all():
        raise ValueError(f"case {case_id}: label values {np.unique(raw)} are not a subset of {{0, 1, 2}}")
    spacing = tuple(float(z) for z in img.header.get_zooms()[:3])
    return Case(case_id, image, raw.astype(np.uint8), spacing, str(img.get_data_dtype()))


def load_cases(case_ids: Iterable[int]) -> dict[int, Case]:
    """:func:`load_case` for several ids, as a dict keyed by case id."""
    return {int(c): load_case(int(c)) for c in case_ids}


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


def stack_cases(cases: Mapping[int, Case], ids: Sequence[int],
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
