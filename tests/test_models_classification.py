"""Tests of the classification builders in medlab.models (chapter: cnn_project)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from medlab import models  # noqa: E402
from medlab.env import quiet_tensorflow, seed_everything  # noqa: E402

quiet_tensorflow()


def _x(n=4, shape=(28, 28, 1), seed=0):
    return np.random.default_rng(seed).random((n, *shape)).astype("float32")


def test_import_does_not_load_tensorflow():
    code = ("import sys, medlab.models, medlab.train, medlab.explain, tools.bench.classification; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


@pytest.mark.parametrize("builder", [models.source_cnn, models.pneumonia_cnn])
@pytest.mark.parametrize("shape,n_classes,out", [((28, 28, 1), 2, 1), ((28, 28, 3), 5, 5),
                                                  ((32, 32, 1), 3, 3)])
def test_output_shapes(builder, shape, n_classes, out):
    model = builder(shape, n_classes=n_classes)
    p = model.predict(_x(3, shape), verbose=0)
    assert p.shape == (3, out)
    if out == 1:
        assert np.all((p >= 0) & (p <= 1))
    else:
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_source_cnn_parameter_count_by_hand():
    # conv: (k*k*c_in + 1) * c_out; 28 -> conv 26 -> pool 13 -> conv 11 -> pool 5; 5*5*64 = 1600 inputs
    expected = (9 * 1 + 1) * 32 + (9 * 32 + 1) * 64 + (1600 + 1) * 1
    model = models.source_cnn()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == expected == model.count_params() == 20_417


def test_source_cnn_is_the_articles_network_on_cifar_input():
    # The article's section 5.1, written as printed but with the input shape CIFAR-10 really has.
    import keras
    from keras import layers

    article = keras.Sequential([
        keras.Input((32, 32, 3)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])
    ours = models.source_cnn(input_shape=(32, 32, 3), n_classes=10)
    assert ours.count_params() == article.count_params() == 42_442
    kinds = [type(la).__name__ for la in ours.layers[1:]]
    assert kinds == [type(la).__name__ for la in article.layers]  # no hidden dense layer
    for a, b in zip(ours.layers[1:], article.layers, strict=True):  # same weights -> same outputs
        b.set_weights(a.get_weights())
    x = _x(3, (32, 32, 3))
    np.testing.assert_allclose(ours.predict(x, verbose=0), article.predict(x, verbose=0), rtol=1e-5)


def test_source_cnn_optional_standardisation():
    plain = models.source_cnn()
    assert "standardise" not in [la.name for la in plain.layers]
    model = models.source_cnn(mean=0.5, variance=0.04)
    assert model.count_params() == plain.count_params()  # no trainable weights added
    x = np.full((1, 28, 28, 1), 0.7, dtype="float32")
    np.testing.assert_allclose(np.asarray(model.get_layer("standardise")(x)), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="mean and variance"):
        models.source_cnn(mean=0.5)


def test_standardisation_layer_uses_given_statistics():
    model = models.pneumonia_cnn(mean=0.5, variance=0.04)
    x = np.full((1, 28, 28, 1), 0.7, dtype="float32")
    z = model.get_layer("standardise")(x)
    np.testing.assert_allclose(np.asarray(z), (0.7 - 0.5) / 0.2, rtol=1e-5)


def test_same_seed_same_model_different_seed_different_model():
    x = _x()
    preds = []
    for seed in (3, 3, 4):
        seed_everything(seed)
        preds.append(models.pneumonia_cnn().predict(x, verbose=0))
    np.testing.assert_array_equal(preds[0], preds[1])
    assert not np.allclose(preds[0], preds[2])


def test_bad_builder_arguments():
    with pytest.raises(ValueError, match="n_classes"):
        models.pneumonia_cnn(n_classes=1)
    with pytest.raises(ValueError, match="input_shape"):
        models.source_cnn(input_shape=(28, 28))
    with pytest.raises(ValueError, match="dropout"):
        models.pneumonia_cnn(dropout=1.0)
