"""Classification model builders of the chapter *A CNN classification project*.

Two Keras models for small greyscale (or colour) images such as MedMNIST's
28x28 chest X-rays: :func:`source_cnn`, the source article's two-convolution
network with only its input shape and output adapted, and :func:`pneumonia_cnn`,
the chapter's better design (convolution blocks with batch normalisation,
global average pooling and dropout). Both expect images scaled to [0, 1]
with a channel axis (``medlab.train.to_float`` does this); ``pneumonia_cnn``
standardises them inside the model, so a saved model carries its own
preprocessing (``source_cnn`` only when given the statistics).

A binary task gets one sigmoid output (the probability of class 1); more
classes get a softmax. TensorFlow is imported inside the functions only.

U-Net part: introduced in the chapter *U-Net: segmentation shape by shape*
(chapters/unet.ipynb).

3D part (:func:`cnn3d`, :func:`unet3d`): the 3D U-Net of the chapter *Segmentation in 3D:
the hippocampus* (chapters/hippocampus.ipynb) and the 3D CNN of the chapter *Applications*
(chapters/applications.ipynb). The input checks live in :mod:`medlab.validate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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
               mean: float | Sequence[float] | None = None,
               variance: float | Sequence[float] | None = None) -> Any:
    """The source article's CNN, layer for layer: two convolution + pooling stages, one dense layer.

    ``Conv(32, 3x3, ReLU) -> MaxPool(2x2) -> Conv(64, 3x3, ReLU) -> MaxPool(2x2) -> Flatten ->
    Dense(n_classes)``, exactly the network of the article's section 5.1 (there is no hidden
    dense layer). Only the two ends are adapted: ``input_shape`` (the article declares
    256x256x3 for 32x32x3 CIFAR-10 images) and the output (10 softmax units in the article;
    one sigmoid unit for two classes, ``n_classes`` softmax units otherwise). On
    ``input_shape=(32, 32, 3), n_classes=10`` it has 42,442 parameters, like the article's
    model on CIFAR-10 input.

    Parameters
    ----------
    input_shape
        ``(height, width, channels)`` of one image.
    n_classes
        Number of classes; 2 gives a single sigmoid output.
    mean, variance
        Optional pixel statistics of the training images: when both are given, a
        standardising ``Normalization`` layer (no trainable weights) is put in front.
        The article has none; the default leaves it out.

    Returns
    -------
    keras.Model
        An uncompiled functional model named ``"source_cnn"``.
    """
    import keras
    from keras import layers

    shape = _classifier_args(input_shape, n_classes)
    if (mean is None) != (variance is None):
        raise ValueError("give both mean and variance (to standardise the input) or neither")
    inputs = keras.Input(shape)
    x = inputs if mean is None else _classifier_standardise(inputs, mean, variance)
    x = layers.Conv2D(32, 3, activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(64, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, _classifier_head(x, int(n_classes)), name="source_cnn")


def pneumonia_cnn(input_shape: Sequence[int] = (28, 28, 1), *, n_classes: int = 2,
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


UNET_UPSAMPLING = ("transpose", "upsample")
"""Up-step variants of :func:`unet`: a learned 2x2 transposed convolution with stride 2, or
nearest-neighbour upsampling by 2 followed by a 3x3 convolution."""


UNET_NORMS = (None, "batch", "instance")
"""Normalisation options of :func:`unet`."""


def _unet_check(input_shape: tuple[int, ...], n_classes: int, base_filters: int, depth: int,
                upsampling: str, ndim: int = 2) -> None:
    axes = ("height, width" if ndim == 2 else "depth, height, width")
    if len(input_shape) != ndim + 1 or any(not isinstance(s, int) or s < 1 for s in input_shape):
        raise ValueError(f"input_shape must be ({axes}, channels) of positive ints, "
                         f"got {input_shape!r}")
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive integer (number of poolings), got {depth!r}")
    spatial = input_shape[:-1]
    if any(s % 2**depth for s in spatial):
        raise ValueError(f"{axes} must be divisible by 2**depth = {2**depth} so that every "
                         f"pooling halves them exactly; got {'x'.join(map(str, spatial))}. "
                         "Pad or crop the images first.")
    if not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    if not isinstance(base_filters, int) or base_filters < 1:
        raise ValueError(f"base_filters must be a positive integer, got {base_filters!r}")
    if upsampling not in UNET_UPSAMPLING:
        raise ValueError(f"upsampling must be one of {UNET_UPSAMPLING}, got {upsampling!r}")


def _layers_nd(ndim: int) -> dict[str, Any]:
    """Keras layer classes of a 2D or 3D network (the only difference between the two)."""
    from keras import layers

    if ndim == 2:
        return {"conv": layers.Conv2D, "pool": layers.MaxPooling2D, "tconv": layers.Conv2DTranspose,
                "upsample": layers.UpSampling2D}
    return {"conv": layers.Conv3D, "pool": layers.MaxPooling3D, "tconv": layers.Conv3DTranspose,
            "upsample": layers.UpSampling3D}


def _unet_block(x: Any, filters: int, name: str, norm: str | None, ndim: int = 2) -> Any:
    """Two 3x3 (3x3x3 in 3D) 'same' convolutions with ReLU (optionally normalised): size kept."""
    from keras import layers

    conv = _layers_nd(ndim)["conv"]
    for i in (1, 2):
        x = conv(filters, 3, padding="same", use_bias=norm is None,
                 activation="relu" if norm is None else None, name=f"{name}_conv{i}")(x)
        if norm == "batch":
            x = layers.BatchNormalization(momentum=0.9, name=f"{name}_norm{i}")(x)
        elif norm == "instance":
            x = layers.GroupNormalization(groups=-1, name=f"{name}_norm{i}")(x)
        if norm is not None:
            x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return x


def _unet_nd(ndim: int, input_shape: Sequence[int], n_classes: int, base_filters: int, depth: int,
             upsampling: str, skip: bool, norm: str | None) -> Any:
    """The U-Net graph shared by :func:`unet` (``ndim=2``) and :func:`unet3d` (``ndim=3``)."""
    import keras
    from keras import layers

    input_shape = tuple(input_shape)
    _unet_check(input_shape, n_classes, base_filters, depth, upsampling, ndim)
    if norm not in UNET_NORMS:
        raise ValueError(f"norm must be one of {UNET_NORMS}, got {norm!r}")
    nd = _layers_nd(ndim)
    inputs = keras.Input(shape=input_shape, name="input")
    x, skips = inputs, {}
    for k in range(1, depth + 1):
        x = _unet_block(x, base_filters * 2 ** (k - 1), f"enc{k}", norm, ndim)
        skips[k] = x
        x = nd["pool"](2, name=f"enc{k}_pool")(x)
    x = _unet_block(x, base_filters * 2**depth, "bottleneck", norm, ndim)
    for k in range(depth, 0, -1):
        filters = base_filters * 2 ** (k - 1)
        if upsampling == "transpose":
            x = nd["tconv"](filters, 2, strides=2, name=f"dec{k}_up")(x)
        else:
            x = nd["upsample"](2, name=f"dec{k}_upsample")(x)
            x = nd["conv"](filters, 3, padding="same", activation="relu", name=f"dec{k}_up")(x)
        if skip:
            x = layers.Concatenate(name=f"dec{k}_concat")([x, skips[k]])
        x = _unet_block(x, filters, f"dec{k}", norm, ndim)
    activation = "sigmoid" if n_classes == 1 else "softmax"
    outputs = nd["conv"](n_classes, 1, activation=activation, name="output")(x)
    name = ("unet" if ndim == 2 else "unet3d") if skip else "encoder_decoder_no_skips"
    return keras.Model(inputs, outputs, name=name)


def unet(input_shape: tuple[int, int, int] = (256, 256, 3), n_classes: int = 2, *, base_filters: int = 64,
         depth: int = 4, upsampling: str = "transpose", skip: bool = True,
         norm: str | None = None) -> Any:
    """Build a 2D U-Net (Ronneberger et al. 2015) with 'same' padding.

    Encoder level ``k`` (1..depth) applies two 3x3 convolutions with
    ``base_filters * 2**(k-1)`` filters and a 2x2 max pooling; the bottleneck
    has ``base_filters * 2**depth`` filters; each decoder level doubles the
    size once (its *up-step*), concatenates the encoder's feature maps of the
    same size (the skip connection) and applies two 3x3 convolutions; a 1x1
    convolution gives per-pixel class probabilities. Layers are named
    ``enc{k}_conv1``, ``enc{k}_pool``, ``bottleneck_conv1``, ``dec{k}_up``,
    ``dec{k}_concat``, ``dec{k}_conv1``, ..., ``output``.

    Parameters
    ----------
    input_shape
        ``(height, width, channels)``; height and width divisible by ``2**depth``.
    n_classes
        Number of output classes: softmax over classes, or a sigmoid when 1.
    base_filters
        Filters of the first level (64 in the original paper).
    depth
        Number of poolings (4 in the original paper).
    upsampling
        ``"transpose"``: 2x2 transposed convolution, stride 2 (learned); or
        ``"upsample"``: nearest-neighbour upsampling x2, then a 3x3 convolution.
        Either way the up-step doubles the size once and halves the channels.
    skip
        With False the concatenations are left out (an encoder-decoder without
        skip connections), for the chapter's experiment.
    norm
        Normalisation after every 3x3 convolution (not in the original): None,
        ``"batch"`` (batch normalisation, momentum 0.9) or ``"instance"``
        (instance normalisation: each image and channel on its own, so training
        and prediction compute the same thing, as in nnU-Net).

    Returns
    -------
    keras.Model
    """
    return _unet_nd(2, input_shape, n_classes, base_filters, depth, upsampling, skip, norm)


def unet3d(input_shape: tuple[int, int, int, int] = (48, 64, 48, 1), n_classes: int = 3,
           *, base_filters: int = 8, depth: int = 3, upsampling: str = "transpose", skip: bool = True,
           norm: str | None = "instance") -> Any:
    """Build a 3D U-Net (Cicek et al. 2016): :func:`unet` with 3x3x3 convolutions.

    The same graph and layer names as :func:`unet`, built from ``Conv3D``,
    ``MaxPooling3D`` (2x2x2) and ``Conv3DTranspose`` (2x2x2, stride 2): every
    pooling halves depth, height and width, every up-step doubles them.
    Introduced in the chapter *Segmentation in 3D: the hippocampus*
    (chapters/hippocampus.ipynb).

    Parameters
    ----------
    input_shape
        ``(depth, height, width, channels)``; each spatial size divisible by
        ``2**depth`` (pad the volume first, e.g. with
        :func:`medlab.hippocampus.pad_to_multiple`).
    n_classes, base_filters, depth, upsampling, skip, norm
        As in :func:`unet` (default: instance normalisation, as in nnU-Net).

    Returns
    -------
    keras.Model
    """
    return _unet_nd(3, input_shape, n_classes, base_filters, depth, upsampling, skip, norm)


def unet_table(model: Any) -> list[dict[str, Any]]:
    """Shape table of a built model: one row per layer, read from the model itself.

    Returns
    -------
    list of dict
        ``layer`` (name), ``kind`` (Keras class), ``inputs`` (names of the
        layers feeding it), ``height``, ``width``, ``channels`` (of the output)
        and ``params`` (trainable and non-trainable weights).
    """
    from medlab.validate import check_model

    check_model(model)
    rows = []
    for layer in model.layers:
        shape = tuple(layer.output.shape)
        if len(shape) != 4:
            raise ValueError(f"layer {layer.name!r} has output shape {shape}; expected (batch, h, w, c)")
        parents = []
        if hasattr(layer, "_inbound_nodes") and layer._inbound_nodes:
            parents = [t._keras_history[0].name for t in layer._inbound_nodes[0].input_tensors]
        rows.append({"layer": layer.name, "kind": type(layer).__name__, "inputs": parents,
                     "height": shape[1], "width": shape[2], "channels": shape[3],
                     "params": int(layer.count_params())})
    return rows


def cnn3d(input_shape: Sequence[int] = (28, 28, 28, 1), *, n_classes: int = 2,
          widths: Sequence[int] = (16, 32, 64), stem_stride: int = 2, dropout: float = 0.3,
          mean: float = 0.0, variance: float = 1.0) -> Any:
    """A small 3D CNN for volumes such as AdrenalMNIST3D and VesselMNIST3D.

    A stem ``Conv3D(widths[0], 3x3x3, stride stem_stride) -> BatchNorm -> ReLU``
    (stride 2 halves every axis at once, so the expensive full-resolution
    feature maps are never stored), then for each further width a 2x2x2 max
    pooling (except before the first) and two ``Conv3D(3x3x3, no bias) ->
    BatchNorm -> ReLU``; then global average pooling, dropout and the output.
    Batch normalisation uses momentum 0.9: with about 40 batches per epoch the
    default 0.99 leaves the running statistics far from the data for several
    epochs. The last ReLU is named ``"features"``.

    Parameters
    ----------
    input_shape
        ``(depth, height, width, channels)`` of one volume.
    n_classes
        Number of classes; 2 gives a single sigmoid output.
    widths
        Filters of the stem, then of each block (at least two entries).
    stem_stride
        Stride of the stem convolution (1 keeps the full resolution).
    dropout
        Dropout rate before the output layer.
    mean, variance
        Voxel statistics of the training volumes, for the standardising first layer.

    Returns
    -------
    keras.Model
        An uncompiled functional model named ``"cnn3d"``.
    """
    import keras
    from keras import layers

    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"input_shape must be (depth, height, width, channels), got {tuple(input_shape)}")
    if int(n_classes) < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    widths = [int(w) for w in widths]
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"widths must hold at least two positive filter counts, got {widths}")
    if int(stem_stride) not in (1, 2):
        raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    smallest = min(shape[:3]) // int(stem_stride) // 2 ** (len(widths) - 2)
    if smallest < 1:
        raise ValueError(f"{len(widths) - 2} poolings after a stride-{stem_stride} stem shrink a "
                         f"{shape[:3]} volume below one voxel; use fewer widths")
    inputs = keras.Input(shape)
    x = layers.Normalization(mean=mean, variance=variance, name="standardise")(inputs)
    x = layers.Conv3D(widths[0], 3, strides=int(stem_stride), padding="same", use_bias=False,
                      name="stem_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for b, width in enumerate(widths[1:], start=1):
        if b > 1:
            x = layers.MaxPooling3D(name=f"pool{b - 1}")(x)
        for c in (1, 2):
            x = layers.Conv3D(width, 3, padding="same", use_bias=False, name=f"conv{b}_{c}")(x)
            x = layers.BatchNormalization(momentum=0.9, name=f"bn{b}_{c}")(x)
            last = b == len(widths) - 1 and c == 2
            x = layers.ReLU(name="features" if last else f"relu{b}_{c}")(x)
    x = layers.GlobalAveragePooling3D(name="global_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, _classifier_head(x, int(n_classes)), name="cnn3d")
