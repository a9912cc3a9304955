"""Data-quality helpers of medlab.quality (chapter: interpretability).

Confident learning is checked against a straightforward loop written from the paper's
definition and on cases whose answer is known; the neighbour search against scipy's cdist.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from medlab import quality


def test_flip_labels_is_reproducible_and_exact():
    y = np.repeat([0, 1], 50)
    a, fa = quality.flip_labels(y, 0.2, seed=3)
    b, fb = quality.flip_labels(y.reshape(-1, 1), 0.2, seed=3)  # MedMNIST's column shape
    assert np.array_equal(a, b) and np.array_equal(fa, fb)
    assert fa.sum() == 20 and np.array_equal(a != y, fa)
    c, _ = quality.flip_labels(y, 0.2, seed=4)
    assert not np.array_equal(a, c)
    three, f3 = quality.flip_labels(np.arange(90) % 3, 0.5, seed=0, n_classes=3)
    assert f3.sum() == 45 and np.all((three != np.arange(90) % 3) == f3) and three.max() <= 2
    assert quality.flip_labels(y, 0.0)[1].sum() == 0
    with pytest.raises(ValueError, match="rate"):
        quality.flip_labels(y, 1.5)


def _reference_confident_joint(labels, probs):
    """Northcutt et al. (2021), eq. for the confident joint, as a plain loop."""
    k = probs.shape[1]
    t = [np.mean([probs[i, j] for i in range(len(labels)) if labels[i] == j]) for j in range(k)]
    joint = np.zeros((k, k), int)
    flags = np.zeros(len(labels), bool)
    for i, (yi, row) in enumerate(zip(labels, probs, strict=True)):
        confident = [j for j in range(k) if row[j] >= t[j]]
        if not confident:
            continue
        guess = max(confident, key=lambda j: row[j])
        joint[yi, guess] += 1
        flags[i] = guess != yi
    return joint, flags


@pytest.mark.parametrize("k,seed", [(2, 0), (3, 1), (4, 2)])
def test_confident_joint_matches_a_plain_loop(k, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, 300)
    probs = rng.dirichlet(np.ones(k), 300)
    probs[np.arange(300), labels] += 0.5
    probs /= probs.sum(axis=1, keepdims=True)
    joint, guess, thresholds = quality.confident_joint(labels, probs)
    ref_joint, ref_flags = _reference_confident_joint(labels, probs)
    assert np.array_equal(joint, ref_joint)
    assert np.array_equal(quality.find_label_issues(labels, probs), ref_flags)
    assert joint.sum() == np.sum(guess >= 0) and thresholds.shape == (k,)


def test_confident_learning_finds_planted_flips():
    """A perfect out-of-sample model and known flips: every flip is found, nothing else."""
    rng = np.random.default_rng(0)
    true = np.repeat([0, 1], 100)
    p1 = np.where(true == 1, rng.uniform(0.8, 0.99, 200), rng.uniform(0.01, 0.2, 200))
    noisy, flipped = quality.flip_labels(true, 0.15, seed=1)
    flags = quality.find_label_issues(noisy, p1)  # binary: p of class 1 is enough
    assert np.array_equal(flags, flipped)
    joint, _, _ = quality.confident_joint(noisy, p1)
    assert joint[0, 1] + joint[1, 0] == flipped.sum()


def test_confident_learning_uses_per_class_thresholds():
    """A rare class with low probabilities: the fixed 0.5 rule misses it, per-class thresholds do not."""
    labels = np.array([0] * 8 + [1] * 2 + [0])
    p1 = np.array([0.05] * 8 + [0.30, 0.32] + [0.31])  # the last image looks like the class-1 ones
    flags = quality.find_label_issues(labels, p1)
    assert flags.tolist() == [False] * 10 + [True]
    argmax_flags = (p1 >= 0.5).astype(int) != labels
    assert argmax_flags.tolist() == [False] * 8 + [True, True, False]  # the wrong two, not the flip


def test_confident_learning_bad_input():
    with pytest.raises(ValueError, match="probabilities"):
        quality.find_label_issues([0, 1], [0.2, 1.5])
    with pytest.raises(ValueError, match="pred_probs"):
        quality.find_label_issues([0, 1, 1], [0.2, 0.5])
    with pytest.raises(ValueError, match="every class"):
        quality.find_label_issues([0, 0], [0.2, 0.5])


def test_nearest_neighbours_against_cdist():
    rng = np.random.default_rng(1)
    a, b = rng.random((20, 6, 6)), rng.random((30, 6, 6))
    idx, dist = quality.nearest_neighbours(a, b)
    d = cdist(a.reshape(20, -1), b.reshape(30, -1))
    assert np.array_equal(idx, d.argmin(axis=1))
    np.testing.assert_allclose(dist, d.min(axis=1) / 6)
    within = a.copy()
    within[7] = within[3]  # an exact duplicate inside one set
    idx, dist = quality.nearest_neighbours(within)
    assert idx[3] == 7 and idx[7] == 3 and dist[3] == 0 and dist[7] == 0
    d = cdist(within.reshape(20, -1), within.reshape(20, -1))
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(dist, d.min(axis=1) / 6)
    with pytest.raises(ValueError, match="size"):
        quality.nearest_neighbours(a, rng.random((3, 5, 5)))


@pytest.mark.parametrize("kind,identity", [("contrast", 0), ("noise", 0), ("blur", 0), ("resolution", 1)])
def test_shift_images(kind, identity):
    x = np.random.default_rng(2).random((3, 28, 28, 1)).astype("float32")
    assert np.allclose(quality.shift_images(x, kind, identity), x)
    level = {"contrast": 0.5, "noise": 0.1, "blur": 1.0, "resolution": 2}[kind]
    y = quality.shift_images(x, kind, level, seed=1)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1 and not np.allclose(y, x)
    assert np.array_equal(y, quality.shift_images(x, kind, level, seed=1))
    if kind == "contrast":
        assert np.allclose(y.std(axis=(1, 2, 3)), 0.5 * x.std(axis=(1, 2, 3)), rtol=1e-4)
    if kind == "resolution":
        assert np.allclose(y[:, ::2, ::2], x.reshape(3, 14, 2, 14, 2, 1).mean(axis=(2, 4)), atol=1e-6)


def test_shift_images_bad_input():
    x = np.zeros((1, 28, 28, 1), "float32")
    with pytest.raises(ValueError, match="kind"):
        quality.shift_images(x, "rotate", 1)
    with pytest.raises(ValueError, match="factor"):
        quality.shift_images(x, "resolution", 3)
    with pytest.raises(ValueError, match="channels"):
        quality.shift_images(x[..., 0], "blur", 1)


def test_fit_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(3)
    true_logit = rng.normal(0, 2, 20000)
    y = (rng.random(20000) < 1 / (1 + np.exp(-true_logit))).astype(int)
    t = quality.fit_temperature(3.0 * true_logit, y)  # an over-confident model, logits x 3
    assert abs(t - 3.0) < 0.15
    grid = np.linspace(0.5, 6, 1101)  # independent check: brute-force search of the log-loss
    nll = [np.mean(np.logaddexp(0, 3 * true_logit / g) - y * 3 * true_logit / g) for g in grid]
    assert abs(t - grid[int(np.argmin(nll))]) < 0.01


def test_add_marker():
    x = np.zeros((4, 28, 28, 1), "float32")
    m = quality.add_marker(x, [1, 3], size=3, corner=(2, 20))
    assert m[[1, 3], 2:5, 20:23].min() == 1 and m.sum() == 2 * 9 and x.sum() == 0
    with pytest.raises(ValueError, match="fit"):
        quality.add_marker(x, [0], size=3, corner=(26, 0))
