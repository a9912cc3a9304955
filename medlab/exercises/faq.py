"""Exercises of the chapter *FAQ: every answer a measured experiment* (chapters/faq.ipynb)."""

from __future__ import annotations

import numpy as np

from medlab.exercises import Exercise


def _accuracy_at_prevalence(sens: float = 0.90, spec: float = 0.80, prev: float = 0.01) -> float:
    """Share of correct calls: the sick found plus the healthy cleared."""
    return sens * prev + spec * (1 - prev)


def _f1_pair() -> tuple[float, float]:
    from medlab.metrics import metrics_from_counts

    return (metrics_from_counts(tp=80, fp=20, fn=10, tn=90)["f1"],
            metrics_from_counts(tp=80, fp=20, fn=10, tn=4980)["f1"])


def _expected_best_of(n: int = 20, mean: float = 0.85, sd: float = 0.03) -> float:
    """E[max of n iid normal(mean, sd)] by numerical integration (independent of the simulation)."""
    from scipy import integrate, stats

    def density_of_max(x: float) -> float:
        return x * n * stats.norm.pdf(x) * stats.norm.cdf(x) ** (n - 1)

    e_max, _ = integrate.quad(density_of_max, -10, 10)
    return mean + sd * e_max


def _log_linear_prediction(at: float = 4000.0) -> float:
    n = np.array([250.0, 500.0, 1000.0])
    auc = np.array([0.82, 0.85, 0.87])
    slope, intercept = np.polyfit(np.log2(n), auc, 1)
    return float(intercept + slope * np.log2(at))


def _linear_in_n_prediction() -> float:
    n = np.array([250.0, 500.0, 1000.0])
    slope, intercept = np.polyfit(n, np.array([0.82, 0.85, 0.87]), 1)
    return float(intercept + slope * 4000)


EXERCISES = {
    "q1": Exercise(
        answer=_accuracy_at_prevalence,
        rtol=1e-3,
        hint="Accuracy = sensitivity x prevalence + specificity x (1 - prevalence).",
        hints=[(0.99, "That is the accuracy of calling everyone healthy, not of the model."),
               (0.85, "That is the mean of sensitivity and specificity (the accuracy at 50 % "
                "prevalence); weight them by 1 % and 99 %."),
               (lambda: _accuracy_at_prevalence(prev=0.99), "The weights are swapped: the sick are "
                "1 % of the people, so the sensitivity gets the small weight.")],
    ),
    "q2": Exercise(
        answer=_f1_pair,
        rtol=1e-4,
        hint="F1 = 2 TP / (2 TP + FP + FN): which of the four counts does it leave out?",
        hints=[((0.8, 0.8), "0.8 is the precision (80 of 100 alarms are right); F1 combines precision "
                "and recall."),
               (lambda: (_f1_pair()[0], 0.0), "The true negatives do not enter F1: the second value "
                "cannot change.")],
    ),
    "q3": Exercise(
        answer=_expected_best_of,
        atol=0.002,
        hint="Draw an array of shape (100000, 20), take the maximum of each row, then the mean.",
        hints=[(0.85, "That is the true AUC of every configuration; the maximum of twenty noisy values "
                "is higher than their mean."),
               (0.88, "That is one standard deviation above; the best of twenty is further out."),
               (lambda: 0.85 + 0.03 * 3, "Too far: three standard deviations is the best of about a "
                "thousand, not of twenty.")],
    ),
    "q4": Exercise(
        answer=_log_linear_prediction,
        rtol=1e-4,
        hint="x = np.log2([250, 500, 1000]); fit np.polyfit(x, auc, 1); evaluate at np.log2(4000).",
        hints=[(_linear_in_n_prediction, "You fitted AUC against the number of images, not its "
                "logarithm: the straight line in n predicts far too much."),
               (0.89, "That adds one more doubling's gain only; 4,000 is two doublings past 1,000, and "
                "the line is fitted through all three points.")],
    ),
}
"""The chapter's exercises; answers are computed from the numbers given in the questions."""
