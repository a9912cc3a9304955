"""Attribution maps: Grad-CAM (chapter *A CNN classification project*) and the methods of the
chapter *Can we trust the model?* (chapters/interpretability.ipynb).

Grad-CAM (Selvaraju et al., 2017) weights the feature maps of a late
convolutional layer by the average gradient of the class score with respect
to each map, sums them, keeps the positive part and scales the result to
[0, 1]. The class score is the *logit*, the output layer's value before its
sigmoid or softmax: the gradient of a saturated probability is zero (in
float32, a sigmoid of a logit above about 17 is exactly 1). The chapter writes
it out step by step; this is the same code for reuse.

The interpretability chapter adds occlusion sensitivity (Zeiler and Fergus,
2014), plain gradients and integrated gradients (Sundararajan et al., 2017,
whose attributions add up to ``f(x) - f(baseline)``), all of the class logit;
the helpers of the sanity checks of Adebayo et al. (2018): copies of a model
with layers re-initialised, and the similarity of two sets of maps (Spearman
rank correlation and SSIM); and deletion / insertion curves (Petsiuk et al.,
2018). TensorFlow is imported inside the functions only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medlab.validate import check_array, check_finite, check_images, check_int


def _graph(model: Any) -> Any:
    """The functional graph of a Keras model: the model itself, or, for a built
    ``keras.Sequential``, a functional model over the same layers (public API:
    ``keras.Model(model.inputs, model.outputs)``; the layers and weights are shared)."""
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a Keras model, got {type(model).__name__}")
    if isinstance(model, keras.Sequential):
        try:
            inputs, outputs = list(model.inputs or []), list(model.outputs or [])
        except (AttributeError, ValueError):
            inputs, outputs = [], []
        if not inputs or not outputs:
            raise ValueError(f"the Sequential model {model.name!r} has no input shape yet: start it "
                             "with keras.Input(shape) or call model.build((None, *shape)) first")
        return keras.Model(inputs[0] if len(inputs) == 1 else inputs,
                           outputs[0] if len(outputs) == 1 else outputs, name=model.name)
    return model


def last_feature_layer(model: Any) -> str:
    """Name of the last layer with a spatial (4-D) output that is not a pooling layer.

    For ``medlab.models.pneumonia_cnn`` this is ``"features"``, for
    ``medlab.models.source_cnn`` it is ``"conv2"``.
    """
    model = _graph(model)
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

    model = _graph(model)
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


def grad_cam(model: Any, images: Any, *, layer: str | None = None, class_index: int | None = None,
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

    _graph(model)
    x = tf.convert_to_tensor(check_images(images, model.input_shape[1:]), dtype=tf.float32)
    name = layer or last_feature_layer(model)
    n_out = int(model.output_shape[-1])
    if class_index is not None and not 0 <= int(class_index) < max(n_out, 2):
        raise ValueError(f"class_index must lie in 0..{max(n_out, 2) - 1}, got {class_index}")
    pre, head = output_logits(model)
    probe = keras.Model(_graph(model).input, [model.get_layer(name).output, pre])
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


# --- chapter *Can we trust the model?* (chapters/interpretability.ipynb) --------------------------


def _classes(model: Any, x: np.ndarray, class_index: Any) -> np.ndarray:
    """One class per image: ``class_index`` (an int or one per image) or the predicted class."""
    n_out = int(model.output_shape[-1])
    n_classes = max(n_out, 2)
    if class_index is None:
        z = logits(model, x)
        return (z[:, 0] >= 0).astype(np.int64) if n_out == 1 else np.argmax(z, axis=1)
    cls = np.broadcast_to(np.asarray(class_index), (len(x),)).astype(np.int64)
    if cls.min() < 0 or cls.max() >= n_classes:
        raise ValueError(f"class_index must lie in 0..{n_classes - 1}, got {class_index}")
    return cls


def _score(model: Any, x: Any, classes: Any) -> Any:
    """Differentiable logit of the given class per image (``-z`` for class 0 of a sigmoid model)."""
    import tensorflow as tf

    pre, head = output_logits(model)
    z = tf.cast(head(_pre_model(model, pre)(x, training=False)), tf.float32)
    if z.shape[-1] == 1:
        return tf.where(tf.equal(classes, 1), z[:, 0], -z[:, 0])
    return tf.gather(z, tf.cast(classes, tf.int32), axis=1, batch_dims=1)


_PRE_CACHE: dict[int, Any] = {}


def _pre_model(model: Any, pre: Any) -> Any:
    import keras

    key = id(model)
    if key not in _PRE_CACHE or _PRE_CACHE[key][0] is not model:
        _PRE_CACHE[key] = (model, keras.Model(_graph(model).input, pre))
    return _PRE_CACHE[key][1]


def logits(model: Any, images: Any, batch_size: int = 512) -> np.ndarray:
    """The output layer's values before its sigmoid or softmax, ``(n, n_outputs)``."""
    import tensorflow as tf

    _graph(model)
    x = check_images(images, model.input_shape[1:]).astype(np.float32)
    pre, head = output_logits(model)
    probe = _pre_model(model, pre)
    out = [np.asarray(tf.cast(head(probe(x[i:i + batch_size], training=False)), tf.float32))
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float64)


def class_logit(model: Any, images: Any, class_index: Any = None) -> np.ndarray:
    """The score every attribution method here explains: the logit of the class, one per image.

    For a one-output (sigmoid) model with logit ``z`` it is ``z`` for class 1 and ``-z``
    for class 0; ``class_index`` None takes the predicted class of each image.
    """
    _graph(model)
    x = check_images(images, model.input_shape[1:]).astype(np.float32)
    z = logits(model, x)
    cls = _classes(model, x, class_index)
    if z.shape[1] == 1:
        return np.where(cls == 1, z[:, 0], -z[:, 0])
    return z[np.arange(len(z)), cls]


def _gradients(model: Any, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    xt = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        score = _score(model, xt, tf.constant(classes))
    return np.asarray(tape.gradient(score, xt), dtype=np.float64)


def gradient_map(model: Any, images: Any, class_index: Any = None) -> np.ndarray:
    """Plain gradient ("saliency") of the class logit with respect to every input pixel.

    Returns an array shaped like ``images``.
    """
    _graph(model)
    x = check_images(images, model.input_shape[1:]).astype(np.float32)
    return _gradients(model, x, _classes(model, x, class_index))


def integrated_gradients(model: Any, images: Any, *, baseline: Any = 0.0, steps: int = 32,
                         class_index: Any = None, batch_size: int = 512) -> np.ndarray:
    """Integrated gradients of the class logit (Sundararajan et al., 2017), trapezoidal rule.

    ``IG_i = (x_i - x'_i) * integral_0^1 d f(x' + a (x - x')) / d x_i da``, with ``f`` the
    logit of the explained class and ``x'`` the baseline. The integral is approximated
    with the trapezoidal rule on ``steps`` intervals; the attributions then sum to
    ``f(x) - f(x')`` up to a discretisation error that shrinks with ``steps``
    (the completeness axiom; check it with :func:`class_logit`).

    Parameters
    ----------
    model
        A Keras classifier with a ``Dense`` (or ``Activation``) output layer.
    images
        ``(n, height, width, channels)`` as the model takes them.
    baseline
        A number, an array broadcastable to one image (default: black, 0), or one
        baseline per image (an array shaped like ``images``).
    steps
        Number of intervals of the path (at least 1).
    class_index
        Class to explain (an int, one per image, or None for the predicted class).

    Returns
    -------
    numpy.ndarray
        Attributions shaped like ``images``.
    """
    steps = check_int(steps, "steps", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    x = check_finite(check_images(images, model.input_shape[1:]), "images").astype(np.float64)
    b = check_array(baseline, "baseline", finite=True).astype(np.float64)
    if b.ndim == x.ndim and b.shape[0] == len(x) and b.shape[1:] == x.shape[1:]:
        base = b  # one baseline per image
    elif b.ndim == x.ndim and b.shape[0] == 1 and b.shape[1:] == x.shape[1:]:
        base = b[0]  # one image-shaped baseline for all
    else:
        try:
            base = np.broadcast_to(b, x.shape[1:])
        except ValueError:
            raise ValueError(f"baseline must be a number, broadcastable to one image {x.shape[1:]} or "
                             f"shaped like images {x.shape}; got shape {b.shape}") from None
    classes = _classes(model, x.astype(np.float32), class_index)
    alphas = np.linspace(0.0, 1.0, steps + 1)
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] /= 2  # trapezoidal rule
    total = np.zeros_like(x)
    per = max(1, batch_size // (steps + 1))
    for i in range(0, len(x), per):
        xi = x[i:i + per]
        bi = base[i:i + per] if base.ndim == x.ndim else base[None]
        path = bi[:, None] + alphas[None, :, None, None, None] * (xi - bi)[:, None]  # (b, steps+1, ...)
        cls = np.repeat(classes[i:i + per], steps + 1)
        g = _gradients(model, path.reshape(-1, *x.shape[1:]).astype(np.float32), cls)
        g = g.reshape(len(xi), steps + 1, *x.shape[1:])
        total[i:i + per] = np.tensordot(weights, g, axes=([0], [1]))
    return (x - (base if base.ndim == x.ndim else base[None])) * total


def _positions(size: int, patch: int, stride: int) -> list[int]:
    pos = list(range(0, size - patch + 1, stride))
    if pos[-1] != size - patch:
        pos.append(size - patch)  # cover the last rows / columns too
    return pos


def occlusion(model: Any, images: Any, *, patch: int = 4, stride: int = 2, fill: Any = 0.0,
              class_index: Any = None, batch_size: int = 512) -> np.ndarray:
    """Occlusion sensitivity (Zeiler and Fergus, 2014): how much the class logit drops
    when a square patch is replaced by ``fill``.

    Every pixel gets the mean drop over the patches that cover it; positive values
    mean "hiding this region lowers the score". Each image costs about
    ``(size / stride)**2`` forward passes.

    Returns
    -------
    numpy.ndarray
        ``(n, height, width)`` maps.
    """
    _graph(model)
    x = check_images(images, model.input_shape[1:]).astype(np.float32)
    h, w = x.shape[1:3]
    if not (isinstance(patch, (int, np.integer)) and isinstance(stride, (int, np.integer))) \
            or not 1 <= patch <= min(h, w) or stride < 1:
        raise ValueError(f"patch must be an integer in 1..{min(h, w)} and stride a positive integer; "
                         f"got patch={patch!r}, stride={stride!r}")
    classes = _classes(model, x, class_index)
    full = class_logit(model, x, classes)
    boxes = [(r, c) for r in _positions(h, patch, stride) for c in _positions(w, patch, stride)]
    drop, count = np.zeros((len(x), h, w)), np.zeros((h, w))
    for r, c in boxes:
        count[r:r + patch, c:c + patch] += 1
    for i in range(len(x)):
        batch = np.repeat(x[i:i + 1], len(boxes), axis=0)
        for k, (r, c) in enumerate(boxes):
            batch[k, r:r + patch, c:c + patch] = fill
        scores = np.concatenate([class_logit(model, batch[j:j + batch_size], classes[i])
                                 for j in range(0, len(batch), batch_size)])
        for (r, c), s in zip(boxes, scores, strict=True):
            drop[i, r:r + patch, c:c + patch] += full[i] - s
    return drop / count


def weighted_layers(model: Any) -> list[str]:
    """Names of the layers with a kernel (convolutions, dense), from the output down.

    The order of the cascading randomisation of Adebayo et al. (2018): re-initialise the
    top layer, then the top two, and so on down to the first convolution.
    """
    _graph(model)
    names = [layer.name for layer in model.layers if getattr(layer, "kernel", None) is not None]
    if not names:
        raise ValueError(f"model {model.name!r} has no layer with a kernel to randomise")
    return names[::-1]


def randomized_copy(model: Any, layers: Any, seed: int = 0, *, batchnorm: bool = False) -> Any:
    """A copy of ``model`` whose named layers get freshly initialised kernels (and zero biases).

    The kernels are drawn from each layer's own initialiser with ``seed``; every other
    weight is copied unchanged, and the original model is not modified. By default that
    includes the batch-normalisation layers (their scale and offset and their running mean
    and variance); with ``batchnorm=True`` every ``BatchNormalization`` layer of the model
    is reset as well, to a scale of 1, an offset of 0, a running mean of 0 and a running
    variance of 1 (the values Keras starts from), as Adebayo et al. (2018) re-initialised
    every trainable variable of the randomised blocks.

    Raises
    ------
    ValueError
        A name that is not a layer with a kernel.
    """
    import keras

    names = [layers] if isinstance(layers, str) else list(layers)
    with_kernel = set(weighted_layers(model))
    unknown = [n for n in names if n not in with_kernel]
    if unknown:
        raise ValueError(f"no layer with a kernel named {unknown} in {model.name!r}; "
                         f"choose from {sorted(with_kernel)}")
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for k, name in enumerate(names):
        layer = copy.get_layer(name)
        cls = type(layer.kernel_initializer)
        init = cls.from_config({**layer.kernel_initializer.get_config(), "seed": int(seed) * 1000 + k})
        layer.kernel.assign(init(tuple(layer.kernel.shape), dtype=layer.kernel.dtype))
        if getattr(layer, "bias", None) is not None:
            layer.bias.assign(np.zeros(tuple(layer.bias.shape), dtype="float32"))
    if batchnorm:
        for layer in copy.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                for var, value in ((layer.gamma, 1.0), (layer.beta, 0.0),
                                   (layer.moving_mean, 0.0), (layer.moving_variance, 1.0)):
                    if var is not None:
                        var.assign(np.full(tuple(var.shape), value, dtype="float32"))
    return copy


def importance(maps: Any) -> np.ndarray:
    """Turn attributions into importance maps ``(n, h, w)`` in [0, 1]: absolute value, summed
    over channels, divided by each map's maximum (all-zero maps stay zero)."""
    a = np.abs(check_array(maps, "maps", finite=True).astype(np.float64))
    if a.ndim == 4:
        a = a.sum(axis=-1)
    if a.ndim != 3:
        raise ValueError(f"maps must have shape (n, h, w) or (n, h, w, channels), got {a.shape}")
    peak = a.reshape(len(a), -1).max(axis=1)[:, None, None]
    return np.divide(a, peak, out=np.zeros_like(a), where=peak > 0)


def _signed(maps: Any) -> np.ndarray:
    """Maps ``(n, h, w)`` with their sign, summed over channels, divided by each map's largest
    absolute value (all-zero maps stay zero): values in [-1, 1]."""
    m = np.asarray(maps, dtype=np.float64)
    if m.ndim == 4:
        m = m.sum(axis=-1)
    if m.ndim != 3:
        raise ValueError(f"maps must have shape (n, h, w) or (n, h, w, channels), got {m.shape}")
    peak = np.abs(m).reshape(len(m), -1).max(axis=1)[:, None, None]
    return np.divide(m, peak, out=np.zeros_like(m), where=peak > 0)


def map_similarity(a: Any, b: Any, *, absolute: bool = True) -> dict[str, np.ndarray]:
    """Similarity of two sets of maps, image by image: Spearman rank correlation and SSIM.

    By default both sets go through :func:`importance` first (absolute values scaled to
    [0, 1]), as in the sanity checks of Adebayo et al. (2018); ``absolute=False`` keeps the
    sign (channels summed, each map divided by its largest absolute value), their "diverging"
    comparison, in which a map whose evidence changes sign no longer correlates. Spearman's
    rho compares the pixel rankings (``scipy.stats.spearmanr``); SSIM
    (``skimage.metrics.structural_similarity``, data range 1, or 2 for signed maps) compares
    local structure. A constant map has no ranking: its rho is NaN.

    Returns
    -------
    dict
        ``{"spearman": (n,), "ssim": (n,)}``.
    """
    from scipy.stats import spearmanr
    from skimage.metrics import structural_similarity

    ia, ib = (importance(a), importance(b)) if absolute else (_signed(a), _signed(b))
    if ia.shape != ib.shape:
        raise ValueError(f"the two sets of maps differ in shape: {ia.shape} vs {ib.shape}")
    rho = np.full(len(ia), np.nan)
    for i, (p, q) in enumerate(zip(ia, ib, strict=True)):
        if np.ptp(p) > 0 and np.ptp(q) > 0:
            rho[i] = spearmanr(p.ravel(), q.ravel())[0]
    data_range = 1.0 if absolute else 2.0
    ssim = np.array([structural_similarity(p, q, data_range=data_range) for p, q in zip(ia, ib, strict=True)])
    return {"spearman": rho, "ssim": ssim}


def pixel_order(maps: Any, seed: int = 0) -> np.ndarray:
    """Pixel indices of each map from most to least important, ties broken at random (seeded)."""
    m = np.asarray(maps, dtype=np.float64)
    if m.ndim == 4:
        m = m.sum(axis=-1)
    if m.ndim != 3:
        raise ValueError(f"maps must have shape (n, h, w), got {m.shape}")
    rng = np.random.default_rng(seed)
    flat = m.reshape(len(m), -1)
    return np.stack([np.lexsort((rng.random(flat.shape[1]), -row)) for row in flat])


def deletion_insertion(model: Any, images: Any, maps: Any, *, steps: int = 28, fill: Any = 0.0,
                       class_index: Any = 1, seed: int = 0,
                       output: str = "probability") -> dict[str, np.ndarray]:
    """Deletion and insertion curves (Petsiuk et al., 2018) of a set of maps.

    *Deletion* replaces the pixels by ``fill``, most important first, and records the
    probability of the explained class after each of ``steps`` equal portions; a good
    map makes it fall fast (small area under the curve). *Insertion* starts from the
    ``fill`` image and puts the pixels back in the same order; a good map makes the
    probability rise fast (large area). ``fill`` is a number or an array shaped like
    ``images`` (e.g. a blurred copy, which removes detail but keeps the brightness).
    ``output="logit"`` follows the class logit instead of the probability, for models
    whose probabilities saturate at 0 or 1.

    Returns
    -------
    dict
        ``fraction`` (steps + 1,), ``deletion`` and ``insertion`` (n, steps + 1), and their
        areas ``deletion_auc`` and ``insertion_auc`` (n,) by the trapezoidal rule.
    """
    _graph(model)
    x = check_images(images, model.input_shape[1:]).astype(np.float32)
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if output not in ("probability", "logit"):
        raise ValueError(f"output must be 'probability' or 'logit', got {output!r}")
    n, h, w, c = x.shape
    order = pixel_order(maps, seed)
    if order.shape != (n, h * w):
        raise ValueError(f"need one ({h}, {w}) map per image, got maps for shape {np.shape(maps)}")
    classes = _classes(model, x, class_index)
    cuts = np.round(np.linspace(0, h * w, steps + 1)).astype(int)
    filled = np.broadcast_to(np.asarray(fill, np.float32), x.shape).reshape(n, h * w, c)
    out = {}
    for kind in ("deletion", "insertion"):
        batch = np.empty((n, steps + 1, h * w, c), np.float32)
        for i in range(n):
            start, end = (x[i].reshape(h * w, c), filled[i])[:: 1 if kind == "deletion" else -1]
            for k, cut in enumerate(cuts):
                img = start.copy()
                img[order[i, :cut]] = end[order[i, :cut]]
                batch[i, k] = img
        flat, cls = batch.reshape(-1, h, w, c), np.repeat(classes, steps + 1)
        if output == "logit":
            prob = class_logit(model, flat, cls)
        elif model.output_shape[-1] == 1:
            prob = 1.0 / (1.0 + np.exp(-class_logit(model, flat, cls)))
        else:
            prob = _softmax_prob(model, flat, cls)
        out[kind] = prob.reshape(n, steps + 1)
    fraction = cuts / (h * w)
    out["fraction"] = fraction
    out["deletion_auc"] = np.trapezoid(out["deletion"], fraction, axis=1)
    out["insertion_auc"] = np.trapezoid(out["insertion"], fraction, axis=1)
    return out


def _softmax_prob(model: Any, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    z = logits(model, x)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True))[np.arange(len(z)), classes]
