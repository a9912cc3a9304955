"""Brain tissue segmentation with a U-Net: the recipe of the chapter *U-Net: segmentation shape by shape*.

The chapter (chapters/unet.ipynb) writes every piece in the open first, then checks it against
this module: the atlas label map (background, CSF, grey matter, white matter) from the MNI152
T1 template and its GM and WM probability maps (:func:`tissue_labels`, data from
:func:`medlab.data.load_mni152`); the split of axial slices into train/validation/test slabs
(:func:`slab_split`); "2.5D" axial slices with their neighbours as channels
(:func:`axial_slices`); augmentation and the ``tf.data`` pipeline (:func:`augment`,
:func:`dataset`); the Dice + cross-entropy loss (:func:`dice_ce_loss`); training with the
epoch of lowest validation loss kept (:class:`Recipe`, :func:`train`, on :func:`medlab.train.fit`);
slice-wise prediction (:func:`predict_slices`) and the classical baselines, multi-Otsu
(SimpleITK) and a Gaussian mixture (scikit-learn) (:func:`baselines`). The benchmark
``python -m tools.bench segmentation`` runs the same functions. TensorFlow is imported inside
the functions only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from medlab.validate import check_array, check_int, check_model, check_number, check_same_length

CLASSES = {0: "background", 1: "CSF", 2: "grey matter", 3: "white matter"}
CROP = (slice(18, 178), slice(20, 212))
"""In-plane crop of the 197x233 axial slices to 160x192 (every brain voxel kept; divisible by 16)."""


def tissue_labels(t1: np.ndarray, gm: np.ndarray, wm: np.ndarray, *,
                  brain_threshold: float = 0.2) -> np.ndarray:
    """Label map 0 background, 1 CSF, 2 GM, 3 WM from the template and its probability maps.

    Brain mask: ``t1 > brain_threshold * t1.max()`` (as nilearn's
    ``load_mni152_brain_mask``). Inside it, CSF probability is
    ``1 - p_GM - p_WM`` and each voxel takes the most probable of CSF, GM, WM.
    """
    if not (t1.shape == gm.shape == wm.shape):
        raise ValueError(f"t1, gm, wm shapes differ: {t1.shape}, {gm.shape}, {wm.shape}")
    if gm.max() > 1 or wm.max() > 1:
        raise ValueError("gm and wm must be probabilities in [0, 1]; the files store 0-255, divide by 255")
    brain = t1 > brain_threshold * t1.max()
    probs = np.stack([np.clip(1.0 - gm - wm, 0.0, 1.0), gm, wm])
    return np.where(brain, probs.argmax(axis=0) + 1, 0).astype(np.uint8)


def slab_split(n_slices: int, first: int, last: int, *, slab: int = 10, gap: int = 2,
               pattern: str = "TVTST") -> dict[str, np.ndarray]:
    """Split slices ``first..last`` into slabs of ``slab`` slices assigned by ``pattern``.

    Letters T/V/S send a slab to train/validation/test, cycling through the
    pattern; the last ``gap`` slices of every slab are dropped, so no two
    slices of different sets are closer than ``gap + 1`` slices.
    """
    if not 0 <= first <= last < n_slices or slab <= gap or gap < 0 or set(pattern) - set("TVS"):
        raise ValueError(f"bad slab split: first={first}, last={last}, n={n_slices}, slab={slab}, "
                         f"gap={gap}, pattern={pattern!r}")
    sets = {"T": [], "V": [], "S": []}
    for i, start in enumerate(range(first, last + 1, slab)):
        keep = range(start, min(start + slab - gap, last + 1))
        sets[pattern[i % len(pattern)]].extend(keep)
    return {"train": np.array(sets["T"]), "val": np.array(sets["V"]), "test": np.array(sets["S"])}


def _volume_and_labels(t1: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    t1 = check_array(t1, "t1", ndim=3, finite=True)
    labels = check_array(labels, "labels", ndim=3)
    if labels.shape != t1.shape:
        raise ValueError(f"labels must have the shape of t1 {t1.shape}, got {labels.shape}")
    return t1, labels


def _slice_indices(z: Any, name: str, depth: int) -> np.ndarray:
    z = check_array(z, name, ndim=1, kind="integer")
    if z.size and (z.min() < 0 or z.max() >= depth):
        raise ValueError(f"{name} must be slice indices in 0..{depth - 1}, got {z.min()} to {z.max()}")
    return z


def axial_slices(t1: np.ndarray, labels: np.ndarray, z: np.ndarray, *,
                 context: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Cropped axial slices: images (n, 160, 192, 2 * context + 1) and labels (n, 160, 192).

    The channels of an image are the slices ``z - context .. z + context`` (clipped at the
    volume's ends): the labels are those of slice ``z`` only ("2.5D" input).
    """
    t1, labels = _volume_and_labels(t1, labels)
    z = _slice_indices(z, "z", t1.shape[2])
    context = check_int(context, "context", low=0)
    offsets = np.arange(-context, context + 1)
    zz = np.clip(z[:, None] + offsets[None, :], 0, t1.shape[2] - 1)
    x = np.moveaxis(t1[CROP[0], CROP[1]][:, :, zz], 2, 0).astype(np.float32)
    y = np.moveaxis(labels[CROP[0], CROP[1]][:, :, z], -1, 0)
    return x, y


def dice_ce_loss(n_classes: int, *, smooth: float = 1.0) -> Any:
    """Loss = cross-entropy + (1 - mean soft Dice over classes), for softmax outputs and integer labels.

    The book's one Dice + cross-entropy loss: the U-Net chapter writes it out for 2D slices, the
    chapter *Segmentation in 3D: the hippocampus* uses it on volumes. The soft Dice of each class
    sums over the batch and every spatial axis (2D or 3D alike), so a class absent from one
    image still counts; ``smooth`` is added to numerator and denominator. The sums accumulate in
    float64 (in float32 they drift by per cents over a 3D batch's voxels).

    Parameters
    ----------
    n_classes
        Number of classes (channels of the softmax output), at least 2.
    smooth
        Additive smoothing of the soft Dice.
    """
    import keras
    from keras import ops

    from medlab.validate import check_int, check_number

    check_int(n_classes, "n_classes", low=2)
    smooth = check_number(smooth, "smooth", low=0)

    def loss(y_true: Any, y_pred: Any) -> Any:
        y_true = ops.cast(ops.reshape(y_true, ops.shape(y_pred)[:-1]), "int32")
        onehot = ops.one_hot(y_true, n_classes)
        axes = tuple(range(len(y_pred.shape) - 1))
        # means and sums over every voxel of the batch accumulate in float64: in float32 they
        # drift by per cents over a few hundred thousand voxels (measured on confident
        # predictions: 3 % of the loss on two 48 x 64 x 48 volumes, 22 % on 26)
        ce = ops.mean(ops.cast(keras.losses.sparse_categorical_crossentropy(y_true, y_pred), "float64"))
        inter = ops.sum(ops.cast(onehot * y_pred, "float64"), axis=axes)
        total = ops.sum(ops.cast(onehot + y_pred, "float64"), axis=axes)
        value = ce + 1.0 - ops.mean((2.0 * inter + smooth) / (total + smooth))
        return ops.cast(value, y_pred.dtype)

    return loss


def augment(x: Any, y: Any, *, shift: int = 8, gain: float = 0.05) -> tuple[Any, Any]:
    """Random shift (same for image and labels) and a small intensity gain (image only); TensorFlow ops."""
    import tensorflow as tf

    shift = check_int(shift, "shift", low=0)
    gain = check_number(gain, "gain", low=0, high=1, high_open=True)
    h, w = x.shape[0], x.shape[1]
    c = x.shape[-1]
    both = tf.concat([x, tf.cast(y[..., None], x.dtype)], axis=-1)
    both = tf.pad(both, [[shift, shift], [shift, shift], [0, 0]])
    both = tf.image.random_crop(both, (h, w, c + 1))
    img, lab = both[..., :c], tf.cast(tf.round(both[..., c]), y.dtype)
    img = img * tf.random.uniform((), 1 - gain, 1 + gain)
    return img, lab


def dataset(x: np.ndarray, y: np.ndarray, *, batch: int, training: bool, seed: int = 0) -> Any:
    """tf.data pipeline: shuffled and augmented for training, plain otherwise."""
    import tensorflow as tf

    x, y = check_array(x, "x", finite=True), check_array(y, "y")
    check_same_length(("x", x), ("y", y))
    batch = check_int(batch, "batch", low=1)

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).map(augment)
    return ds.batch(batch).prefetch(2)


@dataclass
class Recipe:
    """The chapter's training recipe (sizes chosen on the validation slabs, see the chapter)."""

    epochs: int = 32
    base_filters: int = 8
    depth: int = 4
    batch: int = 2
    learning_rate: float = 1.5e-3
    context: int = 1
    seed: int = 0
    norm: str = "instance"


def baselines(t1: np.ndarray, labels: np.ndarray, train_z: np.ndarray, test_z: np.ndarray, *,
              seed: int = 0) -> dict[str, np.ndarray]:
    """Label maps of the test slices by multi-Otsu (SimpleITK) and a 3-component Gaussian mixture.

    Both are fitted on the brain voxels of the training slices and applied to
    the brain voxels of the test slices, inside the same brain mask as the
    labels (``labels > 0``); classes are assigned by increasing intensity
    (CSF < GM < WM on T1).
    """
    import SimpleITK as sitk
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    t1, labels = _volume_and_labels(t1, labels)
    train_z = _slice_indices(train_z, "train_z", t1.shape[2])
    test_z = _slice_indices(test_z, "test_z", t1.shape[2])
    brain = labels > 0
    train_vals = t1[:, :, train_z][brain[:, :, train_z]]
    test_t1, test_brain = t1[:, :, test_z], brain[:, :, test_z]
    otsu = sitk.OtsuMultipleThresholdsImageFilter()
    otsu.SetNumberOfThresholds(2)
    otsu.SetNumberOfHistogramBins(256)
    otsu.Execute(sitk.GetImageFromArray(train_vals.reshape(1, -1)))
    thresholds = np.array(otsu.GetThresholds())
    out = {"multi-Otsu": np.where(test_brain, np.digitize(test_t1, thresholds) + 1, 0).astype(np.uint8)}
    with threadpool_limits(1):  # the fit differs with the number of BLAS/OpenMP threads
        gmm = GaussianMixture(3, random_state=seed).fit(train_vals.reshape(-1, 1))
    rank = np.argsort(np.argsort(gmm.means_.ravel()))  # component -> 0 (darkest) .. 2 (brightest)
    comp = gmm.predict(test_t1[test_brain].reshape(-1, 1))
    gmm_map = np.zeros(test_t1.shape, np.uint8)
    gmm_map[test_brain] = rank[comp] + 1
    out["Gaussian mixture"] = gmm_map
    return out


def train(recipe: Recipe, split: dict[str, np.ndarray], t1: np.ndarray, labels: np.ndarray, *,
          verbose: bool = False) -> Any:
    """Build the U-Net and train it with :func:`medlab.train.fit`, keeping the lowest validation loss.

    The chapter writes the same training in the open with ``ModelCheckpoint(save_best_only=True)``
    and loads the best weights back after the last epoch; :func:`medlab.train.fit`'s keep-best rule
    (``EarlyStopping(restore_best_weights=True)`` with a patience of the whole budget) keeps the
    same epoch: both take the first strict improvement of the validation loss.

    Parameters
    ----------
    recipe
        Sizes and seed (:class:`Recipe`).
    split
        ``train`` and ``val`` slice indices (:func:`slab_split`).
    t1, labels
        The template and its label map (:func:`tissue_labels`).
    verbose
        Print one line per epoch.

    Returns
    -------
    medlab.train.TrainResult
    """
    import keras

    from medlab.env import seed_everything
    from medlab.models import unet
    from medlab.train import fit

    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a medlab.segmentation.Recipe, got {type(recipe).__name__}")
    seed_everything(recipe.seed)
    xtr, ytr = axial_slices(t1, labels, split["train"], context=recipe.context)
    xva, yva = axial_slices(t1, labels, split["val"], context=recipe.context)
    model = unet(xtr.shape[1:], len(CLASSES), base_filters=recipe.base_filters, depth=recipe.depth,
                 norm=recipe.norm)
    steps = recipe.epochs * int(np.ceil(len(xtr) / recipe.batch))
    schedule = keras.optimizers.schedules.CosineDecay(recipe.learning_rate, decay_steps=steps)
    return fit(model, dataset(xtr, ytr, batch=recipe.batch, training=True, seed=recipe.seed),
               dataset(xva, yva, batch=recipe.batch, training=False), epochs=recipe.epochs,
               optimizer=keras.optimizers.Adam(schedule), loss=dice_ce_loss(len(CLASSES)), monitor="val_loss",
               mode="min", verbose=verbose)


def predict_slices(model: Any, t1: np.ndarray, z: np.ndarray, *, context: int = 1) -> np.ndarray:
    """Predicted label maps of axial slices ``z``, pasted back into full-size slices [x, y, len(z)]."""
    check_model(model)
    x, _ = axial_slices(t1, np.zeros(t1.shape, np.uint8), z, context=context)
    pred = model.predict(x, batch_size=8, verbose=0).argmax(-1).astype(np.uint8)
    out = np.zeros((t1.shape[0], t1.shape[1], len(z)), np.uint8)
    out[CROP[0], CROP[1]] = np.moveaxis(pred, 0, -1)
    return out
