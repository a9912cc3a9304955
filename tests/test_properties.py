"""Issue #26: property-based tests of the metric, box, convolution and preprocessing functions.

Random valid input must agree with an independent reference (scikit-learn, SciPy, pycocotools,
SimpleITK, or a NumPy loop written here where no library has the function; torchvision is not
available); random invalid input must raise a clear error and never return. Kept small
(``max_examples``, no deadline so that a loaded machine does not fail them; derandomized so that
a run is reproducible).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from medlab import conv, detection, metrics, preprocess

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
bad_number = st.one_of(st.just(np.nan), st.just(np.inf), st.floats(-1e3, -1e-3), st.floats(1.001, 1e3))


@st.composite
def xyxy(draw, max_n=8):
    n = draw(st.integers(0, max_n))
    xy = draw(hnp.arrays(np.float64, (n, 2), elements=st.floats(0, 100)))
    wh = draw(hnp.arrays(np.float64, (n, 2), elements=st.floats(0, 50)))
    return np.column_stack([xy, xy + wh])


@st.composite
def labels_and_scores(draw, min_n=2, max_n=40):
    n = draw(st.integers(min_n, max_n))
    y = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 1)))
    s = draw(hnp.arrays(np.float64, n, elements=st.floats(0, 1)))
    return y, s


# ------------------------------------------------------------------------ boxes
@SETTINGS
@given(xyxy(), xyxy())
def test_box_iou_agrees_with_pycocotools(a, b):
    mask = pytest.importorskip("pycocotools.mask")
    got = detection.box_iou(a, b)
    assert got.shape == (len(a), len(b))
    if len(a) and len(b):
        ref = mask.iou(detection.xyxy_to_xywh(a).tolist(), detection.xyxy_to_xywh(b).tolist(),
                       [0] * len(b))
        np.testing.assert_allclose(got, np.asarray(ref).reshape(len(a), len(b)), atol=1e-9)


def _nms_reference(boxes, scores, threshold):
    """Greedy NMS as in the original R-CNN code: a plain loop over pairs, written independently."""
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    keep, removed = [], set()
    for i in order:
        if i in removed:
            continue
        keep.append(i)
        for j in order:
            if j in removed or j == i:
                continue
            x0, y0 = max(boxes[i][0], boxes[j][0]), max(boxes[i][1], boxes[j][1])
            x1, y1 = min(boxes[i][2], boxes[j][2]), min(boxes[i][3], boxes[j][3])
            inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
            area = [(b[2] - b[0]) * (b[3] - b[1]) for b in (boxes[i], boxes[j])]
            union = area[0] + area[1] - inter
            if union > 0 and inter / union > threshold:
                removed.add(j)
    return keep


@SETTINGS
@given(xyxy(), st.floats(0, 1), st.data())
def test_nms_agrees_with_a_reference_loop(boxes, threshold, data):
    scores = data.draw(hnp.arrays(np.float64, len(boxes), elements=st.floats(0, 1)))
    got = detection.nms(boxes, scores, threshold).tolist()
    assert got == _nms_reference(boxes.tolist(), scores.tolist(), threshold)


@SETTINGS
@given(xyxy(max_n=5))
def test_box_conversions_round_trip(boxes):
    np.testing.assert_allclose(detection.xywh_to_xyxy(detection.xyxy_to_xywh(boxes)), boxes, atol=1e-9)
    np.testing.assert_allclose(detection.cxcywh_to_xyxy(detection.xyxy_to_cxcywh(boxes)), boxes, atol=1e-9)


@SETTINGS
@given(xyxy(max_n=4).filter(len), bad_number)
def test_nms_refuses_impossible_thresholds(boxes, threshold):
    with pytest.raises(ValueError, match="iou_threshold"):
        detection.nms(boxes, np.ones(len(boxes)), threshold)


@SETTINGS
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.just(4)), elements=finite))
def test_boxes_with_crossed_corners_are_refused(arr):
    crossed = (arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])
    if crossed.any():
        with pytest.raises(ValueError, match="x1 < x0 or y1 < y0"):
            detection.box_area(arr)
    else:
        np.testing.assert_allclose(detection.box_area(arr), (arr[:, 2] - arr[:, 0]) * (arr[:, 3] - arr[:, 1]))


@SETTINGS
@given(st.lists(st.floats(0, 1), min_size=1, max_size=20), st.data())
def test_interpolated_ap_refuses_values_outside_0_1(precision, data):
    i = data.draw(st.integers(0, len(precision) - 1))
    bad = list(precision)
    bad[i] = data.draw(bad_number)
    recall = np.linspace(0, 1, len(precision))
    with pytest.raises(ValueError, match="precision"):
        detection.interpolated_ap(bad, recall)
    assert 0.0 <= detection.interpolated_ap(precision, recall) <= 1.0


# ---------------------------------------------------------------------- metrics
@SETTINGS
@given(labels_and_scores())
def test_roc_auc_rank_agrees_with_scikit_learn(ys):
    from sklearn.metrics import roc_auc_score

    y, s = ys
    if len(np.unique(y)) < 2:
        with pytest.raises(ValueError):
            metrics.roc_auc_rank(y, s)
    else:
        assert metrics.roc_auc_rank(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


@SETTINGS
@given(labels_and_scores(min_n=1))
def test_confusion_counts_agree_with_scikit_learn(ys):
    from sklearn.metrics import confusion_matrix

    y, s = ys
    pred = (s >= 0.5).astype(int)
    c = metrics.confusion_counts(y, pred)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    assert (c["tp"], c["fp"], c["fn"], c["tn"]) == (tp, fp, fn, tn)


@SETTINGS
@given(labels_and_scores(min_n=1))
def test_brier_score_agrees_with_scikit_learn(ys):
    from sklearn.metrics import brier_score_loss

    y, p = ys
    assert metrics.brier_score(y, p) == pytest.approx(brier_score_loss(y, p, labels=[0, 1]), abs=1e-12)


@SETTINGS
@given(labels_and_scores(), st.integers(0, 39), st.sampled_from([np.nan, np.inf, -np.inf]))
def test_metrics_refuse_non_finite_scores(ys, where, bad):
    y, s = ys
    s = s.copy()
    s[where % len(s)] = bad
    with pytest.raises(ValueError, match="scores"):
        metrics.roc_auc_rank(y, s)
    with pytest.raises(ValueError, match="prob"):
        metrics.brier_score(y, s)


masks = hnp.arrays(bool, st.tuples(st.integers(1, 12), st.integers(1, 12)))


@SETTINGS
@given(masks, st.data())
def test_dice_and_iou_agree_with_scipy(a, data):
    from scipy.spatial.distance import dice as dice_dissimilarity
    from scipy.spatial.distance import jaccard

    b = data.draw(hnp.arrays(bool, a.shape))
    if not a.any() and not b.any():
        assert metrics.dice(a, b) == 1.0 and metrics.iou(a, b) == 1.0  # the documented convention
        return
    assert metrics.dice(a, b) == pytest.approx(1 - dice_dissimilarity(a.ravel(), b.ravel()), abs=1e-12)
    assert metrics.iou(a, b) == pytest.approx(1 - jaccard(a.ravel(), b.ravel()), abs=1e-12)


@SETTINGS
@given(masks.filter(lambda m: m.any()), st.data())
def test_hausdorff_agrees_with_scipy(a, data):
    from scipy.spatial.distance import directed_hausdorff

    b = data.draw(hnp.arrays(bool, a.shape).filter(lambda m: m.any()))
    pa, pb = np.argwhere(metrics.surface(a)), np.argwhere(metrics.surface(b))
    ref = max(directed_hausdorff(pa, pb)[0], directed_hausdorff(pb, pa)[0])
    assert metrics.hausdorff(a, b) == pytest.approx(ref, abs=1e-9)


# ------------------------------------------------------------------ convolution
@SETTINGS
@given(hnp.arrays(np.float64, st.tuples(st.integers(3, 12), st.integers(3, 12)), elements=st.floats(-10, 10)),
       st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(0, 2))
def test_conv2d_agrees_with_scipy(x, kh, kw, stride, dilation, pad):
    from scipy.signal import correlate2d

    kernel = np.arange(kh * kw, dtype=np.float64).reshape(kh, kw) - kh * kw / 2
    if (kh - 1) * dilation + 1 > x.shape[0] + 2 * pad or (kw - 1) * dilation + 1 > x.shape[1] + 2 * pad:
        with pytest.raises(ValueError):
            conv.conv2d(x, kernel, stride=stride, padding=pad, dilation=dilation)
        return
    dilated = np.zeros(((kh - 1) * dilation + 1, (kw - 1) * dilation + 1))
    dilated[::dilation, ::dilation] = kernel
    ref = correlate2d(np.pad(x, pad), dilated, mode="valid")[::stride, ::stride]
    np.testing.assert_allclose(conv.conv2d(x, kernel, stride=stride, padding=pad, dilation=dilation), ref,
                               atol=1e-9)


@SETTINGS
@given(st.integers(-3, 0), st.sampled_from(["stride", "dilation"]))
def test_conv2d_refuses_non_positive_stride_and_dilation(value, name):
    with pytest.raises(ValueError, match=name):
        conv.conv2d(np.ones((5, 5)), np.ones((2, 2)), **{name: value})


# ---------------------------------------------------------------- preprocessing
images = hnp.arrays(np.float64, st.tuples(st.integers(2, 10), st.integers(2, 10)),
                    elements=st.floats(-2000, 2000))


@SETTINGS
@given(images, st.floats(-1000, 1000), st.floats(1, 3000))
def test_window_agrees_with_simpleitk(x, level, width):
    import SimpleITK as sitk

    got = preprocess.window(x, level, width)
    ref = sitk.GetArrayFromImage(sitk.IntensityWindowing(
        sitk.GetImageFromArray(x), level - width / 2, level + width / 2, 0.0, 1.0))
    np.testing.assert_allclose(got, ref, atol=1e-9)


@SETTINGS
@given(images.filter(lambda a: a.std() > 1e-6))
def test_zscore_agrees_with_scipy(x):
    from scipy.stats import zscore

    np.testing.assert_allclose(preprocess.zscore(x), zscore(x, axis=None), atol=1e-9)


@SETTINGS
@given(images, st.floats(0, 49), st.floats(51, 100))
def test_percentile_scale_agrees_with_numpy(x, low, high):
    lo, hi = np.percentile(x, [low, high])
    if hi <= lo:
        with pytest.raises(ValueError, match="constant"):
            preprocess.percentile_scale(x, low, high)
    else:
        np.testing.assert_allclose(preprocess.percentile_scale(x, low, high),
                                   np.clip((x - lo) / (hi - lo), 0, 1))


@SETTINGS
@given(images, st.one_of(st.floats(-1e3, 0), st.just(np.nan), st.just(np.inf)))
def test_window_refuses_bad_widths(x, width):
    with pytest.raises(ValueError, match="width"):
        preprocess.window(x, 40, width)


@SETTINGS
@given(images, st.integers(0, 99), st.sampled_from([np.nan, np.inf, -np.inf]))
def test_preprocessing_refuses_non_finite_images(x, where, bad):
    x = x.copy()
    x.flat[where % x.size] = bad
    for fn in (preprocess.zscore, preprocess.percentile_scale, lambda a: preprocess.window(a, 40, 400)):
        with pytest.raises(ValueError, match="array contains 1 NaN or infinite"):
            fn(x)


@SETTINGS
@given(images, st.integers(1, 16), st.sampled_from([0, 1]))
def test_resize_keep_aspect_fits_the_square_and_keeps_labels(x, size, order):
    labels = (x > 0).astype(np.int64)
    out = preprocess.resize_keep_aspect(labels if order == 0 else x, size, order=order)
    assert out.shape == (size, size)
    if order == 0:
        assert set(np.unique(out)) <= {0, 1}  # nearest neighbour invents no label
