"""medlab.validate: the one home of the input checks (message names the argument, the expected, the given)."""

from __future__ import annotations

import numpy as np
import pytest

from medlab import validate


def test_check_images_errors():
    x = np.zeros((4, 28, 28, 1), np.float32)
    assert validate.check_images(x, (28, 28, 1)).shape == (4, 28, 28, 1)
    with pytest.raises(ValueError, match="channel axis"):
        validate.check_images(np.zeros((4, 28, 28)), (28, 28, 1))
    with pytest.raises(ValueError, match="channel"):
        validate.check_images(np.zeros((4, 28, 28, 3)), (28, 28, 1))
    with pytest.raises(ValueError, match="28x28"):
        validate.check_images(np.zeros((4, 64, 64, 1)), (28, 28, 1))
    with pytest.raises(TypeError, match="numeric"):
        validate.check_images(np.array([["a"]]))
    with pytest.raises(ValueError, match="^x_val must have shape"):
        validate.check_images(np.zeros((2, 2)), name="x_val")


def test_check_volumes():
    x = np.zeros((2, 8, 8, 8, 1))
    assert validate.check_volumes(x, (8, 8, 8, 1)) is not None
    with pytest.raises(ValueError, match="channel axis"):
        validate.check_volumes(np.zeros((2, 8, 8, 8)))
    with pytest.raises(ValueError, match="model expects"):
        validate.check_volumes(x, (8, 8, 4, 1))
    with pytest.raises(TypeError):
        validate.check_volumes(np.array([["a"]]))


def test_check_labels():
    got = validate.check_labels(np.array([[0], [1], [1]]), 2)
    np.testing.assert_array_equal(got, [0, 1, 1])
    assert got.dtype == np.int64 and got.ndim == 1
    with pytest.raises(ValueError, match="0..1"):
        validate.check_labels([0, 1, 2], 2)
    with pytest.raises(ValueError, match="0..1"):
        validate.check_labels([-1, 0], 2)
    with pytest.raises(ValueError, match="whole numbers"):
        validate.check_labels([0.2, 0.9], 2)
    with pytest.raises(ValueError, match="whole numbers"):
        validate.check_labels([0.0, np.nan], 2)
    with pytest.raises(ValueError, match="shape"):
        validate.check_labels(np.zeros((3, 2)), 2)
    with pytest.raises(TypeError, match="y_val must be class indices"):
        validate.check_labels(["a", "b"], 2, name="y_val")
    with pytest.raises(TypeError, match="n_classes"):
        validate.check_labels([0, 1], 2.0)


@pytest.mark.parametrize("value, kwargs, error, match", [
    (True, {}, TypeError, "epochs must be an integer, got True"),
    (3.0, {}, TypeError, "epochs must be an integer, got 3.0"),
    ("3", {}, TypeError, "epochs must be an integer, got '3'"),
    (0, {"low": 1}, ValueError, "epochs must be an integer >= 1, got 0"),
    (11, {"low": 1, "high": 10}, ValueError, ">= 1 and <= 10, got 11"),
])
def test_check_int_refuses(value, kwargs, error, match):
    with pytest.raises(error, match=match):
        validate.check_int(value, "epochs", **kwargs)


def test_check_int_accepts_numpy_integers():
    got = validate.check_int(np.int64(4), "epochs", low=1)
    assert got == 4 and type(got) is int


@pytest.mark.parametrize("value, kwargs, error, match", [
    (np.nan, {}, ValueError, "lr must be finite"),
    (np.inf, {}, ValueError, "lr must be finite"),
    (None, {}, TypeError, "lr must be a number, got None"),
    (False, {}, TypeError, "lr must be a number"),
    (0.0, {"low": 0, "low_open": True}, ValueError, r"lr must be a number in \(0, inf\), got 0"),
    (1.5, {"low": 0, "high": 1}, ValueError, r"in \[0, 1\], got 1.5"),
    (1.0, {"low": 0, "high": 1, "high_open": True}, ValueError, r"in \[0, 1\), got 1"),
])
def test_check_number_refuses(value, kwargs, error, match):
    with pytest.raises(error, match=match):
        validate.check_number(value, "lr", **kwargs)


def test_check_number_returns_a_float():
    got = validate.check_number(np.float32(0.5), "lr", low=0, high=1)
    assert got == 0.5 and type(got) is float


def test_check_one_of():
    assert validate.check_one_of("max", "mode", ("min", "max")) == "max"
    with pytest.raises(ValueError, match="mode must be one of 'max', 'min', got 'auto'"):
        validate.check_one_of("auto", "mode", ("min", "max"))
    with pytest.raises(ValueError, match="mode must be one of"):
        validate.check_one_of(["min"], "mode", {"min", "max"})  # unhashable: refused, not a crash


def test_check_array():
    assert validate.check_array([[1, 2]], "x", ndim=2).shape == (1, 2)
    with pytest.raises(ValueError, match="x must have 1 or 3 axes, got shape"):
        validate.check_array(np.zeros((2, 2)), "x", ndim=(1, 3))
    with pytest.raises(TypeError, match="x must be numeric, got dtype <U1"):
        validate.check_array(["a"], "x")
    with pytest.raises(TypeError, match="integer"):
        validate.check_array([0.5], "x", kind="integer")
    with pytest.raises(ValueError, match="x contains 2 NaN or infinite"):
        validate.check_array([1.0, np.nan, -np.inf], "x", finite=True)
    with pytest.raises(ValueError, match="x is empty"):
        validate.check_array(np.zeros((0, 3)), "x", non_empty=True)
    with pytest.raises(ValueError, match="kind must be one of"):
        validate.check_array([1], "x", kind="complexish")


def test_check_probabilities():
    np.testing.assert_array_equal(validate.check_probabilities([0, 0.5, 1], "p"), [0, 0.5, 1])
    with pytest.raises(ValueError, match=r"p must be probabilities in \[0, 1\], got values from -0.1 to 2"):
        validate.check_probabilities([-0.1, 2.0], "p")
    with pytest.raises(ValueError, match="NaN"):
        validate.check_probabilities([0.2, np.nan], "p")


def test_check_same_length():
    assert validate.check_same_length(("images", [1, 2]), ("labels", [0, 1])) == 2
    with pytest.raises(ValueError, match="images has 2 entries but labels has 3"):
        validate.check_same_length(("images", [1, 2]), ("labels", [0, 1, 1]))
