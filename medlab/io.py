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
        The file is not an image SimpleITK can read, or is damaged or cut short
        (see :func:`check_whole_file`; SimpleITK itself fills what is missing
        with zeros or grey), or the folder holds no DICOM series, or several
        series and no ``series_id``.
    """
    p = _check_path(path)
    if p.is_dir():
        return _read_series(p, series_id)
    check_whole_file(p)
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
    for f in sorted(folder.iterdir()):  # GDCM leaves a damaged slice out of its series
        if f.is_file() and _is_dicom(f):
            check_whole_file(f)
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


PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png")
"""Plain picture formats that are decoded in full with Pillow before they are used."""


def check_whole_file(path: str | os.PathLike) -> Path:
    """Refuse a damaged or cut-short image file; return its path when it is whole.

    Readers such as SimpleITK return an image for a file cut in half (the missing
    voxels zero, a JPEG's missing blocks grey), so every file is checked first:

    * ``.gz`` (e.g. ``.nii.gz``): the whole stream is decompressed (gzip's CRC and
      length are checked);
    * NIfTI (``.nii``, ``.nii.gz``): the voxel data must be as long as its header says;
    * JPEG and PNG: decoded in full by Pillow, which raises on a truncated stream;
    * DICOM: uncompressed Pixel Data must hold rows x columns x samples x frames x
      bits allocated (pydicom reads a truncated element without complaint).

    Used by :func:`read_image`, :func:`medlab.detection.read_rgb` and the loaders of
    :mod:`medlab.data`. (Compressed DICOM transfer syntaxes are left to the decoder.)

    Raises
    ------
    ValueError
        Naming the file and what is wrong with it.
    FileNotFoundError
        The file does not exist.
    """
    p = _check_path(path)
    name = p.name.lower()
    if name.endswith(".gz"):
        _check_gzip(p)
    if name.endswith((".nii", ".nii.gz")):
        _check_nifti(p)
    elif name.endswith(PICTURE_SUFFIXES):
        _decode_whole_picture(p, "path")
    elif _is_dicom(p):
        _check_dicom_pixels(p)
    return p


def _check_gzip(p: Path) -> None:
    import gzip
    import zlib

    try:
        with gzip.open(p, "rb") as fh:
            while fh.read(1 << 22):
                pass
    except (EOFError, OSError, zlib.error) as err:
        raise ValueError(f"{p}: the gzip stream is cut short or damaged ({type(err).__name__}: {err}); "
                         "the file is incomplete: copy or download it again") from err


def _check_nifti(p: Path) -> None:
    import nibabel as nib

    try:
        img = nib.load(p)
        data = np.asarray(img.dataobj)
    except Exception as err:  # nibabel raises EOFError, ValueError, OSError, ImageFileError...
        raise ValueError(f"{p}: not a whole NIfTI file ({type(err).__name__}: {err})") from err
    if data.shape != img.shape:
        raise ValueError(f"{p}: the header gives shape {img.shape} but the file holds {data.shape}")


def _decode_whole_picture(path: str | os.PathLike, argname: str):
    """Open a JPEG/PNG (any Pillow format) and decode every pixel; a PIL image, loaded."""
    from PIL import Image, ImageFile, UnidentifiedImageError

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{argname} must be a string or a pathlib.Path, got {type(path).__name__}")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such image file: {p}")
    lenient = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file must raise, whoever set it
    try:
        with Image.open(p) as im:
            im.load()
            return im.copy()
    except UnidentifiedImageError as err:
        raise ValueError(f"{p}: not an image file Pillow can read") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"{p}: the image is damaged or cut short ({err}); "
                         "copy or download it again") from err
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = lenient


def _check_dicom_pixels(p: Path) -> None:
    import pydicom

    try:
        ds = pydicom.dcmread(p, force=True)
    except Exception as err:  # pydicom raises many kinds on a damaged header
        raise ValueError(f"{p}: not a readable DICOM file ({type(err).__name__}: {err})") from err
    if "PixelData" not in ds:
        return
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is not None and syntax.is_compressed:
        return
    try:
        rows, cols, bits = int(ds.Rows), int(ds.Columns), int(ds.BitsAllocated)
        samples, frames = int(ds.get("SamplesPerPixel", 1) or 1), int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError) as err:
        raise ValueError(f"{p}: Pixel Data without usable Rows, Columns or Bits Allocated ({err})") from err
    expected = (rows * cols * samples * frames * bits + 7) // 8
    got = len(ds.PixelData)
    if got < expected:
        raise ValueError(f"{p}: Pixel Data holds {got} bytes but {rows} x {cols} x {samples} sample(s) x "
                         f"{frames} frame(s) at {bits} bits need {expected}: the file is cut short")


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
    ``origin`` and ``direction`` are physical, as SimpleITK keeps them. The
    geometry must be finite (spacing positive, direction invertible); the
    pixel values pass through as they are (NaN included: SimpleITK keeps it).
    """
    from medlab.validate import check_array

    arr = check_array(array, "array", kind="numeric")
    spatial = arr.ndim - (1 if is_vector else 0)
    if spatial not in (2, 3):
        raise ValueError(f"expected a 2D or 3D image array, got {arr.ndim} dimensions "
                         f"with shape {arr.shape}" + (" (last axis = channels)" if is_vector else ""))
    if spacing is not None:
        sp = check_array(spacing, "spacing", ndim=1, finite=True)
        if len(sp) != spatial or sp.min() <= 0:
            raise ValueError(f"spacing must be {spatial} positive numbers in array order, got {spacing}")
    if origin is not None:
        org = check_array(origin, "origin", ndim=1, finite=True)
        if len(org) != spatial:
            raise ValueError(f"origin must be {spatial} finite numbers (x, y[, z]), got {origin}")
    if direction is not None:
        dirs = check_array(direction, "direction", finite=True).astype(float).reshape(-1)
        if dirs.size != spatial * spatial or abs(np.linalg.det(dirs.reshape(spatial, spatial))) < 1e-6:
            raise ValueError(f"direction must be an invertible {spatial}x{spatial} matrix, got {direction}")
    image = sitk.GetImageFromArray(arr, isVector=is_vector)
    if spacing is not None:
        image.SetSpacing([float(s) for s in reversed(sp)])
    if origin is not None:
        image.SetOrigin([float(o) for o in org])
    if direction is not None:
        image.SetDirection([float(d) for d in dirs])
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
