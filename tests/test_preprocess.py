"""Tests of medlab.preprocess against SimpleITK, pydicom, SciPy and scikit-image."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.pixels import apply_modality_lut, apply_windowing
from scipy import ndimage, stats

from medlab import data, io
from medlab import preprocess as pp


@pytest.fixture(scope="module")
def ct():
    ds = pydicom.dcmread(data.fetch("693_UNCR.dcm"))
    return ds, apply_modality_lut(ds.pixel_array, ds)


@pytest.mark.parametrize("name", sorted(pp.CT_WINDOWS))
def test_window_matches_simpleitk(ct, name):
    _, hu = ct
    level, width = pp.CT_WINDOWS[name]
    ref = sitk.GetArrayFromImage(sitk.IntensityWindowing(
        sitk.GetImageFromArray(hu), level - width / 2, level + width / 2, 0.0, 1.0))
    np.testing.assert_allclose(pp.window(hu, level, width), ref, atol=1e-12)


@pytest.mark.parametrize("name", sorted(pp.CT_WINDOWS))
def test_window_matches_pydicom_linear_exact(ct, name):
    ds, hu = ct
    level, width = pp.CT_WINDOWS[name]
    ds.VOILUTFunction, ds.WindowCenter, ds.WindowWidth = "LINEAR_EXACT", level, width
    ref = apply_windowing(hu, ds)
    ref = (ref - ref.min()) / (ref.max() - ref.min())  # pydicom's output range -> [0, 1]
    np.testing.assert_allclose(pp.window(hu, level, width), ref, atol=1e-9)


def test_window_values_by_hand():
    out = pp.window(np.array([-100.0, 0.0, 40.0, 80.0, 1000.0]), level=40, width=80)
    np.testing.assert_allclose(out, [0.0, 0.0, 0.5, 1.0, 1.0])


@pytest.mark.parametrize("width", [0, -10, float("nan"), float("inf")])
def test_window_rejects_bad_width(width):
    with pytest.raises(ValueError, match="width"):
        pp.window(np.zeros(4), 0, width)


def test_bad_types():
    with pytest.raises(TypeError, match="numbers"):
        pp.window(np.array(["a", "b"]), 0, 1)
    with pytest.raises(TypeError, match="level must be a number"):
        pp.window(np.zeros(3), "40", 80)
    with pytest.raises(ValueError, match="empty"):
        pp.window(np.zeros(0), 0, 1)
    with pytest.raises(ValueError, match="larger than low"):
        pp.clip_scale(np.zeros(3), 5, 5)


def test_zscore_matches_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(300, 50, size=(20, 30))
    np.testing.assert_allclose(pp.zscore(x), stats.zscore(x, axis=None))
    mask = x > 300
    z = pp.zscore(x, mask=mask)
    assert z[mask].mean() == pytest.approx(0, abs=1e-12)
    assert z[mask].std() == pytest.approx(1)
    with pytest.raises(ValueError, match="constant"):
        pp.zscore(np.ones((4, 4)))
    with pytest.raises(ValueError, match="mask is empty"):
        pp.zscore(x, mask=np.zeros_like(mask))
    with pytest.raises(ValueError, match="mask shape"):
        pp.zscore(x, mask=mask[:5])


def test_percentile_scale():
    x = np.arange(1001, dtype=float)
    out = pp.percentile_scale(x, 10, 90)
    np.testing.assert_allclose(out, np.clip((x - 100) / 800, 0, 1))
    with pytest.raises(ValueError, match="constant"):
        pp.percentile_scale(np.ones(10))
    with pytest.raises(ValueError, match="low < high"):
        pp.percentile_scale(x, 90, 10)


def test_to_uint8_quantisation():
    x = np.linspace(0, 1, 10_001)
    q = pp.to_uint8(x)
    assert q.dtype == np.uint8 and q.min() == 0 and q.max() == 255
    assert np.abs(q / 255 - x).max() <= 0.5 / 255 + 1e-12
    assert len(np.unique(q)) == 256
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pp.to_uint8(np.array([0.0, 1.5]))


def test_resize_keep_aspect_pixels_and_mm():
    img = np.ones((100, 50))
    out = pp.resize_keep_aspect(img, 64)
    assert out.shape == (64, 64)
    cols = np.flatnonzero(out.max(axis=0) > 0.5)
    assert len(cols) == 32 and cols[0] == 16  # centred, aspect 2:1 kept
    # rows twice as far apart as columns: physically a square -> fills the output
    out_mm = pp.resize_keep_aspect(np.ones((50, 100)), 64, spacing=(2.0, 1.0))
    assert (out_mm > 0.5).all()


def test_resize_matches_skimage_and_keeps_labels():
    from skimage.transform import resize

    rng = np.random.default_rng(1)
    img = rng.random((40, 40))
    np.testing.assert_allclose(pp.resize_keep_aspect(img, 20),
                               resize(img, (20, 20), order=1, anti_aliasing=True, mode="edge"))
    labels = rng.integers(0, 3, size=(60, 30)).astype(np.uint8)
    out = pp.resize_keep_aspect(labels, 32, order=0)
    assert out.dtype == np.uint8 and set(np.unique(out)) <= {0, 1, 2}


def test_resize_bad_input():
    with pytest.raises(ValueError, match="2 dimensions"):
        pp.resize_keep_aspect(np.zeros((2, 3, 4, 5)), 8)
    with pytest.raises(ValueError, match="size"):
        pp.resize_keep_aspect(np.zeros((4, 4)), 0)
    with pytest.raises(ValueError, match="spacing"):
        pp.resize_keep_aspect(np.zeros((4, 4)), 4, spacing=(0, 1))


def _volume(seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.random((6, 8, 10)).astype(np.float32)
    return io.from_array(arr, spacing=(3.0, 1.0, 0.5), origin=(5.0, -2.0, 7.0)), arr


def test_resample_identity_and_nearest_subsampling():
    image, arr = _volume()
    same = pp.resample_to_spacing(image, image.GetSpacing())
    np.testing.assert_allclose(sitk.GetArrayFromImage(same), arr, atol=1e-6)
    assert same.GetOrigin() == image.GetOrigin()
    # three times coarser: each new voxel centre sits on the middle old voxel of three
    third = pp.resample_to_spacing(image, (1.5, 3.0, 9.0), interpolator="nearest")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(third), arr[1::3, 1::3, 1::3])
    np.testing.assert_allclose(third.GetOrigin(), image.TransformIndexToPhysicalPoint((1, 1, 1)))


def test_resample_linear_matches_scipy():
    image, arr = _volume(2)
    iso = pp.resample_to_spacing(image, 1.0, interpolator="linear")
    out = sitk.GetArrayFromImage(iso)
    assert iso.GetSize() == (5, 8, 18)
    # new voxel (k, j, i) sits at old continuous index (-1/3 + k/3, j, 0.5 + 2i): same outer edges
    k, j, i = np.meshgrid(*[np.arange(n) for n in out.shape], indexing="ij")
    coords = np.stack([-1 / 3 + k / 3.0, j * 1.0, 0.5 + i * 2.0]).reshape(3, -1)
    ref = ndimage.map_coordinates(arr.astype(float), coords, order=1, mode="nearest").reshape(out.shape)
    np.testing.assert_allclose(out, ref, atol=1e-5)
    # the physical field of view is unchanged
    for im in (image, iso):
        assert np.multiply(im.GetSize(), im.GetSpacing()) == pytest.approx((5.0, 8.0, 18.0))


def test_linear_interpolation_invents_labels_nearest_does_not():
    labels = np.zeros((1, 4, 8), dtype=np.uint8)
    labels[..., 4:] = 2
    image = io.from_array(labels, spacing=(1.0, 1.0, 1.0))
    lin = sitk.GetArrayFromImage(pp.resample_to_spacing(image, (0.5, 1.0, 1.0), interpolator="linear"))
    near = sitk.GetArrayFromImage(pp.resample_to_spacing(image, (0.5, 1.0, 1.0), interpolator="nearest"))
    assert 1 in np.unique(lin)  # a class that was never drawn
    assert set(np.unique(near)) == {0, 2}


def test_resample_like():
    image, arr = _volume()
    np.testing.assert_allclose(sitk.GetArrayFromImage(pp.resample_like(image, image)), arr, atol=1e-6)
    with pytest.raises(TypeError, match="reference"):
        pp.resample_like(image, arr)


def test_resample_bad_input():
    image, arr = _volume()
    with pytest.raises(ValueError, match="unknown interpolator"):
        pp.resample_to_spacing(image, 1.0, interpolator="cubic")
    with pytest.raises(ValueError, match="positive"):
        pp.resample_to_spacing(image, (1.0, -1.0, 1.0))
    with pytest.raises(ValueError, match="3 positive"):
        pp.resample_to_spacing(image, (1.0, 1.0))
    with pytest.raises(TypeError, match="SimpleITK.Image"):
        pp.resample_to_spacing(arr, 1.0)
