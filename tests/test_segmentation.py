"""The U-Net chapter's recipe (medlab.segmentation, chapter unet): its pieces."""

from __future__ import annotations

import numpy as np
import pytest

from medlab import segmentation as seg


def test_tissue_labels_small_example():
    t1 = np.array([0.0, 0.1, 0.5, 0.6, 1.0]).reshape(5, 1, 1)
    gm = np.array([0.0, 0.9, 0.2, 0.7, 0.1]).reshape(5, 1, 1)
    wm = np.array([0.0, 0.0, 0.1, 0.2, 0.8]).reshape(5, 1, 1)
    # voxel 1 is below the brain threshold (0.2 x max) whatever its GM value;
    # voxel 2: CSF = 1 - 0.2 - 0.1 = 0.7 wins; voxel 3: GM; voxel 4: WM
    np.testing.assert_array_equal(seg.tissue_labels(t1, gm, wm).ravel(), [0, 0, 1, 2, 3])


def test_tissue_labels_rejects_unscaled_maps():
    with pytest.raises(ValueError, match="divide by 255"):
        seg.tissue_labels(np.ones((2, 2, 2)), np.full((2, 2, 2), 200.0), np.zeros((2, 2, 2)))


@pytest.mark.parametrize("slab,gap", [(10, 2), (7, 3)])
def test_slab_split_keeps_sets_apart(slab, gap):
    split = seg.slab_split(150, 3, 140, slab=slab, gap=gap)
    sets = [set(v.tolist()) for v in split.values()]
    assert all(not (a & b) for i, a in enumerate(sets) for b in sets[i + 1:])
    assert min(map(min, sets)) >= 3 and max(map(max, sets)) <= 140
    for a_name, a in split.items():
        for b_name, b in split.items():
            if a_name != b_name:
                assert np.abs(a[:, None] - b[None, :]).min() > gap


def test_slab_split_bad_input():
    with pytest.raises(ValueError, match="slab split"):
        seg.slab_split(100, 0, 100)
    with pytest.raises(ValueError, match="slab split"):
        seg.slab_split(100, 0, 50, slab=2, gap=2)


def test_axial_slices_context_channels():
    t1 = np.random.default_rng(0).random((197, 233, 12)).astype(np.float32)
    labels = np.zeros(t1.shape, np.uint8)
    x, y = seg.axial_slices(t1, labels, np.array([0, 5]), context=1)
    assert x.shape == (2, 160, 192, 3) and y.shape == (2, 160, 192)
    np.testing.assert_array_equal(x[1, :, :, 0], t1[18:178, 20:212, 4])
    np.testing.assert_array_equal(x[0, :, :, 0], t1[18:178, 20:212, 0])  # clipped at the end


def test_dice_ce_loss_matches_numpy():
    pytest.importorskip("tensorflow")
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 4, 5, 3))
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    y = rng.integers(0, 3, (2, 4, 5))
    onehot = np.eye(3)[y]
    ce = -np.mean(np.log(np.take_along_axis(p, y[..., None], -1)))
    sd = (2 * (onehot * p).sum((0, 1, 2)) + 1) / ((onehot + p).sum((0, 1, 2)) + 1)
    got = float(seg.dice_ce_loss(3)(y, p.astype(np.float32)))
    assert got == pytest.approx(ce + 1 - sd.mean(), rel=1e-5)


def test_dice_ce_loss_sums_over_every_axis_of_a_volume_batch():
    """The one loss serves the 3D U-Net too (chapter hippocampus): batch, depth, height and width."""
    pytest.importorskip("tensorflow")
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 3, 4, 5, 3))
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    y = rng.integers(0, 3, (2, 3, 4, 5))
    onehot = np.eye(3)[y]
    ce = -np.mean(np.log(np.take_along_axis(p, y[..., None], -1)))
    sd = (2 * (onehot * p).sum((0, 1, 2, 3)) + 0.5) / ((onehot + p).sum((0, 1, 2, 3)) + 0.5)
    got = float(seg.dice_ce_loss(3, smooth=0.5)(y, p.astype(np.float32)))
    assert got == pytest.approx(ce + 1 - sd.mean(), rel=1e-5)


def test_dice_ce_loss_checks_its_arguments():
    with pytest.raises(ValueError, match="n_classes must be an integer >= 2"):
        seg.dice_ce_loss(1)
    with pytest.raises(TypeError, match="n_classes must be an integer"):
        seg.dice_ce_loss(3.0)
    with pytest.raises(ValueError, match="smooth"):
        seg.dice_ce_loss(3, smooth=-1.0)


def test_dice_ce_loss_is_accurate_over_a_large_batch():
    """The loss sums over every voxel of a batch: in float32 those sums drift by per cents over a
    few hundred thousand voxels of confident predictions (8 % of the loss on six 48 x 64 x 48
    volumes before the sums moved to float64); the reference here is NumPy in float64."""
    import keras

    from medlab.segmentation import dice_ce_loss

    rng = np.random.default_rng(0)
    y = np.zeros((6, 48, 64, 48), np.int64)
    y[:, 20:28, 20:40, 20:28] = 1
    y[:, 28:34, 20:40, 20:28] = 2
    logits = rng.normal(0, 1, y.shape + (3,)) + 9 * np.eye(3)[y]
    p = np.exp(logits)
    p = (p / p.sum(-1, keepdims=True)).astype("float32")
    p64, onehot = p.astype("float64"), np.eye(3)[y]
    axes = (0, 1, 2, 3)
    dice = (2 * (p64 * onehot).sum(axes) + 1) / (p64.sum(axes) + onehot.sum(axes) + 1)
    ce = np.mean(np.asarray(keras.losses.sparse_categorical_crossentropy(y, p), dtype=np.float64))
    want = ce + 1 - dice.mean()
    assert float(dice_ce_loss(3)(y, p)) == pytest.approx(want, rel=1e-5)
