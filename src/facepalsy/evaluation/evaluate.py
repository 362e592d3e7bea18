"""Evaluation of a run through its Predictor: on its own test split, or on every image of another data folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facepalsy.data.dataset import CLASSES, Sample, load_images, scan_dataset, write_left_out
from facepalsy.errors import DataError, FacepalsyError
from facepalsy.evaluation.calibration import Calibration
from facepalsy.evaluation.check_result import Overlap
from facepalsy.evaluation.metrics import (
    binary_metrics,
    bootstrap_ci,
    calibration_summary,
    chance_check,
)
from facepalsy.evaluation.model_card import left_out_notes
from facepalsy.evaluation.report import write_report
from facepalsy.evaluation.results import Evaluation, LeftOut
from facepalsy.evaluation.validation import TemperatureChoice
from facepalsy.files import atomic_write_csv, atomic_write_json
from facepalsy.inference.predictor import Predictor, load
from facepalsy.inference.settings import InferenceSettings
from facepalsy.log import console
from facepalsy.models.operating_point import apply_temperature, is_palsy
from facepalsy.plots import plot_confusion_matrix, plot_reliability
from facepalsy.runfolder import Exclusions, ResultFiles, RunFolder, read_json
from facepalsy.runfolder.provenance import content_hash


def evaluate_arrays(
    predictor: Predictor,
    out: ResultFiles,
    images: np.ndarray,
    samples: list[Sample],
    notes: tuple[str, ...] = (),
    data: str | None = None,
    seed: int = 0,
    left_out: LeftOut | None = None,
    overlap: Overlap | None = None,
    features=None,
    details: bool = True,
) -> Evaluation:
    """Score decoded model inputs through the Predictor; write metrics, predictions, plots and report.

    Labels use the Predictor's threshold (the run's operating threshold unless overridden);
    sensitivity and specificity at 0.5 are kept beside them for comparison with argmax papers.
    ``features``: the images' pooled backbone features, when training computed them (``Predictor.probabilities``).
    ``details=False`` (a cross-validation fold): metrics and predictions only; no bootstrap intervals, chance
    check, calibration, figures or report (the pooled results have them).
    """
    probs = predictor.probabilities(images, features=features)
    unmeasured = np.isnan(probs)  # faces the landmark model could not measure or read reliably: no verdict
    if unmeasured.any():
        unread = _unread(predictor, images[unmeasured])
        keep = np.flatnonzero(~unmeasured)
        images, probs, samples = images[keep], probs[keep], [samples[i] for i in keep]
        before = left_out or LeftOut()
        left_out = LeftOut(
            before.unreadable,
            before.no_face + int(unmeasured.sum()) - unread,
            (before.cannot_read or 0) + unread if unread else before.cannot_read,
        )
        if not len(keep):
            raise DataError(
                f"no image got a verdict: {int(unmeasured.sum()) - unread} without a measurable face and {unread} "
                "that the model could not read reliably (predict gives each one's reason)"
            )
    labels = np.array([s.label for s in samples])
    subjects = [s.subject for s in samples]
    threshold = predictor.threshold
    scores = binary_metrics(labels, probs, threshold)
    at_half = binary_metrics(labels, probs, 0.5)
    out.path.mkdir(parents=True, exist_ok=True)
    result = Evaluation(
        **scores,
        sensitivity_at_half=at_half["recall"],
        specificity_at_half=at_half["specificity"],
        threshold_text=predictor.threshold_text(),
        operating_point=predictor.spec.operating_point,
        data=data,
        split="test split of the run" if data is None else "all images of the data folder",
        left_out=left_out or LeftOut(),
        overlap=overlap,
    )
    if details:
        result.ci95 = bootstrap_ci(labels, probs, subjects, threshold, seed=seed)
        result.chance = chance_check(labels, result.ci95)
        result.calibration = calibration_report(predictor, labels, probs, subjects, seed)
        result.heatmaps = write_heatmap_grid(out.heatmaps, predictor, images, samples, probs)
        title = f"{predictor.spec.backbone}: reliability ({len(labels)} images)"
        plot_reliability(result.calibration, out.reliability, title=title)
    atomic_write_json(out.metrics, result.to_dict())
    write_predictions(out.predictions, samples, probs, threshold)
    if not details:
        return result
    plot_confusion_matrix(
        np.array(result.confusion_matrix),
        out.confusion_matrix,
        title=f"{predictor.spec.backbone}, threshold {threshold:.3f}",
    )
    write_report(predictor.run, out, notes=notes)
    return result


def _unread(predictor: Predictor, images: np.ndarray) -> int:
    """How many of these inputs without a probability the landmark model measured but cannot read reliably."""
    if predictor.is_cnn:
        return 0
    from facepalsy.models.baseline import UNMEASURED_REASON

    return sum(reason != UNMEASURED_REASON for reason in predictor.model.image_reasons(images))


def calibration_report(
    predictor: Predictor, labels: np.ndarray, probs: np.ndarray, subjects: list[str], seed: int = 0
) -> Calibration:
    """Calibration of the probabilities the Predictor gives, and of the other kind (uncalibrated or
    temperature-scaled, or scaled by the temperature that was fitted but not kept) for comparison: Brier, ECE,
    intercept and slope with subject-bootstrap CIs, reliability curves; and the decision, in words."""
    temperature = predictor.spec.temperature
    kinds = {"as given": probs}
    choice = _temperature_choice(predictor.run)
    if choice and not choice.kept:
        kinds = {"uncalibrated": probs, "with the temperature not kept": apply_temperature(probs, choice.fitted)}
    if temperature:
        other = (
            apply_temperature(probs, 1.0 / temperature)
            if predictor.calibrated
            else apply_temperature(probs, temperature)
        )
        kinds = (
            {"calibrated": probs, "uncalibrated": other}
            if predictor.calibrated
            else {"uncalibrated": probs, "calibrated": other}
        )
    return Calibration(
        temperature,
        "calibrated" if temperature and predictor.calibrated else "uncalibrated",
        choice.sentence() if choice and choice.kept == bool(temperature) else None,
        {name: calibration_summary(labels, p, subjects, seed) for name, p in kinds.items()},
    )


def _temperature_choice(run: RunFolder | None) -> TemperatureChoice | None:
    """The run's decision on a temperature, from ``validation.json`` (None for runs from before it was recorded)."""
    if run is None or not run.validation.is_file():
        return None
    recorded = read_json(run.validation).get("calibration")
    return TemperatureChoice(**recorded) if recorded else None


def _pick_examples(
    labels: np.ndarray, probs: np.ndarray, per_group: int = 4, threshold: float = 0.5
) -> dict[str, np.ndarray]:
    """Indices of the most confident true positives, false positives and false negatives."""
    predicted = is_palsy(probs, threshold)
    groups = {
        "true positives": np.flatnonzero((labels == 1) & predicted),
        "false positives": np.flatnonzero((labels == 0) & predicted),
        "false negatives": np.flatnonzero((labels == 1) & ~predicted),
    }
    confidence = np.abs(probs - threshold)
    return {name: idx[np.argsort(-confidence[idx])][:per_group] for name, idx in groups.items()}


def write_heatmap_grid(
    path: Path, predictor: Predictor, images: np.ndarray, samples: list[Sample], probs: np.ndarray
) -> str | None:
    """Grad-CAM grid of example TP/FP/FN for the report; says why when it cannot be drawn."""
    from facepalsy.inference.explain import save_heatmap_grid

    if not predictor.is_cnn:
        return None  # the landmark model's evidence is its measures, in the report
    labels = np.array([s.label for s in samples])
    examples = _pick_examples(labels, probs, threshold=predictor.threshold)
    chosen = np.concatenate(list(examples.values())).astype(int)
    if len(chosen) == 0:
        return "no examples"
    try:
        heat = dict(zip(chosen.tolist(), predictor.gradcam(images[chosen])))
    except FacepalsyError as exc:
        return f"not drawn: {exc}"
    rows = {
        name: [(images[i], heat[i], float(probs[i]), samples[i].path) for i in idx] for name, idx in examples.items()
    }
    save_heatmap_grid(path, rows)
    return path.name


def evaluate_run(
    run_dir: str | Path,
    data: str | Path | None = None,
    out: str | Path | None = None,
    skip_bad: bool = False,
    progress: bool = True,
    settings: InferenceSettings | None = None,
) -> tuple[Evaluation, Path]:
    """Evaluate on the run's own test split, or on every image of another data folder, the model used as ``settings``
    say (the run's own threshold and probabilities by default).

    With ``skip_bad``, unreadable images are left out and listed in ``OUT/bad_images.txt``.
    """
    predictor = load(run_dir, settings)
    run = predictor.run
    config = run.read_config()
    if data is None:
        samples, parts = run.read_split()
        samples = [s for s, part in zip(samples, parts) if part == "test"]
        root = config.root
        results = ResultFiles(out) if out else run
    else:
        root = Path(data)
        samples = scan_dataset(root)
        results = ResultFiles(out) if out else run.eval_results(root)
    spec = predictor.spec
    images, kept, left_out = load_images(root, samples, spec.image_size, skip_bad, progress, spec.face)
    results.path.mkdir(parents=True, exist_ok=True)
    unreadable, no_face = write_left_out(results, left_out, root)
    overlap = None
    if data is None:
        notes = tuple(note for note in [test_set_warning(run, root, kept)] if note)
    else:
        overlap, note = training_overlap(run, root, kept, images)
        notes = (note,)
    for note in notes:
        console.print(f"[yellow]warning:[/] {note}" if overlap is None or overlap.found else note)
    if no_face:
        console.print(f"images without a usable face (no verdict): {no_face}, listed in {results.no_face}")
    notes = (*notes, *left_out_notes(unreadable, no_face, results))
    if data is None:  # the run's own test split: its images without a usable face were left out at training
        no_face += (run.read_exclusions() or Exclusions()).no_face_test
    metrics = evaluate_arrays(
        predictor,
        results,
        images,
        kept,
        notes=notes,
        data=None if data is None else str(data),
        seed=config.seed,
        left_out=LeftOut(unreadable, no_face),
        overlap=overlap,
    )
    return metrics, results.path


def test_set_warning(run: RunFolder, root: Path, samples: list[Sample]) -> str | None:
    """A warning when the images of the run's own test split are not, byte for byte, those recorded at training."""
    if not run.provenance.is_file():
        return None  # a run from before provenance was recorded
    recorded = read_json(run.provenance)["data"]
    if content_hash(root, samples) == recorded["test_content_sha256"]:
        return None
    return (
        f"the test images in {root} changed since training (content hash differs from {run.provenance.name}): "
        "these metrics are not those of the recorded test set"
    )


def training_overlap(
    run: RunFolder, root: Path, samples: list[Sample], images: np.ndarray
) -> tuple[Overlap | None, str]:
    """What an external data set shares with the run's training and validation images, counted, and a sentence saying
    it."""
    from facepalsy.evaluation.check import overlap_with_training, perceptual_hashes

    if not run.fingerprints.is_file():
        return None, (
            f"{run.fingerprints.name} not found in {run.path} (a run from before it was recorded): "
            f"whether {root} overlaps the training images cannot be checked"
        )
    overlap = overlap_with_training(
        read_json(run.fingerprints), [root / s.path for s in samples], perceptual_hashes(images)
    )
    return overlap, overlap.sentence(root)


def write_predictions(path: Path, samples: list[Sample], probs: np.ndarray, threshold: float | np.ndarray) -> None:
    """predictions.csv: each image's palsy probability and its label at the threshold used."""
    thresholds = np.broadcast_to(threshold, np.shape(probs))
    rows = (
        {
            "path": s.path,
            "subject": s.subject,
            "label": CLASSES[s.label],
            "prob_palsy": f"{p:.6f}",
            "threshold": f"{t:.10g}",
            "predicted": CLASSES[int(p >= t)],
        }
        for s, p, t in zip(samples, probs, thresholds)
    )
    atomic_write_csv(path, ["path", "subject", "label", "prob_palsy", "threshold", "predicted"], rows)
