"""The comparison table of runs and cross-validations (``compare``, ``reproduce``): one row per folder, the
paper's published rows beside them when asked, as Markdown and CSV."""

from __future__ import annotations

from pathlib import Path

from facepalsy.errors import FacepalsyError
from facepalsy.evaluation.report import PROTOCOL_TEXT
from facepalsy.evaluation.results import CvSummary, Evaluation
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


def comparison_rows(run_dirs: list[Path]) -> list[dict]:
    """One row of the paper's Table 1 per run (percentages): a training run's test metrics, or a
    cross-validation folder's pooled out-of-fold metrics."""
    rows = []
    for run_dir in map(Path, run_dirs):
        cv, run = CvFolder(run_dir), RunFolder(run_dir)
        if cv.results.is_file():
            result = CvSummary.from_dict(read_json(cv.results))
            backbone, protocol, metrics = (
                result.backbone,
                f"{result.protocol} ({len(result.folds)} folds)",
                result.pooled,
            )
        else:
            if not run.config.is_file():
                raise FacepalsyError(
                    f"{run_dir}: not a finished run or cross-validation folder ({run.config.name} not found)"
                )
            run.require_finished()
            config = run.read_config()
            backbone, protocol = config["backbone"], f"{config['split']} split"
            metrics = Evaluation.from_dict(run.read_metrics())
        rows.append(
            {
                "model": canonical_name(backbone).upper().replace("_BN", " + BN"),
                "protocol": protocol,
                **{k: round(100 * getattr(metrics, k), 2) for k in ("accuracy", "recall", "precision", "f1")},
                "threshold": "per fold" if metrics.threshold is None else round(metrics.threshold, 3),
                "run": str(run_dir),
            }
        )
    return rows


def comparison_markdown(rows: list[dict]) -> str:
    header = "| model | protocol | accuracy | recall | precision | F1 | threshold |\n|---|---|---|---|---|---|---|\n"
    body = "".join(
        f"| {r['model']} | {r['protocol']} | {r['accuracy']:.2f} | {r['recall']:.2f} "
        f"| {r['precision']:.2f} | {r['f1']:.2f} | {r['threshold']} |\n"
        for r in rows
    )
    return header + body


def write_comparison(rows: list[dict], out: Path) -> tuple[Path, Path]:
    """Write ``comparison.md`` and ``comparison.csv`` into ``out``."""
    md, csv_path = OutputFolder(out).comparison, OutputFolder(out).comparison_table
    kinds = sorted({"frame" if r["protocol"].startswith("frame") else "subject" for r in rows})
    note = "\n".join(f"- {PROTOCOL_TEXT[kind]}" for kind in kinds)
    atomic_write_text(
        md, "# Model comparison (%, positive class palsy)\n\n" + comparison_markdown(rows) + "\n" + note + "\n"
    )

    atomic_write_csv(csv_path, ["model", "protocol", "accuracy", "recall", "precision", "f1", "threshold", "run"], rows)
    return md, csv_path
