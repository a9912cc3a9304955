"""Image registration, target registration error and bias-field correction with SimpleITK.

Introduced in the chapter *Tools of the trade* (chapters/tools.ipynb), which
first writes each step out with SimpleITK's own classes and then uses these
helpers: :func:`register` (rigid or affine, Mattes mutual information,
multi-resolution), :func:`affine_from_rigid` (start an affine stage where the
rigid one ended), :func:`target_registration_error` (distances, in mm,
between where an estimated and a true transform send the same points) and
:func:`n4_correct` (N4 bias-field correction at full resolution).

SimpleITK's registration convention: the transform maps points of the
*fixed* image's space to the *moving* image's space, so a fixed-image point
``p`` corresponds to ``transform.TransformPoint(p)`` in the moving image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

_KINDS = ("rigid", "affine")


def _check_image(image, name: str) -> sitk.Image:
    if not isinstance(image, sitk.Image):
        raise TypeError(f"{name} must be a SimpleITK.Image, got {type(image).__name__}")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"{name} must be a scalar image, not a vector image")
    return image


def _check_transform(transform, name: str) -> sitk.Transform:
    if not isinstance(transform, sitk.Transform):
        raise TypeError(f"{name} must be a SimpleITK transform, got {type(transform).__name__}")
    return transform


def affine_from_rigid(rigid: sitk.Transform) -> sitk.AffineTransform:
    """Return the affine transform that does exactly what a rigid (or similarity) transform does.

    Used to start an affine registration where a rigid one ended: same
    centre, same matrix, same translation. A composite transform holding a
    single rigid transform (what :func:`register` and
    ``ImageRegistrationMethod.Execute`` return) is unwrapped first.

    Raises
    ------
    TypeError
        If ``rigid`` is not a SimpleITK transform with a matrix, a centre and
        a translation.
    """
    t = _check_transform(rigid, "rigid")
    if t.GetName() == "CompositeTransform":
        composite = sitk.CompositeTransform(t)
        if composite.GetNumberOfTransforms() != 1:
            raise TypeError("a composite transform must hold exactly one transform to convert it")
        t = composite.GetNthTransform(0)
    t = t.Downcast()
    if not all(hasattr(t, m) for m in ("GetMatrix", "GetCenter", "GetTranslation")):
        raise TypeError(f"cannot turn a {t.GetName()} into an affine transform")
    dim = t.GetDimension()
    affine = sitk.AffineTransform(dim)
    affine.SetCenter(t.GetCenter())
    affine.SetMatrix(t.GetMatrix())
    affine.SetTranslation(t.GetTranslation())
    return affine


@dataclass(frozen=True)
class RegistrationResult:
    """What :func:`register` found.

    Attributes
    ----------
    transform
        Maps fixed-image points to moving-image points.
    metric
        Final Mattes mutual information (negative; lower is better).
    iterations
        Optimiser iterations at the finest level.
    stop
        The optimiser's reason for stopping.
    """

    transform: sitk.Transform
    metric: float
    iterations: int
    stop: str


def register(fixed: sitk.Image, moving: sitk.Image, kind: str = "rigid",
             *, initial: sitk.Transform | None = None, bins: int = 32, sampling: float = 0.1,
             iterations: int = 200, shrink: Sequence[int] = (4, 2, 1),
             smooth_mm: Sequence[float] = (2.0, 1.0, 0.0), seed: int = 1,
             threads: int | None = None) -> RegistrationResult:
    """Register ``moving`` to ``fixed`` by maximising Mattes mutual information.

    Mutual information needs no common intensity scale, so it aligns images of
    different contrasts (T1 and T2, or a T1 image and a tissue map). The
    optimiser is regular-step gradient descent with scales estimated from
    physical shifts, run from coarse to fine (``shrink`` and ``smooth_mm``
    give one entry per level).

    Parameters
    ----------
    fixed, moving
        Scalar images (cast to 32-bit float inside).
    kind
        ``"rigid"`` (rotation and translation, 6 parameters in 3D) or
        ``"affine"`` (adds scaling and shear, 12 parameters in 3D).
    initial
        Starting transform. By default a rigid registration starts from the
        images' geometric centres aligned, and an affine registration from
        the identity; pass the rigid result through :func:`affine_from_rigid`
        to chain the two.
    bins
        Histogram bins of the mutual-information estimate.
    sampling
        Share of fixed-image voxels sampled at random in each iteration.
    iterations
        Most optimiser iterations per level.
    shrink, smooth_mm
        Shrink factor and Gaussian smoothing (sigma in mm) of each level.
    seed
        Seed of the random voxel sampling, a positive integer. (SimpleITK
        reads a seed of 0, ``sitk.sitkWallClock``, as "seed from the clock",
        which would make every run different; it is refused here.)
    threads
        Threads of the metric computation; ``None`` uses SimpleITK's default
        (all cores). The seed fixes *which* voxels are sampled, but threads
        add up their partial sums in a varying order, so multi-threaded runs
        differ in the last digits; with ``threads=1`` (set for the duration of
        the call, also as SimpleITK's global default) a run repeats exactly.

    Returns
    -------
    RegistrationResult
        The transform (fixed -> moving points) and the optimiser's summary.
    """
    _check_image(fixed, "fixed")
    _check_image(moving, "moving")
    if fixed.GetDimension() != moving.GetDimension():
        raise ValueError(f"fixed is {fixed.GetDimension()}D but moving is {moving.GetDimension()}D")
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    if not 0 < sampling <= 1:
        raise ValueError(f"sampling must be a share in (0, 1], got {sampling}")
    if len(shrink) != len(smooth_mm) or not shrink:
        raise ValueError("give one smoothing sigma per shrink factor")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 1:
        raise ValueError(f"seed must be a positive integer (SimpleITK reads 0 as 'seed from the "
                         f"clock'), got {seed!r}")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 4:
        raise ValueError(f"bins must be an integer of at least 4, got {bins!r}")
    fixed = sitk.Cast(fixed, sitk.sitkFloat32)
    moving = sitk.Cast(moving, sitk.sitkFloat32)
    dim = fixed.GetDimension()
    if initial is None:
        start = sitk.Euler3DTransform() if dim == 3 else sitk.Euler2DTransform()
        if kind == "rigid":
            initial = sitk.CenteredTransformInitializer(
                fixed, moving, start, sitk.CenteredTransformInitializerFilter.GEOMETRY)
        else:
            initial = sitk.AffineTransform(dim)
    _check_transform(initial, "initial")

    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=int(bins))
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(float(sampling), int(seed))
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0, minStep=1e-4, numberOfIterations=int(iterations),
        gradientMagnitudeTolerance=1e-8)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([int(s) for s in shrink])
    method.SetSmoothingSigmasPerLevel([float(s) for s in smooth_mm])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(initial, inPlace=False)
    default_threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
            raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
        method.SetNumberOfThreads(int(threads))
        # the pyramid's smoothing and the metric's helpers use the global default
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(threads))
    try:
        transform = method.Execute(fixed, moving)
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(default_threads)
    return RegistrationResult(transform=transform, metric=float(method.GetMetricValue()),
                              iterations=int(method.GetOptimizerIteration()),
                              stop=method.GetOptimizerStopConditionDescription())


def target_registration_error(estimated: sitk.Transform, true: sitk.Transform,
                              points: Sequence[Sequence[float]]) -> np.ndarray:
    """Distances (mm) between where the estimated and the true transform send each point.

    The target registration error (TRE) is measured at *targets*: points of
    interest (landmarks, lesion centres) that the registration did not use.
    It says how far off a structure found in one image lands in the other.

    Parameters
    ----------
    estimated, true
        Transforms from fixed-image to moving-image space.
    points
        ``(n, dim)`` physical points (mm) in the fixed image's space.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` distances in mm.
    """
    _check_transform(estimated, "estimated")
    _check_transform(true, "true")
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] == 0:
        raise ValueError(f"points must have shape (n, dim) with n >= 1, got {pts.shape}")
    for name, t in (("estimated", estimated), ("true", true)):
        if t.GetDimension() != pts.shape[1]:
            raise ValueError(f"the {name} transform is {t.GetDimension()}D but the points are "
                             f"{pts.shape[1]}D")
    if not np.isfinite(pts).all():
        raise ValueError("points must be finite")
    a = np.array([estimated.TransformPoint(p.tolist()) for p in pts])
    b = np.array([true.TransformPoint(p.tolist()) for p in pts])
    return np.linalg.norm(a - b, axis=1)


def n4_correct(image: sitk.Image, mask: sitk.Image | None = None, shrink: int = 4,
               iterations: Sequence[int] = (50, 50, 50, 50)) -> tuple[sitk.Image, sitk.Image]:
    """N4 bias-field correction; return the corrected image and the bias field, both at full size.

    N4 models the slowly varying multiplicative shading of an MR image (coil
    sensitivity, field inhomogeneity) as a smooth B-spline field and
    estimates it on a shrunken copy, which is fast; the field is then
    evaluated on the full-resolution grid, and the corrected image is the
    image divided by it.

    Parameters
    ----------
    image
        Scalar MR image (cast to 32-bit float).
    mask
        Voxels to fit the field on (the head or the body); by default an Otsu
        threshold of the image.
    shrink
        Shrink factor of the fitting copy (1 = fit on the full image).
    iterations
        Most iterations per fitting level; the number of entries is the
        number of levels.

    Returns
    -------
    tuple of SimpleITK.Image
        ``(corrected, bias_field)`` with ``corrected = image / bias_field``.
    """
    _check_image(image, "image")
    if isinstance(shrink, bool) or not isinstance(shrink, (int, np.integer)) or shrink < 1:
        raise ValueError(f"shrink must be a positive integer, got {shrink!r}")
    if not iterations or any(int(i) < 1 for i in iterations):
        raise ValueError(f"iterations must be positive integers, one per level, got {iterations!r}")
    image = sitk.Cast(image, sitk.sitkFloat32)
    if mask is None:
        mask = sitk.OtsuThreshold(image, 0, 1, 200)
    else:
        _check_image(mask, "mask")
        if mask.GetSize() != image.GetSize():
            raise ValueError(f"mask size {mask.GetSize()} differs from image size {image.GetSize()}")
        mask = sitk.Cast(mask > 0, sitk.sitkUInt8)
        mask.CopyInformation(image)
    if not sitk.GetArrayViewFromImage(mask).any():
        raise ValueError("the mask is empty")
    factors = [int(shrink)] * image.GetDimension()
    n4 = sitk.N4BiasFieldCorrectionImageFilter()
    n4.SetMaximumNumberOfIterations([int(i) for i in iterations])
    n4.Execute(sitk.Shrink(image, factors), sitk.Shrink(mask, factors))
    bias = sitk.Exp(n4.GetLogBiasFieldAsImage(image))
    return image / bias, bias
