"""Tests of medlab.conv against SciPy, TensorFlow, Keras and SimpleITK.

Property-based (hypothesis) on random shapes, kernels, strides, paddings and
dilations, with a bounded number of examples so the file runs in seconds.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.signal import correlate2d

from medlab.conv import conv2d, conv_output_size, receptive_field, same_padding

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)
GRID = np.arange(1, 26, dtype=float).reshape(5, 5)
WORKED = np.array([[11, 6, 6, 6, -17],
                   [28, 8, 8, 8, -36],
                   [48, 8, 8, 8, -56],
                   [68, 8, 8, 8, -76],
                   [61, 6, 6, 6, -67]], dtype=float)


@pytest.fixture(scope="module")
def tf():
    """TensorFlow, imported once for the whole module (quietly)."""
    from medlab.env import quiet_tensorflow

    quiet_tensorflow()
    return pytest.importorskip("tensorflow")


def dilate(kernel: np.ndarray, d: int) -> np.ndarray:
    """Insert d-1 zeros between kernel taps (independent of medlab)."""
    kh, kw = kernel.shape
    out = np.zeros(((kh - 1) * d + 1, (kw - 1) * d + 1))
    out[::d, ::d] = kernel
    return out


def scipy_reference(x, kernel, stride, padding, dilation):
    """Cross-correlation by SciPy: pad, correlate 'valid', then subsample by the stride."""
    full = correlate2d(np.pad(x, padding), dilate(kernel, dilation), mode="valid")
    return full[::stride, ::stride]


@st.composite
def conv_case(draw, channels=False):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dilation, stride, padding = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(0, 3))
    h = draw(st.integers(max(1, (kh - 1) * dilation + 1 - 2 * padding), 12))
    w = draw(st.integers(max(1, (kw - 1) * dilation + 1 - 2 * padding), 12))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if channels:
        cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        return rng.normal(size=(h, w, cin)), rng.normal(size=(kh, kw, cin, cout)), stride, padding, dilation
    return rng.normal(size=(h, w)), rng.normal(size=(kh, kw)), stride, padding, dilation


def test_worked_example():
    assert np.array_equal(conv2d(GRID, SOBEL_X, padding=1), WORKED)
    assert np.array_equal(conv2d(GRID, SOBEL_X, padding="same"), WORKED)
    assert np.array_equal(conv2d(GRID, SOBEL_X), WORKED[1:-1, 1:-1])
    assert np.array_equal(conv2d(GRID, SOBEL_X, padding=(1, 0)), WORKED[:, 1:-1])


def test_worked_example_simpleitk_flips_the_kernel():
    sitk = pytest.importorskip("SimpleITK")
    f = sitk.ConvolutionImageFilter()
    f.SetBoundaryCondition(sitk.ConvolutionImageFilter.ZERO_PAD)
    f.SetOutputRegionMode(sitk.ConvolutionImageFilter.SAME)
    f.SetNormalize(False)

    def run(k):
        return sitk.GetArrayFromImage(f.Execute(sitk.GetImageFromArray(GRID), sitk.GetImageFromArray(k)))

    assert np.allclose(run(SOBEL_X[::-1, ::-1].copy()), WORKED)  # true convolution with the flipped kernel
    assert np.allclose(run(SOBEL_X), -WORKED)  # Sobel-x flipped is minus itself


def test_worked_example_keras(tf):
    import keras

    layer = keras.layers.Conv2D(1, 3, padding="same", use_bias=False)
    layer.build((1, 5, 5, 1))
    layer.set_weights([SOBEL_X.reshape(3, 3, 1, 1)])
    out = np.asarray(layer(GRID.reshape(1, 5, 5, 1).astype("float32")))[0, :, :, 0]
    assert np.allclose(out, WORKED)


@SETTINGS
@given(conv_case())
def test_matches_scipy(case):
    x, k, stride, padding, dilation = case
    got = conv2d(x, k, stride=stride, padding=padding, dilation=dilation)
    assert np.allclose(got, scipy_reference(x, k, stride, padding, dilation), atol=1e-10)
    assert got.shape == tuple(conv_output_size(n, kk, stride=stride, padding=padding, dilation=dilation)
                              for n, kk in zip(x.shape, k.shape, strict=True))


@SETTINGS
@given(conv_case(channels=True))
def test_multichannel_matches_tensorflow(tf, case):
    x, k, stride, padding, dilation = case
    if stride > 1 and dilation > 1:  # tf.nn.conv2d refuses both at once on CPU
        dilation = 1
    pads = [[0, 0], [padding, padding], [padding, padding], [0, 0]]
    want = tf.nn.conv2d(x[None], k, strides=stride, padding=pads, dilations=dilation)
    got = conv2d(x, k, stride=stride, padding=padding, dilation=dilation)
    assert np.allclose(got, np.asarray(want)[0], atol=1e-9)


@SETTINGS
@given(conv_case(), st.sampled_from(["same", "valid"]))
def test_string_padding_matches_tensorflow(tf, case, mode):
    x, k, stride, _, dilation = case
    if stride > 1 and dilation > 1:
        dilation = 1
    extent = [(n - 1) * dilation + 1 for n in k.shape]
    if mode == "valid" and (x.shape[0] < extent[0] or x.shape[1] < extent[1]):
        return
    want = tf.nn.conv2d(x[None, ..., None], k[..., None, None], strides=stride,
                        padding=mode.upper(), dilations=dilation)
    got = conv2d(x, k, stride=stride, padding=mode, dilation=dilation)
    assert np.allclose(got, np.asarray(want)[0, ..., 0], atol=1e-9)


def test_three_dimensional_kernel_sums_channels():
    rng = np.random.default_rng(1)
    x, k = rng.normal(size=(6, 7, 2)), rng.normal(size=(3, 3, 2))
    want = sum(correlate2d(x[..., c], k[..., c], mode="valid") for c in range(2))
    assert np.allclose(conv2d(x, k), want)


@pytest.mark.parametrize("n, k, s, p, d, want", [
    (5, 3, 1, 1, 1, 5), (5, 3, 1, 0, 1, 3), (5, 3, 2, 1, 1, 3), (28, 5, 1, 0, 1, 24),
    (224, 7, 2, 3, 1, 112), (7, 3, 1, 0, 2, 3), (10, 3, 2, "same", 1, 5), (9, 4, 1, "same", 1, 9),
])
def test_output_size_table(n, k, s, p, d, want):
    assert conv_output_size(n, k, stride=s, padding=p, dilation=d) == want


def test_same_padding_puts_the_extra_zero_after():
    assert same_padding(5, 4) == (1, 2)
    assert same_padding(6, 3, stride=2) == (0, 1)


def test_receptive_field_formula():
    rows = receptive_field([(3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2)])
    assert [r["rf"] for r in rows] == [3, 5, 6, 10, 14, 16]
    assert [r["jump"] for r in rows] == [1, 1, 2, 2, 2, 4]
    assert receptive_field([(3, 1, 2), (3, 1, 4)])[-1]["rf"] == 13


@pytest.mark.parametrize("layers", [[(3, 1), (3, 1), (2, 2), (3, 1)], [(5, 2), (3, 1, 2)], [(3, 2), (3, 2)]])
def test_receptive_field_by_impulse(layers):
    """Independent check: which input pixels change the first output pixel (all weights positive)?"""
    n = 64
    touched = np.zeros(n, dtype=bool)
    for col in range(n):  # one-dimensional probe along a row suffices (square kernels)
        probe = np.zeros((1, n))
        probe[0, col] = 1.0
        out = probe
        for layer in layers:
            k, s, d = (*layer, 1) if len(layer) == 2 else layer
            out = scipy_reference(out, np.ones((1, k)), s, 0, d)
        touched[col] = out[0, 0] > 0
    assert touched.sum() == receptive_field(layers)[-1]["rf"]


@pytest.mark.parametrize("kwargs, match", [
    ({"stride": 0}, "stride"), ({"stride": -1}, "stride"), ({"dilation": 0}, "dilation"),
    ({"padding": -1}, "padding"), ({"padding": "full"}, "padding"), ({"stride": 1.5}, "stride"),
    ({"padding": (1,)}, "padding"), ({"padding": (1, 1, 1)}, "padding"), ({"padding": (1, -1)}, "padding"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv2d(GRID, SOBEL_X, **kwargs)


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d(np.ones((2, 2)), SOBEL_X)
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d(GRID, SOBEL_X, dilation=3)
    assert conv2d(np.ones((1, 1)), SOBEL_X, padding=1).shape == (1, 1)


def test_mismatched_channels_and_shapes():
    with pytest.raises(ValueError, match="channel"):
        conv2d(np.ones((5, 5, 3)), np.ones((3, 3, 2, 4)))
    with pytest.raises(ValueError, match="x must be"):
        conv2d(np.ones(5), SOBEL_X)
    with pytest.raises(ValueError, match="kernel must be"):
        conv2d(GRID, np.ones(3))
    with pytest.raises(TypeError, match="numbers"):
        conv2d(np.array([["a"]]), SOBEL_X)


def test_receptive_field_bad_layer():
    with pytest.raises(ValueError, match="layer 1"):
        receptive_field([(3, 1), (3,)])
    with pytest.raises(ValueError, match="stride"):
        receptive_field([(3, 0)])


def test_integer_input_is_not_truncated():
    out = conv2d(np.arange(9).reshape(3, 3), np.full((2, 2), 0.25))
    assert out.dtype.kind == "f" and np.isclose(out[0, 0], 2.0)


def test_exercise_answers_agree_with_medlab_conv():
    """The exercise module computes its answers without medlab.conv; both must agree."""
    from medlab.exercises import convolution as ex

    after_conv = conv_output_size(512, 7, stride=2, padding=3)
    assert ex.EXERCISES["q1"].expected() == conv_output_size(after_conv, 3, stride=2, padding=1)
    assert ex.EXERCISES["q2"].expected() == conv2d(GRID, SOBEL_X.T, padding=1)[0, 0]
    assert ex.EXERCISES["q4"].expected() == receptive_field(
        [(3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2), (3, 1)])[-1]["rf"]


def test_import_does_not_load_tensorflow():
    import subprocess
    import sys

    code = "import sys, medlab.conv; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
