"""The model card: what a reviewer needs to judge a run, filled from the run, under TRIPOD+AI item numbers.

TRIPOD+AI (Collins et al., BMJ 2024) lists what a report of a prediction model built with machine
learning must state. Software can fill the items about data, preprocessing, protocol, model,
calibration, threshold and performance; items only the authors know (setting, eligibility,
ethics, funding, patient involvement) are named and left to them. The card is ``model_card.md`` in
every run and cross-validation folder, and a section of their reports.

Subgroup tables (per data source, and per any manifest column asked for) come from the images'
predictions joined with the data folder's ``manifest.csv``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facepalsy.config import Config
from facepalsy.data.dataset import CLASSES, manifest_rows
from facepalsy.evaluation.metrics import binary_metrics, bootstrap_ci
from facepalsy.evaluation.results import percent
from facepalsy.models.spec import ModelSpec
from facepalsy.runfolder import Exclusions, RunFolder, read_json

SOURCE_COLUMNS = ("source", "source_repo", "dataset")  # a manifest column naming where each image came from
INTENDED_USE = (
    "Research use: to study automated detection of facial palsy from face photos and video frames, and to reproduce "
    "and compare published methods. **Not a diagnostic device**: it has no regulatory clearance, was not validated "
    "prospectively, and its output must not be used to diagnose, grade or treat a patient. A verdict is a model's "
    "estimate on one image; it says nothing about the cause (Bell's palsy, stroke, trauma) or the severity."
)
LIMITS = (
    "Performance on photos from other sources (cameras, lighting, ethnicity, age, expressions) is unknown until "
    "measured there; data sets that take the two classes from different sources let a model learn the source (see "
    "the shortcut audit); the frame protocol overstates accuracy on new patients; labels are those of the data "
    "folder, unverified by this software."
)
AUTHORS_ONLY = (
    "setting and dates of data collection (5b), eligibility of participants (6), outcome assessment and "
    "blinding (8), ethics approval (17), funding and conflicts (18a–b), protocol and registration (18c–d), "
    "patient and public involvement (19)"
)


def subgroup_columns(manifest: dict[str, dict[str, str]], asked: list[str]) -> tuple[list[str], list[str]]:
    """The columns to tabulate (the data-source column if there is one, then those asked for) and those asked for but
    absent."""
    present = set(next(iter(manifest.values()), {}))
    source = [c for c in SOURCE_COLUMNS if c in present][:1]
    columns = list(dict.fromkeys(source + [c for c in asked if c in present]))
    return columns, [c for c in asked if c not in present]


def _subgroup_rows(
    predictions: list[dict], manifest: dict[str, dict[str, str]], column: str, seed: int = 0
) -> list[dict]:
    """Performance per value of one manifest column, from prediction rows (path, subject, label, prob_palsy,
    threshold)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for row in predictions:
        groups[(manifest.get(row["path"]) or {}).get(column) or "(not in manifest)"].append(row)
    result = []
    for value, rows in sorted(groups.items()):
        y = np.array([CLASSES.index(r["label"]) for r in rows])
        prob = np.array([float(r["prob_palsy"]) for r in rows])
        threshold = np.array([float(r["threshold"]) for r in rows])
        metrics = binary_metrics(y, prob, threshold)
        ci = bootstrap_ci(y, prob, [r["subject"] for r in rows], threshold, n_boot=300, seed=seed)
        result.append(
            {
                "value": value,
                "n": len(rows),
                "palsy": int(y.sum()),
                "normal": int((1 - y).sum()),
                **{k: metrics[k] for k in ("accuracy", "recall", "specificity", "roc_auc")},
                "ci95": ci,
            }
        )
    return result


def subgroup_lines(tables: dict[str, list[dict]], missing: list[str]) -> list[str]:
    lines = []
    for column, rows in tables.items():
        lines += [
            f"Per `{column}` (% with subject-bootstrap 95% CI; recall needs palsy images, specificity normal ones):",
            "",
            "| value | n | palsy | normal | accuracy | recall | specificity | ROC AUC |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            ci = r["ci95"]
            lines.append(
                f"| {r['value']} | {r['n']} | {r['palsy']} | {r['normal']} "
                f"| {percent(r['accuracy'], ci['accuracy'], 1)} | "
                f"{percent(r['recall'] if r['palsy'] else None, ci['recall'], 1)} | "
                f"{percent(r['specificity'] if r['normal'] else None, ci['specificity'], 1)} "
                f"| {percent(r['roc_auc'], ci['roc_auc'], 1)} |"
            )
        lines.append("")
    if not tables:
        lines += [
            "No subgroup column: the manifest names no data source (`source`, `source_repo` or `dataset`) and none was "
            "asked for with `--subgroup COLUMN`.",
            "",
        ]
    if missing:
        lines += [f"Asked for with `--subgroup` but not in the manifest: {', '.join(missing)}.", ""]
    return lines


def subgroup_section(data: Path, asked: str | None, predictions: list[dict], seed: int = 0) -> list[str]:
    """The card's subgroup tables: per data source and per manifest column asked for (comma-separated)."""
    manifest = manifest_rows(data)
    columns = [c.strip() for c in str(asked or "").split(",") if c.strip()]
    present, missing = subgroup_columns(manifest, columns) if manifest else ([], columns)
    return subgroup_lines({c: _subgroup_rows(predictions, manifest, c, seed=seed) for c in present}, missing)


def landmark_model_sentence(seed: int) -> str:
    """The landmark model's model and hyperparameters item: it has no network, epochs or learning rate."""
    return (
        "`landmarks`: region measures and mirrored face-mesh offsets of the aligned face, scaled by healthy faces "
        "of the same expression → logistic regression and an RBF support-vector machine with Platt's sigmoid, the "
        f"mean of their log-odds (`models/baseline.py`); fitted once on the training images, seed {seed}. "
        "Internal validation: the protocol above."
    )


def left_out_notes(unreadable: int, no_face: int, folder, in_test: int | None = None) -> tuple[str, ...]:
    """Report lines for images a run or evaluation could not use; ``in_test``: for a run's own images, how many of
    those without a usable face fell in its test split (counted there as no verdict)."""
    notes = []
    if unreadable:
        notes.append(f"Unreadable images skipped (--skip-bad): {unreadable}, listed in `{folder.bad_images.name}`.")
    if no_face:
        where = "" if in_test is None else f" in the whole data set, {in_test} of them in the test split"
        notes.append(
            f"Images without a usable face, which this model needs, so without a verdict: {no_face}{where}, listed "
            f"in `{folder.no_face.name}`."
        )
    return tuple(notes)


def run_exclusion_notes(run: RunFolder) -> tuple[str, ...]:
    """The run's own left-out images in report lines, from ``excluded.json``."""
    found = run.read_exclusions()
    return left_out_notes(found.unreadable, found.no_face, run, found.no_face_test) if found else ()


def exclusions_sentence(
    unreadable: int, no_face: int, folder, cannot_read: int = 0, excluded: Exclusions | None = None
) -> str:
    """What was left out and where it is listed (``folder``: a run, result or cross-validation folder);
    ``cannot_read``: faces the landmark model measured but could not read reliably (each with its reason in
    ``predict``); ``excluded``: for a run's own test split, the run's ``excluded.json`` (the whole data set's
    counts), so that the card, the report and ``metrics.json`` say one number each."""
    if excluded:
        return (
            f"Test images without a usable face, no verdict: {no_face} (of {excluded.no_face} in the whole "
            f"data set, `{folder.no_face.name}`); test faces that could not be read reliably, no verdict: "
            f"{cannot_read}; unreadable images left out of the run: {excluded.unreadable} "
            f"(`{folder.bad_images.name}`). No image was dropped silently."
        )
    return (
        f"Unreadable images left out: {unreadable} (`{folder.bad_images.name}`); images without a usable face, "
        f"no verdict: {no_face} (`{folder.no_face.name}`); faces that could not be read reliably, no verdict: "
        f"{cannot_read}. No image was dropped silently."
    )


@dataclass(frozen=True)
class CardFacts:
    """What every model card says alike of a trained model, gathered once (``card_facts``) for runs, their
    evaluations on other data and cross-validations."""

    data_hash: str  # the training data's content hash, or where to find it
    preprocessing: str
    model: str
    code: str  # facepalsy's version and commit, the data hash and where the package versions are


def card_facts(run: RunFolder, config: Config, spec: ModelSpec, folds: int = 0, elsewhere: bool = False) -> CardFacts:
    """The shared facts of ``run``'s card; ``folds``: a cross-validation's (from its first fold's files, one model
    per fold); ``elsewhere``: an evaluation on other data, whose files have their own provenance."""
    provenance = read_json(run.provenance) if run.provenance.is_file() else {"data": {}, "environment": {}}
    data_hash = (
        "see provenance of the evaluated files"
        if elsewhere
        else provenance["data"].get("content_sha256", "not recorded")
    )
    augment = (
        f"augmentation rotation ±{config.rotation_degrees}°, shift {config.shift_fraction}, scale "
        f"{config.scale_range}, flips"
        if config.augment
        else "no augmentation"
    )
    kept = (
        "one model per fold"
        if folds
        else "the epoch with the lowest validation loss is kept. Internal validation: the protocol above"
    )
    versions = "package versions in each fold's `provenance.json`" if folds else "all package versions in "
    return CardFacts(
        data_hash=data_hash,
        preprocessing=(
            f"{spec.face.describe()}; {spec.image_size}×{spec.image_size} px, normalised with mean "
            f"{spec.preprocess.mean} and std {spec.preprocess.std}; {augment}."
            if spec.is_cnn
            else f"{spec.face.describe()}; the face mesh is measured on the {spec.image_size} px face crop."
        ),
        model=landmark_model_sentence(config.seed)
        if not spec.is_cnn
        else (
            f"`{config.backbone}`, weights {weights_text(config.weights, provenance)}, "
            f"{'fine-tuned' if config.finetune else 'frozen backbone, head trained'}; {config.epochs} epochs, batch "
            f"{config.batch_size}, Adam lr {config.lr}, seed {config.seed}; {kept}."
        ),
        code=code_sentence(provenance, data_hash, versions + ("" if folds else f"`{run.provenance.name}`")),
    )


def weights_text(weights: str, provenance: dict) -> str:
    """The starting weights as the run's provenance names them: the file, and a package's name, version and hash."""
    named = provenance.get("weights") or {}
    if named.get("package"):
        return (
            f"{weights} ({named['file']} from the package {named['package']} {named['version']}, "
            f"SHA-256 {named['sha256'][:16]}…)"
        )
    return f"{weights} ({named['file']})" if named.get("file") else str(weights)


def code_sentence(provenance: dict, data_hash: str, versions: str) -> str:
    """The code version and data hash from a run's provenance; ``versions`` says where the package versions are."""
    environment = provenance.get("environment") or {}
    return (
        f"facepalsy {environment.get('facepalsy', '?')}, git commit "
        f"{environment.get('facepalsy_git_commit') or 'unknown'}; torch {environment.get('torch', '?')}; "
        f"data content SHA-256 {data_hash}; {versions}."
    )


@dataclass
class ModelCard:
    """A model card: the facts gathered from a run (``evaluation.report.run_card``) or a cross-validation
    (``evaluation.cv_report.cv_card``), rendered under TRIPOD+AI item numbers by one renderer."""

    title: str
    data: str
    data_hash: str
    count_lines: list[str]
    exclusions: str
    preprocessing: str
    protocol: str
    model: str
    balance: str
    calibration: str
    threshold: str
    performance_lines: list[str]
    subgroup_lines: list[str]
    code: str

    def document(self) -> str:
        """``model_card.md``: the title and the body."""
        return "\n".join([f"# Model card: {self.title}", "", *self.markdown()])

    def markdown(self) -> list[str]:
        """The card's body as Markdown lines (a section of the report, and ``model_card.md``)."""
        item = lambda number, title: [f"### {title} (TRIPOD+AI {number})", ""]  # noqa: E731
        return [
            *item("5a, 20b", "Data sources and counts"),
            f"Data folder `{self.data}` (content SHA-256 `{self.data_hash}`).",
            "",
            *self.count_lines,
            "",
            *item("7, 11", "Exclusions and unusable images"),
            self.exclusions,
            "",
            *item("7, 9", "Preprocessing and model input"),
            self.preprocessing,
            "",
            *item("12a, 16", "Protocol and leakage check"),
            self.protocol,
            "",
            *item("12c, 22", "Model and hyperparameters"),
            self.model,
            "",
            *item("13", "Class balance"),
            self.balance,
            "",
            *item("12f, 15", "Calibration, operating threshold and how it was chosen"),
            self.calibration,
            "",
            self.threshold,
            "",
            *item("12e, 23a", "Performance with 95% confidence intervals"),
            *self.performance_lines,
            "",
            *item("14, 23b", "Performance per subgroup"),
            *self.subgroup_lines,
            *item("25–27", "Intended use and limits"),
            INTENDED_USE,
            "",
            "Limits: " + LIMITS,
            "",
            *item("18e–f", "Code version and data hash"),
            self.code,
            "",
            *item("5b, 6, 8, 17, 18a–d, 19", "Left to the authors"),
            f"Not known to the software, to be stated by the authors: {AUTHORS_ONLY}.",
            "",
        ]
