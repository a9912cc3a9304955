"""Benchmark: 3D U-Net segmentation of the hippocampus on held-out patients.

``python -m tools.bench hippocampus [--epochs N] [--base-filters F] [--seed S] [--tiny]``

The recipe of the chapter *3D segmentation across patients*
(chapters/hippocampus.ipynb): the Decathlon's 260 labelled hippocampus MRI
crops split by patient (70/10/20 %, seeded); volumes z-scored and padded to
48x64x48 (a multiple of 2**depth); a compact 3D U-Net trained on whole
volumes with Dice + cross-entropy, keeping the epoch of lowest validation
loss; tested once on the test patients (Dice per label, HD95, volume error)
and compared with a 2D slice-wise U-Net trained on the same patients in the
same run.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from medlab.data import HIPPOCAMPUS_CASES as CASE_IDS
from medlab.data import HippocampusCase as Case
from medlab.data import load_hippocampus as load_cases
from medlab.hippocampus import (
    LABELS,
    dice_ce_loss,
    pad_to_shape,
    patient_split,
    stack_cases,
    volume_mm3,
)
from tools.bench import peak_mib

SHAPE = (48, 64, 48)
"""Common padded size of every volume (the largest is 43x59x47; divisible by 2**4)."""

N_CLASSES = 3


@dataclass
class Config:
    """Sizes of one benchmark run (provisional: not yet tuned on the validation patients)."""

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


def dataset(x: np.ndarray, y: np.ndarray, batch: int, training: bool, seed: int = 0) -> Any:
    """tf.data pipeline: shuffled and intensity-augmented for training, plain otherwise."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).map(_intensity_augment)
    return ds.batch(batch).prefetch(2)


def fit(model: Any, x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, epochs: int, batch: int,
        learning_rate: float, seed: int = 0) -> tuple[dict, float]:
    """Compile with Adam (cosine decay) and Dice + cross-entropy, train, keep the best validation epoch.

    Returns (history dict, training seconds).
    """
    import keras

    steps = epochs * int(np.ceil(len(x) / batch))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=dice_ce_loss(N_CLASSES))
    keep_best = keras.callbacks.EarlyStopping(monitor="val_loss", patience=epochs, restore_best_weights=True)
    start = time.perf_counter()
    hist = model.fit(dataset(x, y, batch, True, seed), epochs=epochs, verbose=0, shuffle=False,
                     validation_data=dataset(xv, yv, batch, False), callbacks=[keep_best])
    return hist.history, time.perf_counter() - start


def train_3d(cfg: Config, x: np.ndarray, y: np.ndarray, xv: np.ndarray,
             yv: np.ndarray) -> tuple[Any, dict, float]:
    """Build :func:`medlab.models.unet3d` for the padded volumes and train it (see :func:`fit`)."""
    from medlab.env import seed_everything
    from medlab.models import unet3d

    seed_everything(cfg.seed)
    model = unet3d((*x.shape[1:4], 1), N_CLASSES, cfg.base_filters, cfg.depth, norm="instance")
    hist, seconds = fit(model, x, y, xv, yv, cfg.epochs, cfg.batch, cfg.learning_rate, cfg.seed)
    return model, hist, seconds


def slices_2d(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axial slices (along the last spatial axis) of padded volumes: ``(n * d, h, w, 1)`` and labels."""
    return (np.moveaxis(x, 3, 1).reshape(-1, x.shape[1], x.shape[2], 1),
            np.moveaxis(y, 3, 1).reshape(-1, y.shape[1], y.shape[2]))


def train_2d(cfg: Config, x: np.ndarray, y: np.ndarray, xv: np.ndarray,
             yv: np.ndarray) -> tuple[Any, dict, float]:
    """A 2D U-Net (:func:`medlab.models.unet`) on the axial slices of the same patients."""
    from medlab.env import seed_everything
    from medlab.models import unet

    seed_everything(cfg.seed)
    xs, ys = slices_2d(x, y)
    xvs, yvs = slices_2d(xv, yv)
    model = unet((*xs.shape[1:3], 1), N_CLASSES, cfg.base_filters_2d, cfg.depth, norm="instance")
    hist, seconds = fit(model, xs, ys, xvs, yvs, cfg.epochs_2d, cfg.batch_2d, cfg.learning_rate, cfg.seed)
    return model, hist, seconds


def predict_3d(model: Any, x: np.ndarray) -> np.ndarray:
    """Label volumes ``(n, *SHAPE)`` of padded, normalised volumes ``(n, *SHAPE, 1)``."""
    return model.predict(x, batch_size=2, verbose=0).argmax(-1).astype(np.uint8)


def predict_2d(model: Any, x: np.ndarray) -> np.ndarray:
    """Label volumes ``(n, *SHAPE)`` predicted slice by slice by a 2D model."""
    xs, _ = slices_2d(x, np.zeros(x.shape[:-1], np.uint8))
    pred = model.predict(xs, batch_size=64, verbose=0).argmax(-1).astype(np.uint8)
    return np.moveaxis(pred.reshape(x.shape[0], x.shape[3], x.shape[1], x.shape[2]), 1, 3)


def evaluate(cases: dict[int, Case], ids: np.ndarray, pred: np.ndarray) -> list[dict[str, Any]]:
    """One row per patient and label: Dice, HD95 (mm), reference and predicted volume (mm³).

    ``pred`` holds padded label volumes; each is cut back to its case's own size first.
    """
    from medlab.metrics import dice, hd95

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
    out = {}
    for name in LABELS.values():
        r = [row for row in rows if row["label"] == name]
        out[name] = {"dice": float(np.mean([row["dice"] for row in r])),
                     "hd95": float(np.median([row["hd95"] for row in r])),
                     "abs_volume_error": float(np.mean([abs(row["volume_pred"] - row["volume_ref"])
                                                        for row in r]))}
    return out


def run(cfg: Config, ids: tuple[int, ...] = CASE_IDS, with_2d: bool = True,
        test: bool = True) -> dict[str, Any]:
    """One benchmark run; ``test=False`` evaluates on the validation patients instead (for choices)."""
    cases = load_cases(ids)
    split = patient_split(list(cases), seed=0)
    data = {k: stack_cases(cases, v, SHAPE) for k, v in split.items()}
    (x, y), (xv, yv) = data["train"], data["val"]
    held = "test" if test else "val"
    xt, _ = data[held]
    cpu0 = time.process_time()
    model, hist, seconds = train_3d(cfg, x, y, xv, yv)
    out = {"split": {k: len(v) for k, v in split.items()}, "evaluated_on": held,
           "train_seconds": seconds, "train_cpu_seconds": time.process_time() - cpu0,
           "best_epoch": int(np.argmin(hist["val_loss"])) + 1,
           "results": {"3D U-Net": summarise(evaluate(cases, split[held], predict_3d(model, xt)))}}
    if with_2d:
        model2, _, seconds2 = train_2d(cfg, x, y, xv, yv)
        out["train_seconds_2d"] = seconds2
        out["results"]["2D U-Net (slices)"] = summarise(evaluate(cases, split[held], predict_2d(model2, xt)))
    out["peak_mib"] = peak_mib()
    return out


TARGETS = {"dice": 0.88, "train_seconds": 600.0}
"""Issue #15's targets on a 2-core CPU: mean Dice of each label on held-out patients, training time."""


def target_line(result: dict[str, dict[str, float]], train_seconds: float) -> str:
    """One line saying which targets a 3D result (from :func:`summarise`) meets."""
    parts = []
    for name in LABELS.values():
        verdict = "met" if result[name]["dice"] >= TARGETS["dice"] else "SHORT"
        parts.append(f"{name} Dice >= {TARGETS['dice']:.2f} {verdict}")
    ok = train_seconds <= TARGETS["train_seconds"]
    parts.append(f"training <= {TARGETS['train_seconds']:.0f} s {'met' if ok else 'NOT met'}")
    return "targets: " + "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (see the module docstring)."""
    p = argparse.ArgumentParser(prog="python -m tools.bench hippocampus", description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=Config.epochs)
    p.add_argument("--base-filters", type=int, default=Config.base_filters)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val", action="store_true", help="evaluate on the validation patients (for choices)")
    p.add_argument("--no-2d", action="store_true", help="skip the 2D slice-wise baseline")
    p.add_argument("--tiny", action="store_true", help="12 patients, 1 epoch, 4 filters, depth 2 (for tests)")
    args = p.parse_args(argv)
    cfg = Config(epochs=args.epochs, base_filters=args.base_filters, seed=args.seed)
    ids = CASE_IDS
    if args.tiny:
        cfg = Config(epochs=1, base_filters=4, depth=2, epochs_2d=1, base_filters_2d=4, seed=args.seed)
        ids = CASE_IDS[:12]
    from medlab.env import setup

    setup(seed=cfg.seed, tensorflow=True)
    out = run(cfg, ids, with_2d=not args.no_2d, test=not args.val)
    print(f"config: {asdict(cfg)} | patients {out['split']} | evaluated on {out['evaluated_on']}")
    print(f"{'method':<20}{'Dice ant':>9}{'Dice post':>10}{'HD95 ant':>9}{'HD95 post':>10}"
          f"{'|dV| ant':>10}{'|dV| post':>10}")
    for method, r in out["results"].items():
        a, b = r["anterior"], r["posterior"]
        print(f"{method:<20}{a['dice']:9.3f}{b['dice']:10.3f}{a['hd95']:9.2f}{b['hd95']:10.2f}"
              f"{a['abs_volume_error']:10.1f}{b['abs_volume_error']:10.1f}")
    print("(Dice: mean over patients; HD95: median, mm; |dV|: mean absolute volume error, mm^3)")
    extra = f", 2D baseline {out['train_seconds_2d']:.1f} s" if "train_seconds_2d" in out else ""
    print(f"training 3D: {out['train_seconds']:.1f} s wall ({out['train_cpu_seconds']:.1f} s CPU), "
          f"best epoch {out['best_epoch']}{extra}; peak memory {out['peak_mib']:.0f} MiB")
    print(target_line(out["results"]["3D U-Net"], out["train_seconds"]))
    return 0
