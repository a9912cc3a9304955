"""Exercises of the chapter *How a network learns* (chapters/learning.ipynb).

Answers are computed here with plain NumPy and scikit-learn, independently of
:mod:`medlab.backprop`; the data-dependent ones use the chapter's split of the
Wisconsin breast-cancer features (stratified 60/20/20, ``random_state=0``).
"""

from __future__ import annotations

import math

import numpy as np

from medlab.exercises import Exercise


def _fna_train() -> tuple[np.ndarray, np.ndarray]:
    """Standardised training features and labels (1 = malignant) of the chapter's split."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    fna = load_breast_cancer()
    x, y = fna.data, 1 - fna.target
    x_tr, _, y_tr, _ = train_test_split(x, y, test_size=0.4, stratify=y, random_state=0)
    return (x_tr - x_tr.mean(axis=0)) / x_tr.std(axis=0), y_tr.astype(float)


def _share_malignant() -> float:
    return float(_fna_train()[1].mean())


def _best_constant_loss() -> float:
    """Cross-entropy of predicting the training share of malignant cases for everyone."""
    pi = _share_malignant()
    return -(pi * math.log(pi) + (1 - pi) * math.log(1 - pi))


def _one_example(sign: float = 1.0, use_logit: bool = False) -> np.ndarray:
    x, y, w, b = np.array([2.0, -1.0]), 0.0, np.array([0.5, 1.0]), 0.5
    z = float(x @ w + b)
    p = z if use_logit else 1 / (1 + math.exp(-z))
    return sign * (p - y) * np.array([x[0], x[1], 1.0])


_POOL_X = np.array([[1.0, 3, 2, 0], [4, 2, 1, 5], [0, 1, 2, 6], [3, 1, 0, 1]])
_POOL_G = np.array([[10.0, 20], [30, 40]])


def _pool_gradient(rule: str = "max") -> np.ndarray:
    out = np.zeros((4, 4))
    for i in range(2):
        for j in range(2):
            block = _POOL_X[2 * i:2 * i + 2, 2 * j:2 * j + 2]
            if rule == "max":
                r, c = np.unravel_index(np.argmax(block), block.shape)
                out[2 * i + r, 2 * j + c] = _POOL_G[i, j]
            elif rule == "mean":
                out[2 * i:2 * i + 2, 2 * j:2 * j + 2] = _POOL_G[i, j] / 4
            else:  # every input of the window
                out[2 * i:2 * i + 2, 2 * j:2 * j + 2] = _POOL_G[i, j]
    return out


def _momentum_loss(beta: float = 0.9, eta: float = 0.5, steps: int = 50) -> float:
    """Training loss of the one-feature model (mean radius) after heavy-ball gradient descent."""
    from sklearn.datasets import load_breast_cancer

    z_all, y = _fna_train()
    feature = list(load_breast_cancer().feature_names).index("mean radius")
    x = z_all[:, feature]
    theta, velocity = np.zeros(2), np.zeros(2)  # (w, b)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(theta[0] * x + theta[1])))
        grad = np.array([np.mean((p - y) * x), np.mean(p - y)])
        velocity = beta * velocity - eta * grad
        theta = theta + velocity
    z = theta[0] * x + theta[1]
    return float(np.mean(np.logaddexp(0, z) - y * z))


EXERCISES = {
    "q1": Exercise(
        answer=_best_constant_loss,
        hint="Give every case the same probability π. The mean cross-entropy is then "
        "-[m log π + (1 - m) log(1 - π)] with m the share of malignant training cases; "
        "it is smallest at π = m.",
        hints=[(math.log(2), "That is the loss of p = 0.5 for everyone. A constant equal to the "
                "share of malignant training cases does better."),
               (_share_malignant, "That is the best constant probability itself; the question asks "
                "for its loss.")],
    ),
    "q2": Exercise(
        answer=lambda: _one_example(),
        hint="z = w·x + b, p = σ(z); each partial derivative is (p - y) times the input that "
        "multiplies the parameter (1 for the intercept).",
        hints=[(lambda: _one_example(sign=-1.0), "Check the sign: the gradient is (p - y) x, "
                "which points uphill; gradient descent subtracts it."),
               (lambda: _one_example(use_logit=True), "Use the probability p = σ(z), not the "
                "logit z.")],
    ),
    "q3": Exercise(
        answer=1 / 3,
        rtol=1e-3,
        hint="Gradient descent on f(w) = (L/2) w² multiplies w by (1 - ηL) at every step; "
        "find L for f(w) = 3 w², then the η where |1 - ηL| reaches 1.",
        hints=[(1 / 6, "That is η = 1/L, which lands on the minimum in one step; larger steps "
                "still converge, with oscillation, up to a limit."),
               (2 / 3, "The curvature L of 3 w² is its second derivative, 6, not 3.")],
    ),
    "q4": Exercise(
        answer=_pool_gradient("max"),
        hint="In each 2 x 2 window only the largest input changed the output; it receives that "
        "window's upstream gradient, the other three receive 0.",
        hints=[(_pool_gradient("mean"), "That is the gradient of average pooling, which spreads the "
                "upstream gradient evenly."),
               (_pool_gradient("all"), "Only the maximum of each window influenced the output; the "
                "other inputs get 0.")],
    ),
    "q5": Exercise(
        answer=_momentum_loss,
        rtol=1e-6,
        hint="Start from w = b = 0 and v = 0; at every step compute the full-batch gradient g, then "
        "v ← βv − ηg and θ ← θ + v (Keras' SGD with momentum); report the mean cross-entropy on "
        "the training set after the 50th step.",
        hints=[(lambda: _momentum_loss(beta=0.0), "That is plain gradient descent (β = 0); keep the "
                "velocity from step to step.")],
    ),
}
