"""3D pieces of the hippocampus chapter: unet3d, 3D convolution, sliding windows, volume split."""

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


def test_volume_split_is_seeded_complete_and_leak_free():
    ids = list(range(100, 200))
    a, b = hc.volume_split(ids, seed=3), hc.volume_split(ids, seed=3)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert [len(a[k]) for k in ("train", "val", "test")] == [70, 10, 20]
    assert sorted(np.concatenate(list(a.values())).tolist()) == ids
    assert hc.leaking_groups(a) == set()
    assert not all(np.array_equal(a[k], hc.volume_split(ids, seed=4)[k]) for k in a)
    # a split by slice leaks: volume 7's slices land in two sets
    slices = {"train": [(7, 0), (8, 0)], "test": [(7, 1)]}
    assert hc.leaking_groups(slices, {k: k[0] for v in slices.values() for k in v}) == {7}
    with pytest.raises(ValueError, match="unique"):
        hc.volume_split([1, 1, 2, 3])
    with pytest.raises(ValueError, match="fractions"):
        hc.volume_split(ids, fractions=(0.5, 0.5, 0.5))
    with pytest.raises(TypeError):
        hc.volume_split(ids, (0.7, 0.1, 0.2))  # options are keyword-only
    with pytest.raises(ValueError, match="group_of has no entry"):
        hc.leaking_groups(slices, {(7, 0): 7})


def test_volume_split_by_groups_keeps_each_group_in_one_set():
    ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 20]
    subject = {i: hc.probable_subject(i) for i in ids}
    by_volume = hc.volume_split(ids, seed=1)
    by_group = hc.volume_split(ids, seed=1, groups=subject)
    assert sorted(np.concatenate(list(by_group.values())).tolist()) == ids
    assert hc.leaking_groups(by_group, subject) == set()
    assert sorted(np.concatenate(list(by_volume.values())).tolist()) == ids
    # subject 1 (cases 1 and 2) split across two sets; subject 2 (cases 3 and 4) kept together
    assert hc.leaking_groups({"train": [1, 3, 4], "test": [2]}, subject) == {1}
    with pytest.raises(ValueError, match="no entry"):
        hc.volume_split(ids, groups={1: 1})
    with pytest.raises(ValueError, match="at least 3 groups"):
        hc.volume_split(ids, groups={i: i % 2 for i in ids})


def test_probable_subject_pairs_odd_with_next_even():
    assert [hc.probable_subject(i) for i in (1, 2, 3, 4, 393, 394)] == [1, 1, 2, 2, 197, 197]
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="case_id"):
            hc.probable_subject(bad)


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


@pytest.mark.parametrize("padding", ["valid", "same", 2])
def test_medlab_conv3d_matches_scipy_and_keras(padding):
    from keras import layers

    from medlab.conv import conv3d, conv_output_size

    rng = np.random.default_rng(2)
    vol, k = rng.random((6, 7, 5)), rng.random((3, 3, 3))
    got = conv3d(vol, k, padding=padding)
    assert got.shape == tuple(conv_output_size(n, 3, padding=padding) for n in vol.shape)
    p = {"valid": 0, "same": 1}.get(padding, padding)
    full = ndimage.correlate(np.pad(vol, p), k, mode="constant")  # scipy centres the kernel
    np.testing.assert_allclose(got, full[1:-1, 1:-1, 1:-1], rtol=1e-6)
    if padding in ("valid", "same"):
        conv = layers.Conv3D(1, 3, padding=padding, use_bias=False)
        conv.build((1, *vol.shape, 1))
        conv.set_weights([k[..., None, None]])
        out = np.asarray(conv(vol[None, ..., None].astype("float32")))[0, ..., 0]
        np.testing.assert_allclose(got, out, rtol=1e-5)


def test_conv3d_rejects_bad_input():
    from medlab.conv import conv3d

    with pytest.raises(ValueError, match="3D"):
        conv3d(np.ones((4, 4)), np.ones((3, 3, 3)))
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv3d(np.ones((2, 4, 4)), np.ones((3, 3, 3)))
    with pytest.raises(TypeError):
        conv3d(np.full((4, 4, 4), "a"), np.ones((3, 3, 3)))


def test_sliding_window_reproduces_monai_test_sigma():
    """MONAI's own expected values (tests/test_sliding_window_inference.py, ``test_sigma``, read at
    commit 026ab96f8179b2c5c970758c8d0ef2c93f5a4681): a 7x7 image of ones, 3x3 windows, overlap 0.5,
    10 windows per call, and a predictor that adds 2, 3, 4 in its successive calls. The rows show
    which windows were blended, so the window order, batching and weights must all agree."""

    def run(mode):
        calls = {"add": 1}

        def predictor(x):
            calls["add"] += 1
            return x + calls["add"]

        out = inference.sliding_window_inference(np.ones((7, 7, 1), np.float32), (3, 3), predictor,
                                                 overlap=0.5, mode=mode, sigma_scale=1.0, batch_size=10)
        return out[..., 0]

    constant = np.repeat([[3.0], [3.0], [3.3333], [3.6667], [4.3333], [4.5], [5.0]], 7, axis=1)
    np.testing.assert_allclose(run("constant"), constant, rtol=1e-4)
    gaussian = np.repeat([[3.0], [3.0], [3.3271623], [3.6728377], [4.3271623], [4.513757], [5.0]], 7, axis=1)
    np.testing.assert_allclose(run("gaussian"), gaussian, rtol=1e-4)


@pytest.mark.parametrize("mode", ["constant", "gaussian"])
def test_sliding_window_equals_a_brute_force_average(mode):
    """A predictor whose output depends on the whole window (its mean added to every voxel):
    each voxel must get the weighted mean, over the windows that contain it, of those outputs."""
    rng = np.random.default_rng(4)
    img = rng.random((11, 9, 1)).astype(np.float32)
    roi, overlap = (5, 4), 0.4

    def predictor(x):
        return x + x.mean(axis=(1, 2, 3), keepdims=True)

    got = inference.sliding_window_inference(img, roi, predictor, overlap=overlap, mode=mode, batch_size=2)
    # independent reference: starts from the rule written out, one voxel at a time
    starts = []
    for size, r in zip(img.shape[:2], roi, strict=True):
        step = max(int(r * (1 - overlap)), 1)
        s = list(range(0, size - r + 1, step))
        if s[-1] != size - r:
            s.append(size - r)
        starts.append(s)
    w = inference.importance_map(roi, mode)
    num, den = np.zeros(img.shape[:2]), np.zeros(img.shape[:2])
    for a in starts[0]:
        for b in starts[1]:
            win = img[a:a + roi[0], b:b + roi[1], 0]
            num[a:a + roi[0], b:b + roi[1]] += w * (win + win.mean())
            den[a:a + roi[0], b:b + roi[1]] += w
    np.testing.assert_allclose(got[..., 0], num / den, rtol=1e-5)


def test_bland_altman_by_hand():
    ref = np.array([100.0, 200.0, 300.0, 400.0])
    pred = np.array([110.0, 190.0, 330.0, 410.0])  # differences 10, -10, 30, 10
    ba = hc.bland_altman(pred, ref)
    assert ba["bias"] == pytest.approx(10.0)
    sd = np.sqrt(((0.0) ** 2 + 20.0 ** 2 + 20.0 ** 2 + 0.0 ** 2) / 3)
    assert ba["sd"] == pytest.approx(sd)
    assert ba["lower"] == pytest.approx(10 - 1.959964 * sd, rel=1e-6)
    assert ba["upper"] == pytest.approx(10 + 1.959964 * sd, rel=1e-6)
    np.testing.assert_allclose(ba["mean"], [105, 195, 315, 405])
    # about 95 % of normal differences fall inside the limits
    rng = np.random.default_rng(0)
    r = rng.normal(3000, 300, 20000)
    big = hc.bland_altman(r + rng.normal(5, 50, r.size), r)
    inside = np.mean((big["difference"] > big["lower"]) & (big["difference"] < big["upper"]))
    assert abs(inside - 0.95) < 0.01
    with pytest.raises(ValueError, match="equal length"):
        hc.bland_altman([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least two"):
        hc.bland_altman([1.0], [2.0])


def test_sample_patch_cuts_the_right_voxels():
    rng = np.random.default_rng(0)
    img = rng.random((20, 18, 16)).astype(np.float32)
    lab = np.zeros(img.shape, np.uint8)
    lab[2:4, 3:5, 1:3] = 1  # a small structure in a corner
    hits = 0
    for _ in range(200):
        x, y = hc.sample_patch(img, lab, (8, 8, 8), rng, foreground=0.5)
        assert x.shape == y.shape == (8, 8, 8)
        # the patch is a block of the original: find it by its first voxel
        i, j, k = np.argwhere(img == x[0, 0, 0])[0]
        np.testing.assert_array_equal(img[i:i + 8, j:j + 8, k:k + 8], x)
        hits += bool(y.any())
    assert 0.4 < hits / 200 < 0.7  # half forced onto the structure, about 5 % more by chance
    x, _ = hc.sample_patch(img[:5], lab[:5], (8, 8, 8), rng)  # smaller than the patch: padded
    assert x.shape == (8, 8, 8)
    with pytest.raises(ValueError, match="do not match"):
        hc.sample_patch(img, lab, (8, 8), rng)


def test_slices_round_trip():
    x = np.arange(2 * 4 * 6 * 3).reshape(2, 4, 6, 3, 1).astype(np.float32)
    xs, ys = hc.slices_2d(x, x[..., 0].astype(np.uint8))
    assert xs.shape == (6, 4, 6, 1) and ys.shape == (6, 4, 6)
    np.testing.assert_array_equal(xs[1, ..., 0], x[0, :, :, 1, 0])  # slice 1 of volume 0


def test_recipe_trainers_refuse_mismatched_input():
    x = np.zeros((2, 8, 8, 8, 1), np.float32)
    with pytest.raises(ValueError, match="training volumes has 2 entries but training labels has 1"):
        hc.train_3d(hc.Recipe(epochs=1), (x, np.zeros((1, 8, 8, 8))), (x, np.zeros((2, 8, 8, 8))))
    with pytest.raises(ValueError, match="validation labels must have the volumes' shape"):
        hc.train_2d(hc.Recipe(epochs=1), (x, np.zeros((2, 8, 8, 8))), (x, np.zeros((2, 8, 8, 4))))


def test_evaluate_and_summarise_a_perfect_prediction():
    from medlab.data import HippocampusCase

    label = np.zeros((6, 7, 5), np.uint8)
    label[1:3, 2:5, 1:4], label[3:5, 2:5, 1:4] = 1, 2
    case = HippocampusCase(7, label.astype(np.float32), label, (1.0, 1.0, 2.0), "float32")
    padded, _ = hc.pad_to_shape(label, (8, 8, 8))
    rows = hc.evaluate({7: case}, [7], padded[None])
    assert [r["label"] for r in rows] == ["anterior", "posterior"]
    assert all(r["dice"] == 1.0 and r["hd95"] == 0.0 for r in rows)
    assert rows[0]["volume_ref"] == rows[0]["volume_pred"] == 2 * 3 * 3 * 2.0
    summary = hc.summarise(rows)
    assert summary["anterior"] == {"dice": 1.0, "hd95": 0.0, "abs_volume_error": 0.0}
