"""Metrics as pure functions on arrays, and evaluation of a run on its test split or new data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn import metrics as skm

from facepalsy.data import CLASSES, Sample, load_images, scan_dataset
from facepalsy.io import atomic_write_csv, atomic_write_json, atomic_write_text
from facepalsy.run import SPLIT_FILE, load_run, read_split


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


def evaluate_arrays(run_dir: Path, out: Path, images: np.ndarray, samples: list[Sample], notes: tuple[str, ...] = (), data: str | None = None) -> dict:
    """Score decoded images with the run's best model; write metrics, predictions, plots and report."""
    from facepalsy.predict import predict_probabilities
    from facepalsy.report import plot_confusion_matrix, write_report

    trained = load_run(run_dir)
    probs = predict_probabilities(trained.model, trained.preprocess, images, trained.config.batch_size)
    labels = np.array([s.label for s in samples])
    result = binary_metrics(labels, probs)
    result["data"] = data or trained.config.data
    result["split"] = "test split of the run" if data is None else "all images of the data folder"
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "metrics.json", result)
    write_predictions(out / "predictions.csv", samples, probs)
    plot_confusion_matrix(np.array(result["confusion_matrix"]), out / "confusion_matrix.png", title=f"{trained.config.backbone} ({trained.config.split} split)")
    write_report(run_dir, out, notes=notes)
    return result


def evaluate_run(
    run_dir: str | Path, data: str | Path | None = None, out: str | Path | None = None, skip_bad: bool = False, progress: bool = True
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
    images, kept, bad = load_images(root, samples, config.image_size, skip_bad=skip_bad, progress=progress)
    if bad:
        atomic_write_text(out / "bad_images.txt", "".join(f"{b.path}\t{b.reason}\n" for b in bad))
    return evaluate_arrays(run_dir, out, images, kept, data=None if data is None else str(data)), out


def write_predictions(path: Path, samples: list[Sample], probs: np.ndarray, threshold: float = 0.5) -> None:
    rows = (
        {"path": s.path, "subject": s.subject, "label": CLASSES[s.label], "prob_palsy": f"{p:.6f}", "predicted": CLASSES[int(p >= threshold)]}
        for s, p in zip(samples, probs)
    )
    atomic_write_csv(path, ["path", "subject", "label", "prob_palsy", "predicted"], rows)
