"""Tests of medlab.backprop (chapter *How a network learns*).

Every gradient is checked against an independent reference: central finite
differences, TensorFlow's ``GradientTape`` (in float64, so the comparison is
exact to rounding), scikit-learn's logistic regression and SciPy. The functions
the chapter writes in the open are extracted from the notebook (``ast``) and
compared with the library's (twin test). Hypothesis draws random shapes and
values with a bounded number of examples, so the file runs in seconds.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medlab import backprop as bp

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def tf():
    """TensorFlow, imported once for the module (quietly)."""
    from medlab.env import quiet_tensorflow

    quiet_tensorflow()
    return pytest.importorskip("tensorflow")


def random_cnn_case(seed: int, *, n: int = 3, side: int = 10, channels: int = 1, filters: int = 2,
                    k: int = 3, pool: int = 2, ties: bool = False):
    """Images, labels and initial weights of a small CNN; ``ties`` adds flat regions."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, side, side, channels))
    if ties:  # flat patches give identical convolution outputs, hence tied pooling windows
        x[:, : side // 2, : side // 2, :] = 0.7
    y = (np.arange(n) % 2).astype(float)
    params = bp.init_cnn(input_shape=(side, side, channels), filters=filters, kernel_size=k,
                         pool_size=pool, seed=seed)
    params[1] = rng.normal(scale=0.1, size=filters)  # non-zero biases, to test their gradient
    params[3] = rng.normal(scale=0.1, size=1)
    return x, y, params


# ----------------------------------------------------------------------- loss and sigmoid
def test_sigmoid_matches_scipy_and_never_overflows():
    from scipy.special import expit

    z = np.concatenate([np.linspace(-50, 50, 1001), [-1e308, -800.0, 800.0, 1e308]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        s = bp.sigmoid(z)
    np.testing.assert_allclose(s, expit(z), rtol=1e-15, atol=0)


def test_binary_cross_entropy_matches_sklearn_log_loss():
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(0)
    z = rng.normal(scale=3, size=200)
    y = (rng.random(200) < 0.4).astype(float)
    expected = log_loss(y, 1 / (1 + np.exp(-z)), labels=[0, 1])
    assert bp.binary_cross_entropy(y, z) == pytest.approx(expected, rel=1e-12)


def test_binary_cross_entropy_is_finite_for_extreme_logits():
    assert bp.binary_cross_entropy([0.0], [40.0]) == pytest.approx(40.0, rel=1e-15)
    assert bp.binary_cross_entropy([1.0], [-1000.0]) == pytest.approx(1000.0)
    assert bp.binary_cross_entropy([1.0, 0.0], [1000.0, -1000.0]) == 0.0
    assert bp.binary_cross_entropy([1, 0], [0, 0]) == pytest.approx(np.log(2))


def test_binary_cross_entropy_matches_keras(tf):
    import keras

    rng = np.random.default_rng(1)
    z = rng.normal(scale=4, size=50)
    y = (rng.random(50) < 0.5).astype(float)
    loss = keras.losses.BinaryCrossentropy(from_logits=True, dtype="float64")
    assert bp.binary_cross_entropy(y, z) == pytest.approx(float(loss(y, z)), rel=1e-12)


# ----------------------------------------------------------------------- logistic gradient
@SETTINGS
@given(n=st.integers(1, 40), d=st.integers(1, 6), seed=st.integers(0, 2**32 - 1),
       l2=st.sampled_from([0.0, 0.01, 1.0]))
def test_logistic_gradient_matches_finite_differences(n, d, seed, l2):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, d)), (rng.random(n) < 0.5).astype(float)
    params = [rng.normal(size=d), np.array(rng.normal())]
    analytic = bp.logistic_gradient(params, x, y, l2=l2)
    numeric = bp.numerical_gradient(lambda p: bp.logistic_loss(p, x, y, l2=l2), params)
    assert bp.relative_error(analytic, numeric) < 1e-7
    loss, grads = bp.logistic_loss_and_grad(params, x, y, l2=l2)
    assert loss == pytest.approx(bp.logistic_loss(params, x, y, l2=l2), rel=1e-14)
    assert bp.relative_error(grads, analytic) < 1e-14


def _fna(n_features: int | list[int]):
    """The first 300 Wisconsin cases, standardised: the first n features, or those listed."""
    from sklearn.datasets import load_breast_cancer

    x, target = load_breast_cancer(return_X_y=True)
    columns = list(range(n_features)) if isinstance(n_features, int) else n_features
    x = x[:300, columns]
    return (x - x.mean(axis=0)) / x.std(axis=0), (1 - target[:300]).astype(float)


@pytest.mark.parametrize("features, c, steps", [([0], np.inf, 300), ([0, 1, 4], np.inf, 3000),
                                                (30, 0.1, 3000)])
def test_gradient_descent_finds_sklearns_logistic_regression(features, c, steps):
    from sklearn.linear_model import LogisticRegression

    x, y = _fna(features)
    sk = LogisticRegression(C=c, tol=1e-12, max_iter=10_000).fit(x, y)
    l2 = 0.0 if np.isinf(c) else 1 / (c * len(y))
    ones = np.c_[x, np.ones(len(x))]
    curvature = np.linalg.eigvalsh(ones.T @ ones / (4 * len(x))).max() + l2  # bound on the Hessian
    params, history = bp.sgd(functools.partial(bp.logistic_loss_and_grad, l2=l2),
                             [np.zeros(x.shape[1]), np.array(0.0)], x, y,
                             learning_rate=1 / curvature, epochs=steps)
    np.testing.assert_allclose(params[0], sk.coef_[0], atol=1e-5)
    assert float(params[1]) == pytest.approx(sk.intercept_[0], abs=1e-5)
    assert np.all(np.diff(history["epoch_loss"]) <= 1e-15)  # below 1/curvature: never up


# ----------------------------------------------------------------------- the descent loop
def test_full_batch_sgd_is_the_written_out_loop():
    x, y = _fna(2)
    w, b = np.zeros(2), 0.0
    for _ in range(20):
        gw, gb = bp.logistic_gradient([w, b], x, y)
        w, b = w - 0.5 * gw, b - 0.5 * gb
    params, history = bp.sgd(bp.logistic_loss_and_grad, [np.zeros(2), np.array(0.0)], x, y,
                             learning_rate=0.5, epochs=20)
    np.testing.assert_allclose(params[0], w, rtol=1e-14)
    assert len(history["step_loss"]) == 20 and history["step_loss"] == history["epoch_loss"]
    assert all(np.array_equal(o, np.arange(len(y))) for o in history["order"])


def test_minibatch_sgd_orders_batches_and_epoch_loss():
    x, y = _fna(2)
    x, y = x[:70], y[:70]
    seen = []

    def recording(params, xb, yb):
        seen.append(len(xb))
        return bp.logistic_loss_and_grad(params, xb, yb)

    kept = []
    p1, h1 = bp.sgd(recording, [np.zeros(2), np.array(0.0)], x, y, learning_rate=0.1, epochs=3,
                    batch_size=32, seed=7, on_epoch_end=lambda e, p: kept.append((e, p)))
    assert seen == [32, 32, 6] * 3  # the last batch of an epoch is smaller
    assert [e for e, _ in kept] == [0, 1, 2] and kept[-1][1][0] is p1[0]
    for order in h1["order"]:
        assert sorted(order) == list(range(70))
    assert not np.array_equal(h1["order"][0], h1["order"][1])  # a new order every epoch
    steps = np.array(h1["step_loss"]).reshape(3, 3)
    np.testing.assert_allclose(h1["epoch_loss"], (steps @ [32, 32, 6]) / 70, rtol=1e-14)
    p2, h2 = bp.sgd(bp.logistic_loss_and_grad, [np.zeros(2), np.array(0.0)], x, y,
                    learning_rate=0.1, epochs=3, batch_size=32, seed=7)
    np.testing.assert_array_equal(p1[0], p2[0])  # same seed, same run


def test_sgd_does_not_modify_the_initial_parameters():
    x, y = _fna(2)
    start = [np.zeros(2), np.array(0.0)]
    bp.sgd(bp.logistic_loss_and_grad, start, x, y, learning_rate=1.0, epochs=3, batch_size=10)
    assert np.all(start[0] == 0)


def test_sgd_stops_with_a_clear_error_when_the_loss_is_not_finite():
    def exploding(params, xb, yb):
        return float("inf"), [np.ones_like(p) for p in params]

    with pytest.raises(FloatingPointError, match="learning_rate"):
        bp.sgd(exploding, [np.zeros(2)], np.zeros((4, 2)), np.zeros(4), learning_rate=1.0, epochs=1)


# ----------------------------------------------------------------------- numerical gradient
def test_numerical_gradient_of_a_known_function_leaves_params_alone():
    params = [np.array([1.0, -2.0]), np.array([[0.5]])]
    f = lambda p: float(np.sum(p[0] ** 3) + 3 * p[1].sum() ** 2)  # noqa: E731
    grads = bp.numerical_gradient(f, params, eps=1e-5)
    np.testing.assert_allclose(grads[0], 3 * params[0] ** 2, rtol=1e-8)
    np.testing.assert_allclose(grads[1], [[3.0]], rtol=1e-8)
    assert params[0].tolist() == [1.0, -2.0] and params[1].tolist() == [[0.5]]


def test_relative_error():
    assert bp.relative_error([np.ones(3)], [np.ones(3)]) == 0.0
    assert bp.relative_error([np.array([1.0])], [np.array([-1.0])]) == 1.0
    assert bp.relative_error([np.zeros(2)], [np.zeros(2)]) == 0.0
    with pytest.raises(ValueError, match="a and b"):
        bp.relative_error([np.ones(2)], [np.ones(3)])


# ----------------------------------------------------------------------- layers against references
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3), h=st.integers(3, 9), w=st.integers(3, 9),
       c_in=st.integers(1, 3), c_out=st.integers(1, 3), k=st.integers(1, 3))
def test_conv_forward_matches_medlab_conv2d(seed, n, h, w, c_in, c_out, k):
    from medlab.conv import conv2d

    rng = np.random.default_rng(seed)
    x, kernel, bias = rng.normal(size=(n, h, w, c_in)), rng.normal(size=(k, k, c_in, c_out)), \
        rng.normal(size=c_out)
    out = bp.conv_forward(x, kernel, bias)
    for i in range(n):
        np.testing.assert_allclose(out[i], conv2d(x[i], kernel) + bias, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 3), h=st.integers(3, 8), w=st.integers(3, 8),
       c_in=st.integers(1, 3), c_out=st.integers(1, 3), k=st.integers(1, 3))
def test_conv_backward_matches_gradient_tape(tf, seed, n, h, w, c_in, c_out, k):
    rng = np.random.default_rng(seed)
    x, kernel = rng.normal(size=(n, h, w, c_in)), rng.normal(size=(k, k, c_in, c_out))
    dy = rng.normal(size=(n, h - k + 1, w - k + 1, c_out))
    xv, kv, bv = tf.Variable(x), tf.Variable(kernel), tf.Variable(np.zeros(c_out))
    with tf.GradientTape() as tape:
        out = tf.nn.conv2d(xv, kv, strides=1, padding="VALID") + bv
        loss = tf.reduce_sum(out * dy)  # its gradient with respect to out is dy
    tx, tk, tb = (g.numpy() for g in tape.gradient(loss, [xv, kv, bv]))
    dx, dk, db = bp.conv_backward(dy, x, kernel)
    np.testing.assert_allclose(dx, tx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dk, tk, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db, tb, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 2), h=st.integers(2, 9), w=st.integers(2, 9),
       c=st.integers(1, 3), size=st.integers(1, 3), levels=st.sampled_from([3, 1000]))
def test_maxpool_matches_tensorflow_including_ties(tf, seed, n, h, w, c, size, levels):
    """Few distinct values (levels=3) make ties common: TensorFlow (CPU) routes to the first maximum."""
    if h < size or w < size:
        return
    rng = np.random.default_rng(seed)
    x = rng.integers(0, levels, size=(n, h, w, c)).astype(float)
    dy = rng.normal(size=(n, h // size, w // size, c))
    xv = tf.Variable(x)
    with tf.GradientTape() as tape:
        out = tf.nn.max_pool2d(xv, size, size, "VALID")
        loss = tf.reduce_sum(out * dy)
    np.testing.assert_array_equal(bp.maxpool_forward(x, size=size), out.numpy())
    np.testing.assert_allclose(bp.maxpool_backward(dy, x, size=size), tape.gradient(loss, xv).numpy(),
                               rtol=1e-12, atol=0)


def test_relu_backward():
    z = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(bp.relu_backward(np.array([[5.0, 5.0, 5.0]]), z), [[0.0, 0.0, 5.0]])


# ----------------------------------------------------------------------- the tiny CNN
@pytest.mark.parametrize("ties", [False, True])
def test_cnn_gradient_matches_finite_differences(ties):
    x, y, params = random_cnn_case(3, ties=ties)
    _, grads = bp.cnn_loss_and_grad(params, x, y)
    numeric = bp.numerical_gradient(lambda p: bp.binary_cross_entropy(y, bp.cnn_forward(p, x)[0]),
                                    params)
    assert bp.relative_error(grads, numeric) < 1e-7


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), side=st.integers(5, 12), channels=st.integers(1, 2),
       filters=st.integers(1, 4), k=st.integers(1, 3), pool=st.integers(1, 3), ties=st.booleans())
def test_cnn_gradient_matches_gradient_tape(tf, seed, side, channels, filters, k, pool, ties):
    import keras

    if side - k + 1 < pool:
        return
    x, y, params = random_cnn_case(seed, side=side, channels=channels, filters=filters, k=k, pool=pool,
                                   ties=ties)
    loss, grads = bp.cnn_loss_and_grad(params, x, y, pool_size=pool)
    model = bp.keras_cnn(params, input_shape=(side, side, channels), pool_size=pool)
    bce = keras.losses.BinaryCrossentropy(from_logits=True, dtype="float64")
    with tf.GradientTape() as tape:
        keras_loss = bce(y, model(x)[:, 0])
    keras_grads = [g.numpy() for g in tape.gradient(keras_loss, model.trainable_weights)]
    assert float(keras_loss) == pytest.approx(loss, rel=1e-12)
    assert bp.relative_error(grads, keras_grads) < 1e-12
    np.testing.assert_allclose(bp.cnn_forward(params, x, pool_size=pool)[0], model(x).numpy()[:, 0],
                               rtol=1e-12, atol=1e-12)


def test_sgd_on_the_cnn_takes_the_same_steps_as_keras_fit(tf):
    import keras

    x, y, params = random_cnn_case(5, n=20, side=12, filters=3, ties=True)
    ours, history = bp.sgd(bp.cnn_loss_and_grad, params, x, y, learning_rate=0.1, epochs=3,
                           batch_size=8, seed=1)
    keras.config.set_floatx("float64")  # fit() converts float arrays to floatx
    try:
        model = bp.keras_cnn(params, input_shape=(12, 12, 1))
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1),
                      loss=keras.losses.BinaryCrossentropy(from_logits=True, dtype="float64"))
        for order in history["order"]:
            model.fit(x[order], y[order], batch_size=8, epochs=1, shuffle=False, verbose=0)
    finally:
        keras.config.set_floatx("float32")
    for a, b in zip(ours, model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_init_cnn_draws_like_keras_defaults():
    params = bp.init_cnn(input_shape=(28, 28, 1), filters=8, kernel_size=3, seed=0)
    assert [p.shape for p in params] == [(3, 3, 1, 8), (8,), (13 * 13 * 8, 1), (1,)]
    assert sum(p.size for p in params) == 1433
    assert np.abs(params[0]).max() <= np.sqrt(6 / (9 + 72))  # Glorot uniform limits
    assert np.abs(params[2]).max() <= np.sqrt(6 / (1352 + 1))
    assert not params[1].any() and not params[3].any()
    again = bp.init_cnn(input_shape=(28, 28, 1), filters=8, kernel_size=3, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(params, again, strict=True))


def test_keras_cnn_counts_the_same_parameters(tf):
    params = bp.init_cnn(input_shape=(28, 28, 1), filters=8, seed=0)
    model = bp.keras_cnn(params)
    assert model.count_params() == 1433
    assert [w.dtype for w in model.get_weights()] == [np.float64] * 4


# ----------------------------------------------------------------------- bad input
GOOD = ([np.zeros(2), np.array(0.0)], np.zeros((3, 2)), np.array([0.0, 1.0, 0.0]))
LG = bp.logistic_loss_and_grad


@pytest.mark.parametrize("call, error, match", [
    (lambda: bp.binary_cross_entropy([0, 2], [0.0, 1.0]), ValueError, "y must hold 0 or 1"),
    (lambda: bp.binary_cross_entropy([0, 1, 1], [0.0, 1.0]), ValueError, "y has 3 labels for 2"),
    (lambda: bp.binary_cross_entropy([0, 1], [0.0, np.nan]), ValueError, "logits holds NaN"),
    (lambda: bp.binary_cross_entropy([], []), ValueError, "logits is empty"),
    (lambda: bp.binary_cross_entropy([0], [["a"]]), TypeError, "logits must hold numbers"),
    (lambda: bp.logistic_loss(GOOD[0], np.zeros((3, 4)), GOOD[2]), ValueError, r"params\[0\]"),
    (lambda: bp.logistic_loss([np.zeros(2), np.zeros(2)], *GOOD[1:]), ValueError, r"params\[1\]"),
    (lambda: bp.logistic_loss(np.zeros(3), *GOOD[1:]), TypeError, "params must be a list"),
    (lambda: bp.logistic_loss(GOOD[0], np.zeros(3), GOOD[2]), ValueError, "x must be a 2D"),
    (lambda: bp.logistic_gradient(*GOOD, l2=-1.0), ValueError, "l2 must be a non-negative"),
    (lambda: bp.numerical_gradient(42, GOOD[0]), TypeError, "f must be a function"),
    (lambda: bp.numerical_gradient(sum, GOOD[0], eps=0.0), ValueError, "eps must be"),
    (lambda: bp.sgd(LG, *GOOD, learning_rate=0.0, epochs=1), ValueError, "learning_rate must be"),
    (lambda: bp.sgd(LG, *GOOD, learning_rate=float("nan"), epochs=1), ValueError, "learning_rate"),
    (lambda: bp.sgd(LG, *GOOD, learning_rate=0.1, epochs=0), ValueError, "epochs must be"),
    (lambda: bp.sgd(LG, *GOOD, learning_rate=0.1, epochs=1.5), ValueError, "epochs must be"),
    (lambda: bp.sgd(LG, *GOOD, learning_rate=0.1, epochs=1, batch_size=0), ValueError, "batch_size"),
    (lambda: bp.sgd(LG, *GOOD, learning_rate=0.1, epochs=1, seed=None), ValueError, "seed must be"),
    (lambda: bp.sgd("loss", *GOOD, learning_rate=0.1, epochs=1), TypeError, "loss_and_grad"),
    (lambda: bp.sgd(LG, GOOD[0], GOOD[1], [0, 1], learning_rate=0.1, epochs=1), ValueError, "y has 2"),
    (lambda: bp.sgd(LG, GOOD[0], np.zeros((0, 2)), [], learning_rate=0.1, epochs=1), ValueError,
     "x holds no examples"),
    (lambda: bp.conv_forward(np.zeros((5, 5, 1)), np.zeros((3, 3, 1, 2)), np.zeros(2)), ValueError,
     "x must be a 4D"),
    (lambda: bp.conv_forward(np.zeros((1, 5, 5, 2)), np.zeros((3, 3, 1, 2)), np.zeros(2)), ValueError,
     "x has 2 channel"),
    (lambda: bp.conv_forward(np.zeros((1, 5, 5, 1)), np.zeros((3, 3, 1, 2)), np.zeros(3)), ValueError,
     "bias must have shape"),
    (lambda: bp.conv_forward(np.zeros((1, 2, 2, 1)), np.zeros((3, 3, 1, 2)), np.zeros(2)), ValueError,
     "larger than the images"),
    (lambda: bp.conv_backward(np.zeros((1, 2, 2, 2)), np.zeros((1, 5, 5, 1)), np.zeros((3, 3, 1, 2))),
     ValueError, "dy must have the output shape"),
    (lambda: bp.maxpool_forward(np.zeros((1, 2, 2, 1)), size=3), ValueError, "smaller than the pooling"),
    (lambda: bp.maxpool_forward(np.zeros((1, 4, 4, 1)), size=0), ValueError, "size must be"),
    (lambda: bp.maxpool_backward(np.zeros((1, 3, 3, 1)), np.zeros((1, 4, 4, 1))), ValueError,
     "dy must have the pooled shape"),
    (lambda: bp.relu_backward(np.zeros(3), np.zeros(4)), ValueError, "dy has shape"),
    (lambda: bp.init_cnn(input_shape=(28, 28)), ValueError, "input_shape must be"),
    (lambda: bp.init_cnn(input_shape=(4, 4, 1), kernel_size=3, pool_size=3), ValueError, "too small"),
    (lambda: bp.init_cnn(filters=0), ValueError, "filters must be"),
    (lambda: bp.cnn_forward(bp.init_cnn(), np.zeros((2, 28, 28))), ValueError, "x must be a 4D"),
    (lambda: bp.cnn_forward(bp.init_cnn()[:3], np.zeros((2, 28, 28, 1))), ValueError, "4 arrays"),
    (lambda: bp.cnn_forward(bp.init_cnn(), np.zeros((2, 20, 20, 1))), ValueError, r"params\[2\]"),
    (lambda: bp.cnn_forward(bp.init_cnn(), np.zeros((2, 28, 28, 1)), pool_size=3), ValueError,
     r"params\[2\]"),
    (lambda: bp.cnn_loss_and_grad(bp.init_cnn(), np.zeros((2, 28, 28, 1)), [0, 0.5]), ValueError,
     "y must hold 0 or 1"),
    (lambda: bp.cnn_backward(bp.init_cnn(), {"x": 1}, [0]), ValueError, "cache must be"),
    (lambda: bp.keras_cnn(bp.init_cnn(), dtype="float16"), ValueError, "dtype must be"),
    (lambda: bp.keras_cnn(bp.init_cnn(), input_shape=(20, 20, 1)), ValueError, r"params\[2\]"),
])
def test_bad_input_raises_an_error_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_importing_backprop_does_not_import_tensorflow():
    code = "import sys, medlab.backprop; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ----------------------------------------------------------------------- twin test with the chapter
CHAPTER_FUNCTIONS = ("sigmoid", "bce", "gradient", "conv_forward", "conv_backward", "maxpool_forward",
                     "maxpool_backward", "forward", "backward")


@pytest.fixture(scope="module")
def chapter():
    """The functions chapters/learning.ipynb writes in the open, extracted with ast."""
    nb = nbformat.read(ROOT / "chapters" / "learning.ipynb", as_version=4)
    found = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:  # the setup cell's %pip line
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name in CHAPTER_FUNCTIONS:
                found[node.name] = ast.get_source_segment(cell.source, node)
    missing = set(CHAPTER_FUNCTIONS) - set(found)
    assert not missing, f"the chapter no longer defines {sorted(missing)}"
    namespace = {"np": np}
    for name in CHAPTER_FUNCTIONS:  # in dependency order
        exec(found[name], namespace)
    return namespace


def test_chapter_logistic_functions_equal_the_library(chapter):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 4)), (rng.random(30) < 0.5).astype(float)
    w, b = rng.normal(size=4), 0.2
    assert chapter["bce"](y, chapter["sigmoid"](x @ w + b)) == pytest.approx(
        bp.logistic_loss([w, b], x, y), rel=1e-12)
    assert bp.relative_error(chapter["gradient"](w, b, x, y), bp.logistic_gradient([w, b], x, y)) < 1e-14


@pytest.mark.parametrize("ties", [False, True])
def test_chapter_cnn_equals_the_library(chapter, ties):
    x, y, params = random_cnn_case(11, n=4, side=12, filters=3, ties=ties)
    z, cache = chapter["forward"](params, x)
    np.testing.assert_allclose(z, bp.cnn_forward(params, x)[0], rtol=1e-13, atol=1e-13)
    grads = chapter["backward"](params, cache, z, y)
    assert bp.relative_error(grads, bp.cnn_loss_and_grad(params, x, y)[1]) < 1e-13
    a = np.maximum(cache[1], 0)
    dy = np.random.default_rng(0).normal(size=(4, 5, 5, 3))
    np.testing.assert_array_equal(chapter["maxpool_forward"](a), bp.maxpool_forward(a))
    np.testing.assert_allclose(chapter["maxpool_backward"](dy, a), bp.maxpool_backward(dy, a), rtol=0)
    dk, db = chapter["conv_backward"](cache[1], x, params[0])
    _, dk_lib, db_lib = bp.conv_backward(cache[1], x, params[0])
    np.testing.assert_allclose(dk, dk_lib, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, db_lib, rtol=1e-12, atol=1e-12)
