"""The 3D CNN (medlab.models.cnn3d) and its training helpers (medlab.train3d), chapter *Applications*."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from medlab import models, train3d  # noqa: E402
from medlab.env import quiet_tensorflow, seed_everything  # noqa: E402

quiet_tensorflow()


def test_import_does_not_load_tensorflow():
    code = ("import sys, medlab.models, medlab.train3d; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("shape,stride,n_classes,out", [((28, 28, 28, 1), 2, 2, 1),
                                                         ((16, 16, 16, 1), 1, 3, 3)])
def test_cnn3d_shapes_and_probabilities(shape, stride, n_classes, out):
    seed_everything(0)
    m = models.cnn3d(shape, n_classes=n_classes, widths=(4, 4, 8), stem_stride=stride)
    x = np.random.default_rng(0).random((3, *shape)).astype("float32")
    p = np.asarray(m(x, training=False))
    assert p.shape == (3, out)
    assert np.all((p >= 0) & (p <= 1))
    if out > 1:
        np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-5)
    # stem halves (or keeps) each axis, then one pooling halves it again
    feat = m.get_layer("features").output.shape
    assert feat[1] == shape[0] // stride // 2


def test_cnn3d_standardises_its_input():
    m = models.cnn3d(widths=(4, 4, 8), mean=0.2, variance=0.04)
    np.testing.assert_allclose(m.get_layer("standardise").mean.numpy().ravel(), 0.2, rtol=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    ({"input_shape": (28, 28, 1)}, "depth, height, width, channels"),
    ({"n_classes": 1}, "at least 2"),
    ({"widths": (8,)}, "at least two"),
    ({"stem_stride": 3}, "stem_stride"),
    ({"dropout": 1.0}, "dropout"),
    ({"input_shape": (4, 4, 4, 1), "widths": (2, 2, 2, 2, 2)}, "below one voxel"),
])
def test_cnn3d_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.cnn3d(**kwargs)


def test_volumes_to_float():
    v = np.array([[[[0, 255]]]], dtype=np.uint8)  # (1, 1, 1, 2)
    out = train3d.volumes_to_float(v)
    assert out.shape == (1, 1, 1, 2, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), [0.0, 1.0])
    with pytest.raises(TypeError, match="uint8"):
        train3d.volumes_to_float(v.astype(float))


def test_augment3d_flips_and_shifts_keep_the_content():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = np.zeros((16, 8, 8, 8, 1), np.float32)
    x[:, 3:5, 2:6, 3:4] = rng.random((16, 2, 4, 1, 1))
    y = np.arange(16, dtype=np.float32)
    xa, ya = train3d.augment3d(tf.constant(x), tf.constant(y), max_shift=1, seed=1)
    xa = xa.numpy()
    np.testing.assert_array_equal(ya.numpy(), y)
    # the content sits two voxels from every face, so flips and 1-voxel shifts only move voxels
    np.testing.assert_allclose(np.sort(xa.reshape(16, -1), 1), np.sort(x.reshape(16, -1), 1))
    assert not np.allclose(xa, x)  # something moved
    with pytest.raises(ValueError, match="max_shift"):
        train3d.augment3d(tf.constant(x), tf.constant(y), max_shift=-1)


def test_augment3d_shift_is_scipys_zero_fill_translation_not_a_roll():
    """Every augmented volume is scipy.ndimage.shift (order 0, zero fill) of a flipped copy, with
    one shift for the whole batch: what leaves the cube is dropped, never wrapped to the far face."""
    import tensorflow as tf
    from scipy import ndimage

    rng = np.random.default_rng(3)
    x = rng.random((6, 7, 6, 5, 1)).astype(np.float32) + 0.5  # foreground on every face
    moved = 0
    for seed in range(4):
        xa = train3d.augment3d(tf.constant(x), tf.constant(np.zeros(6)), max_shift=2, seed=seed)[0].numpy()
        shifts_found = []
        for i in range(len(x)):
            matches = set()
            for flips in range(8):
                v = x[i]
                for bit, axis in enumerate((0, 1, 2)):
                    if flips >> bit & 1:
                        v = np.flip(v, axis)
                for shift in np.ndindex(5, 5, 5):
                    d = tuple(int(k) - 2 for k in shift)
                    if np.array_equal(ndimage.shift(v, (*d, 0), order=0, mode="constant", cval=0.0), xa[i]):
                        matches.add(d)
            assert matches, f"volume {i} (seed {seed}) is not a zero-fill shift of a flipped copy"
            shifts_found.append(matches)
        common = set.intersection(*shifts_found)
        assert common, "the volumes of one batch were not shifted alike"
        d = common.pop()
        kept = np.prod([n - abs(k) for n, k in zip(x.shape[1:4], d, strict=True)])
        assert np.all(np.sum(xa == 0, axis=(1, 2, 3, 4)) == x[0].size - kept)  # a roll leaves no zeros
        moved += any(d)
    assert moved  # at least one seed shifted the batch


def test_train3d_learns_a_separable_toy_problem():
    """Bright cube vs empty volume: a few epochs must separate them (validation AUC 1)."""
    rng = np.random.default_rng(0)
    n = 64
    y = np.arange(n) % 2
    x = rng.random((n, 8, 8, 8, 1)).astype(np.float32) * 0.1
    x[y == 1, 2:6, 2:6, 2:6] += 0.9
    seed_everything(0)
    m = models.cnn3d((8, 8, 8, 1), widths=(4, 4, 8), mean=float(x.mean()), variance=float(x.var()))
    r = train3d.train3d(m, (x, y), (x, y), epochs=6, batch_size=16, lr=1e-2, patience=6, max_shift=1)
    assert r.epochs_run >= 1 and r.seconds > 0 and r.monitor == "val_auc"
    assert r.best_value == max(r.history["val_auc"]) > 0.95
    p = train3d.predict_volumes(m, x)
    assert p.shape == (n,)
    with pytest.raises(ValueError, match="labels"):
        train3d.train3d(m, (x, y[:10]), (x, y), epochs=1)
    with pytest.raises(TypeError, match="epochs must be an integer"):
        train3d.train3d(m, (x, y), (x, y), epochs=2.0)


def test_fit_medmnist3d_rejects_unknown_dataset():
    with pytest.raises(ValueError, match="name must be one of .adrenalmnist3d., .vesselmnist3d."):
        train3d.fit_medmnist3d("pneumoniamnist")


def test_fit_medmnist3d_cache_returns_the_same_outputs(tmp_path, monkeypatch):
    """Chapter *Applications* reuses its 3D models through medlab.cache; the benchmark does not."""
    from medlab import data

    if not any(r["name"] == "adrenalmnist3d.npz" and r["state"] == "verified" for r in data.status()):
        pytest.skip("adrenalmnist3d.npz not available offline")
    monkeypatch.setenv("MEDLAB_CACHE_DIR", str(tmp_path))
    first = train3d.fit_medmnist3d("adrenalmnist3d", epochs=1, train_limit=16, cache=True)
    again = train3d.fit_medmnist3d("adrenalmnist3d", epochs=1, train_limit=16, cache=True)
    assert not first["cached"] and again["cached"]
    np.testing.assert_allclose(again["p_test"], first["p_test"])
    np.testing.assert_array_equal(again["y_val"], first["y_val"])
    assert again["auc"] == pytest.approx(first["auc"]) and again["seconds"] == first["seconds"]
    assert train3d.predict_volumes(again["model"], train3d.volumes_to_float(
        data.load_medmnist("adrenalmnist3d")["test_images"][:4])).shape == (4,)
