"""How a network learns: a loss, its gradient, gradient descent and backpropagation, in NumPy.

Introduced in the chapter *How a network learns* (chapters/learning.ipynb), which
writes every piece in the open first and checks it against finite differences,
scikit-learn and Keras' ``tf.GradientTape``:

- the binary cross-entropy of a logistic model and its gradient
  (:func:`binary_cross_entropy`, :func:`logistic_loss`, :func:`logistic_gradient`);
- a gradient by central finite differences (:func:`numerical_gradient`);
- the (mini-batch stochastic) gradient-descent loop (:func:`sgd`);
- a tiny CNN, convolution -> ReLU -> max pooling -> dense -> sigmoid, with its
  forward and backward passes layer by layer (:func:`cnn_forward`,
  :func:`cnn_backward`, :func:`cnn_loss_and_grad`) and its Keras twin
  (:func:`keras_cnn`).

Parameters are lists of NumPy arrays: ``[w, b]`` for the logistic model and
``[kernel, bias, dense_kernel, dense_bias]`` for the CNN, which is the order
and layout of Keras' ``model.get_weights()``. Everything is computed in float64.
TensorFlow is imported only by :func:`keras_cnn`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Params = list[np.ndarray]
LossAndGrad = Callable[[Params, np.ndarray, np.ndarray], tuple[float, Params]]


# ---------------------------------------------------------------- validation
def _array(name: str, value: Any, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """``value`` as a finite float64 array, or an error naming the argument."""
    arr = np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if dims is not None and arr.ndim not in dims:
        want = " or ".join(f"{d}D" for d in dims)
        raise ValueError(f"{name} must be a {want} array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return arr


def _labels(name: str, value: Any, n: int) -> np.ndarray:
    """Binary labels (0 or 1), one per example, as float64."""
    arr = np.asarray(value)
    if arr.ndim == 2 and arr.shape[1] == 1:  # MedMNIST stores labels as a column
        arr = arr[:, 0]
    arr = _array(name, arr, 1)
    if len(arr) != n:
        raise ValueError(f"{name} has {len(arr)} labels for {n} examples")
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name} must hold 0 or 1 only, got values {np.unique(arr)[:5]}")
    return arr


def _positive(name: str, value: Any, integer: bool = False) -> Any:
    ok_type = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, ok_type) or not value > 0 or not math.isfinite(value):
        kind = "a positive integer" if integer else "a positive finite number"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value) if integer else float(value)


def _non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not value >= 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return float(value)


def _param_list(name: str, params: Any, count: int | None = None) -> Params:
    if isinstance(params, np.ndarray) or not isinstance(params, (list, tuple)):
        raise TypeError(f"{name} must be a list of arrays, got {type(params).__name__}")
    if count is not None and len(params) != count:
        raise ValueError(f"{name} must hold {count} arrays, got {len(params)}")
    return [_array(f"{name}[{i}]", p) for i, p in enumerate(params)]


# ------------------------------------------------------- the logistic model
def sigmoid(z: Any) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-z))``, computed without overflow for any ``z``
    (``-inf`` and ``inf`` give 0 and 1; NaN is refused)."""
    from medlab.validate import check_array

    z = check_array(z, "z").astype(np.float64)
    if np.isnan(z).any():
        raise ValueError(f"z contains {int(np.isnan(z).sum())} NaN value(s)")
    ez = np.exp(-np.abs(z))  # never overflows
    return np.where(z >= 0, 1.0 / (1.0 + ez), ez / (1.0 + ez))


def binary_cross_entropy(y: Any, logits: Any) -> float:
    """Mean binary cross-entropy of labels ``y`` under predicted logits ``z``.

    ``-[y log p + (1 - y) log(1 - p)]`` with ``p = sigmoid(z)``, averaged over
    the examples, computed from the logit as ``log(1 + e^z) - y z``, which
    never takes the logarithm of 0 (chapter *How a network learns*).

    Parameters
    ----------
    y
        Labels, 0 or 1, shape ``(n,)`` (or MedMNIST's ``(n, 1)``).
    logits
        Scores ``z`` (before the sigmoid), shape ``(n,)``.

    Returns
    -------
    float
        The mean loss in nats (natural logarithm).
    """
    z = _array("logits", logits, 1)
    y = _labels("y", y, len(z))
    if len(z) == 0:
        raise ValueError("logits is empty")
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def _logistic_args(params: Any, x: Any, y: Any, l2: Any) -> tuple[np.ndarray, float, np.ndarray,
                                                                   np.ndarray, float]:
    w, b = _param_list("params", params, 2)
    x = _array("x", x, 2)
    if w.shape != (x.shape[1],):
        raise ValueError(f"params[0] (the weights) must have shape ({x.shape[1]},) for x of shape "
                         f"{x.shape}, got {w.shape}")
    if b.size != 1:
        raise ValueError(f"params[1] (the intercept) must be one number, got shape {b.shape}")
    if len(x) == 0:
        raise ValueError("x holds no examples")
    return w, float(b.reshape(())), x, _labels("y", y, len(x)), _non_negative("l2", l2)


def logistic_loss(params: Sequence[Any], x: Any, y: Any, *, l2: float = 0.0) -> float:
    """Loss of the logistic model ``p = sigmoid(x @ w + b)``: mean cross-entropy + ``l2/2 |w|^2``.

    Chapter *How a network learns*. With ``l2 = 1 / (C n)`` this is
    scikit-learn's ``LogisticRegression(C=C)`` objective divided by ``C n``
    (the intercept is not penalised), so both have the same minimum.

    Parameters
    ----------
    params
        ``[w, b]``: weights ``(d,)`` and intercept (one number).
    x
        Features ``(n, d)``.
    y
        Labels, 0 or 1, ``(n,)``.
    l2
        Strength of the L2 penalty (keyword only), 0 for none.
    """
    w, b, x, y, l2 = _logistic_args(params, x, y, l2)
    return binary_cross_entropy(y, x @ w + b) + 0.5 * l2 * float(w @ w)


def logistic_gradient(params: Sequence[Any], x: Any, y: Any, *, l2: float = 0.0) -> Params:
    """Gradient of :func:`logistic_loss`: ``[X^T (p - y) / n + l2 w, mean(p - y)]``.

    Chapter *How a network learns*, where it is derived with the chain rule
    (the sigmoid's derivative ``p (1 - p)`` cancels against the loss's).

    Returns
    -------
    list of numpy.ndarray
        ``[dL/dw (d,), dL/db ()]``, the same layout as ``params``.
    """
    w, b, x, y, l2 = _logistic_args(params, x, y, l2)
    residual = sigmoid(x @ w + b) - y  # p - y, one number per example
    return [x.T @ residual / len(x) + l2 * w, np.array(residual.mean())]


def logistic_loss_and_grad(params: Sequence[Any], x: Any, y: Any, *, l2: float = 0.0) -> tuple[float, Params]:
    """``(logistic_loss, logistic_gradient)`` in one pass over the data: what :func:`sgd` expects."""
    w, b, x, y, l2 = _logistic_args(params, x, y, l2)
    z = x @ w + b
    loss = float(np.mean(np.logaddexp(0.0, z) - y * z)) + 0.5 * l2 * float(w @ w)
    residual = sigmoid(z) - y
    return loss, [x.T @ residual / len(x) + l2 * w, np.array(residual.mean())]


# ------------------------------------------------------- numerical gradient
def numerical_gradient(f: Callable[[Params], float], params: Sequence[Any], *, eps: float = 1e-6) -> Params:
    """Gradient of ``f`` at ``params`` by central differences, one coordinate at a time.

    ``df/dθ_i ≈ (f(θ + ε e_i) - f(θ - ε e_i)) / (2 ε)``: the independent check
    of every hand-written gradient in the chapter *How a network learns*. It
    costs two evaluations of ``f`` per parameter, so it checks gradients, it
    does not train. Its error shrinks like ``ε²`` until round-off (about
    ``1e-16 / ε``) takes over, hence ``ε = 1e-6`` in float64.

    Parameters
    ----------
    f
        Function of a list of arrays (the layout of ``params``) returning a number.
    params
        List of arrays at which to differentiate; not modified.
    eps
        Step ``ε`` (keyword only), positive.

    Returns
    -------
    list of numpy.ndarray
        One array per parameter array, same shapes.
    """
    if not callable(f):
        raise TypeError(f"f must be a function of the parameters, got {type(f).__name__}")
    eps = _positive("eps", eps)
    theta = [p.copy() for p in _param_list("params", params)]  # perturbed in place below
    grads = [np.zeros_like(p) for p in theta]
    for p, g in zip(theta, grads, strict=True):
        flat_p, flat_g = p.reshape(-1), g.reshape(-1)  # views: editing them edits p and g
        for i in range(flat_p.size):
            old = flat_p[i]
            flat_p[i] = old + eps
            up = float(f(theta))
            flat_p[i] = old - eps
            down = float(f(theta))
            flat_p[i] = old
            flat_g[i] = (up - down) / (2 * eps)
    return grads


def relative_error(a: Sequence[Any], b: Sequence[Any]) -> float:
    """``|a - b| / max(|a| + |b|, tiny)`` over all arrays of two gradients (one number).

    The usual yardstick of a gradient check (chapter *How a network learns*):
    about ``1e-8`` or less for a correct gradient in float64 by central differences.
    """
    fa = np.concatenate([np.ravel(_array("a", v)) for v in a])
    fb = np.concatenate([np.ravel(_array("b", v)) for v in b])
    if fa.shape != fb.shape:
        raise ValueError(f"a and b hold {fa.size} and {fb.size} numbers")
    return float(np.linalg.norm(fa - fb) / max(np.linalg.norm(fa) + np.linalg.norm(fb), 1e-300))


# ------------------------------------------------------- gradient descent
def sgd(loss_and_grad: LossAndGrad, params: Sequence[Any], x: Any, y: Any, *, learning_rate: float,
        epochs: int, batch_size: int | None = None, seed: int = 0,
        on_epoch_end: Callable[[int, Params], None] | None = None) -> tuple[Params, dict[str, list]]:
    """Mini-batch stochastic gradient descent: ``θ ← θ - η ∇L_batch(θ)``, batch after batch.

    Chapter *How a network learns*. Each epoch draws a new random order of the
    examples (``numpy.random.default_rng(seed)``, one permutation per epoch)
    and takes one step per batch of ``batch_size`` examples; the last batch
    of an epoch may be smaller. ``batch_size=None`` uses all examples in one
    batch: plain (full-batch) gradient descent, one step per epoch.

    Parameters
    ----------
    loss_and_grad
        ``loss_and_grad(params, x_batch, y_batch) -> (loss, grads)``, grads in
        the layout of ``params`` (e.g. :func:`logistic_loss_and_grad` or
        :func:`cnn_loss_and_grad`).
    params
        Initial parameters (a list of arrays; not modified).
    x, y
        All training examples and their labels (first axis: examples).
    learning_rate, epochs, batch_size, seed
        Keyword only. ``learning_rate`` > 0, ``epochs`` ≥ 1, ``batch_size``
        ≥ 1 or None.
    on_epoch_end
        Called as ``on_epoch_end(epoch, params)`` after every epoch (e.g. to
        compute a validation loss or keep a copy of the weights).

    Returns
    -------
    params : list of numpy.ndarray
        The parameters after the last step.
    history : dict
        ``"step_loss"``: the batch loss before each step; ``"epoch_loss"``:
        the mean over each epoch's examples of their batch's loss (what Keras
        reports as ``loss``); ``"order"``: each epoch's permutation of the
        examples, so another framework can replay exactly the same batches.
    """
    if not callable(loss_and_grad):
        raise TypeError(f"loss_and_grad must be a function, got {type(loss_and_grad).__name__}")
    learning_rate = _positive("learning_rate", learning_rate)
    epochs = _positive("epochs", epochs, integer=True)
    theta = _param_list("params", params)
    x = np.asarray(x)
    n = len(x)
    if n == 0:
        raise ValueError("x holds no examples")
    y = _labels("y", y, n)
    batch = n if batch_size is None else _positive("batch_size", batch_size, integer=True)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    history: dict[str, list] = {"step_loss": [], "epoch_loss": [], "order": []}
    for epoch in range(epochs):
        order = np.arange(n) if batch_size is None else rng.permutation(n)
        history["order"].append(order)
        total = 0.0
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            loss, grads = loss_and_grad(theta, x[idx], y[idx])
            if not math.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss} at epoch {epoch + 1}: "
                                         f"learning_rate={learning_rate} is too large")
            theta = [p - learning_rate * np.asarray(g, dtype=np.float64)
                     for p, g in zip(theta, grads, strict=True)]
            history["step_loss"].append(float(loss))
            total += float(loss) * len(idx)
        history["epoch_loss"].append(total / n)
        if on_epoch_end is not None:
            on_epoch_end(epoch, theta)
    return theta, history


# ------------------------------------------------------------ the tiny CNN
def _images(name: str, x: Any) -> np.ndarray:
    arr = _array(name, x, 4)
    if min(arr.shape) < 1:
        raise ValueError(f"{name} must be a non-empty (n, height, width, channels) array, "
                         f"got shape {arr.shape}")
    return arr


def conv_forward(x: Any, kernel: Any, bias: Any) -> np.ndarray:
    """A ``Conv2D`` layer without padding, stride 1: ``y = x ⋆ W + b`` for a batch.

    The cross-correlation of :func:`medlab.conv.conv2d` (chapter *The
    convolution*) for a whole batch. The chapter *How a network learns* writes
    it as "shift and add" over the kernel taps; here every patch of the images
    becomes a row of one matrix, multiplied once by the kernel ("im2col"),
    which gives the same numbers several times faster.

    Parameters
    ----------
    x
        Batch ``(n, H, W, C_in)``.
    kernel
        ``(kh, kw, C_in, C_out)``, Keras' layout.
    bias
        ``(C_out,)``.

    Returns
    -------
    numpy.ndarray
        ``(n, H - kh + 1, W - kw + 1, C_out)``.
    """
    x, kernel, bias = _images("x", x), _array("kernel", kernel, 4), _array("bias", bias, 1)
    kh, kw, c_in, c_out = kernel.shape
    if c_in != x.shape[3]:
        raise ValueError(f"x has {x.shape[3]} channel(s) but kernel expects {c_in}")
    if bias.shape != (c_out,):
        raise ValueError(f"bias must have shape ({c_out},), got {bias.shape}")
    if x.shape[1] < kh or x.shape[2] < kw:
        raise ValueError(f"kernel {kernel.shape[:2]} is larger than the images {x.shape[1:3]}")
    return _conv_forward(x, kernel, bias)


def _conv_forward(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """All ``kh x kw x C_in`` patches as the rows of one matrix ("im2col"), times the kernel."""
    kh, kw, c_in, c_out = kernel.shape
    n, h, w = len(x), x.shape[1] - kh + 1, x.shape[2] - kw + 1
    patches = sliding_window_view(x, (kh, kw), axis=(1, 2))  # (n, h, w, C_in, kh, kw), a view
    rows = patches.transpose(0, 1, 2, 4, 5, 3).reshape(n * h * w, kh * kw * c_in)  # (a, b, c) order
    return (rows @ kernel.reshape(kh * kw * c_in, c_out) + bias).reshape(n, h, w, c_out)


def conv_backward(dy: Any, x: Any, kernel: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_forward`: from ``dL/dy`` to ``dL/dx``, ``dL/dW``, ``dL/db``.

    Each output value ``y[n, i, j, o]`` received ``x[n, i+a, j+b, c] W[a, b, c, o]``
    from tap ``(a, b)``, so by the chain rule (chapter *How a network learns*)
    ``dL/dW[a, b]`` sums ``x[n, i+a, j+b, :]ᵀ dL/dy[n, i, j, :]`` over ``n, i, j``,
    ``dL/dx`` gets ``dL/dy W[a, b]ᵀ`` added back at the shifted positions, and
    ``dL/db`` sums ``dL/dy`` over everything but the channel.

    Returns
    -------
    dx, dkernel, dbias
        Shapes of ``x``, ``kernel`` and ``(C_out,)``.
    """
    x, kernel = _images("x", x), _array("kernel", kernel, 4)
    kh, kw, c_in, c_out = kernel.shape
    h, w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    dy = _array("dy", dy, 4)
    if dy.shape != (len(x), h, w, c_out) or c_in != x.shape[3]:
        raise ValueError(f"dy must have the output shape {(len(x), h, w, c_out)} of x {x.shape} and "
                         f"kernel {kernel.shape}, got {dy.shape}")
    dx, dkernel, dbias = _conv_backward(dy, x, kernel)
    assert dx is not None
    return dx, dkernel, dbias


def _conv_backward(dy: np.ndarray, x: np.ndarray, kernel: np.ndarray,
                   need_dx: bool = True) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    kh, kw, c_in, c_out = kernel.shape
    h, w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    dy2 = dy.reshape(-1, c_out)  # (n h w, C_out)
    dx, dkernel = (np.zeros_like(x) if need_dx else None), np.empty_like(kernel)
    for a in range(kh):
        for b in range(kw):
            dkernel[a, b] = x[:, a:a + h, b:b + w, :].reshape(-1, c_in).T @ dy2  # (C_in, C_out)
            if dx is not None:
                dx[:, a:a + h, b:b + w, :] += (dy2 @ kernel[a, b].T).reshape(len(x), h, w, c_in)
    return dx, dkernel, dy2.sum(axis=0)


def relu_backward(dy: Any, z: Any) -> np.ndarray:
    """``dL/dz`` of ``a = max(0, z)``: ``dL/da`` where ``z > 0``, else 0 (TensorFlow's choice at 0)."""
    z = _array("z", z)
    dy = _array("dy", dy)
    if dy.shape != z.shape:
        raise ValueError(f"dy has shape {dy.shape} but z has shape {z.shape}")
    return dy * (z > 0)


def _pool_blocks(x: np.ndarray, size: int) -> np.ndarray:
    """``(n, H//s, s, W//s, s, C)``: the whole pooling windows (a partial last one is dropped)."""
    n, h, w, c = x.shape
    hp, wp = h // size, w // size
    return x[:, :hp * size, :wp * size, :].reshape(n, hp, size, wp, size, c)


def maxpool_forward(x: Any, *, size: int = 2) -> np.ndarray:
    """``MaxPooling2D(size)``: the largest value of every ``size x size`` block (stride ``size``).

    Rows and columns beyond the last whole block are dropped, as Keras'
    ``padding="valid"`` does. Chapter *How a network learns*.
    """
    x, size = _images("x", x), _positive("size", size, integer=True)
    if x.shape[1] < size or x.shape[2] < size:
        raise ValueError(f"x's images {x.shape[1:3]} are smaller than the pooling size {size}")
    return _pool_blocks(x, size).max(axis=(2, 4))


def maxpool_backward(dy: Any, x: Any, *, size: int = 2) -> np.ndarray:
    """Backward pass of :func:`maxpool_forward`: each window's gradient goes to its maximum.

    Only the winning input of a window influenced the output, so it receives
    ``dL/dy`` and the other inputs 0. On a tie the first maximum in row-major
    order wins (one input, never several). Chapter *How a network learns*.
    """
    x, size = _images("x", x), _positive("size", size, integer=True)
    n, h, w, c = x.shape
    dy = _array("dy", dy, 4)
    if dy.shape != (n, h // size, w // size, c):
        raise ValueError(f"dy must have the pooled shape {(n, h // size, w // size, c)}, got {dy.shape}")
    return _maxpool_backward(dy, x, size)


def _maxpool_backward(dy: np.ndarray, x: np.ndarray, size: int) -> np.ndarray:
    blocks = _pool_blocks(x, size)
    peak = blocks.max(axis=(2, 4))  # (n, hp, wp, C)
    d_blocks = np.empty_like(blocks)  # every slot is written below
    taken = np.zeros(peak.shape, dtype=bool)
    for r in range(size):  # row-major order: the first maximum of a window takes the gradient
        for q in range(size):
            wins = (blocks[:, :, r, :, q, :] == peak) & ~taken
            d_blocks[:, :, r, :, q, :] = wins * dy
            taken |= wins
    n, hp, _, wp, _, c = blocks.shape
    if (hp * size, wp * size) == x.shape[1:3]:
        return d_blocks.reshape(x.shape)
    dx = np.zeros_like(x)  # the rows and columns no window covered get no gradient
    dx[:, :hp * size, :wp * size, :] = d_blocks.reshape(n, hp * size, wp * size, c)
    return dx


def init_cnn(*, input_shape: Sequence[int] = (28, 28, 1), filters: int = 8, kernel_size: int = 3,
             pool_size: int = 2, seed: int = 0) -> Params:
    """Initial weights of the tiny CNN, drawn like Keras' defaults (Glorot uniform, zero biases).

    Chapter *How a network learns*. The network is ``Conv2D(filters,
    kernel_size)`` -> ReLU -> ``MaxPooling2D(pool_size)`` -> ``Flatten`` ->
    ``Dense(1)`` -> sigmoid.

    Returns
    -------
    list of numpy.ndarray
        ``[kernel (k, k, C_in, filters), bias (filters,), dense_kernel (m, 1),
        dense_bias (1,)]`` with ``m`` the number of pooled values, float64.
    """
    shape = tuple(input_shape)
    if len(shape) != 3 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1
                              for s in shape):
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    filters = _positive("filters", filters, integer=True)
    k = _positive("kernel_size", kernel_size, integer=True)
    pool = _positive("pool_size", pool_size, integer=True)
    h, w, c = shape
    hp, wp = (h - k + 1) // pool, (w - k + 1) // pool
    if hp < 1 or wp < 1:
        raise ValueError(f"input_shape {shape} is too small for kernel_size {k} and pool_size {pool}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    m = hp * wp * filters

    def glorot(shape_: tuple[int, ...], fan_in: int, fan_out: int) -> np.ndarray:
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape_)

    return [glorot((k, k, c, filters), k * k * c, k * k * filters), np.zeros(filters),
            glorot((m, 1), m, 1), np.zeros(1)]


def _cnn_params(params: Any, x: np.ndarray, pool_size: int) -> Params:
    kernel, bias, dense, dense_bias = _param_list("params", params, 4)
    if kernel.ndim != 4 or kernel.shape[2] != x.shape[3]:
        raise ValueError(f"params[0] must be a (k, k, {x.shape[3]}, filters) kernel, got {kernel.shape}")
    kh, kw, _, f = kernel.shape
    if bias.shape != (f,):
        raise ValueError(f"params[1] must have shape ({f},), got {bias.shape}")
    h, w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    if h < pool_size or w < pool_size:
        raise ValueError(f"x's images {x.shape[1:3]} are too small for a {kh} x {kw} kernel and "
                         f"pool_size {pool_size}")
    m = (h // pool_size) * (w // pool_size) * f
    if dense.shape != (m, 1) or dense_bias.shape != (1,):
        raise ValueError(f"params[2] and params[3] must have shapes ({m}, 1) and (1,) for x {x.shape[1:]}, "
                         f"a {kh} x {kw} kernel and pool_size {pool_size}; got {dense.shape} and "
                         f"{dense_bias.shape}")
    return [kernel, bias, dense, dense_bias]


def cnn_forward(params: Sequence[Any], x: Any, *, pool_size: int = 2) -> tuple[np.ndarray, dict[str, Any]]:
    """Forward pass of the tiny CNN: the logits, and what the backward pass needs.

    ``z1 = x ⋆ W + b`` -> ``a1 = max(0, z1)`` -> ``p1 = maxpool(a1)`` ->
    ``f = flatten(p1)`` -> ``logit = f @ V + c`` (chapter *How a network learns*).

    Parameters
    ----------
    params
        ``[kernel, bias, dense_kernel, dense_bias]`` (see :func:`init_cnn`).
    x
        Images ``(n, H, W, C)``.
    pool_size
        Size and stride of the max pooling (keyword only).

    Returns
    -------
    logits : numpy.ndarray
        ``(n,)``; the probability is ``sigmoid(logits)``.
    cache : dict
        The input and every intermediate result, for :func:`cnn_backward`.
    """
    x = _images("x", x)
    pool_size = _positive("pool_size", pool_size, integer=True)
    kernel, bias, dense, dense_bias = _cnn_params(params, x, pool_size)
    z1 = _conv_forward(x, kernel, bias)
    a1 = np.maximum(z1, 0.0)
    p1 = _pool_blocks(a1, pool_size).max(axis=(2, 4))
    flat = p1.reshape(len(x), -1)  # row-major (h, w, c): the order of Keras' Flatten
    logits = flat @ dense[:, 0] + dense_bias[0]
    cache = {"x": x, "z1": z1, "a1": a1, "p1": p1, "flat": flat, "logits": logits, "pool_size": pool_size}
    return logits, cache


def cnn_backward(params: Sequence[Any], cache: dict[str, Any], y: Any) -> Params:
    """Backward pass of the tiny CNN: the gradient of the mean cross-entropy, layer by layer.

    The chain rule applied from the loss back to the input (chapter *How a
    network learns*): ``dL/dlogit = (sigmoid(logit) - y) / n``; the dense
    layer gives ``dL/dV = fᵀ dL/dlogit`` and ``dL/df = dL/dlogit Vᵀ``; the
    flattening is undone by a reshape; :func:`maxpool_backward`,
    :func:`relu_backward` and :func:`conv_backward` do the rest.

    Parameters
    ----------
    params
        The parameters given to :func:`cnn_forward`.
    cache
        The second result of :func:`cnn_forward`.
    y
        Labels, 0 or 1, one per image.

    Returns
    -------
    list of numpy.ndarray
        Gradients in the layout of ``params``.
    """
    needed = {"x", "z1", "a1", "p1", "flat", "logits", "pool_size"}
    if not isinstance(cache, dict) or not needed <= set(cache):
        raise ValueError("cache must be the dict returned by cnn_forward")
    kernel, _, dense, _ = _cnn_params(params, cache["x"], cache["pool_size"])
    flat = cache["flat"]
    n = len(flat)
    y = _labels("y", y, n)
    d_logit = (sigmoid(cache["logits"]) - y) / n  # (n,)
    d_dense = flat.T @ d_logit[:, None]  # (m, 1)
    d_dense_bias = np.array([d_logit.sum()])
    d_flat = d_logit[:, None] @ dense.T  # (n, m)
    d_p1 = d_flat.reshape(cache["p1"].shape)
    d_a1 = _maxpool_backward(d_p1, cache["a1"], cache["pool_size"])
    d_z1 = d_a1 * (cache["z1"] > 0)  # relu_backward
    _, d_kernel, d_bias = _conv_backward(d_z1, cache["x"], kernel, need_dx=False)  # x needs none
    return [d_kernel, d_bias, d_dense, d_dense_bias]


def cnn_loss_and_grad(params: Sequence[Any], x: Any, y: Any, *, pool_size: int = 2) -> tuple[float, Params]:
    """Mean binary cross-entropy of the tiny CNN on ``(x, y)`` and its gradient: what :func:`sgd` expects."""
    logits, cache = cnn_forward(params, x, pool_size=pool_size)
    return binary_cross_entropy(y, logits), cnn_backward(params, cache, y)


def keras_cnn(params: Sequence[Any], *, input_shape: Sequence[int] = (28, 28, 1), pool_size: int = 2,
              dtype: str = "float64") -> Any:
    """The tiny CNN as a Keras model holding ``params``; it outputs logits.

    Chapter *How a network learns*: the twin of :func:`cnn_forward` against
    which the NumPy gradients are checked with ``tf.GradientTape``. Use
    ``keras.losses.BinaryCrossentropy(from_logits=True)`` as its loss. In
    float64 the comparison is exact to round-off on every device; in float32,
    recent NVIDIA GPUs may compute convolutions and matrix products in TF32,
    which keeps only about three significant digits. To train it on float64
    data with ``model.fit``, set ``keras.config.set_floatx("float64")`` first:
    ``fit`` converts floating-point arrays to that type (float32 by default).

    Parameters
    ----------
    params
        ``[kernel, bias, dense_kernel, dense_bias]`` (see :func:`init_cnn`).
    input_shape, pool_size, dtype
        Keyword only: one image's ``(H, W, C)``, the pooling size, and
        ``"float64"`` or ``"float32"``.
    """
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    shape = tuple(input_shape)
    if len(shape) != 3 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1
                              for s in shape):
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    pool_size = _positive("pool_size", pool_size, integer=True)
    kernel, bias, dense, dense_bias = _cnn_params(params, np.zeros((1, *shape)), pool_size)
    import keras

    layers = keras.layers
    model = keras.Sequential([
        keras.Input(shape, dtype=dtype),
        layers.Conv2D(kernel.shape[3], kernel.shape[:2], activation="relu", dtype=dtype, name="conv"),
        layers.MaxPooling2D(pool_size, dtype=dtype, name="pool"),
        layers.Flatten(dtype=dtype, name="flatten"),
        layers.Dense(1, dtype=dtype, name="logit"),
    ], name="tiny_cnn")
    model.set_weights([np.asarray(p, dtype=dtype) for p in (kernel, bias, dense, dense_bias)])
    return model
