"""Exercises of the chapter *Can we trust the model?* (chapters/interpretability.ipynb)."""

from __future__ import annotations

from medlab.exercises import Exercise


def _test_self_duplicates() -> int:
    import numpy as np

    from medlab import data, quality, train

    d = data.load_medmnist("pneumoniamnist")
    dist = quality.nearest_neighbours(train.to_float(d["test_images"]))[1]
    return int(np.sum(dist < 0.01))


SUBSET = 800
"""The chapter's training subset in full mode: the first 800 training films."""


def _half_pneumonia_of(n: int) -> int:
    from medlab import data

    labels = data.load_medmnist("pneumoniamnist")["train_labels"][:n, 0]
    return int((labels == 1).sum()) // 2


def _half_pneumonia() -> int:
    return _half_pneumonia_of(SUBSET)


EXERCISES = {
    "q1": Exercise(
        answer=1.0,
        hint="Multiply each input by its weight (the gradient of a linear model is its weight "
             "everywhere) and add up; completeness says the sum is z(x) - z(baseline).",
        hints=[(1.7, "That is z(x) itself. The bias is also in z(baseline) and cancels."),
               (9.0, "Mind the sign of the second weight: x_2 pulls the logit down.")]),
    "q2": Exercise(
        answer={2, 5},
        hint="t_0 is the mean of 1 - p over the films labelled 0, t_1 the mean of p over the films "
             "labelled 1. A film is confidently of class j when its probability of j reaches t_j; "
             "flag it when that class differs from its label.",
        hints=[({2}, "Look at film 5 too: its probability of *normal* is 1 - 0.2 = 0.8."),
               ({5}, "Look at film 2 too: labelled normal, but p = 0.9 reaches t_1."),
               ({2, 3, 5}, "Film 3 has p = 0.7 >= t_1 and is labelled pneumonia: that agrees.")]),
    "q3": Exercise(
        answer=_test_self_duplicates,
        hint="Use quality.nearest_neighbours(x_test) with no second set: it gives each test film "
             "its nearest *other* test film. Count the distances below 0.01.",
        hints=[(0, "That is the count of test films with a copy in the *training* set; search "
                   "the test set against itself."),
               (lambda: _test_self_duplicates() // 2, "That counts pairs; the question counts "
                                                       "films (both films of a pair).")]),
    "q4": Exercise(
        answer=49,
        hint="Count the patch positions along one axis: 0, 4, ... while a patch still fits, then "
             "one more that ends exactly at the border if the last one did not. Then square it.",
        hints=[(36, "You left out the extra position: a patch at 20 ends at 26, so one at 22 is "
                    "added to cover the last two columns."),
               (529, "That is stride 1; the question asks about stride 4."),
               (784, "One pass per patch position, not per pixel.")]),
    "q5": Exercise(
        answer=_half_pneumonia,
        hint="Count the label-1 films among y_train[:800] and halve the count (rounded down).",
        hints=[(400, "Not all of the first 800 films are pneumonias: count the label-1 ones."),
               (lambda: _half_pneumonia_of(1000), "That counts the first 1000 films; the subset is 800."),
               (lambda: 2 * _half_pneumonia(), "That is all the pneumonia films; the marker goes on half.")]),
}
