"""One comparison for a value that went through an encoding and back (the grader's JSON records,
the Otter export's Python literals): arrays by dtype, shape and content, NaN equal to NaN, every
other value by ``==`` and a type among ``types``."""

from __future__ import annotations

import numpy as np


def assert_same_value(back, value, *, types: tuple[type, ...]) -> None:
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype and back.shape == value.shape
        np.testing.assert_array_equal(back, value)
    elif isinstance(value, float) and value != value:
        assert back != back
    else:
        assert back == value and type(back) in (type(value), *types)
