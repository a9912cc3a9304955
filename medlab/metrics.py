"""Metrics for evaluating medical image models.

Classification part: introduced in the chapter *Evaluating a medical image
model* (chapters/evaluation.ipynb), where each metric is first computed by hand
from a confusion matrix or a list of scores and checked against scikit-learn.

Conventions of this part
------------------------
* Labels are 0 (negative, e.g. normal) and 1 (positive, e.g. disease); booleans
  are accepted. Any other value raises ``ValueError``.
* A case is called positive when its score is **greater than or equal to** the
  threshold (the convention of :func:`sklearn.metrics.roc_curve`).
* Scores must be finite: NaN or infinite scores raise ``ValueError`` (a model
  that outputs NaN is broken, and no metric of it is meaningful).
* A ratio whose denominator is zero (e.g. sensitivity when there is no positive
  case) is returned as ``nan``, never as 0 or 1; this equals scikit-learn's
  ``zero_division=np.nan``. Metrics that need both classes (AUC, DeLong's test)
  raise ``ValueError`` when one class is missing.

Intervals: :func:`bootstrap_ci` and :func:`paired_bootstrap` for statistics of
scores (AUC, ECE, kappa); :func:`proportion_ci` (exact Clopper-Pearson or Wilson)
for a proportion of counts (a sensitivity or accuracy at a fixed threshold, a miss
rate), where a percentile bootstrap fails at zero counts.

Segmentation part: introduced in the chapter *U-Net: segmentation shape by shape*
(chapters/unet.ipynb): Dice, IoU, surface distances (Hausdorff, HD95) and volume
difference, with documented results for empty masks. Hausdorff distances are
always measured between the masks' *surfaces* (voxels with a background face
neighbour), and HD95 is the larger of the two directed 95th percentiles, as in
MONAI; the evaluation chapter uses these same functions.

Decision part: introduced in the chapter *Applications* (chapters/applications.ipynb): net benefit
and decision curves (treat when the risk is at least the threshold probability, the same ``>=``
convention) and the accuracy of a model that decides only its most confident cases.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


def _as_labels(y_true, name: str = "y_true") -> np.ndarray:
    """Validate binary labels and return them as an int array of 0/1."""
    y = np.asarray(y_true)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {y.shape}")
    if y.size == 0:
        raise ValueError(f"{name} is empty")
    if y.dtype == bool:
        return y.astype(int)
    if not np.issubdtype(y.dtype, np.number):
        raise TypeError(f"{name} must hold numbers 0/1 or booleans, got dtype {y.dtype}")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise ValueError(f"{name} must hold only 0 and 1; found {np.unique(y[bad])[:5].tolist()}")
    return y.astype(int)


def _as_scores(scores, n: int, name: str = "scores") -> np.ndarray:
    """Validate a 1-D array of finite scores of length ``n``."""
    s = np.asarray(scores)
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {s.shape}")
    if not (np.issubdtype(s.dtype, np.number) or s.dtype == bool):
        raise TypeError(f"{name} must be numeric, got dtype {s.dtype}")
    s = s.astype(float)
    if s.shape[0] != n:
        raise ValueError(f"{name} has {s.shape[0]} values but the labels have {n}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name} contains {int(np.sum(~np.isfinite(s)))} NaN or infinite values")
    return s


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def confusion_counts(y_true, y_pred) -> dict[str, int]:
    """Count true/false positives/negatives of binary predictions.

    Parameters
    ----------
    y_true, y_pred
        Labels and predictions, 0/1 or booleans, same length.

    Returns
    -------
    dict
        ``{"tp": ..., "fp": ..., "fn": ..., "tn": ...}``.
    """
    y = _as_labels(y_true)
    p = _as_labels(y_pred, "y_pred")
    if p.shape != y.shape:
        raise ValueError(f"y_pred has {p.size} values but y_true has {y.size}")
    return {
        "tp": int(np.sum((y == 1) & (p == 1))),
        "fp": int(np.sum((y == 0) & (p == 1))),
        "fn": int(np.sum((y == 1) & (p == 0))),
        "tn": int(np.sum((y == 0) & (p == 0))),
    }


def metrics_from_counts(tp: int, fp: int, fn: int, tn: int) -> dict[str, float]:
    """Every metric read from a 2x2 confusion matrix.

    Returns
    -------
    dict
        ``accuracy``, ``sensitivity`` (recall), ``specificity``, ``ppv``
        (precision), ``npv``, ``f1`` and ``prevalence``. A ratio with a zero
        denominator is ``nan``.
    """
    counts = {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    for key, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{key} must be a non-negative integer, got {value!r}")
    if tp + fp + fn + tn == 0:
        raise ValueError("the confusion matrix is empty (all four counts are 0)")
    n = tp + fp + fn + tn
    return {
        "accuracy": _ratio(tp + tn, n),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "prevalence": _ratio(tp + fn, n),
    }


def binary_metrics(y_true, y_pred) -> dict[str, float]:
    """Accuracy, sensitivity, specificity, PPV, NPV, F1 and prevalence of predictions.

    See :func:`metrics_from_counts`; undefined ratios are ``nan``.
    """
    return metrics_from_counts(**confusion_counts(y_true, y_pred))


def predictive_values(sensitivity: float, specificity: float, prevalence) -> tuple:
    """PPV and NPV of a test with given sensitivity and specificity (Bayes' rule).

    Parameters
    ----------
    sensitivity, specificity
        Numbers in [0, 1].
    prevalence
        Number or array of numbers in [0, 1]: the share of positives in the
        population the test is used on.

    Returns
    -------
    (ppv, npv)
        Floats, or arrays for an array of prevalences; ``nan`` where undefined.
    """
    for name, v in (("sensitivity", sensitivity), ("specificity", specificity)):
        if not (isinstance(v, (int, float, np.integer, np.floating)) and 0 <= v <= 1):
            raise ValueError(f"{name} must be a number in [0, 1], got {v!r}")
    p = np.asarray(prevalence, dtype=float)
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("prevalence must lie in [0, 1]")
    tp, fp = sensitivity * p, (1 - specificity) * (1 - p)
    tn, fn = specificity * (1 - p), (1 - sensitivity) * p
    with np.errstate(invalid="ignore", divide="ignore"):
        ppv = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), np.nan)
        npv = np.where(tn + fn > 0, tn / np.where(tn + fn > 0, tn + fn, 1), np.nan)
    if ppv.ndim == 0:
        return float(ppv), float(npv)
    return ppv, npv


def rates_at_threshold(y_true, scores, threshold: float) -> dict[str, float]:
    """Metrics of the calls ``score >= threshold``: sensitivity, specificity and the rest.

    Returns the dict of :func:`binary_metrics` for the predictions at ``threshold``.
    """
    y = _as_labels(y_true)
    s = _as_scores(scores, y.size)
    if not isinstance(threshold, (int, float, np.integer, np.floating)) or math.isnan(threshold):
        raise ValueError(f"threshold must be a number, got {threshold!r}")
    return binary_metrics(y, s >= threshold)


def roc_auc_rank(y_true, scores) -> float:
    """AUC as a ranking probability: P(score of a positive > score of a negative).

    Ties count one half (the Mann-Whitney U statistic divided by the number of
    positive-negative pairs), computed from mid-ranks in O(n log n).

    Raises
    ------
    ValueError
        If only one class is present (the AUC is then undefined).
    """
    auc, _, _ = _delong_components(y_true, scores)
    return auc


def uninterpolated_ap(y_true, scores, *, n_positive: int | None = None,
                      sample_weight=None) -> float:
    """Average precision without interpolation: AP = Σₙ (Rₙ − Rₙ₋₁) Pₙ over the score thresholds.

    The definition of the chapter *Evaluating a medical image model* and of
    :func:`sklearn.metrics.average_precision_score` (equal to it, tested): precision ``Pₙ``
    and recall ``Rₙ`` at every distinct score, from the highest down (tied scores form one
    threshold), each precision weighted by the rise in recall it comes with.

    Object detection summarises the same ranked list differently: VOC and COCO first replace
    precision by its envelope (the best precision at that recall or any higher one), see
    :func:`medlab.detection.interpolated_ap`; on the same ranking VOC's all-point value is never
    lower (COCO's sampling at 101 recall levels can put its value slightly below).
    The chapter *Finding blood cells: object detection* computes both on one example.

    Parameters
    ----------
    y_true
        0/1 labels of the scored cases (for a detector: 1 for a true-positive detection).
    scores
        Finite scores, higher meaning more likely positive.
    n_positive
        Number of positives in the whole population, when some of them received no score at
        all (a detector's missed objects): recall is then divided by ``n_positive`` and never
        reaches 1. Default: the positives in ``y_true``. Not combinable with ``sample_weight``.
    sample_weight
        Optional non-negative weight per case (as in scikit-learn).

    Raises
    ------
    ValueError
        No positive case (AP undefined), ``n_positive`` smaller than the positives in
        ``y_true``, bad weights, or non-finite scores.
    """
    y = _as_labels(y_true)
    s = _as_scores(scores, y.size)
    if sample_weight is None:
        w = np.ones(y.size)
    else:
        if n_positive is not None:
            raise ValueError("give n_positive or sample_weight, not both (recall's denominator "
                             "would be ambiguous)")
        w = np.asarray(sample_weight, dtype=float).reshape(-1)
        if w.shape[0] != y.size:
            raise ValueError(f"sample_weight has {w.shape[0]} values but the labels have {y.size}")
        if not np.all(np.isfinite(w)) or (w < 0).any():
            raise ValueError("sample_weight must be finite and non-negative")
    found = float(np.sum(w[y == 1]))
    total = found if n_positive is None else float(n_positive)
    if n_positive is not None and (int(n_positive) != n_positive or n_positive < found):
        raise ValueError(f"n_positive must be a whole number at least the {int(found)} positives "
                         f"in y_true, got {n_positive}")
    if total <= 0:
        raise ValueError("average precision needs at least one positive case")
    order = np.argsort(-s, kind="stable")
    s, tp_w, fp_w = s[order], np.cumsum((w * y)[order]), np.cumsum((w * (1 - y))[order])
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]  # the last case of each tie group
    tp_w, fp_w = tp_w[last], fp_w[last]
    called = tp_w + fp_w
    precision = np.divide(tp_w, called, out=np.zeros_like(tp_w), where=called > 0)
    recall = tp_w / total
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _roc_points(y_true, scores):
    from sklearn.metrics import roc_curve

    y = _as_labels(y_true)
    s = _as_scores(scores, y.size)
    if y.min() == y.max():
        raise ValueError("choosing a threshold needs both classes, positive and negative cases")
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    return y, fpr, tpr, thr


def threshold_youden(y_true, scores) -> float:
    """Threshold that maximises Youden's J = sensitivity + specificity - 1.

    Ties are broken towards the highest threshold. Fit it on validation data,
    never on the test set.
    """
    y, fpr, tpr, thr = _roc_points(y_true, scores)
    n_pos, n_neg = int(y.sum()), int(y.size - y.sum())
    # J * n_pos * n_neg in exact integers, so that ties are found exactly
    j = np.rint(tpr * n_pos).astype(np.int64) * n_neg - np.rint(fpr * n_neg).astype(np.int64) * n_pos
    return float(thr[int(np.argmax(j))])


def threshold_for_sensitivity(y_true, scores, target: float = 0.95) -> float:
    """Highest threshold whose sensitivity is at least ``target``.

    The highest such threshold gives the best specificity among all thresholds
    reaching the target sensitivity.
    """
    if not isinstance(target, (int, float, np.floating)) or not 0 < target <= 1:
        raise ValueError(f"target sensitivity must lie in (0, 1], got {target!r}")
    _, fpr, tpr, thr = _roc_points(y_true, scores)
    ok = np.flatnonzero(tpr >= target - 1e-12)
    return float(thr[ok[0]])


def threshold_min_cost(y_true, scores, cost_fn: float, cost_fp: float) -> float:
    """Threshold with the lowest total cost ``cost_fn * FN + cost_fp * FP``.

    Ties are broken towards the highest threshold.
    """
    for name, c in (("cost_fn", cost_fn), ("cost_fp", cost_fp)):
        if not isinstance(c, (int, float, np.integer, np.floating)) or not c >= 0:
            raise ValueError(f"{name} must be a non-negative number, got {c!r}")
    y, fpr, tpr, thr = _roc_points(y_true, scores)
    n_pos, n_neg = y.sum(), y.size - y.sum()
    fn = n_pos - np.rint(tpr * n_pos)
    fp = np.rint(fpr * n_neg)
    cost = cost_fn * fn + cost_fp * fp
    return float(thr[int(np.argmin(cost))])


@dataclass(frozen=True)
class BootstrapResult:
    """A statistic on the full data, its bootstrap percentile interval and the replicates."""

    estimate: float
    low: float
    high: float
    level: float
    replicates: np.ndarray

    def __str__(self) -> str:
        return f"{self.estimate:.3f} ({self.level:.0%} CI {self.low:.3f} to {self.high:.3f})"


def _resample_indices(y: np.ndarray, rng: np.random.Generator, stratified: bool) -> np.ndarray:
    if not stratified:
        return rng.integers(0, y.size, y.size)
    parts = [rng.choice(idx, idx.size) for idx in (np.flatnonzero(y == 0), np.flatnonzero(y == 1))
             if idx.size]
    return np.concatenate(parts)


def _check_boot_args(n_boot: int, level: float) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise ValueError(f"n_boot must be an integer >= 10, got {n_boot!r}")
    if not isinstance(level, (float, np.floating)) or not 0 < level < 1:
        raise ValueError(f"level must be a float in (0, 1), e.g. 0.95, got {level!r}")


def bootstrap_ci(y_true, scores, statistic: Callable, *, n_boot: int = 2000, level: float = 0.95,
                 seed: int = 0, stratified: bool = True) -> BootstrapResult:
    """Percentile bootstrap confidence interval of ``statistic(y_true, scores)``.

    Parameters
    ----------
    y_true, scores
        Labels (0/1) and scores (or 0/1 predictions) of the test cases.
    statistic
        Function of ``(y, s)`` returning a number, e.g.
        :func:`sklearn.metrics.roc_auc_score`.
    n_boot
        Number of resamples.
    level
        Coverage of the interval.
    seed
        Seed of the resampling (same seed, same interval).
    stratified
        Resample positives and negatives separately, keeping their numbers fixed
        (as pROC does by default), so every resample has both classes.

    Returns
    -------
    BootstrapResult
    """
    _check_boot_args(n_boot, level)
    y = _as_labels(y_true)
    s = _as_scores(scores, y.size)
    rng = np.random.default_rng(seed)
    reps = np.empty(n_boot)
    for b in range(n_boot):
        idx = _resample_indices(y, rng, stratified)
        reps[b] = statistic(y[idx], s[idx])
    if np.any(np.isnan(reps)):
        raise ValueError(f"the statistic was undefined (nan) on {int(np.isnan(reps).sum())} resamples; "
                         "use stratified=True or a statistic defined on every resample")
    alpha = (1 - level) / 2
    low, high = np.quantile(reps, [alpha, 1 - alpha])
    return BootstrapResult(float(statistic(y, s)), float(low), float(high), level, reps)


def paired_bootstrap(y_true, scores_a, scores_b, statistic: Callable, *, n_boot: int = 2000,
                     level: float = 0.95, seed: int = 0, stratified: bool = True) -> BootstrapResult:
    """Bootstrap interval of ``statistic(y, a) - statistic(y, b)`` for two models on the same cases.

    Both models are evaluated on the same resampled cases each time (a paired
    bootstrap), so the correlation between them is kept. An interval that
    excludes 0 is evidence of a difference at level ``1 - level``.
    """
    _check_boot_args(n_boot, level)
    y = _as_labels(y_true)
    a = _as_scores(scores_a, y.size, "scores_a")
    b = _as_scores(scores_b, y.size, "scores_b")
    rng = np.random.default_rng(seed)
    reps = np.empty(n_boot)
    for i in range(n_boot):
        idx = _resample_indices(y, rng, stratified)
        reps[i] = statistic(y[idx], a[idx]) - statistic(y[idx], b[idx])
    if np.any(np.isnan(reps)):
        raise ValueError("the statistic was undefined (nan) on some resamples")
    alpha = (1 - level) / 2
    low, high = np.quantile(reps, [alpha, 1 - alpha])
    return BootstrapResult(float(statistic(y, a) - statistic(y, b)), float(low), float(high),
                           level, reps)


PROPORTION_METHODS = {"exact": "Clopper-Pearson", "wilson": "Wilson score"}
"""Methods of :func:`proportion_ci` and their usual names."""


@dataclass(frozen=True)
class ProportionResult:
    """A proportion of counts ``k / n`` with its confidence interval (:func:`proportion_ci`)."""

    estimate: float
    low: float
    high: float
    level: float
    k: int
    n: int
    method: str

    def __str__(self) -> str:
        name = PROPORTION_METHODS[self.method]
        return (f"{self.k}/{self.n} = {self.estimate:.3f} "
                f"({self.level:.0%} {name} CI {self.low:.3f} to {self.high:.3f})")


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer count, got {value!r} ({type(value).__name__})")
    return int(value)


def proportion_ci(k: int, n: int, *, level: float = 0.95, method: str = "exact") -> ProportionResult:
    """Confidence interval of a proportion of counts: ``k`` events among ``n`` cases.

    The book's one function for an interval on a count proportion: a sensitivity
    or an accuracy at a fixed threshold, a share of positives missed, a share of
    cases cleared (chapters *Evaluating a medical image model*, *Applications*
    and *FAQ*). A percentile bootstrap is the wrong tool for these: with
    ``k = 0`` (or ``k = n``) every resample has the same share, and the
    bootstrap returns the degenerate interval 0 to 0, as if 0 of 42 missed
    proved that nothing is ever missed.

    Parameters
    ----------
    k, n
        Number of events and number of cases, integers with ``0 <= k <= n`` and ``n >= 1``.
    level
        Coverage of the interval.
    method
        ``"exact"`` (default): Clopper-Pearson, from the binomial distribution itself;
        its coverage is at least ``level`` for every true proportion, so it is
        conservative. ``"wilson"``: the Wilson score interval, shorter, with
        coverage close to ``level`` on average.

    Returns
    -------
    ProportionResult
        ``estimate = k / n``, ``low``, ``high``, ``level``, ``k``, ``n``, ``method``.

    Notes
    -----
    Computed by :meth:`scipy.stats.binomtest` ``(k, n).proportion_ci(level, method)``.
    For ``k = 0`` the exact upper bound is ``1 - ((1 - level) / 2) ** (1 / n)``
    (for 95 % close to ``3.7 / n``; the "rule of three", ``3 / n``, is the one-sided version).
    """
    k, n = _count(k, "k"), _count(n, "n")
    if n < 1:
        raise ValueError(f"n must be at least 1 (the number of cases), got {n}")
    if not 0 <= k <= n:
        raise ValueError(f"k must be between 0 and n = {n}, got {k}")
    if isinstance(level, bool) or not isinstance(level, (float, np.floating)) or not 0 < level < 1:
        raise ValueError(f"level must be a float in (0, 1), e.g. 0.95, got {level!r}")
    if method not in PROPORTION_METHODS:
        raise ValueError(f"method must be one of {sorted(PROPORTION_METHODS)}, got {method!r}")
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=float(level), method=method)
    return ProportionResult(k / n, float(ci.low), float(ci.high), float(level), k, n, method)


def _delong_components(y_true, scores, name: str = "scores"):
    """AUC and DeLong's structural components V10 (one per positive) and V01 (one per negative)."""
    y = _as_labels(y_true)
    s = _as_scores(scores, y.size, name)
    pos, neg = s[y == 1], s[y == 0]
    m, n = pos.size, neg.size
    if m == 0 or n == 0:
        raise ValueError("the AUC needs both positive and negative cases; only one class is present")
    r_all = stats.rankdata(np.concatenate([pos, neg]))
    v10 = (r_all[:m] - stats.rankdata(pos)) / n
    v01 = 1.0 - (r_all[m:] - stats.rankdata(neg)) / m
    return float(v10.mean()), v10, v01


@dataclass(frozen=True)
class DeLongResult:
    """DeLong's test of two correlated AUCs."""

    auc_a: float
    auc_b: float
    difference: float
    se: float
    z: float
    p_value: float


def delong_test(y_true, scores_a, scores_b) -> DeLongResult:
    """DeLong's test for the difference of two AUCs measured on the same cases.

    Implements DeLong, DeLong and Clarke-Pearson (1988) with the mid-rank
    computation of the structural components (Sun and Xu, 2014). When the
    standard error is 0 (both models rank every pair the same way), ``z`` is 0
    and ``p_value`` 1 if the AUCs are equal.
    """
    auc_a, v10a, v01a = _delong_components(y_true, scores_a, "scores_a")
    auc_b, v10b, v01b = _delong_components(y_true, scores_b, "scores_b")
    s10 = np.cov(np.vstack([v10a, v10b])) if v10a.size > 1 else np.zeros((2, 2))
    s01 = np.cov(np.vstack([v01a, v01b])) if v01a.size > 1 else np.zeros((2, 2))
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / v10a.size
    var += (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / v01a.size
    diff = auc_a - auc_b
    se = math.sqrt(max(var, 0.0))
    if se == 0:
        if abs(diff) > 1e-12:
            raise ValueError("DeLong's standard error is 0 with unequal AUCs; too few cases")
        return DeLongResult(auc_a, auc_b, diff, 0.0, 0.0, 1.0)
    z = diff / se
    return DeLongResult(auc_a, auc_b, diff, se, z, float(2 * stats.norm.sf(abs(z))))


def _as_probabilities(y_true, prob) -> tuple[np.ndarray, np.ndarray]:
    y = _as_labels(y_true)
    p = _as_scores(prob, y.size, "prob")
    if p.min() < 0 or p.max() > 1:
        raise ValueError("prob must be probabilities in [0, 1]; apply a sigmoid to logits first")
    return y, p


def brier_score(y_true, prob) -> float:
    """Mean squared difference between predicted probability and outcome (0/1)."""
    y, p = _as_probabilities(y_true, prob)
    return float(np.mean((p - y) ** 2))


def calibration_bins(y_true, prob, n_bins: int = 10) -> dict[str, np.ndarray]:
    """Equal-width bins of predicted probability: count, mean prediction, observed rate.

    Bin ``k`` holds probabilities in ``(k/n_bins, (k+1)/n_bins]`` (the first bin
    also holds 0), the convention of :func:`sklearn.calibration.calibration_curve`.
    Empty bins have ``nan`` means.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    y, p = _as_probabilities(y_true, prob)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], p)
    count = np.bincount(ids, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.bincount(ids, weights=p, minlength=n_bins) / count
        observed = np.bincount(ids, weights=y, minlength=n_bins) / count
    return {"edges": edges, "count": count, "mean_predicted": mean_pred, "observed": observed}


def expected_calibration_error(y_true, prob, n_bins: int = 10) -> float:
    """Expected calibration error of binary probabilities (equal-width bins).

    ECE = sum over bins of (cases in bin / all cases) * |observed rate - mean
    predicted probability|, with the bins of :func:`calibration_bins`.
    """
    b = calibration_bins(y_true, prob, n_bins)
    used = b["count"] > 0
    gaps = np.abs(b["observed"][used] - b["mean_predicted"][used])
    return float(np.sum(b["count"][used] / b["count"].sum() * gaps))


# --- Decisions: net benefit, decision curves and selective prediction (chapter *Applications*) ---


def _check_threshold_probability(pt) -> np.ndarray:
    p = np.asarray(pt, dtype=float)
    if p.size == 0 or np.any(~np.isfinite(p)) or np.any((p <= 0) | (p >= 1)):
        raise ValueError("threshold probabilities must lie strictly between 0 and 1 "
                         "(at 1 the weight p_t / (1 - p_t) of a false positive is infinite)")
    return p


def net_benefit(y_true, prob, threshold: float) -> float:
    """Net benefit of treating the cases with ``prob >= threshold`` (decision curve analysis).

    ``NB = TP/n - FP/n * p_t / (1 - p_t)``, with ``p_t`` the threshold probability:
    a false positive is weighed by the odds at which a patient (or doctor) is
    indifferent between treating and not treating (Vickers and Elkin, 2006).
    Introduced in the chapter *Applications* (chapters/applications.ipynb).

    Parameters
    ----------
    y_true
        Outcomes, 0/1.
    prob
        Predicted risks in [0, 1].
    threshold
        The threshold probability ``p_t``, strictly between 0 and 1.

    Returns
    -------
    float
        The net benefit, in true positives per patient.
    """
    if np.ndim(threshold) != 0:
        raise ValueError(f"net_benefit takes one threshold probability; for several use decision_curve, "
                         f"got shape {np.shape(threshold)}")
    return float(decision_curve(y_true, prob, [threshold])["model"][0])


def decision_curve(y_true, prob, thresholds) -> dict[str, np.ndarray]:
    """Net benefit of a model, of treating everyone and of treating no one, over thresholds.

    Chapter *Applications*. Treat-all has ``NB = prevalence - (1 - prevalence)
    * p_t / (1 - p_t)``; treat-none has ``NB = 0``. A model is useful at a
    threshold where its curve lies above both.

    Returns
    -------
    dict
        ``threshold``, ``model``, ``treat_all`` and ``treat_none`` (arrays of
        the length of ``thresholds``).
    """
    y, p = _as_probabilities(y_true, prob)
    pts = _check_threshold_probability(thresholds).ravel()
    odds = pts / (1 - pts)
    treat = p[None, :] >= pts[:, None]
    tp = (treat & (y == 1)).sum(1) / y.size
    fp = (treat & (y == 0)).sum(1) / y.size
    prevalence = y.mean()
    return {"threshold": pts, "model": tp - fp * odds,
            "treat_all": prevalence - (1 - prevalence) * odds, "treat_none": np.zeros_like(pts)}


def selective_curve(y_true, prob, threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Accuracy and sensitivity of a model that decides only its most confident cases.

    Chapter *Applications* (AI-assisted reading). The cases are ranked by their
    distance ``|prob - threshold|`` from the decision threshold (most confident
    first; ties keep the input order); the model calls ``prob >= threshold``
    positive on the first ``k`` cases and defers the rest to a reader.

    Returns
    -------
    dict
        For ``k = 1 .. n``: ``coverage`` (k / n), ``accuracy`` of the model on
        the k cases it decides, ``sensitivity`` among the positives it decides
        (``nan`` while it has decided none) and ``deferred`` (n - k).
    """
    y, p = _as_probabilities(y_true, prob)
    if not isinstance(threshold, (int, float, np.integer, np.floating)) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}")
    order = np.argsort(-np.abs(p - threshold), kind="stable")
    y, call = y[order], (p[order] >= threshold).astype(int)
    k = np.arange(1, y.size + 1)
    correct = np.cumsum(call == y)
    pos, found = np.cumsum(y == 1), np.cumsum((y == 1) & (call == 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        sens = np.where(pos > 0, found / np.maximum(pos, 1), np.nan)
    return {"coverage": k / y.size, "accuracy": correct / k, "sensitivity": sens,
            "deferred": y.size - k}


def _seg_masks(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check and convert a pair of binary masks."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"pred and truth must have the same shape, got {pred.shape} and {truth.shape}")
    if pred.size == 0:
        raise ValueError("masks are empty arrays (size 0); pass at least one pixel")
    for name, m in (("pred", pred), ("truth", truth)):
        if m.dtype != bool and not np.isin(m, (0, 1)).all():
            raise ValueError(f"{name} must be a binary mask (bool or 0/1); for a label map pass "
                             f"`labels == k`, or use dice_per_class")
    return pred.astype(bool), truth.astype(bool)


def _seg_spacing(spacing: float | Sequence[float] | None, ndim: int) -> np.ndarray:
    if spacing is None:
        return np.ones(ndim)
    sp = np.broadcast_to(np.asarray(spacing, dtype=float), (ndim,)) if np.ndim(spacing) == 0 \
        else np.asarray(spacing, dtype=float)
    if sp.shape != (ndim,) or not np.all(sp > 0):
        raise ValueError(f"spacing must be one positive number or {ndim} of them (one per axis), "
                         f"got {spacing!r}")
    return sp


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient ``2|P & T| / (|P| + |T|)`` of two binary masks.

    Both masks empty gives 1.0, one empty gives 0.0 (see the module docstring).
    """
    p, t = _seg_masks(pred, truth)
    total = int(p.sum()) + int(t.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(p, t).sum()) / total


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union (Jaccard index) ``|P & T| / |P | T|`` of two binary masks.

    Both masks empty gives 1.0, one empty gives 0.0. For any pair,
    ``iou = dice / (2 - dice)``.
    """
    p, t = _seg_masks(pred, truth)
    union = int(np.logical_or(p, t).sum())
    return 1.0 if union == 0 else int(np.logical_and(p, t).sum()) / union


def surface(mask: np.ndarray) -> np.ndarray:
    """Surface (contour) voxels of a binary mask: foreground voxels with a background
    face-neighbour; the region outside the array counts as background."""
    from scipy import ndimage

    m, _ = _seg_masks(mask, mask)
    return m & ~ndimage.binary_erosion(m, structure=ndimage.generate_binary_structure(m.ndim, 1),
                                       border_value=0)


def surface_distances(pred: np.ndarray, truth: np.ndarray,
                      spacing: float | Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Distances from every surface voxel of ``pred`` to the surface of ``truth``, and back.

    Returns
    -------
    (d_pred_to_truth, d_truth_to_pred)
        1D arrays in the units of ``spacing`` (Euclidean distance between voxel centres).
    """
    from scipy import ndimage

    p, t = _seg_masks(pred, truth)
    sp = _seg_spacing(spacing, p.ndim)
    sp_, st_ = surface(p), surface(t)
    if not sp_.any() or not st_.any():
        raise ValueError("surface distances need two non-empty masks; hausdorff() handles empty ones")
    to_t = ndimage.distance_transform_edt(~st_, sampling=sp)
    to_p = ndimage.distance_transform_edt(~sp_, sampling=sp)
    return to_t[sp_], to_p[st_]


def hausdorff(pred: np.ndarray, truth: np.ndarray, percentile: float = 100.0,
              spacing: float | Sequence[float] | None = None) -> float:
    """Symmetric (percentile) Hausdorff distance between the surfaces of two masks.

    The book's one definition, used in every chapter. For each direction
    (pred to truth, truth to pred), take the distance from every surface voxel
    of one mask to the nearest surface voxel of the other
    (:func:`surface_distances`); take the ``percentile``-th percentile of each
    of the two directed sets (:func:`numpy.percentile`, linear
    interpolation); return the **larger** of the two. This is what MONAI's
    ``compute_hausdorff_distance(..., percentile=p, directed=False)`` computes
    (monai/metrics/hausdorff_distance.py: ``max(distance_1, distance_2)`` of
    the two directed percentiles, on the masks' edges).

    ``percentile=100`` gives the classical (maximum) Hausdorff distance;
    ``percentile=95`` the robust HD95. Both masks empty -> 0.0; exactly one
    empty -> ``inf``.
    """
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {percentile!r}")
    p, t = _seg_masks(pred, truth)
    _seg_spacing(spacing, p.ndim)  # check it even when a mask is empty
    if not p.any() and not t.any():
        return 0.0
    if not p.any() or not t.any():
        return float("inf")
    d_pt, d_tp = surface_distances(p, t, spacing)
    return float(max(np.percentile(d_pt, percentile), np.percentile(d_tp, percentile)))


def hd95(pred: np.ndarray, truth: np.ndarray, spacing: float | Sequence[float] | None = None) -> float:
    """95th-percentile Hausdorff distance: ``hausdorff(pred, truth, 95, spacing)``.

    The larger of the two directed 95th percentiles of the surface distances
    (see :func:`hausdorff`), in the units of ``spacing`` (mm for spacing in mm).
    """
    return hausdorff(pred, truth, 95.0, spacing)


def volume_difference(pred: np.ndarray, truth: np.ndarray, relative: bool = True,
                      spacing: float | Sequence[float] | None = None) -> float:
    """Signed volume difference ``V(pred) - V(truth)``.

    With ``relative=True`` (default) it is divided by ``V(truth)`` (0.05 means
    5 % too large); truth empty -> 0.0 if pred is empty too, else ``inf``.
    Otherwise it is in the units of ``spacing`` cubed (mm^3 for spacing in mm).
    """
    p, t = _seg_masks(pred, truth)
    voxel = float(np.prod(_seg_spacing(spacing, p.ndim)))
    vp, vt = p.sum() * voxel, t.sum() * voxel
    if not relative:
        return float(vp - vt)
    if vt == 0:
        return 0.0 if vp == 0 else float("inf")
    return float((vp - vt) / vt)


def dice_per_class(pred: np.ndarray, truth: np.ndarray, labels: Sequence[int]) -> dict[int, float]:
    """Dice of every label of two label maps (integer arrays of the same shape)."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"pred and truth must have the same shape, got {pred.shape} and {truth.shape}")
    for name, a in (("pred", pred), ("truth", truth)):
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"{name} must be an integer label map, got dtype {a.dtype}")
    return {int(k): dice(pred == k, truth == k) for k in labels}


def segmentation_report(pred: np.ndarray, truth: np.ndarray, labels: dict[int, str],
                        spacing: float | Sequence[float] | None = None) -> list[dict[str, float | str]]:
    """Dice, IoU, HD95 and relative volume difference of each named label of two label maps."""
    rows = []
    for k, name in labels.items():
        p, t = np.asarray(pred) == k, np.asarray(truth) == k
        rows.append({"class": name, "dice": dice(p, t), "iou": iou(p, t), "hd95": hd95(p, t, spacing),
                     "volume_difference": volume_difference(p, t, spacing=spacing)})
    return rows
