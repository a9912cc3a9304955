"""3D segmentation of many volumes: the Decathlon's hippocampus crops.

Introduced in the chapter *Segmentation in 3D: the hippocampus*
(chapters/hippocampus.ipynb). The Medical Segmentation Decathlon's Task04
(Simpson et al. 2019) holds 260 labelled T1-weighted MRI crops around one
hippocampus, each with a label volume: 0 background, 1 anterior (head), 2
posterior (body and tail). They are volumes, not patients: the subjects (195
scans for 390 crops, training and test together) are not published
(:func:`probable_subject`). The cases are loaded by
:func:`medlab.data.load_hippocampus` (registered as
``imagesTr/hippocampus_NNN.nii.gz`` and ``labelsTr/hippocampus_NNN.nii.gz``).

Everything here works on NumPy arrays indexed ``[x, y, z]`` as nibabel
returns them (1 mm isotropic voxels for this data set); a batch for Keras
adds a leading case axis and a trailing channel axis.

The recipe the chapter writes in the open (and the benchmark ``python -m tools.bench hippocampus``
runs longer) is here too: volumes z-scored and padded to :data:`SHAPE` (:func:`stack_cases`), the
``tf.data`` pipeline with intensity augmentation (:func:`dataset`), a 3D U-Net and a 2D U-Net on
axial slices trained with Dice + cross-entropy (:func:`medlab.segmentation.dice_ce_loss`)
through :func:`medlab.train.fit`, the epoch of
lowest validation loss kept (:class:`Recipe`, :func:`train_3d`, :func:`train_2d`,
:func:`slices_2d`), prediction (:func:`predict_3d`, :func:`predict_2d`) and the per-volume
evaluation (:func:`evaluate`, :func:`summarise`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from medlab.data import HippocampusCase
from medlab.validate import check_array, check_int, check_model, check_same_length

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


def _check_ids(cases: Any, ids: Any) -> None:
    if not isinstance(cases, Mapping):
        raise TypeError(f"cases must be a mapping case id -> HippocampusCase (load_hippocampus's result), "
                        f"got {type(cases).__name__}")
    missing = [int(i) for i in ids if int(i) not in cases]
    if missing:
        raise ValueError(f"ids {missing[:5]} are not among the loaded cases (load them with "
                         "medlab.data.load_hippocampus first)")


def stack_cases(cases: Mapping[int, HippocampusCase], ids: Sequence[int],
                shape: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Normalised images ``(n, *shape, 1)`` float32 and labels ``(n, *shape)`` uint8, padded centrally."""
    _check_ids(cases, ids)
    x = np.stack([pad_to_shape(normalise(cases[i].image), shape)[0] for i in ids])[..., None]
    y = np.stack([pad_to_shape(cases[i].label, shape)[0] for i in ids])
    return x.astype(np.float32), y.astype(np.uint8)


def probable_subject(case_id: int) -> int:
    """The subject a Decathlon hippocampus case most probably comes from: ``(case_id + 1) // 2``.

    The Decathlon does not publish which volumes share a subject: its ``dataset.json`` describes
    the task as "Left and right hippocampus segmentation", and its paper (Simpson et al. 2019)
    describes 195 labelled scans, while the training and test sets hold 260 + 130 = 390 crops,
    numbered 1 to 394. The chapter measures that cases ``2k - 1`` and ``2k`` share storage type,
    intensity scale and (closely) label volume, as two crops of one scan would, and that the
    neighbours ``2k`` and ``2k + 1`` do not: this function encodes that inference, not a
    published fact.
    """
    if isinstance(case_id, bool) or not isinstance(case_id, (int, np.integer)) or case_id < 1:
        raise ValueError(f"case_id must be a positive integer case number, got {case_id!r}")
    return (int(case_id) + 1) // 2


def volume_split(ids: Sequence[int], *, fractions: Sequence[float] = (0.7, 0.1, 0.2), seed: int = 0,
                 groups: Mapping[int, Any] | None = None) -> dict[str, np.ndarray]:
    """Shuffle volumes with a seeded generator and cut them into train/val/test.

    Every volume goes to exactly one set (sizes rounded, the test set takes the remainder); the
    sets are returned sorted. This is a split by *volume*: for the Decathlon's hippocampus task the
    subjects are not published, so two volumes of one subject can land in different sets (see
    :func:`probable_subject`).

    Parameters
    ----------
    ids
        Unique volume ids (e.g. :data:`medlab.data.HIPPOCAMPUS_CASES`).
    fractions
        Shares of train, validation and test (three positive numbers summing to 1).
    seed
        Seed of the shuffle.
    groups
        Optional map from each id to its group (e.g. ``{i: probable_subject(i) for i in ids}``):
        whole groups are then shuffled and cut, the fractions counting groups, so that a group's
        volumes all land in one set.
    """
    ids = np.asarray(list(ids))
    if ids.ndim != 1 or len(ids) < 3:
        raise ValueError(f"need a flat list of at least 3 volume ids, got shape {ids.shape}")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("volume ids must be unique: split volumes, not images or slices")
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or np.any(f <= 0) or not np.isclose(f.sum(), 1.0):
        raise ValueError(f"fractions must be three positive numbers summing to 1, got {fractions!r}")
    if groups is None:
        units = [[i] for i in ids.tolist()]
    else:
        missing = [i for i in ids.tolist() if i not in groups]
        if missing:
            raise ValueError(f"groups has no entry for ids {missing[:5]}")
        by_group: dict[Any, list] = {}
        for i in ids.tolist():
            by_group.setdefault(groups[i], []).append(i)
        units = [by_group[g] for g in sorted(by_group, key=str)]
        if len(units) < 3:
            raise ValueError(f"need at least 3 groups to split, got {len(units)}")
    order = np.random.default_rng(seed).permutation(len(units))
    n_train, n_val = int(round(f[0] * len(units))), int(round(f[1] * len(units)))
    cuts = (order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:])
    return {k: np.sort(np.array([i for u in part for i in units[u]], dtype=ids.dtype))
            for k, part in zip(("train", "val", "test"), cuts, strict=True)}


def leaking_groups(split: Mapping[str, Sequence[Any]],
                   group_of: Mapping[Any, Any] | None = None) -> set:
    """Groups that appear in more than one set of a split.

    ``split`` maps set names to items; ``group_of`` maps each item to the unit that must not be
    split (its volume for ``(volume, slice)`` keys, its subject for volumes when subjects are
    known). Without ``group_of`` each item is its own group, which checks that no id is listed
    twice. An empty set means no group is split across sets.
    """
    if not isinstance(split, Mapping):
        raise TypeError(f"split must be a mapping split name -> ids, got {type(split).__name__}")
    seen: dict[Any, str] = {}
    leaks = set()
    for name, items in split.items():
        for item in items:
            key = item.item() if isinstance(item, np.generic) else item
            if group_of is None:
                g = key
            else:
                if key not in group_of:
                    raise ValueError(f"group_of has no entry for item {key!r} of set {name!r}")
                g = group_of[key]
            if seen.setdefault(g, name) != name:
                leaks.add(g)
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
                 rng: np.random.Generator, *, foreground: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
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


# ------------------------------------------------------------------------------ the recipe
SHAPE = (48, 64, 48)
"""Common padded size of every volume (the largest is 43 x 59 x 47; divisible by 2**4)."""

N_CLASSES = 3
"""Background, anterior, posterior."""


@dataclass
class Recipe:
    """Sizes of the 3D U-Net and of the 2D slice-wise baseline (not tuned on the validation volumes)."""

    epochs: int = 30
    base_filters: int = 8
    depth: int = 3
    batch: int = 2
    learning_rate: float = 3e-3
    epochs_2d: int = 6
    base_filters_2d: int = 16
    batch_2d: int = 32
    seed: int = 0


def _intensity_augment(x: Any, y: Any) -> tuple[Any, Any]:
    """Random intensity gain and shift of the (z-scored) image; labels untouched. TensorFlow ops."""
    import tensorflow as tf

    gain = tf.random.uniform((), 0.9, 1.1)
    shift = tf.random.uniform((), -0.1, 0.1)
    return x * gain + shift, y


def dataset(x: np.ndarray, y: np.ndarray, *, batch: int, training: bool, seed: int = 0) -> Any:
    """tf.data pipeline: shuffled and intensity-augmented for training, plain otherwise."""
    import tensorflow as tf

    x, y = check_array(x, "x", finite=True), check_array(y, "y")
    check_same_length(("x", x), ("y", y))
    batch = check_int(batch, "batch", low=1)

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).map(_intensity_augment)
    return ds.batch(batch).prefetch(2)


def _fit(model: Any, x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, *, epochs: int, batch: int,
         learning_rate: float, seed: int, verbose: bool) -> Any:
    """Adam with cosine decay, Dice + cross-entropy, the epoch of lowest validation loss kept."""
    import keras

    from medlab.segmentation import dice_ce_loss
    from medlab.train import fit

    steps = epochs * int(np.ceil(len(x) / batch))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    return fit(model, dataset(x, y, batch=batch, training=True, seed=seed),
               dataset(xv, yv, batch=batch, training=False), epochs=epochs,
               optimizer=keras.optimizers.Adam(schedule), loss=dice_ce_loss(N_CLASSES), monitor="val_loss",
               mode="min", verbose=verbose)


def _check_pairs(train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray]) -> None:
    from medlab.validate import check_same_length, check_volumes

    for (a, b), which in ((train, "training"), (val, "validation")):
        check_volumes(a, name=f"{which} volumes")
        check_same_length((f"{which} volumes", a), (f"{which} labels", b))
        if np.shape(b) != np.shape(a)[:-1]:
            raise ValueError(f"{which} labels must have the volumes' shape without the channel axis, "
                             f"{np.shape(a)[:-1]}; got {np.shape(b)}")


def train_3d(recipe: Recipe, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], *,
             verbose: bool = False) -> Any:
    """Build :func:`medlab.models.unet3d` for the padded volumes and train it (:func:`medlab.train.fit`).

    ``train`` and ``val`` are ``(volumes, labels)`` pairs: normalised, padded volumes
    ``(n, *SHAPE, 1)`` and their label volumes (:func:`stack_cases`). Returns a
    :class:`medlab.train.TrainResult`.
    """
    from medlab.env import seed_everything
    from medlab.models import unet3d

    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a medlab.hippocampus.Recipe, got {type(recipe).__name__}")
    _check_pairs(train, val)
    (x, y), (xv, yv) = train, val
    seed_everything(recipe.seed)
    model = unet3d((*x.shape[1:4], 1), N_CLASSES, base_filters=recipe.base_filters, depth=recipe.depth,
                   norm="instance")
    return _fit(model, x, y, xv, yv, epochs=recipe.epochs, batch=recipe.batch,
                learning_rate=recipe.learning_rate, seed=recipe.seed, verbose=verbose)


def slices_2d(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axial slices (along the last spatial axis) of padded volumes: ``(n * d, h, w, 1)`` and labels."""
    x, y = check_array(x, "x", ndim=5), check_array(y, "y", ndim=4)
    if x.shape[:-1] != y.shape:
        raise ValueError(f"y must have the shape of x without its channel axis, got x {x.shape}, y {y.shape}")
    return (np.moveaxis(x, 3, 1).reshape(-1, x.shape[1], x.shape[2], 1),
            np.moveaxis(y, 3, 1).reshape(-1, y.shape[1], y.shape[2]))


def train_2d(recipe: Recipe, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray], *,
             verbose: bool = False) -> Any:
    """A 2D U-Net (:func:`medlab.models.unet`) on the axial slices of the same volumes (:func:`train_3d`)."""
    from medlab.env import seed_everything
    from medlab.models import unet

    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a medlab.hippocampus.Recipe, got {type(recipe).__name__}")
    _check_pairs(train, val)
    seed_everything(recipe.seed)
    xs, ys = slices_2d(*train)
    xvs, yvs = slices_2d(*val)
    model = unet((*xs.shape[1:3], 1), N_CLASSES, base_filters=recipe.base_filters_2d, depth=recipe.depth,
                 norm="instance")
    return _fit(model, xs, ys, xvs, yvs, epochs=recipe.epochs_2d, batch=recipe.batch_2d,
                learning_rate=recipe.learning_rate, seed=recipe.seed, verbose=verbose)


def predict_3d(model: Any, x: np.ndarray) -> np.ndarray:
    """Label volumes ``(n, *SHAPE)`` of padded, normalised volumes ``(n, *SHAPE, 1)``."""
    check_model(model)
    x = check_array(x, "x", ndim=5, finite=True)
    return model.predict(x, batch_size=2, verbose=0).argmax(-1).astype(np.uint8)


def predict_2d(model: Any, x: np.ndarray) -> np.ndarray:
    """Label volumes ``(n, *SHAPE)`` predicted slice by slice by a 2D model."""
    check_model(model)
    x = check_array(x, "x", ndim=5, finite=True)
    xs, _ = slices_2d(x, np.zeros(x.shape[:-1], np.uint8))
    pred = model.predict(xs, batch_size=64, verbose=0).argmax(-1).astype(np.uint8)
    return np.moveaxis(pred.reshape(x.shape[0], x.shape[3], x.shape[1], x.shape[2]), 1, 3)


def evaluate(cases: Mapping[int, HippocampusCase], ids: Sequence[int],
             pred: np.ndarray) -> list[dict[str, Any]]:
    """One row per volume and label: Dice, HD95 (mm), reference and predicted volume (mm³).

    ``pred`` holds padded label volumes; each is cut back to its case's own size first.
    """
    from medlab.metrics import dice, hd95

    pred = check_array(pred, "pred")
    check_same_length(("ids", ids), ("pred", pred))
    _check_ids(cases, ids)
    rows = []
    for case_id, p in zip(ids, pred, strict=True):
        case = cases[int(case_id)]
        _, crop = pad_to_shape(case.label, p.shape)
        p = p[crop]
        for k, name in LABELS.items():
            pk, tk = p == k, case.label == k
            rows.append({"case": int(case_id), "label": name, "dice": dice(pk, tk),
                         "hd95": hd95(pk, tk, case.spacing),
                         "volume_ref": volume_mm3(tk, case.spacing),
                         "volume_pred": volume_mm3(pk, case.spacing)})
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean Dice, median HD95 and mean absolute volume error (mm³) of each label."""
    keys = {"label", "dice", "hd95", "volume_pred", "volume_ref"}
    if isinstance(rows, (str, bytes)) or not all(isinstance(r, Mapping) and keys <= set(r) for r in rows):
        raise TypeError(f"rows must be a list of dicts with keys {sorted(keys)} (evaluate's result)")
    out = {}
    for name in LABELS.values():
        r = [row for row in rows if row["label"] == name]
        out[name] = {"dice": float(np.mean([row["dice"] for row in r])),
                     "hd95": float(np.median([row["hd95"] for row in r])),
                     "abs_volume_error": float(np.mean([abs(row["volume_pred"] - row["volume_ref"])
                                                        for row in r]))}
    return out
