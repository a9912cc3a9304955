"""Ordered grades: diabetic retinopathy on RetinaMNIST, for the chapter *Applications*.

RetinaMNIST grades colour fundus photographs into five ordered levels (0, no
retinopathy, to 4, proliferative). The chapter (chapters/applications.ipynb)
trains the CNN of the CNN project with five softmax outputs and compares two
ways of reading a grade from the five probabilities: the most probable grade
(``argmax``, which ignores the order) and the expected grade rounded to the
nearest level (:func:`decode_expected`, which uses it: a case torn between
grades 1 and 3 is called 2, not one of the two). Quadratic-weighted kappa
(:func:`sklearn.metrics.cohen_kappa_score` with ``weights="quadratic"``) is the
reference metric. TensorFlow is imported inside the functions only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RECIPE_RETINA: dict[str, Any] = {"epochs": 40, "batch_size": 32, "lr": 3e-3, "patience": 10}
"""Training budget of :func:`fit_retinamnist`: epochs, batch size, learning rate, early-stopping
patience on the validation loss."""


def _as_grade_probabilities(prob: Any) -> np.ndarray:
    p = np.asarray(prob, dtype=float)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"expected probabilities of shape (n, n_grades), got {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0 or not np.allclose(p.sum(1), 1.0, atol=1e-4):
        raise ValueError("each row must hold finite non-negative probabilities summing to 1")
    return p


def expected_grade(prob: Any) -> np.ndarray:
    """The mean grade under each row of probabilities: ``sum_k k * p_k``."""
    p = _as_grade_probabilities(prob)
    return p @ np.arange(p.shape[1])


def decode_expected(prob: Any) -> np.ndarray:
    """Ordinal decoding: the expected grade rounded to the nearest grade (halves round up)."""
    p = _as_grade_probabilities(prob)
    return np.clip(np.floor(expected_grade(p) + 0.5), 0, p.shape[1] - 1).astype(int)


def decode_argmax(prob: Any) -> np.ndarray:
    """Nominal decoding: the most probable grade (the lowest one on ties)."""
    return _as_grade_probabilities(prob).argmax(1)


def fit_retinamnist(*, seed: int = 0, epochs: int | None = None, train_limit: int | None = None,
                    cache: bool = False, verbose: bool = False) -> dict[str, Any]:
    """Train the CNN project's network with five softmax outputs on RetinaMNIST.

    Adam, sparse categorical cross-entropy, random shifts, rotations, contrast
    and left-right flips (a left eye mirrored looks like a right eye), cosine
    learning rate and early stopping on the validation loss with the best epoch kept
    (:func:`medlab.train.fit`), recipe :data:`RECIPE_RETINA`.

    Parameters
    ----------
    seed
        Seeds Python, NumPy and TensorFlow.
    epochs, train_limit
        Override the epoch budget; use only the first ``train_limit`` training images (quick runs).
    cache
        Reuse an identical earlier call's model from :mod:`medlab.cache`.
    verbose
        Print one line per epoch.

    Returns
    -------
    dict
        ``p_val`` and ``p_test`` (probabilities ``(n, 5)``), ``y_val``, ``y_test``,
        ``seconds`` of training, ``epochs_run``, ``cached`` and the ``model``.
    """
    import keras

    from medlab import cache as model_cache
    from medlab import data, models, train, validate
    from medlab.env import seed_everything

    seed = validate.check_int(seed, "seed", low=0)
    recipe = dict(RECIPE_RETINA)
    if epochs is not None:
        recipe["epochs"] = validate.check_int(epochs, "epochs", low=1)
    d = data.load_medmnist("retinamnist")
    n = len(d["train_images"]) if train_limit is None else \
        min(validate.check_int(train_limit, "train_limit", low=1), len(d["train_images"]))
    x_tr, y_tr = train._to_float(d["train_images"][:n]), validate.check_labels(d["train_labels"][:n], 5)
    x_va, y_va = train._to_float(d["val_images"]), validate.check_labels(d["val_labels"], 5)
    x_te, y_te = train._to_float(d["test_images"]), validate.check_labels(d["test_labels"], 5)

    def run() -> tuple[Any, dict[str, Any]]:
        seed_everything(seed)
        model = models.pneumonia_cnn(x_tr.shape[1:], n_classes=5, mean=x_tr.mean((0, 1, 2)).tolist(),
                                     variance=x_tr.var((0, 1, 2)).tolist())
        ds = train._dataset(x_tr, y_tr, recipe["batch_size"], shuffle=True,
                            augment=train.augmenter(flip=True, seed=seed), seed=seed)
        schedule = keras.callbacks.LearningRateScheduler(train.cosine_lr(recipe["lr"], recipe["epochs"]))
        res = train.fit(model, ds, train._dataset(x_va, y_va, 256), epochs=recipe["epochs"],
                        optimizer=keras.optimizers.Adam(recipe["lr"]), loss="sparse_categorical_crossentropy",
                        metrics=["accuracy"], monitor="val_loss", mode="min", patience=recipe["patience"],
                        callbacks=[schedule], verbose=verbose)
        return model, {"seconds": res.seconds, "epochs_run": res.epochs_run}

    model, info, hit = model_cache.cached(f"retinamnist-seed{seed}", run, code=__name__, use=cache,
                                          params={"seed": seed, "recipe": recipe, "train_images": n})
    p_val, p_test = train._predict(model, x_va), train._predict(model, x_te)  # (n, 5) rows
    return {**info, "p_val": p_val, "p_test": p_test, "y_val": y_va, "y_test": y_te,
            "cached": hit, "model": model}
