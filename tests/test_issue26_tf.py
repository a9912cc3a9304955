"""Issue #26 examples that need TensorFlow: grad_cam on a keras.Sequential, NaN baselines."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from medlab import explain  # noqa: E402
from medlab.env import seed_everything  # noqa: E402


def _layers():
    import keras

    return [keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="conv"),
            keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")]


@pytest.fixture(scope="module")
def models():
    """The same network as a keras.Sequential and as a functional model, with equal weights."""
    import keras

    seed_everything(0)
    seq = keras.Sequential([keras.Input((8, 8, 1)), *_layers()])
    inp = keras.Input((8, 8, 1))
    x = inp
    for layer in _layers():
        x = layer(x)
    fun = keras.Model(inp, x)
    fun.set_weights(seq.get_weights())
    return seq, fun


def test_grad_cam_on_sequential_matches_functional(models):
    seq, fun = models
    x = np.random.default_rng(0).random((3, 8, 8, 1)).astype(np.float32)
    for cls in (None, 0, 1):
        np.testing.assert_allclose(explain.grad_cam(seq, x, class_index=cls),
                                   explain.grad_cam(fun, x, class_index=cls), atol=1e-6)
    np.testing.assert_allclose(explain.logits(seq, x), explain.logits(fun, x), atol=1e-6)


def test_grad_cam_on_built_sequential_without_input():
    import keras

    seq = keras.Sequential(_layers())
    with pytest.raises(ValueError, match="has no input shape yet"):
        explain.grad_cam(seq, np.zeros((1, 8, 8, 1), np.float32))
    seq.build((None, 8, 8, 1))
    assert explain.grad_cam(seq, np.ones((1, 8, 8, 1), np.float32)).shape == (1, 8, 8)


def test_grad_cam_refuses_a_non_model():
    with pytest.raises(TypeError, match="model must be a Keras model"):
        explain.grad_cam("model.keras", np.zeros((1, 8, 8, 1)))


def test_integrated_gradients_refuses_nan(models):
    seq, _ = models
    x = np.ones((1, 8, 8, 1), np.float32)
    with pytest.raises(ValueError, match="baseline contains 1 NaN"):
        explain.integrated_gradients(seq, x, baseline=np.nan)
    bad = x.copy()
    bad[0, 2, 2, 0] = np.inf
    with pytest.raises(ValueError, match="images contains 1 NaN or infinite"):
        explain.integrated_gradients(seq, bad)
    with pytest.raises(ValueError, match="baseline must be a number, broadcastable"):
        explain.integrated_gradients(seq, x, baseline=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        explain.integrated_gradients(seq, x, steps=0)
