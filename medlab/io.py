"""Reading medical images: DICOM files, DICOM series folders and NIfTI volumes.

Introduced in the chapter *Medical images as data* (chapters/images_as_data.ipynb).
Every reader returns a :class:`SimpleITK.Image`, which keeps the pixels *and*
the geometry (origin, spacing, direction) together; :func:`to_array` splits
them into a NumPy array and plain geometry for the code that follows.

Conventions (the chapter explains each):

* SimpleITK indexes ``(x, y, z)``; the NumPy array is ``(z, y, x)``.
  :class:`ImageArray` gives the spacing in the *array's* axis order, so that
  ``array.shape[i] * spacing[i]`` is the extent of axis ``i`` in mm.
* Physical coordinates are DICOM's LPS (x to the patient's left, y to the
  back, z to the head); NIfTI files are RAS, see :func:`ras_affine`.
* SimpleITK (through GDCM) applies the modality LUT (rescale slope and
  intercept) and turns ``MONOCHROME1`` pixels into ``MONOCHROME2`` ones
  (``max - value``), although the header still says ``MONOCHROME1``.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk


@dataclass(frozen=True)
class ImageArray:
    """Pixels as a NumPy array together with their geometry.

    Attributes
    ----------
    array
        Pixel values in NumPy order ``(z, y, x)`` (plus a last channel axis
        for colour images).
    spacing
        Distance between voxel centres in mm, in the array's axis order
        ``(z, y, x)``.
    origin
        Physical position (mm, LPS) of the centre of voxel ``(0, 0, 0)``,
        as ``(x, y, z)``.
    direction
        3x3 matrix whose columns are the physical directions of the image's
        ``x``, ``y`` and ``z`` index axes (SimpleITK's convention).
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: np.ndarray


def _check_path(path: str | os.PathLike) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a string or a pathlib.Path, got {type(path).__name__}")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no such file or folder: {p}")
    return p


def read_image(path: str | os.PathLike, series_id: str | None = None,
               warn_spacing: bool = True) -> sitk.Image:
    """Read a DICOM file, a DICOM series folder or a NIfTI file as a SimpleITK image.

    The result is a :class:`SimpleITK.Image`: pixels *and* geometry (origin, spacing,
    direction), not a NumPy array; :func:`to_array` splits the two. (For a plain colour photo
    as an RGB array, see :func:`medlab.detection.read_rgb`.)

    Parameters
    ----------
    path
        A file (``.dcm``, ``.nii``, ``.nii.gz``, or any format SimpleITK
        reads) or a folder holding the slices of one DICOM series.
    series_id
        For a folder holding several series: the Series Instance UID to read.
    warn_spacing
        Warn when a DICOM file records no usable pixel spacing, in which case
        SimpleITK reports a placeholder spacing of 1.0 mm.

    Returns
    -------
    SimpleITK.Image
        The image with its geometry (SimpleITK's ``(x, y, z)`` index order).

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    ValueError
        The file is not an image SimpleITK can read, or the folder holds no
        DICOM series, or several series and no ``series_id``.
    """
    p = _check_path(path)
    if p.is_dir():
        return _read_series(p, series_id)
    try:
        image = sitk.ReadImage(str(p))
    except RuntimeError as err:
        raise ValueError(f"{p.name} is not an image file SimpleITK can read "
                         f"(DICOM, NIfTI, NRRD, MetaImage, PNG, ...): {str(err).strip()[:200]}") from err
    if warn_spacing and _is_dicom(p) and not _dicom_has_spacing(p):
        warnings.warn(f"{p.name} records no pixel spacing (PixelSpacing missing or zero); "
                      f"SimpleITK reports {image.GetSpacing()[:2]} mm, a placeholder, not a "
                      "measurement. Distances on this image are in pixels.", UserWarning, stacklevel=2)
    return image


def _read_series(folder: Path, series_id: str | None) -> sitk.Image:
    ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if not ids:
        raise ValueError(f"the folder {folder} holds no DICOM series")
    if series_id is None:
        if len(ids) > 1:
            raise ValueError(f"the folder {folder} holds {len(ids)} DICOM series; "
                             f"choose one with series_id=, one of {list(ids)}")
        series_id = ids[0]
    elif series_id not in ids:
        raise ValueError(f"series {series_id!r} is not in {folder}; it holds {list(ids)}")
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_id)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    return reader.Execute()


def _is_dicom(p: Path) -> bool:
    with open(p, "rb") as fh:
        head = fh.read(132)
    return head[128:132] == b"DICM" or p.suffix.lower() == ".dcm"


def _dicom_has_spacing(p: Path) -> bool:
    """True when the header gives a positive pixel spacing (top level or functional groups)."""
    import pydicom

    ds = pydicom.dcmread(p, stop_before_pixels=True, force=True)
    candidates = [ds.get("PixelSpacing"), ds.get("ImagerPixelSpacing")]
    for group in ds.get("SharedFunctionalGroupsSequence", []):
        for measures in group.get("PixelMeasuresSequence", []):
            candidates.append(measures.get("PixelSpacing"))
    return any(c is not None and len(c) == 2 and min(float(v) for v in c) > 0 for c in candidates)


def to_array(image: sitk.Image) -> ImageArray:
    """Split a SimpleITK image into a NumPy array and its geometry.

    The array is a copy in ``(z, y, x)`` order; ``spacing`` is reversed to
    match it. Origin and direction stay physical (``x, y, z``).
    """
    if not isinstance(image, sitk.Image):
        raise TypeError(f"expected a SimpleITK.Image, got {type(image).__name__}; "
                        "read files with medlab.io.read_image first")
    dim = image.GetDimension()
    return ImageArray(
        array=sitk.GetArrayFromImage(image),
        spacing=tuple(float(s) for s in reversed(image.GetSpacing())),
        origin=tuple(float(o) for o in image.GetOrigin()),
        direction=np.asarray(image.GetDirection(), dtype=float).reshape(dim, dim),
    )


def from_array(array: np.ndarray, *, spacing=None, origin=None, direction=None,
               is_vector: bool = False) -> sitk.Image:
    """Build a SimpleITK image from a ``(z, y, x)`` or ``(y, x)`` array.

    ``spacing`` is in the array's axis order (as in :class:`ImageArray`);
    ``origin`` and ``direction`` are physical, as SimpleITK keeps them.
    """
    arr = np.asarray(array)
    spatial = arr.ndim - (1 if is_vector else 0)
    if spatial not in (2, 3):
        raise ValueError(f"expected a 2D or 3D image array, got {arr.ndim} dimensions "
                         f"with shape {arr.shape}" + (" (last axis = channels)" if is_vector else ""))
    image = sitk.GetImageFromArray(arr, isVector=is_vector)
    if spacing is not None:
        if len(spacing) != spatial or min(spacing) <= 0:
            raise ValueError(f"spacing must be {spatial} positive numbers in array order, got {spacing}")
        image.SetSpacing([float(s) for s in reversed(spacing)])
    if origin is not None:
        image.SetOrigin([float(o) for o in origin])
    if direction is not None:
        image.SetDirection([float(d) for d in np.asarray(direction, dtype=float).ravel()])
    return image


def ras_affine(image: sitk.Image) -> np.ndarray:
    """The 4x4 voxel-to-world affine of a 3D image in NIfTI's RAS convention.

    SimpleITK works in DICOM's LPS coordinates; NIfTI (and nibabel) in RAS.
    The two differ by the sign of the first two world axes. The affine maps
    a voxel index ``(i, j, k)`` in SimpleITK's ``(x, y, z)`` order, which is
    nibabel's array order, to millimetres.
    """
    if not isinstance(image, sitk.Image) or image.GetDimension() != 3:
        raise ValueError("ras_affine needs a 3D SimpleITK.Image")
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = direction @ np.diag(image.GetSpacing())
    lps[:3, 3] = image.GetOrigin()
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
