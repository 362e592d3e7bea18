"""Metric functions against hand-computed values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from facepalsy.evaluation.metrics import binary_metrics


def test_hand_computed_example():
    y_true = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
    prob = [0.9, 0.8, 0.4, 0.6, 0.1, 0.7, 0.2, 0.3, 0.5, 0.2]
    # predictions at 0.5: 1 1 0 1 | 0 1 0 0 1 | 0  → tp 3, fn 2, fp 2, tn 3
    m = binary_metrics(np.array(y_true), np.array(prob))
    assert m["confusion_matrix"] == [[3, 2], [2, 3]]
    assert m["accuracy"] == pytest.approx(6 / 10)
    assert m["precision"] == pytest.approx(3 / 5)
    assert m["recall"] == pytest.approx(3 / 5)
    assert m["f1"] == pytest.approx(0.6)
    assert m["specificity"] == pytest.approx(3 / 5)
    assert m["n"] == 10


@pytest.mark.parametrize("seed", range(5))
def test_equal_to_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, 200)
    prob = np.clip(y_true * 0.3 + rng.random(200) * 0.7, 0, 1)
    m = binary_metrics(y_true, prob)
    y_pred = (prob >= 0.5).astype(int)
    assert m["accuracy"] == skm.accuracy_score(y_true, y_pred)
    assert m["precision"] == skm.precision_score(y_true, y_pred)
    assert m["recall"] == skm.recall_score(y_true, y_pred)
    assert m["f1"] == skm.f1_score(y_true, y_pred)
    assert m["roc_auc"] == skm.roc_auc_score(y_true, prob)
    tn, fp, fn, tp = skm.confusion_matrix(y_true, y_pred).ravel()
    assert m["confusion_matrix"] == [[tn, fp], [fn, tp]]


def test_single_class_has_no_auc_and_no_division_by_zero():
    m = binary_metrics(np.zeros(4, int), np.array([0.1, 0.2, 0.7, 0.3]))
    assert m["roc_auc"] is None and m["precision"] == 0.0 and m["recall"] == 0.0
    assert m["confusion_matrix"] == [[3, 1], [0, 0]]


def test_youden_threshold_is_the_middle_of_the_best_interval():
    from facepalsy.evaluation.metrics import choose_operating_point

    y = np.array([0, 0, 0, 1, 1, 1])
    prob = np.array([0.1, 0.2, 0.3, 0.35, 0.8, 0.9])
    point = choose_operating_point(y, prob)
    # any threshold in (0.3, 0.35] labels every image right; the middle is chosen, not the edge 0.35
    assert point.threshold == pytest.approx(0.325)
    assert binary_metrics(y, prob, point.threshold)["accuracy"] == 1.0
    assert (point.rule, point.sensitivity, point.specificity, point.validation_images) == ("youden", 1.0, 1.0, 6)
    assert choose_operating_point(np.ones(3, int), np.array([0.2, 0.6, 0.9])).threshold == 0.5


def test_subject_scores_average_probabilities_per_subject():
    from facepalsy.evaluation.metrics import subject_scores

    order, label, prob = subject_scores(
        ["b", "a", "b", "a", "c"], np.array([1, 0, 1, 0, 1]), np.array([0.8, 0.2, 0.6, 0.4, 0.9])
    )
    assert order == ["a", "b", "c"] and label.tolist() == [0, 1, 1]
    assert prob == pytest.approx([0.3, 0.7, 0.9])


def _subject_data(n_subjects, seed=0, images=5):
    rng = np.random.default_rng(seed)
    subjects, y, prob = [], [], []
    for s in range(n_subjects):
        label = s % 2
        skill = rng.uniform(0.1, 0.65)  # per-subject difficulty (some subjects mostly wrong) correlates its images
        for _ in range(images):
            subjects.append(f"s{s}")
            y.append(label)
            prob.append(np.clip(label * (1 - skill) + (1 - label) * skill + rng.normal(0, 0.15), 0, 1))
    return np.array(y), np.array(prob), subjects


def test_bootstrap_interval_contains_estimate_and_narrows_with_more_subjects():
    from facepalsy.evaluation.metrics import bootstrap_ci

    widths = []
    for n_subjects in (10, 40, 160):
        y, prob, subjects = _subject_data(n_subjects)
        point = binary_metrics(y, prob)
        ci = bootstrap_ci(y, prob, subjects, n_boot=400, seed=7)
        for key in ("accuracy", "recall", "f1", "roc_auc"):
            low, high = ci[key]
            assert low <= point[key] <= high, (n_subjects, key, point[key], ci[key])
        widths.append(ci["accuracy"][1] - ci["accuracy"][0])
    assert widths[0] > widths[1] > widths[2] > 0


def test_bootstrap_resamples_subjects_not_images():
    """All images of a subject move together: with one subject per class the interval cannot shrink."""
    from facepalsy.evaluation.metrics import bootstrap_ci

    y = np.array([0] * 50 + [1] * 50)
    prob = np.array([0.9] * 50 + [0.9] * 50)  # subject n wrong on every image, subject p right
    ci = bootstrap_ci(y, prob, ["n"] * 50 + ["p"] * 50, n_boot=200, seed=1)
    assert ci["accuracy"] == (0.0, 1.0)  # image-level resampling would give about (0.4, 0.6)


def test_operating_point_reaches_the_best_j_and_sits_inside_its_interval():
    """On random scores: Youden's J at the chosen threshold equals the best over all of sklearn's ROC thresholds,
    and the threshold is strictly between two scores (never on one, where a single image would flip)."""
    from facepalsy.evaluation.metrics import choose_operating_point

    rng = np.random.default_rng(3)
    for _ in range(20):
        y = rng.integers(0, 2, 40)
        prob = np.round(np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1), 2)  # rounded: ties, as softmax outputs have
        if len(set(y)) < 2:
            continue
        fpr, tpr, _ = skm.roc_curve(y, prob)
        point = choose_operating_point(y, prob)
        m = binary_metrics(y, prob, point.threshold)
        assert m["recall"] + m["specificity"] - 1 == pytest.approx(float(np.max(tpr - fpr)))
        assert point.threshold not in set(prob)


def test_operating_point_rules_sensitivity_specificity_fixed_and_bad_rules():
    from facepalsy.errors import FacepalsyError
    from facepalsy.evaluation.metrics import choose_operating_point

    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    prob = np.array([0.1, 0.2, 0.3, 0.6, 0.15, 0.4, 0.5, 0.55, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95])
    # sensitivity >= 0.9 (9 of 10 palsy): the threshold may go up to 0.4, keeping 0.15 out only; middle of (0.3, 0.4]
    high_sensitivity = choose_operating_point(y, prob, "sensitivity=0.9")
    assert (
        high_sensitivity.threshold == pytest.approx(0.35)
        and high_sensitivity.sensitivity == 0.9
        and high_sensitivity.specificity == 0.75
    )
    # specificity 1.0: above 0.6, the highest normal; middle of (0.6, 0.7]
    strict = choose_operating_point(y, prob, "specificity=1")
    assert strict.threshold == pytest.approx(0.65) and strict.specificity == 1.0 and strict.sensitivity == 0.6
    assert choose_operating_point(y, prob, "fixed=0.5").threshold == 0.5
    for bad in ("youden=0.3", "sensitivity", "sensitivity=1.5", "recall=0.9", ""):
        with pytest.raises(FacepalsyError, match="operating_point"):
            choose_operating_point(y, prob, bad)


def test_weighted_auc_of_many_resamples_equals_scikit_learn():
    from facepalsy.evaluation.metrics import weighted_auc

    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 60)
    scores = np.round(rng.random(60), 1)  # many ties
    weights = rng.integers(0, 3, (40, 60))
    weights[0, y == 1] = 0  # a resample without palsy: no AUC
    expected = [
        skm.roc_auc_score(y, scores, sample_weight=w) if len(np.unique(y[w > 0])) == 2 else np.nan for w in weights
    ]
    np.testing.assert_allclose(weighted_auc(y, scores, weights), expected, atol=1e-12)
