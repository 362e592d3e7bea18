"""Metrics as pure functions on arrays, and evaluation of a run on its test split or new data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from rich.console import Console
from sklearn import metrics as skm

from facepalsy.data.dataset import CLASSES, Sample, load_images, scan_dataset, write_bad_images
from facepalsy.io import atomic_write_csv, atomic_write_json
from facepalsy.inference.predictor import predict_images
from facepalsy.evaluation.report import plot_confusion_matrix, write_report
from facepalsy.runfolder import PROVENANCE_FILE, SPLIT_FILE, VALIDATION_FILE, content_hash, load_run, read_split

console = Console(stderr=True)


def binary_metrics(y_true: np.ndarray, prob_palsy: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy, precision, recall, F1 (positive class palsy, as fractions), confusion matrix, ROC AUC.

    ``confusion_matrix`` is ``[[tn, fp], [fn, tp]]``. ROC AUC is None when only one class is present.
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
        "threshold": threshold,
        "n": int(len(y_true)),
    }


def youden_threshold(y_true: np.ndarray, prob_palsy: np.ndarray) -> float:
    """The threshold maximising sensitivity + specificity − 1 (Youden's J) on these data.

    Choose it on validation data only: chosen on test data it flatters the test figures.
    Falls back to 0.5 when only one class is present.
    """
    y_true = np.asarray(y_true).astype(int)
    if len(np.unique(y_true)) < 2:
        return 0.5
    fpr, tpr, thresholds = skm.roc_curve(y_true, prob_palsy)
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))


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
    y_true: np.ndarray, prob_palsy: np.ndarray, subjects: list[str], threshold: float = 0.5,
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


def threshold_report(threshold: float, y_true: np.ndarray, prob_palsy: np.ndarray) -> dict:
    """Sensitivity and specificity at 0.5 and at a threshold chosen elsewhere (on validation data)."""
    at_half, at_chosen = binary_metrics(y_true, prob_palsy, 0.5), binary_metrics(y_true, prob_palsy, threshold)
    return {
        "youden_threshold_from_validation": threshold,
        "sensitivity_at_0.5": at_half["recall"],
        "specificity_at_0.5": at_half["specificity"],
        "sensitivity_at_youden": at_chosen["recall"],
        "specificity_at_youden": at_chosen["specificity"],
    }


def evaluate_arrays(
    run_dir: Path, out: Path, images: np.ndarray, samples: list[Sample], notes: tuple[str, ...] = (), data: str | None = None, precision: str = "auto",
    trained=None,
) -> dict:
    """Score decoded images with the run's best model; write metrics, predictions, plots and report."""
    if trained is None:
        trained = load_run(run_dir)
        trained.precision = precision
    probs = predict_images(trained, images)
    labels = np.array([s.label for s in samples])
    subjects = [s.subject for s in samples]
    result = binary_metrics(labels, probs)
    result["ci95"] = bootstrap_ci(labels, probs, subjects, seed=trained.config.seed)
    validation = run_dir / VALIDATION_FILE
    if validation.is_file():
        result.update(threshold_report(json.loads(validation.read_text())["youden_threshold"], labels, probs))
    result["data"] = data or trained.config.data
    result["split"] = "test split of the run" if data is None else "all images of the data folder"
    out.mkdir(parents=True, exist_ok=True)
    result["heatmaps"] = write_heatmap_grid(out / "heatmaps.png", trained, images, samples, probs)
    atomic_write_json(out / "metrics.json", result)
    write_predictions(out / "predictions.csv", samples, probs)
    plot_confusion_matrix(np.array(result["confusion_matrix"]), out / "confusion_matrix.png", title=f"{trained.config.backbone} ({trained.config.split} split)")
    write_report(run_dir, out, notes=notes)
    return result


def pick_examples(labels: np.ndarray, probs: np.ndarray, per_group: int = 4, threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Indices of the most confident true positives, false positives and false negatives."""
    predicted = probs >= threshold
    groups = {
        "true positives": np.flatnonzero((labels == 1) & predicted),
        "false positives": np.flatnonzero((labels == 0) & predicted),
        "false negatives": np.flatnonzero((labels == 1) & ~predicted),
    }
    confidence = np.abs(probs - threshold)
    return {name: idx[np.argsort(-confidence[idx])][:per_group] for name, idx in groups.items()}


def write_heatmap_grid(path: Path, trained, images: np.ndarray, samples: list[Sample], probs: np.ndarray) -> str:
    """Grad-CAM grid of example TP/FP/FN for the report; says why when it cannot be drawn."""
    from facepalsy.errors import FacepalsyError
    from facepalsy.inference.explain import gradcam, save_heatmap_grid
    from facepalsy.models.vgg import VGGClassifier

    if not isinstance(trained.model, VGGClassifier):
        return "not drawn: Grad-CAM needs a CNN backbone"
    labels = np.array([s.label for s in samples])
    examples = pick_examples(labels, probs)
    chosen = np.concatenate(list(examples.values())).astype(int)
    if len(chosen) == 0:
        return "no examples"
    try:
        heat = dict(zip(chosen.tolist(), gradcam(trained.model, trained.preprocess, images[chosen])))
    except FacepalsyError as exc:
        return f"not drawn: {exc}"
    rows = {name: [(images[i], heat[i], float(probs[i]), samples[i].path) for i in idx] for name, idx in examples.items()}
    save_heatmap_grid(path, rows)
    return path.name


def evaluate_run(
    run_dir: str | Path, data: str | Path | None = None, out: str | Path | None = None, skip_bad: bool = False, progress: bool = True,
    precision: str = "auto",
) -> tuple[dict, Path]:
    """Evaluate on the run's own test split, or on every image of another data folder.

    With ``skip_bad``, unreadable images are left out and listed in ``OUT/bad_images.txt``.
    """
    run_dir = Path(run_dir)
    trained = load_run(run_dir)
    config = trained.config
    if data is None:
        samples, parts = read_split(run_dir / SPLIT_FILE)
        samples = [s for s, part in zip(samples, parts) if part == "test"]
        root, out = Path(config.data), Path(out) if out else run_dir
    else:
        root = Path(data)
        samples = scan_dataset(root)
        out = Path(out) if out else run_dir / f"eval-{root.resolve().name}"
    images, kept, bad = load_images(root, samples, config.image_size, skip_bad=skip_bad, progress=progress, face_crop=config.face_crop)
    if bad:
        write_bad_images(out, bad)
    notes = tuple(note for note in [test_set_warning(run_dir, root, kept, own_test_split=data is None)] if note)
    for note in notes:
        console.print(f"[yellow]warning:[/] {note}")
    return evaluate_arrays(run_dir, out, images, kept, notes=notes, data=None if data is None else str(data), precision=precision), out


def test_set_warning(run_dir: Path, root: Path, samples: list[Sample], own_test_split: bool) -> str | None:
    """A warning when the images evaluated are not, byte for byte, the test set recorded at training."""
    provenance = run_dir / PROVENANCE_FILE
    if not provenance.is_file():
        return None  # a run from before provenance was recorded
    recorded = json.loads(provenance.read_text(encoding="utf-8"))["data"]
    if content_hash(root, samples) == recorded["test_content_sha256"]:
        return None
    if own_test_split:
        return (f"the test images in {root} changed since training (content hash differs from {provenance.name}): "
                "these metrics are not those of the recorded test set")
    return (f"{root} is not this run's test set (content hash differs from the one recorded in {provenance.name}): "
            "its images may overlap the training data")


def write_predictions(path: Path, samples: list[Sample], probs: np.ndarray, threshold: float = 0.5) -> None:
    rows = (
        {"path": s.path, "subject": s.subject, "label": CLASSES[s.label], "prob_palsy": f"{p:.6f}", "predicted": CLASSES[int(p >= threshold)]}
        for s, p in zip(samples, probs)
    )
    atomic_write_csv(path, ["path", "subject", "label", "prob_palsy", "predicted"], rows)
