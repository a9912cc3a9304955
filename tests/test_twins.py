"""Single source (as d2l does it): every function a chapter writes in the open that the library also
has must agree with the library's.

A chapter teaches by writing a piece of code out (a dataset pipeline, a loss, an IoU); the library
keeps the same piece for later chapters and the benchmarks. These tests read the chapter's own
version from the notebook (``ast`` finds the top-level ``def``/``class``/assignment by name in the
code cells), execute it with the imports and globals it needs, and compare it with the library's
on real or small input. A chapter edit that makes its open version drift from the library fails
here, not in a reader's hands.

The twins (chapter: its function -> the library's):

* cnn_project: ``to_float`` -> ``train.to_float``; ``make_dataset`` -> ``train.make_dataset``;
  ``cosine`` -> ``train.cosine_lr``; ``youden`` -> ``train.youden_threshold``; ``test_metrics`` ->
  ``train.binary_report``; ``better_cnn`` -> ``models.pneumonia_cnn``
* evaluation: ``as_float`` -> ``train.to_float``; ``ece_by_hand`` -> ``metrics.expected_calibration_error``
* convolution: ``correlate_by_hand`` -> ``conv.conv2d``; ``keras_output_size`` -> ``conv.conv_output_size``
* images_as_data: ``window_by_hand`` -> ``preprocess.window``; ``zscore_by_hand`` -> ``preprocess.zscore``
* unet: ``build_unet`` -> ``models.unet``; ``slab_split``, ``axial_slices``, ``augment``,
  ``make_dataset``, ``dice_ce_loss`` -> ``segmentation.slab_split``, ``axial_slices``, ``augment``,
  ``dataset``, ``dice_ce_loss``; ``predict_volume`` -> ``segmentation.predict_slices``
* detection: ``iou_matrix`` -> ``detection.box_iou``; ``nms_by_hand`` -> ``detection.nms``
* hippocampus: ``to_slices`` / ``from_slices`` -> ``hippocampus.slices_2d`` / ``predict_2d``;
  ``sliding_windows`` -> ``inference.sliding_window_inference``
* privacy: ``deidentify_open`` -> ``privacy.deidentify``
* interpretability: ``occlusion_by_hand`` -> ``explain.occlusion``; ``integrated_gradients_by_hand``
  -> ``explain.integrated_gradients``
"""

from __future__ import annotations

import ast
import math
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def from_chapter(chapter: str, *names: str, **env) -> SimpleNamespace:
    """The chapter's top-level definitions ``names`` (functions, classes or ``NAME = ...``),
    executed in order in a namespace holding ``np``, ``math`` and ``env``."""
    nb = nbformat.read(ROOT / "chapters" / f"{chapter}.ipynb", as_version=4)
    found = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or "%pip" in cell.source:
            continue
        tree = ast.parse(cell.source)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                name = node.name
            elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                name = node.targets[0].id
            else:
                continue
            if name in names:
                found[name] = ast.get_source_segment(cell.source, node)
    missing = [n for n in names if n not in found]
    assert not missing, f"chapters/{chapter}.ipynb no longer defines {missing}: update this test"
    ns = {"np": np, "math": math, **env}
    for name in names:
        exec(compile(found[name], f"<{chapter}: {name}>", "exec"), ns)  # noqa: S102 - the book's own code
    return SimpleNamespace(**{n: ns[n] for n in names})


def _tf():
    pytest.importorskip("tensorflow")
    import keras
    import tensorflow as tf
    from keras import layers, ops

    return {"tf": tf, "keras": keras, "layers": layers, "ops": ops}


def _uint8_images(n=10, shape=(28, 28), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


# ------------------------------------------------------------------------------ cnn_project
def test_cnn_project_scaling_and_pipeline():
    from medlab import train

    env = _tf()
    ch = from_chapter("cnn_project", "to_float", "make_dataset", **env)
    images, labels = _uint8_images(), np.arange(10) % 2
    np.testing.assert_array_equal(ch.to_float(images), train.to_float(images))
    ev = from_chapter("evaluation", "as_float")
    np.testing.assert_array_equal(ev.as_float(images), train.to_float(images))
    np.testing.assert_array_equal(ev.as_float(_uint8_images(shape=(8, 8, 3))),
                                  train.to_float(_uint8_images(shape=(8, 8, 3))))
    x = train.to_float(images)
    for kwargs in ({}, {"shuffle": True, "seed": 3}):
        ours = list(ch.make_dataset(x, labels, 4, **kwargs))
        lib = list(train.make_dataset(x, labels, batch_size=4, **kwargs))
        assert len(ours) == len(lib) == 3
        for (a, b), (c, d) in zip(ours, lib, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(c))
            np.testing.assert_array_equal(np.asarray(b), np.asarray(d))


def test_cnn_project_schedule_threshold_and_report():
    from medlab import train

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(y * 1.0, 1.0), 1)  # rounding makes ties
    from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score, roc_curve

    ch = from_chapter("cnn_project", "cosine", "youden", "test_metrics", LR=3e-3, EPOCHS=15, y_test=y,
                      roc_curve=roc_curve, roc_auc_score=roc_auc_score, accuracy_score=accuracy_score,
                      confusion_matrix=confusion_matrix)
    schedule = train.cosine_lr(3e-3, 15)
    assert all(math.isclose(ch.cosine(e), schedule(e)) for e in range(20))
    t = ch.youden(y, s)
    assert t == train.youden_threshold(y, s)
    ours, lib = ch.test_metrics(s, t), train.binary_report(y, s, t)
    for key, lib_key in (("AUC", "auc"), ("ACC", "accuracy"), ("sensitivity", "sensitivity"),
                         ("specificity", "specificity"), ("threshold", "threshold")):
        assert ours[key] == pytest.approx(lib[lib_key]), key


def test_cnn_project_network_is_the_library_builder():
    from medlab import models

    env = _tf()
    ch = from_chapter("cnn_project", "conv_block", "better_cnn", train_mean=0.5, train_var=0.06, **env)
    ours, lib = ch.better_cnn(), models.pneumonia_cnn(mean=0.5, variance=0.06)
    assert ours.count_params() == lib.count_params()
    kinds = [type(layer).__name__ for layer in ours.layers]
    assert kinds == [type(layer).__name__ for layer in lib.layers]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in lib.weights]


# ------------------------------------------------------------------------------ evaluation
def test_evaluation_ece():
    from medlab import metrics

    rng = np.random.default_rng(2)
    p = rng.random(500)
    y = (rng.random(500) < p ** 1.5).astype(int)
    ch = from_chapter("evaluation", "ece_by_hand")
    for n_bins in (5, 10, 15):
        assert ch.ece_by_hand(y, p, n_bins) == pytest.approx(metrics.expected_calibration_error(y, p, n_bins))


# ----------------------------------------------------------------------------- convolution
def test_convolution_by_hand_and_output_sizes():
    from medlab import conv

    ch = from_chapter("convolution", "correlate_by_hand", "keras_output_size", **_tf())
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(11, 9)), rng.normal(size=(3, 3))
    for stride, padding, dilation in ((1, 0, 1), (2, 1, 1), (1, 2, 2), (3, 0, 1)):
        np.testing.assert_allclose(ch.correlate_by_hand(x, w, stride, padding, dilation),
                                   conv.conv2d(x, w, stride=stride, padding=padding, dilation=dilation),
                                   rtol=1e-12)
    for n, k, stride, padding, dilation in ((28, 3, 1, "valid", 1), (28, 3, 2, "same", 1), (27, 5, 2, 2, 1),
                                            (32, 3, 1, 0, 2), (10, 4, 3, "same", 1)):
        assert ch.keras_output_size(n, k, stride, padding, dilation) == \
            conv.conv_output_size(n, k, stride=stride, padding=padding, dilation=dilation)


# -------------------------------------------------------------------------- images_as_data
def test_images_as_data_window_and_zscore():
    from medlab import preprocess

    rng = np.random.default_rng(4)
    values = rng.normal(40, 300, (30, 30))
    mask = values > 0
    ch = from_chapter("images_as_data", "window_by_hand", "zscore_by_hand")
    for level, width in ((40, 400), (-600, 1500), (0, 1)):
        np.testing.assert_allclose(ch.window_by_hand(values, level, width),
                                   preprocess.window(values, level, width))
    np.testing.assert_allclose(ch.zscore_by_hand(values, mask), preprocess.zscore(values, mask=mask),
                               rtol=1e-6)


# ------------------------------------------------------------------------------------- unet
@pytest.fixture(scope="module")
def atlas():
    from medlab import data, segmentation

    t1, gm, wm = data.load_mni152()
    return t1, segmentation.tissue_labels(t1, gm, wm)


def test_unet_data_preparation(atlas):
    from medlab import segmentation

    t1, labels = atlas
    ch = from_chapter("unet", "slab_split", "CROP", "CONTEXT", "axial_slices", t1=t1, labels=labels)
    z = np.flatnonzero(labels.any(axis=(0, 1)))
    for kwargs in ({}, {"slab": 7, "gap": 3, "pattern": "TTVS"}):
        ours = ch.slab_split(int(z[0]), int(z[-1]), **kwargs)
        lib = segmentation.slab_split(labels.shape[2], int(z[0]), int(z[-1]), **kwargs)
        assert all(np.array_equal(ours[k], lib[k]) for k in ("train", "val", "test"))
    assert ch.CROP == segmentation.CROP
    some = np.array([0, 1, 60, 100, labels.shape[2] - 1])
    xa, ya = ch.axial_slices(some)
    xb, yb = segmentation.axial_slices(t1, labels, some, context=ch.CONTEXT)
    np.testing.assert_array_equal(xa, xb)
    np.testing.assert_array_equal(ya, yb)


def test_unet_augmentation_pipeline_and_loss(atlas):
    from medlab import segmentation

    env = _tf()
    tf = env["tf"]
    t1, labels = atlas
    x, y = segmentation.axial_slices(t1, labels, np.array([60, 70, 80, 90]))
    ch = from_chapter("unet", "augment", "make_dataset", "N_CLASSES", "dice_ce_loss", **env)
    tf.random.set_seed(5)
    ours = ch.augment(tf.constant(x[0]), tf.constant(y[0]))
    tf.random.set_seed(5)
    lib = segmentation.augment(tf.constant(x[0]), tf.constant(y[0]))
    for a, b in zip(ours, lib, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    plain_ours = [np.asarray(b[0]) for b in ch.make_dataset(x, y, 2, training=False)]
    plain_lib = [np.asarray(b[0]) for b in segmentation.dataset(x, y, batch=2, training=False)]
    assert len(plain_ours) == len(plain_lib) == 2
    for a, b in zip(plain_ours, plain_lib, strict=True):
        np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(6)
    logits = rng.normal(size=(2, 8, 6, 4))
    p = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)
    yy = rng.integers(0, 4, (2, 8, 6))
    lib_loss = float(segmentation.dice_ce_loss(4)(yy, p))
    assert float(ch.dice_ce_loss(yy, p)) == pytest.approx(lib_loss, rel=1e-6)


def test_unet_builder_and_slice_prediction(atlas):
    from medlab import models, segmentation

    env = _tf()
    t1, labels = atlas
    ch = from_chapter("unet", "conv_block", "build_unet", **env)
    ours = ch.build_unet((32, 48, 3), 4, base_filters=4, depth=2)
    lib = models.unet((32, 48, 3), n_classes=4, base_filters=4, depth=2)
    assert [r["layer"] for r in models.unet_table(ours)] == [r["layer"] for r in models.unet_table(lib)]
    assert ours.count_params() == lib.count_params()
    net = models.unet((160, 192, 3), n_classes=4, base_filters=2, depth=2)
    pv = from_chapter("unet", "CROP", "CONTEXT", "axial_slices", "predict_volume", t1=t1, labels=labels)
    z = np.array([70, 71, 90])
    volume = pv.predict_volume(net, z)
    lib = segmentation.predict_slices(net, t1, z, context=pv.CONTEXT)
    np.testing.assert_array_equal(volume[:, :, z], lib)


# -------------------------------------------------------------------------------- detection
def test_detection_iou_and_nms():
    from medlab import detection

    rng = np.random.default_rng(7)
    corner = rng.uniform(0, 300, (25, 2))
    boxes = np.hstack([corner, corner + rng.uniform(5, 120, (25, 2))])
    scores = rng.uniform(size=25)
    ch = from_chapter("detection", "iou_matrix", "nms_by_hand")
    np.testing.assert_allclose(ch.iou_matrix(boxes, boxes[:10]), detection.box_iou(boxes, boxes[:10]),
                               rtol=1e-12)
    for threshold in (0.1, 0.3, 0.5):
        np.testing.assert_array_equal(ch.nms_by_hand(boxes, scores, threshold),
                                      detection.nms(boxes, scores, threshold))


# ------------------------------------------------------------------------------ hippocampus
def test_hippocampus_slices_and_sliding_windows():
    from medlab import hippocampus, inference

    x = np.random.default_rng(8).random((2, 8, 8, 4, 1)).astype(np.float32)
    y = (x[..., 0] * 3).astype(np.uint8)
    ch = from_chapter("hippocampus", "to_slices", "from_slices", "sliding_windows")
    xs, ys = hippocampus.slices_2d(x, y)
    np.testing.assert_array_equal(ch.to_slices(x), xs)
    np.testing.assert_array_equal(ch.to_slices(y), ys)
    np.testing.assert_array_equal(ch.from_slices(ys, len(y)), y)

    class Identity:  # predict_2d's model: a 2D "network" returning one-hot class scores of its input
        def predict(self, s, batch_size=64, verbose=0):
            return np.eye(3)[(s[..., 0] * 3).astype(int)]

    np.testing.assert_array_equal(hippocampus.predict_2d(Identity(), x), ch.from_slices(ys, len(y)))
    volume = np.random.default_rng(9).random((13, 9, 10, 1)).astype(np.float32)

    def predict(batch):  # depends on the whole window, so the averaging of overlaps matters
        return np.concatenate([batch, batch + batch.mean(axis=(1, 2, 3, 4), keepdims=True)], -1)

    ours, _ = ch.sliding_windows(volume, (6, 5, 8), 0.5, predict)
    lib = inference.sliding_window_inference(volume, (6, 5, 8), predict, overlap=0.5, mode="constant")
    np.testing.assert_allclose(ours, lib, rtol=1e-6)


# ---------------------------------------------------------------------------------- privacy
def test_privacy_deidentification():
    import copy

    import pydicom

    from medlab import data, privacy

    ch = from_chapter("privacy", "TEXT_VRS", "FIXED", "dummy", "clean", "deidentify_open", "RECORD", "flat",
                      privacy=privacy, copy=copy)
    files = [pydicom.dcmread(data.fetch(n)) for n in ("CT_small.dcm", "MR_small.dcm")]
    # attributes Table E.1-1 does not list, handled by their VR: a person name (emptied, also
    # with a date shift: review round 3, item 1), a date (shifted) and a time (kept)
    extra = copy.deepcopy(files[1])
    extra.add_new(pydicom.datadict.tag_for_keyword("SecondaryReviewerName"), "PN", "Smith^Robert")
    extra.add_new(0x00081001, "DA", "20040826")
    extra.add_new(0x00081002, "TM", "101010")
    for ds in [*files, extra]:
        for shift in (None, -400):
            log = []
            ours = ch.deidentify_open(ds, "salt", shift)
            lib = privacy.deidentify(ds, salt="salt", date_shift_days=shift, log=log)
            # The library's two extra steps, as the chapter says: it replaces copies of protected
            # values in kept elements, and replaces the file meta (only the mapped UID is shared).
            skip = {r["path"] for r in log if "copy" in r["action"]}
            kept = [[r for r in ch.flat(d) if r[0] not in skip] for d in (ours, lib)]
            assert kept[0] == kept[1]
            assert ours.file_meta.MediaStorageSOPInstanceUID == lib.file_meta.MediaStorageSOPInstanceUID
            assert len(ch.flat(ours)) > 20 and len(skip) <= 1  # the comparison compares something


# ------------------------------------------------------------------------- interpretability
def test_interpretability_occlusion_and_integrated_gradients():
    from medlab import explain, models
    from medlab.env import seed_everything

    env = _tf()
    seed_everything(0)
    model = models.pneumonia_cnn(widths=(4, 8), convs_per_block=1, mean=0.5, variance=0.05)
    image = np.random.default_rng(10).random((28, 28, 1)).astype(np.float32)
    ch = from_chapter("interpretability", "occlusion_by_hand", "head", "before_head", "logit",
                      "integrated_gradients_by_hand", model=model, explain=explain, **env)
    np.testing.assert_allclose(ch.occlusion_by_hand(image, patch=4, stride=2),
                               explain.occlusion(model, image[None], patch=4, stride=2, class_index=1)[0],
                               atol=1e-5)
    for base in (np.zeros_like(image), np.full_like(image, 0.3)):  # black and a grey reference
        ours, gap = ch.integrated_gradients_by_hand(image, base, 16)
        lib = explain.integrated_gradients(model, image[None], baseline=base, steps=16, class_index=1)[0]
        np.testing.assert_allclose(ours, lib, atol=1e-4)
        assert np.isfinite(gap)
