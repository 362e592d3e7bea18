"""Markdown: the run report and its model card (the figures they show are drawn by ``facepalsy/plots.py``)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import yaml

from facepalsy.config import Config
from facepalsy.data.dataset import CLASSES
from facepalsy.evaluation.audit_result import read_audit
from facepalsy.evaluation.calibration import NOT_FITTED
from facepalsy.evaluation.check_result import read_leakage
from facepalsy.evaluation.model_card import (
    ModelCard,
    card_facts,
    exclusions_sentence,
    run_exclusion_notes,
    subgroup_section,
)
from facepalsy.evaluation.results import Evaluation, LeftOut, percent
from facepalsy.files import atomic_write_text
from facepalsy.models.spec import ModelSpec
from facepalsy.plots import plot_curves
from facepalsy.runfolder import OutputFolder, ResultFiles, RunFolder, read_json

PROTOCOL_TEXT = {
    "frame": (
        "**Frame split — the paper's protocol.** Images were split at random, stratified by class. "
        "Frames of one person land on both sides, so the model can recognise the person instead of "
        "the palsy, and these figures overstate accuracy on new patients. "
        "Train with `--split subject` for a subject-independent estimate."
    ),
    "subject": (
        "**Subject split — subject-independent.** No subject has images on both sides, so these "
        "figures estimate accuracy on patients the model has never seen."
    ),
    "leave-source-out": (
        "**Leave one source out — source-independent.** Each source of photos was held out whole in turn: "
        "neither its people nor its cameras, light or framing were seen in training, so these figures estimate "
        "what the model does on photos from somewhere new. A within-source k-fold cannot show a model that "
        "learned a source instead of the face."
    ),
}


def _split_summary(run: RunFolder) -> list[dict]:
    """Images and subjects per split and class, read from the run's split."""
    samples, parts = run.read_split()
    summary = []
    for part in ("train", "val", "test"):
        entry = {"split": part}
        for label, name in enumerate(CLASSES):
            of_class = [s for s, p in zip(samples, parts) if p == part and s.label == label]
            entry[name] = f"{len(of_class)} ({len({s.subject for s in of_class})} subjects)"
        summary.append(entry)
    return summary


def threshold_lines(run: RunFolder, spec: ModelSpec) -> list[str]:
    """Why the operating threshold is where it is, when its interval over validation subjects excludes 0.5."""
    point = spec.operating_point
    if not point or not point.interval or point.interval[0] <= 0.5 <= point.interval[1]:
        return []
    medians = (read_json(run.validation) if run.validation.is_file() else {}).get("median_prob_palsy", {})
    low, high = point.interval
    why = (
        f"on those images the median p(palsy) was {medians['palsy']:.3f} for palsy and {medians['normal']:.3f} "
        f"for normal ones, so the cut that separates them best lies {'below' if high < 0.5 else 'above'} 0.5"
        if {"palsy", "normal"} <= set(medians)
        else f"the cut that separates them best lies {'below' if high < 0.5 else 'above'} 0.5"
    )
    return [
        f"**Why the threshold is {point.threshold:.3f}, not 0.5:** rule `{point.rule}` chose it on "
        f"{point.validation_images} validation images, and its 95% interval over resampled validation subjects "
        f"({low:.3f}–{high:.3f}) excludes 0.5: {why}. The figures at 0.5 are below, for comparison.",
        "",
    ]


def write_report(run: RunFolder, out: ResultFiles, notes: tuple[str, ...] = ()) -> None:
    """Write the report (and the curves when the run has epochs) from the files in the run and in ``out``."""
    config = run.read_config()
    metrics = Evaluation.read(out)
    left_out = metrics.left_out or LeftOut()
    epochs = run.read_epochs()
    in_run = out.path.resolve() == run.path.resolve()
    audit = read_audit(run) if in_run else None
    guard = read_leakage(run) if in_run else None
    lines = [f"# facepalsy report: {config.backbone}", ""]
    if in_run:  # the run's own left-out images, said the same way whoever rewrites the report (train, evaluate)
        notes = (*run_exclusion_notes(run), *notes)
    if notes:
        lines += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    spec = run.read_model()[0]  # model.pt holds the weights too: read once
    lines += ["## Protocol", "", PROTOCOL_TEXT[config.split], "", f"Model input: {spec.face.describe()}.", ""]
    if in_run:
        parts = _split_summary(run)
        lines += [
            "| split | normal | palsy |",
            "|---|---|---|",
            *[f"| {p['split']} | {p['normal']} | {p['palsy']} |" for p in parts],
            "",
        ]
        if guard:
            lines += [guard.sentence(), ""]
        if audit:
            lines += audit.warning_lines()
    else:
        lines += [f"Evaluated on every image of `{metrics.data}`.", ""]
    (tn, fp), (fn, tp) = metrics.confusion_matrix
    lines += [
        "## Test metrics (positive class: palsy)",
        "",
        *metrics.chance_lines(),
        f"Labels at the {metrics.threshold_text}.",
        "",
        *threshold_lines(run, spec),
        *metrics.markdown_table(),
        "",
        "Intervals: percentile bootstrap over subjects (all images of a resampled subject move together); where every "
        "resample gives 0% or 100%, Wilson's score interval over "
        "the subjects instead, which does not collapse to a point.",
        "",
        f"Confusion matrix: TN {tn}, FP {fp}, FN {fn}, TP {tp}."
        + (
            f" Not in these figures: {left_out.no_face} images without a usable face and "
            f"{left_out.cannot_read or 0} faces the model could not read reliably (no verdict)."
            if left_out.no_face or left_out.cannot_read
            else ""
        ),
        "",
        "Sensitivity / specificity at 0.5 (argmax, as the paper): "
        f"{percent(metrics.sensitivity_at_half)} / {percent(metrics.specificity_at_half)}; "
        f"at the operating threshold {metrics.threshold:.3f}: "
        f"{percent(metrics.recall)} / {percent(metrics.specificity)}.",
        "",
        f"![confusion matrix]({out.confusion_matrix.name})",
        "",
    ]
    lines += metrics.calibration.markdown(out.reliability.name) if metrics.calibration else []
    if metrics.heatmaps == out.heatmaps.name:
        lines += [
            "## Where the network looked (Grad-CAM, palsy class)",
            "",
            "Most confident true positives, false positives and false negatives of the test set.",
            "",
            f"![Grad-CAM examples]({out.heatmaps.name})",
            "",
        ]
    elif metrics.heatmaps:
        lines += [f"Grad-CAM examples: {metrics.heatmaps}.", ""]
    if epochs and in_run:
        best = epochs.kept_epoch
        plot_curves(epochs, run.curves, title=f"{config.backbone} ({config.split} split)", best_epoch=best)
        lines += [
            "## Training curves",
            "",
            f"{len(epochs)} epochs; the model kept and tested is from epoch {best} (lowest validation loss).",
            "",
            f"![curves]({run.curves.name})",
            "",
        ]
    if audit:
        lines += audit.markdown()
    shown = {k: v for k, v in config.to_dict().items() if spec.is_cnn or k in LANDMARK_SETTINGS}
    lines += ["## Configuration", ""]
    if not spec.is_cnn:
        lines += [f"The settings the landmark model reads (`{run.config.name}` holds every setting).", ""]
    lines += ["```yaml", yaml.safe_dump(shown, sort_keys=False).rstrip(), "```", ""]
    card = run_card(run, spec, out, metrics, config, in_run)
    atomic_write_text(out.model_card, card.document())
    lines += ["## Model card", "", f"Also in `{out.model_card.name}`.", "", *card.markdown()]
    listed = []
    for attribute, what in RUN_FILES.items():
        path = next(
            (p for p in (getattr(f, attribute, None) for f in (out, run)) if p is not None and p.exists()), None
        )
        if path is not None:
            what = LANDMARK_MODEL_FILE if attribute == "model" and not spec.is_cnn else what
            listed.append(f"- `{os.path.relpath(path, out.path)}`: {what}")
    lines += ["## Files", "", *dict.fromkeys(listed), ""]
    atomic_write_text(out.report, "\n".join(lines))


def run_card(
    run: RunFolder, spec: ModelSpec, out: ResultFiles, metrics: Evaluation, config: Config, in_run: bool
) -> ModelCard:
    """The model card of a run (or of an evaluation of it on other data), from the files it wrote."""
    facts = card_facts(run, config, spec, elsewhere=not in_run)
    data = Path(metrics.data) if metrics.data else config.root
    if in_run:
        samples, parts = run.read_split()
        count_lines = [
            "| split | normal | palsy |",
            "|---|---|---|",
            *[f"| {p['split']} | {p['normal']} | {p['palsy']} |" for p in _split_summary(run)],
        ]
        labels = np.array([s.label for s in samples])
        balance = (
            f"{int((labels == 1).sum())} palsy and {int((labels == 0).sum())} normal images "
            f"({100 * labels.mean():.1f}% palsy); no resampling or class "
            "weights; the operating threshold is chosen on validation data."
        )
        guard = read_leakage(run)
        protocol = PROTOCOL_TEXT[config.split] + (" " + guard.sentence() if guard else "")
    else:
        (tn, fp), (fn, tp) = metrics.confusion_matrix
        count_lines = [f"Evaluated on every image of this folder: {tp + fn} palsy, {tn + fp} normal images."]
        balance = f"{tp + fn} palsy and {tn + fp} normal images in this evaluation."
        overlap = metrics.overlap
        protocol = overlap.protocol_text() if overlap else "External evaluation of a trained run."
    calibration_text = metrics.calibration.card_text() if metrics.calibration else NOT_FITTED
    point, left_out = spec.operating_point, metrics.left_out or LeftOut()
    with out.predictions.open(newline="", encoding="utf-8") as f:
        predictions = list(csv.DictReader(f))
    return ModelCard(
        title=config.backbone,
        data=str(data),
        data_hash=facts.data_hash,
        count_lines=count_lines,
        exclusions=exclusions_sentence(
            left_out.unreadable,
            left_out.no_face,
            out,
            left_out.cannot_read or 0,
            run.read_exclusions() if in_run else None,
        ),
        preprocessing=facts.preprocessing,
        protocol=protocol,
        model=facts.model,
        balance=balance,
        calibration=calibration_text,
        threshold=(
            f"Threshold {point.threshold:.3f}, rule `{point.rule}`, chosen "
            f"on {point.validation_images} validation images (never test)."
            if point
            else "Threshold 0.5: the run recorded no operating point."
        ),
        performance_lines=[*metrics.chance_lines(), *metrics.markdown_table()],
        subgroup_lines=subgroup_section(data, config.subgroup, predictions, config.seed),
        code=facts.code,
    )


# The settings a landmark run reads (training/landmarks.py): the network's (weights, epochs, lr, augmentation, …)
# stay in config.yaml but say nothing about it.
LANDMARK_SETTINGS = (
    "data",
    "backbone",
    "image_size",
    "split",
    "test_fraction",
    "val_fraction",
    "face_crop",
    "face_required",
    "harmonise",
    "subgroup",
    "operating_point",
    "seed",
    "skip_bad",
)
LANDMARK_MODEL_FILE = "the fitted landmark model (plain numbers) with its spec: face policy, operating threshold"
RUN_FILES = {  # RunFolder / ResultFiles attribute: what the file holds
    "config": "the resolved training configuration; enough to rebuild the run",
    "model": "the best model (lowest validation loss) with its spec: "
    "backbone, preprocessing, face policy, operating threshold",
    "last_checkpoint": "Lightning checkpoint of the last epoch, for --resume",
    "epochs": "loss and accuracy per epoch, train and validation (history.csv in older runs)",
    "split": "which image went to train, val or test",
    "leakage": "test images sharing a subject or a near-duplicate with training (the leakage guard)",
    "audit": "the shortcut audit: can file size, format, quality or colour alone tell the classes apart",
    "validation": "the kept model on validation data, and the operating threshold chosen there",
    "bad_images": "images skipped with --skip-bad, with the reason",
    "no_face": "images without the usable face this model needs: no verdict, with the reason",
    "provenance": "versions of Python, torch and every package, facepalsy's "
    "git commit, content hashes of the data and the test set",
    "metrics": "test metrics (fractions) at the operating threshold with subject-bootstrap "
    "95% intervals, confusion matrix [[tn, fp], [fn, tp]], ROC AUC",
    "predictions": "palsy probability, threshold and predicted label of every test image",
    "curves": "loss and accuracy curves",
    "confusion_matrix": "confusion matrix on the test split",
    "heatmaps": "Grad-CAM overlays of example true positives, false positives and false negatives",
    "reliability": "reliability diagram: observed palsy rate against predicted probability, calibrated and not",
    "model_card": "the model card (TRIPOD+AI items the software can fill)",
    "fingerprints": "SHA-256 and pHash of every training and validation image, for evaluate --data's overlap count",
    "logs": "Lightning's CSV log (metrics.csv, hparams.yaml)",
    "tensorboard": "TensorBoard events (--logger tensorboard)",
}


def write_explain_report(out: Path, predictor, results: list) -> Path:
    """report.md of ``facepalsy explain``: each overlay, grouped by predicted class."""
    lines = [
        f"# Grad-CAM: {predictor.spec.backbone} ({predictor.run.path})",
        "",
        "Red marks the regions that raised the palsy score most (Grad-CAM on the last convolution).",
        f"Labels at the {predictor.threshold_text()}.",
        "",
    ]
    for label in ("palsy", "normal"):
        chosen = [r for r in results if r.label == label]
        if chosen:
            lines += [f"## Predicted {label} ({len(chosen)})", ""]
            lines += [
                f"- `{r.source}`: p(palsy) = {r.prob_palsy:.3f}\n\n  ![{Path(r.cam).name}]({Path(r.cam).name})"
                for r in chosen
            ]
            lines.append("")
    failed = [r for r in results if not r.ok]
    if failed:
        lines += ["## Not explained", "", *[f"- `{r.source}`: {r.error}" for r in failed], ""]
    path = OutputFolder(out).report
    atomic_write_text(path, "\n".join(lines))
    return path
