"""The report of a cross-validation folder: ``report.md`` (per fold, pooled out-of-fold, per subject, calibration,
the shortcut audit) and its model card. It reads what the folds wrote; the training settings come as the config's
plain dictionary, so evaluation needs nothing from training."""

from __future__ import annotations

import csv
from pathlib import Path

from facepalsy.config import Config
from facepalsy.data.dataset import CLASSES, data_folders, scan_root
from facepalsy.evaluation.audit_result import read_audit
from facepalsy.evaluation.model_card import (
    ModelCard,
    card_facts,
    exclusions_sentence,
    subgroup_section,
)
from facepalsy.evaluation.results import CvSummary, LeftOut
from facepalsy.files import atomic_write_text
from facepalsy.models.operating_point import default_rule
from facepalsy.runfolder import CvFolder, RunFolder


def cv_card(cv: CvFolder, result: CvSummary, config: Config) -> ModelCard:
    """The model card of a cross-validation: data, protocol, pooled out-of-fold performance and calibration,
    subgroups."""
    folds = [RunFolder(cv.path / fold.run) for fold in result.folds]
    spec = folds[0].read_model()[0]
    facts = card_facts(folds[0], config, spec, folds=len(folds))
    rows = [row for fold in folds for row in read_predictions(fold)]
    subjects_of = {label: {r["subject"] for r in rows if r["label"] == label} for label in CLASSES}
    images_of = {label: sum(r["label"] == label for r in rows) for label in CLASSES}
    pooled = result.pooled
    return ModelCard(
        title=f"{result.backbone}, {result.protocol} cross-validation",
        data=", ".join(data_folders(config.data)),
        data_hash=facts.data_hash,
        count_lines=[
            "| class | images (out-of-fold) | subjects |",
            "|---|---|---|",
            *[f"| {c} | {images_of[c]} | {len(subjects_of[c])} |" for c in CLASSES],
        ],
        exclusions=exclusions_sentence(
            _lines(cv.bad_images),
            _lines(cv.no_face),
            cv,
            sum((fold.metrics.left_out or LeftOut()).cannot_read or 0 for fold in result.folds),
        ),
        preprocessing=facts.preprocessing,
        protocol=(
            f"{result.protocol_text} Protocol `{result.protocol}`, {len(result.folds)} folds; folds with a test "
            f"subject in training: {len(result.folds_with_test_subject_in_training)}."
        ),
        model=facts.model,
        balance=f"{images_of['palsy']} palsy and {images_of['normal']} normal "
        "images tested out of fold; no resampling or class weights.",
        calibration=pooled.calibration.card_text(),
        threshold="Each fold labels at its own threshold, rule "
        f"`{config.operating_point or default_rule(config.backbone)}`, "
        f"chosen on its validation images: {result.thresholds}.",
        performance_lines=[
            *pooled.chance_lines(),
            "Pooled per image:",
            "",
            *pooled.markdown_table(),
            "",
            "Per subject:",
            "",
            *result.per_subject.markdown_table(),
        ],
        subgroup_lines=subgroup_section(scan_root(config.data), config.subgroup, rows, config.seed),
        code=facts.code,
    )


def _lines(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip()) if path.is_file() else 0


def read_predictions(fold: RunFolder) -> list[dict]:
    with fold.predictions.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_cv_markdown(cv: CvFolder, result: CvSummary, config: Config) -> None:
    """Write the folder's report.md and model card; ``config``: the training settings."""
    lines = [
        f"# Cross-validation: {result.backbone}, protocol `{result.protocol}` ({len(result.folds)} folds)",
        "",
        result.protocol_text,
        "",
    ]
    audit = read_audit(cv)
    if audit:
        lines += audit.warning_lines()
    if result.protocol != "frame":
        lines += [
            "Folds with a test subject also in training: "
            f"**{len(result.folds_with_test_subject_in_training)}** (the guard refuses any).",
            "",
        ]
    lines += [
        *result.markdown(),
        f"![ROC]({cv.roc.name})",
        "",
        *result.pooled.calibration.markdown(cv.reliability.name),
    ]
    if audit:
        lines += audit.markdown()
    card = cv_card(cv, result, config)
    atomic_write_text(cv.model_card, card.document())
    lines += ["## Model card", "", f"Also in `{cv.model_card.name}`.", "", *card.markdown()]
    atomic_write_text(cv.report, "\n".join(lines))
