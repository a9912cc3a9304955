"""3D pieces of the hippocampus chapter: unet3d, 3D convolution, sliding windows, patient split."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from medlab import hippocampus as hc
from medlab import inference


def test_conv3d_by_hand_matches_scipy_and_keras():
    from keras import layers

    rng = np.random.default_rng(0)
    vol, k = rng.random((5, 6, 7)), rng.random((3, 3, 3))
    by_hand = np.zeros((3, 4, 5))
    for i, j, m in np.ndindex(by_hand.shape):
        by_hand[i, j, m] = np.sum(vol[i:i + 3, j:j + 3, m:m + 3] * k)
    ref = ndimage.correlate(vol, k, mode="constant")[1:-1, 1:-1, 1:-1]
    conv = layers.Conv3D(1, 3, use_bias=False)
    conv.build((1, 5, 6, 7, 1))
    conv.set_weights([k[..., None, None]])
    out = np.asarray(conv(vol[None, ..., None].astype("float32")))[0, ..., 0]
    np.testing.assert_allclose(by_hand, ref, rtol=1e-10)
    np.testing.assert_allclose(out, ref, rtol=1e-5)


def test_unet3d_shapes_and_divisibility():
    from medlab.models import unet3d

    m = unet3d((16, 16, 8, 1), n_classes=3, base_filters=2, depth=2)
    assert m.output.shape[1:] == (16, 16, 8, 3)
    assert m.get_layer("enc2_pool").output.shape[1:4] == (4, 4, 2)
    with pytest.raises(ValueError, match="divisible by 2\\*\\*depth"):
        unet3d((15, 16, 8, 1), depth=2)


@pytest.mark.parametrize("mode", ["constant", "gaussian"])
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5])
def test_sliding_window_equals_whole_image_for_a_pointwise_predictor(mode, overlap):
    img = np.random.default_rng(1).random((13, 9, 7, 1)).astype(np.float32)
    out = inference.sliding_window_inference(img, (6, 5, 8), lambda x: np.concatenate([x, x**2], -1),
                                             overlap=overlap, mode=mode, batch_size=3)
    np.testing.assert_allclose(out, np.concatenate([img, img**2], -1), rtol=1e-5)


def test_window_starts_follow_monai_rule():
    # step int(8 * 0.75) = 6: starts 0, 6, then the last one moved back to 20 - 8 = 12
    assert inference.window_starts(20, 8, inference.scan_interval((20,), (8,), 0.25)[0]) == [0, 6, 12]
    assert inference.scan_interval((10, 8), (8, 8), 0.5) == (4, 8)
    assert len(inference.window_slices((20, 8), (8, 8), 0.25)) == 3
    w = inference.importance_map((5, 5), "gaussian")
    assert w.max() == 1.0 and w[2, 2] == 1.0 and w.min() >= 1e-3
    with pytest.raises(ValueError, match="overlap"):
        inference.scan_interval((10,), (4,), 1.0)


def test_patient_split_is_seeded_complete_and_leak_free():
    ids = list(range(100, 200))
    a, b = hc.patient_split(ids, seed=3), hc.patient_split(ids, seed=3)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert [len(a[k]) for k in ("train", "val", "test")] == [70, 10, 20]
    assert sorted(np.concatenate(list(a.values())).tolist()) == ids
    assert hc.leaking_patients(a) == set()
    # a split by slice leaks: patient 7's slices land in two sets
    slices = {"train": [(7, 0), (8, 0)], "test": [(7, 1)]}
    assert hc.leaking_patients(slices, {k: k[0] for v in slices.values() for k in v}) == {7}
    with pytest.raises(ValueError, match="unique"):
        hc.patient_split([1, 1, 2, 3])


def test_volume_padding_and_normalise():
    mask = np.zeros((4, 4, 4), bool)
    mask[:2, :3, :1] = True
    assert hc.volume_mm3(mask, (1.0, 0.5, 2.0)) == 6.0
    with pytest.raises(ValueError, match="binary"):
        hc.volume_mm3(np.full((2, 2), 2), (1, 1))
    a = np.arange(35 * 50 * 36, dtype=np.float32).reshape(35, 50, 36)
    padded, crop = hc.pad_to_multiple(a, 8)
    assert padded.shape == (40, 56, 40) and np.array_equal(padded[crop], a)
    z = hc.normalise(a)
    assert abs(z.mean()) < 1e-4 and abs(z.std() - 1) < 1e-4
    with pytest.raises(ValueError, match="constant"):
        hc.normalise(np.ones((3, 3, 3)))
