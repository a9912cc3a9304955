"""Segmentation metrics (medlab.metrics, chapter unet) against independent references:
scikit-learn's f1_score/jaccard_score, SimpleITK's overlap, Hausdorff and shape filters, and a
brute-force pairwise-distance HD95."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.distance import cdist
from sklearn.metrics import f1_score, jaccard_score

from medlab import metrics

RNG = np.random.default_rng(42)


def random_pairs(n=12, shape=(17, 23)):
    for i in range(n):
        p = RNG.random(shape) < RNG.uniform(0.05, 0.9)
        t = RNG.random(shape) < RNG.uniform(0.05, 0.9)
        if i % 3 == 0:  # overlapping blobs rather than noise
            t = np.roll(p, RNG.integers(-3, 4), axis=i % 2)
        yield p, t


EDGE_CASES = [
    (np.zeros((6, 7), bool), np.zeros((6, 7), bool)),
    (np.ones((6, 7), bool), np.ones((6, 7), bool)),
    (np.ones((6, 7), bool), np.zeros((6, 7), bool)),
    (np.zeros((6, 7), bool), np.ones((6, 7), bool)),
]


@pytest.mark.parametrize("p,t", [*random_pairs(), *EDGE_CASES])
def test_dice_iou_match_sklearn(p, t):
    assert metrics.dice(p, t) == pytest.approx(f1_score(t.ravel(), p.ravel(), zero_division=1.0))
    assert metrics.iou(p, t) == pytest.approx(jaccard_score(t.ravel(), p.ravel(), zero_division=1.0))


@pytest.mark.parametrize("p,t", list(random_pairs(6, (9, 11, 13))))
def test_dice_iou_match_simpleitk_3d(p, t):
    f = sitk.LabelOverlapMeasuresImageFilter()
    f.Execute(sitk.GetImageFromArray(p.astype(np.uint8)), sitk.GetImageFromArray(t.astype(np.uint8)))
    assert metrics.dice(p, t) == pytest.approx(f.GetDiceCoefficient())
    assert metrics.iou(p, t) == pytest.approx(f.GetJaccardCoefficient())
    d = metrics.dice(p, t)
    assert metrics.iou(p, t) == pytest.approx(d / (2 - d))


def test_empty_and_full_conventions():
    z, o = np.zeros((4, 4), bool), np.ones((4, 4), bool)
    assert metrics.dice(z, z) == 1.0 and metrics.iou(z, z) == 1.0
    assert metrics.dice(z, o) == 0.0 and metrics.iou(o, z) == 0.0
    assert metrics.dice(o, o) == 1.0
    assert metrics.hd95(z, z) == 0.0 and metrics.hausdorff(z, z) == 0.0
    assert metrics.hd95(z, o) == np.inf and metrics.hd95(o, z) == np.inf
    assert metrics.hd95(o, o) == 0.0
    assert metrics.volume_difference(z, z) == 0.0
    assert metrics.volume_difference(o, z) == np.inf
    assert metrics.volume_difference(z, o) == -1.0


def _sitk(mask, spacing):
    # pad by one background voxel: SimpleITK's contour filter treats the outside of the image as
    # foreground, medlab (like most segmentation toolkits) as background
    img = sitk.GetImageFromArray(np.pad(mask, 1).astype(np.uint8))
    img.SetSpacing(tuple(float(s) for s in spacing[::-1]))  # SimpleITK orders axes x, y, z
    return sitk.BinaryContour(img, fullyConnected=False)


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.7, 2.5)])
@pytest.mark.parametrize("p,t", list(random_pairs(8)))
def test_hausdorff_max_matches_simpleitk_on_contours(p, t, spacing):
    f = sitk.HausdorffDistanceImageFilter()
    f.Execute(_sitk(p, spacing), _sitk(t, spacing))
    assert metrics.hausdorff(p, t, 100, spacing) == pytest.approx(f.GetHausdorffDistance())


def test_surface_matches_simpleitk_contour():
    for p, _ in random_pairs(5, (8, 9, 10)):
        ref = sitk.GetArrayFromImage(_sitk(p, (1, 1, 1)))[1:-1, 1:-1, 1:-1] > 0
        np.testing.assert_array_equal(metrics.surface(p), ref)


def _directed_percentiles_by_brute_force(p, t, spacing, q):
    """Independent reference: surfaces from SimpleITK's contour filter, all pairwise distances
    (scipy cdist), the q-th percentile of each directed set, the larger one (MONAI's rule)."""
    sp = np.ones(p.ndim) if spacing is None else np.asarray(spacing, float)
    sl = (slice(1, -1),) * p.ndim
    sp_pts = np.argwhere(sitk.GetArrayFromImage(_sitk(p, sp))[sl] > 0) * sp
    st_pts = np.argwhere(sitk.GetArrayFromImage(_sitk(t, sp))[sl] > 0) * sp
    d = cdist(sp_pts, st_pts)
    return max(np.percentile(d.min(axis=1), q), np.percentile(d.min(axis=0), q))


@pytest.mark.parametrize("spacing", [None, (1.5, 0.5)])
@pytest.mark.parametrize("p,t", list(random_pairs(8)))
def test_hd95_matches_brute_force(p, t, spacing):
    ref = _directed_percentiles_by_brute_force(p, t, spacing, 95)
    assert metrics.hd95(p, t, spacing) == pytest.approx(ref)


@pytest.mark.parametrize("p,t", list(random_pairs(4, (9, 11, 13))))
def test_hd95_and_hausdorff_3d_anisotropic(p, t):
    spacing = (2.0, 0.8, 1.1)
    ref = _directed_percentiles_by_brute_force(p, t, spacing, 95)
    assert metrics.hd95(p, t, spacing) == pytest.approx(ref)
    f = sitk.HausdorffDistanceImageFilter()
    f.Execute(_sitk(p, spacing), _sitk(t, spacing))
    assert metrics.hausdorff(p, t, 100, spacing) == pytest.approx(f.GetHausdorffDistance())


def test_hd95_is_the_larger_directed_percentile_not_the_pooled_one():
    # the prediction is the truth plus a small false blob far away: its 8 surface voxels are
    # ~10 % of the prediction's surface (so the directed 95th percentile sees them) but only
    # ~5 % of both surfaces pooled (so the pooled one, a rival convention, almost hides them)
    t = np.zeros((41, 41), bool)
    t[3:23, 3:23] = True
    p = t.copy()
    p[33:36, 33:36] = True
    d_pt, d_tp = metrics.surface_distances(p, t)
    pooled = np.percentile(np.concatenate([d_pt, d_tp]), 95)
    directed = max(np.percentile(d_pt, 95), np.percentile(d_tp, 95))
    assert metrics.hd95(p, t) == pytest.approx(directed)
    assert metrics.hd95(t, p) == pytest.approx(directed)  # symmetric
    assert not np.isclose(pooled, directed)


def test_volume_difference_matches_simpleitk_physical_size():
    p = np.zeros((10, 12, 14), np.uint8)
    t = np.zeros_like(p)
    p[2:8, 3:9, 1:12] = 1
    t[3:8, 2:10, 2:12] = 1
    spacing = (2.0, 0.5, 1.5)
    vols = []
    for m in (p, t):
        img = sitk.GetImageFromArray(m)
        img.SetSpacing(spacing[::-1])
        f = sitk.LabelShapeStatisticsImageFilter()
        f.Execute(img)
        vols.append(f.GetPhysicalSize(1))
    absolute = metrics.volume_difference(p, t, relative=False, spacing=spacing)
    assert absolute == pytest.approx(vols[0] - vols[1])
    assert metrics.volume_difference(p, t, spacing=spacing) == pytest.approx((vols[0] - vols[1]) / vols[1])


def test_dice_per_class_and_report():
    truth = RNG.integers(0, 4, (20, 20))
    pred = np.where(RNG.random((20, 20)) < 0.8, truth, RNG.integers(0, 4, (20, 20)))
    per = metrics.dice_per_class(pred, truth, [1, 2, 3])
    for k in (1, 2, 3):
        assert per[k] == pytest.approx(f1_score(truth.ravel() == k, pred.ravel() == k))
    rows = metrics.segmentation_report(pred, truth, {1: "a", 2: "b"})
    assert [r["class"] for r in rows] == ["a", "b"] and rows[0]["dice"] == pytest.approx(per[1])


def test_bad_input_raises():
    a = np.zeros((3, 3), bool)
    with pytest.raises(ValueError, match="same shape"):
        metrics.dice(a, np.zeros((3, 4), bool))
    with pytest.raises(ValueError, match="binary mask"):
        metrics.dice(np.full((3, 3), 2), a)
    with pytest.raises(ValueError, match="spacing"):
        metrics.hd95(a, a, spacing=(1.0, -1.0))
    with pytest.raises(ValueError, match="spacing"):
        metrics.hd95(a, a, spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="percentile"):
        metrics.hausdorff(a, a, percentile=101)
    with pytest.raises(TypeError, match="integer label map"):
        metrics.dice_per_class(np.zeros((2, 2)), np.zeros((2, 2), int), [1])
    with pytest.raises(ValueError, match="size 0"):
        metrics.dice(np.zeros(0, bool), np.zeros(0, bool))
