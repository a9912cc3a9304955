"""medlab.centernet (issue #13): targets, loss, decoding, augmentation, model, classical baseline."""

from __future__ import annotations

import numpy as np
import pytest

from medlab import centernet as cn
from medlab import detection as det


def _example():
    boxes = [np.array([[100.0, 80.0, 200.0, 170.0], [300.0, 300.0, 340.0, 336.0],
                       [400.0, 50.0, 520.0, 180.0]]), np.zeros((0, 4))]
    labels = [np.array([0, 2, 1]), np.zeros(0, np.int64)]
    return boxes, labels


def _targets_as_output(t, n_classes=3):
    hm = np.clip(t[..., :n_classes], 1e-6, 1 - 1e-6)
    return np.concatenate([np.log(hm / (1 - hm)), t[..., n_classes:n_classes + 4]], -1)


@pytest.mark.parametrize("scale", [0.25, 0.5])
def test_encode_then_decode_gives_back_the_boxes(scale):
    boxes, labels = _example()
    shape = (round(480 * scale) // 4, round(640 * scale) // 4)
    t = cn.encode_targets(boxes, labels, shape, scale)
    assert t.shape == (2, *shape, 8) and t[1].max() == 0
    assert np.isclose(t[0, ..., :3].max(), 1.0) and t[0, ..., 7].sum() == 3
    out = cn.decode(_targets_as_output(t), scale, min_score=0.5)
    assert len(out[1]["boxes"]) == 0
    order = np.argsort(out[0]["labels"])
    np.testing.assert_allclose(out[0]["boxes"][order], boxes[0][np.argsort(labels[0])], atol=1e-3)
    gt = {0: {"boxes": boxes[0], "labels": labels[0]}, 1: {"boxes": boxes[1], "labels": labels[1]}}
    res = det.evaluate(gt, dict(enumerate(out)))
    assert res["map50"] == pytest.approx(1.0) and res["map50_95"] == pytest.approx(1.0)


def test_point_boxes_are_skipped_and_mismatches_raise():
    t = cn.encode_targets([np.array([[10.0, 10.0, 10.0, 50.0]])], [np.array([0])], (30, 40), 0.25)
    assert t.max() == 0
    point = det.voc_to_xyxy([[504, 337, 504, 337]])  # BloodImage_00338's single-pixel RBC
    assert cn.encode_targets([point], [np.array([0])], (30, 40), 0.25).max() == 0
    with pytest.raises(ValueError, match="labels"):
        cn.encode_targets([np.zeros((2, 4))], [np.array([0])], (30, 40), 0.25)
    with pytest.raises(ValueError, match="x1 < x0"):
        cn.encode_targets([np.array([[50.0, 0, 10, 10]])], [np.array([0])], (30, 40), 0.25)


def test_decode_keeps_only_local_maxima_and_checks_shape():
    out = np.full((1, 30, 40, 7), -10.0)
    out[0, 5, 5, 0], out[0, 5, 6, 0] = 2.0, 1.0  # a neighbour of a stronger peak: not a detection
    out[0, 20, 30, 1] = 0.0
    res = cn.decode(out, 0.25)[0]
    assert res["labels"].tolist() == [0, 1]
    np.testing.assert_allclose(res["scores"], 1 / (1 + np.exp([-2.0, 0.0])))
    with pytest.raises(ValueError, match="output must be"):
        cn.decode(np.zeros((30, 40, 7)), 0.25)


def test_augment_moves_boxes_with_pixels():
    rng = np.random.default_rng(0)
    img = np.zeros((1, 120, 160, 3), np.uint8)
    box = np.array([[40.0, 20.0, 120.0, 100.0]])  # original 640 x 480 frame
    img[0, 5:25, 10:30] = 200  # the box at scale 1/4
    for _ in range(8):
        out, b = cn.augment(img, [box], rng, colour=0.0)
        x0, y0, x1, y1 = (b[0][0] / 4).astype(int)
        assert (out[0, y0:y1, x0:x1] == 200).all() and out[0].sum() == img[0].sum()


def test_focal_loss_against_numpy():
    import keras

    rng = np.random.default_rng(1)
    boxes, labels = _example()
    y = cn.encode_targets(boxes, labels, (30, 40), 0.25)
    pred = rng.normal(size=(2, 30, 40, 7)).astype("float32")
    got = float(keras.ops.convert_to_numpy(cn.centernet_loss()(y, pred)))
    p = np.clip(1 / (1 + np.exp(-pred[..., :3].astype(np.float64))), 1e-4, 1 - 1e-4)
    hm, pos = y[..., :3], y[..., :3] > 0.999
    focal = -np.where(pos, (1 - p) ** 2 * np.log(p), (1 - hm) ** 4 * p**2 * np.log(1 - p)).sum()
    l1 = (np.abs(pred[..., 3:] - y[..., 3:7]) * y[..., 7:]).sum()
    assert got == pytest.approx((focal + l1) / y[..., 7].sum(), rel=1e-4)


def test_model_shape_and_bad_input():
    m = cn.build_centernet((120, 160, 3), width=4)
    assert m.output_shape == (None, 30, 40, 7)
    with pytest.raises(ValueError, match="divisible"):
        cn.build_centernet((100, 160, 3))


def test_classical_detector_on_a_real_image():
    from medlab import data

    i = data.bccd_ids("train")[0]
    img = det.read_rgb(data.fetch(f"BCCD/JPEGImages/{i}.jpg"), 0.5)
    out = cn.classical_detect(img, 0.5)
    assert set(out) == {"boxes", "scores", "labels"} and len(out["boxes"]) == len(out["scores"])
    det.as_boxes(out["boxes"])
    assert (out["labels"] == 1).any()  # every BCCD image shows a violet white-cell nucleus
    with pytest.raises(ValueError, match="RGB"):
        cn.classical_detect(img[..., 0], 0.5)


def _small_bccd(n):
    from medlab import data

    try:
        splits = {s: data.load_bccd(s, scale=0.25) for s in ("train", "val")}
    except data.DataError:
        pytest.skip("BCCD files not available offline (set MEDLAB_DATA_DIR)")
    out = {}
    for s, d in splits.items():
        ids = d["ids"][:n]
        out[s] = {"ids": ids, "images": d["images"][:n], "boxes": d["boxes"][:n], "labels": d["labels"][:n],
                  "gt": {i: d["gt"][i] for i in ids}}
    return out["train"], out["val"]


def test_training_batches_are_a_pure_function_of_their_index():
    """Keras prefetches and samples batches to learn their shapes: the augmentation of batch i must
    not depend on the order in which it is asked for."""
    train, _ = _small_bccd(10)
    batches = cn._batches_class()(train, 0.25, 4, (30, 40), 0)
    assert batches.steps == 3 and batches.num_batches is None  # endless; fit() gets steps_per_epoch
    a, later_a = batches[4], (batches[0], batches[4])[1]
    np.testing.assert_array_equal(a[0], later_a[0])
    np.testing.assert_array_equal(a[1], later_a[1])
    assert a[0].shape == (4, 120, 160, 3) and a[1].shape == (4, 30, 40, 8)
    assert batches[2][0].shape[0] == 2  # the last batch of an epoch holds the remainder
    assert not np.array_equal(batches[0][0], batches[3][0])  # epoch 2 reshuffles and re-augments


def test_fit_centernet_scores_validation_and_keeps_the_best_scored_epoch():
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    train, val = _small_bccd(6)
    runs = [cn.fit_centernet(train, val, 0.25, epochs=3, batch_size=4, width=4, eval_every=2, seed=1)
            for _ in range(2)]
    res = runs[0]
    assert res.history["loss"] == runs[1].history["loss"]  # deterministic
    scored = res.history["val_map50"]
    assert np.isnan(scored[0]) and np.isfinite(scored[1]) and np.isfinite(scored[2])  # epoch 2, and the last
    assert res.best_epoch in (2, 3) and res.best_value == np.nanmax(scored)
    assert len(res.history["val_loss"]) == 3 and res.monitor == "val_map50"
    with pytest.raises(ValueError, match="eval_every"):
        cn.fit_centernet(train, val, 0.25, epochs=1, eval_every=0)
