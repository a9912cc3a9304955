"""Tests of the hippocampus benchmark in a tiny configuration (chapter: hippocampus)."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")

from tools.bench import hippocampus as bench  # noqa: E402


def test_target_line():
    good = {"anterior": {"dice": 0.9}, "posterior": {"dice": 0.87}}
    line = bench.target_line(good, 700.0)
    assert "anterior Dice >= 0.88 met" in line and "posterior Dice >= 0.88 SHORT" in line
    assert "training <= 600 s NOT met" in line


def test_slices_round_trip():
    import numpy as np

    x = np.arange(2 * 4 * 6 * 3).reshape(2, 4, 6, 3, 1).astype(np.float32)
    xs, ys = bench.slices_2d(x, x[..., 0].astype(np.uint8))
    assert xs.shape == (6, 4, 6, 1) and ys.shape == (6, 4, 6)
    np.testing.assert_array_equal(xs[1, ..., 0], x[0, :, :, 1, 0])  # slice 1 of patient 0


def test_tiny_run_prints_the_table(capsys):
    assert bench.main(["--tiny"]) == 0
    out = capsys.readouterr().out
    assert "3D U-Net" in out and "2D U-Net (slices)" in out and "peak memory" in out
    assert "targets:" in out
