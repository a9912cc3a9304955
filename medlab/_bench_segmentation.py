"""Benchmark: brain tissue segmentation of the MNI152 template with a U-Net.

``python -m medlab.bench segmentation [--epochs N] [--base-filters F] [--tiny]``
``python -m medlab.bench segmentation --select [--epochs N]``

The same recipe as the chapter *U-Net: segmentation shape by shape*
(chapters/unet.ipynb): atlas label map (background, CSF, grey matter, white
matter) from nilearn's MNI152 T1, GM and WM maps; axial slices split into
train/validation/test by slabs; a U-Net trained with Dice + cross-entropy;
test Dice per class compared with multi-Otsu (SimpleITK) and a Gaussian
mixture (scikit-learn) fitted in the same run.

``--select`` is how the chapter's normalisation and batch size were chosen:
it trains every candidate of :data:`SELECT_GRID` (instance or batch
normalisation, batches of 2 or 4 slices) for a short budget (``--epochs``,
default :data:`SELECT_EPOCHS`) and reports the Dice on the **validation**
slabs only; the test slabs are not read.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

CLASSES = {0: "background", 1: "CSF", 2: "grey matter", 3: "white matter"}
CROP = (slice(18, 178), slice(20, 212))
"""In-plane crop of the 197x233 axial slices to 160x192 (every brain voxel kept; divisible by 16)."""


def load_mni152() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """T1, GM and WM of the MNI152 2009a template as float32 arrays indexed [x, y, z], scaled to 0-1."""
    import nibabel as nib

    from medlab import data

    out = []
    for name in ("mni152_t1.nii.gz", "mni152_gm.nii.gz", "mni152_wm.nii.gz"):
        a = np.asarray(nib.load(data.fetch(name)).dataobj, dtype=np.float32)
        out.append(a / 255.0)  # all three files are stored as uint8 0-255
    return out[0], out[1], out[2]


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


SELECT_EPOCHS = 8
"""Epochs of each candidate in ``--select`` (a short budget: four candidates fit in a few minutes)."""
SELECT_GRID = [{"norm": norm, "batch": batch} for norm in ("instance", "batch") for batch in (2, 4)]
"""Candidates compared by ``--select``: normalisation x batch size."""


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


def run(cfg: Config) -> dict[str, Any]:
    """One benchmark run: data, training, evaluation and baselines; returns the numbers."""
    from medlab.metrics import dice_per_class

    t1, gm, wm = load_mni152()
    labels = tissue_labels(t1, gm, wm)
    zs = np.flatnonzero(labels.any(axis=(0, 1)))
    split = slab_split(t1.shape[2], int(zs[0]), int(zs[-1]))
    cpu0 = time.process_time()
    model, _, seconds = train(cfg, split, t1, labels)
    cpu = time.process_time() - cpu0
    truth = labels[:, :, split["test"]]
    pred = predict_slices(model, t1, split["test"], cfg.context)
    results = {"U-Net": dice_per_class(pred, truth, [1, 2, 3])}
    for name, pred in baselines(t1, labels, split["train"], split["test"], cfg.seed).items():
        results[name] = dice_per_class(pred, truth, [1, 2, 3])
    return {"dice": results, "train_seconds": seconds, "train_cpu_seconds": cpu,
            "n_slices": {k: len(v) for k, v in split.items()}}


def select(epochs: int = SELECT_EPOCHS, seed: int = 0,
           grid: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Train every candidate of ``grid`` and score it on the validation slabs only.

    Each candidate is the benchmark's :class:`Config` with ``epochs`` and the
    candidate's fields replaced; its kept weights (lowest validation loss) are
    scored by the Dice of CSF, GM and WM on the validation slices. Returns one
    row per candidate. The test slices are never read.
    """
    from dataclasses import replace

    from medlab.metrics import dice_per_class

    t1, gm, wm = load_mni152()
    labels = tissue_labels(t1, gm, wm)
    zs = np.flatnonzero(labels.any(axis=(0, 1)))
    split = slab_split(t1.shape[2], int(zs[0]), int(zs[-1]))
    rows = []
    for cand in grid or SELECT_GRID:
        cfg = replace(Config(epochs=epochs, seed=seed), **cand)
        model, hist, seconds = train(cfg, split, t1, labels)
        pred = predict_slices(model, t1, split["val"], cfg.context)
        d = dice_per_class(pred, labels[:, :, split["val"]], [1, 2, 3])
        rows.append({**cand, "val_loss": float(min(hist["val_loss"])),
                     "best_epoch": int(np.argmin(hist["val_loss"])) + 1,
                     "val_dice": [d[1], d[2], d[3]], "seconds": seconds})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m medlab.bench segmentation",
                                description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=None,
                   help=f"default {Config.epochs}, or {SELECT_EPOCHS} with --select")
    p.add_argument("--base-filters", type=int, default=Config.base_filters)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true", help="1 epoch, 4 base filters, depth 2 (for tests)")
    p.add_argument("--select", action="store_true",
                   help="compare normalisation x batch size on the validation slabs (test slabs unread)")
    args = p.parse_args(argv)
    from medlab.env import setup

    if args.select:
        epochs = SELECT_EPOCHS if args.epochs is None else args.epochs
        setup(seed=args.seed, tensorflow=True)
        rows = select(epochs=epochs, seed=args.seed)
        print(f"selection on the validation slabs: {epochs} epochs each, seed {args.seed}")
        print(f"{'norm':<10}{'batch':>6}{'val loss':>10}{'epoch':>7}{'CSF':>8}{'GM':>8}{'WM':>8}{'mean':>8}"
              f"{'s':>7}")
        for r in rows:
            print(f"{r['norm']:<10}{r['batch']:>6}{r['val_loss']:>10.4f}{r['best_epoch']:>7}"
                  + "".join(f"{v:8.3f}" for v in r["val_dice"]) + f"{np.mean(r['val_dice']):8.3f}"
                  + f"{r['seconds']:7.0f}")
        best = max(rows, key=lambda r: np.mean(r["val_dice"]))
        print(f"best by mean validation Dice: norm={best['norm']}, batch={best['batch']}")
        return 0
    cfg = Config(epochs=Config.epochs if args.epochs is None else args.epochs,
                 base_filters=args.base_filters, seed=args.seed)
    if args.tiny:
        cfg = Config(epochs=1, base_filters=4, depth=2, seed=args.seed)
    setup(seed=cfg.seed, tensorflow=True)
    out = run(cfg)
    print(f"config: {cfg} | slices {out['n_slices']}")
    print(f"{'method':<18}{'CSF':>8}{'GM':>8}{'WM':>8}{'mean':>8}")
    for method, d in out["dice"].items():
        vals = [d[1], d[2], d[3]]
        print(f"{method:<18}" + "".join(f"{v:8.3f}" for v in vals) + f"{np.mean(vals):8.3f}")
    print(f"training: {out['train_seconds']:.1f} s wall, {out['train_cpu_seconds']:.1f} s CPU (process)")
    return 0
