"""Exercises of the chapter *Medical images as data* (chapters/images_as_data.ipynb)."""

from __future__ import annotations

import numpy as np

from medlab.exercises import Exercise


def _ct():
    import pydicom

    from medlab import data

    return pydicom.dcmread(data.fetch("693_UNCR.dcm"))


def _ct_hu() -> np.ndarray:
    ds = _ct()
    return ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def _hu_at_centre() -> float:
    return float(_ct_hu()[256, 256])


def _raw_at_centre() -> float:
    return float(_ct().pixel_array[256, 256])


def _head_row_pixels() -> int:
    from scipy import ndimage

    hu = _ct_hu()
    body = hu > -300
    labels, n = ndimage.label(body)
    largest = 1 + int(np.argmax(ndimage.sum(body, labels, range(1, n + 1))))
    head = ndimage.binary_fill_holes(labels == largest)
    return int((head[256] & (hu[256] > -300)).sum())


def _head_row_mm() -> float:
    return _head_row_pixels() * float(_ct().PixelSpacing[1])


def _mr2_point() -> tuple[float, float, float]:
    import SimpleITK as sitk

    from medlab import data

    image = sitk.ReadImage(str(data.fetch("MR2_UNCR.dcm")))
    return tuple(float(v) for v in image.TransformIndexToPhysicalPoint((100, 200, 0)))


def _mr2_point_swapped() -> tuple[float, float, float]:
    import SimpleITK as sitk

    from medlab import data

    image = sitk.ReadImage(str(data.fetch("MR2_UNCR.dcm")))
    return tuple(float(v) for v in image.TransformIndexToPhysicalPoint((200, 100, 0)))


def _subdural_masks():
    hu = _ct_hu()
    png = np.round(np.clip((hu + 1024.0) / 4095.0, 0, 1) * 255).astype(np.uint8)
    inside = (hu >= 75 - 107.5) & (hu <= 75 + 107.5)
    return hu, png, inside


def _subdural_levels_8bit() -> int:
    _, png, inside = _subdural_masks()
    return int(np.unique(png[inside]).size)


def _subdural_levels_hu() -> int:
    hu, _, inside = _subdural_masks()
    return int(np.unique(hu[inside]).size)


def _wm_voxels() -> int:
    import SimpleITK as sitk

    from medlab import data

    wm = sitk.GetArrayFromImage(sitk.ReadImage(str(data.fetch("mni152_wm.nii.gz"))))
    return int((wm > 127).sum())


def _wm_ml() -> float:
    return _wm_voxels() / 1000.0  # 1 mm isotropic voxels: 1 mm^3 each


EXERCISES = {
    "q1": Exercise(
        answer=_hu_at_centre,
        hint="HU = stored value x RescaleSlope + RescaleIntercept; read both from the header.",
        hints=[(_raw_at_centre, "That is the stored value: apply RescaleSlope and RescaleIntercept."),
               (lambda: _raw_at_centre() + 1024,
                "The intercept is negative: add RescaleIntercept, do not subtract it.")],
    ),
    "q2": Exercise(
        answer=_head_row_mm,
        rtol=1e-4,
        hint="Count the head pixels on row 256, then multiply by the spacing between columns "
        "(PixelSpacing[1]).",
        hints=[(lambda: float(_head_row_pixels()),
                "That is a number of pixels: multiply by the pixel spacing.")],
    ),
    "q3": Exercise(
        answer=_mr2_point,
        rtol=0.0,
        atol=1e-3,
        hint="p = origin + direction @ (spacing * index), with the index in SimpleITK's order "
        "(column, row, slice) = (100, 200, 0).",
        hints=[(_mr2_point_swapped,
                "You swapped row and column: SimpleITK's index is (x=column, y=row, z).")],
    ),
    "q4": Exercise(
        answer=_subdural_levels_8bit,
        hint="Select the pixels with 75 - 215/2 <= HU <= 75 + 215/2 and count the distinct values of "
        "the 8-bit image at those pixels (np.unique).",
        hints=[(_subdural_levels_hu, "That counts distinct HU values before the export; count the "
                "8-bit values instead.")],
    ),
    "q5": Exercise(
        answer=_wm_ml,
        rtol=1e-6,
        hint="Count the voxels with white-matter map > 127 (probability > 0.5, the map is stored 0-255), "
        "multiply by the voxel volume in mm^3 and divide by 1000.",
        hints=[(lambda: float(_wm_voxels()), "That is in mm^3 (voxel count x 1 mm^3); 1 mL = 1000 mm^3.")],
    ),
}
