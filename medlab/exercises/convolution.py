"""Exercises of the chapter *The convolution, by hand and by machine* (chapters/convolution.ipynb).

Answers are computed with SciPy and plain formulas, independently of :mod:`medlab.conv`.
"""

from __future__ import annotations

import numpy as np

from medlab.exercises import Exercise

_GRID = np.arange(1, 26, dtype=float).reshape(5, 5)
_SOBEL_Y = np.array([[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]])
_LAPLACIAN = np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def _size(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


def _corner(kernel: np.ndarray) -> float:
    from scipy.signal import correlate2d

    return float(correlate2d(_GRID, kernel, mode="same", boundary="fill")[0, 0])


def _ct_dilated_laplacian() -> float:
    import pydicom
    from scipy.signal import correlate2d

    from medlab import data

    ds = pydicom.dcmread(data.fetch("693_UNCR.dcm"))
    hu = np.maximum(ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept), -1024.0)
    dilated = np.zeros((5, 5))
    dilated[::2, ::2] = _LAPLACIAN
    return float(correlate2d(hu[254:259, 254:259], dilated, mode="valid")[0, 0])


EXERCISES = {
    "q1": Exercise(
        answer=_size(_size(512, 7, 2, 3), 3, 2, 1),
        hint="Apply floor((n + 2p - k) / s) + 1 twice: first to the convolution, then to the pooling.",
        hints=[(_size(512, 7, 2, 3), "That is the size after the convolution; the pooling halves it again."),
               (_size(_size(512, 7, 2, 0), 3, 2, 0), "You left out the padding of both layers.")],
    ),
    "q2": Exercise(
        answer=lambda: _corner(_SOBEL_Y),
        hint="Pad with one ring of zeros, take the 3 x 3 window at the top-left corner, multiply it "
        "element by element with the kernel and add the nine products.",
        hints=[(_corner(_SOBEL_Y[::-1, ::-1]), "You flipped the kernel (true convolution); "
                "Conv2D does not flip."),
               (40.0, "That is an interior value: at (0, 0) the window starts in the padding.")],
    ),
    "q3": Exercise(
        answer=(3 * 3 * 32 + 1) * 64,
        hint="Each filter has 3 x 3 weights per input channel plus one bias.",
        hints=[(3 * 3 * 32 * 64, "You forgot the biases (one per filter)."),
               ((3 * 3 + 1) * 64, "Each filter has a 3 x 3 slice for every one of the 32 input channels.")],
    ),
    "q4": Exercise(
        answer=24,
        hint="Use r += (k - 1) * jump and jump *= stride, layer by layer, starting from r = jump = 1.",
        hints=[(13, "After a stride-2 pooling every step of the next kernel covers 2 (then 4) input pixels."),
               (11, "Pooling layers widen the receptive field too.")],
    ),
    "q5": Exercise(
        answer=_ct_dilated_laplacian,
        rtol=1e-4,
        atol=1e-3,
        hint="conv2d(ct_hu, laplacian, padding='same', dilation=2)[256, 256]: the taps are two pixels "
        "apart, so the centre pixel's neighbours are at rows 254 and 258 and columns 254 and 258.",
    ),
}
