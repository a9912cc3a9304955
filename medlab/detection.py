"""Object detection: boxes, IoU, NMS, average precision, FROC and the BCCD data.

The building blocks of the chapter *Finding blood cells: object detection*
(chapters/detection.ipynb, issue #13); the detector itself and the classical baseline are in
:mod:`medlab.centernet`:

* box formats and their conversions (``xyxy``, ``xywh``, centre-size, VOC's 1-based pixels);
* :func:`box_iou` (N x M), :func:`nms` (greedy non-maximum suppression);
* :func:`match_detections`, :func:`interpolated_ap` and :func:`average_precision` (VOC
  all-point or COCO 101-point, both on the precision envelope), :func:`evaluate` (AP per class,
  mAP@0.5 and mAP@[.5:.95]) and :func:`froc`; the classification chapter's AP without
  interpolation, Σ(ΔR)·P, is :func:`medlab.metrics.uninterpolated_ap`;
* :func:`parse_voc_xml` and :func:`read_rgb` for the BCCD blood-cell data set (loaded by
  :func:`medlab.data.load_bccd`).

Conventions
-----------
Boxes are float arrays of shape (n, 4) in **continuous pixel coordinates**
``(x0, y0, x1, y1)`` with ``x0 <= x1`` and ``y0 <= y1``: the pixel with 0-based column ``i``
covers ``[i, i + 1)``. A VOC box ``xmin..xmax`` (1-based, both ends inclusive) is therefore
``(xmin - 1, ymin - 1, xmax, ymax)``; its width is ``xmax - xmin + 1`` pixels, which is exactly
how the VOC development kit computes areas. Areas and IoU carry no "+1".

Ground truth for one class is a mapping ``image_id -> (n, 4) array`` (an empty array for an
image without objects of that class); predictions are a mapping ``image_id -> (boxes, scores)``.
For several classes, ground truth is ``image_id -> {"boxes", "labels"}`` and predictions
``image_id -> {"boxes", "scores", "labels"}``, labels being class names or indices into the
class list.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medlab.validate import check_array, check_int, check_number, check_one_of, check_probabilities

CLASSES = ("RBC", "WBC", "Platelets")
"""BCCD's three classes, in the order of the network's heatmap channels."""

BCCD_SHAPE = (480, 640)
"""Height and width of every BCCD image (pixels)."""

COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
"""IoU thresholds of COCO's mAP@[.5:.95] (0.50, 0.55, ..., 0.95)."""


# ----------------------------------------------------------------------------- boxes
def as_boxes(boxes: Any, name: str = "boxes") -> np.ndarray:
    """Check and return boxes as a float64 (n, 4) ``xyxy`` array.

    Raises
    ------
    ValueError
        Wrong shape, non-finite values, or a box with ``x1 < x0`` or ``y1 < y0``.
    """
    arr = check_array(boxes, name, kind="numeric").astype(np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (n, 4) as (x0, y0, x1, y1), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite coordinates")
    bad = np.flatnonzero((arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1]))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] = {arr[bad[0]].tolist()} has x1 < x0 or y1 < y0; "
                         "boxes are (x0, y0, x1, y1) with the smaller corner first "
                         "(convert xywh boxes with xywh_to_xyxy)")
    return arr


def _as_scores(scores: Any, n: int, name: str = "scores") -> np.ndarray:
    s = check_array(scores, name, kind="numeric").astype(np.float64).reshape(-1)
    if s.shape[0] != n:
        raise ValueError(f"{name} has {s.shape[0]} values for {n} boxes")
    if np.isnan(s).any():
        raise ValueError(f"{name} contains NaN; every detection needs a score to be ranked")
    return s


def xyxy_to_xywh(boxes: Any) -> np.ndarray:
    """``(x0, y0, x1, y1)`` -> ``(x0, y0, width, height)`` (COCO's format)."""
    b = as_boxes(boxes)
    return np.column_stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]])


def _n4(boxes: Any, name: str, layout: str) -> np.ndarray:
    """An (n, 4) finite float array in some box layout (not yet checked as ``xyxy``)."""
    arr = check_array(boxes, name, kind="numeric", finite=True).astype(np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (n, 4) as {layout}, got {arr.shape}")
    return arr


def _sizes_non_negative(b: np.ndarray, name: str) -> np.ndarray:
    bad = np.flatnonzero((b[:, 2] < 0) | (b[:, 3] < 0))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] = {b[bad[0]].tolist()} has a negative width or height")
    return b


def xywh_to_xyxy(boxes: Any) -> np.ndarray:
    """``(x0, y0, width, height)`` -> ``(x0, y0, x1, y1)``; widths and heights must be >= 0."""
    b = _sizes_non_negative(_n4(boxes, "boxes", "(x0, y0, width, height)"), "boxes")
    return as_boxes(np.column_stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]]))


def xyxy_to_cxcywh(boxes: Any) -> np.ndarray:
    """``(x0, y0, x1, y1)`` -> ``(centre x, centre y, width, height)`` (what a CenterNet predicts)."""
    b = as_boxes(boxes)
    return np.column_stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                            b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]])


def cxcywh_to_xyxy(boxes: Any) -> np.ndarray:
    """``(centre x, centre y, width, height)`` -> ``(x0, y0, x1, y1)``; sizes must be >= 0."""
    b = _sizes_non_negative(_n4(boxes, "boxes", "(centre x, centre y, width, height)"), "boxes")
    return as_boxes(np.column_stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2,
                                     b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2]))


def voc_to_xyxy(boxes: Any) -> np.ndarray:
    """VOC ``(xmin, ymin, xmax, ymax)`` (1-based, inclusive pixels) -> continuous ``xyxy``."""
    b = _n4(boxes, "boxes", "VOC (xmin, ymin, xmax, ymax)")
    return as_boxes(b - np.array([1.0, 1.0, 0.0, 0.0]), "VOC boxes")


def xyxy_to_voc(boxes: Any) -> np.ndarray:
    """Continuous ``xyxy`` -> VOC ``(xmin, ymin, xmax, ymax)``, 1-based inclusive pixels."""
    return as_boxes(boxes) + np.array([1.0, 1.0, 0.0, 0.0])


def box_area(boxes: Any) -> np.ndarray:
    """Areas (pixels squared) of ``xyxy`` boxes."""
    b = as_boxes(boxes)
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def box_iou(boxes_a: Any, boxes_b: Any) -> np.ndarray:
    """Intersection over union of every pair: (N, 4) and (M, 4) ``xyxy`` -> (N, M).

    Written with broadcasting: the intersection of boxes ``i`` and ``j`` is the box from the
    larger of the two top-left corners to the smaller of the two bottom-right corners, empty
    when those cross. A pair whose union is zero (two zero-area boxes) has IoU 0.
    """
    a, b = as_boxes(boxes_a, "boxes_a"), as_boxes(boxes_b, "boxes_b")
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def nms(boxes: Any, scores: Any, iou_threshold: float = 0.5, max_output: int | None = None) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the kept boxes, highest score first.

    Repeatedly keep the highest-scoring remaining box and drop every remaining box whose IoU
    with it is **greater than** ``iou_threshold`` (the rule of ``tf.image.non_max_suppression``).
    Ties in score keep the lower index first.
    """
    b = as_boxes(boxes)
    s = _as_scores(scores, len(b))
    iou_threshold = check_number(iou_threshold, "iou_threshold", low=0, high=1)
    if max_output is not None:
        max_output = check_int(max_output, "max_output", low=1)
    order = np.argsort(-s, kind="stable")
    iou = box_iou(b, b)
    keep: list[int] = []
    suppressed = np.zeros(len(b), bool)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(int(i))
        if max_output is not None and len(keep) >= max_output:
            break
        suppressed |= iou[i] > iou_threshold
    return np.array(keep, dtype=np.int64)


def flip_boxes(boxes: Any, width: float, height: float, horizontal: bool = True) -> np.ndarray:
    """Boxes of an image flipped left-right (``horizontal``) or upside down, in ``xyxy``."""
    b = as_boxes(boxes).copy()
    width = check_number(width, "width", low=0)
    height = check_number(height, "height", low=0)
    if horizontal:
        b[:, [0, 2]] = width - b[:, [2, 0]]
    else:
        b[:, [1, 3]] = height - b[:, [3, 1]]
    return b


# ---------------------------------------------------------------------- matching and AP
def _as_mapping(value: Any, name: str, sequence_ok: bool) -> dict:
    if isinstance(value, Mapping):
        return dict(value)
    if sequence_ok and isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return dict(enumerate(value))
    kind = "a mapping image_id -> ..." + (" or a list" if sequence_ok else "")
    raise TypeError(f"{name} must be {kind}, got {type(value).__name__}")


def _entry(d: Any, keys: Sequence[str], name: str, image_id: Any) -> list:
    """The fields ``keys`` of one image's entry in multi-class ground truth or predictions."""
    if not isinstance(d, Mapping):
        raise TypeError(f"{name}[{image_id!r}] must be a dict with keys {list(keys)}, "
                        f"got {type(d).__name__}")
    missing = [k for k in keys if k not in d]
    if missing:
        raise ValueError(f"{name}[{image_id!r}] lacks the key(s) {missing}; each entry needs {list(keys)}")
    return [d[k] for k in keys]


def _one_class_inputs(gt: Mapping | Sequence, pred: Mapping | Sequence) -> tuple[dict, dict]:
    _as_mapping(gt, "gt", True), _as_mapping(pred, "pred", True)
    gt_map = dict(gt) if isinstance(gt, Mapping) else dict(enumerate(gt))
    pred_map = dict(pred) if isinstance(pred, Mapping) else dict(enumerate(pred))
    unknown = [k for k in pred_map if k not in gt_map]
    if unknown:
        raise ValueError(f"image id {unknown[0]!r} has predictions but no ground-truth entry; give "
                         "every evaluated image a ground-truth entry (an empty (0, 4) array if it "
                         "has no objects)")
    gts = {k: as_boxes(v, f"ground truth of image {k!r}") for k, v in gt_map.items()}
    preds = {}
    for k, v in pred_map.items():
        if not (isinstance(v, (tuple, list)) and len(v) == 2):
            raise ValueError(f"predictions of image {k!r} must be a (boxes, scores) pair")
        boxes = as_boxes(v[0], f"predicted boxes of image {k!r}")
        preds[k] = (boxes, _as_scores(v[1], len(boxes), f"scores of image {k!r}"))
    return gts, preds


def match_detections(gt_boxes: Any, pred_boxes: Any, scores: Any, *, iou_threshold: float = 0.5,
                     rule: str = "coco") -> np.ndarray:
    """Greedy matching in one image: is each prediction a true positive?

    Predictions are visited from the highest score down. ``rule="coco"`` (pycocotools'
    ``COCOeval.evaluateImg``): a prediction matches the *still unmatched* ground-truth box of
    largest IoU, if that IoU is ``>= iou_threshold``. ``rule="voc"`` (the VOC development kit's
    ``VOCevaldet.m``): it looks only at the ground-truth box of largest IoU *overall*; if that
    IoU is ``>= iou_threshold`` and the box is still unmatched, the prediction is a true
    positive; if the box is already taken it is a false positive ("multiple detection"), even
    when another, free box overlaps it enough. (The VOC paper says the overlap must "exceed"
    0.5, and the kit's Python port in py-faster-rcnn, ``voc_eval.py``, tests ``>``; the kit
    itself tests ``>=``, as here.)

    Returns
    -------
    numpy.ndarray
        Index of the matched ground-truth box for each prediction (in the input order), or -1
        for a false positive.
    """
    g = as_boxes(gt_boxes, "gt_boxes")
    p = as_boxes(pred_boxes, "pred_boxes")
    s = _as_scores(scores, len(p))
    iou_threshold = check_number(iou_threshold, "iou_threshold", low=0, high=1)
    check_one_of(rule, "rule", ("coco", "voc"))
    matched = np.full(len(p), -1, dtype=np.int64)
    if len(g) == 0 or len(p) == 0:
        return matched
    iou = box_iou(p, g)
    taken = np.zeros(len(g), bool)
    for i in np.argsort(-s, kind="stable"):
        if rule == "coco":
            cand = np.where(taken, -1.0, iou[i])
            j = int(np.argmax(cand))
            if cand[j] >= iou_threshold:
                matched[i], taken[j] = j, True
        else:
            j = int(np.argmax(iou[i]))
            if iou[i, j] >= iou_threshold and not taken[j]:
                matched[i], taken[j] = j, True
    return matched


def precision_recall(gt: Mapping | Sequence, pred: Mapping | Sequence, iou_threshold: float = 0.5,
                     rule: str = "coco") -> dict[str, Any]:
    """Ranked detections of one class over many images and their precision and recall.

    All predictions of all images are pooled and sorted by score (highest first, ties in
    image order); each is a true or false positive from :func:`match_detections` within its
    image. Returns ``scores``, ``tp`` (bool), ``precision``, ``recall`` (one value per
    detection, cumulative) and ``n_gt``.
    """
    gts, preds = _one_class_inputs(gt, pred)
    iou_threshold = check_number(iou_threshold, "iou_threshold", low=0, high=1)
    check_one_of(rule, "rule", ("coco", "voc"))
    n_gt = int(sum(len(b) for b in gts.values()))
    all_scores, all_tp = [], []
    for k, (boxes, scores) in preds.items():
        m = match_detections(gts[k], boxes, scores, iou_threshold=iou_threshold, rule=rule)
        order = np.argsort(-scores, kind="stable")
        all_scores.append(scores[order])
        all_tp.append(m[order] >= 0)
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    tp = np.concatenate(all_tp) if all_tp else np.zeros(0, bool)
    order = np.argsort(-scores, kind="stable")
    scores, tp = scores[order], tp[order]
    ctp = np.cumsum(tp)
    precision = ctp / np.arange(1, len(tp) + 1) if len(tp) else np.zeros(0)
    recall = ctp / n_gt if n_gt else np.full(len(tp), np.nan)
    return {"scores": scores, "tp": tp, "precision": precision, "recall": recall, "n_gt": n_gt}


def interpolated_ap(precision: Any, recall: Any, method: str = "coco") -> float:
    """Interpolated average precision of a ranked precision-recall curve, VOC or COCO style.

    Both first replace precision by its *envelope*: at each rank, the highest precision at
    that rank or any later one (so the curve never rises). ``"voc"`` (VOC 2010 on, all-point,
    the kit's ``VOCap.m``): the area under that step curve, summed where recall changes.
    ``"coco"`` (pycocotools' ``COCOeval.accumulate``): the mean of the envelope read at 101
    recall levels 0, 0.01, ..., 1 (0 where the recall level is never reached).

    The chapter *Evaluating a medical image model* defines AP without the envelope,
    Σₙ (Rₙ − Rₙ₋₁) Pₙ (scikit-learn's ``average_precision_score``), computed by
    :func:`medlab.metrics.uninterpolated_ap`; since the envelope is never below the precision,
    ``"voc"`` is never below that value on the same ranking. ``precision`` and ``recall`` are
    one value per ranked detection (as :func:`precision_recall` returns them), recall divided
    by the number of ground-truth objects, found or not.
    """
    p = check_probabilities(check_array(precision, "precision", ndim=1), "precision")
    r = check_probabilities(check_array(recall, "recall", ndim=1), "recall")
    if p.shape != r.shape:
        raise ValueError(f"precision and recall must be 1-D of equal length, got {p.shape}, {r.shape}")
    if np.any(np.diff(r) < 0):
        raise ValueError("recall must not decrease along the ranked detections "
                         "(give the curve in rank order, as precision_recall returns it)")
    check_one_of(method, "method", ("coco", "voc"))
    if len(p) == 0:
        return 0.0
    env = np.maximum.accumulate(p[::-1])[::-1]
    if method == "voc":
        r_steps = np.concatenate([[0.0], r])
        return float(np.sum((r_steps[1:] - r_steps[:-1]) * env))
    levels = np.linspace(0.0, 1.0, 101)
    idx = np.searchsorted(r, levels, side="left")
    picked = np.where(idx < len(env), env[np.minimum(idx, len(env) - 1)], 0.0)
    return float(picked.mean())


def average_precision(gt: Mapping | Sequence, pred: Mapping | Sequence, iou_threshold: float = 0.5,
                      method: str = "coco") -> float:
    """Average precision of one class over a list of images.

    Parameters
    ----------
    gt
        ``image_id -> (n, 4)`` ground-truth boxes (``xyxy``); every evaluated image needs an
        entry, an empty array when it has no object of this class. A list counts as ids 0, 1, ...
    pred
        ``image_id -> (boxes, scores)``; images without predictions may be left out.
    iou_threshold
        Minimum IoU for a prediction to count as finding a box.
    method
        ``"coco"`` (101-point interpolation and pycocotools' matching) or ``"voc"`` (all-point
        area and the VOC kit's matching); see :func:`match_detections` and
        :func:`interpolated_ap`. Both count a hit at IoU >= ``iou_threshold``.

    Returns
    -------
    float
        AP in [0, 1]. No predictions at all gives 0.0. Images without ground truth add only
        false positives. A class without any ground-truth box gives NaN (AP is undefined;
        pycocotools reports -1 there).
    """
    check_one_of(method, "method", ("coco", "voc"))
    pr = precision_recall(gt, pred, iou_threshold, method)
    if pr["n_gt"] == 0:
        return float("nan")
    return interpolated_ap(pr["precision"], pr["recall"], method)


def _class_index(labels: Any, classes: Sequence[str], where: str) -> np.ndarray:
    lab = np.asarray(labels).reshape(-1)
    if lab.size == 0:
        return np.zeros(0, np.int64)
    if lab.dtype.kind in "iu":
        bad = lab[(lab < 0) | (lab >= len(classes))]
        if bad.size:
            raise ValueError(f"{where}: label {bad[0]} is not an index into the classes {list(classes)}")
        return lab.astype(np.int64)
    lookup = {c: i for i, c in enumerate(classes)}
    out = []
    for x in lab:
        if x not in lookup:
            raise ValueError(f"{where}: label {x!r} is not one of the classes {list(classes)}")
        out.append(lookup[x])
    return np.array(out, np.int64)


def _as_classes(classes: Any) -> tuple[str, ...]:
    if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence) or not classes \
            or not all(isinstance(c, str) for c in classes) or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be a non-empty sequence of distinct class names, got {classes!r}")
    return tuple(classes)


def split_by_class(gt: Mapping, pred: Mapping, classes: Sequence[str] = CLASSES
                   ) -> dict[str, tuple[dict, dict]]:
    """Multi-class ground truth and predictions -> one ``(gt, pred)`` pair per class.

    ``gt``: ``image_id -> {"boxes", "labels"}``; ``pred``: ``image_id -> {"boxes", "scores",
    "labels"}``. Labels are class names or integer indices into ``classes``.
    """
    _as_mapping(gt, "gt", False), _as_mapping(pred, "pred", False)
    classes = _as_classes(classes)
    extra = [k for k in pred if k not in gt]
    if extra:
        raise ValueError(f"image id {extra[0]!r} has predictions but no ground-truth entry")
    out: dict[str, tuple[dict, dict]] = {c: ({}, {}) for c in classes}
    for k, g in gt.items():
        g_boxes, g_labels = _entry(g, ("boxes", "labels"), "gt", k)
        boxes = as_boxes(g_boxes, f"ground truth of image {k!r}")
        lab = _class_index(g_labels, classes, f"ground truth of image {k!r}")
        if len(lab) != len(boxes):
            raise ValueError(f"image {k!r}: {len(boxes)} ground-truth boxes but {len(lab)} labels")
        for i, c in enumerate(classes):
            out[c][0][k] = boxes[lab == i]
    for k, p in pred.items():
        p_boxes, p_scores, p_labels = _entry(p, ("boxes", "scores", "labels"), "pred", k)
        boxes = as_boxes(p_boxes, f"predicted boxes of image {k!r}")
        scores = _as_scores(p_scores, len(boxes), f"scores of image {k!r}")
        lab = _class_index(p_labels, classes, f"predictions of image {k!r}")
        if len(lab) != len(boxes):
            raise ValueError(f"image {k!r}: {len(boxes)} predicted boxes but {len(lab)} labels")
        for i, c in enumerate(classes):
            out[c][1][k] = (boxes[lab == i], scores[lab == i])
    return out


def evaluate(gt: Mapping, pred: Mapping, classes: Sequence[str] = CLASSES,
             method: str = "coco") -> dict[str, Any]:
    """AP per class at IoU 0.5 and averaged over COCO's ten thresholds, with their means.

    Returns ``{"ap50": {class: AP}, "ap50_95": {class: AP}, "map50": float, "map50_95": float}``;
    a class without ground truth is NaN and left out of the means.
    """
    check_one_of(method, "method", ("coco", "voc"))
    per = split_by_class(gt, pred, classes)
    ap50, ap5095 = {}, {}
    for c, (g, p) in per.items():
        ap50[c] = average_precision(g, p, 0.5, method)
        ap5095[c] = float(np.mean([average_precision(g, p, t, method) for t in COCO_IOU_THRESHOLDS]))
    return {"ap50": ap50, "ap50_95": ap5095, "map50": float(np.nanmean(list(ap50.values()))),
            "map50_95": float(np.nanmean(list(ap5095.values())))}


def froc(gt: Mapping | Sequence, pred: Mapping | Sequence, iou_threshold: float = 0.5,
         fps_per_image: Sequence[float] = (0.5, 1, 2, 4, 8)) -> dict[str, Any]:
    """Free-response ROC of one class: sensitivity against false positives per image.

    Lowering the score threshold step by step, sensitivity is the fraction of ground-truth
    boxes found and the x axis the number of false positives divided by the number of images
    (all images in ``gt``). ``at`` gives, for each requested rate, the highest sensitivity
    reached with at most that many false positives per image (0 if none).
    """
    gts, _ = _one_class_inputs(gt, pred)
    rates = check_array(fps_per_image, "fps_per_image", ndim=1, finite=True, non_empty=True)
    if rates.min() < 0:
        raise ValueError("fps_per_image must be rates >= 0 (false positives per image), "
                         f"got {rates.tolist()}")
    pr = precision_recall(gt, pred, iou_threshold, "coco")
    n_images = len(gts)
    if n_images == 0 or pr["n_gt"] == 0:
        raise ValueError("FROC needs at least one image and one ground-truth box")
    fp = np.cumsum(~pr["tp"]) / n_images
    sens = np.cumsum(pr["tp"]) / pr["n_gt"]
    fp, sens = np.concatenate([[0.0], fp]), np.concatenate([[0.0], sens])
    at = {float(r): float(sens[fp <= r].max()) for r in rates}
    return {"fp_per_image": fp, "sensitivity": sens, "at": at}


def to_coco(gt: Mapping, pred: Mapping, classes: Sequence[str] = CLASSES) -> tuple[dict, list]:
    """Ground truth and predictions in COCO's JSON layout (for pycocotools).

    Image ids become 1, 2, ... in the order of ``gt``; category ids are 1-based positions in
    ``classes``; boxes become ``[x, y, width, height]``.
    """
    per_class = split_by_class(gt, pred, classes)
    ids = {k: i + 1 for i, k in enumerate(gt)}
    images = [{"id": i, "width": BCCD_SHAPE[1], "height": BCCD_SHAPE[0]} for i in ids.values()]
    anns, dets = [], []
    for ci, c in enumerate(classes):
        g, p = per_class[c]
        for k, boxes in g.items():
            for b in xyxy_to_xywh(boxes):
                anns.append({"id": len(anns) + 1, "image_id": ids[k], "category_id": ci + 1,
                             "bbox": b.tolist(), "area": float(b[2] * b[3]), "iscrowd": 0})
        for k, (boxes, scores) in p.items():
            for b, s in zip(xyxy_to_xywh(boxes), scores, strict=True):
                dets.append({"image_id": ids[k], "category_id": ci + 1, "bbox": b.tolist(),
                             "score": float(s)})
    cats = [{"id": i + 1, "name": c} for i, c in enumerate(classes)]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def coco_eval(gt: Mapping, pred: Mapping, classes: Sequence[str] = CLASSES) -> dict[str, Any]:
    """The same numbers as :func:`evaluate`, computed by pycocotools (an independent check).

    Uses ``COCOeval`` with no area ranges and a detection limit above any image's count, and
    reads AP per class from its precision table (-1 there becomes NaN).
    """
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_json, dets = to_coco(gt, pred, classes)
    max_dets = max([1] + [len(np.asarray(p["scores"]).reshape(-1)) for p in pred.values()])
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt_json
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets) if dets else COCO()
        if not dets:
            coco_dt.dataset = {"images": gt_json["images"], "annotations": [],
                               "categories": gt_json["categories"]}
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, "bbox")
        ev.params.maxDets = [max_dets]
        ev.params.areaRng, ev.params.areaRngLbl = [[0, 1e10]], ["all"]
        ev.evaluate()
        ev.accumulate()
    prec = ev.eval["precision"][:, :, :, 0, 0]  # [threshold, recall level, class]
    per_t = np.where(prec < 0, np.nan, prec).mean(axis=1)  # [threshold, class]
    has_gt = np.array([any(a["category_id"] == i + 1 for a in gt_json["annotations"])
                       for i in range(len(classes))])
    per_t = np.where(has_gt[None, :], np.nan_to_num(per_t, nan=0.0), np.nan)
    ap50 = {c: float(per_t[0, i]) for i, c in enumerate(classes)}
    ap5095 = {c: float(per_t[:, i].mean()) for i, c in enumerate(classes)}
    return {"ap50": ap50, "ap50_95": ap5095, "map50": float(np.nanmean(list(ap50.values()))),
            "map50_95": float(np.nanmean(list(ap5095.values())))}


# ------------------------------------------------------------------------- BCCD data
def parse_voc_xml(source: str | Path) -> dict[str, Any]:
    """Read one Pascal VOC annotation file (a path, or the XML text itself).

    Returns ``filename``, ``width``, ``height``, ``names`` (list of class names), ``voc``
    (int (n, 4) array as written: 1-based, inclusive), ``boxes`` (continuous ``xyxy``, see
    :func:`voc_to_xyxy`) and ``difficult`` (bool array).

    Raises
    ------
    ValueError
        A file that is not well-formed XML (e.g. cut short), or an annotation missing an element
        it needs (``<size>`` with ``<width>`` and ``<height>``, an ``<object>``'s ``<name>`` and
        ``<bndbox>`` with its four coordinates) or holding one that is not a number; the message
        names the file and the element.
    TypeError
        ``source`` is neither a path nor a string.
    FileNotFoundError
        A path that does not exist.
    """
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a path or the XML text, got {type(source).__name__}")
    text = str(source)
    inline = isinstance(source, str) and text.lstrip().startswith("<")
    where = "the XML text" if inline else str(source)
    if not inline and not Path(source).is_file():
        raise FileNotFoundError(f"no such VOC annotation file: {source}")
    try:
        root = ET.fromstring(text) if inline else ET.parse(source).getroot()
    except ET.ParseError as err:
        raise ValueError(f"{where}: not well-formed XML (cut short or damaged?): {err}") from err
    if root.tag != "annotation":
        raise ValueError(f"{where}: not a VOC annotation: root element is <{root.tag}>")

    def number(parent: ET.Element, tag: str, path: str) -> float:
        value = parent.findtext(tag)
        if value is None or not value.strip():
            raise ValueError(f"{where}: <{path}/{tag}> is missing or empty")
        try:
            out = float(value)
        except ValueError:
            raise ValueError(f"{where}: <{path}/{tag}> is {value.strip()!r}, not a number") from None
        if not np.isfinite(out):
            raise ValueError(f"{where}: <{path}/{tag}> is {value.strip()!r}, not a finite number")
        return out

    size = root.find("size")
    if size is None:
        raise ValueError(f"{where}: VOC annotation without <size>")
    width, height = number(size, "width", "size"), number(size, "height", "size")
    names, voc, difficult = [], [], []
    for i, obj in enumerate(root.iter("object")):
        box = obj.find("bndbox")
        name = obj.findtext("name")
        if box is None or name is None or not name.strip():
            missing = "<bndbox>" if box is None else "<name>"
            raise ValueError(f"{where}: <object> number {i} has no {missing}; "
                             "a VOC <object> needs <name> and <bndbox>")
        voc.append([int(round(number(box, k, f"object[{i}]/bndbox")))
                    for k in ("xmin", "ymin", "xmax", "ymax")])
        names.append(name.strip())
        difficult.append(obj.findtext("difficult", "0").strip() == "1")
    voc_arr = np.array(voc, dtype=np.int64).reshape(-1, 4)
    try:
        boxes = voc_to_xyxy(voc_arr)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from err
    return {"filename": root.findtext("filename", ""), "width": int(width),
            "height": int(height), "names": names, "voc": voc_arr,
            "boxes": boxes, "difficult": np.array(difficult, bool)}


def read_rgb(path: str | Path, scale: float = 1.0) -> np.ndarray:
    """Read a colour image (e.g. a BCCD JPEG) as a uint8 RGB array (h, w, 3), shrunk by ``scale``.

    Returns a NumPy array, not a SimpleITK image (``medlab.io.read_image`` reads medical image
    formats with their geometry). ``scale < 1`` shrinks by area averaging (Pillow's ``BOX`` filter).

    Raises
    ------
    ValueError
        The file is not an image, or is damaged or cut short (it is decoded in full, whatever
        Pillow's ``LOAD_TRUNCATED_IMAGES`` says); the message names the file.
    """
    from PIL import Image

    from medlab.io import _decode_whole_picture
    from medlab.validate import check_number

    check_number(scale, "scale", low=0, high=1, low_open=True)
    im = _decode_whole_picture(path, "path")
    im = im.convert("RGB")
    if scale != 1.0:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                       Image.Resampling.BOX)
    return np.asarray(im, dtype=np.uint8)
