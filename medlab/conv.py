"""The 2D convolution of deep learning, written out in NumPy.

Introduced in the chapter *The convolution, by hand and by machine*
(chapters/convolution.ipynb), which works the operation through by hand first
and checks this module against SciPy, Keras and SimpleITK; :func:`conv3d`
belongs to the chapter *Segmentation in 3D: the hippocampus*.

Like every deep-learning library, :func:`conv2d` computes the
**cross-correlation** (the kernel is *not* flipped)::

    y[i, j] = sum_{a, b} x[i*s + a*d, j*s + b*d] * w[a, b]

on the zero-padded input, with stride ``s`` and dilation ``d``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Padding = int | tuple[int, int] | str


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def effective_kernel_size(k: int, dilation: int = 1) -> int:
    """Extent of a kernel of ``k`` taps spread ``dilation`` pixels apart: ``d * (k - 1) + 1``."""
    return _positive_int("dilation", dilation) * (_positive_int("kernel size", k) - 1) + 1


def same_padding(n: int, k: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Zeros added (before, after) along one axis by ``padding="same"``.

    Follows TensorFlow/Keras: the output has ``ceil(n / stride)`` samples and,
    when the total padding is odd, the extra zero goes *after* (bottom/right).
    """
    n, stride = _positive_int("input size", n), _positive_int("stride", stride)
    total = max((math.ceil(n / stride) - 1) * stride + effective_kernel_size(k, dilation) - n, 0)
    return total // 2, total - total // 2


def _pads(n: int, k: int, stride: int, dilation: int, padding: Padding, axis: int) -> tuple[int, int]:
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0, 0
        if mode == "same":
            return same_padding(n, k, stride, dilation)
        raise ValueError(f"padding must be 'valid', 'same', an int or a pair of ints, got {padding!r}")
    if isinstance(padding, (tuple, list)) and len(padding) != 2:
        raise ValueError(f"padding as a sequence must be (rows, columns), got {padding!r}")
    p = padding[axis] if isinstance(padding, (tuple, list)) else padding
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 0:
        raise ValueError(f"padding must be a non-negative integer (or a pair of them), got {padding!r}")
    return int(p), int(p)


def conv_output_size(n: int, k: int, *, stride: int = 1, padding: Padding = 0, dilation: int = 1) -> int:
    """Output length along one axis: ``floor((n + p_before + p_after - d*(k-1) - 1) / s) + 1``.

    Parameters
    ----------
    n, k
        Input length and kernel length (pixels).
    stride, dilation
        Positive integers.
    padding
        Zeros on *each* side (an int), or ``"valid"`` (none) or ``"same"``
        (TensorFlow's rule, output ``ceil(n / stride)``).

    Raises
    ------
    ValueError
        If the dilated kernel is larger than the padded input.
    """
    n = _positive_int("input size", n)
    stride = _positive_int("stride", stride)
    return _out_len(n, _pads(n, k, stride, dilation, padding, 0), k, stride, dilation)


def _out_len(n: int, pads: tuple[int, int], k: int, stride: int, dilation: int) -> int:
    extent = effective_kernel_size(k, dilation)
    if n + sum(pads) < extent:
        raise ValueError(
            f"the kernel (size {k}, dilation {dilation}, extent {extent}) is larger than the padded "
            f"input ({n} + {pads[0]} + {pads[1]} = {n + sum(pads)})")
    return (n + sum(pads) - extent) // stride + 1


def _as_arrays(x: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Bring ``x`` to (H, W, C_in) and ``kernel`` to (kh, kw, C_in, C_out); say if C_out was added."""
    x, kernel = np.asarray(x), np.asarray(kernel)
    for name, arr in (("x", x), ("kernel", kernel)):
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
        if arr.size == 0:
            raise ValueError(f"{name} is empty (shape {arr.shape})")
    if x.ndim not in (2, 3):
        raise ValueError(f"x must be (H, W) or (H, W, C_in), got shape {x.shape}")
    if kernel.ndim not in (2, 3, 4):
        raise ValueError(f"kernel must be (kh, kw), (kh, kw, C_in) or (kh, kw, C_in, C_out), "
                         f"got shape {kernel.shape}")
    x3 = x[..., None] if x.ndim == 2 else x
    squeeze = kernel.ndim < 4
    k4 = kernel.reshape(kernel.shape[:2] + (-1, 1)) if squeeze else kernel
    if k4.shape[2] != x3.shape[2]:
        raise ValueError(f"x has {x3.shape[2]} channel(s) but the kernel expects {k4.shape[2]} "
                         f"(x shape {x.shape}, kernel shape {kernel.shape})")
    return x3.astype(np.result_type(x3, k4, np.float32)), k4, squeeze


def conv2d(x: np.ndarray, kernel: np.ndarray, *, stride: int = 1, padding: Padding = 0,
           dilation: int = 1) -> np.ndarray:
    """2D cross-correlation of an image with a kernel, as a ``Conv2D`` layer computes it (no bias).

    Parameters
    ----------
    x
        Image, ``(H, W)`` or ``(H, W, C_in)``.
    kernel
        ``(kh, kw)`` (single channel), ``(kh, kw, C_in)`` (summed over the
        input channels) or ``(kh, kw, C_in, C_out)`` (Keras' layout, one
        output map per filter).
    stride, dilation
        Positive integers, the same along both axes.
    padding
        Zeros added on each side: an int, a pair ``(rows, columns)``,
        ``"valid"`` (0) or ``"same"`` (TensorFlow's rule).

    Returns
    -------
    numpy.ndarray
        ``(H_out, W_out)``, or ``(H_out, W_out, C_out)`` for a 4D kernel,
        with sizes given by :func:`conv_output_size`.

    Raises
    ------
    ValueError
        Non-positive stride or dilation, negative padding, mismatched channels,
        or a kernel larger than the padded input.
    """
    x3, k4, squeeze = _as_arrays(x, kernel)
    stride, dilation = _positive_int("stride", stride), _positive_int("dilation", dilation)
    (kh, kw), (h, w) = k4.shape[:2], x3.shape[:2]
    (top, bottom), (left, right) = (_pads(n, k, stride, dilation, padding, ax)
                                    for ax, (n, k) in enumerate([(h, kh), (w, kw)]))
    h_out = _out_len(h, (top, bottom), kh, stride, dilation)
    w_out = _out_len(w, (left, right), kw, stride, dilation)
    xp = np.pad(x3, ((top, bottom), (left, right), (0, 0)))
    out = np.zeros((h_out, w_out, k4.shape[3]), dtype=xp.dtype)
    for a in range(kh):  # shift and add: one slice of the padded input per kernel tap
        for b in range(kw):
            r, c = a * dilation, b * dilation
            window = xp[r: r + stride * (h_out - 1) + 1: stride, c: c + stride * (w_out - 1) + 1: stride]
            out += window @ k4[a, b]  # (h_out, w_out, C_in) @ (C_in, C_out)
    return out[..., 0] if squeeze else out


def conv3d(x: np.ndarray, kernel: np.ndarray, padding: int | str = "valid") -> np.ndarray:
    """3D cross-correlation of a one-channel volume with a ``(kd, kh, kw)`` kernel, stride 1, no bias.

    Introduced in the chapter *Segmentation in 3D: the hippocampus*
    (chapters/hippocampus.ipynb): the 2D rule of :func:`conv2d` with a third
    sum, ``y[i, j, m] = sum_{a, b, c} x[i + a, j + b, m + c] * w[a, b, c]``
    on the zero-padded volume, which is what a one-filter ``Conv3D`` layer
    computes.

    Parameters
    ----------
    x
        Volume ``(D, H, W)``.
    kernel
        ``(kd, kh, kw)``.
    padding
        Zeros added on every side (an int), ``"valid"`` (0) or ``"same"``
        (TensorFlow's rule: the output keeps the input's size).

    Returns
    -------
    numpy.ndarray
        ``(D_out, H_out, W_out)``, each size given by :func:`conv_output_size`.
    """
    x, kernel = np.asarray(x), np.asarray(kernel)
    for name, arr in (("x", x), ("kernel", kernel)):
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
        if arr.ndim != 3 or arr.size == 0:
            raise ValueError(f"{name} must be a non-empty 3D array (D, H, W), got shape {arr.shape}")
    if isinstance(padding, (tuple, list)):
        raise ValueError(f"conv3d takes one padding for all axes (int, 'valid' or 'same'), got {padding!r}")
    pads = [_pads(n, k, 1, 1, padding, 0) for n, k in zip(x.shape, kernel.shape, strict=True)]
    out_shape = tuple(_out_len(n, p, k, 1, 1) for n, p, k in zip(x.shape, pads, kernel.shape, strict=True))
    xp = np.pad(x.astype(np.result_type(x, kernel, np.float32)), pads)
    out = np.zeros(out_shape, dtype=xp.dtype)
    d, h, w = out_shape
    for a, b, c in np.ndindex(kernel.shape):  # shift and add, one tap at a time
        out += kernel[a, b, c] * xp[a:a + d, b:b + h, c:c + w]
    return out


def receptive_field(layers: Sequence[tuple[int, int] | tuple[int, int, int]]) -> list[dict[str, int]]:
    """Receptive field size and jump after each layer of a stack.

    Parameters
    ----------
    layers
        One ``(kernel, stride)`` or ``(kernel, stride, dilation)`` per layer;
        a pooling layer is ``(pool_size, stride)``.

    Returns
    -------
    list of dict
        For each layer, ``rf`` (input pixels seen by one output value along
        an axis) and ``jump`` (input pixels between neighbouring outputs), from
        ``rf_l = rf_{l-1} + d_l * (k_l - 1) * jump_{l-1}`` and
        ``jump_l = jump_{l-1} * s_l``, starting from ``rf = jump = 1``.
    """
    rf, jump, rows = 1, 1, []
    for i, layer in enumerate(layers):
        if len(layer) not in (2, 3):
            raise ValueError(f"layer {i}: give (kernel, stride) or (kernel, stride, dilation), got {layer!r}")
        k, s, d = (*layer, 1) if len(layer) == 2 else layer
        rf += (effective_kernel_size(k, d) - 1) * jump
        jump *= _positive_int("stride", s)
        rows.append({"rf": rf, "jump": jump})
    return rows
