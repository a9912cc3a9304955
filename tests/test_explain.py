"""Tests of Grad-CAM in medlab.explain (chapter: cnn_project)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from medlab import explain, models  # noqa: E402
from medlab.env import quiet_tensorflow, seed_everything  # noqa: E402

quiet_tensorflow()


def _x(n=5, shape=(28, 28, 1), seed=0):
    return np.random.default_rng(seed).random((n, *shape)).astype("float32")


@pytest.fixture(scope="module")
def model():
    seed_everything(0)
    return models.pneumonia_cnn(widths=(8, 16), convs_per_block=1)


def test_last_feature_layer():
    assert explain.last_feature_layer(models.pneumonia_cnn()) == "features"
    assert explain.last_feature_layer(models.source_cnn()) == "conv2"


@pytest.mark.parametrize("class_index", [None, 0, 1])
def test_shape_and_range(model, class_index):
    cams = explain.grad_cam(model, _x(), class_index=class_index)
    assert cams.shape == (5, 28, 28)
    assert cams.min() >= 0.0 and cams.max() <= 1.0
    peaks = cams.reshape(5, -1).max(axis=1)
    assert np.all((np.isclose(peaks, 1.0)) | (peaks == 0.0))


def test_feature_map_size_without_upsampling(model):
    assert explain.grad_cam(model, _x(2), upsample=False).shape == (2, 14, 14)


def _cam_reference(model, x, sign):
    """Class activation map (Zhou et al. 2016), closed form for GAP -> dense models.

    With global average pooling before a single dense unit with logit z, the Grad-CAM
    weight of feature map k is dz/dA_k averaged = w_k / (h*w), so
    Grad-CAM = ReLU(sign * sum_k w_k A_k) after scaling to a maximum of 1.
    """
    import keras

    feats = np.asarray(keras.Model(model.input, model.get_layer("features").output)(x))
    w = np.asarray(model.get_layer("probability").kernel)[:, 0]
    cam = np.maximum(sign * feats @ w, 0)
    peak = cam.reshape(len(cam), -1).max(axis=1)[:, None, None]
    return np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)


@pytest.mark.parametrize("class_index,sign", [(1, 1.0), (0, -1.0)])
def test_matches_closed_form_cam(model, class_index, sign):
    x = _x(6, seed=2)
    got = explain.grad_cam(model, x, class_index=class_index, upsample=False)
    np.testing.assert_allclose(got, _cam_reference(model, x, sign), atol=1e-5)


def test_predicted_class_is_the_default(model):
    x = _x(6, seed=3)
    p = model.predict(x, verbose=0)[:, 0]
    auto = explain.grad_cam(model, x, upsample=False)
    for i, pi in enumerate(p):
        ref = _cam_reference(model, x[i:i + 1], 1.0 if pi >= 0.5 else -1.0)[0]
        np.testing.assert_allclose(auto[i], ref, atol=1e-5)


def _saturated_copy(model):
    """The same network with its output bias raised by 40: every p rounds to 1.0 in float32."""
    import keras

    m = keras.models.clone_model(model)
    m.set_weights(model.get_weights())
    head = m.get_layer("probability")
    head.bias.assign(head.bias + 40.0)
    return m


def test_saturated_sigmoid_still_explained(model):
    import tensorflow as tf

    x = _x(4, seed=5)
    sat = _saturated_copy(model)
    p = sat.predict(x, verbose=0)[:, 0]
    assert np.all(p == 1.0)  # saturated: the probability's gradient vanishes...
    probe = tf.keras.Model(sat.input, [sat.get_layer("features").output, sat.output])
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        feats, prob = probe(xt)
        score = prob[:, 0]
    assert float(tf.reduce_max(tf.abs(tape.gradient(score, feats)))) == 0.0
    got = explain.grad_cam(sat, x, class_index=1, upsample=False)  # ...the logit's does not
    assert np.all(got.reshape(4, -1).max(axis=1) > 0)
    np.testing.assert_allclose(got, _cam_reference(sat, x, 1.0), atol=1e-5)
    # A constant shift of the logit changes nothing: same maps as the unsaturated model.
    np.testing.assert_allclose(got, explain.grad_cam(model, x, class_index=1, upsample=False), atol=1e-5)


def test_output_logits_reproduce_the_output():
    import keras

    seed_everything(2)
    m = models.source_cnn((28, 28, 1), n_classes=4)
    pre, head = explain.output_logits(m)
    z = np.asarray(head(keras.Model(m.input, pre)(_x(3))))
    p = m.predict(_x(3), verbose=0)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(e / e.sum(axis=1, keepdims=True), p, rtol=1e-5, atol=1e-7)
    inputs = keras.Input((4,))
    pooled = keras.Model(inputs, keras.layers.GlobalAveragePooling1D()(keras.layers.Reshape((2, 2))(inputs)))
    with pytest.raises(ValueError, match="Dense"):
        explain.output_logits(pooled)


def test_softmax_model():
    seed_everything(1)
    m = models.source_cnn((28, 28, 3), n_classes=4)
    cams = explain.grad_cam(m, _x(3, (28, 28, 3)), class_index=2)
    assert cams.shape == (3, 28, 28) and 0 <= cams.min() and cams.max() <= 1


def test_bad_input(model):
    with pytest.raises(ValueError, match="channel"):
        explain.grad_cam(model, _x(2, (28, 28, 3)))
    with pytest.raises(ValueError, match="class_index"):
        explain.grad_cam(model, _x(2), class_index=2)
    with pytest.raises(ValueError):
        explain.grad_cam(model, _x(2), layer="no_such_layer")
