"""The comparison table of runs and cross-validations (``compare``, ``reproduce``): one row per folder that says
which run it is (folder, model, model input, protocol, data, n) and how well it did (the paper's four metrics, and
ROC AUC, sensitivity and specificity with subject-bootstrap intervals), the paper's published rows beside them when
asked, as Markdown and CSV.

Rows are only comparable on the same images. When the folders were tested on different images, the table says so,
counts the images every folder was tested on and, if there are any, scores every folder again on those alone.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facepalsy.data.dataset import CLASSES
from facepalsy.errors import FacepalsyError
from facepalsy.evaluation.metrics import binary_metrics, bootstrap_ci
from facepalsy.evaluation.report import PROTOCOL_TEXT
from facepalsy.evaluation.results import CvSummary, Evaluation, Scores, percent
from facepalsy.files import atomic_write_csv, atomic_write_text
from facepalsy.models.baseline import canonical_name
from facepalsy.runfolder import CvFolder, OutputFolder, RunFolder, read_json

# Table 1 of the paper (frame split, YFP + normals), in %.
PUBLISHED = [
    {
        "model": "VGG16 (published)",
        "protocol": "frame split",
        "accuracy": 88.47,
        "recall": 83.55,
        "precision": 92.15,
        "f1": 87.64,
        "threshold": "0.5 (argmax)",
    },
    {
        "model": "VGG19 (published)",
        "protocol": "frame split",
        "accuracy": 81.95,
        "recall": 72.44,
        "precision": 88.58,
        "f1": 79.70,
        "threshold": "0.5 (argmax)",
    },
]
COLUMNS = (
    "model",
    "run",
    "input",
    "protocol",
    "data",
    "n",
    "accuracy",
    "recall",
    "precision",
    "f1",
    "roc_auc",
    "sensitivity",
    "specificity",
    "threshold",
)
HEADERS = {
    **{key: f"{key} %" for key in ("accuracy", "recall", "precision")},
    "f1": "F1 %",
    "roc_auc": "ROC AUC (95% CI)",
    "sensitivity": "sensitivity % (95% CI)",
    "specificity": "specificity % (95% CI)",
}


@dataclass
class ComparedFolder:
    """A run or cross-validation folder as the table sees it: what it is, its scores and its test predictions."""

    path: Path
    model: str
    model_input: str
    protocol: str
    data: str
    scores: Scores
    predictions: list[dict]  # path, subject, label, prob_palsy, threshold of every test (out-of-fold) image

    @property
    def images(self) -> set[str]:
        return {str(Path(self.data) / row["path"]) for row in self.predictions}


def _predictions(run: RunFolder) -> list[dict]:
    with run.predictions.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def read_folder(path: Path) -> ComparedFolder:
    """A finished run, or a cross-validation folder (its pooled out-of-fold scores); refused otherwise."""
    cv, run = CvFolder(path), RunFolder(path)
    if cv.results.is_file():
        result = CvSummary.from_dict(read_json(cv.results))
        folds = [RunFolder(path / fold.run) for fold in result.folds]
        config = folds[0].read_config()
        spec = folds[0].read_model()[0]
        predictions = [row for fold in folds for row in _predictions(fold)]
        protocol, scores = f"{result.protocol} ({len(result.folds)} folds)", result.pooled
    else:
        if not run.config.is_file():
            raise FacepalsyError(f"{path}: not a finished run or cross-validation folder ({run.config.name} not found)")
        run.require_finished()
        config, spec = run.read_config(), run.read_model()[0]
        predictions = _predictions(run)
        protocol, scores = f"{config.split} split", Evaluation.read(run)
    return ComparedFolder(
        path=path,
        model=model_name(config.backbone),
        model_input=spec.face.label(),
        protocol=protocol,
        data=str(config.root.resolve()),
        scores=scores,
        predictions=predictions,
    )


def model_name(backbone: str) -> str:
    """How the table names a model: VGG16, VGG11 + BN, landmarks."""
    name = canonical_name(backbone)
    return name.upper().replace("_BN", " + BN") if name.startswith("vgg") else name


def _auc(value: float | None, interval: list[float] | None) -> str:
    """A ROC AUC and its interval, as fractions with three decimals (percentages are ``results.percent``)."""
    if value is None:
        return "n/a"
    return f"{value:.3f}" + (f" ({interval[0]:.3f}–{interval[1]:.3f})" if interval else "")


def _folder_row(folder: ComparedFolder, scores: Scores | None = None) -> dict:
    """One table row: the folder's identity and its scores (``scores``: on a subset of its images)."""
    s = scores or folder.scores
    return {
        "model": folder.model,
        "run": folder.path.name,
        "input": folder.model_input,
        "protocol": folder.protocol,
        "data": Path(folder.data).name,
        "n": s.n,
        **{k: round(100 * getattr(s, k), 2) for k in ("accuracy", "recall", "precision", "f1")},
        "roc_auc": _auc(s.roc_auc, s.ci95.get("roc_auc")),
        "sensitivity": percent(s.recall, s.ci95.get("recall"), 1),
        "specificity": percent(s.specificity, s.ci95.get("specificity"), 1),
        "threshold": "per fold" if s.threshold is None else round(s.threshold, 3),
        "path": str(folder.path),
    }


def scores_on(folder: ComparedFolder, images: set[str], seed: int = 0) -> Scores:
    """The folder's scores on the given images only, each labelled at the threshold it was labelled at."""
    rows = [row for row in folder.predictions if str(Path(folder.data) / row["path"]) in images]
    y = np.array([CLASSES.index(row["label"]) for row in rows])
    prob = np.array([float(row["prob_palsy"]) for row in rows])
    thresholds = np.array([float(row["threshold"]) for row in rows])
    if len(np.unique(thresholds)) == 1:
        thresholds = thresholds[0]  # one run's own threshold, shown as such
    ci95 = bootstrap_ci(y, prob, [row["subject"] for row in rows], thresholds, n_boot=300, seed=seed)
    return Scores(**binary_metrics(y, prob, thresholds), ci95=ci95)


@dataclass
class Comparison:
    """The table's rows, and whether they were tested on the same images."""

    rows: list[dict]
    same_images: bool
    shared: int  # images every folder was tested on
    counts: dict[str, int]  # folder name: its number of test images
    shared_rows: list[dict]  # every folder scored on the shared images, when the test sets differ and some are shared

    def notes(self) -> list[str]:
        """What a reader must know before comparing the rows."""
        if self.same_images or len(self.counts) < 2:
            return []
        counts = ", ".join(f"{name} {n}" for name, n in self.counts.items())
        note = f"**The test sets differ** ({counts} images): the rows above are not scored on the same images. "
        if not self.shared:
            return [note + "No image is in every test set, so the folders cannot be compared on shared images."]
        return [note + f"{self.shared} images are in every test set; on those alone:"]

    def markdown(self) -> str:
        lines = [_markdown_table(self.rows), *self.notes()]
        if self.shared_rows:
            lines += ["", _markdown_table(self.shared_rows)]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _markdown_table(rows: list[dict]) -> str:
    header = "| " + " | ".join(HEADERS.get(c, c) for c in COLUMNS) + " |"
    body = ["| " + " | ".join(str(row.get(c, "—")) for c in COLUMNS) + " |" for row in rows]
    return "\n".join([header, "|" + "---|" * len(COLUMNS), *body])


def compare(run_dirs: list[Path], published: bool = False) -> Comparison:
    """Compare folders; with ``published`` the paper's rows come last (they have no n, AUC or images)."""
    folders = [read_folder(Path(p)) for p in run_dirs]
    sets = [folder.images for folder in folders]
    shared = set.intersection(*sets) if sets else set()
    same = all(s == sets[0] for s in sets)
    shared_rows = [] if same or not shared else [_folder_row(f, scores_on(f, shared)) for f in folders]
    return Comparison(
        rows=[_folder_row(folder) for folder in folders] + (PUBLISHED if published else []),
        same_images=same,
        shared=len(shared),
        counts={folder.path.name: len(s) for folder, s in zip(folders, sets)},
        shared_rows=shared_rows,
    )


def write_comparison(comparison: Comparison, out: Path) -> tuple[Path, Path]:
    """Write ``comparison.md`` and ``comparison.csv`` into ``out``."""
    md, csv_path = OutputFolder(out).comparison, OutputFolder(out).comparison_table
    kinds = sorted({"frame" if r["protocol"].startswith("frame") else "subject" for r in comparison.rows})
    note = "\n".join(f"- {PROTOCOL_TEXT[kind]}" for kind in kinds)
    title = "# Model comparison (%, positive class palsy; ROC AUC as a fraction)"
    atomic_write_text(md, f"{title}\n\n{comparison.markdown()}\n{note}\n")
    atomic_write_csv(csv_path, [*COLUMNS, "path"], comparison.rows)
    return md, csv_path
