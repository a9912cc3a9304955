"""Exercises of the chapter *Finding blood cells: object detection* (chapters/detection.ipynb)."""

from __future__ import annotations

from medlab.exercises import Exercise


def _iou() -> float:
    inter = (200 - 120) * (180 - 110)
    return inter / (100 * 80 + 90 * 90 - inter)


def _test_images_without_platelets() -> int:
    import numpy as np

    from medlab.data import load_bccd

    labels = load_bccd("test", images=False)["labels"]
    return int(sum(not np.any(lab == 2) for lab in labels))


EXERCISES = {
    "q1": Exercise(
        answer=_iou,
        hint="Intersection: the overlap runs from the larger x0 to the smaller x1, and the same in y. "
             "Union: the two areas added, minus the intersection (counted twice otherwise).",
        hints=[((200 - 120) * (180 - 110) / (100 * 80 + 90 * 90),
                "You divided by the sum of the two areas; the union counts the overlap only once."),
               ((200 - 120) * (180 - 110) / (100 * 80),
                "That is the share of the true box covered, not intersection over union.")],
        rtol=1e-4),
    "q2": Exercise(
        answer={"A", "C", "D"},
        hint="Go down the scores: keep the best remaining box, delete the others whose IoU with it "
             "exceeds 0.5, repeat. Touching is not the same as overlapping by half.",
        hints=[({"A", "C"}, "D touches A, but compute their IoU: a 10-pixel strip is far below 0.5."),
               ({"A", "B", "C", "D"}, "Compute the IoU of A and B: they are nearly the same box.")]),
    "q3": Exercise(
        answer=0.625,
        hint="Recall rises by 1/4 at each hit. At each rise, take the highest precision at that rank "
             "or any later rank (the envelope), multiply by 1/4 and add up.",
        hints=[((1 + 2 / 3 + 3 / 4) / 4,
                "You used the precision at each hit; the envelope takes the maximum over later ranks, "
                "so the second hit counts with 3/4, not 2/3."),
               ((1 + 2 / 3 + 3 / 4) / 3,
                "Divide by the 4 annotated objects, not by the 3 that were found.")],
        rtol=1e-4),
    "q4": Exercise(
        answer=_test_images_without_platelets,
        hint="Labels are indices into ('RBC', 'WBC', 'Platelets'); platelets are 2. Count the test "
             "images whose label array holds no 2.",
        hints=[(lambda: 72 - _test_images_without_platelets(),
                "That counts the images with at least one platelet box; the question asks for "
                "those without any."),
               (lambda: _test_images_without_platelets() / 72,
                "That is the share of the images; the question asks for their number.")]),
}
