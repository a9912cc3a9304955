"""Grad-CAM heatmaps, from the chapter *A CNN classification project*.

Grad-CAM (Selvaraju et al., 2017) weights the feature maps of a late
convolutional layer by the average gradient of the class score with respect
to each map, sums them, keeps the positive part and scales the result to
[0, 1]. The class score is the *logit*, the output layer's value before its
sigmoid or softmax: the gradient of a saturated probability is zero (in
float32, a sigmoid of a logit above about 17 is exactly 1). The chapter writes
it out step by step; this is the same code for reuse. TensorFlow is imported inside the functions only.
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


def output_logits(model: Any) -> tuple[Any, Any]:
    """Split a classifier into "everything before the output activation" and that activation.

    Returns ``(tensor, head)``: ``tensor`` is the symbolic input of the output
    layer, and ``head(h)`` computes the logits from it (the output ``Dense``
    layer's kernel and bias, without its sigmoid or softmax). A model whose
    last layer is a separate ``Activation`` gives that layer's input and the
    identity; a model whose output has no activation gives its output.

    Raises
    ------
    ValueError
        An output layer that is neither ``Dense`` nor ``Activation``.
    """
    from keras import ops

    last = model.layers[-1]
    kind = type(last).__name__
    if kind == "Activation":
        return last.input, lambda h: h
    if kind != "Dense":
        raise ValueError(f"the output layer of {model.name!r} is a {kind}; Grad-CAM needs a Dense "
                         "(or Activation) output layer to find the logits")
    activation = getattr(last.activation, "__name__", "")
    if activation in ("linear", ""):
        return last.output, lambda h: h

    def head(h: Any) -> Any:
        z = ops.matmul(ops.cast(h, "float32"), ops.cast(last.kernel, "float32"))
        return z + ops.cast(last.bias, "float32") if last.use_bias else z

    return last.input, head


def grad_cam(model: Any, images: Any, layer: str | None = None, class_index: int | None = None,
             upsample: bool = True) -> np.ndarray:
    """Grad-CAM heatmaps for a batch of images, from the gradient of the class logit.

    Parameters
    ----------
    model
        A Keras functional model whose last layer is ``Dense`` (with a sigmoid,
        softmax or no activation) or an ``Activation``; binary models have one
        sigmoid output.
    images
        Float images ``(n, height, width, channels)``, as the model takes them.
    layer
        Name of the feature layer; default :func:`last_feature_layer`.
    class_index
        Class to explain. None explains the predicted class of each image.
        For a one-output (sigmoid) model with logit ``z``, 1 explains "class 1"
        (the score is ``z``) and 0 explains "class 0" (the score is ``-z``, the
        logit of class 0); for a softmax model the score is the class's logit.
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
    pre, head = output_logits(model)
    probe = keras.Model(model.input, [model.get_layer(name).output, pre])
    with tf.GradientTape() as tape:
        feats, h = probe(x, training=False)
        tape.watch(feats)
        score = _class_score(tf.cast(head(h), tf.float32), n_out, class_index)
    grads = tf.cast(tape.gradient(score, feats), tf.float32)
    feats = tf.cast(feats, tf.float32)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)  # one weight per feature map
    cam = tf.nn.relu(tf.reduce_sum(weights * feats, axis=-1))
    if upsample:
        cam = tf.image.resize(cam[..., None], tuple(x.shape[1:3]), method="bilinear")[..., 0]
    cam = cam.numpy().astype(np.float64)
    peak = cam.reshape(len(cam), -1).max(axis=1).reshape(-1, 1, 1)
    return np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0)


def _class_score(logits: Any, n_out: int, class_index: int | None) -> Any:
    """Score to differentiate: the logit of the class to explain (``-z`` for class 0 of a sigmoid)."""
    import tensorflow as tf

    if n_out == 1:
        z = logits[:, 0]
        if class_index is None:
            sign = tf.where(z >= 0.0, 1.0, -1.0)  # predicted class: p >= 0.5 exactly when z >= 0
        else:
            sign = 1.0 if int(class_index) == 1 else -1.0
        return sign * z
    idx = tf.argmax(logits, axis=-1) if class_index is None else tf.fill([tf.shape(logits)[0]], class_index)
    return tf.gather(logits, tf.cast(idx, tf.int32), axis=1, batch_dims=1)
