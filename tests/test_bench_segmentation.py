"""The segmentation benchmark (``python -m tools.bench segmentation``, chapter unet): a tiny run."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow")

from tools.bench import segmentation as bench  # noqa: E402


def test_tiny_run_prints_results(capsys):
    assert bench.main(["--tiny"]) == 0
    out = capsys.readouterr().out
    for word in ("U-Net", "multi-Otsu", "Gaussian mixture", "training:"):
        assert word in out
