"""Tests of medlab.io against pydicom and nibabel on the shipped sample files."""

from __future__ import annotations

import locale
import warnings

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.pixels import apply_modality_lut

from medlab import data, io

# Every single-file DICOM sample that both pydicom and SimpleITK read.
DICOM_FILES = [
    "CT_small.dcm", "MR_small.dcm", "RG1_UNCR.dcm", "RG3_UNCR.dcm", "693_UNCR.dcm", "MR2_UNCR.dcm",
    "US1_UNCR.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm", "eCT_Supplemental.dcm", "emri_small.dcm",
    "liver.dcm",
]
NIFTI_FILES = ["mni152_t1.nii.gz", "mni152_gm.nii.gz", "mni152_wm.nii.gz"]


def _pydicom_reference(ds: pydicom.Dataset) -> np.ndarray:
    """Stored values after the modality LUT, computed with pydicom (+ the rules below)."""
    arr = ds.pixel_array
    groups = ds.get("SharedFunctionalGroupsSequence")
    if groups and "PixelValueTransformationSequence" in groups[0]:
        # Enhanced multi-frame objects keep slope/intercept in functional groups,
        # which pydicom's apply_modality_lut does not look at.
        t = groups[0].PixelValueTransformationSequence[0]
        arr = arr * float(t.RescaleSlope) + float(t.RescaleIntercept)
    else:
        arr = apply_modality_lut(arr, ds)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        # GDCM (inside SimpleITK) turns MONOCHROME1 into MONOCHROME2: max - value.
        arr = (2 ** int(ds.BitsStored) - 1) - arr
    if ds.get("SOPClassUID") == pydicom.uid.SegmentationStorage:
        arr = arr * 255  # GDCM expands 1-bit SEG frames to 0/255
    if ds.get("NumberOfFrames") is None:
        arr = arr[np.newaxis]  # SimpleITK keeps a slice axis of length 1
    return arr


def _pixel_spacing(ds: pydicom.Dataset):
    ps = ds.get("PixelSpacing")
    groups = ds.get("SharedFunctionalGroupsSequence")
    if ps is None and groups and "PixelMeasuresSequence" in groups[0]:
        ps = groups[0].PixelMeasuresSequence[0].get("PixelSpacing")
    return ps


@pytest.mark.parametrize("name", DICOM_FILES)
def test_dicom_pixels_match_pydicom(name):
    path = data.fetch(name)
    ds = pydicom.dcmread(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        got = io.to_array(io.read_image(path)).array
    ref = _pydicom_reference(ds)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("name", DICOM_FILES)
def test_dicom_spacing_matches_pydicom(name):
    path = data.fetch(name)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    ps = _pixel_spacing(ds)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        arr = io.to_array(io.read_image(path))
    if ps is not None and min(float(v) for v in ps) > 0:
        # DICOM PixelSpacing is (row spacing, column spacing) = (y, x).
        assert arr.spacing[1:] == pytest.approx((float(ps[0]), float(ps[1])))
        assert not any("pixel spacing" in str(w.message) for w in caught)
    else:
        assert arr.spacing[1:] == (1.0, 1.0)  # SimpleITK's placeholder
        assert any("records no pixel spacing" in str(w.message) for w in caught)


def test_rg1_zero_spacing_is_reported():
    with pytest.warns(UserWarning, match="RG1_UNCR.dcm records no pixel spacing"):
        io.read_image(data.fetch("RG1_UNCR.dcm"))


def test_ct_hounsfield_units_by_hand():
    path = data.fetch("693_UNCR.dcm")
    ds = pydicom.dcmread(path)
    hu = io.to_array(io.read_image(path)).array[0]
    expected = ds.pixel_array.astype(float) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_array_equal(hu, expected)


@pytest.mark.parametrize("name", NIFTI_FILES)
def test_nifti_matches_nibabel(name):
    path = data.fetch(name)
    image = io.read_image(path)
    ref = nib.load(path)
    arr = io.to_array(image)
    # nibabel's array is (i, j, k) = SimpleITK's (x, y, z); ours is (z, y, x).
    np.testing.assert_array_equal(arr.array.transpose(2, 1, 0), np.asarray(ref.dataobj))
    np.testing.assert_allclose(io.ras_affine(image), ref.affine, atol=1e-5)
    assert arr.spacing == pytest.approx(tuple(reversed(ref.header.get_zooms())))


def test_ras_affine_oblique_anisotropic(tmp_path):
    rng = np.random.default_rng(0)
    vol = rng.integers(0, 100, size=(7, 6, 5), dtype=np.int16)
    angle = np.deg2rad(20)
    rot = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag([0.7, 1.3, 2.5])
    affine[:3, 3] = [10.0, -20.0, 30.0]
    nib.save(nib.Nifti1Image(vol, affine), tmp_path / "oblique.nii.gz")
    image = io.read_image(tmp_path / "oblique.nii.gz")
    np.testing.assert_allclose(io.ras_affine(image), affine, atol=1e-5)
    np.testing.assert_array_equal(io.to_array(image).array.transpose(2, 1, 0), vol)


def test_geometry_maps_index_to_physical_point():
    image = io.read_image(data.fetch("MR2_UNCR.dcm"))  # an oblique slice
    g = io.to_array(image)
    spacing_xyz = np.array(g.spacing[::-1])
    for idx in [(0, 0, 0), (10, 500, 0), (1023, 3, 0)]:
        by_hand = np.array(g.origin) + g.direction @ (spacing_xyz * np.array(idx))
        np.testing.assert_allclose(by_hand, image.TransformIndexToPhysicalPoint(idx), atol=1e-6)


def test_from_array_round_trip():
    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    image = io.from_array(arr, spacing=(3.0, 2.0, 0.5), origin=(1, 2, 3))
    assert image.GetSize() == (4, 3, 2)
    assert image.GetSpacing() == (0.5, 2.0, 3.0)
    back = io.to_array(image)
    np.testing.assert_array_equal(back.array, arr)
    assert back.spacing == (3.0, 2.0, 0.5)
    assert back.origin == (1.0, 2.0, 3.0)


def _write_series(image: sitk.Image, folder, uid: str) -> None:
    """Write a 3D image as a DICOM series, keeping Python's locale (GDCM's writer resets it to C)."""
    saved = locale.setlocale(locale.LC_ALL)
    try:
        _write_slices(image, folder, uid)
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def _write_slices(image: sitk.Image, folder, uid: str) -> None:
    """One DICOM file per slice (SimpleITK's DicomSeriesFromArray recipe)."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    direction = image.GetDirection()
    orient = "\\".join(map(str, (*direction[0::3], *direction[1::3])))
    for k in range(image.GetDepth()):
        sl = image[:, :, k]
        position = "\\".join(map(str, image.TransformIndexToPhysicalPoint((0, 0, k))))
        for tag, value in [("0008|0060", "MR"), ("0020|000e", uid), ("0020|000d", uid + ".1"),
                           ("0020|0037", orient), ("0020|0013", str(k + 1)), ("0020|0032", position)]:
            sl.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"slice{k:03d}.dcm"))
        writer.Execute(sl)


@pytest.fixture(scope="module")
def mni_small():
    t1 = io.read_image(data.fetch("mni152_t1.nii.gz"))
    small = sitk.Cast(t1[40:120:4, 60:160:4, 60:130:5], sitk.sitkInt16)
    return sitk.DICOMOrient(small, "LPS")


def test_read_dicom_series_folder(tmp_path, mni_small):
    _write_series(mni_small, tmp_path / "series", "1.2.826.0.1.3680043.2.1125.1.1")
    before = locale.setlocale(locale.LC_CTYPE)
    got = io.read_image(tmp_path / "series")
    assert locale.setlocale(locale.LC_CTYPE) == before  # reading leaves Python's text encoding alone
    np.testing.assert_array_equal(sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(mni_small))
    np.testing.assert_allclose(got.GetSpacing(), mni_small.GetSpacing(), atol=1e-4)
    np.testing.assert_allclose(got.GetOrigin(), mni_small.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(got.GetDirection(), mni_small.GetDirection(), atol=1e-6)
    # pydicom agrees on the pixel spacing of each slice
    ds = pydicom.dcmread(tmp_path / "series" / "slice000.dcm")
    assert [float(v) for v in ds.PixelSpacing] == pytest.approx(list(mni_small.GetSpacing()[1::-1]))


def test_series_with_one_truncated_slice_is_refused(tmp_path, mni_small):
    """Issue #26: GDCM leaves a damaged file out of the series (a slice silently missing)."""
    _write_series(mni_small, tmp_path / "series", "1.2.826.0.1.3680043.2.1125.1.1")
    victim = tmp_path / "series" / "slice003.dcm"
    victim.write_bytes(victim.read_bytes()[:-100])
    with pytest.raises(ValueError, match="slice003.dcm: Pixel Data holds"):
        io.read_image(tmp_path / "series")


def test_folder_with_two_series_needs_an_id(tmp_path, mni_small):
    uids = ["1.2.826.0.1.3680043.2.1125.1.1", "1.2.826.0.1.3680043.2.1125.1.2"]
    _write_series(mni_small, tmp_path / "a", uids[0])
    _write_series(mni_small[:, :, :5], tmp_path / "b", uids[1])
    for f in (tmp_path / "b").iterdir():
        f.rename(tmp_path / "a" / ("b_" + f.name))
    with pytest.raises(ValueError, match="holds 2 DICOM series"):
        io.read_image(tmp_path / "a")
    assert io.read_image(tmp_path / "a", series_id=uids[1]).GetDepth() == 5
    with pytest.raises(ValueError, match="is not in"):
        io.read_image(tmp_path / "a", series_id="1.2.3")


def test_bad_input_gives_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        io.read_image(tmp_path / "missing.dcm")
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="not an image file"):
        io.read_image(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no DICOM series"):
        io.read_image(tmp_path / "empty")
    with pytest.raises(TypeError, match="path must be"):
        io.read_image(42)
    with pytest.raises(TypeError, match="SimpleITK.Image"):
        io.to_array(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="2D or 3D"):
        io.from_array(np.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="spacing"):
        io.from_array(np.zeros((2, 2)), spacing=(1.0, 0.0))
    with pytest.raises(ValueError, match="3D"):
        io.ras_affine(sitk.Image(4, 4, sitk.sitkUInt8))


def test_exercise_answers_agree_with_independent_readers():
    from medlab.exercises import get

    hu = io.to_array(io.read_image(data.fetch("693_UNCR.dcm"))).array[0]
    assert get("images_as_data.q1").expected() == pytest.approx(float(hu[256, 256]))
    mr2 = io.read_image(data.fetch("MR2_UNCR.dcm"))
    g = io.to_array(mr2)
    by_hand = np.array(g.origin) + g.direction @ (np.array(g.spacing[::-1]) * np.array([100, 200, 0]))
    np.testing.assert_allclose(get("images_as_data.q3").expected(), by_hand, atol=1e-6)
    wm = np.asarray(nib.load(data.fetch("mni152_wm.nii.gz")).dataobj)
    assert get("images_as_data.q5").expected() == pytest.approx((wm > 127).sum() / 1000)
