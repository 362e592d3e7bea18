"""Metrics as pure functions on arrays: Table 1's figures, the operating threshold, subject-bootstrap intervals.

Nothing here reads or writes files, so every number can be checked against scikit-learn or by hand.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np
from sklearn import metrics as skm

from facepalsy.errors import FacepalsyError

OPERATING_POINT_HELP = "youden (default: max sensitivity + specificity − 1), sensitivity=0.90, specificity=0.90, or fixed=0.5"


def binary_metrics(y_true: np.ndarray, prob_palsy: np.ndarray, threshold: float | np.ndarray = 0.5) -> dict:
    """Accuracy, precision, recall, F1 (positive class palsy, as fractions), confusion matrix, ROC AUC.

    ``confusion_matrix`` is ``[[tn, fp], [fn, tp]]``. ROC AUC is None when only one class is present.
    ``threshold`` may be one value or one per image (pooled folds, each labelled at its own threshold).
    """
    y_true = np.asarray(y_true).astype(int)
    prob_palsy = np.asarray(prob_palsy, dtype=float)
    y_pred = (prob_palsy >= threshold).astype(int)
    cm = skm.confusion_matrix(y_true, y_pred, labels=[0, 1])
    tn, fp, _, _ = cm.ravel()
    both = len(np.unique(y_true)) == 2
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "precision": float(skm.precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(skm.recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(skm.f1_score(y_true, y_pred, zero_division=0)),
        "specificity": float(tn / (tn + fp)) if tn + fp else 0.0,
        "roc_auc": float(skm.roc_auc_score(y_true, prob_palsy)) if both else None,
        "confusion_matrix": cm.tolist(),
        "threshold": float(threshold) if np.ndim(threshold) == 0 else None,
        "n": int(len(y_true)),
    }


def subject_scores(subjects: list[str], y_true: np.ndarray, prob_palsy: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """One score per subject: the mean palsy probability of its images; its label is its images' majority."""
    order = sorted(set(subjects))
    index = {s: i for i, s in enumerate(order)}
    ids = np.array([index[s] for s in subjects])
    counts = np.bincount(ids, minlength=len(order))
    prob = np.bincount(ids, weights=prob_palsy, minlength=len(order)) / counts
    label = (np.bincount(ids, weights=np.asarray(y_true, float), minlength=len(order)) / counts >= 0.5).astype(int)
    return order, label, prob


CI_METRICS = ("accuracy", "precision", "recall", "f1", "specificity", "roc_auc")


def bootstrap_ci(
    y_true: np.ndarray, prob_palsy: np.ndarray, subjects: list[str], threshold: float | np.ndarray = 0.5,
    n_boot: int = 1000, seed: int = 0, level: float = 0.95,
) -> dict[str, tuple[float, float] | None]:
    """Percentile bootstrap intervals for each metric, resampling subjects (not images) with replacement.

    Images of one subject are correlated, so resampling images would give intervals that are too
    narrow. Each resample is a vector of subject multiplicities: confusion counts are then one
    matrix product, and AUC uses them as sample weights. A metric undefined in a resample (AUC
    with one class, precision with no positive call) is left out of that resample.
    """
    y_true, prob_palsy = np.asarray(y_true).astype(int), np.asarray(prob_palsy, float)
    order = sorted(set(subjects))
    ids = np.searchsorted(order, subjects)
    y_pred = (prob_palsy >= threshold).astype(int)
    cells = np.stack([(y_true == t) & (y_pred == p) for t, p in ((1, 1), (0, 1), (0, 0), (1, 0))], axis=1)
    per_subject = np.stack([np.bincount(ids, weights=cells[:, k], minlength=len(order)) for k in range(4)], axis=1)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(order), size=(n_boot, len(order)))
    multiplicity = np.stack([np.bincount(row, minlength=len(order)) for row in picks])
    tp, fp, tn, fn = (multiplicity @ per_subject).T
    with np.errstate(divide="ignore", invalid="ignore"):
        draws = {
            "accuracy": (tp + tn) / (tp + fp + tn + fn),
            "precision": tp / (tp + fp),
            "recall": tp / (tp + fn),
            "f1": 2 * tp / (2 * tp + fp + fn),
            "specificity": tn / (tn + fp),
        }
    image_weights = multiplicity[:, ids]
    draws["roc_auc"] = np.array([
        skm.roc_auc_score(y_true, prob_palsy, sample_weight=w) if len(np.unique(y_true[w > 0])) == 2 else np.nan
        for w in image_weights
    ])
    tail = 100 * (1 - level) / 2
    intervals = {}
    for key in CI_METRICS:
        values = draws[key][np.isfinite(draws[key])]
        intervals[key] = (float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))) if len(values) else None
    return intervals


@dataclass(frozen=True)
class OperatingPoint:
    """The threshold a run labels with, the rule that chose it and what it gave on validation data."""

    threshold: float
    rule: str = "fixed=0.5"
    sensitivity: float | None = None  # on the validation images, at this threshold
    specificity: float | None = None
    validation_images: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "OperatingPoint":
        return cls(**values)


def parse_operating_point(rule: str) -> tuple[str, float | None]:
    """``youden`` → ("youden", None); ``sensitivity=0.9`` → ("sensitivity", 0.9); refuses anything else in one line."""
    match = re.fullmatch(r"\s*(youden|sensitivity|specificity|fixed)\s*(?:=\s*([0-9]*\.?[0-9]+)\s*)?", str(rule))
    if not match or (match.group(1) == "youden") != (match.group(2) is None):
        raise FacepalsyError(f"operating_point must be one of: {OPERATING_POINT_HELP}; got {rule!r}")
    value = None if match.group(2) is None else float(match.group(2))
    if value is not None and not 0 <= value <= 1:
        raise FacepalsyError(f"operating_point {rule!r}: the value must be between 0 and 1")
    return match.group(1), value


def choose_operating_point(y_true: np.ndarray, prob_palsy: np.ndarray, rule: str = "youden") -> OperatingPoint:
    """The threshold chosen by ``rule`` on these (validation) data, with its sensitivity and specificity.

    Any threshold between two neighbouring scores labels the data the same way, so the choice is an
    interval, not a point; the threshold returned is the middle of the best interval (of the widest
    run of tied best intervals), never the edge where one more image would flip. ``youden`` maximises
    sensitivity + specificity − 1; ``sensitivity=X`` the specificity among thresholds with sensitivity
    ≥ X; ``specificity=X`` the reverse. With one class present, 0.5 is returned.
    """
    kind, value = parse_operating_point(rule)
    y_true, prob_palsy = np.asarray(y_true).astype(int), np.asarray(prob_palsy, dtype=float)
    if kind == "fixed" or len(np.unique(y_true)) < 2:
        threshold = value if kind == "fixed" else 0.5
    else:
        scores = np.unique(prob_palsy)
        lower = np.concatenate([[min(0.0, scores[0])], scores])  # piece k: threshold in (lower[k], upper[k]]
        upper = np.concatenate([scores, [max(1.0, float(np.nextafter(scores[-1], np.inf)))]])
        # piece k labels palsy the images scoring >= scores[k] (the last piece labels none)
        positives_at = np.concatenate([scores, [np.inf]])
        sensitivity = np.array([(prob_palsy[y_true == 1] >= t).mean() for t in positives_at])
        specificity = np.array([(prob_palsy[y_true == 0] < t).mean() for t in positives_at])
        if kind == "youden":
            objective, feasible = sensitivity + specificity, np.ones(len(scores) + 1, bool)
        elif kind == "sensitivity":
            objective, feasible = specificity, sensitivity >= value - 1e-12
        else:
            objective, feasible = sensitivity, specificity >= value - 1e-12
        if not feasible.any():
            raise FacepalsyError(f"operating point {rule!r} cannot be reached on the validation data")
        best = np.flatnonzero(feasible & (objective >= objective[feasible].max() - 1e-12))
        runs = np.split(best, np.flatnonzero(np.diff(best) > 1) + 1)
        run = max(runs, key=lambda r: upper[r[-1]] - lower[r[0]])
        threshold = float((lower[run[0]] + upper[run[-1]]) / 2)
    at = binary_metrics(y_true, prob_palsy, threshold)
    both = len(np.unique(y_true)) == 2
    return OperatingPoint(threshold, rule if kind != "youden" else "youden", at["recall"] if both else None, at["specificity"] if both else None, int(len(y_true)))
