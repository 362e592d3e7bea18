"""Metrics as pure functions on arrays: Table 1's figures, the operating threshold, subject-bootstrap intervals.

Nothing here reads or writes files, so every number can be checked against scikit-learn or by hand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from facepalsy.errors import FacepalsyError
from facepalsy.evaluation.calibration import CalibrationFigures, ReliabilityCurve
from facepalsy.models.operating_point import OperatingPoint, is_palsy, logit, parse_operating_point


def binary_metrics(y_true: np.ndarray, prob_palsy: np.ndarray, threshold: float | np.ndarray = 0.5) -> dict:
    """Accuracy, precision, recall, F1 (positive class palsy, as fractions), confusion matrix, ROC AUC.

    ``confusion_matrix`` is ``[[tn, fp], [fn, tp]]``. ROC AUC is None when only one class is present.
    ``threshold`` may be one value or one per image (pooled folds, each labelled at its own threshold).
    """
    from sklearn import metrics as skm  # imported on first use: the commands that compute no metric start faster

    y_true = np.asarray(y_true).astype(int)
    prob_palsy = np.asarray(prob_palsy, dtype=float)
    y_pred = is_palsy(prob_palsy, threshold).astype(int)
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


def subject_scores(
    subjects: list[str], y_true: np.ndarray, prob_palsy: np.ndarray
) -> tuple[list[str], np.ndarray, np.ndarray]:
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
    y_true: np.ndarray,
    prob_palsy: np.ndarray,
    subjects: list[str],
    threshold: float | np.ndarray = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
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
    y_pred = is_palsy(prob_palsy, threshold).astype(int)
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
    draws["roc_auc"] = weighted_auc(y_true, prob_palsy, multiplicity[:, ids])
    tail = 100 * (1 - level) / 2
    intervals = {}
    for key in CI_METRICS:
        values = draws[key][np.isfinite(draws[key])]
        intervals[key] = (
            (float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))) if len(values) else None
        )
    for key, subjects_counted in _collapsed(intervals, per_subject, y_true, ids).items():
        point = intervals[key][0]
        intervals[key] = wilson_interval(round(point * subjects_counted), subjects_counted, level)
    return intervals


def weighted_auc(y_true: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC for each row of image weights (B×N), ties counted half: what scikit-learn's
    roc_auc_score gives with ``sample_weight`` (a test checks), for all rows at once.

    Images sorted by score, weights summed per distinct score; each positive's weight counts the
    negative weight below its score plus half that at it. NaN where a row lacks a class.
    """
    order = np.argsort(scores, kind="stable")
    sorted_scores, positive = scores[order], y_true[order] == 1
    starts = np.flatnonzero(np.r_[True, np.diff(sorted_scores) != 0])
    w = np.atleast_2d(weights)[:, order].astype(float)
    pos = np.add.reduceat(w * positive, starts, axis=1)
    neg = np.add.reduceat(w * ~positive, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    total = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (pos * (below + 0.5 * neg)).sum(axis=1) / total, np.nan)


def wilson_interval(successes: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion (scipy): unlike a bootstrap, it does not collapse at 0% or 100%."""
    from scipy.stats import binomtest

    interval = binomtest(int(successes), int(total)).proportion_ci(confidence_level=level, method="wilson")
    return float(interval.low), float(interval.high)


def _collapsed(intervals: dict, per_subject: np.ndarray, y_true: np.ndarray, ids: np.ndarray) -> dict[str, int]:
    """Metrics whose bootstrap interval collapsed to one point (every resample gave the same value,
    which happens at 0% and 100%), with the number of subjects behind each: at such a value every one
    of them is all right or all wrong, so Wilson's interval over subjects replaces the point."""
    tp, fp, tn, fn = per_subject.T
    palsy_subjects = len(np.unique(ids[y_true == 1]))
    normal_subjects = len(np.unique(ids[y_true == 0]))
    counted = {
        "accuracy": int(((tp + fp + tn + fn) > 0).sum()),
        "recall": int(((tp + fn) > 0).sum()),
        "precision": int(((tp + fp) > 0).sum()),
        "f1": int(((tp + fp + fn) > 0).sum()),
        "specificity": int(((tn + fp) > 0).sum()),
        "roc_auc": min(palsy_subjects, normal_subjects),
    }
    return {
        key: counted[key]
        for key, ci in intervals.items()
        if ci is not None and ci[1] - ci[0] < 1e-12 and counted[key] > 0
    }


@dataclass(frozen=True)
class ChanceCheck:
    """Whether a model is shown to beat chance on a set of images (``metrics.json``'s ``chance``)."""

    better_than_chance: bool
    majority_rate: float  # what always answering the larger class scores
    reasons: tuple[str, ...]  # why not, each in words (empty when it is)
    statement: str  # the verdict in one sentence, as the reports print it

    def to_dict(self) -> dict:
        return {**asdict(self), "reasons": list(self.reasons)}

    @classmethod
    def from_dict(cls, values: dict | None) -> "ChanceCheck | None":
        return None if not values else cls(**{**values, "reasons": tuple(values["reasons"])})


def chance_check(y_true: np.ndarray, ci95: dict) -> ChanceCheck:
    """Is the model shown to be better than chance? Not when the subject-level 95% interval of the AUC
    includes 0.5, or that of accuracy includes the majority-class rate (what always answering the
    larger class scores). ``ci95``: the subject-bootstrap intervals of :func:`bootstrap_ci`."""
    y_true = np.asarray(y_true).astype(int)
    majority = float(max(y_true.mean(), 1 - y_true.mean())) if len(y_true) else 0.5
    ci = ci95 or {}
    reasons = []
    auc = ci.get("roc_auc")
    if auc is None:
        reasons.append("the AUC has no interval (one class only)")
    elif auc[0] <= 0.5:
        reasons.append(f"the AUC's 95% interval ({auc[0]:.3f}–{auc[1]:.3f}) includes 0.5")
    accuracy = ci.get("accuracy")
    if accuracy is not None and accuracy[0] <= majority:
        reasons.append(
            f"accuracy's 95% interval ({100 * accuracy[0]:.1f}–{100 * accuracy[1]:.1f}%) "
            f"includes the majority-class rate {100 * majority:.1f}%"
        )
    statement = (
        "NOT SHOWN TO BE BETTER THAN CHANCE: " + "; ".join(reasons) + "."
        if reasons
        else "Better than chance: the AUC's 95% interval is above 0.5 and accuracy's above the majority-class rate."
    )
    return ChanceCheck(not reasons, majority, tuple(reasons), statement)


def best_threshold(y_true: np.ndarray, prob_palsy: np.ndarray, rule: str = "youden") -> float:
    """The threshold of :func:`choose_operating_point` alone, in NumPy only (the threshold's bootstrap calls it
    hundreds of times): sensitivity and specificity at every piece come from sorted scores by binary search."""
    kind, value = parse_operating_point(rule)
    y_true, prob_palsy = np.asarray(y_true).astype(int), np.asarray(prob_palsy, dtype=float)
    if kind == "fixed" or len(np.unique(y_true)) < 2:
        return value if kind == "fixed" else 0.5
    scores = np.unique(prob_palsy)
    lower = np.concatenate([[min(0.0, scores[0])], scores])  # piece k: threshold in (lower[k], upper[k]]
    upper = np.concatenate([scores, [max(1.0, float(np.nextafter(scores[-1], np.inf)))]])
    # piece k labels palsy the images scoring >= scores[k] (the last piece labels none)
    positives_at = np.concatenate([scores, [np.inf]])
    palsy, normal = np.sort(prob_palsy[y_true == 1]), np.sort(prob_palsy[y_true == 0])
    sensitivity = 1.0 - np.searchsorted(palsy, positives_at, side="left") / len(palsy)  # share scoring >= t
    specificity = np.searchsorted(normal, positives_at, side="left") / len(normal)  # share scoring < t
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
    return float((lower[run[0]] + upper[run[-1]]) / 2)


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
    threshold = best_threshold(y_true, prob_palsy, rule)
    at = binary_metrics(y_true, prob_palsy, threshold)
    both = len(np.unique(y_true)) == 2
    return OperatingPoint(
        threshold,
        rule if kind != "youden" else "youden",
        at["recall"] if both else None,
        at["specificity"] if both else None,
        int(len(y_true)),
    )


# -- calibration ----------------------------------------------------------------------------
CALIBRATION_BINS = 10
CALIBRATION_METRICS = ("brier", "ece", "calibration_intercept", "calibration_slope")


def fit_temperature(y_true: np.ndarray, prob_palsy: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood on these (validation) data (Guo et al., 2017).

    One parameter, so it cannot change which image scores higher (AUC, and labels at a mapped
    threshold, stay); searched on log T in [1/100, 100] by scipy's bounded scalar minimiser.
    """
    from scipy.optimize import minimize_scalar

    y_true, z = np.asarray(y_true, dtype=float), logit(prob_palsy)
    if len(np.unique(y_true)) < 2:
        return 1.0

    def nll(log_t: float) -> float:
        scaled = z / np.exp(log_t)
        return float(np.mean(np.logaddexp(0.0, scaled) - y_true * scaled))

    return float(np.exp(minimize_scalar(nll, bounds=(-np.log(100), np.log(100)), method="bounded").x))


def expected_calibration_error(
    y_true: np.ndarray, prob_palsy: np.ndarray, weights: np.ndarray | None = None, bins: int = CALIBRATION_BINS
) -> float:
    """ECE of p(palsy): the (weighted) mean over equal-width bins of |observed palsy rate − mean p|,
    as torchmetrics' binary_calibration_error with norm l1, but for p(palsy) and with weights for the bootstrap."""
    y_true, prob = np.asarray(y_true, dtype=float), np.asarray(prob_palsy, dtype=float)
    weights = np.ones_like(prob) if weights is None else np.asarray(weights, dtype=float)
    which = np.minimum((prob * bins).astype(int), bins - 1)
    total = np.bincount(which, weights=weights, minlength=bins)
    observed = np.bincount(which, weights=weights * y_true, minlength=bins)
    predicted = np.bincount(which, weights=weights * prob, minlength=bins)
    return float(np.abs(observed - predicted).sum() / total.sum())


SLOPE_LIMIT = 1000.0  # a slope this steep means the outcome is separated by logit(p): its estimate runs off to infinity


def calibration_line(
    y_true: np.ndarray, prob_palsy: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, float]:
    """Calibration intercept (calibration-in-the-large: logistic intercept with logit(p) as offset; 0 is
    ideal) and slope (logistic regression of the outcome on logit(p); 1 is ideal, < 1 overconfident).

    Both are maximum-likelihood logistic fits, solved by Newton's method here (the same estimate as
    scikit-learn's unpenalised LogisticRegression, which a test checks) because the subject bootstrap
    refits them hundreds of times per evaluation.
    """
    y_true, z = np.asarray(y_true, dtype=float), logit(prob_palsy)
    weights = np.ones_like(z) if weights is None else np.asarray(weights, dtype=float)
    if len(np.unique(y_true[weights > 0])) < 2:
        return float("nan"), float("nan")
    intercept = _logistic_newton(np.ones((len(z), 1)), y_true, weights, offset=z)[0]
    slope = _logistic_newton(np.stack([np.ones_like(z), z], axis=1), y_true, weights)[1]
    return float(intercept), float(np.clip(slope, -SLOPE_LIMIT, SLOPE_LIMIT))


def _logistic_newton(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, offset: np.ndarray | float = 0.0, steps: int = 100
) -> np.ndarray:
    """Weighted maximum-likelihood logistic regression coefficients (Newton–Raphson with step halving)."""
    beta = np.zeros(x.shape[1])

    def nll(b: np.ndarray) -> float:
        eta = x @ b + offset
        return float(np.sum(w * (np.logaddexp(0.0, eta) - y * eta)))

    current = nll(beta)
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta + offset, -700, 700)))  # exp overflows past 709
        gradient = x.T @ (w * (p - y))
        hessian = (x * (w * p * (1 - p))[:, None]).T @ x + 1e-12 * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-6 and nll(beta - scale * step) > current + 1e-12:
            scale /= 2
        beta = beta - scale * step
        previous, current = current, nll(beta)
        converged = np.abs(scale * step).max() < 1e-9 or previous - current < 1e-10
        if (
            converged or current < 1e-6 * w.sum() or np.abs(beta).max() > 10 * SLOPE_LIMIT
        ):  # the middle one: separated data
            break
    return beta


def calibration_metrics(
    y_true: np.ndarray, prob_palsy: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, float]:
    """Brier score (scikit-learn's formula, without its input checks: the bootstrap calls this 600 times per
    evaluation),
    expected calibration error, calibration intercept and slope."""
    y_true, prob = np.asarray(y_true).astype(int), np.asarray(prob_palsy, dtype=float)
    intercept, slope = calibration_line(y_true, prob, weights)
    return {
        "brier": float(np.average((prob - y_true) ** 2, weights=weights)) if len(prob) else float("nan"),
        "ece": expected_calibration_error(y_true, prob, weights) if len(prob) else float("nan"),
        "calibration_intercept": intercept,
        "calibration_slope": slope,
    }


def calibration_summary(
    y_true: np.ndarray, prob_palsy: np.ndarray, subjects: list[str], seed: int = 0
) -> CalibrationFigures:
    """Calibration metrics with their subject-bootstrap intervals and the reliability curve: what each evaluation
    reports."""
    return CalibrationFigures(
        **calibration_metrics(y_true, prob_palsy),
        ci95=_calibration_ci(y_true, prob_palsy, subjects, seed=seed),
        curve=reliability_curve(y_true, prob_palsy),
    )


def reliability_curve(y_true: np.ndarray, prob_palsy: np.ndarray, bins: int = CALIBRATION_BINS) -> ReliabilityCurve:
    """Observed palsy rate against mean p(palsy) per equal-width bin (scikit-learn's calibration_curve), with each
    bin's image count and the Wilson 95% interval of its observed rate (``low``, ``high``)."""
    from sklearn.calibration import calibration_curve

    y_true, prob = np.asarray(y_true).astype(int), np.asarray(prob_palsy, dtype=float)
    if len(np.unique(y_true)) < 2:
        return ReliabilityCurve()
    observed, predicted = calibration_curve(y_true, prob, n_bins=bins, strategy="uniform")
    counts = np.bincount(np.minimum((prob * bins).astype(int), bins - 1), minlength=bins)
    counts = counts[counts > 0]
    intervals = [wilson_interval(round(rate * n), n) for rate, n in zip(observed, counts)]
    return ReliabilityCurve(
        observed.tolist(), predicted.tolist(), counts.tolist(), [low for low, _ in intervals], [h for _, h in intervals]
    )


def _calibration_ci(
    y_true: np.ndarray,
    prob_palsy: np.ndarray,
    subjects: list[str],
    n_boot: int = 300,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, tuple[float, float] | None]:
    """Subject-bootstrap percentile intervals of the calibration metrics (resampled subjects as weights)."""
    order = sorted(set(subjects))
    ids = np.searchsorted(order, subjects)
    rng = np.random.default_rng(seed)
    draws = {k: [] for k in CALIBRATION_METRICS}
    for _ in range(n_boot):
        weights = np.bincount(rng.integers(0, len(order), len(order)), minlength=len(order))[ids].astype(float)
        for key, value in calibration_metrics(y_true, prob_palsy, weights).items():
            draws[key].append(value)
    tail = 100 * (1 - level) / 2
    intervals = {}
    for key, values in draws.items():
        values = np.array(values)[np.isfinite(values)]
        intervals[key] = (
            (float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))) if len(values) else None
        )
    return intervals
