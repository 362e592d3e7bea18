"""Metric functions against hand-computed values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from facepalsy.evaluation.evaluate import binary_metrics


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


def test_youden_threshold_separates_and_ignores_test_data():
    from facepalsy.evaluation.evaluate import youden_threshold

    y = np.array([0, 0, 0, 1, 1, 1])
    prob = np.array([0.1, 0.2, 0.3, 0.35, 0.8, 0.9])
    threshold = youden_threshold(y, prob)
    assert 0.3 < threshold <= 0.35  # every image right at this threshold, while 0.5 misses one
    assert binary_metrics(y, prob, threshold)["accuracy"] == 1.0
    assert youden_threshold(np.ones(3, int), np.array([0.2, 0.6, 0.9])) == 0.5


def test_subject_scores_average_probabilities_per_subject():
    from facepalsy.evaluation.evaluate import subject_scores

    order, label, prob = subject_scores(["b", "a", "b", "a", "c"], np.array([1, 0, 1, 0, 1]), np.array([0.8, 0.2, 0.6, 0.4, 0.9]))
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
    from facepalsy.evaluation.evaluate import bootstrap_ci

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
    from facepalsy.evaluation.evaluate import bootstrap_ci

    y = np.array([0] * 50 + [1] * 50)
    prob = np.array([0.9] * 50 + [0.9] * 50)  # subject n wrong on every image, subject p right
    ci = bootstrap_ci(y, prob, ["n"] * 50 + ["p"] * 50, n_boot=200, seed=1)
    assert ci["accuracy"] == (0.0, 1.0)  # image-level resampling would give about (0.4, 0.6)
