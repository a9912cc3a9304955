"""Label overlays (medlab.viz, chapter unet)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba

from medlab import viz


def test_label_rgba_colours_and_transparency():
    labels = np.array([[0, 1], [2, 3]])
    rgba = viz.label_rgba(labels, alpha=0.5)
    assert rgba.shape == (2, 2, 4)
    assert rgba[0, 0, 3] == 0.0
    for (i, j), k in zip([(0, 1), (1, 0), (1, 1)], (1, 2, 3), strict=True):
        np.testing.assert_allclose(rgba[i, j, :3], to_rgba(viz.TISSUE_COLORS[k])[:3])
        assert rgba[i, j, 3] == 0.5


def test_overlay_draws_image_and_labels():
    fig, ax = plt.subplots()
    img = np.arange(12.0).reshape(3, 4)
    viz.overlay(ax, img, np.zeros((3, 4), int))
    assert len(ax.images) == 2
    np.testing.assert_array_equal(ax.images[0].get_array(), img)
    plt.close(fig)


def test_three_planes_orientation():
    vol = np.zeros((4, 5, 6))
    vol[1, 2, 5] = 1.0  # top slice (largest z)
    lab = (vol > 0).astype(int)
    fig = viz.three_planes(vol, lab, index=(1, 2, 5), spacing=(1.0, 2.0, 3.0))
    sag, cor, axi = fig.axes
    # superior (largest z) is drawn at the top row of sagittal and coronal views
    assert sag.images[0].get_array()[0, 2] == 1.0
    assert cor.images[0].get_array()[0, 1] == 1.0
    assert sag.images[0].get_extent() == [0, 10.0, 0, 18.0]
    assert axi.get_xlabel() == "x (mm)"
    plt.close(fig)


def test_bad_input():
    with pytest.raises(ValueError, match="only 4 colours"):
        viz.label_rgba(np.array([[0, 7]]))
    with pytest.raises(TypeError, match="integers"):
        viz.label_rgba(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="2D"):
        viz.label_rgba(np.zeros((2, 2, 2), int))
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="differs"):
        viz.overlay(ax, np.zeros((3, 3)), np.zeros((3, 4), int))
    with pytest.raises(ValueError, match="index"):
        viz.three_planes(np.zeros((3, 3, 3)), index=(0, 0, 3))
    plt.close(fig)
