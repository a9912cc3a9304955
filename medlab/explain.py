"""Grad-CAM heatmaps, from the chapter *A CNN classification project*.

Grad-CAM (Selvaraju et al., 2017) weights the feature maps of a late
convolutional layer by the average gradient of the class score with respect
to each map, sums them, keeps the positive part and scales the result to
[0, 1]. The chapter writes it out step by step; this is the same code for
reuse. TensorFlow is imported inside the functions only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medlab.models import check_images


def last_feature_layer(model: Any) -> str:
    """Name of the last layer with a spatial (4-D) output that is not a pooling layer.

    For ``medlab.models.pneumonia_cnn`` this is ``"features"``, for
    ``medlab.models.source_cnn`` it is ``"conv2"``.
    """
    for layer in reversed(model.layers):
        shape = getattr(layer, "output", None)
        shape = getattr(shape, "shape", None)
        if shape is not None and len(shape) == 4 and "Pool" not in type(layer).__name__ \
                and type(layer).__name__ not in ("InputLayer", "Normalization", "Rescaling"):
            return layer.name
    raise ValueError(f"model {model.name!r} has no convolutional (4-D) layer for Grad-CAM")


def grad_cam(model: Any, images: Any, layer: str | None = None, class_index: int | None = None,
             upsample: bool = True) -> np.ndarray:
    """Grad-CAM heatmaps for a batch of images.

    Parameters
    ----------
    model
        A Keras functional model; binary models have one sigmoid output.
    images
        Float images ``(n, height, width, channels)``, as the model takes them.
    layer
        Name of the feature layer; default :func:`last_feature_layer`.
    class_index
        Class to explain. None explains the predicted class of each image.
        For a one-output (sigmoid) model, 1 explains "class 1" (the score is
        the output) and 0 explains "class 0" (the score is minus the output).
    upsample
        Resize the maps bilinearly to the image size (else feature-map size).

    Returns
    -------
    numpy.ndarray
        ``(n, h, w)`` maps with values in [0, 1] (all zeros where no feature
        map supports the class).
    """
    import keras
    import tensorflow as tf

    x = tf.convert_to_tensor(check_images(images, model.input_shape[1:]), dtype=tf.float32)
    name = layer or last_feature_layer(model)
    n_out = int(model.output_shape[-1])
    if class_index is not None and not 0 <= int(class_index) < max(n_out, 2):
        raise ValueError(f"class_index must lie in 0..{max(n_out, 2) - 1}, got {class_index}")
    probe = keras.Model(model.input, [model.get_layer(name).output, model.output])
    with tf.GradientTape() as tape:
        feats, out = probe(x, training=False)
        tape.watch(feats)
        score = _class_score(tf.cast(out, tf.float32), n_out, class_index)
    grads = tf.cast(tape.gradient(score, feats), tf.float32)
    feats = tf.cast(feats, tf.float32)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)  # one weight per feature map
    cam = tf.nn.relu(tf.reduce_sum(weights * feats, axis=-1))
    if upsample:
        cam = tf.image.resize(cam[..., None], tuple(x.shape[1:3]), method="bilinear")[..., 0]
    cam = cam.numpy().astype(np.float64)
    peak = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, 1, 1)
    return np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)


def _class_score(out: Any, n_out: int, class_index: int | None) -> Any:
    import tensorflow as tf

    if n_out == 1:
        p = out[:, 0]
        if class_index is None:
            sign = tf.where(p >= 0.5, 1.0, -1.0)
        else:
            sign = 1.0 if int(class_index) == 1 else -1.0
        return sign * p
    idx = tf.argmax(out, axis=-1) if class_index is None else tf.fill([tf.shape(out)[0]], class_index)
    return tf.gather(out, tf.cast(idx, tf.int32), axis=1, batch_dims=1)
