"""Metric functions against hand-computed values and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from facepalsy.evaluate import binary_metrics


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
