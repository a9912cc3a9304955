"""Training: the book's one training loop, and the pieces of the chapter *A CNN classification project*.

:func:`fit` is the one loop every recipe of the book trains with (the CNN project's classifier,
the 3D CNN, the RetinaMNIST grader, the U-Net, the 3D U-Net, the detector): it compiles the model
with the loss, optimiser and metrics it is given, trains it, keeps the weights of the best
validation epoch (Keras' ``EarlyStopping`` with ``restore_best_weights``: strict improvement,
the first best epoch wins), times every epoch and returns a :class:`TrainResult`.

The chapter first writes each piece in the open (scaling, a ``tf.data`` pipeline with
augmentation, ``model.fit`` with early stopping and a learning-rate schedule, the decision
threshold chosen on validation data); this module holds the same pieces for reuse by later
chapters and by the benchmark ``python -m tools.bench classification``. Metrics are computed
with scikit-learn. TensorFlow is imported inside the functions only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medlab.validate import (
    check_array,
    check_images,
    check_int,
    check_labels,
    check_model,
    check_number,
    check_one_of,
    check_same_length,
)


def to_float(images: Any) -> np.ndarray:
    """Scale 8-bit images to float32 in [0, 1] and make sure they have a channel axis.

    Parameters
    ----------
    images
        ``uint8`` array ``(n, height, width)`` (greyscale, as MedMNIST stores
        it) or ``(n, height, width, channels)``.

    Returns
    -------
    numpy.ndarray
        ``float32`` array ``(n, height, width, channels)`` with values in [0, 1].

    Raises
    ------
    TypeError
        If the images are not ``uint8`` (scaling other types by 1/255 would be wrong).
    ValueError
        If the array has the wrong number of axes.
    """
    arr = np.asarray(images)
    if arr.dtype != np.uint8:
        raise TypeError(f"to_float expects uint8 images (0..255), got {arr.dtype}; "
                        "scale other types yourself")
    check_images(arr[..., None] if arr.ndim == 3 else arr)
    return _to_float(arr)


def _to_float(images: np.ndarray) -> np.ndarray:
    """:func:`to_float` on checked uint8 images."""
    arr = images[..., None] if images.ndim == 3 else images
    return arr.astype(np.float32) / 255.0


def configure_device() -> str:
    """Report the device and keep Keras's computations in float32 on any device.

    Introduced in the chapter *A CNN classification project*. The book does not use mixed
    precision (float16 compute on GPUs): no GPU was available to test that path, and a chapter's
    numbers should not depend on the device's arithmetic.

    Returns
    -------
    str
        A one-line description such as ``"CPU, float32"`` or ``"GPU x1, float32"``.
    """
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    keras.mixed_precision.set_global_policy("float32")
    device = f"GPU x{len(gpus)}" if gpus else "CPU"
    return f"{device}, {keras.mixed_precision.global_policy().name}"


def augmenter(*, shift: float = 0.08, rotation_deg: float = 10.0, contrast: float = 0.2,
              flip: bool = False, seed: int = 0) -> Any:
    """Random augmentation for radiographs: small shifts and rotations, contrast changes.

    No horizontal flip by default: a flipped chest X-ray puts the heart on the
    right (dextrocardia), which is not a normal variant of the training data.
    Set ``flip=True`` only where left and right are interchangeable.

    Parameters
    ----------
    shift
        Largest shift as a fraction of the image height and width.
    rotation_deg
        Largest rotation in degrees, either way.
    contrast
        Largest relative contrast change.
    flip
        Add random horizontal flips.
    seed
        Seed of the random layers.

    Returns
    -------
    keras.Sequential
        Apply it with ``augment(images, training=True)``.
    """
    import keras
    from keras import layers

    if shift < 0 or rotation_deg < 0 or contrast < 0:
        raise ValueError("shift, rotation_deg and contrast must be non-negative")
    steps = [
        layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed),
        layers.RandomRotation(rotation_deg / 360.0, fill_mode="constant", seed=seed + 1),
        layers.RandomContrast(contrast, seed=seed + 2),
    ]
    if flip:
        steps.append(layers.RandomFlip("horizontal", seed=seed + 3))
    return keras.Sequential(steps, name="augment")


def make_dataset(images: np.ndarray, labels: Any, *, batch_size: int = 64, shuffle: bool = False,
                 augment: Any = None, seed: int = 0) -> Any:
    """A ``tf.data`` pipeline: (shuffle) -> batch -> (augment) -> prefetch.

    Parameters
    ----------
    images
        Float images ``(n, height, width, channels)``, e.g. from :func:`to_float`.
    labels
        Class labels ``(n,)`` or ``(n, 1)``.
    batch_size
        Images per batch.
    shuffle
        Reshuffle every epoch (training data only).
    augment
        A callable such as :func:`augmenter`'s model, applied per batch, or None.
    seed
        Shuffle seed.
    """
    x = check_images(images)
    y = check_array(labels, "labels", ndim=(1, 2), finite=True)
    if y.ndim == 2 and y.shape[1] != 1:
        raise ValueError(f"labels must have shape (n,) or (n, 1), got {y.shape}")
    check_same_length(("images", x), ("labels", y))
    batch_size = check_int(batch_size, "batch_size", low=1)
    return _dataset(x, y.reshape(-1), batch_size, shuffle=shuffle, augment=augment, seed=seed)


def _dataset(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool = False, augment: Any = None,
             seed: int = 0) -> Any:
    """:func:`make_dataset` on checked arrays."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x.astype(np.float32, copy=False), y.astype(np.float32)))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augment is not None:
        ds = ds.map(lambda a, b: (augment(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _epoch_timer_class() -> type:
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Record (and optionally print) wall-clock and CPU seconds of every epoch."""

        def __init__(self, verbose: bool = True) -> None:
            super().__init__()
            self.verbose = verbose
            self.wall: list[float] = []
            self.cpu: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._t, self._c = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.wall.append(time.perf_counter() - self._t)
            self.cpu.append(time.process_time() - self._c)
            if self.verbose:
                logs = logs or {}
                shown = " ".join(f"{k}={v:.4f}" for k, v in logs.items()
                                 if k == "loss" or k.startswith("val_"))
                print(f"epoch {epoch + 1:3d}: {self.wall[-1]:5.1f} s (CPU {self.cpu[-1]:5.1f} s) {shown}",
                      flush=True)

    return EpochTimer


def epoch_timer(verbose: bool = True) -> Any:
    """A Keras callback recording seconds per epoch in ``.wall`` and ``.cpu`` (lists)."""
    if not isinstance(verbose, (bool, np.bool_)):
        raise TypeError(f"verbose must be True or False, got {verbose!r}")
    return _epoch_timer_class()(verbose=verbose)


def cosine_lr(initial: float, epochs: int, floor: float = 0.02) -> Any:
    """Learning rate per epoch decaying from ``initial`` along a half cosine to ``floor * initial``."""
    if initial <= 0 or epochs < 1:
        raise ValueError("initial must be positive and epochs at least 1")

    def schedule(epoch: int, lr: float | None = None) -> float:
        t = min(epoch, epochs - 1) / max(epochs - 1, 1)
        return float(initial * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))))

    return schedule


@dataclass
class TrainResult:
    """What :func:`fit` (and every recipe built on it) returns.

    Attributes
    ----------
    model
        The trained model, holding the weights of the best validation epoch.
    history
        Per-epoch values Keras logged (``loss``, ``val_loss``, metrics, ``learning_rate``...).
    best_epoch
        The epoch (1-based) whose weights the model holds: the first with the best ``monitor``.
    epochs_run
        Epochs trained (fewer than the budget when early stopping or a time limit stopped it).
    seconds, cpu_seconds
        Wall-clock and CPU (this process) seconds of the whole training.
    epoch_seconds
        Wall-clock seconds of each epoch.
    monitor
        The logged value that chose the best epoch (e.g. ``"val_auc"``).
    """

    model: Any
    history: dict[str, list[float]]
    best_epoch: int
    epochs_run: int
    seconds: float
    cpu_seconds: float
    epoch_seconds: list[float] = field(default_factory=list)
    monitor: str = "val_loss"

    @property
    def best_value(self) -> float:
        """The monitored value at :attr:`best_epoch`."""
        return self.history[self.monitor][self.best_epoch - 1]


def fit(model: Any, train_data: Any, val_data: Any, *, epochs: int, optimizer: Any, loss: Any,
        metrics: Sequence[Any] = (), monitor: str, mode: str, patience: int | None = None,
        callbacks: Sequence[Any] = (), steps_per_epoch: int | None = None,
        verbose: bool = False) -> TrainResult:
    """The book's one training loop: compile, train, keep the best validation epoch, time it.

    Every recipe of the book trains through here (chapters *A CNN classification project*,
    *Applications*, *U-Net*, *Segmentation in 3D: the hippocampus*, *Finding blood cells*). The
    keep-best rule is Keras' own ``EarlyStopping(monitor, mode=mode, patience=patience,
    restore_best_weights=True)``: an epoch is best when its ``monitor`` value strictly improves on
    every earlier one (so the first of equal values wins, as with ``ModelCheckpoint(
    save_best_only=True)``), and its weights are put back into the model at the end of training,
    whether or not training stopped early. ``patience=None`` (the whole budget) keeps the best
    epoch without ever stopping early.

    Parameters
    ----------
    model
        A Keras model (compiled here).
    train_data, val_data
        Training and validation data as ``model.fit`` takes them: ``tf.data`` datasets (shuffle
        and augment inside them), or a ``keras.utils.PyDataset``. They are not shuffled again.
    epochs
        Epoch budget.
    optimizer, loss, metrics
        Passed to ``model.compile``: a Keras optimiser (with its learning rate or schedule), a
        loss, and metrics to log (their validation values are logged as ``val_<name>``).
    monitor, mode
        The logged value that chooses the best epoch (``"val_loss"``, ``"val_auc"``, or one a
        callback adds to the logs, such as the detector's ``"val_map50"``) and whether lower
        (``"min"``) or higher (``"max"``) is better.
    patience
        Stop after this many epochs without improvement; None never stops early.
    callbacks
        More Keras callbacks (a learning-rate schedule, a callback that adds a validation score
        to the logs, a time limit); they run before the keep-best callback, in the order given.
    steps_per_epoch
        Batches per epoch, for an endless ``PyDataset`` (None: one pass over ``train_data``).
    verbose
        Print one line per epoch (time, loss and validation values).

    Returns
    -------
    TrainResult
    """
    import keras

    check_model(model)
    epochs = check_int(epochs, "epochs", low=1)
    check_one_of(mode, "mode", ("min", "max"))
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"monitor must be the name of a logged value such as 'val_loss', got {monitor!r}")
    patience = epochs if patience is None else check_int(patience, "patience", low=1)
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics) or None)
    timer = epoch_timer(verbose=verbose)
    keep_best = keras.callbacks.EarlyStopping(monitor, mode=mode, patience=patience,
                                              restore_best_weights=True)
    t0, c0 = time.perf_counter(), time.process_time()
    hist = model.fit(train_data, validation_data=val_data, epochs=epochs, steps_per_epoch=steps_per_epoch,
                     callbacks=[*callbacks, timer, keep_best], verbose=0, shuffle=False)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    history = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
    if monitor not in history:
        raise ValueError(f"monitor {monitor!r} was never logged; logged values: {sorted(history)}")
    return TrainResult(model=model, history=history, best_epoch=int(keep_best.best_epoch) + 1,
                       epochs_run=len(history["loss"]), seconds=seconds, cpu_seconds=cpu,
                       epoch_seconds=list(timer.wall), monitor=monitor)


def train_classifier(model: Any, train: tuple[np.ndarray, Any], val: tuple[np.ndarray, Any], *,
                     epochs: int = 15, batch_size: int = 64, lr: float = 3e-3, patience: int = 5,
                     augment: Any = None, seed: int = 0, verbose: bool = False) -> TrainResult:
    """Train a binary classifier the way the chapter does, with :func:`fit`.

    Adam with a cosine learning-rate schedule (:func:`cosine_lr`), binary cross-entropy, AUC
    as validation metric, early stopping on the validation AUC with the best epoch kept. Runs
    are repeatable with the same ``seed`` once TensorFlow's deterministic ops are on
    (``medlab.setup(tensorflow=True)`` does it).

    Parameters
    ----------
    model
        A model with one sigmoid output, e.g. ``medlab.models.pneumonia_cnn()``.
    train, val
        ``(images, labels)`` pairs; images as from :func:`to_float`.
    epochs, batch_size, lr, patience
        Training budget, batch size, initial learning rate, early-stopping patience.
    augment
        Augmentation callable for the training batches, or None.
    seed
        Seeds the shuffling of the training data.
    verbose
        Print one line per epoch.
    """
    check_model(model)
    if model.output_shape[-1] != 1:
        raise ValueError("train_classifier trains binary models (one sigmoid output)")
    shape = model.input_shape[1:]
    checked = []
    for (x, y), which in ((train, "train"), (val, "val")):
        x = check_images(x, shape, name=f"{which} images")
        y = check_labels(y, 2, name=f"{which} labels")
        check_same_length((f"{which} images", x), (f"{which} labels", y))
        checked.append((x, y))
    epochs = check_int(epochs, "epochs", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    lr = check_number(lr, "lr", low=0, low_open=True)
    patience = check_int(patience, "patience", low=1)
    return _train_classifier(model, checked[0], checked[1], epochs=epochs, batch_size=batch_size, lr=lr,
                             patience=patience, augment=augment, seed=seed, verbose=verbose)


def _train_classifier(model: Any, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
                      *, epochs: int, batch_size: int, lr: float, patience: int, augment: Any, seed: int,
                      verbose: bool) -> TrainResult:
    """:func:`train_classifier` on checked arguments."""
    import keras

    ds_train = _dataset(*train, batch_size, shuffle=True, augment=augment, seed=seed)
    ds_val = _dataset(*val, 256)
    return fit(model, ds_train, ds_val, epochs=epochs, optimizer=keras.optimizers.Adam(lr),
               loss="binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")], monitor="val_auc",
               mode="max", patience=patience, verbose=verbose,
               callbacks=[keras.callbacks.LearningRateScheduler(cosine_lr(lr, epochs))])


def predict_proba(model: Any, images: np.ndarray, *, batch_size: int = 256,
                  eager: bool = False) -> np.ndarray:
    """Probability of class 1 for each image (binary models), as a flat float array.

    Multi-class models give one row of class probabilities per image. ``eager=True`` calls the
    model directly, batch by batch, instead of ``model.predict``: the same numbers (to float
    round-off) without ``predict``'s graph tracing, about a second saved per new model, which
    adds up when a chapter trains many (*Can we trust the model?*, chapters/interpretability.ipynb).
    """
    check_model(model)
    x = check_images(images, model.input_shape[1:])
    return _predict(model, x, check_int(batch_size, "batch_size", low=1), eager=eager)


def _predict(model: Any, x: np.ndarray, batch_size: int = 256, eager: bool = False) -> np.ndarray:
    """:func:`predict_proba` on checked images."""
    if eager:
        x = x.astype(np.float32)
        p = np.concatenate([np.asarray(model(x[i:i + batch_size], training=False))
                            for i in range(0, len(x), batch_size)]).astype(np.float64)
    else:
        p = np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
    return p[:, 0] if p.shape[-1] == 1 else p


def tta_predict(model: Any, images: np.ndarray, augment: Any, *, copies: int = 8,
                batch_size: int = 256) -> np.ndarray:
    """Test-time augmentation: the mean probability over the image and ``copies`` augmented copies.

    Introduced in the chapter *FAQ: every answer a measured experiment*
    (chapters/faq.ipynb), which measures what it gains. Each copy is drawn
    by ``augment(images, training=True)`` (e.g. :func:`augmenter`'s model, whose
    seed makes the copies repeatable); the unaltered images count once.

    Parameters
    ----------
    model
        A trained binary model (one sigmoid output).
    images
        Float images ``(n, height, width, channels)`` as from :func:`to_float`.
    augment
        Callable ``augment(images, training=True)`` returning altered images of the same shape.
    copies
        Number of augmented copies; 0 gives :func:`predict_proba` exactly.
    batch_size
        Images per prediction batch.

    Returns
    -------
    numpy.ndarray
        Mean probability of class 1 per image, flat, float64.
    """
    check_model(model)
    if not callable(augment):
        raise TypeError(f"augment must be a function of a batch (e.g. train.augmenter()), got "
                        f"{type(augment).__name__}")
    try:
        copies = check_int(copies, "copies", low=0)
    except TypeError as err:
        raise ValueError(str(err)) from None
    x = check_images(images, model.input_shape[1:]).astype(np.float32, copy=False)
    return _tta_predict(model, x, augment, copies, check_int(batch_size, "batch_size", low=1))


def _tta_predict(model: Any, x: np.ndarray, augment: Any, copies: int, batch_size: int = 256) -> np.ndarray:
    """:func:`tta_predict` on checked arguments."""
    total = _predict(model, x, batch_size)
    for _ in range(copies):
        altered = np.asarray(augment(x, training=True), dtype=np.float32)
        if altered.shape != x.shape:
            raise ValueError(f"augment changed the shape from {x.shape} to {altered.shape}")
        total = total + _predict(model, altered, batch_size)
    return total / (copies + 1)


def youden_threshold(y_true: Any, scores: Any) -> float:
    """Threshold maximising Youden's J = sensitivity + specificity - 1 (use validation data).

    The same as :func:`medlab.metrics.threshold_youden` (ties go to the highest
    threshold), kept under this name for the CNN project chapter, which
    writes it out first.
    """
    from medlab.metrics import threshold_youden

    return threshold_youden(check_labels(y_true, 2, name="y_true"), scores)


def binary_report(y_true: Any, scores: Any, threshold: float) -> dict[str, float]:
    """AUC, accuracy, sensitivity, specificity and the confusion counts at ``threshold``.

    Class 1 is the positive class; ``score >= threshold`` predicts it.
    Computed with scikit-learn.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score

    y = check_labels(y_true, 2, name="y_true")
    s = check_array(scores, "scores", finite=True).astype(np.float64).ravel()
    threshold = check_number(threshold, "threshold")
    if len(s) != len(y):
        raise ValueError(f"{len(y)} labels but {len(s)} scores")
    pred = (s >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return {
        "auc": float(roc_auc_score(y, s)),
        "accuracy": float(accuracy_score(y, pred)),
        "sensitivity": float(tp / (tp + fn)) if tp + fn else float("nan"),
        "specificity": float(tn / (tn + fp)) if tn + fp else float("nan"),
        "threshold": float(threshold),
        "tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp),
    }


RECIPES: dict[str, dict[str, Any]] = {
    "pneumoniamnist": {"epochs": 15, "batch_size": 64, "lr": 3e-3, "patience": 5, "flip": False},
    "breastmnist": {"epochs": 60, "batch_size": 32, "lr": 3e-3, "patience": 15, "flip": True},
}
"""Training recipes of the chapter's CNN per binary MedMNIST data set (used by the benchmark).

Breast ultrasound may be flipped left-right (no anatomical side); chest X-rays may not.
BreastMNIST has ten times fewer images, so it gets more (and cheaper) epochs and more patience.
"""


def _val_test_report(d: dict[str, np.ndarray], p_val: np.ndarray, p_test: np.ndarray) -> dict[str, Any]:
    """Threshold from validation (Youden), test metrics at it, and the validation AUC."""
    threshold = youden_threshold(d["val_labels"], p_val)
    report = binary_report(d["test_labels"], p_test, threshold)
    report["val_auc"] = binary_report(d["val_labels"], p_val, threshold)["auc"]
    return report


def fit_medmnist(name: str, *, seed: int = 0, epochs: int | None = None, train_limit: int | None = None,
                 verbose: bool = False, tta: int = 0, cache: bool = False) -> dict[str, Any]:
    """The chapter's whole recipe on one binary MedMNIST data set, for one seed.

    Loads the official split, builds :func:`medlab.models.pneumonia_cnn` with the
    training pixel statistics, trains with augmentation (:data:`RECIPES`, :func:`train_classifier`),
    chooses the threshold on validation (:func:`youden_threshold`) and reports
    the test metrics (:func:`binary_report`) with the training time.

    Parameters
    ----------
    name
        ``"pneumoniamnist"`` or ``"breastmnist"``.
    seed
        Seeds Python, NumPy and TensorFlow (weights, shuffling, augmentation).
    epochs
        Override the recipe's epoch budget (e.g. for a quick test).
    train_limit
        Use only the first ``train_limit`` training images (quick tests).
    verbose
        Print one line per epoch.
    tta
        Test-time augmentation copies for the validation and test predictions
        (:func:`tta_predict` with the recipe's augmenter, seeded ``seed + 100``);
        0 (the default) predicts on the images alone, as the chapter does. With
        ``tta > 0`` the same model's metrics without TTA are kept under ``"no_tta"``.
    cache
        Reuse the model and report of an identical earlier call (same arguments, same code, same
        library versions) from :mod:`medlab.cache`, and store this one there. ``seconds`` is then
        the earlier run's training time and ``cached`` is true. Off by default: benchmarks
        measure training.

    Returns
    -------
    dict
        Test metrics plus ``seconds``, ``cpu_seconds``, ``epochs_run``,
        ``best_epoch``, ``predict_seconds``, ``val_auc``, ``cached`` and the trained ``model``.
    """
    from medlab import cache as model_cache
    from medlab import data, models
    from medlab.env import seed_everything

    check_one_of(name, "name", RECIPES)
    seed = check_int(seed, "seed", low=0)
    recipe = dict(RECIPES[name])
    if epochs is not None:
        recipe["epochs"] = check_int(epochs, "epochs", low=1)
    tta = check_int(tta, "tta", low=0)
    d = data.load_medmnist(name)
    n = len(d["train_images"]) if train_limit is None else \
        min(check_int(train_limit, "train_limit", low=1), len(d["train_images"]))

    def run() -> tuple[Any, dict[str, Any]]:
        x_train, y_train = _to_float(d["train_images"][:n]), check_labels(d["train_labels"][:n], 2)
        x_val, x_test = _to_float(d["val_images"]), _to_float(d["test_images"])
        seed_everything(seed)
        model = models.pneumonia_cnn(x_train.shape[1:], mean=float(x_train.mean()),
                                     variance=float(x_train.var()))
        augment = augmenter(flip=recipe["flip"], seed=seed)
        res = _train_classifier(model, (x_train, y_train), (x_val, check_labels(d["val_labels"], 2)),
                                epochs=recipe["epochs"], batch_size=recipe["batch_size"], lr=recipe["lr"],
                                patience=recipe["patience"], augment=augment, seed=seed, verbose=verbose)
        t0 = time.perf_counter()
        p_val, p_test = _predict(model, x_val), _predict(model, x_test)
        report = _val_test_report(d, p_val, p_test)
        if tta:
            tta_aug = augmenter(flip=recipe["flip"], seed=seed + 100)
            p_val, p_test = (_tta_predict(model, x, tta_aug, tta) for x in (x_val, x_test))
            report = {**_val_test_report(d, p_val, p_test), "no_tta": report}
        report.update(seconds=res.seconds, cpu_seconds=res.cpu_seconds, best_epoch=res.best_epoch,
                      predict_seconds=time.perf_counter() - t0, tta=tta, epochs_run=res.epochs_run,
                      dataset=name, seed=seed)
        return model, report

    model, report, hit = model_cache.cached(f"{name}-seed{seed}", run, code=__name__, use=cache,
                                            params={"name": name, "seed": seed, "recipe": recipe,
                                                    "train_images": n, "tta": tta})
    return {**report, "cached": hit, "model": model}
