"""Exercises of the chapter *Background* (chapters/background.ipynb)."""

from __future__ import annotations

from medlab.exercises import Exercise


def _header(name: str):
    import pydicom

    from medlab import data

    return pydicom.dcmread(data.fetch(name), stop_before_pixels=True)


def _rg1_reader_correlation() -> float:
    import numpy as np
    import pydicom
    import SimpleITK as sitk

    from medlab import data

    path = data.fetch("RG1_UNCR.dcm")
    stored = pydicom.dcmread(path).pixel_array.astype(np.float64).ravel()
    read = sitk.GetArrayFromImage(sitk.ReadImage(str(path))).astype(np.float64).ravel()
    return float(np.corrcoef(stored, read)[0, 1])


def _ct_fov_mm() -> float:
    ds = _header("693_UNCR.dcm")
    return int(ds.Columns) * float(ds.PixelSpacing[1])


def _breast_logreg_auc() -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from medlab import data

    b = data.load_medmnist("breastmnist")
    x = b["train_images"].reshape(len(b["train_images"]), -1) / 255.0
    xt = b["test_images"].reshape(len(b["test_images"]), -1) / 255.0
    clf = LogisticRegression(C=0.1, max_iter=2000).fit(x, b["train_labels"].ravel())
    return float(roc_auc_score(b["test_labels"].ravel(), clf.predict_proba(xt)[:, 1]))


EXERCISES = {
    "q1": Exercise(
        answer=400 * 512 * 512 * 2 / 2**20,
        hint="bytes = slices x rows x columns x (bits allocated / 8); then divide by 2**20.",
        hints=[(400 * 512 * 512 * 16 / 2**20, "You counted bits, not bytes: divide by 8."),
               (400 * 512 * 512 * 2 / 1e6, "That is megabytes (10**6); a MiB is 2**20 bytes.")],
    ),
    "q2": Exercise(
        answer=_rg1_reader_correlation,
        atol=1e-9,
        hint="The two readers return different arrays from the same file. What does the "
        "photometric interpretation MONOCHROME1 make one of them do to every pixel?",
        hints=[(1.0, "The arrays are not the same: one reader inverts the grey levels of a "
                "MONOCHROME1 image, the other does not."),
               (0.0, "Inverting a pixel (max - value) is a linear map with a negative slope; what "
                "does that do to a correlation?")],
    ),
    "q3": Exercise(
        answer=_ct_fov_mm,
        rtol=1e-4,
        hint="Multiply the number of columns by PixelSpacing[1] (the spacing between columns).",
    ),
    "q4": Exercise(
        answer={"CR", "CT"},
        hint="Radiography and CT use X-rays; MR uses magnetic fields, ultrasound uses sound.",
    ),
    "q5": Exercise(
        answer=_breast_logreg_auc,
        atol=2e-3,
        rtol=0.0,
        hint="Flatten the 28x28 images to 784 values, scale to [0, 1], fit on all training "
        "images, and score the test images with predict_proba(...)[:, 1].",
    ),
}
