"""Classification model builders of the chapter *A CNN classification project*.

Two Keras models for small greyscale (or colour) images such as MedMNIST's
28x28 chest X-rays: :func:`source_cnn`, the source article's two-convolution
network adapted to one channel and two classes, and :func:`pneumonia_cnn`,
the chapter's better design (convolution blocks with batch normalisation,
global average pooling and dropout). Both expect images scaled to [0, 1]
with a channel axis (``medlab.train.to_float`` does this) and standardise
them inside the model, so a saved model carries its own preprocessing.

A binary task gets one sigmoid output (the probability of class 1); more
classes get a softmax. TensorFlow is imported inside the functions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def check_images(images: Any, input_shape: Sequence[int] | None = None) -> np.ndarray:
    """Check a batch of images ``(n, height, width, channels)`` and return it as an array.

    Parameters
    ----------
    images
        Array-like of shape ``(n, height, width, channels)``.
    input_shape
        Expected ``(height, width, channels)`` of one image, e.g. a model's
        input shape; ``None`` checks the number of axes only.

    Raises
    ------
    ValueError
        Wrong number of axes, wrong image size or wrong number of channels,
        with a message saying what was expected.
    TypeError
        Not numeric.
    """
    arr = np.asarray(images)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"images must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 4:
        hint = " (add the channel axis: images[..., None])" if arr.ndim == 3 else ""
        raise ValueError(f"images must have shape (n, height, width, channels), got {arr.shape}{hint}")
    if input_shape is not None:
        want = tuple(int(s) for s in input_shape)
        if arr.shape[1:3] != want[:2]:
            raise ValueError(f"images are {arr.shape[1]}x{arr.shape[2]} pixels; the model expects "
                             f"{want[0]}x{want[1]}")
        if arr.shape[3] != want[2]:
            raise ValueError(f"images have {arr.shape[3]} channel(s); the model expects {want[2]}")
    return arr


def check_labels(labels: Any, n_classes: int) -> np.ndarray:
    """Return integer class labels as a flat array, checking they lie in ``0 .. n_classes-1``.

    MedMNIST stores labels as a column ``(n, 1)``; that shape is accepted and flattened.

    Raises
    ------
    ValueError
        Labels that are not whole numbers, not one per image, or out of range.
    """
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"labels must have shape (n,) or (n, 1), got {np.asarray(labels).shape}")
    if arr.size and not np.all(np.equal(np.mod(arr, 1), 0)):
        raise ValueError("labels must be whole numbers (class indices), not probabilities")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1} for {n_classes} classes; "
                         f"found values from {arr.min()} to {arr.max()}")
    return arr


def _classifier_args(input_shape: Sequence[int], n_classes: int) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape must be (height, width, channels), got {tuple(input_shape)}")
    if int(n_classes) < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    return shape  # type: ignore[return-value]


def _classifier_head(x: Any, n_classes: int) -> Any:
    """Output layer: one sigmoid unit for two classes, a softmax otherwise (always float32)."""
    from keras import layers

    if n_classes == 2:
        return layers.Dense(1, activation="sigmoid", dtype="float32", name="probability")(x)
    return layers.Dense(n_classes, activation="softmax", dtype="float32", name="probabilities")(x)


def _classifier_standardise(inputs: Any, mean: float | Sequence[float],
                            variance: float | Sequence[float]) -> Any:
    from keras import layers

    return layers.Normalization(mean=mean, variance=variance, name="standardise")(inputs)


def source_cnn(input_shape: Sequence[int] = (28, 28, 1), n_classes: int = 2,
               mean: float | Sequence[float] = 0.0, variance: float | Sequence[float] = 1.0) -> Any:
    """The source article's CNN: two convolution + pooling stages, then dense layers.

    ``Conv(32, 3x3) -> MaxPool -> Conv(64, 3x3) -> MaxPool -> Flatten -> Dense(64) -> output``,
    adapted from 32x32x3 CIFAR-10 images and 10 classes to ``input_shape`` and ``n_classes``.

    Parameters
    ----------
    input_shape
        ``(height, width, channels)`` of one image.
    n_classes
        Number of classes; 2 gives a single sigmoid output.
    mean, variance
        Pixel statistics of the training images (after scaling to [0, 1]),
        used by the model's first layer to standardise its input.

    Returns
    -------
    keras.Model
        An uncompiled functional model named ``"source_cnn"``.
    """
    import keras
    from keras import layers

    shape = _classifier_args(input_shape, n_classes)
    inputs = keras.Input(shape)
    x = _classifier_standardise(inputs, mean, variance)
    x = layers.Conv2D(32, 3, activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(64, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", name="dense")(x)
    return keras.Model(inputs, _classifier_head(x, int(n_classes)), name="source_cnn")


def pneumonia_cnn(input_shape: Sequence[int] = (28, 28, 1), n_classes: int = 2,
                  widths: Sequence[int] = (16, 32, 64), convs_per_block: int = 2,
                  dropout: float = 0.3, mean: float | Sequence[float] = 0.0,
                  variance: float | Sequence[float] = 1.0) -> Any:
    """The chapter's CNN: convolution blocks, batch normalisation, global pooling, dropout.

    Each block is ``convs_per_block`` times ``Conv(3x3, no bias) -> BatchNorm -> ReLU``;
    blocks are separated by 2x2 max pooling, and the last block is followed by
    global average pooling, dropout and the output layer. The last block's
    output (its final ReLU) is named ``"features"``: Grad-CAM looks there.

    Parameters
    ----------
    input_shape
        ``(height, width, channels)`` of one image.
    n_classes
        Number of classes; 2 gives a single sigmoid output.
    widths
        Number of filters of each block.
    convs_per_block
        Convolutions per block.
    dropout
        Dropout rate before the output layer.
    mean, variance
        Pixel statistics of the training images, for the standardising first layer.

    Returns
    -------
    keras.Model
        An uncompiled functional model named ``"pneumonia_cnn"``.
    """
    import keras
    from keras import layers

    shape = _classifier_args(input_shape, n_classes)
    if not widths or min(int(w) for w in widths) < 1 or int(convs_per_block) < 1:
        raise ValueError("widths must be positive filter counts and convs_per_block at least 1")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    inputs = keras.Input(shape)
    x = _classifier_standardise(inputs, mean, variance)
    n_blocks, n_convs = len(widths), int(convs_per_block)
    for b, width in enumerate(widths, start=1):
        if b > 1:
            x = layers.MaxPooling2D(name=f"pool{b - 1}")(x)
        for c in range(1, n_convs + 1):
            x = layers.Conv2D(int(width), 3, padding="same", use_bias=False, name=f"conv{b}_{c}")(x)
            x = layers.BatchNormalization(name=f"bn{b}_{c}")(x)
            last = b == n_blocks and c == n_convs
            x = layers.ReLU(name="features" if last else f"relu{b}_{c}")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, _classifier_head(x, int(n_classes)), name="pneumonia_cnn")
