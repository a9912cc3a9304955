"""Tests of the chapter *Applications*: decision curves, selective prediction, ordinal decoding
and the MedMNIST file reader (medlab.metrics, medlab.ordinal, medlab.data)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix

from medlab import data, metrics, ordinal


def _toy(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    p = np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1)
    return y, p


def _net_benefit_loop(y, p, pt):
    """Vickers and Elkin's definition, case by case, with a 2x2 table from scikit-learn."""
    tn, fp, fn, tp = confusion_matrix(y, [1 if pi >= pt else 0 for pi in p], labels=[0, 1]).ravel()
    return tp / len(y) - fp / len(y) * (pt / (1 - pt))


@pytest.mark.parametrize("pt", [0.01, 0.1, 0.25, 0.5, 0.9])
def test_net_benefit_matches_a_direct_loop(pt):
    y, p = _toy()
    assert metrics.net_benefit(y, p, pt) == pytest.approx(_net_benefit_loop(y, p, pt), abs=1e-12)


def test_decision_curve_matches_the_loop_and_the_reference_strategies():
    y, p = _toy(seed=1)
    pts = np.linspace(0.02, 0.9, 23)
    dc = metrics.decision_curve(y, p, pts)
    np.testing.assert_allclose(dc["model"], [_net_benefit_loop(y, p, t) for t in pts], atol=1e-12)
    # treat-all is the model that gives everybody risk 1; treat-none gives everybody risk 0
    np.testing.assert_allclose(dc["treat_all"], [_net_benefit_loop(y, np.ones_like(p), t) for t in pts])
    np.testing.assert_allclose(dc["treat_none"], [_net_benefit_loop(y, np.zeros_like(p), t) for t in pts])
    assert dc["treat_all"][0] == pytest.approx(y.mean() - (1 - y.mean()) * 0.02 / 0.98)


def test_perfect_model_net_benefit_is_the_prevalence():
    y, _ = _toy(seed=2)
    assert metrics.net_benefit(y, y.astype(float), 0.3) == pytest.approx(y.mean())


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, float("nan")])
def test_net_benefit_rejects_thresholds_outside_0_1(bad):
    y, p = _toy()
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        metrics.net_benefit(y, p, bad)
    with pytest.raises(ValueError, match="strictly between"):
        metrics.decision_curve(y, p, [0.2, bad])


def test_net_benefit_takes_one_threshold():
    y, p = _toy()
    with pytest.raises(ValueError, match="decision_curve"):
        metrics.net_benefit(y, p, [0.2, 0.3])


def test_net_benefit_rejects_non_probabilities():
    with pytest.raises(ValueError, match="probabilities"):
        metrics.net_benefit([0, 1], [0.2, 1.5], 0.3)


def test_selective_curve_matches_a_direct_loop():
    y, p = _toy(n=120, seed=3)
    t = 0.4
    curve = metrics.selective_curve(y, p, threshold=t)
    order = sorted(range(len(y)), key=lambda i: -abs(p[i] - t))  # Python's sort is stable
    for k in (1, 5, 30, 77, 120):
        kept = order[:k]
        calls = [int(p[i] >= t) for i in kept]
        acc = np.mean([c == y[i] for c, i in zip(calls, kept, strict=True)])
        pos = [i for i in kept if y[i] == 1]
        sens = np.mean([p[i] >= t for i in pos]) if pos else np.nan
        assert curve["coverage"][k - 1] == pytest.approx(k / len(y))
        assert curve["accuracy"][k - 1] == pytest.approx(acc)
        np.testing.assert_allclose(curve["sensitivity"][k - 1], sens)
        assert curve["deferred"][k - 1] == len(y) - k
    assert curve["accuracy"][-1] == pytest.approx(np.mean((p >= t) == y))  # full coverage: plain accuracy


def test_selective_curve_rejects_a_bad_threshold():
    with pytest.raises(ValueError, match="threshold"):
        metrics.selective_curve([0, 1], [0.2, 0.7], threshold=2)


def test_ordinal_decodings():
    p = np.array([[0.5, 0.0, 0.0, 0.0, 0.5],  # torn between 0 and 4: argmax 0, expected 2
                  [0.1, 0.6, 0.3, 0.0, 0.0],
                  [0.0, 0.0, 0.0, 0.2, 0.8]])
    np.testing.assert_array_equal(ordinal.decode_argmax(p), [0, 1, 4])
    np.testing.assert_allclose(ordinal.expected_grade(p), [2.0, 1.2, 3.8])
    np.testing.assert_array_equal(ordinal.decode_expected(p), [2, 1, 4])
    with pytest.raises(ValueError, match="sum"):
        ordinal.decode_expected([[0.5, 0.6]])
    with pytest.raises(ValueError, match="shape"):
        ordinal.expected_grade([0.5, 0.5])


def _fake_medmnist(path, n=(6, 3, 4), channels=3, n_classes=7, **overrides):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, k in zip(("train", "val", "test"), n, strict=True):
        shape = (k, 28, 28, channels) if channels == 3 else (k, 28, 28)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, n_classes, (k, 1))
    arrays.update(overrides)
    np.savez_compressed(path, **arrays)
    return path


def test_dermamnist_layout_is_read_from_a_small_local_file(tmp_path):
    """DermaMNIST is not among the offline files: its loader is checked on a tiny file of the same layout."""
    d = data.read_medmnist_file(_fake_medmnist(tmp_path / "dermamnist.npz"), "dermamnist")
    assert d["train_images"].shape == (6, 28, 28, 3) and d["test_labels"].shape == (4, 1)
    with pytest.raises(data.DataIntegrityError, match="rows, expected 7007"):
        data.read_medmnist_file(tmp_path / "dermamnist.npz", "dermamnist", check_sizes=True)


@pytest.mark.parametrize("kwargs,match", [
    ({"channels": 1}, "3 channel"),
    ({"n_classes": 9}, "outside 0..6"),
    ({"val_labels": np.zeros((2, 1), int)}, "3 images but 2 labels"),
])
def test_read_medmnist_file_rejects_a_wrong_layout(tmp_path, kwargs, match):
    path = _fake_medmnist(tmp_path / "x.npz", **kwargs)
    with pytest.raises(data.DataIntegrityError, match=match):
        data.read_medmnist_file(path, "dermamnist")


def test_read_medmnist_file_names_missing_keys(tmp_path):
    np.savez(tmp_path / "y.npz", train_images=np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(data.DataIntegrityError, match="missing"):
        data.read_medmnist_file(tmp_path / "y.npz", "pneumoniamnist")


def test_ordinal_and_bench_modules_do_not_import_tensorflow():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, medlab.ordinal, tools.bench.classification3d, medlab.exercises.applications; "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
