"""Exercises of the chapter *A CNN classification project* (chapters/cnn_project.ipynb)."""

from __future__ import annotations

import numpy as np

from medlab.exercises import Exercise


def _cifar_params() -> int:
    from medlab.env import quiet_tensorflow
    from medlab.models import source_cnn

    quiet_tensorflow()
    model = source_cnn((32, 32, 3), n_classes=10)
    return int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))


def _labels(name: str, split: str) -> np.ndarray:
    from medlab import data

    return data.load_medmnist(name)[f"{split}_labels"].ravel()


def _all_pneumonia_accuracy() -> float:
    return float(np.mean(_labels("pneumoniamnist", "test") == 1))


def _breast_val_malignant() -> int:
    return int(np.sum(_labels("breastmnist", "val") == 0))


def _retina_one_too_high(metric: str) -> float:
    from sklearn.metrics import accuracy_score, cohen_kappa_score

    y = _labels("retinamnist", "test")
    pred = np.minimum(y + 1, 4)
    if metric == "accuracy":
        return float(accuracy_score(y, pred))
    weights = None if metric == "kappa" else "quadratic"
    return float(cohen_kappa_score(y, pred, weights=weights))


def _logreg_test_sensitivity(threshold_split: str = "val") -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_curve

    from medlab import data

    d = data.load_medmnist("pneumoniamnist")
    flat = {s: d[f"{s}_images"].reshape(len(d[f"{s}_images"]), -1) / 255.0 for s in ("train", "val", "test")}
    clf = LogisticRegression(C=0.1, max_iter=2000).fit(flat["train"], d["train_labels"].ravel())
    fpr, tpr, thr = roc_curve(d[f"{threshold_split}_labels"].ravel(),
                              clf.predict_proba(flat[threshold_split])[:, 1])
    t = thr[np.argmax(tpr - fpr)]
    p_test = clf.predict_proba(flat["test"])[:, 1]
    y_test = d["test_labels"].ravel()
    return float(np.mean(p_test[y_test == 1] >= t))


EXERCISES = {
    "q1": Exercise(
        answer=_cifar_params,
        hint="Follow the sizes: 32 -> conv 30 -> pool 15 -> conv 13 -> pool 6. A 3x3 convolution has "
        "(9 c_in + 1) c_out weights, and the output layer sees every value that Flatten produces.",
        hints=[(20_417, "That is the 28x28x1, one-sigmoid version of the chapter; redo the sizes for "
                "32x32x3 input and 10 softmax outputs."),
               ((9 * 3 + 1) * 32 + (9 * 32 + 1) * 64 + (6 * 6 * 64 + 1) * 64 + (64 + 1) * 10,
                "That counts a hidden Dense(64) layer; the article's Flatten goes straight to the "
                "10-unit output layer."),
               (9 * 3 * 32 + 9 * 32 * 64 + 6 * 6 * 64 * 10,
                "Every convolution filter and every dense unit also has a bias: the +1 terms.")],
    ),
    "q2": Exercise(
        answer=_all_pneumonia_accuracy,
        hint="Predict 1 for every test image; the accuracy is the share of test labels equal to 1.",
        hints=[(float(3494 / 4708), "That is the share of pneumonia in the training split, not "
                "the test split.")],
    ),
    "q3": Exercise(
        answer=_breast_val_malignant,
        hint="In BreastMNIST label 0 is malignant: count the zeros in breast['val_labels'].",
        hints=[(57, "Those are the normal or benign images (label 1); malignant is label 0.")],
    ),
    "q4": Exercise(
        answer=lambda: _retina_one_too_high("quadratic"),
        rtol=1e-6,
        hint="cohen_kappa_score(grades, np.minimum(grades + 1, 4), weights='quadratic'); "
        "not the accuracy, and not the unweighted kappa.",
    ),
    "q5": Exercise(
        answer=_logreg_test_sensitivity,
        atol=1e-3,
        rtol=0.0,
        hint="roc_curve on the VALIDATION scores, threshold at argmax(tpr - fpr); then the share "
        "of test pneumonias with a score >= that threshold.",
    ),
    "q6": Exercise(
        answer=0.0,
        atol=1e-9,
        hint="AUC is the probability that a randomly drawn pneumonia image scores higher than a "
        "randomly drawn normal one. Does repeating the normal images change that probability?",
    ),
}
