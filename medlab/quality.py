"""Data-quality helpers of the chapter *Can we trust the model?* (chapters/interpretability.ipynb).

Label noise you plant yourself (:func:`flip_labels`), confident learning
(Northcutt, Jiang and Chuang, 2021) written out (:func:`confident_joint`,
:func:`find_label_issues`: the off-diagonal examples of the confident joint, the indices
``cleanlab.count.compute_confident_joint(..., return_indices_of_off_diagonals=True)``
returns), near-duplicate search between splits
(:func:`nearest_neighbours`), acquisition shifts of an image batch
(:func:`shift_images`), temperature scaling (:func:`fit_temperature`), a
synthetic marker for the shortcut experiment (:func:`add_marker`), and the CNN
project's recipe on a subset of images (:func:`train_subset`; predict with
``medlab.train.predict_proba(..., eager=True)``). TensorFlow is only used through the
models passed in and inside :func:`train_subset`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medlab.validate import check_array, check_images, check_labels

SHIFTS = ("contrast", "noise", "blur", "resolution")
"""Kinds of acquisition shift :func:`shift_images` knows."""


def flip_labels(labels: Any, rate: float, seed: int = 0, n_classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Flip a known share of labels, reproducibly.

    Exactly ``round(rate * n)`` labels, chosen uniformly at random without replacement,
    are changed to another class (drawn uniformly among the other classes).

    Returns
    -------
    (noisy, flipped)
        The new labels ``(n,)`` and a boolean mask of the flipped ones.
    """
    y = check_labels(labels, n_classes)
    if not 0.0 <= float(rate) <= 1.0:
        raise ValueError(f"rate must lie in [0, 1], got {rate}")
    rng = np.random.default_rng(seed)
    flipped = np.zeros(len(y), bool)
    flipped[rng.choice(len(y), size=int(round(rate * len(y))), replace=False)] = True
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, n_classes, size=int(flipped.sum()))) % n_classes
    return noisy, flipped


def _probs(pred_probs: Any, n: int) -> np.ndarray:
    p = check_array(pred_probs, "pred_probs").astype(np.float64)
    if p.ndim == 1:
        p = np.stack([1.0 - p, p], axis=1)  # binary: the probability of class 1
    if p.ndim != 2 or len(p) != n or p.shape[1] < 2:
        raise ValueError(f"pred_probs must be (n,) for two classes or (n, classes) with n = {n}, "
                         f"got {np.shape(pred_probs)}")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ValueError("pred_probs must be probabilities in [0, 1]")
    if not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("pred_probs must sum to 1 over the classes in every row (softmax outputs); "
                         f"row sums run from {p.sum(axis=1).min():g} to {p.sum(axis=1).max():g}")
    return p


def confident_joint(labels: Any, pred_probs: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The confident joint of Northcutt et al. (2021), from out-of-sample probabilities.

    The threshold of class ``j`` is the mean predicted probability of ``j`` over the examples
    *labelled* ``j``. An example counts as confidently belonging to ``j`` when its ``p_j``
    reaches that threshold; if several classes do, the one with the largest probability
    wins (an exact tie goes to the lowest class index, as in cleanlab); if none does, the
    example is not counted.

    Parameters
    ----------
    labels
        Given (possibly noisy) labels ``(n,)``.
    pred_probs
        Out-of-sample probabilities: ``(n,)`` of class 1 for two classes, or ``(n, classes)``.

    Returns
    -------
    (joint, guess, thresholds)
        ``joint[i, j]``: examples labelled ``i`` confidently in class ``j``; ``guess``: that
        class per example (-1 where none is confident); the per-class ``thresholds``.
    """
    p = _probs(pred_probs, len(np.asarray(labels).reshape(-1)))
    k = p.shape[1]
    y = check_labels(labels, k)
    if len(np.unique(y)) < k:
        raise ValueError(f"labels must hold every class of pred_probs ({k}) at least once; "
                         f"found {sorted(np.unique(y).tolist())}")
    thresholds = np.array([p[y == j, j].mean() for j in range(k)])
    above = p >= thresholds - 1e-6  # cleanlab's tolerance (count.compute_confident_joint)
    n_above = above.sum(axis=1)
    guess = np.where(n_above > 1, p.argmax(axis=1), above.argmax(axis=1))
    guess = np.where(n_above == 0, -1, guess)
    joint = np.zeros((k, k), np.int64)
    counted = guess >= 0
    np.add.at(joint, (y[counted], guess[counted]), 1)
    return joint, guess, thresholds


def find_label_issues(labels: Any, pred_probs: Any) -> np.ndarray:
    """Flag the examples in the off-diagonal cells of the confident joint.

    An example is flagged when it is confidently predicted to be a class other than its
    given label (:func:`confident_joint`): the examples whose indices
    ``cleanlab.count.compute_confident_joint(..., return_indices_of_off_diagonals=True)``
    returns (cleanlab 2.9, ``count.py``). ``cleanlab.filter.find_label_issues(...,
    filter_by="confident_learning")`` goes one step further and drops the flags whose given
    label is the most probable class, a near-tie counting for the given label
    (``count._reduce_issues`` adds 1e-6 to the given label's probability before the argmax);
    such flags occur when a class threshold lies below the largest other probability (e.g.
    below 0.5 with two classes). This function keeps them. Returns a boolean mask ``(n,)``.
    """
    y = np.asarray(labels).reshape(-1)
    _, guess, _ = confident_joint(labels, pred_probs)
    return (guess >= 0) & (guess != y)


def nearest_neighbours(a: Any, b: Any | None = None) -> tuple[np.ndarray, np.ndarray]:
    """For each image of ``a``, its nearest image in ``b`` and their root-mean-square pixel distance.

    With ``b`` None, the nearest *other* image of ``a`` (duplicates within one set).
    Images are compared as flat vectors of their pixel values (scale them alike first);
    the search is exact (``sklearn.neighbors.NearestNeighbors``).

    Returns
    -------
    (index, distance)
        ``(len(a),)`` arrays.
    """
    from sklearn.neighbors import NearestNeighbors

    xa = check_array(a, "a", finite=True).astype(np.float64)
    if b is not None:
        check_array(b, "b", finite=True)
    if xa.ndim < 2 or len(xa) < (2 if b is None else 1):
        raise ValueError(f"a must hold images (n, ...), got shape {xa.shape}")
    fa = xa.reshape(len(xa), -1)
    fb = fa if b is None else np.asarray(b, dtype=np.float64).reshape(len(b), -1)
    if fb.shape[1] != fa.shape[1]:
        raise ValueError(f"images of a and b differ in size: {xa.shape[1:]} vs {np.shape(b)[1:]}")
    k = 2 if b is None else 1
    dist, idx = NearestNeighbors(n_neighbors=k).fit(fb).kneighbors(fa)
    if b is None:  # the nearest point is the image itself, unless an exact duplicate came first
        self_first = idx[:, 0] == np.arange(len(fa))
        pick = np.where(self_first, 1, 0)
        idx, dist = idx[np.arange(len(fa)), pick], dist[np.arange(len(fa)), pick]
    else:
        idx, dist = idx[:, 0], dist[:, 0]
    return idx, dist / np.sqrt(fa.shape[1])


def shift_images(images: Any, kind: str, level: float, seed: int = 0) -> np.ndarray:
    """Simulate an acquisition shift on float images ``(n, h, w, c)`` in [0, 1].

    ``"contrast"``: pull every pixel towards its image's mean by the share ``level`` (0..1);
    ``"noise"``: add Gaussian noise of standard deviation ``level``; ``"blur"``: Gaussian blur
    of ``level`` pixels (sigma); ``"resolution"``: average blocks of ``level`` x ``level``
    pixels and repeat them (a coarser detector; ``level`` a whole number that divides the
    size). Results are clipped to [0, 1]; ``level`` 0 (1 for resolution) changes nothing.
    """
    from scipy import ndimage

    x = check_images(images).astype(np.float64)
    if kind not in SHIFTS:
        raise ValueError(f"kind must be one of {SHIFTS}, got {kind!r}")
    if level < 0:
        raise ValueError(f"level must be non-negative, got {level}")
    if kind == "contrast":
        if level > 1:
            raise ValueError(f"a contrast reduction lies in [0, 1], got {level}")
        mean = x.mean(axis=(1, 2, 3), keepdims=True)
        out = mean + (1.0 - level) * (x - mean)
    elif kind == "noise":
        out = x + np.random.default_rng(seed).normal(0.0, level, x.shape)
    elif kind == "blur":
        out = ndimage.gaussian_filter(x, sigma=(0, level, level, 0)) if level > 0 else x.copy()
    else:
        f = int(level)
        h, w = x.shape[1:3]
        if f != level or f < 1 or h % f or w % f:
            raise ValueError(f"resolution needs a whole factor dividing {h} x {w}, got {level}")
        blocks = x.reshape(len(x), h // f, f, w // f, f, x.shape[3]).mean(axis=(2, 4))
        out = blocks.repeat(f, axis=1).repeat(f, axis=2)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _nll(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    return float(np.mean(np.logaddexp(0.0, z) - y * z))  # binary cross-entropy of sigmoid(z)


def fit_temperature(logits: Any, labels: Any) -> float:
    """Temperature scaling of a binary classifier (Guo et al., 2017): the ``T`` that minimises
    the validation log-loss of ``sigmoid(logit / T)``. Fit it on validation data only."""
    from scipy.optimize import minimize_scalar

    z = check_array(logits, "logits", finite=True, non_empty=True).astype(np.float64)
    if z.ndim == 2 and z.shape[1] == 1:
        z = z[:, 0]
    if z.ndim != 1:
        raise ValueError(f"logits must be one logit per image, shape (n,) or (n, 1), got {z.shape}")
    y = check_labels(labels, 2).astype(np.float64)
    if len(z) != len(y):
        raise ValueError(f"{len(z)} logits but {len(y)} labels")
    res = minimize_scalar(lambda t: _nll(z, y, np.exp(t)), bounds=(-5.0, 5.0), method="bounded",
                          options={"xatol": 1e-8})
    return float(np.exp(res.x))


def add_marker(images: Any, which: Any, *, size: int = 3, value: float = 1.0,
               corner: tuple[int, int] = (2, 2)) -> np.ndarray:
    """Paint a small square "marker" of ``value`` into the images selected by ``which``.

    A synthetic stand-in for the lead letters and hospital tokens on real films; the
    square's top-left pixel is ``corner`` (row, column). Returns a copy.
    """
    x = check_images(images).astype(np.float32).copy()
    sel = np.zeros(len(x), bool)
    sel[np.asarray(which)] = True
    r, c = corner
    if size < 1 or r < 0 or c < 0 or r + size > x.shape[1] or c + size > x.shape[2]:
        raise ValueError(f"a {size}-pixel marker at {corner} does not fit in {x.shape[1]} x {x.shape[2]}")
    x[sel, r:r + size, c:c + size, :] = value
    return x


def train_subset(x_train: np.ndarray, y_train: Any, x_val: np.ndarray, y_val: Any, *, epochs: int,
                 seed: int = 0, batch_size: int = 32, augment: bool = True) -> Any:
    """The CNN project's recipe (``medlab.train``, PneumoniaMNIST) on a small training set.

    ``medlab.models.pneumonia_cnn`` standardised with the training pixels, Adam at the
    recipe's learning rate with its cosine schedule, early stopping on validation AUC
    (patience = ``epochs``: the best epoch is kept), the recipe's augmentation. Only the
    sizes change: fewer images, fewer epochs, and batches of 32 (so that batch
    normalisation's running statistics settle within a few hundred steps).

    Returns
    -------
    medlab.train.TrainResult
    """
    from medlab import models, train
    from medlab.env import seed_everything

    recipe = train.RECIPES["pneumoniamnist"]
    seed_everything(seed)
    model = models.pneumonia_cnn(x_train.shape[1:], mean=float(x_train.mean()), variance=float(x_train.var()))
    aug = train.augmenter(flip=recipe["flip"], seed=seed) if augment else None
    return train.train_classifier(model, (x_train, y_train), (x_val, y_val), epochs=epochs,
                                  batch_size=batch_size, lr=recipe["lr"], patience=epochs,
                                  augment=aug, seed=seed)
