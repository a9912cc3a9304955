"""Exercises of the chapter *Segmentation in 3D: the hippocampus* (chapters/hippocampus.ipynb)."""

from __future__ import annotations

from medlab.exercises import Exercise

SLICE_SPLIT = {"volumes": 10, "slices": 30, "train": 240, "seed": 4}
"""The slice-level split of exercise 4: 10 volumes x 30 slices, shuffled, first 240 for training."""


def slice_split() -> dict[str, list[tuple[int, int]]]:
    """Exercise 4's split of (volume, slice) pairs: shuffled with a seeded generator, cut at 240."""
    import numpy as np

    p = SLICE_SPLIT
    pairs = [(volume, z) for volume in range(1, p["volumes"] + 1) for z in range(p["slices"])]
    order = np.random.default_rng(p["seed"]).permutation(len(pairs))
    shuffled = [pairs[i] for i in order]
    return {"train": shuffled[:p["train"]], "test": shuffled[p["train"]:]}


def _leaks() -> int:
    from medlab.hippocampus import leaking_groups

    split = slice_split()
    return len(leaking_groups(split, {k: k[0] for v in split.values() for k in v}))


def _first_case():
    from medlab.data import HIPPOCAMPUS_CASES, load_hippocampus

    return load_hippocampus(HIPPOCAMPUS_CASES[:1])[HIPPOCAMPUS_CASES[0]]


def _volume() -> float:
    from medlab.hippocampus import volume_mm3

    case = _first_case()
    return volume_mm3(case.label > 0, case.spacing)


def _part(k: int) -> float:
    from medlab.hippocampus import volume_mm3

    case = _first_case()
    return volume_mm3(case.label == k, case.spacing)


EXERCISES = {
    "q1": Exercise(
        answer=(17, 24, 17),
        hint="Along each axis separately: floor((n + padding - kernel) / stride) + 1, with no padding "
             "for 'valid'.",
        hints=[((33, 48, 34), "That is stride 1; the layer moves 2 voxels at a time."),
               ((18, 25, 18), "That is padding 'same' (ceil(n / 2)); 'valid' adds no zeros.")]),
    "q2": Exercise(
        answer=3 * 3 * 3 * 8 * 24 + 24,
        hint="Each of the 24 filters has one weight per kernel voxel and input channel, plus one bias.",
        hints=[(3 * 3 * 3 * 8 * 24, "Add the biases, one per filter."),
               (3 * 3 * 8 * 24 + 24, "That is the 2D layer: a 3D kernel has 3 x 3 x 3 taps."),
               (3 * 3 * 3 * 24 + 24, "Each filter sees all 8 input channels.")]),
    "q3": Exercise(
        answer=_volume,
        hint="Count the voxels with label 1 or 2 and multiply by the volume of one voxel, the product "
             "of the three spacings (mm).",
        hints=[(lambda: _part(1), "That is the anterior part only; the question asks for both labels."),
               (lambda: _part(2), "That is the posterior part only; the question asks for both labels."),
               (lambda: _volume() / 1000, "That is in cm³ (mL); the question asks for mm³.")],
        rtol=1e-6),
    "q4": Exercise(
        answer=_leaks,
        hint="Use medlab.hippocampus.leaking_groups with group_of mapping each (volume, slice) "
             "pair to its volume.",
        hints=[(0, "Zero would mean every volume's slices all landed on one side; count volumes "
                   "found in both sets.")]),
}
