"""The run folder: its layout, creation rules, and rebuilding a trained model from it alone."""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from facepalsy.augment import Preprocess
from facepalsy.config import Config
from facepalsy.data import CLASSES, Sample
from facepalsy.errors import FacepalsyError
from facepalsy.io import atomic_write, atomic_write_csv
from facepalsy.models import VGGClassifier, create_model

MODEL_FILE = "model.pt"
CONFIG_FILE = "config.yaml"
SPLIT_FILE = "split.csv"
HISTORY_FILE = "history.csv"
LEAKAGE_FILE = "leakage.json"
VALIDATION_FILE = "validation.json"
HISTORY_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")
LAST_CHECKPOINT = "checkpoints/last.ckpt"
FORMAT_VERSION = 1


def is_rank_zero() -> bool:
    """True in the one process that writes the run folder.

    Under DDP every process runs the same command (Lightning's launcher re-runs it; torchrun and
    SLURM start it per process); only global rank 0 creates, writes and evaluates.
    """
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return rank_zero_only.rank == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def prepare_run_folder(out: Path, overwrite: bool = False, resume: bool = False) -> Path:
    """Create ``out``; refuse an existing non-empty folder unless asked to overwrite or resume."""
    out = Path(out)
    if resume:
        if not (out / LAST_CHECKPOINT).is_file():
            raise FacepalsyError(f"{out}: nothing to resume ({LAST_CHECKPOINT} not found)")
        return out
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FacepalsyError(f"{out}: run folder already exists; pass --overwrite to replace it or --resume to continue it")
        if not (out / CONFIG_FILE).is_file():
            raise FacepalsyError(f"{out}: --overwrite refused: not a facepalsy run folder (no {CONFIG_FILE}), nothing deleted")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def save_model(path: Path, model: VGGClassifier, config: Config, preprocess: Preprocess, epoch: int, val_loss: float) -> None:
    """The portable best checkpoint: weights plus everything needed to use them (loads with weights_only)."""
    payload = {
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "preprocess": preprocess.to_dict(),
        "classes": list(CLASSES),
        "epoch": epoch,
        "val_loss": val_loss,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def save_baseline(path: Path, classifier, config: Config, preprocess: Preprocess) -> None:
    """model.pt of the asymmetry baseline: its numbers instead of a state dict."""
    payload = {
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "preprocess": preprocess.to_dict(),
        "classes": list(CLASSES),
        "baseline": classifier.to_dict(),
    }
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


@dataclass
class TrainedModel:
    model: VGGClassifier  # or the asymmetry baseline's classifier
    config: Config
    preprocess: Preprocess
    run_dir: Path
    precision: str = "auto"  # inference precision: auto (bf16 where the hardware has it), bf16, fp32
    engine: object | None = None  # an alternative inference engine (OnnxEngine) used instead of the model


def load_run(run_dir: str | Path) -> TrainedModel:
    """Rebuild the trained model of a run folder, ready for inference (eval mode, CPU)."""
    run_dir = Path(run_dir)
    path = run_dir / MODEL_FILE
    if not path.is_file():
        raise FacepalsyError(f"{run_dir}: not a finished run folder ({MODEL_FILE} not found)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any failure to unpickle means the file is unusable
        raise FacepalsyError(f"{path}: cannot read checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        found = payload.get("format_version") if isinstance(payload, dict) else None
        raise FacepalsyError(f"{path}: checkpoint format {found!r} not supported (this facepalsy reads {FORMAT_VERSION})")
    config = Config.from_dict(payload["config"], source=str(path))
    if "baseline" in payload:
        from facepalsy.baseline import AsymmetryClassifier

        return TrainedModel(AsymmetryClassifier(payload["baseline"]), config, Preprocess.from_dict(payload["preprocess"]), run_dir)
    model = create_model(config.backbone, num_classes=len(payload["classes"]), weights="none")
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise FacepalsyError(f"{path}: weights do not fit backbone {config.backbone} ({str(exc).splitlines()[0]})") from exc
    model.eval()
    return TrainedModel(model, config, Preprocess.from_dict(payload["preprocess"]), run_dir)


def write_split(path: Path, samples: list[Sample], assignment: list[str]) -> None:
    rows = ({"path": s.path, "label": CLASSES[s.label], "subject": s.subject, "split": part} for s, part in zip(samples, assignment))
    atomic_write_csv(path, ["path", "label", "subject", "split"], rows)


def read_split(path: Path) -> tuple[list[Sample], list[str]]:
    if not path.is_file():
        raise FacepalsyError(f"{path}: split file not found")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    samples = [Sample(r["path"], CLASSES.index(r["label"]), r["subject"]) for r in rows]
    return samples, [r["split"] for r in rows]


def write_history(path: Path, rows: list[dict[str, float]]) -> None:
    atomic_write_csv(path, HISTORY_COLUMNS, rows)


def read_history(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
