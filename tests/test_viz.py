"""Tests of medlab.viz: physical axes, orientation of the planes, widget fallbacks."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import SimpleITK as sitk
from matplotlib.figure import Figure

from medlab import io, viz


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _marked_volume():
    """A (z, y, x) volume in LPS orientation with one bright voxel at a known place."""
    arr = np.zeros((10, 12, 14), dtype=np.float32)
    arr[7, 2, 3] = 1.0  # superior, anterior, patient's right
    return io.from_array(arr, spacing=(2.0, 1.0, 0.5)), arr


def test_imshow_mm_extent_and_labels():
    fig, ax = plt.subplots()
    viz.imshow_mm(ax, np.zeros((20, 10)), spacing=(0.5, 2.0))
    assert ax.get_xlim() == (0.0, 20.0)
    assert ax.get_ylim() == (10.0, 0.0)
    assert ax.get_xlabel() == "x (mm)"
    viz.imshow_mm(ax, np.zeros((1, 20, 10)))  # a single-slice volume is accepted
    assert ax.get_xlabel() == "x (pixels)"


def test_planes_follow_radiological_convention():
    image, arr = _marked_volume()
    vol, spacing = viz._volume(image)
    axial, sp = viz.plane(vol, spacing, "axial", 7)
    assert sp == (1.0, 0.5)
    assert np.argwhere(axial == 1).tolist() == [[2, 3]]  # anterior = top rows, right = left columns
    coronal, sp = viz.plane(vol, spacing, "coronal", 2)
    assert sp == (2.0, 0.5)
    assert np.argwhere(coronal == 1).tolist() == [[10 - 1 - 7, 3]]  # head at the top
    sagittal, _ = viz.plane(vol, spacing, "sagittal", 3)
    assert np.argwhere(sagittal == 1).tolist() == [[2, 2]]  # anterior on the left


def test_flipped_storage_displays_the_same():
    """An image stored right-to-left (as NIfTI's RAS) is reoriented before display."""
    image, arr = _marked_volume()
    flipped = io.from_array(arr[:, ::-1, ::-1].copy(), spacing=(2.0, 1.0, 0.5),
                            direction=np.diag([-1.0, -1.0, 1.0]),
                            origin=image.TransformIndexToPhysicalPoint((13, 11, 0)))
    np.testing.assert_array_equal(viz._volume(flipped)[0], viz._volume(image)[0])


def test_static_figures():
    image, _ = _marked_volume()
    fig = viz.orthogonal_views(image, overlay=image, overlay_kw={"threshold": 0.5})
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    fig = viz.montage(image, "coronal", n=4)
    assert len(fig.axes) == 4
    fig = viz.window_grid(np.arange(100.0).reshape(10, 10), (1, 1), {"a": (50, 20), "b": (10, 5)})
    assert [a.get_title().split("\n")[0] for a in fig.axes] == ["a", "b"]


def test_viewers_fall_back_to_figures_without_a_kernel():
    image, arr = _marked_volume()
    assert not viz.widgets_available()  # pytest runs without a Jupyter kernel
    assert isinstance(viz.slice_viewer(image), Figure)
    assert isinstance(viz.window_viewer(arr[7], (1, 1), level=0.5, width=1.0), Figure)


def test_viewers_build_widgets_when_asked():
    widgets = pytest.importorskip("ipywidgets")
    image, arr = _marked_volume()
    w = viz.slice_viewer(image, axis="sagittal", overlay=image, interactive=True)
    assert isinstance(w, widgets.VBox)
    slider, picture = w.children
    assert slider.max == 13 and picture.value[:8] == b"\x89PNG\r\n\x1a\n"
    before = picture.value
    slider.value = 3  # moving the slider redraws the picture, without a front end
    assert bytes(picture.value) != bytes(before)
    w = viz.window_viewer(arr[7], (1, 1), level=0.5, width=1.0, interactive=True)
    assert [c.description for c in w.children[:2]] == ["level", "width"]
    before = w.children[2].value
    w.children[0].value = 0.9  # level
    assert bytes(w.children[2].value) != bytes(before)
    assert not plt.get_fignums()  # every rendered figure is closed


def test_bad_input():
    image, arr = _marked_volume()
    with pytest.raises(ValueError, match="2D image"):
        viz.window_viewer(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="width must be positive"):
        viz.window_viewer(arr[7], width=0)
    with pytest.raises(ValueError, match="axis"):
        viz.montage(image, "oblique")
    with pytest.raises(ValueError, match="outside"):
        viz.orthogonal_views(image, index=(99, 0, 0))
    with pytest.raises(ValueError, match="overlay shape"):
        viz.orthogonal_views(image, overlay=image[:5, :, :])
    with pytest.raises(TypeError, match="SimpleITK.Image"):
        viz.orthogonal_views(arr)
    with pytest.raises(ValueError, match="3D"):
        viz.montage(sitk.Image(4, 4, sitk.sitkFloat32))


def test_interactive_figure_redraws_on_change():
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    from medlab.viz import interactive_figure

    calls = []

    def render(value):
        calls.append(value)
        fig, ax = plt.subplots()
        ax.plot([0, value])
        return fig

    slider = widgets.IntSlider(value=1, min=0, max=5)
    box = interactive_figure(render, [slider])
    first = box.children[-1].value
    slider.value = 4
    assert calls == [1, 4]
    assert box.children[-1].value[:4] == b"\x89PNG" and box.children[-1].value != first
    with pytest.raises(ValueError, match="control"):
        interactive_figure(render, [])
