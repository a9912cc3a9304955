"""Exercises of the chapter *Applications* (chapters/applications.ipynb)."""

from __future__ import annotations

import numpy as np

from medlab.exercises import Exercise

Q1 = {"n": 1000, "tp": 80, "fp": 150, "prevalence": 0.10, "pt": 0.20}
"""Exercise 1: counts of a biopsy rule at threshold probability 20 % on 1,000 patients."""

Q3_PROB = np.array([[0.40, 0.00, 0.00, 0.30, 0.30],
                    [0.10, 0.50, 0.40, 0.00, 0.00],
                    [0.05, 0.05, 0.30, 0.30, 0.30]])
"""Exercise 3: grade probabilities of three fundus photographs (grades 0 to 4)."""

Q4_Y = np.array([1, 0, 0, 1, 0, 0, 1, 0, 0, 0])
Q4_P = np.array([0.95, 0.05, 0.45, 0.55, 0.10, 0.60, 0.35, 0.02, 0.15, 0.48])
"""Exercise 4: labels and malignancy probabilities of ten breast ultrasound images."""


def _net_benefits(odds: bool = True) -> tuple[float, float]:
    q = Q1
    w = q["pt"] / (1 - q["pt"]) if odds else q["pt"]
    model = q["tp"] / q["n"] - q["fp"] / q["n"] * w
    treat_all = q["prevalence"] - (1 - q["prevalence"]) * w
    return model, treat_all


def _selective_accuracy(coverage: float = 0.5) -> float:
    from medlab.metrics import selective_curve

    curve = selective_curve(Q4_Y, Q4_P, threshold=0.5)
    return float(curve["accuracy"][round(coverage * len(Q4_Y)) - 1])


def _decoded(how: str) -> tuple[int, ...]:
    from medlab import ordinal

    decode = ordinal.decode_expected if how == "expected" else ordinal.decode_argmax
    return tuple(int(g) for g in decode(Q3_PROB))


EXERCISES = {
    "q1": Exercise(
        answer=_net_benefits,
        rtol=1e-4,
        hint="NB = TP/n - FP/n x p_t/(1 - p_t); treating everyone makes every patient a positive call.",
        hints=[(lambda: _net_benefits(odds=False), "A false positive is weighed by the odds "
                "p_t / (1 - p_t), not by p_t itself."),
               ((0.08, 0.10), "Both numbers leave out the false positives' cost.")],
    ),
    "q2": Exercise(
        answer=1 / 7,
        rtol=1e-6,
        hint="At the threshold the expected harms balance: p_t x (cost of missing) = (1 - p_t) x "
             "(cost of an unnecessary biopsy).",
        hints=[(6 / 7, "Swapped: the worse it is to miss a cancer, the LOWER the risk at which you "
                "biopsy."),
               (1 / 6, "1/6 is the odds p_t / (1 - p_t); the question asks for the probability.")],
    ),
    "q3": Exercise(
        answer=lambda: _decoded("expected"),
        hint="Expected grade = sum over k of k x p_k; round it to the nearest whole grade.",
        hints=[(lambda: _decoded("argmax"), "That is the most probable grade of each row (argmax), "
                "which ignores the order of the grades.")],
    ),
    "q4": Exercise(
        answer=_selective_accuracy,
        rtol=1e-6,
        hint="Rank the images by |p - 0.5|, keep the five furthest from 0.5, call p >= 0.5 malignant.",
        hints=[(lambda: float(np.mean((Q4_P >= 0.5) == Q4_Y)), "That is the accuracy on all ten "
                "images; the model decides only the five it is surest of.")],
    ),
}
"""The chapter's exercises; answers are computed from the numbers given in the questions."""
