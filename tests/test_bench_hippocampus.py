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


def test_tiny_run_prints_the_table(capsys):
    assert bench.main(["--tiny"]) == 0
    out = capsys.readouterr().out
    assert "3D U-Net" in out and "2D U-Net (slices)" in out and "peak memory" in out
    assert "targets:" in out
