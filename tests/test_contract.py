"""Issue #26: the contract of every public function of medlab, as a table.

Every public function and public method of every ``medlab`` module (names without a leading
``_``, defined in that module) needs at least one row in :data:`CASES`: a call with bad input,
the exception type it must raise, and the argument name the message must contain. The
enumeration test fails when a function has no row (so a new function cannot escape) unless it is
listed in :data:`PENDING` with the reason it has no row yet; an entry there that has a row, or
that no longer exists, fails too. Each row is its own test: it fails if the call returns a
value, raises another type, or raises without naming the argument.
"""

# ruff: noqa: E501  (one row of the table per line reads best)
from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import medlab
import medlab.exercises
from medlab import (
    backprop,
    cache,
    centernet,
    conv,
    data,
    detection,
    env,
    exercises,
    explain,
    hippocampus,
    inference,
    io,
    metrics,
    models,
    ordinal,
    preprocess,
    privacy,
    quality,
    register,
    segmentation,
    train,
    train3d,
    validate,
    viz,
)


@dataclass(frozen=True)
class Case:
    name: str  # "module.function" or "module.Class.method", without "medlab."
    call: Callable[[], Any]
    error: type[Exception] | tuple[type[Exception], ...]
    argument: str  # what the message must name

    def __str__(self) -> str:
        return f"{self.name}-{self.argument}"


Y = np.array([0, 1, 0, 1])
S = np.array([0.1, 0.8, 0.3, 0.6])
IMG = np.arange(12.0).reshape(3, 4)
MASK = np.array([[0, 1], [1, 1]], bool)
BOXES = np.array([[0.0, 0.0, 2.0, 2.0]])
VOL = np.zeros((4, 4, 4))
NAN_IMG = np.where(IMG == 5, np.nan, IMG)


def _sitk_image():
    import SimpleITK as sitk

    return sitk.Image(4, 4, 4, sitk.sitkFloat32)


CASES: list[Case] = [
    # ------------------------------------------------------------------ conv
    Case("conv.effective_kernel_size", lambda: conv.effective_kernel_size(0), ValueError, "k"),
    Case("conv.effective_kernel_size", lambda: conv.effective_kernel_size(3, dilation=0), ValueError, "dilation"),
    Case("conv.same_padding", lambda: conv.same_padding(8, 3, stride=0), ValueError, "stride"),
    Case("conv.conv_output_size", lambda: conv.conv_output_size(8, 3, padding="full"), ValueError, "padding"),
    Case("conv.conv2d", lambda: conv.conv2d(np.array([["a"]]), np.ones((1, 1))), TypeError, "x"),
    Case("conv.conv2d", lambda: conv.conv2d(IMG, np.ones((2, 2)), stride=0), ValueError, "stride"),
    Case("conv.conv3d", lambda: conv.conv3d(VOL, np.ones((2, 2, 2)), padding=(1, 1)), ValueError, "padding"),
    Case("conv.receptive_field", lambda: conv.receptive_field([(3,)]), ValueError, "layer 0"),
    # ------------------------------------------------------------------ data
    Case("data.register", lambda: data.register(data.DataFile(name="x", hash="crc:1", url="u")),
         ValueError, "hash"),
    Case("data.file_hash", lambda: data.file_hash(__file__, "nohash"), ValueError, "nohash"),
    Case("data.fetch", lambda: data.fetch("no-such-file.npz"), KeyError, "no-such-file.npz"),
    Case("data.fetch", lambda: data.fetch(3), TypeError, "name"),
    Case("data.medmnist_info", lambda: data.medmnist_info("pneumonia"), KeyError, "pneumonia"),
    Case("data.load_medmnist", lambda: data.load_medmnist("pneumoniamnist", size=32), ValueError, "32"),
    Case("data.read_medmnist_file", lambda: data.read_medmnist_file(__file__, "pneumoniamnist"),
         data.DataIntegrityError, "test_contract.py"),
    Case("data.bccd_ids", lambda: data.bccd_ids("training"), ValueError, "split"),
    Case("data.load_bccd", lambda: data.load_bccd("train", scale=0), ValueError, "scale"),
    Case("data.hippocampus_files", lambda: data.hippocampus_files(2), KeyError, "hippocampus case 2"),
    Case("data.load_hippocampus", lambda: data.load_hippocampus(1), TypeError, "case_ids"),
    # ------------------------------------------------------------------ detection
    Case("detection.as_boxes", lambda: detection.as_boxes([[2, 2, 1, 1]]), ValueError, "boxes"),
    Case("detection.xyxy_to_xywh", lambda: detection.xyxy_to_xywh([1, 2, 3]), ValueError, "boxes"),
    Case("detection.xywh_to_xyxy", lambda: detection.xywh_to_xyxy([1, 2, 3]), ValueError, "boxes"),
    Case("detection.xyxy_to_cxcywh", lambda: detection.xyxy_to_cxcywh([[np.nan, 0, 1, 1]]), ValueError, "boxes"),
    Case("detection.cxcywh_to_xyxy", lambda: detection.cxcywh_to_xyxy([[0, 0, -1, 1]]), ValueError, "boxes"),
    Case("detection.voc_to_xyxy", lambda: detection.voc_to_xyxy(np.zeros((2, 3))), ValueError, "boxes"),
    Case("detection.xyxy_to_voc", lambda: detection.xyxy_to_voc("box"), TypeError, "boxes"),
    Case("detection.box_area", lambda: detection.box_area([[0, 0, 1]]), ValueError, "boxes"),
    Case("detection.box_iou", lambda: detection.box_iou(BOXES, [[0, 0, np.inf, 1]]), ValueError, "boxes_b"),
    Case("detection.nms", lambda: detection.nms(BOXES, [0.5], max_output=0), ValueError, "max_output"),
    Case("detection.nms", lambda: detection.nms(BOXES, [0.5], iou_threshold=1.5), ValueError, "iou_threshold"),
    Case("detection.nms", lambda: detection.nms(BOXES, [0.5, 0.2]), ValueError, "scores"),
    Case("detection.flip_boxes", lambda: detection.flip_boxes(BOXES, np.nan, 4), ValueError, "width"),
    Case("detection.match_detections", lambda: detection.match_detections(BOXES, BOXES, [1], iou_threshold=2),
         ValueError, "iou_threshold"),
    Case("detection.match_detections", lambda: detection.match_detections(BOXES, BOXES, [1], rule="x"),
         ValueError, "rule"),
    Case("detection.precision_recall", lambda: detection.precision_recall({0: BOXES}, {}, iou_threshold=-1),
         ValueError, "iou_threshold"),
    Case("detection.precision_recall", lambda: detection.precision_recall("gt", {}), TypeError, "gt"),
    Case("detection.interpolated_ap", lambda: detection.interpolated_ap([2.0], [1.0]), ValueError, "precision"),
    Case("detection.interpolated_ap", lambda: detection.interpolated_ap([1.0], [1.0], method="x"), ValueError,
         "method"),
    Case("detection.average_precision", lambda: detection.average_precision({0: BOXES}, {}, method="x"),
         ValueError, "method"),
    Case("detection.split_by_class", lambda: detection.split_by_class({0: {"boxes": BOXES}}, {}), ValueError,
         "labels"),
    Case("detection.evaluate", lambda: detection.evaluate({0: {"boxes": BOXES, "labels": ["RBC"]}},
                                                          {0: {"boxes": BOXES}}), ValueError, "scores"),
    Case("detection.froc", lambda: detection.froc({0: BOXES}, {}, fps_per_image=[-1]), ValueError,
         "fps_per_image"),
    Case("detection.to_coco", lambda: detection.to_coco({0: {"boxes": BOXES, "labels": [7]}}, {}), ValueError,
         "label 7"),
    Case("detection.coco_eval", lambda: detection.coco_eval({0: {"boxes": BOXES}}, {}), ValueError, "labels"),
    Case("detection.parse_voc_xml", lambda: detection.parse_voc_xml("<annotation/>"), ValueError, "<size>"),
    Case("detection.parse_voc_xml", lambda: detection.parse_voc_xml(3), TypeError, "source"),
    Case("detection.read_rgb", lambda: detection.read_rgb(__file__, scale=2), ValueError, "scale"),
    Case("detection.read_rgb", lambda: detection.read_rgb(__file__), ValueError, "test_contract.py"),
    # ------------------------------------------------------------------ env
    Case("env.seed_everything", lambda: env.seed_everything(-1), ValueError, "seed"),
    Case("env.setup", lambda: env.setup(seed=1.5), TypeError, "seed"),
    Case("env.glue", lambda: env.glue(3, 1.0), TypeError, "name"),
    Case("env.locked_versions", lambda: env.locked_versions(3), TypeError, "path"),
    Case("env.lock_differences", lambda: env.lock_differences(3), TypeError, "path"),
    # ------------------------------------------------------------------ exercises
    Case("exercises.get", lambda: exercises.get("background"), KeyError, "background"),
    Case("exercises.check", lambda: exercises.check("nochapter.q1", 1), KeyError, "nochapter"),
    Case("exercises.keys", lambda: exercises.keys("nochapter"), KeyError, "nochapter"),
    Case("exercises.matches", lambda: exercises.matches(1.0, 1.0, rtol=-1), ValueError, "rtol"),
    # ------------------------------------------------------------------ hippocampus
    Case("hippocampus.volume_mm3", lambda: hippocampus.volume_mm3(MASK, (1.0,)), ValueError, "spacing"),
    Case("hippocampus.normalise", lambda: hippocampus.normalise(np.ones((2, 2))), ValueError, "image"),
    Case("hippocampus.padded_shape", lambda: hippocampus.padded_shape((5, 5), 0), ValueError, "multiple"),
    Case("hippocampus.pad_to_shape", lambda: hippocampus.pad_to_shape(IMG, (2, 2)), ValueError, "shape"),
    Case("hippocampus.pad_to_multiple", lambda: hippocampus.pad_to_multiple(IMG, -2), ValueError, "multiple"),
    Case("hippocampus.volume_split", lambda: hippocampus.volume_split([1, 2]), ValueError, "volume ids"),
    Case("hippocampus.volume_split", lambda: hippocampus.volume_split([1, 2, 3], fractions=(0.5, 0.5, 0.5)),
         ValueError, "fractions"),
    Case("hippocampus.volume_split", lambda: hippocampus.volume_split([1, 2, 3], groups={1: 0}), ValueError,
         "groups"),
    Case("hippocampus.probable_subject", lambda: hippocampus.probable_subject(0), ValueError, "case_id"),
    Case("hippocampus.probable_subject", lambda: hippocampus.probable_subject(2.5), ValueError, "case_id"),
    Case("hippocampus.bland_altman", lambda: hippocampus.bland_altman([1, 2], [1, 2], level=1.5), ValueError,
         "level"),
    Case("hippocampus.sample_patch", lambda: hippocampus.sample_patch(
        VOL, VOL, (2, 2, 2), np.random.default_rng(0), foreground=2), ValueError, "foreground"),
    # ------------------------------------------------------------------ inference
    Case("inference.scan_interval", lambda: inference.scan_interval((8, 8), (4, 4), 1.0), ValueError, "overlap"),
    Case("inference.window_starts", lambda: inference.window_starts(8, 9, 1), ValueError, "roi"),
    Case("inference.window_starts", lambda: inference.window_starts(8, 4, 0), ValueError, "step"),
    Case("inference.window_slices", lambda: inference.window_slices((8, 8), (4, 0)), ValueError, "roi_size"),
    Case("inference.importance_map", lambda: inference.importance_map((4, 4), "gaussian", sigma_scale=0),
         ValueError, "sigma_scale"),
    Case("inference.importance_map", lambda: inference.importance_map((4, 4), "box"), ValueError, "mode"),
    Case("inference.sliding_window_inference", lambda: inference.sliding_window_inference(
        np.full((4, 4, 1), np.nan), (2, 2), lambda x: x), ValueError, "image"),
    # ------------------------------------------------------------------ io
    Case("io.read_image", lambda: io.read_image("/nonexistent.nii.gz"), FileNotFoundError, "/nonexistent.nii.gz"),
    Case("io.read_image", lambda: io.read_image(3), TypeError, "path"),
    Case("io.check_whole_file", lambda: io.check_whole_file(None), TypeError, "path"),
    Case("io.to_array", lambda: io.to_array(IMG), TypeError, "SimpleITK.Image"),
    Case("io.from_array", lambda: io.from_array(IMG, spacing=(1, np.nan)), ValueError, "spacing"),
    Case("io.from_array", lambda: io.from_array(np.array([["a"]])), TypeError, "array"),
    Case("io.ras_affine", lambda: io.ras_affine(IMG), ValueError, "3D SimpleITK.Image"),
    # ------------------------------------------------------------------ metrics
    Case("metrics.confusion_counts", lambda: metrics.confusion_counts([0, 2], [0, 1]), ValueError, "y_true"),
    Case("metrics.metrics_from_counts", lambda: metrics.metrics_from_counts(-1, 0, 0, 1), ValueError, "tp"),
    Case("metrics.binary_metrics", lambda: metrics.binary_metrics(Y, [0, 1]), ValueError, "y_pred"),
    Case("metrics.predictive_values", lambda: metrics.predictive_values(1.5, 0.9, 0.1), ValueError, "sensitivity"),
    Case("metrics.rates_at_threshold", lambda: metrics.rates_at_threshold(Y, S, "half"), ValueError, "threshold"),
    Case("metrics.roc_auc_rank", lambda: metrics.roc_auc_rank(Y, [0.1, np.nan, 0.2, 0.3]), ValueError, "scores"),
    Case("metrics.threshold_youden", lambda: metrics.threshold_youden(Y, S[:3]), ValueError, "scores"),
    Case("metrics.threshold_for_sensitivity", lambda: metrics.threshold_for_sensitivity(Y, S, target=0),
         ValueError, "target"),
    Case("metrics.threshold_min_cost", lambda: metrics.threshold_min_cost(Y, S, -1, 1), ValueError, "cost_fn"),
    Case("metrics.bootstrap_ci", lambda: metrics.bootstrap_ci(Y, S, metrics.roc_auc_rank, n_boot=3), ValueError,
         "n_boot"),
    Case("metrics.paired_bootstrap", lambda: metrics.paired_bootstrap(Y, S, S, metrics.roc_auc_rank, level=95),
         ValueError, "level"),
    Case("metrics.delong_test", lambda: metrics.delong_test(Y, S, S[:2]), ValueError, "scores_b"),
    Case("metrics.brier_score", lambda: metrics.brier_score(Y, S + 1), ValueError, "prob"),
    Case("metrics.calibration_bins", lambda: metrics.calibration_bins(Y, S, n_bins=0), ValueError, "n_bins"),
    Case("metrics.expected_calibration_error", lambda: metrics.expected_calibration_error(Y, -S), ValueError,
         "prob"),
    Case("metrics.net_benefit", lambda: metrics.net_benefit(Y, S, 1.0), ValueError, "threshold"),
    Case("metrics.decision_curve", lambda: metrics.decision_curve(Y, S, [0.0, 0.5]), ValueError, "threshold"),
    Case("metrics.selective_curve", lambda: metrics.selective_curve(Y, S, threshold=2), ValueError, "threshold"),
    Case("metrics.dice", lambda: metrics.dice(MASK, MASK[:1]), ValueError, "truth"),
    Case("metrics.iou", lambda: metrics.iou(MASK * 3, MASK), ValueError, "pred"),
    Case("metrics.surface", lambda: metrics.surface(np.full((2, 2), 2)), ValueError, "mask"),
    Case("metrics.surface_distances", lambda: metrics.surface_distances(MASK, MASK, spacing=-1), ValueError,
         "spacing"),
    Case("metrics.hausdorff", lambda: metrics.hausdorff(MASK, MASK, percentile=101), ValueError, "percentile"),
    Case("metrics.hd95", lambda: metrics.hd95(MASK, MASK, spacing=(1, 1, 1)), ValueError, "spacing"),
    Case("metrics.volume_difference", lambda: metrics.volume_difference(MASK, MASK, spacing=0), ValueError,
         "spacing"),
    Case("metrics.dice_per_class", lambda: metrics.dice_per_class(IMG, IMG, [1]), TypeError, "pred"),
    Case("metrics.segmentation_report", lambda: metrics.segmentation_report(
        MASK.astype(int), MASK[:1].astype(int), {1: "a"}), ValueError, "truth"),
    # ------------------------------------------------------------------ ordinal
    Case("ordinal.expected_grade", lambda: ordinal.expected_grade([[0.5, 0.6]]), ValueError, "prob"),
    Case("ordinal.decode_expected", lambda: ordinal.decode_expected([0.5, 0.5]), ValueError, "prob"),
    Case("ordinal.decode_argmax", lambda: ordinal.decode_argmax([[np.nan, 1.0]]), ValueError, "prob"),
    Case("ordinal.fit_retinamnist", lambda: ordinal.fit_retinamnist(epochs=0), ValueError, "epochs"),
    # ------------------------------------------------------------------ preprocess
    Case("preprocess.clip_scale", lambda: preprocess.clip_scale(IMG, 1, 1), ValueError, "high"),
    Case("preprocess.clip_scale", lambda: preprocess.clip_scale(NAN_IMG, 0, 1), ValueError, "array"),
    Case("preprocess.window", lambda: preprocess.window(IMG, 40, 0), ValueError, "width"),
    Case("preprocess.window", lambda: preprocess.window(IMG, np.nan, 40), ValueError, "level"),
    Case("preprocess.percentile_scale", lambda: preprocess.percentile_scale(IMG, high=150), ValueError, "high"),
    Case("preprocess.percentile_scale", lambda: preprocess.percentile_scale(IMG, mask=MASK), ValueError, "mask"),
    Case("preprocess.zscore", lambda: preprocess.zscore(NAN_IMG), ValueError, "array"),
    Case("preprocess.zscore", lambda: preprocess.zscore(IMG, mask=np.ones((3, 4), float)), TypeError, "mask"),
    Case("preprocess.to_uint8", lambda: preprocess.to_uint8(IMG), ValueError, "array01"),
    Case("preprocess.resize_keep_aspect", lambda: preprocess.resize_keep_aspect(IMG, 0), ValueError, "size"),
    Case("preprocess.resize_keep_aspect", lambda: preprocess.resize_keep_aspect(IMG, 8, spacing=(1,)),
         ValueError, "spacing"),
    Case("preprocess.resample_to_spacing", lambda: preprocess.resample_to_spacing(_sitk_image(), 0), ValueError,
         "spacing"),
    Case("preprocess.resample_to_spacing", lambda: preprocess.resample_to_spacing(IMG, 1), TypeError,
         "SimpleITK.Image"),
    Case("preprocess.resample_like", lambda: preprocess.resample_like(_sitk_image(), IMG), TypeError,
         "reference"),
    Case("preprocess.resample_like", lambda: preprocess.resample_like(_sitk_image(), _sitk_image(), "cubic"),
         ValueError, "interpolator"),
    # ------------------------------------------------------------------ privacy
    Case("privacy.rule_for", lambda: privacy.rule_for("PatientName"), TypeError, "tag"),
    Case("privacy.pseudonym", lambda: privacy.pseudonym("x", "salt", length=0), ValueError, "length"),
    Case("privacy.pseudonym", lambda: privacy.pseudonym("x", ""), ValueError, "salt"),
    Case("privacy.new_uid", lambda: privacy.new_uid("1.2.3", ""), ValueError, "salt"),
    Case("privacy.shift_date", lambda: privacy.shift_date("20200101", 1.5), TypeError, "days"),
    Case("privacy.deidentify", lambda: privacy.deidentify("file.dcm", salt="s"), FileNotFoundError, "file.dcm"),
    Case("privacy.deidentify", lambda: privacy.deidentify(3, salt="s"), TypeError, "dataset"),
    Case("privacy.find_identifiers", lambda: privacy.find_identifiers({"PatientName": "x"}), TypeError, "dataset"),
    Case("privacy.surviving_values", lambda: privacy.surviving_values(None, None), TypeError, "original"),
    Case("privacy.split_hospitals", lambda: privacy.split_hospitals(Y, [2, 2], [0.5, 1.5]), ValueError,
         "positive_shares"),
    Case("privacy.average_weights", lambda: privacy.average_weights([[np.ones(2)]], [np.nan]), ValueError, "sizes"),
    Case("privacy.clip_update", lambda: privacy.clip_update([np.ones(2)], -1), ValueError, "max_norm"),
    Case("privacy.example_losses", lambda: privacy.example_losses(Y, S + 1), ValueError, "probabilities"),
    Case("privacy.membership_auc", lambda: privacy.membership_auc([0.1, np.nan], [0.2, 0.3]), ValueError,
         "member_losses"),
    # ------------------------------------------------------------------ quality
    Case("quality.flip_labels", lambda: quality.flip_labels(Y, 1.5), ValueError, "rate"),
    Case("quality.confident_joint", lambda: quality.confident_joint(Y, np.ones((4, 3)) / 3), ValueError,
         "pred_probs"),
    Case("quality.find_label_issues", lambda: quality.find_label_issues(Y, np.full((4, 2), 0.7)), ValueError,
         "pred_probs"),
    Case("quality.nearest_neighbours", lambda: quality.nearest_neighbours(np.array([["a"]])), TypeError, "a"),
    Case("quality.shift_images", lambda: quality.shift_images(np.zeros((1, 4, 4, 1)), "blur2", 1), ValueError,
         "kind"),
    Case("quality.fit_temperature", lambda: quality.fit_temperature([np.nan, 1.0], [0, 1]), ValueError, "logits"),
    Case("quality.add_marker", lambda: quality.add_marker(np.zeros((1, 4, 4, 1)), [0], size=9), ValueError,
         "marker"),
    # ------------------------------------------------------------------ segmentation
    Case("segmentation.tissue_labels", lambda: segmentation.tissue_labels(VOL, VOL + 255, VOL), ValueError, "gm"),
    Case("segmentation.slab_split", lambda: segmentation.slab_split(10, 8, 2), ValueError, "first"),
    Case("segmentation.dice_ce_loss", lambda: segmentation.dice_ce_loss(1), ValueError, "n_classes"),
    # ------------------------------------------------------------------ validate
    Case("validate.check_one_of", lambda: validate.check_one_of("c", "mode", "ab"), ValueError, "mode"),
    Case("validate.check_int", lambda: validate.check_int(1.0, "epochs"), TypeError, "epochs"),
    Case("validate.check_number", lambda: validate.check_number(np.nan, "lr"), ValueError, "lr"),
    Case("validate.check_array", lambda: validate.check_array([[1]], "x", ndim=1), ValueError, "x"),
    Case("validate.check_finite", lambda: validate.check_finite([np.inf], "x"), ValueError, "x"),
    Case("validate.check_probabilities", lambda: validate.check_probabilities([2], "p"), ValueError, "p"),
    Case("validate.check_same_length", lambda: validate.check_same_length(("a", [1]), ("b", [])), ValueError, "b"),
    Case("validate.check_images", lambda: validate.check_images(np.zeros((2, 2))), ValueError, "images"),
    Case("validate.check_volumes", lambda: validate.check_volumes(np.zeros((2, 2))), ValueError, "volumes"),
    Case("validate.check_labels", lambda: validate.check_labels([3], 2), ValueError, "labels"),
]

PENDING: dict[str, str] = {
    # functions without arguments (nothing to refuse)
    **{f: "takes no arguments" for f in (
        "data.data_dirs", "data.data_dir", "data.user_cache_dir", "data.load_mni152", "data.status",
        "env.is_quick", "env.mode_name", "env.quiet_tensorflow", "env.device_summary", "cache.cache_dir",
        "privacy.profile_source", "privacy.profile_rules", "viz.widgets_available",
        "exercises.Exercise.expected", "exercises.hippocampus.slice_split")},
}


def _public_functions() -> set[str]:
    names = set()
    packages = [(medlab, "medlab."), (medlab.exercises, "medlab.exercises.")]
    mods = ["medlab.exercises"]
    for pkg, prefix in packages:
        mods += [prefix + m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")]
    for modname in sorted(set(mods)):
        mod = importlib.import_module(modname)
        short = modname.removeprefix("medlab.")
        for n, obj in vars(mod).items():
            if n.startswith("_") or getattr(obj, "__module__", None) != modname:
                continue
            if inspect.isfunction(obj):
                names.add(f"{short}.{n}")
            elif inspect.isclass(obj):
                names.update(f"{short}.{n}.{k}" for k, v in vars(obj).items()
                             if not k.startswith("_") and inspect.isfunction(v))
    return names


def test_every_public_function_has_a_bad_input_case():
    public = _public_functions()
    covered = {c.name for c in CASES}
    missing = sorted(public - covered - set(PENDING))
    assert not missing, (f"{len(missing)} public function(s) have no bad-input case in tests/test_contract.py "
                         f"(add a Case, or a PENDING entry with the reason): {missing}")
    assert not covered & set(PENDING), f"listed as PENDING but covered: {sorted(covered & set(PENDING))}"
    gone = sorted((covered | set(PENDING)) - public)
    assert not gone, f"the table names functions that are not public medlab functions: {gone}"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input_raises_naming_the_argument(case):
    with pytest.raises(case.error) as err:
        case.call()
    assert case.argument in str(err.value), f"{case.name}: the message does not name {case.argument!r}: {err.value}"


def _model():
    """A tiny Keras model, built on first use (TensorFlow is imported only by the rows that need it)."""
    import keras

    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, padding="same", name="conv"),
                             keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1, activation="sigmoid")])


X4 = np.zeros((2, 8, 8, 1), np.float32)
X5 = np.zeros((2, 4, 4, 4, 1), np.float32)
PAIR3D = (X5, np.zeros((2, 4, 4, 4), np.uint8))


def _sitk(dim=3):
    import SimpleITK as sitk

    return sitk.Image(*([8] * dim), sitk.sitkFloat32)


def _rigid():
    import SimpleITK as sitk

    return sitk.Euler3DTransform()


CASES += [
    Case("cache.code_modules", lambda: cache.code_modules("medlab.nosuch"), ValueError, "medlab.nosuch"),
    Case("cache.code_key", lambda: cache.code_key("medlab.train", x=object()), TypeError, "params"),
    Case("cache.signature", lambda: cache.signature("model.keras"), TypeError, "model"),
    Case("cache.save", lambda: cache.save("../x", _model(), {}), ValueError, "stem"),
    Case("cache.save", lambda: cache.save("x", "model.keras", {}), TypeError, "model"),
    Case("cache.load", lambda: cache.load(3), ValueError, "stem"),
    Case("cache.cached", lambda: cache.cached("x", "train", code="medlab.train", params={}), TypeError, "train"),
    Case("centernet.build_centernet", lambda: centernet.build_centernet((30, 40, 3)), ValueError, "30x40"),
    Case("centernet.encode_targets", lambda: centernet.encode_targets([BOXES], [[0, 1]], (8, 8), 0.25),
         ValueError, "labels"),
    Case("centernet.centernet_loss", lambda: centernet.centernet_loss(0), ValueError, "n_classes"),
    Case("centernet.decode", lambda: centernet.decode(np.zeros((1, 4, 4, 3)), 0.25), ValueError, "output"),
    Case("centernet.predict", lambda: centernet.predict("model", X4, 0.25), TypeError, "model"),
    Case("centernet.augment", lambda: centernet.augment(np.zeros((1, 8, 8, 3)), [BOXES], 0), TypeError, "rng"),
    Case("centernet.fit_centernet", lambda: centernet.fit_centernet({}, {}, 0.25, epochs=0), ValueError, "epochs"),
    Case("centernet.classical_detect", lambda: centernet.classical_detect(np.zeros((8, 8)), 0.25), ValueError,
         "image"),
    Case("centernet.stain_index", lambda: centernet.stain_index(np.zeros((8, 8))), ValueError, "image"),
    Case("data.verify", lambda: data.verify(__file__, "crc:12"), ValueError, "expected"),
    Case("env.doctor", lambda: env.doctor(check_tensorflow="yes"), TypeError, "check_tensorflow"),
    Case("explain.last_feature_layer", lambda: explain.last_feature_layer("model"), TypeError, "model"),
    Case("explain.output_logits", lambda: explain.output_logits(None), TypeError, "model"),
    Case("explain.grad_cam", lambda: explain.grad_cam(_model(), X4[..., 0]), ValueError, "images"),
    Case("explain.logits", lambda: explain.logits("model", X4), TypeError, "model"),
    Case("explain.class_logit", lambda: explain.class_logit(_model(), np.zeros((2, 9, 9, 1))), ValueError,
         "images"),
    Case("explain.gradient_map", lambda: explain.gradient_map(_model(), X4, class_index=5), ValueError,
         "class_index"),
    Case("explain.integrated_gradients", lambda: explain.integrated_gradients(_model(), X4, baseline=np.nan),
         ValueError, "baseline"),
    Case("explain.occlusion", lambda: explain.occlusion("model", X4), TypeError, "model"),
    Case("explain.weighted_layers", lambda: explain.weighted_layers("model"), TypeError, "model"),
    Case("explain.randomized_copy", lambda: explain.randomized_copy(_model(), ["nosuch"]), ValueError, "nosuch"),
    Case("explain.importance", lambda: explain.importance(np.full((1, 4, 4), np.nan)), ValueError, "maps"),
    Case("explain.map_similarity", lambda: explain.map_similarity(np.zeros((1, 4, 4)), np.zeros((1, 3, 3))),
         ValueError, "maps"),
    Case("explain.pixel_order", lambda: explain.pixel_order(np.zeros(4)), ValueError, "maps"),
    Case("explain.deletion_insertion", lambda: explain.deletion_insertion("model", X4, X4[..., 0]), TypeError,
         "model"),
    Case("hippocampus.stack_cases", lambda: hippocampus.stack_cases({}, [1], (4, 4, 4)), ValueError, "ids"),
    Case("hippocampus.leaking_groups", lambda: hippocampus.leaking_groups("train"), TypeError, "split"),
    Case("hippocampus.dataset", lambda: hippocampus.dataset(X5, np.zeros((3, 4, 4, 4)), batch=1, training=True),
         ValueError, "y"),
    Case("hippocampus.train_3d", lambda: hippocampus.train_3d("recipe", PAIR3D, PAIR3D), TypeError, "recipe"),
    Case("hippocampus.slices_2d", lambda: hippocampus.slices_2d(X5, np.zeros((3, 4, 4, 4))), ValueError, "y"),
    Case("hippocampus.train_2d", lambda: hippocampus.train_2d("recipe", PAIR3D, PAIR3D), TypeError, "recipe"),
    Case("hippocampus.predict_3d", lambda: hippocampus.predict_3d("model", X5), TypeError, "model"),
    Case("hippocampus.predict_2d", lambda: hippocampus.predict_2d(_model(), X4), ValueError, "x"),
    Case("hippocampus.evaluate", lambda: hippocampus.evaluate({}, [1], np.zeros((1, 4, 4, 4))), ValueError, "ids"),
    Case("hippocampus.summarise", lambda: hippocampus.summarise("rows"), TypeError, "rows"),
    Case("models.source_cnn", lambda: models.source_cnn((28, 28, 1), mean=0.5), ValueError, "variance"),
    Case("models.pneumonia_cnn", lambda: models.pneumonia_cnn((28, 28, 1), dropout=1.0), ValueError, "dropout"),
    Case("models.unet", lambda: models.unet((30, 30, 1), depth=2), ValueError, "depth"),
    Case("models.unet3d", lambda: models.unet3d((16, 16, 16, 1), upsampling="x"), ValueError, "upsampling"),
    Case("models.unet_table", lambda: models.unet_table("model"), TypeError, "model"),
    Case("models.cnn3d", lambda: models.cnn3d((28, 28, 28, 1), n_classes=1), ValueError, "n_classes"),
    Case("privacy.Rule.matches", lambda: privacy.profile_rules()[0].matches("x"), TypeError, "tag"),
    Case("privacy.effective_action", lambda: privacy.effective_action("X"), TypeError, "rule"),
    Case("quality.train_subset", lambda: quality.train_subset(X4, [0, 1], X4, [0, 1], epochs=0), ValueError,
         "epochs"),
    Case("register.affine_from_rigid", lambda: register.affine_from_rigid("t"), TypeError, "rigid"),
    Case("register.register", lambda: register.register(_sitk(), _sitk(), kind="elastic"), ValueError, "kind"),
    Case("register.target_registration_error", lambda: register.target_registration_error(
        _rigid(), _rigid(), [[1, 2]]), ValueError, "points"),
    Case("register.n4_correct", lambda: register.n4_correct(VOL), TypeError, "image"),
    Case("segmentation.axial_slices", lambda: segmentation.axial_slices(VOL, VOL, np.array([9])), ValueError, "z"),
    Case("segmentation.augment", lambda: segmentation.augment(X4[0], X4[0, ..., 0], shift=-1), ValueError,
         "shift"),
    Case("segmentation.dataset", lambda: segmentation.dataset(X4, np.zeros((3, 8, 8)), batch=1, training=True),
         ValueError, "y"),
    Case("segmentation.baselines", lambda: segmentation.baselines(VOL, VOL[:, :, :3], [0], [1]), ValueError,
         "labels"),
    Case("segmentation.train", lambda: segmentation.train("recipe", {}, VOL, VOL), TypeError, "recipe"),
    Case("segmentation.predict_slices", lambda: segmentation.predict_slices("model", VOL, [0]), TypeError,
         "model"),
    Case("train.to_float", lambda: train.to_float(X4), TypeError, "uint8"),
    Case("train.augmenter", lambda: train.augmenter(shift=-1), ValueError, "shift"),
    Case("train.make_dataset", lambda: train.make_dataset(X4, [0, np.nan]), ValueError, "labels"),
    Case("train.epoch_timer", lambda: train.epoch_timer(verbose="x"), TypeError, "verbose"),
    Case("train.cosine_lr", lambda: train.cosine_lr(0.0, 3), ValueError, "initial"),
    Case("train.fit", lambda: train.fit("model", None, None, epochs=1, optimizer="adam", loss="bce",
                                        monitor="val_loss", mode="min"), TypeError, "model"),
    Case("train.train_classifier", lambda: train.train_classifier("model", (X4, [0, 1]), (X4, [0, 1])),
         TypeError, "model"),
    Case("train.predict_proba", lambda: train.predict_proba("model", X4), TypeError, "model"),
    Case("train.tta_predict", lambda: train.tta_predict(_model(), X4, None), TypeError, "augment"),
    Case("train.youden_threshold", lambda: train.youden_threshold([0, 2], [0.1, 0.2]), ValueError, "y_true"),
    Case("train.binary_report", lambda: train.binary_report([0, 1], [0.1, 0.2], threshold=np.nan), ValueError,
         "threshold"),
    Case("train.fit_medmnist", lambda: train.fit_medmnist("pneumoniamnist", epochs=0), ValueError, "epochs"),
    Case("train3d.volumes_to_float", lambda: train3d.volumes_to_float(VOL[None]), TypeError, "uint8"),
    Case("train3d.augment3d", lambda: train3d.augment3d(X5, [0, 1], max_shift=-1), ValueError, "max_shift"),
    Case("train3d.train3d", lambda: train3d.train3d("model", (X5, [0, 1]), (X5, [0, 1])), TypeError, "model"),
    Case("train3d.predict_volumes", lambda: train3d.predict_volumes("model", X5), TypeError, "model"),
    Case("train3d.fit_medmnist3d", lambda: train3d.fit_medmnist3d("adrenalmnist3d", size=32), ValueError, "32"),
    Case("viz.imshow_mm", lambda: viz.imshow_mm(None, IMG, spacing=(1, -1)), ValueError, "spacing"),
    Case("viz.plane", lambda: viz.plane(VOL, (1, 1, 1), "diagonal", 0), ValueError, "axis"),
    Case("viz.orthogonal_views", lambda: viz.orthogonal_views(VOL), TypeError, "image"),
    Case("viz.montage", lambda: viz.montage(VOL), TypeError, "image"),
    Case("viz.interactive_figure", lambda: viz.interactive_figure(print, {}), ValueError, "controls"),
    Case("viz.slice_viewer", lambda: viz.slice_viewer(VOL), TypeError, "image"),
    Case("viz.window_grid", lambda: viz.window_grid(IMG, None, {"x": (40, -1)}), ValueError, "width"),
    Case("viz.window_viewer", lambda: viz.window_viewer(IMG, width=-1), ValueError, "width"),
    Case("viz.label_rgba", lambda: viz.label_rgba(np.array([[0, 9]])), ValueError, "labels"),
    Case("viz.overlay", lambda: viz.overlay(None, IMG, np.zeros((3, 3), int)), ValueError, "labels"),
    Case("viz.three_planes", lambda: viz.three_planes(VOL, np.zeros((3, 3, 3))), ValueError, "labels"),
]
X3 = np.zeros((4, 3))
CNN_IMAGES = np.zeros((2, 6, 6, 1))


def _cnn():
    return backprop.init_cnn(input_shape=(6, 6, 1), filters=2, kernel_size=3)


CASES += [
    Case("backprop.sigmoid", lambda: backprop.sigmoid([0.0, np.nan]), ValueError, "z"),
    Case("backprop.sigmoid", lambda: backprop.sigmoid(["a"]), TypeError, "z"),
    Case("backprop.binary_cross_entropy", lambda: backprop.binary_cross_entropy([0, 2], [0.1, 0.2]), ValueError, "y"),
    Case("backprop.logistic_loss", lambda: backprop.logistic_loss([np.zeros(3), 0.0], X3, Y, l2=-1), ValueError, "l2"),
    Case("backprop.logistic_gradient", lambda: backprop.logistic_gradient([np.zeros(3), 0.0], X3, Y[:3]), ValueError, "y"),
    Case("backprop.logistic_loss_and_grad", lambda: backprop.logistic_loss_and_grad(
        [np.zeros(3), 0.0], np.full((4, 3), np.nan), Y), ValueError, "x"),
    Case("backprop.numerical_gradient", lambda: backprop.numerical_gradient(lambda p: 0.0, [np.zeros(3)], eps=0), ValueError, "eps"),
    Case("backprop.relative_error", lambda: backprop.relative_error([np.zeros(2)], [np.zeros(3)]), ValueError, "b"),
    Case("backprop.sgd", lambda: backprop.sgd(backprop.logistic_loss_and_grad, [np.zeros(3), 0.0], X3, Y, learning_rate=-1, epochs=1), ValueError, "learning_rate"),
    Case("backprop.conv_forward", lambda: backprop.conv_forward(CNN_IMAGES, np.zeros((3, 3, 1, 2)), np.zeros(3)), ValueError, "bias"),
    Case("backprop.conv_backward", lambda: backprop.conv_backward(np.zeros((2, 3, 3, 2)), CNN_IMAGES, np.zeros((3, 3, 1, 2))), ValueError, "dy"),
    Case("backprop.relu_backward", lambda: backprop.relu_backward(np.zeros(3), np.zeros(4)), ValueError, "dy"),
    Case("backprop.maxpool_forward", lambda: backprop.maxpool_forward(CNN_IMAGES, size=0), ValueError, "size"),
    Case("backprop.maxpool_backward", lambda: backprop.maxpool_backward(np.zeros((2, 3, 3, 1)), CNN_IMAGES, size=4), ValueError, "dy"),
    Case("backprop.init_cnn", lambda: backprop.init_cnn(filters=0), ValueError, "filters"),
    Case("backprop.cnn_forward", lambda: backprop.cnn_forward(_cnn(), np.full((2, 6, 6, 1), np.nan)), ValueError, "x"),
    Case("backprop.cnn_backward", lambda: backprop.cnn_backward(_cnn(), {}, Y), ValueError, "cache"),
    Case("backprop.cnn_loss_and_grad", lambda: backprop.cnn_loss_and_grad(_cnn(), CNN_IMAGES, [0, 3]), ValueError, "y"),
    Case("backprop.keras_cnn", lambda: backprop.keras_cnn(_cnn(), pool_size=0), ValueError, "pool_size"),
    Case("metrics.uninterpolated_ap", lambda: metrics.uninterpolated_ap(Y, S, n_positive=1), ValueError, "n_positive"),
]
CASES += [
    Case("env.colab_after_install", lambda: env.colab_after_install([]), TypeError, "before"),
    Case("exercises.encode_answer", lambda: exercises.encode_answer(object()), TypeError, "answer"),
    Case("exercises.score", lambda: exercises.score(1.0, "background.q1"), TypeError, "ex"),
    Case("metrics.proportion_ci", lambda: metrics.proportion_ci(5, 3), ValueError, "k"),
]
CASES += [
    Case("privacy.action_for", lambda: privacy.action_for((0x10, 0x10), 3), TypeError, "vr"),
    Case("privacy.identifying_values", lambda: privacy.identifying_values("no-such.dcm"), FileNotFoundError,
         "dataset"),
    Case("privacy.identifying_values", lambda: privacy.identifying_values(None, min_length=0), ValueError,
         "min_length"),
    Case("viz.book_style", lambda: viz.book_style(svg="yes"), TypeError, "svg"),
    Case("viz.panel_grid", lambda: viz.panel_grid(0), ValueError, "n"),
    Case("viz.panel_grid", lambda: viz.panel_grid(2, kind="nope"), ValueError, "kind"),
    Case("viz.smallest_text_px", lambda: viz.smallest_text_px("fig"), TypeError, "fig"),
    Case("viz.svg_text_sizes", lambda: viz.svg_text_sizes(3), TypeError, "svg"),
]
PENDING["train.configure_device"] = "takes no arguments"
PENDING["exercises.decode_answer"] = "every JSON value it is given decodes (plain values encode as themselves)"
PENDING["exercises.public_spec"] = "any expected answer has a spec (its kind, length or shape)"
CASES.append(Case("validate.check_model", lambda: validate.check_model("model.keras"), TypeError, "model"))
PENDING["env.pick"] = "any two values are valid: it returns one of them"
