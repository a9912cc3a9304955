"""Tests of medlab.register: against direct NumPy computation and SimpleITK's own filters."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from medlab import data
from medlab import preprocess as pp
from medlab import register as reg


@pytest.fixture(scope="module")
def t1_4mm():
    t1 = sitk.ReadImage(str(data.fetch("mni152_t1.nii.gz")), sitk.sitkFloat32)
    return pp.resample_to_spacing(t1, 4.0)


def _centre(image):
    return image.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in image.GetSize()])


def _known_affine(centre):
    rot = sitk.Euler3DTransform(centre, np.deg2rad(6), np.deg2rad(-4), np.deg2rad(8), (5.0, -6.0, 3.0))
    matrix = np.array(rot.GetMatrix()).reshape(3, 3) @ np.diag([1.05, 0.96, 1.02])
    true = sitk.AffineTransform(3)
    true.SetCenter(centre)
    true.SetMatrix(matrix.ravel().tolist())
    true.SetTranslation(rot.GetTranslation())
    return true, matrix, np.array(rot.GetTranslation())


def test_tre_matches_numpy():
    rng = np.random.default_rng(0)
    centre = np.array([1.0, -2.0, 3.0])
    true, matrix, shift = _known_affine(centre.tolist())
    pts = rng.uniform(-80, 80, size=(50, 3))
    expected = np.linalg.norm(pts - ((pts - centre) @ matrix.T + centre + shift), axis=1)
    identity = sitk.Transform(3, sitk.sitkIdentity)
    np.testing.assert_allclose(reg.target_registration_error(identity, true, pts), expected, rtol=1e-12)
    assert np.allclose(reg.target_registration_error(true, true, pts), 0)


def test_tre_of_a_rotation_is_the_chord():
    theta = np.deg2rad(10)
    rot = sitk.Euler3DTransform((0, 0, 0), 0, 0, theta, (0, 0, 0))
    pts = [[80.0, 0, 0], [0, 40.0, 0], [0, 0, 50.0]]  # the last lies on the rotation axis
    tre = reg.target_registration_error(sitk.Transform(3, sitk.sitkIdentity), rot, pts)
    np.testing.assert_allclose(tre, [2 * 80 * np.sin(theta / 2), 2 * 40 * np.sin(theta / 2), 0], atol=1e-12)


def test_affine_from_rigid_moves_points_identically():
    rigid = sitk.Euler3DTransform((10.0, 0.0, -5.0), 0.1, -0.2, 0.3, (4.0, 5.0, -6.0))
    composite = sitk.CompositeTransform(rigid)
    pts = np.random.default_rng(1).uniform(-50, 50, size=(20, 3))
    for source in (rigid, composite):
        affine = reg.affine_from_rigid(source)
        assert affine.GetName() == "AffineTransform"
        assert np.allclose(reg.target_registration_error(affine, rigid, pts), 0, atol=1e-9)
    with pytest.raises(TypeError, match="SimpleITK transform"):
        reg.affine_from_rigid(np.eye(4))
    with pytest.raises(TypeError, match="cannot turn"):
        reg.affine_from_rigid(sitk.BSplineTransform(3))


def test_rigid_then_affine_recovers_a_known_transform(t1_4mm):
    """A T1 volume against a contrast-inverted, affinely moved copy of itself."""
    true, _, _ = _known_affine(_centre(t1_4mm))
    inverted = sitk.Cast(1000 - t1_4mm, sitk.sitkFloat32)  # another contrast: MI does not care
    moving = sitk.Resample(inverted, t1_4mm, true.GetInverse(), sitk.sitkLinear, 0.0)
    arr = sitk.GetArrayFromImage(t1_4mm)
    idx = np.argwhere(arr > np.percentile(arr, 75))[::50]
    pts = [t1_4mm.TransformIndexToPhysicalPoint([int(i) for i in p[::-1]]) for p in idx]
    before = reg.target_registration_error(sitk.Transform(3, sitk.sitkIdentity), true, pts).mean()
    rigid = reg.register(t1_4mm, moving, "rigid", shrink=(2, 1), smooth_mm=(4.0, 0.0), sampling=0.2)
    affine = reg.register(t1_4mm, moving, "affine", initial=reg.affine_from_rigid(rigid.transform),
                          shrink=(2, 1), smooth_mm=(4.0, 0.0), sampling=0.2)
    after_rigid = reg.target_registration_error(rigid.transform, true, pts).mean()
    after = reg.target_registration_error(affine.transform, true, pts).mean()
    assert before > 5 and after_rigid < before and after < 2.0  # mm: under half a 4 mm voxel
    assert affine.metric < -0.1 and affine.iterations > 0 and affine.stop
    runs = [reg.register(t1_4mm, moving, "affine", initial=reg.affine_from_rigid(rigid.transform),
                         shrink=(2, 1), smooth_mm=(4.0, 0.0), sampling=0.2, threads=1).transform
            for _ in range(2)]
    assert runs[0].GetParameters() == runs[1].GetParameters()  # seeded and single-threaded: exact


def test_register_rejects_bad_input(t1_4mm):
    with pytest.raises(TypeError, match="SimpleITK.Image"):
        reg.register(np.zeros((4, 4, 4)), t1_4mm)
    with pytest.raises(ValueError, match="kind"):
        reg.register(t1_4mm, t1_4mm, "elastic")
    with pytest.raises(ValueError, match="sampling"):
        reg.register(t1_4mm, t1_4mm, sampling=0)
    with pytest.raises(ValueError, match="one smoothing sigma"):
        reg.register(t1_4mm, t1_4mm, shrink=(2, 1), smooth_mm=(1.0,))
    with pytest.raises(ValueError, match="clock"):
        reg.register(t1_4mm, t1_4mm, seed=0)
    with pytest.raises(ValueError, match="threads"):
        reg.register(t1_4mm, t1_4mm, threads=0)
    with pytest.raises(ValueError, match="2D"):
        reg.register(t1_4mm, t1_4mm[:, :, 5])
    with pytest.raises(ValueError, match="shape"):
        reg.target_registration_error(sitk.Transform(3, sitk.sitkIdentity),
                                      sitk.Transform(3, sitk.sitkIdentity), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="3D but the points are 2D"):
        reg.target_registration_error(sitk.Transform(3, sitk.sitkIdentity),
                                      sitk.Transform(3, sitk.sitkIdentity), [[1.0, 2.0]])


def test_n4_recovers_a_synthetic_bias(t1_4mm):
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, n) for n in t1_4mm.GetSize()[::-1]], indexing="ij")
    field = np.exp(0.25 * xx - 0.2 * yy + 0.15 * zz * xx)
    biased = sitk.GetImageFromArray((sitk.GetArrayFromImage(t1_4mm) * field).astype(np.float32))
    biased.CopyInformation(t1_4mm)
    mask = sitk.GetArrayFromImage(t1_4mm) > np.percentile(sitk.GetArrayFromImage(t1_4mm), 60)
    mask_img = sitk.GetImageFromArray(mask.astype(np.uint8))
    mask_img.CopyInformation(t1_4mm)
    corrected, bias = reg.n4_correct(biased, mask_img, shrink=1, iterations=(50, 50, 50))
    b = sitk.GetArrayFromImage(bias)
    # corrected = image / bias, computed directly
    np.testing.assert_allclose(sitk.GetArrayFromImage(corrected),
                               sitk.GetArrayFromImage(biased) / b, rtol=1e-5)
    # N4 finds the field up to a constant factor: compare logarithms without their means
    est, truth = np.log(b[mask]), np.log(field[mask])
    assert np.corrcoef(est, truth)[0, 1] > 0.9
    # the same as SimpleITK's filter called by hand
    n4 = sitk.N4BiasFieldCorrectionImageFilter()
    n4.SetMaximumNumberOfIterations([50, 50, 50])
    n4.Execute(biased, mask_img)
    np.testing.assert_allclose(b, np.exp(sitk.GetArrayFromImage(n4.GetLogBiasFieldAsImage(biased))),
                               rtol=1e-5)


def test_n4_rejects_bad_input(t1_4mm):
    with pytest.raises(ValueError, match="shrink"):
        reg.n4_correct(t1_4mm, shrink=0)
    with pytest.raises(ValueError, match="iterations"):
        reg.n4_correct(t1_4mm, iterations=())
    with pytest.raises(ValueError, match="empty"):
        reg.n4_correct(t1_4mm, mask=t1_4mm * 0)
    with pytest.raises(ValueError, match="mask size"):
        reg.n4_correct(t1_4mm, mask=t1_4mm[:, :, :10])
