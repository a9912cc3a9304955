"""Tests of the classification metrics in medlab.metrics, with scikit-learn as the reference."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from medlab import metrics

# Random binary problems: labels may be all one class; scores are rounded so that ties occur.
labels_and_scores = st.integers(1, 60).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 1), min_size=n, max_size=n),
    st.lists(st.integers(0, 8).map(lambda k: k / 8), min_size=n, max_size=n),
))


def _sk_metrics(y, p):
    nan = np.nan
    return {
        "accuracy": accuracy_score(y, p),
        "sensitivity": recall_score(y, p, zero_division=nan),
        "specificity": recall_score(y, p, pos_label=0, zero_division=nan),
        "ppv": precision_score(y, p, zero_division=nan),
        "npv": precision_score(y, p, pos_label=0, zero_division=nan),
        "f1": f1_score(y, p, zero_division=nan),
    }


@settings(max_examples=150, deadline=None)
@given(labels_and_scores, st.sampled_from([0.0, 0.25, 0.5, 0.875, 1.0]))
def test_binary_metrics_match_sklearn(ys, threshold):
    y, s = map(np.array, ys)
    pred = (s >= threshold).astype(int)
    got = metrics.binary_metrics(y, pred)
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    assert metrics.confusion_counts(y, pred) == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = _sk_metrics(y, pred)
    for key, value in ref.items():
        assert np.isclose(got[key], value, equal_nan=True), key
    at = metrics.rates_at_threshold(y, s, threshold)
    assert all(np.isclose(got[k], at[k], equal_nan=True) for k in got)


@settings(max_examples=300, deadline=None)
@given(labels_and_scores)
def test_auc_rank_matches_sklearn_with_ties_or_raises(ys):
    y, s = map(np.array, ys)
    if y.min() == y.max():
        with pytest.raises(ValueError, match="only one class"):
            metrics.roc_auc_rank(y, s)
        return
    assert np.isclose(metrics.roc_auc_rank(y, s), roc_auc_score(y, s))


@settings(max_examples=300, deadline=None)
@given(labels_and_scores, st.booleans())
def test_uninterpolated_ap_matches_sklearn_with_ties_and_weights(ys, weighted):
    y, s = map(np.array, ys)
    w = np.random.default_rng(len(y)).uniform(0.1, 3, len(y)) if weighted else None
    if y.sum() == 0:
        with pytest.raises(ValueError, match="at least one positive"):
            metrics.uninterpolated_ap(y, s, sample_weight=w)
        return
    ref = average_precision_score(y, s, sample_weight=w)
    assert metrics.uninterpolated_ap(y, s, sample_weight=w) == pytest.approx(ref, abs=1e-12)


def test_uninterpolated_ap_by_hand_and_with_unscored_positives():
    # ranked: hit, miss, miss, hit, hit, miss, hit (4 positives, all scored)
    y = np.array([1, 0, 0, 1, 1, 0, 1])
    s = np.arange(7, 0, -1.0)
    by_hand = 0.25 * (1 + 2 / 4 + 3 / 5 + 4 / 7)
    assert metrics.uninterpolated_ap(y, s) == pytest.approx(by_hand)
    # a fifth positive never scored (a missed object): every recall step is 1/5, not 1/4
    assert metrics.uninterpolated_ap(y, s, n_positive=5) == pytest.approx(by_hand * 4 / 5)
    assert metrics.uninterpolated_ap(y, s, n_positive=5) == pytest.approx(
        average_precision_score(y, s) * 4 / 5)
    assert metrics.uninterpolated_ap([0, 0], [0.3, 0.2], n_positive=3) == 0.0  # nothing found


@pytest.mark.parametrize("kwargs,match", [
    ({"n_positive": 1}, "at least the 2 positives"),
    ({"n_positive": 2.5}, "whole number"),
    ({"n_positive": 3, "sample_weight": [1, 1, 1]}, "not both"),
    ({"sample_weight": [1, -1, 1]}, "non-negative"),
    ({"sample_weight": [1, 1]}, "sample_weight has 2 values"),
])
def test_uninterpolated_ap_bad_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        metrics.uninterpolated_ap([1, 0, 1], [0.9, 0.5, 0.1], **kwargs)
    with pytest.raises(ValueError, match="NaN"):
        metrics.uninterpolated_ap([1, 0], [np.nan, 0.1])


def test_auc_rank_against_brute_force_pairs():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(y, 1.0), 1)  # many ties
    pos, neg = s[y == 1], s[y == 0]
    brute = np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :]))
    assert np.isclose(metrics.roc_auc_rank(y, s), brute)


def test_all_one_class_gives_nan_not_a_number_that_looks_right():
    m = metrics.binary_metrics([1, 1, 1], [1, 0, 1])
    assert np.isclose(m["sensitivity"], 2 / 3) and m["ppv"] == 1.0 and m["npv"] == 0.0
    assert np.isnan(m["specificity"])  # no negatives: undefined, not 0 and not 1


@pytest.mark.parametrize("bad", [[0.1, np.nan, 0.3], [0.1, np.inf, 0.2]])
def test_nan_or_inf_scores_raise(bad):
    with pytest.raises(ValueError, match="NaN or infinite"):
        metrics.roc_auc_rank([0, 1, 1], bad)
    with pytest.raises(ValueError, match="NaN or infinite"):
        metrics.rates_at_threshold([0, 1, 1], bad, 0.5)
    with pytest.raises(ValueError, match="NaN or infinite"):
        metrics.bootstrap_ci([0, 1, 1], bad, roc_auc_score, n_boot=10)


@pytest.mark.parametrize("y", [[0, 2, 1], [-1, 0, 1], [0.5, 1, 0]])
def test_labels_other_than_0_1_raise(y):
    with pytest.raises(ValueError, match="only 0 and 1"):
        metrics.binary_metrics(y, [0, 1, 1])


def test_shape_and_type_errors():
    with pytest.raises(ValueError, match="has 2 values"):
        metrics.roc_auc_rank([0, 1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="one-dimensional"):
        metrics.binary_metrics(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(TypeError):
        metrics.binary_metrics(["a", "b"], [0, 1])
    with pytest.raises(ValueError, match="empty"):
        metrics.binary_metrics([], [])
    with pytest.raises(ValueError, match="threshold"):
        metrics.rates_at_threshold([0, 1], [0.1, 0.9], float("nan"))
    with pytest.raises(ValueError, match="empty"):
        metrics.metrics_from_counts(0, 0, 0, 0)
    with pytest.raises(ValueError, match="non-negative"):
        metrics.metrics_from_counts(-1, 0, 0, 3)


def test_predictive_values_bayes_against_counting():
    rng = np.random.default_rng(2)
    for _ in range(50):
        sens, spec, prev = rng.uniform(0.01, 0.99, 3)
        n = 10**6
        tp, fn = sens * prev * n, (1 - sens) * prev * n
        tn, fp = spec * (1 - prev) * n, (1 - spec) * (1 - prev) * n
        ppv, npv = metrics.predictive_values(sens, spec, prev)
        assert np.isclose(ppv, tp / (tp + fp)) and np.isclose(npv, tn / (tn + fn))
    ppv, npv = metrics.predictive_values(0.9, 0.9, np.array([0.01, 0.5]))
    assert np.allclose(ppv, [0.009 / (0.009 + 0.099), 0.9])
    assert np.isnan(metrics.predictive_values(1.0, 1.0, 0.0)[0])  # nobody positive: PPV undefined
    with pytest.raises(ValueError, match="prevalence"):
        metrics.predictive_values(0.9, 0.9, 1.5)
    with pytest.raises(ValueError, match="sensitivity"):
        metrics.predictive_values(90, 0.9, 0.1)


def _brute_thresholds(y, s):
    """Every candidate threshold with its sensitivity and specificity, from high to low."""
    cands = np.r_[np.inf, np.unique(s)[::-1]]
    tp = np.array([np.sum(s[y == 1] >= t) for t in cands])
    tn = np.array([np.sum(s[y == 0] < t) for t in cands])
    return cands, tp, tn


@settings(max_examples=200, deadline=None)
@given(labels_and_scores, st.sampled_from([0.5, 0.8, 0.95, 1.0]), st.floats(0.5, 20))
def test_threshold_choosers_against_brute_force(ys, target, cost_ratio):
    y, s = map(np.array, ys)
    if y.min() == y.max():
        with pytest.raises(ValueError, match="both"):
            metrics.threshold_youden(y, s)
        return
    cands, tp, tn = _brute_thresholds(y, s)
    n_pos, n_neg = y.sum(), (1 - y).sum()
    j = tp * n_neg + tn * n_pos  # (sensitivity + specificity) * n_pos * n_neg, exact
    assert metrics.threshold_youden(y, s) == cands[np.argmax(j)]  # the highest of tied thresholds
    t_sens = metrics.threshold_for_sensitivity(y, s, target)
    assert t_sens == cands[np.flatnonzero(tp >= target * n_pos - 1e-9)[0]]
    cost = cost_ratio * (n_pos - tp) + (n_neg - tn)
    t_cost = metrics.threshold_min_cost(y, s, cost_fn=cost_ratio, cost_fp=1.0)
    assert np.isclose(cost[cands == t_cost][0], cost.min())


def test_threshold_for_sensitivity_reaches_target_on_real_scale():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    s = rng.normal(y * 1.5, 1.0)
    t = metrics.threshold_for_sensitivity(y, s, 0.95)
    assert metrics.rates_at_threshold(y, s, t)["sensitivity"] >= 0.95
    assert np.mean(s[y == 1] >= np.nextafter(t, np.inf)) < 0.95  # any higher threshold misses it
    fpr, tpr, thr = roc_curve(y, s)
    assert t in thr
    with pytest.raises(ValueError, match="target"):
        metrics.threshold_for_sensitivity(y, s, 95)


def test_bootstrap_ci_is_seeded_covers_estimate_and_matches_manual_loop():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    s = rng.normal(y, 1.0)
    a = metrics.bootstrap_ci(y, s, roc_auc_score, n_boot=200, seed=7)
    b = metrics.bootstrap_ci(y, s, roc_auc_score, n_boot=200, seed=7)
    assert a.low == b.low and a.high == b.high
    assert a.low < a.estimate < a.high
    assert np.isclose(a.estimate, roc_auc_score(y, s))
    # independent re-implementation of the stratified resampling
    r = np.random.default_rng(7)
    neg, pos = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    reps = []
    for _ in range(200):
        idx = np.concatenate([r.choice(neg, neg.size), r.choice(pos, pos.size)])
        reps.append(roc_auc_score(y[idx], s[idx]))
    assert np.allclose(np.quantile(reps, [0.025, 0.975]), [a.low, a.high])


def test_bootstrap_ci_width_matches_binomial_theory_for_sensitivity():
    # the sensitivity of 100 positives with true rate 0.8 has SE sqrt(0.8 * 0.2 / 100) = 0.04
    y = np.r_[np.ones(100, int), np.zeros(100, int)]
    pred = np.r_[np.ones(80), np.zeros(20), np.zeros(100)]
    sens = lambda yy, pp: pp[yy == 1].mean()  # noqa: E731
    res = metrics.bootstrap_ci(y, pred, sens, n_boot=4000, seed=0)
    assert np.isclose(res.replicates.std(), 0.04, rtol=0.1)


def test_bootstrap_unstratified_one_class_resample_raises_clearly():
    y = np.r_[1, np.zeros(30, int)]
    s = np.linspace(0, 1, 31)
    sens = lambda yy, ss: metrics.rates_at_threshold(yy, ss, 0.5)["sensitivity"]  # noqa: E731
    with pytest.raises(ValueError, match="undefined"):
        metrics.bootstrap_ci(y, s, sens, n_boot=200, stratified=False)
    with pytest.raises(ValueError, match="n_boot"):
        metrics.bootstrap_ci(y, s, sens, n_boot=5)
    with pytest.raises(ValueError, match="level"):
        metrics.bootstrap_ci(y, s, sens, level=95)


# --- proportion_ci: an interval for a proportion of counts --------------------------------------

PROPORTION_CASES = [(0, 1), (1, 1), (0, 42), (3, 42), (21, 42), (42, 42), (7, 10), (1, 390), (389, 390)]


@pytest.mark.parametrize("k,n", PROPORTION_CASES)
@pytest.mark.parametrize("method", ["exact", "wilson"])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_proportion_ci_is_scipys_binomtest(k, n, method, level):
    from scipy import stats

    ref = stats.binomtest(k, n).proportion_ci(confidence_level=level, method=method)
    res = metrics.proportion_ci(k, n, level=level, method=method)
    assert (res.k, res.n, res.method, res.level) == (k, n, method, level)
    assert res.estimate == k / n
    assert res.low == pytest.approx(ref.low, abs=1e-12) and res.high == pytest.approx(ref.high, abs=1e-12)
    assert 0.0 <= res.low <= res.estimate <= res.high <= 1.0


@pytest.mark.parametrize("k,n", PROPORTION_CASES)
@pytest.mark.parametrize("level", [0.9, 0.95])
def test_proportion_ci_exact_by_hand(k, n, level):
    """Clopper-Pearson by beta quantiles (SciPy finds it by root-finding on the binomial tails)."""
    from scipy import stats

    a = (1 - level) / 2
    low = 0.0 if k == 0 else stats.beta.ppf(a, k, n - k + 1)
    high = 1.0 if k == n else stats.beta.ppf(1 - a, k + 1, n - k)
    res = metrics.proportion_ci(k, n, level=level)
    assert res.low == pytest.approx(low, abs=1e-9) and res.high == pytest.approx(high, abs=1e-9)
    # the defining equations: each bound leaves a tail probability of exactly a beyond k
    if k > 0:
        assert stats.binom.sf(k - 1, n, res.low) == pytest.approx(a, rel=1e-6)
    if k < n:
        assert stats.binom.cdf(k, n, res.high) == pytest.approx(a, rel=1e-6)
    # closed forms at the ends: 0 of n and n of n
    if k == 0:
        assert res.high == pytest.approx(1 - a ** (1 / n), rel=1e-9)
    if k == n:
        assert res.low == pytest.approx(a ** (1 / n), rel=1e-9)


@pytest.mark.parametrize("k,n", PROPORTION_CASES)
def test_proportion_ci_wilson_by_hand(k, n):
    """Wilson (1927): solve |p_hat - p| = z sqrt(p (1 - p) / n) for p."""
    z = 1.959963984540054
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    res = metrics.proportion_ci(k, n, method="wilson")
    assert res.low == pytest.approx(max(centre - half, 0.0), abs=1e-12)
    assert res.high == pytest.approx(min(centre + half, 1.0), abs=1e-12)


def test_proportion_ci_exact_covers_at_least_its_level():
    """Exact coverage, summed over the binomial distribution, for n = 15 and many true proportions."""
    from scipy import stats

    n = 15
    bounds = [metrics.proportion_ci(k, n) for k in range(n + 1)]
    for p_true in np.linspace(0.005, 0.995, 67):
        coverage = sum(stats.binom.pmf(k, n, p_true)
                       for k, b in enumerate(bounds) if b.low <= p_true <= b.high)
        assert coverage >= 0.95 - 1e-9, (p_true, coverage)


def test_proportion_ci_at_zero_where_the_bootstrap_collapses():
    """0 of 42 positives missed: the percentile bootstrap says 0 to 0, the exact interval does not."""
    y = np.r_[np.ones(42, int), np.zeros(100, int)]
    s = np.r_[np.full(42, 0.9), np.linspace(0, 1, 100)]
    missed = metrics.bootstrap_ci(y, s, lambda y_, s_: np.mean(s_[y_ == 1] < 0.5), n_boot=200, seed=0)
    assert (missed.low, missed.high) == (0.0, 0.0)
    res = metrics.proportion_ci(0, 42)
    assert res.low == 0.0 and res.high == pytest.approx(0.0841, abs=5e-5)
    assert "0/42" in str(res) and "Clopper-Pearson" in str(res)


@pytest.mark.parametrize("args,kwargs,error,match", [
    ((5, 4), {}, ValueError, "k must be between 0 and n"),
    ((-1, 4), {}, ValueError, "k must be between 0 and n"),
    ((0, 0), {}, ValueError, "n must be at least 1"),
    ((2.5, 4), {}, TypeError, "k must be an integer"),
    ((2.0, 4), {}, TypeError, "k must be an integer"),
    ((True, 4), {}, TypeError, "k must be an integer"),
    ((2, "4"), {}, TypeError, "n must be an integer"),
    ((np.array([1, 2]), 4), {}, TypeError, "k must be an integer"),
    ((2, 4), {"level": 95}, ValueError, "level"),
    ((2, 4), {"level": 1.0}, ValueError, "level"),
    ((2, 4), {"method": "bootstrap"}, ValueError, "method must be one of"),
    ((2, 4), {"method": "beta"}, ValueError, "method must be one of"),
])
def test_proportion_ci_rejects_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        metrics.proportion_ci(*args, **kwargs)


def test_proportion_ci_takes_numpy_integers_and_keyword_only_options():
    res = metrics.proportion_ci(np.int64(3), np.int32(42), level=np.float64(0.95))
    assert isinstance(res.k, int) and res.n == 42
    with pytest.raises(TypeError):
        metrics.proportion_ci(3, 42, 0.95)  # level is keyword-only


def _psi_components(y, s):
    pos, neg = s[y == 1], s[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return psi.mean(1), psi.mean(0)


def test_delong_components_against_brute_force():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 120)
    s = np.round(rng.normal(y, 1.0), 1)
    auc, v10, v01 = metrics._delong_components(y, s)
    b10, b01 = _psi_components(y, s)
    assert np.allclose(v10, b10) and np.allclose(v01, b01)
    assert np.isclose(auc, roc_auc_score(y, s))


def test_delong_se_matches_paired_bootstrap():
    rng = np.random.default_rng(6)
    n = 800
    y = rng.integers(0, 2, n)
    latent = rng.normal(size=n)
    a = y * 1.2 + latent + rng.normal(0, 0.7, n)
    b = y * 0.9 + latent + rng.normal(0, 0.7, n)
    d = metrics.delong_test(y, a, b)
    assert np.isclose(d.auc_a, roc_auc_score(y, a)) and np.isclose(d.auc_b, roc_auc_score(y, b))
    boot = metrics.paired_bootstrap(y, a, b, metrics.roc_auc_rank, n_boot=1500, seed=1)
    assert np.isclose(boot.estimate, d.difference)
    assert np.isclose(boot.replicates.std(ddof=1), d.se, rtol=0.12)
    assert d.p_value < 0.05 and boot.low > 0  # both see the real difference


def test_delong_identical_models_and_one_class():
    y = np.array([0, 0, 1, 1, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.9])
    d = metrics.delong_test(y, s, s)
    assert d.difference == 0 and d.p_value == 1.0
    with pytest.raises(ValueError, match="only one class"):
        metrics.delong_test(np.ones(5, int), s, s)


@settings(max_examples=200, deadline=None)
@given(labels_and_scores, st.integers(1, 12))
def test_calibration_against_sklearn(ys, n_bins):
    y, p = map(np.array, ys)
    assert np.isclose(metrics.brier_score(y, p), brier_score_loss(y, p, pos_label=1))
    b = metrics.calibration_bins(y, p, n_bins)
    used = b["count"] > 0
    if y.min() != y.max():
        prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins)
        assert np.allclose(b["observed"][used], prob_true)
        assert np.allclose(b["mean_predicted"][used], prob_pred)
    # ECE by an independent loop over bins
    edges = np.linspace(0, 1, n_bins + 1)
    ece = 0.0
    for k in range(n_bins):
        inside = (p > edges[k]) & (p <= edges[k + 1]) if k else (p <= edges[1])
        if inside.any():
            ece += inside.mean() * abs(y[inside].mean() - p[inside].mean())
    assert np.isclose(metrics.expected_calibration_error(y, p, n_bins), ece)


def test_calibration_errors():
    with pytest.raises(ValueError, match="probabilities"):
        metrics.brier_score([0, 1], [-0.2, 1.3])
    with pytest.raises(ValueError, match="n_bins"):
        metrics.expected_calibration_error([0, 1], [0.2, 0.3], n_bins=0)
    assert metrics.expected_calibration_error([0, 1, 1, 0], [0.0, 1.0, 1.0, 0.0]) == 0.0


def test_import_medlab_metrics_does_not_import_tensorflow():
    import subprocess
    import sys

    code = "import sys, medlab.metrics; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_evaluation_exercise_answers_are_consistent():
    from medlab.exercises import check, get

    ppv, _ = metrics.predictive_values(0.90, 0.95, 0.02)
    assert np.isclose(get("evaluation.q1").expected(), ppv)
    assert check("evaluation.q1", ppv, quiet=True) and not check("evaluation.q1", 0.90, quiet=True)
    low, high = get("evaluation.q2").expected()
    assert 0.5 < low < high <= 1.0
    assert 0.0 < get("evaluation.q3").expected() <= 1.0
    cm = np.array([[30, 8, 2], [6, 24, 5], [1, 4, 20]])
    w = (np.arange(3)[:, None] - np.arange(3)[None, :]) ** 2 / 4
    o = cm / cm.sum()
    e = np.outer(o.sum(1), o.sum(0))
    assert np.isclose(get("evaluation.q4").expected(), 1 - (w * o).sum() / (w * e).sum())
