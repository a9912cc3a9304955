"""medlab.detection (issue #13): boxes, IoU, NMS, AP against independent references, BCCD loading."""

from __future__ import annotations

import numpy as np
import pytest

from medlab import data, metrics
from medlab import detection as det


def random_boxes(rng, n, size=100.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(1, size / 3, (n, 2))
    return np.column_stack([xy, xy + wh])


def brute_iou(a, b):
    """IoU by counting pixels of integer boxes on a grid (independent of the formula)."""
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            grid_p = np.zeros((64, 64), bool)
            grid_q = np.zeros((64, 64), bool)
            grid_p[int(p[1]):int(p[3]), int(p[0]):int(p[2])] = True
            grid_q[int(q[1]):int(q[3]), int(q[0]):int(q[2])] = True
            union = (grid_p | grid_q).sum()
            out[i, j] = (grid_p & grid_q).sum() / union if union else 0.0
    return out


def test_box_iou_matches_pixel_counting():
    rng = np.random.default_rng(0)
    xy = rng.integers(0, 40, (12, 2))
    a = np.column_stack([xy, xy + rng.integers(0, 20, (12, 2))])
    b = a[::-1] + rng.integers(-5, 5, (12, 4)).clip(0, None) * np.array([0, 0, 1, 1])
    np.testing.assert_allclose(det.box_iou(a, b), brute_iou(a, b), atol=1e-12)


def test_box_iou_small_example_and_shapes():
    assert det.box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3]])[0, 0] == pytest.approx(1 / 7)
    assert det.box_iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)
    assert det.box_iou([[5, 5, 5, 5]], [[5, 5, 5, 5]])[0, 0] == 0.0  # zero-area pair


@pytest.mark.parametrize("bad,match", [
    ([[2, 0, 1, 1]], "x1 < x0"), ([[0, 0, 1]], r"shape \(n, 4\)"), ([[0, 0, np.nan, 1]], "NaN"),
])
def test_bad_boxes_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        det.box_iou(bad, [[0, 0, 1, 1]])


def test_format_round_trips():
    b = random_boxes(np.random.default_rng(1), 20)
    np.testing.assert_allclose(det.xywh_to_xyxy(det.xyxy_to_xywh(b)), b)
    np.testing.assert_allclose(det.cxcywh_to_xyxy(det.xyxy_to_cxcywh(b)), b)
    np.testing.assert_allclose(det.xyxy_to_voc(det.voc_to_xyxy(np.round(b) + 1)), np.round(b) + 1)
    # a VOC box 1..10 covers ten pixels
    assert det.box_area(det.voc_to_xyxy([[1, 1, 10, 10]]))[0] == 100
    np.testing.assert_allclose(det.flip_boxes(det.flip_boxes(b, 100, 80), 100, 80), b)


@pytest.mark.parametrize("seed", range(5))
def test_nms_matches_tensorflow(seed):
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, 60)
    scores = rng.random(60)
    for thr in (0.3, 0.5, 0.7):
        ref = tf.image.non_max_suppression(boxes[:, [1, 0, 3, 2]].astype(np.float32),
                                           scores.astype(np.float32), 60, iou_threshold=thr).numpy()
        np.testing.assert_array_equal(det.nms(boxes, scores, thr), ref)


def test_nms_rejects_nan_scores():
    with pytest.raises(ValueError, match="NaN"):
        det.nms([[0, 0, 1, 1]], [np.nan])


def random_case(rng, n_images=8, classes=det.CLASSES):
    gt, pred = {}, {}
    for k in range(n_images):
        n = int(rng.integers(0, 6))
        boxes = random_boxes(rng, n)
        gt[k] = {"boxes": boxes, "labels": rng.integers(0, len(classes), n)}
        # predictions: jittered copies of the truth plus random boxes
        jit = boxes + rng.normal(0, 4, boxes.shape)
        jit = np.column_stack([np.minimum(jit[:, :2], jit[:, 2:]), np.maximum(jit[:, :2], jit[:, 2:])])
        m = int(rng.integers(0, 6))
        pb = np.concatenate([jit, random_boxes(rng, m)])
        pl = np.concatenate([gt[k]["labels"], rng.integers(0, len(classes), m)])
        keep = rng.random(len(pb)) < 0.85
        pred[k] = {"boxes": pb[keep], "scores": rng.random(int(keep.sum())), "labels": pl[keep]}
    return gt, pred


@pytest.mark.parametrize("seed", range(40))
def test_ap_matches_pycocotools_on_random_cases(seed):
    pytest.importorskip("pycocotools")
    gt, pred = random_case(np.random.default_rng(seed))
    ours, ref = det.evaluate(gt, pred), det.coco_eval(gt, pred)
    for key in ("ap50", "ap50_95"):
        for c in det.CLASSES:
            assert ours[key][c] == pytest.approx(ref[key][c], abs=1e-12, nan_ok=True), (key, c)
    assert ours["map50"] == pytest.approx(ref["map50"], abs=1e-12)


def voc_devkit_ap(rec, prec):
    """voc_ap(use_07_metric=False) as in the VOC development kit's Python port (py-faster-rcnn)."""
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


@pytest.mark.parametrize("seed", range(10))
def test_voc_ap_matches_devkit_formula(seed):
    rng = np.random.default_rng(seed)
    gt, pred = random_case(rng)
    g, p = det.split_by_class(gt, pred)["RBC"]
    pr = det.precision_recall(g, p, 0.5, "voc")
    if pr["n_gt"] == 0 or len(pr["tp"]) == 0:
        pytest.skip("no boxes of this class in this case")
    expected = voc_devkit_ap(pr["recall"], pr["precision"])
    assert det.average_precision(g, p, 0.5, "voc") == pytest.approx(expected)


def voc_devkit_match(gt_voc, det_voc, scores, minoverlap=0.5):
    """The matching loop of the VOC kit's VOCevaldet.m, on 1-based inclusive integer boxes
    (areas and overlaps with its "+1"), for one image and one class: TP flags in input order."""
    order = sorted(range(len(scores)), key=lambda d: -scores[d])  # MATLAB's sort is stable
    taken = [False] * len(gt_voc)
    tp = [False] * len(scores)
    for d in order:
        bb, ovmax, jmax = det_voc[d], -np.inf, -1
        for j, bbgt in enumerate(gt_voc):
            iw = min(bb[2], bbgt[2]) - max(bb[0], bbgt[0]) + 1
            ih = min(bb[3], bbgt[3]) - max(bb[1], bbgt[1]) + 1
            if iw > 0 and ih > 0:
                ua = ((bb[2] - bb[0] + 1) * (bb[3] - bb[1] + 1)
                      + (bbgt[2] - bbgt[0] + 1) * (bbgt[3] - bbgt[1] + 1) - iw * ih)
                if iw * ih / ua > ovmax:
                    ovmax, jmax = iw * ih / ua, j
        if ovmax >= minoverlap and not taken[jmax]:
            tp[d], taken[jmax] = True, True
    return np.array(tp)


@pytest.mark.parametrize("seed", range(30))
def test_voc_matching_equals_the_devkit_loop(seed):
    rng = np.random.default_rng(seed)
    def voc_boxes(n):  # small integer boxes on a small grid: many overlaps, some exact ties
        xy = rng.integers(1, 30, (n, 2))
        return np.column_stack([xy, xy + rng.integers(0, 12, (n, 2))])
    gt_voc, det_voc = voc_boxes(int(rng.integers(1, 8))), voc_boxes(int(rng.integers(1, 12)))
    scores = rng.permutation(len(det_voc)) / len(det_voc)
    expected = voc_devkit_match(gt_voc.tolist(), det_voc.tolist(), scores.tolist())
    got = det.match_detections(det.voc_to_xyxy(gt_voc), det.voc_to_xyxy(det_voc), scores,
                               iou_threshold=0.5, rule="voc") >= 0
    np.testing.assert_array_equal(got, expected)


def test_voc_and_coco_rules_differ_when_the_best_box_is_taken():
    gt = np.array([[0, 0, 10, 10], [2, 0, 12, 10]], float)  # two overlapping cells
    # the first detection takes box 0; the second overlaps box 0 most (IoU 0.90) and box 1
    # enough (IoU 0.74): COCO gives it box 1, VOC calls it a second detection of box 0
    pred = np.array([[0, 0, 10, 10], [0.5, 0, 10.5, 10]], float)
    scores = np.array([0.9, 0.8])
    iou = det.box_iou(pred[1:], gt)[0]
    assert iou[0] > iou[1] >= 0.5
    np.testing.assert_array_equal(det.match_detections(gt, pred, scores, rule="coco"), [0, 1])
    np.testing.assert_array_equal(det.match_detections(gt, pred, scores, rule="voc"), [0, -1])


def test_iou_of_exactly_one_half_is_a_hit_in_both_rules():
    gt, pred = np.array([[0, 0, 10, 10]], float), np.array([[0, 0, 10, 5]], float)
    assert det.box_iou(pred, gt)[0, 0] == 0.5
    for rule in ("coco", "voc"):
        assert det.match_detections(gt, pred, [1.0], iou_threshold=0.5, rule=rule)[0] == 0


@pytest.mark.parametrize("seed", range(20))
def test_interpolated_ap_is_never_below_uninterpolated(seed):
    gt, pred = random_case(np.random.default_rng(seed))
    for c, (g, p) in det.split_by_class(gt, pred).items():
        pr = det.precision_recall(g, p, 0.5, "voc")
        if pr["n_gt"] == 0 or not pr["tp"].any():
            continue
        plain = metrics.uninterpolated_ap(pr["tp"], np.arange(len(pr["tp"]), 0, -1.0),
                                          n_positive=pr["n_gt"])
        assert det.interpolated_ap(pr["precision"], pr["recall"], "voc") >= plain - 1e-12, c


def test_ap_definitions_on_the_chapters_example():
    # one image, four cells; ranked detections: hit, miss, miss, hit, hit, miss, hit
    cells = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10], [60, 0, 70, 10]], float)
    empty = np.array([[0, 50, 10, 60], [20, 50, 30, 60], [40, 50, 50, 60]], float)
    boxes = np.array([cells[0], empty[0], empty[1], cells[1], cells[2], empty[2], cells[3]])
    scores = np.arange(7, 0, -1) / 7
    pr = det.precision_recall({"a": cells}, {"a": (boxes, scores)})
    hit = pr["tp"].astype(int)
    np.testing.assert_array_equal(hit, [1, 0, 0, 1, 1, 0, 1])
    assert metrics.uninterpolated_ap(hit, scores) == pytest.approx(0.25 * (1 + 1 / 2 + 3 / 5 + 4 / 7))
    assert det.interpolated_ap(pr["precision"], pr["recall"], "voc") == pytest.approx(
        0.25 * (1 + 3 / 5 + 3 / 5 + 4 / 7))
    coco = (26 * 1 + 50 * 3 / 5 + 25 * 4 / 7) / 101
    assert det.interpolated_ap(pr["precision"], pr["recall"], "coco") == pytest.approx(coco)
    pytest.importorskip("pycocotools")
    gt = {"a": {"boxes": cells, "labels": ["RBC"] * 4}}
    pred = {"a": {"boxes": boxes, "scores": scores, "labels": ["RBC"] * 7}}
    assert det.coco_eval(gt, pred)["ap50"]["RBC"] == pytest.approx(coco, abs=1e-12)


def test_tiny_ranked_list_by_hand():
    # one image, two objects; ranked detections: hit, miss, hit -> precision 1, 1/2, 2/3
    gt = {"a": np.array([[0, 0, 10, 10], [20, 20, 30, 30]])}
    pred = {"a": (np.array([[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30]]), np.array([0.9, 0.8, 0.7]))}
    assert det.average_precision(gt, pred, method="voc") == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    coco = (51 * 1 + 50 * 2 / 3) / 101
    assert det.average_precision(gt, pred, method="coco") == pytest.approx(coco)


def test_empty_and_undefined_cases():
    gt = {"a": np.array([[0, 0, 10, 10]]), "b": np.zeros((0, 4))}
    assert det.average_precision(gt, {}) == 0.0  # no predictions at all
    only_fp = {"b": (np.array([[0, 0, 5, 5]]), np.array([0.9])), "a": (np.array([[0, 0, 10, 10]]), [0.5])}
    assert det.average_precision(gt, only_fp, method="voc") == pytest.approx(0.5)  # image b adds an FP
    assert np.isnan(det.average_precision({"b": np.zeros((0, 4))}, {}))  # no ground truth: undefined


def test_bad_evaluation_input_raises():
    gt = {"a": {"boxes": [[0, 0, 1, 1]], "labels": ["RBC"]}}
    with pytest.raises(ValueError, match="no ground-truth entry"):
        det.evaluate(gt, {"z": {"boxes": [[0, 0, 1, 1]], "scores": [1.0], "labels": ["RBC"]}})
    with pytest.raises(ValueError, match="not one of the classes"):
        det.evaluate(gt, {"a": {"boxes": [[0, 0, 1, 1]], "scores": [1.0], "labels": ["neutrophil"]}})
    with pytest.raises(ValueError, match="NaN"):
        det.evaluate(gt, {"a": {"boxes": [[0, 0, 1, 1]], "scores": [np.nan], "labels": ["RBC"]}})
    with pytest.raises(ValueError, match="method"):
        det.interpolated_ap([1.0], [1.0], method="auc")


def test_froc_counts_false_positives_per_image():
    gt = {0: np.array([[0, 0, 10, 10]]), 1: np.array([[0, 0, 10, 10]])}
    pred = {0: (np.array([[0, 0, 10, 10], [40, 40, 50, 50]]), np.array([0.9, 0.8])),
            1: (np.array([[60, 60, 70, 70], [0, 0, 10, 10]]), np.array([0.7, 0.6]))}
    out = det.froc(gt, pred, fps_per_image=(0.5, 1.0))
    assert out["at"] == {0.5: 0.5, 1.0: 1.0}


def test_parse_voc_xml_text():
    xml = ("<annotation><filename>x.jpg</filename><size><width>640</width><height>480</height></size>"
           "<object><name>WBC</name><difficult>0</difficult><bndbox><xmin>1</xmin><ymin>2</ymin>"
           "<xmax>10</xmax><ymax>20</ymax></bndbox></object></annotation>")
    ann = det.parse_voc_xml(xml)
    assert ann["names"] == ["WBC"] and (ann["width"], ann["height"]) == (640, 480)
    np.testing.assert_array_equal(ann["boxes"], [[0, 1, 10, 20]])
    with pytest.raises(ValueError, match="not a VOC annotation"):
        det.parse_voc_xml("<html></html>")


def test_bccd_registry_and_split():
    assert len(data.BCCD_FILES) == 732
    entry = data.REGISTRY["BCCD/Annotations/BloodImage_00000.xml"]
    assert entry.hash == "sha256:655ee0c67cbac5bf3961e017c75b130be1995f824557916eabdbe99d29fae101"
    # one archive of the pinned commit, not 732 files (issue #29)
    assert entry.url == ("https://github.com/Shenggan/BCCD_Dataset/archive/"
                         "d272fb14cdff6e473fafeeeba32aba5f560e9e43.tar.gz")
    assert entry.member == "BCCD_Dataset-d272fb14cdff6e473fafeeeba32aba5f560e9e43/" + entry.name
    assert {data.REGISTRY[n].url for n in data.BCCD_FILES} == {entry.url}
    try:
        sizes = {s: len(data.bccd_ids(s)) for s in ("train", "val", "test")}
    except data.DataError:
        pytest.skip("BCCD files not available offline (set MEDLAB_DATA_DIR)")
    assert sizes == {"train": 205, "val": 87, "test": 72}
    val = data.load_bccd("val", images=False)
    counts = np.bincount(np.concatenate(val["labels"]), minlength=3)
    assert counts.sum() == sum(len(b) for b in val["boxes"]) and counts[1] >= 87 - 6
