"""Issue #26, no silent wrong answers: every example the issue lists, as a test.

Each case was measured on main before the fix (a value returned, or a raw internal error); now
each raises ``ValueError``/``TypeError`` whose message names the argument (and, for files, the
file and what is wrong). The damaged files are made in ``tmp_path`` from the real ones.
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from medlab import data, detection, inference, io, preprocess, privacy, quality

BOX = [[0.0, 0.0, 10.0, 10.0]]


# ----------------------------------------------------------------- impossible arguments
def test_nms_max_output_zero_is_refused():
    with pytest.raises(ValueError, match="max_output must be an integer >= 1, got 0"):
        detection.nms(BOX * 2, [0.9, 0.8], max_output=0)
    with pytest.raises(TypeError, match="max_output"):
        detection.nms(BOX, [0.9], max_output=1.5)


@pytest.mark.parametrize("threshold", [-1.0, np.nan, 2.0])
def test_match_detections_impossible_iou_threshold(threshold):
    with pytest.raises(ValueError, match="iou_threshold"):
        detection.match_detections(BOX, BOX, [0.9], iou_threshold=threshold)


@pytest.mark.parametrize("threshold", [-1.0, np.nan, 2.0])
def test_iou_threshold_refused_even_without_predictions(threshold):
    # precision_recall/average_precision never reached match_detections without predictions
    with pytest.raises(ValueError, match="iou_threshold"):
        detection.average_precision({0: np.array(BOX)}, {}, iou_threshold=threshold)


def test_interpolated_ap_refuses_precision_above_one():
    with pytest.raises(ValueError, match=r"precision must be probabilities in \[0, 1\]"):
        detection.interpolated_ap([2.0, 2.0], [0.5, 1.0])
    with pytest.raises(ValueError, match="recall"):
        detection.interpolated_ap([1.0, 1.0], [0.5, 1.5])
    with pytest.raises(ValueError, match="recall must not decrease"):
        detection.interpolated_ap([1.0, 1.0], [1.0, 0.5])
    with pytest.raises(ValueError, match="precision contains 1 NaN"):
        detection.interpolated_ap([np.nan], [1.0])


def test_pseudonym_length_zero_is_refused():
    with pytest.raises(ValueError, match="length must be an integer >= 8"):
        privacy.pseudonym("Doe^John", "salt", length=0)
    with pytest.raises(TypeError, match="length"):
        privacy.pseudonym("Doe^John", "salt", length=10.0)
    assert privacy.pseudonym("a", "salt") != privacy.pseudonym("b", "salt")


def test_average_weights_refuses_nan():
    good = [np.ones(3, np.float32)]
    with pytest.raises(ValueError, match=r"weight_sets\[1\]\[0\] contains 1 NaN"):
        privacy.average_weights([good, [np.array([1.0, np.nan, 1.0], np.float32)]], [1, 1])
    with pytest.raises(ValueError, match="sizes contains 1 NaN"):
        privacy.average_weights([good, good], [1, np.nan])


def test_fit_temperature_refuses_nan_logits():
    with pytest.raises(ValueError, match="logits contains 1 NaN"):
        quality.fit_temperature([0.1, np.nan, -2.0, 3.0], [0, 1, 0, 1])
    with pytest.raises(ValueError, match="logits must be one logit per image"):
        quality.fit_temperature(np.zeros((4, 2)), [0, 1, 0, 1])


def test_from_array_refuses_nan_geometry():
    arr = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="spacing contains 1 NaN"):
        io.from_array(arr, spacing=(1.0, np.nan, 1.0))
    with pytest.raises(ValueError, match="origin contains 1 NaN"):
        io.from_array(arr, origin=(0.0, np.nan, 0.0))
    with pytest.raises(ValueError, match="direction contains"):
        io.from_array(arr, direction=np.full((3, 3), np.inf))
    with pytest.raises(ValueError, match="direction must be an invertible"):
        io.from_array(arr, direction=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="origin must be 3"):
        io.from_array(arr, origin=(0.0, 0.0))
    # pixel values pass through, as the docstring says
    image = io.from_array(np.array([[np.nan, 1.0]]), spacing=(1.0, 2.0))
    assert np.isnan(io.to_array(image).array[0, 0])


def test_sliding_window_inference_refuses_nan():
    image = np.zeros((8, 8, 1), np.float32)

    def predictor(x):
        return np.ones(x.shape[:-1] + (2,), np.float32)

    bad = image.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="image contains 1 NaN"):
        inference.sliding_window_inference(bad, (4, 4), predictor)
    with pytest.raises(ValueError, match="sigma_scale must be finite"):
        inference.sliding_window_inference(image, (4, 4), predictor, mode="gaussian", sigma_scale=np.nan)
    with pytest.raises(ValueError, match="overlap"):
        inference.sliding_window_inference(image, (4, 4), predictor, overlap=np.nan)
    with pytest.raises(ValueError, match="predictor returned NaN"):
        inference.sliding_window_inference(image, (4, 4), lambda x: np.full(x.shape, np.nan))
    with pytest.raises(TypeError, match="predictor must be a function"):
        inference.sliding_window_inference(image, (4, 4), "model")
    with pytest.raises(TypeError, match="roi_size must be integer"):
        inference.sliding_window_inference(image, (4.5, 4), predictor)


# ----------------------------------------------------------- misleading or raw errors
def test_zscore_of_nan_image_says_nan_not_constant():
    x = np.arange(12, dtype=float).reshape(3, 4)
    x[1, 1] = np.nan
    with pytest.raises(ValueError, match="array contains 1 NaN") as err:
        preprocess.zscore(x)
    assert "constant" not in str(err.value)


def test_percentile_scale_blames_the_argument_given():
    x = np.arange(100.0)
    with pytest.raises(ValueError, match=r"high must be a number in \[0, 100\], got 150") as err:
        preprocess.percentile_scale(x, high=150)
    assert "low" not in str(err.value)
    with pytest.raises(ValueError, match=r"low must be a number in \[0, 100\], got -5"):
        preprocess.percentile_scale(x, low=-5)
    with pytest.raises(ValueError, match="low must be smaller than high"):
        preprocess.percentile_scale(x, low=50, high=40)
    with pytest.raises(ValueError, match="high must be finite"):
        preprocess.percentile_scale(x, high=np.nan)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"size": 8, "spacing": (1.0,)}, ValueError, "spacing must be two numbers"),
    ({"size": 8, "spacing": 1.0}, ValueError, "spacing must be two numbers"),
    ({"size": 8, "spacing": (1.0, -1.0)}, ValueError, "spacing must be a number in"),
    ({"size": 8, "spacing": ("a", "b")}, ValueError, "spacing must be two numbers"),
    ({"size": 0}, ValueError, "size must be an integer >= 1"),
    ({"size": 8.0}, TypeError, "size must be an integer"),
    ({"size": 8, "order": 2}, ValueError, "order must be one of"),
    ({"size": 8, "pad_value": np.nan}, ValueError, "pad_value must be finite"),
])
def test_resize_keep_aspect_names_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        preprocess.resize_keep_aspect(np.ones((4, 6)), **kwargs)


VOC = """<annotation><filename>a.jpg</filename><size><width>640</width><height>480</height></size>
<object><name>RBC</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object>
</annotation>"""


@pytest.mark.parametrize("old, new, match", [
    ("<xmax>30</xmax>", "", r"<object\[0\]/bndbox/xmax> is missing"),
    ("<xmax>30</xmax>", "<xmax>thirty</xmax>", r"<object\[0\]/bndbox/xmax> is 'thirty', not a number"),
    ("<width>640</width>", "", "<size/width> is missing"),
    ("<name>RBC</name>", "", "<object> number 0 has no <name>"),
    ("<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>30</xmax><ymax>40</ymax></bndbox>", "",
     "<object> number 0 has no <bndbox>"),
    ("<size><width>640</width><height>480</height></size>", "", "without <size>"),
    ("<xmin>1</xmin>", "<xmin>50</xmin>", "x1 < x0"),
])
def test_parse_voc_xml_names_file_and_element(tmp_path, old, new, match):
    path = tmp_path / "BloodImage_x.xml"
    path.write_text(VOC.replace(old, new))
    with pytest.raises(ValueError, match=match) as err:
        detection.parse_voc_xml(path)
    assert str(path) in str(err.value)


def test_parse_voc_xml_refuses_bad_source(tmp_path):
    with pytest.raises(TypeError, match="source must be a path or the XML text"):
        detection.parse_voc_xml(3)
    with pytest.raises(FileNotFoundError, match="no such VOC annotation"):
        detection.parse_voc_xml(tmp_path / "missing.xml")


def test_evaluate_names_the_image_and_the_missing_key():
    gt = {"a": {"boxes": BOX, "labels": ["RBC"]}}
    with pytest.raises(ValueError, match=r"gt\['b'\] lacks the key\(s\) \['labels'\]"):
        detection.evaluate({**gt, "b": {"boxes": BOX}}, {})
    with pytest.raises(ValueError, match=r"pred\['a'\] lacks the key\(s\) \['scores'\]"):
        detection.evaluate(gt, {"a": {"boxes": BOX, "labels": ["RBC"]}})
    with pytest.raises(TypeError, match=r"pred\['a'\] must be a dict"):
        detection.evaluate(gt, {"a": (np.array(BOX), [0.5])})
    with pytest.raises(TypeError, match="gt must be a mapping"):
        detection.evaluate([gt["a"]], {})
    with pytest.raises(ValueError, match="method must be one of"):
        detection.evaluate(gt, {}, method="pascal")
    with pytest.raises(ValueError, match="classes must be a non-empty sequence"):
        detection.evaluate(gt, {}, classes="RBC")


@pytest.mark.parametrize("fn", [detection.xywh_to_xyxy, detection.cxcywh_to_xyxy, detection.voc_to_xyxy])
def test_box_conversions_check_the_shape(fn):
    with pytest.raises(ValueError, match=r"boxes must have shape \(n, 4\).*got \(3,\)"):
        fn([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"boxes must have shape \(n, 4\).*got \(2, 3\)"):
        fn(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="boxes contains 1 NaN"):
        fn([[0.0, 0.0, np.nan, 1.0]])
    with pytest.raises(TypeError, match="boxes must be numeric"):
        fn([["a", "b", "c", "d"]])


def test_xywh_negative_size_names_the_box():
    with pytest.raises(ValueError, match=r"boxes\[1\] = .* has a negative width or height"):
        detection.xywh_to_xyxy([[0, 0, 1, 1], [0, 0, -1, 1]])


def test_froc_refuses_bad_rates():
    gt, pred = {0: np.array(BOX)}, {0: (np.array(BOX), np.array([0.9]))}
    with pytest.raises(ValueError, match=r"fps_per_image must be rates >= 0"):
        detection.froc(gt, pred, fps_per_image=(-1.0,))
    with pytest.raises(ValueError, match="fps_per_image is empty"):
        detection.froc(gt, pred, fps_per_image=())
    with pytest.raises(ValueError, match="fps_per_image contains 1 NaN"):
        detection.froc(gt, pred, fps_per_image=(np.nan,))
    with pytest.raises(TypeError, match="gt must be a mapping"):
        detection.froc(5, pred)
    assert detection.froc(gt, pred)["at"][1.0] == 1.0


# ------------------------------------------------------------ damaged files, refused by path
def _cut(src, dst, fraction=0.5):
    raw = src.read_bytes()
    dst.write_bytes(raw[: int(len(raw) * fraction)])
    return dst


def test_nifti_cut_in_half_is_refused(tmp_path):
    bad = _cut(data.fetch("mni152_gm.nii.gz"), tmp_path / "half.nii.gz")
    with pytest.raises(ValueError, match="half.nii.gz: the gzip stream is cut short"):
        io.read_image(bad)


def test_uncompressed_nifti_cut_short_is_refused(tmp_path):
    whole = tmp_path / "whole.nii"
    whole.write_bytes(gzip.decompress(data.fetch("mni152_gm.nii.gz").read_bytes()))
    assert io.read_image(whole).GetSize() == (197, 233, 189)
    bad = _cut(whole, tmp_path / "short.nii", 0.9)
    with pytest.raises(ValueError, match="short.nii: not a whole NIfTI file"):
        io.read_image(bad)


def test_gzip_with_a_flipped_byte_is_refused(tmp_path):
    raw = bytearray(data.fetch("mni152_gm.nii.gz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad = tmp_path / "flipped.nii.gz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="flipped.nii.gz"):
        io.read_image(bad)


@pytest.fixture(scope="module")
def bccd_jpeg():
    try:
        return data.fetch("BCCD/JPEGImages/BloodImage_00000.jpg", progressbar=False, retries=0, timeout=1)
    except data.DataError:
        return data.fetch("retina.jpg")  # a JPEG shipped with scikit-image


def test_truncated_jpeg_is_refused_by_both_readers(tmp_path, bccd_jpeg):
    bad = _cut(bccd_jpeg, tmp_path / "cut.jpg", 0.33)
    with pytest.raises(ValueError, match="cut.jpg: the image is damaged or cut short"):
        io.read_image(bad)
    with pytest.raises(ValueError, match="cut.jpg: the image is damaged or cut short"):
        detection.read_rgb(bad)


def test_truncated_jpeg_refused_even_when_pillow_is_lenient(tmp_path, bccd_jpeg, monkeypatch):
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    bad = _cut(bccd_jpeg, tmp_path / "cut.jpg", 0.33)
    with pytest.raises(ValueError, match="cut short"):
        detection.read_rgb(bad)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the reader restores the setting


def test_truncated_png_is_refused(tmp_path):
    from PIL import Image

    whole = tmp_path / "whole.png"
    Image.fromarray(np.asarray(Image.open(data.fetch("retina.jpg")))).save(whole)
    bad = _cut(whole, tmp_path / "cut.png", 0.5)
    with pytest.raises(ValueError, match="cut.png"):
        io.read_image(bad)
    with pytest.raises(ValueError, match="cut.png"):
        detection.read_rgb(bad)


@pytest.mark.parametrize("name", ["CT_small.dcm", "US1_UNCR.dcm", "emri_small.dcm", "liver.dcm"])
def test_dicom_with_truncated_pixel_data_is_refused(tmp_path, name):
    raw = data.fetch(name).read_bytes()
    bad = tmp_path / name
    bad.write_bytes(raw[:-1000])
    with pytest.raises(ValueError, match=rf"{name}: Pixel Data holds \d+ bytes but .* need \d+: "
                                         "the file is cut short"):
        io.read_image(bad)


def test_truncated_voc_xml_is_refused(tmp_path):
    bad = tmp_path / "cut.xml"
    bad.write_text(VOC[: len(VOC) // 2])
    with pytest.raises(ValueError, match="cut.xml: not well-formed XML"):
        detection.parse_voc_xml(bad)


def test_truncated_medmnist_npz_is_refused(tmp_path):
    src = tmp_path / "tiny.npz"
    rng = np.random.default_rng(0)
    np.savez_compressed(src, **{f"{s}_images": rng.integers(0, 255, (20, 28, 28), dtype=np.uint8)
                                for s in data.SPLITS},
                        **{f"{s}_labels": rng.integers(0, 2, (20, 1)) for s in data.SPLITS})
    assert data.read_medmnist_file(src, "pneumoniamnist")["train_images"].shape == (20, 28, 28)
    bad = _cut(src, tmp_path / "cut.npz", 0.6)
    with pytest.raises(data.DataIntegrityError, match="cut.npz"):
        data.read_medmnist_file(bad, "pneumoniamnist")
    raw = bytearray(src.read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    flipped = tmp_path / "flipped.npz"
    flipped.write_bytes(bytes(raw))
    with pytest.raises(data.DataIntegrityError, match="flipped.npz"):
        data.read_medmnist_file(flipped, "pneumoniamnist")
