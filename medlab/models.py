"""Keras models of the book.

U-Net part: introduced in the chapter *U-Net: segmentation shape by shape*
(chapters/unet.ipynb). TensorFlow/Keras is imported inside the functions, so
that ``import medlab.models`` stays light.
"""

from __future__ import annotations

from typing import Any

# --- U-Net (chapter unet) -------------------------------------------------------------------------

UNET_UPSAMPLING = ("transpose", "upsample")
"""Up-step variants of :func:`unet`: a learned 2x2 transposed convolution with stride 2, or
nearest-neighbour upsampling by 2 followed by a 3x3 convolution."""


UNET_NORMS = (None, "batch", "instance")
"""Normalisation options of :func:`unet`."""


def _unet_check(input_shape: tuple[int, int, int], n_classes: int, base_filters: int, depth: int,
                upsampling: str) -> None:
    if len(input_shape) != 3 or any(not isinstance(s, int) or s < 1 for s in input_shape):
        raise ValueError(f"input_shape must be (height, width, channels) of positive ints, "
                         f"got {input_shape!r}")
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive integer (number of poolings), got {depth!r}")
    h, w, _ = input_shape
    if h % 2**depth or w % 2**depth:
        raise ValueError(f"height and width must be divisible by 2**depth = {2**depth} so that every "
                         f"pooling halves them exactly; got {h}x{w}. Pad or crop the images first.")
    if not isinstance(n_classes, int) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    if not isinstance(base_filters, int) or base_filters < 1:
        raise ValueError(f"base_filters must be a positive integer, got {base_filters!r}")
    if upsampling not in UNET_UPSAMPLING:
        raise ValueError(f"upsampling must be one of {UNET_UPSAMPLING}, got {upsampling!r}")


def _unet_block(x: Any, filters: int, name: str, norm: str | None) -> Any:
    """Two 3x3 'same' convolutions with ReLU (optionally normalised): size kept."""
    from keras import layers

    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=norm is None,
                          activation="relu" if norm is None else None, name=f"{name}_conv{i}")(x)
        if norm == "batch":
            x = layers.BatchNormalization(momentum=0.9, name=f"{name}_norm{i}")(x)
        elif norm == "instance":
            x = layers.GroupNormalization(groups=-1, name=f"{name}_norm{i}")(x)
        if norm is not None:
            x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
    return x


def unet(input_shape: tuple[int, int, int] = (256, 256, 3), n_classes: int = 2, base_filters: int = 64,
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
    import keras
    from keras import layers

    input_shape = tuple(input_shape)
    _unet_check(input_shape, n_classes, base_filters, depth, upsampling)
    if norm not in UNET_NORMS:
        raise ValueError(f"norm must be one of {UNET_NORMS}, got {norm!r}")
    inputs = keras.Input(shape=input_shape, name="input")
    x, skips = inputs, {}
    for k in range(1, depth + 1):
        x = _unet_block(x, base_filters * 2 ** (k - 1), f"enc{k}", norm)
        skips[k] = x
        x = layers.MaxPooling2D(2, name=f"enc{k}_pool")(x)
    x = _unet_block(x, base_filters * 2**depth, "bottleneck", norm)
    for k in range(depth, 0, -1):
        filters = base_filters * 2 ** (k - 1)
        if upsampling == "transpose":
            x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"dec{k}_up")(x)
        else:
            x = layers.UpSampling2D(2, name=f"dec{k}_upsample")(x)
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"dec{k}_up")(x)
        if skip:
            x = layers.Concatenate(name=f"dec{k}_concat")([x, skips[k]])
        x = _unet_block(x, filters, f"dec{k}", norm)
    activation = "sigmoid" if n_classes == 1 else "softmax"
    outputs = layers.Conv2D(n_classes, 1, activation=activation, name="output")(x)
    name = "unet" if skip else "encoder_decoder_no_skips"
    return keras.Model(inputs, outputs, name=name)


def unet_table(model: Any) -> list[dict[str, Any]]:
    """Shape table of a built model: one row per layer, read from the model itself.

    Returns
    -------
    list of dict
        ``layer`` (name), ``kind`` (Keras class), ``inputs`` (names of the
        layers feeding it), ``height``, ``width``, ``channels`` (of the output)
        and ``params`` (trainable and non-trainable weights).
    """
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
