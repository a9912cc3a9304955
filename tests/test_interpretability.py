"""Attribution methods of medlab.explain added by the chapter interpretability.

Independent references: the completeness of integrated gradients (attributions sum to
f(x) - f(baseline)) on random Keras models, the closed form of a linear model, models whose
answer is known by construction (a network that reads one region only), scipy and skimage.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from medlab import explain, models  # noqa: E402
from medlab.env import quiet_tensorflow, seed_everything  # noqa: E402

quiet_tensorflow()

REGION = (slice(8, 16), slice(16, 24))  # rows 8..15, columns 16..23: off the diagonal on purpose


def _x(n=4, shape=(28, 28, 1), seed=0):
    return np.random.default_rng(seed).random((n, *shape)).astype("float32")


def _region_model(n_classes=2):
    """Positive 1x1 convolution, then a fixed mask keeps one region only: the answer is known."""
    import keras

    class RegionMask(keras.layers.Layer):
        def call(self, x):
            mask = np.zeros((1, 28, 28, 1), "float32")
            mask[0, REGION[0], REGION[1], 0] = 1.0
            return x * mask

    inputs = keras.Input((28, 28, 1))
    conv = keras.layers.Conv2D(2, 1, activation="relu", kernel_initializer="ones", name="conv")(inputs)
    feats = RegionMask(name="features")(conv)
    pooled = keras.layers.GlobalAveragePooling2D()(feats)
    units, act = (1, "sigmoid") if n_classes == 2 else (n_classes, "softmax")
    out = keras.layers.Dense(units, activation=act, kernel_initializer="ones", name="out")(pooled)
    return keras.Model(inputs, out)


@pytest.fixture(scope="module")
def cnn():
    seed_everything(0)
    return models.pneumonia_cnn(widths=(8, 16), convs_per_block=1)


def test_class_logit_matches_the_probability(cnn):
    x = _x(5)
    p = cnn.predict(x, verbose=0)[:, 0].astype(np.float64)
    z = explain.class_logit(cnn, x, 1)
    np.testing.assert_allclose(1 / (1 + np.exp(-z)), p, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(explain.class_logit(cnn, x, 0), -z)
    auto = explain.class_logit(cnn, x)  # the predicted class: its logit is never negative
    assert np.all(auto >= 0) and np.allclose(np.abs(auto), np.abs(z))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_integrated_gradients_completeness_on_random_models(seed):
    """Sum of attributions = f(x) - f(baseline), to the accuracy of the path integral."""
    seed_everything(seed)
    m = models.pneumonia_cnn(widths=(4, 8), convs_per_block=1, dropout=0.0)
    x = _x(3, seed=seed)
    base = np.full((28, 28, 1), 0.25, "float32")
    for cls in (0, 1):
        ig = explain.integrated_gradients(m, x, baseline=base, steps=256, class_index=cls)
        gap = explain.class_logit(m, x, cls) - explain.class_logit(m, np.broadcast_to(base, x.shape), cls)
        np.testing.assert_allclose(ig.sum(axis=(1, 2, 3)), gap, rtol=0.02, atol=2e-3)
    coarse = explain.integrated_gradients(m, x, baseline=base, steps=1, class_index=1)
    assert coarse.shape == x.shape  # one trapezoid still gives an answer, just a rougher one


def test_integrated_gradients_with_one_baseline_per_image():
    """A baseline per image gives each image's own attributions, complete against its own baseline."""
    seed_everything(4)
    m = models.pneumonia_cnn(widths=(4, 8), convs_per_block=1, dropout=0.0)
    x = _x(3, seed=11)
    bases = _x(3, seed=12) * 0.5
    both = explain.integrated_gradients(m, x, baseline=bases, steps=128, class_index=1)
    for i in range(3):
        alone = explain.integrated_gradients(m, x[i:i + 1], baseline=bases[i], steps=128, class_index=1)
        np.testing.assert_allclose(both[i], alone[0], rtol=1e-5, atol=1e-7)
    gap = explain.class_logit(m, x, 1) - explain.class_logit(m, bases, 1)
    np.testing.assert_allclose(both.sum(axis=(1, 2, 3)), gap, rtol=0.02, atol=2e-3)
    shared = explain.integrated_gradients(m, x, baseline=bases[:1], steps=16, class_index=1)
    np.testing.assert_allclose(shared, explain.integrated_gradients(m, x, baseline=bases[0], steps=16,
                                                                    class_index=1), rtol=1e-6)
    with pytest.raises(ValueError, match="baseline"):
        explain.integrated_gradients(m, x, baseline=bases[:2], steps=4)
    with pytest.raises(ValueError, match="baseline"):
        explain.integrated_gradients(m, x, baseline=np.full((28, 28, 1), np.nan), steps=4)


def test_integrated_gradients_of_a_linear_model_are_exact():
    """For z = w.x + b, IG_i = (x_i - x'_i) w_i exactly, for any number of steps."""
    import keras

    seed_everything(3)
    inputs = keras.Input((28, 28, 1))
    flat = keras.layers.Flatten()(inputs)
    m = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="out")(flat))
    w = np.asarray(m.get_layer("out").kernel)[:, 0].reshape(28, 28, 1)
    x = _x(2)
    np.testing.assert_allclose(explain.integrated_gradients(m, x, steps=3, class_index=1), x * w,
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(explain.gradient_map(m, x, class_index=0), -np.broadcast_to(w, x.shape),
                               rtol=1e-5)


def test_methods_find_the_region_a_model_reads():
    m = _region_model()
    x = _x(3, seed=4) + 0.1
    outside = np.ones((28, 28), bool)
    outside[REGION] = False
    cam = explain.grad_cam(m, x, layer="features", class_index=1)
    assert np.all(cam[:, outside] == 0) and np.all(cam[:, ~outside] > 0)
    ig = explain.integrated_gradients(m, x, steps=8, class_index=1)[..., 0]
    assert np.all(ig[:, outside] == 0) and np.all(ig[:, ~outside] > 0)
    occ = explain.occlusion(m, x, patch=4, stride=2, class_index=1)
    # a pixel changes the score only if some patch covering it overlaps the region
    near = np.zeros((28, 28), bool)
    near[REGION[0].start - 3:REGION[0].stop + 3, REGION[1].start - 3:REGION[1].stop + 3] = True
    assert np.allclose(occ[:, ~near], 0, atol=1e-6) and np.all(occ[:, ~outside] > 0)
    assert occ.shape == (3, 28, 28)


def test_occlusion_by_hand_on_one_patch():
    """With patch = stride = image size, the map is the score drop for a blank image."""
    m = _region_model()
    x = _x(2, seed=5)
    occ = explain.occlusion(m, x, patch=28, stride=28, fill=0.0, class_index=1)
    drop = explain.class_logit(m, x, 1) - explain.class_logit(m, np.zeros_like(x), 1)
    np.testing.assert_allclose(occ, np.broadcast_to(drop[:, None, None], occ.shape), rtol=1e-5)


def test_softmax_models_are_supported():
    m = _region_model(n_classes=3)
    x = _x(2, seed=6)
    # baseline 0.05, not 0: at exactly 0 the ReLU's gradient is 0 (a kink at the path's end)
    ig = explain.integrated_gradients(m, x, baseline=0.05, steps=64, class_index=2)
    z = explain.logits(m, x)
    z0 = explain.logits(m, np.full_like(x, 0.05))
    np.testing.assert_allclose(ig.sum(axis=(1, 2, 3)), z[:, 2] - z0[:, 2], rtol=1e-3, atol=1e-4)
    d = explain.deletion_insertion(m, x, np.ones((2, 28, 28)), steps=4, class_index=0)
    assert d["deletion"].shape == (2, 5) and np.all((d["deletion"] > 0) & (d["deletion"] < 1))


def test_randomized_copy_changes_only_the_named_layers(cnn):
    names = explain.weighted_layers(cnn)
    assert names[0] == "probability" and names[-1] == "conv1_1"
    copy = explain.randomized_copy(cnn, names[:2], seed=1)
    for layer in (la for la in cnn.layers if la.weights):
        before, after = layer.get_weights(), copy.get_layer(layer.name).get_weights()
        same = all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
        assert same == (layer.name not in names[:2]), layer.name
    again = explain.randomized_copy(cnn, names[:2], seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(copy.get_weights(), again.get_weights(), strict=True))
    with pytest.raises(ValueError, match="kernel"):
        explain.randomized_copy(cnn, ["bn1_1"])


def test_randomized_copy_can_reset_batch_normalisation(cnn):
    import keras

    names = explain.weighted_layers(cnn)
    kept = explain.randomized_copy(cnn, names, seed=2)
    reset = explain.randomized_copy(cnn, names, seed=2, batchnorm=True)
    bns = [la for la in cnn.layers if isinstance(la, keras.layers.BatchNormalization)]
    assert bns
    for layer in bns:
        original = layer.get_weights()
        assert all(np.array_equal(a, b) for a, b in
                   zip(original, kept.get_layer(layer.name).get_weights(), strict=True))
        gamma, beta, mean, var = reset.get_layer(layer.name).get_weights()
        assert np.all(gamma == 1) and np.all(beta == 0) and np.all(mean == 0) and np.all(var == 1)
    for name in names:  # the kernels are the same draw either way
        assert np.array_equal(kept.get_layer(name).get_weights()[0], reset.get_layer(name).get_weights()[0])


def test_map_similarity_against_scipy_and_skimage():
    from scipy.stats import spearmanr
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(7)
    a, b = rng.random((3, 28, 28)), rng.random((3, 28, 28))
    s = explain.map_similarity(a, -b)  # absolute values: the sign does not matter
    for i in range(3):
        assert np.isclose(s["spearman"][i], spearmanr(a[i].ravel(), b[i].ravel())[0])
        assert np.isclose(s["ssim"][i], structural_similarity(a[i] / a[i].max(), b[i] / b[i].max(),
                                                             data_range=1.0))
    same = explain.map_similarity(a, 3 * a)
    assert np.allclose(same["spearman"], 1) and np.allclose(same["ssim"], 1)
    assert np.isnan(explain.map_similarity(np.zeros((1, 28, 28)), a[:1])["spearman"][0])


def test_signed_map_similarity_against_scipy():
    """absolute=False keeps the sign: a map and its negative are perfectly anti-correlated."""
    from scipy.stats import spearmanr
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(8)
    a, b = rng.normal(size=(2, 28, 28, 1)), rng.normal(size=(2, 28, 28, 1))
    s = explain.map_similarity(a, b, absolute=False)
    for i in range(2):
        assert np.isclose(s["spearman"][i], spearmanr(a[i].ravel(), b[i].ravel())[0])
    flipped = explain.map_similarity(a, -a, absolute=False)
    assert np.allclose(flipped["spearman"], -1)
    for i in range(2):  # SSIM of the signed maps, each divided by its largest absolute value
        m = a[i, ..., 0] / np.abs(a[i]).max()
        assert np.isclose(flipped["ssim"][i], structural_similarity(m, -m, data_range=2.0))
    assert np.all(flipped["ssim"] < 0.9)  # far from the same map (SSIM 1), though not negative:
    # the luminance and structure terms of SSIM both change sign, and their product does not
    assert np.allclose(explain.map_similarity(a, -a)["spearman"], 1)  # absolute values: the same map
    assert np.allclose(explain.map_similarity(a, 2 * a, absolute=False)["ssim"], 1)
    assert np.isnan(explain.map_similarity(np.zeros((1, 28, 28)), a[:1], absolute=False)["spearman"][0])


def test_deletion_with_a_perfect_and_a_reversed_order():
    """On the region model, deleting the region first kills the evidence at once."""
    m = _region_model()
    x = _x(2, seed=8) + 0.2
    good = np.zeros((2, 28, 28))
    good[:, REGION[0], REGION[1]] = 1.0
    best = explain.deletion_insertion(m, x, good, steps=28, class_index=1)
    worst = explain.deletion_insertion(m, x, 1 - good, steps=28, class_index=1)
    assert np.all(best["deletion_auc"] < worst["deletion_auc"])
    assert np.all(best["insertion_auc"] > worst["insertion_auc"])
    assert np.allclose(best["deletion"][:, 0], best["insertion"][:, -1])  # the intact image
    assert np.allclose(best["fraction"][[0, -1]], [0, 1])
    z = explain.deletion_insertion(m, x, good, steps=28, class_index=1, output="logit")
    np.testing.assert_allclose(1 / (1 + np.exp(-z["deletion"])), best["deletion"], rtol=1e-6)
    np.testing.assert_allclose(z["deletion"][:, 0], explain.class_logit(m, x, 1), rtol=1e-6)
    with pytest.raises(ValueError, match="output"):
        explain.deletion_insertion(m, x, good, output="odds")


def test_pixel_order_breaks_ties_reproducibly():
    maps = np.zeros((1, 4, 4))
    maps[0, 3, 3] = 1
    o1, o2 = explain.pixel_order(maps, seed=0), explain.pixel_order(maps, seed=0)
    assert o1[0, 0] == 15 and np.array_equal(o1, o2) and sorted(o1[0]) == list(range(16))


def test_bad_input(cnn):
    import keras

    inputs = keras.Input((28, 28, 1))
    flat = keras.layers.Flatten()(inputs)
    dense_only = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(flat))
    with pytest.raises(ValueError, match="convolutional"):
        explain.grad_cam(dense_only, _x(1))
    with pytest.raises(ValueError, match="steps"):
        explain.integrated_gradients(cnn, _x(1), steps=0)
    with pytest.raises(TypeError, match="steps"):  # a float is the wrong kind (medlab.validate)
        explain.integrated_gradients(cnn, _x(1), steps=2.5)
    with pytest.raises(ValueError, match="28x28"):
        explain.integrated_gradients(cnn, _x(1, (32, 32, 1)))
    with pytest.raises(ValueError, match="channel"):
        explain.occlusion(cnn, _x(1)[..., 0])
    with pytest.raises(ValueError, match="patch"):
        explain.occlusion(cnn, _x(1), patch=0)
    with pytest.raises(ValueError, match="class_index"):
        explain.class_logit(cnn, _x(1), 2)
    with pytest.raises(ValueError, match="steps"):
        explain.deletion_insertion(cnn, _x(1), np.ones((1, 28, 28)), steps=0)
    with pytest.raises(ValueError, match="map"):
        explain.deletion_insertion(cnn, _x(2), np.ones((1, 28, 28)))


def test_eager_predict_matches_keras_predict(cnn):
    from medlab import train

    x = _x(7, seed=9)
    np.testing.assert_allclose(train.predict_proba(cnn, x, batch_size=3, eager=True),
                               train.predict_proba(cnn, x), rtol=1e-5, atol=1e-7)
    three = _region_model(n_classes=3)
    p3 = train.predict_proba(three, x, batch_size=3, eager=True)
    assert p3.shape == (7, 3)
    np.testing.assert_allclose(p3, train.predict_proba(three, x), rtol=1e-5, atol=1e-7)
