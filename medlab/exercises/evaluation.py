"""Exercises of the chapter *Evaluating a medical image model* (chapters/evaluation.ipynb)."""

from __future__ import annotations

from functools import cache

import numpy as np

from medlab.exercises import Exercise


@cache
def _breast_biopsy_scores() -> dict[str, np.ndarray]:
    """The chapter's Wisconsin split and logistic regression, recomputed the same way."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    bc = load_breast_cancer()
    x, y = bc.data, (bc.target == 0).astype(int)
    idx_dev, idx_test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=0)
    idx_train, idx_val = train_test_split(idx_dev, test_size=0.25, stratify=y[idx_dev], random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    model.fit(x[idx_train], y[idx_train])
    return {"y_val": y[idx_val], "s_val": model.predict_proba(x[idx_val])[:, 1],
            "y_test": y[idx_test], "s_test": model.predict_proba(x[idx_test])[:, 1]}


def _ppv(sens: float = 0.90, spec: float = 0.95, prev: float = 0.02) -> float:
    return sens * prev / (sens * prev + (1 - spec) * (1 - prev))


def _auc_ci() -> tuple[float, float]:
    from sklearn.metrics import roc_auc_score

    from medlab import metrics

    d = _breast_biopsy_scores()
    res = metrics.bootstrap_ci(d["y_test"], d["s_test"], roc_auc_score, n_boot=2000, seed=0)
    return (res.low, res.high)


def _test_sensitivity_at_val_threshold() -> float:
    from medlab import metrics

    d = _breast_biopsy_scores()
    t = metrics.threshold_for_sensitivity(d["y_val"], d["s_val"], 0.95)
    return metrics.rates_at_threshold(d["y_test"], d["s_test"], t)["sensitivity"]


_KAPPA_CM = np.array([[30, 8, 2], [6, 24, 5], [1, 4, 20]])


def _kappa(weights: str | None = "quadratic") -> float:
    from sklearn.metrics import cohen_kappa_score

    a = np.repeat(np.repeat([0, 1, 2], 3), _KAPPA_CM.ravel())
    b = np.repeat(np.tile([0, 1, 2], 3), _KAPPA_CM.ravel())
    return float(cohen_kappa_score(a, b, weights=weights))


def _accuracy_of_kappa_table() -> float:
    return float(np.trace(_KAPPA_CM) / _KAPPA_CM.sum())


EXERCISES = {
    "q1": Exercise(
        answer=_ppv,
        rtol=1e-4,
        hint="PPV = sens*p / (sens*p + (1 - spec)*(1 - p)): count true and false positives per "
        "person screened.",
        hints=[(0.90, "That is the sensitivity: the share of sick people found, not the share of "
                "positive results that are right."),
               (_ppv(prev=0.5), "That is the PPV at 50 % prevalence; use 2 %.")],
    ),
    "q2": Exercise(
        answer=_auc_ci,
        atol=2e-3,
        rtol=0.0,
        hint="metrics.bootstrap_ci(yb_test, bc_test, roc_auc_score, n_boot=2000, seed=0) returns "
        "an object with .low and .high; answer (low, high).",
    ),
    "q3": Exercise(
        answer=_test_sensitivity_at_val_threshold,
        atol=1e-9,
        hint="Choose the threshold on validation, never on the test set: "
        "metrics.threshold_for_sensitivity(yb_val, bc_val, 0.95), then "
        "metrics.rates_at_threshold(yb_test, bc_test, t)['sensitivity'].",
        hints=[(0.95, "0.95 is the target met on the validation set; measure the sensitivity that "
                "threshold actually gives on the test set.")],
    ),
    "q4": Exercise(
        answer=_kappa,
        rtol=1e-6,
        hint="Weights w_ij = (i - j)**2 / (K - 1)**2; O = matrix / total; E = outer(row sums, "
        "column sums) of O; kappa = 1 - sum(w*O) / sum(w*E).",
        hints=[(_kappa(None), "That is the unweighted kappa; use quadratic weights."),
               (_kappa("linear"), "That is the linear-weighted kappa; square the distances."),
               (_accuracy_of_kappa_table(), "That is the raw agreement; kappa corrects it for chance.")],
    ),
}
