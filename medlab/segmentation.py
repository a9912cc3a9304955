"""Brain tissue segmentation with a U-Net: the recipe of the chapter *U-Net: segmentation shape by shape*.

The chapter (chapters/unet.ipynb) writes every piece in the open first, then checks it against
this module: the atlas label map (background, CSF, grey matter, white matter) from the MNI152
T1 template and its GM and WM probability maps (:func:`tissue_labels`, data from
:func:`medlab.data.load_mni152`); the split of axial slices into train/validation/test slabs
(:func:`slab_split`); "2.5D" axial slices with their neighbours as channels
(:func:`axial_slices`); augmentation and the ``tf.data`` pipeline (:func:`augment`,
:func:`dataset`); the Dice + cross-entropy loss (:func:`dice_ce_loss`); training with the
epoch of lowest validation loss kept (:class:`Config`, :func:`train`); slice-wise prediction
(:func:`predict_slices`) and the classical baselines, multi-Otsu (SimpleITK) and a Gaussian
mixture (scikit-learn) (:func:`baselines`). The benchmark ``python -m tools.bench segmentation``
runs the same functions. TensorFlow is imported inside the functions only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

CLASSES = {0: "background", 1: "CSF", 2: "grey matter", 3: "white matter"}
CROP = (slice(18, 178), slice(20, 212))
"""In-plane crop of the 197x233 axial slices to 160x192 (every brain voxel kept; divisible by 16)."""


def tissue_labels(t1: np.ndarray, gm: np.ndarray, wm: np.ndarray, brain_threshold: float = 0.2) -> np.ndarray:
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


def slab_split(n_slices: int, first: int, last: int, slab: int = 10, gap: int = 2,
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


def axial_slices(t1: np.ndarray, labels: np.ndarray, z: np.ndarray,
                 context: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Cropped axial slices: images (n, 160, 192, 2 * context + 1) and labels (n, 160, 192).

    The channels of an image are the slices ``z - context .. z + context`` (clipped at the
    volume's ends): the labels are those of slice ``z`` only ("2.5D" input).
    """
    z = np.asarray(z)
    offsets = np.arange(-context, context + 1)
    zz = np.clip(z[:, None] + offsets[None, :], 0, t1.shape[2] - 1)
    x = np.moveaxis(t1[CROP[0], CROP[1]][:, :, zz], 2, 0).astype(np.float32)
    y = np.moveaxis(labels[CROP[0], CROP[1]][:, :, z], -1, 0)
    return x, y


def dice_ce_loss(n_classes: int, smooth: float = 1.0) -> Any:
    """Loss = cross-entropy + (1 - mean soft Dice over classes), for softmax outputs and integer labels."""
    import keras
    from keras import ops

    def loss(y_true: Any, y_pred: Any) -> Any:
        y_true = ops.cast(ops.reshape(y_true, ops.shape(y_pred)[:-1]), "int32")
        onehot = ops.one_hot(y_true, n_classes)
        ce = ops.mean(keras.losses.sparse_categorical_crossentropy(y_true, y_pred))
        inter = ops.sum(onehot * y_pred, axis=(0, 1, 2))
        total = ops.sum(onehot + y_pred, axis=(0, 1, 2))
        soft_dice = (2.0 * inter + smooth) / (total + smooth)
        return ce + 1.0 - ops.mean(soft_dice)

    return loss


def augment(x: Any, y: Any, shift: int = 8, gain: float = 0.05) -> tuple[Any, Any]:
    """Random shift (same for image and labels) and a small intensity gain (image only); TensorFlow ops."""
    import tensorflow as tf

    h, w = x.shape[0], x.shape[1]
    c = x.shape[-1]
    both = tf.concat([x, tf.cast(y[..., None], x.dtype)], axis=-1)
    both = tf.pad(both, [[shift, shift], [shift, shift], [0, 0]])
    both = tf.image.random_crop(both, (h, w, c + 1))
    img, lab = both[..., :c], tf.cast(tf.round(both[..., c]), y.dtype)
    img = img * tf.random.uniform((), 1 - gain, 1 + gain)
    return img, lab


def dataset(x: np.ndarray, y: np.ndarray, batch: int, training: bool, seed: int = 0) -> Any:
    """tf.data pipeline: shuffled and augmented for training, plain otherwise."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).map(augment)
    return ds.batch(batch).prefetch(2)


@dataclass
class Config:
    """Sizes of one benchmark run."""

    epochs: int = 32
    base_filters: int = 8
    depth: int = 4
    batch: int = 2
    learning_rate: float = 1.5e-3
    context: int = 1
    seed: int = 0
    norm: str = "instance"


def baselines(t1: np.ndarray, labels: np.ndarray, train_z: np.ndarray, test_z: np.ndarray,
              seed: int = 0) -> dict[str, np.ndarray]:
    """Label maps of the test slices by multi-Otsu (SimpleITK) and a 3-component Gaussian mixture.

    Both are fitted on the brain voxels of the training slices and applied to
    the brain voxels of the test slices, inside the same brain mask as the
    labels (``labels > 0``); classes are assigned by increasing intensity
    (CSF < GM < WM on T1).
    """
    import SimpleITK as sitk
    from sklearn.mixture import GaussianMixture

    brain = labels > 0
    train_vals = t1[:, :, train_z][brain[:, :, train_z]]
    test_t1, test_brain = t1[:, :, test_z], brain[:, :, test_z]
    otsu = sitk.OtsuMultipleThresholdsImageFilter()
    otsu.SetNumberOfThresholds(2)
    otsu.SetNumberOfHistogramBins(256)
    otsu.Execute(sitk.GetImageFromArray(train_vals.reshape(1, -1)))
    thresholds = np.array(otsu.GetThresholds())
    out = {"multi-Otsu": np.where(test_brain, np.digitize(test_t1, thresholds) + 1, 0).astype(np.uint8)}
    gmm = GaussianMixture(3, random_state=seed).fit(train_vals.reshape(-1, 1))
    rank = np.argsort(np.argsort(gmm.means_.ravel()))  # component -> 0 (darkest) .. 2 (brightest)
    comp = gmm.predict(test_t1[test_brain].reshape(-1, 1))
    gmm_map = np.zeros(test_t1.shape, np.uint8)
    gmm_map[test_brain] = rank[comp] + 1
    out["Gaussian mixture"] = gmm_map
    return out


def train(cfg: Config, split: dict[str, np.ndarray], t1: np.ndarray,
          labels: np.ndarray) -> tuple[Any, dict, float]:
    """Build and train the U-Net, keeping the weights of the epoch of lowest validation loss.

    A ``keras.callbacks.ModelCheckpoint(save_best_only=True)`` writes the best
    weights to a temporary file; they are loaded back after the last epoch.
    Returns (model, history dict, training seconds).
    """
    import tempfile
    from pathlib import Path

    import keras

    from medlab.env import seed_everything
    from medlab.models import unet

    seed_everything(cfg.seed)
    xtr, ytr = axial_slices(t1, labels, split["train"], cfg.context)
    xva, yva = axial_slices(t1, labels, split["val"], cfg.context)
    model = unet(xtr.shape[1:], len(CLASSES), cfg.base_filters, cfg.depth, norm=cfg.norm)
    steps = cfg.epochs * int(np.ceil(len(xtr) / cfg.batch))
    schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, decay_steps=steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=dice_ce_loss(len(CLASSES)))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        best = str(Path(tmp) / "best.weights.h5")
        keep_best = keras.callbacks.ModelCheckpoint(best, monitor="val_loss", save_best_only=True,
                                                    save_weights_only=True)
        hist = model.fit(dataset(xtr, ytr, cfg.batch, True, cfg.seed), epochs=cfg.epochs, verbose=0,
                         shuffle=False, validation_data=dataset(xva, yva, cfg.batch, False),
                         callbacks=[keep_best])
        model.load_weights(best)
    return model, hist.history, time.perf_counter() - start


def predict_slices(model: Any, t1: np.ndarray, z: np.ndarray, context: int = 1) -> np.ndarray:
    """Predicted label maps of axial slices ``z``, pasted back into full-size slices [x, y, len(z)]."""
    x, _ = axial_slices(t1, np.zeros(t1.shape, np.uint8), z, context)
    pred = model.predict(x, batch_size=8, verbose=0).argmax(-1).astype(np.uint8)
    out = np.zeros((t1.shape[0], t1.shape[1], len(z)), np.uint8)
    out[CROP[0], CROP[1]] = np.moveaxis(pred, 0, -1)
    return out
