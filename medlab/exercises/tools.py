"""Exercises of the chapter *Tools of the trade* (chapters/tools.ipynb)."""

from __future__ import annotations

import math

from medlab.exercises import Exercise


def _size_3mm() -> tuple[int, ...]:
    import SimpleITK as sitk

    from medlab import data
    from medlab.preprocess import resample_to_spacing

    t1 = sitk.ReadImage(str(data.fetch("mni152_t1.nii.gz")), sitk.sitkFloat32)
    return tuple(int(s) for s in resample_to_spacing(t1, 3.0).GetSize())


def _size_3mm_floor() -> tuple[int, ...]:
    return (65, 77, 63)


def _tre_rotation(degrees: float = 2.0, radius: float = 60.0) -> float:
    return 2 * radius * math.sin(math.radians(degrees) / 2)


EXERCISES = {
    "q1": Exercise(
        answer=_size_3mm,
        hint="The field of view is voxels x spacing in mm; divide it by the new spacing and round to "
             "the nearest whole number, axis by axis, in SimpleITK's (x, y, z) order.",
        hints=[(_size_3mm_floor, "You cut off the fractions; the function rounds to the nearest "
                                 "whole number of voxels.")],
    ),
    "q2": Exercise(
        answer=_tre_rotation,
        hint="A point at distance r from a rotation axis moves along a circle; the distance between "
             "where it starts and where it ends is the chord 2 r sin(angle / 2).",
        atol=0.01,  # the arc r * angle differs from the chord by less than this
        hints=[(lambda: 2 * 60 * math.sin(1.0), "Convert degrees to radians before taking the sine.")],
    ),
    "q3": Exercise(
        answer=1 / 64,
        hint="Count the (pneumonia, normal) pairs: every pair carries the same share of the AUC.",
        hints=[(1 / 16, "That is the step of the accuracy (one film of 16); the AUC counts pairs of "
                        "films.")],
    ),
    "q4": Exercise(
        answer=(32, 16, 3, 3),
        hint="PyTorch stores a convolution kernel as (output channels, input channels, height, "
             "width); Keras as (height, width, input channels, output channels).",
        hints=[((16, 32, 3, 3), "Output channels come first in PyTorch.")],
    ),
}
