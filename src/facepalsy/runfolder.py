"""The run folder: its layout, creation rules, and rebuilding a trained model from it alone."""

from __future__ import annotations

import csv
import fcntl
import hashlib
import importlib.metadata
import os
import platform
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from facepalsy.training.augment import Preprocess
from facepalsy.training.config import Config
from facepalsy.data.dataset import CLASSES, Sample
from facepalsy.errors import FacepalsyError
from facepalsy.io import atomic_write, atomic_write_csv, atomic_write_json
from facepalsy.models.vgg import VGGClassifier, create_model

MODEL_FILE = "model.pt"
CONFIG_FILE = "config.yaml"
SPLIT_FILE = "split.csv"
HISTORY_FILE = "history.csv"
LEAKAGE_FILE = "leakage.json"
VALIDATION_FILE = "validation.json"
HISTORY_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")
LAST_CHECKPOINT = "checkpoints/last.ckpt"
LOCK_FILE = ".lock"
PROVENANCE_FILE = "provenance.json"
FORMAT_VERSION = 1


def is_rank_zero() -> bool:
    """True in the one process that writes the run folder.

    Under DDP every process runs the same command (Lightning's launcher re-runs it; torchrun and
    SLURM start it per process); only global rank 0 creates, writes and evaluates.
    """
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return rank_zero_only.rank == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def prepare_run_folder(out: Path, overwrite: bool = False, resume: bool = False, needed_bytes: int = 0) -> Path:
    """Create ``out``; refuse an existing non-empty folder unless asked to overwrite or resume.

    Fails before any work when the folder cannot be written or its disk lacks ``needed_bytes``.
    Call it under ``run_folder_lock(out)``.
    """
    out = Path(out)
    if resume:
        if not (out / LAST_CHECKPOINT).is_file():
            hint = " (it stopped before its first epoch ended; start it again with --overwrite)" if (out / CONFIG_FILE).is_file() else ""
            raise FacepalsyError(f"{out}: nothing to resume ({LAST_CHECKPOINT} not found){hint}")
        for stale in out.rglob(".*.tmp"):  # a write cut short by SIGKILL; the file it was replacing is intact
            stale.unlink()
        check_writable(out, needed_bytes)
        return out
    existing = out.is_dir() and any(p.name != LOCK_FILE for p in out.iterdir())
    if existing and not overwrite:
        raise FacepalsyError(f"{out}: run folder already exists; pass --overwrite to replace it or --resume to continue it")
    if existing and not (out / CONFIG_FILE).is_file():
        raise FacepalsyError(f"{out}: --overwrite refused: not a facepalsy run folder (no {CONFIG_FILE}), nothing deleted")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FacepalsyError(f"{out}: cannot create the run folder ({exc.strerror or exc})") from exc
    if existing:  # config.yaml goes last, so a deletion cut short leaves a folder --overwrite still recognises
        for item in sorted(out.iterdir(), key=lambda item: item.name == CONFIG_FILE):
            if item.name == LOCK_FILE:
                continue
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item)
            else:
                item.unlink()
    check_writable(out, needed_bytes)
    return out


def check_writable(out: Path, needed_bytes: int = 0) -> None:
    """Write and delete a probe file, and compare free space with what the run will write."""
    try:
        with tempfile.TemporaryFile(dir=out) as probe:
            probe.write(b"facepalsy")
            probe.flush()
            os.fsync(probe.fileno())
        free = shutil.disk_usage(out).free
    except OSError as exc:
        raise FacepalsyError(f"{out}: cannot write to the run folder ({exc.strerror or exc}); choose another --out") from exc
    if free < needed_bytes:
        raise FacepalsyError(f"{out}: only {free / 1e6:.0f} MB free, the run needs about {needed_bytes / 1e6:.0f} MB; free space or choose another --out")


@contextmanager
def run_folder_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out/.lock`` (creating ``out``) so that a second run cannot write into it.

    The kernel releases the lock when the process ends, however it ends (SIGKILL included), so a
    stale lock file never blocks a later run.
    """
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise FacepalsyError(f"{out}: cannot create the run folder ({exc.strerror or exc}); choose another --out") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
            raise FacepalsyError(f"{out}: in use by another facepalsy run ({holder}); wait for it to end or choose another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock


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
        from facepalsy.models.baseline import AsymmetryClassifier

        return TrainedModel(AsymmetryClassifier(payload["baseline"]), config, Preprocess.from_dict(payload["preprocess"]), run_dir)
    model = create_model(config.backbone, num_classes=len(payload["classes"]), weights="none")
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise FacepalsyError(f"{path}: weights do not fit backbone {config.backbone} ({str(exc).splitlines()[0]})") from exc
    model.eval()
    return TrainedModel(model, config, Preprocess.from_dict(payload["preprocess"]), run_dir)


def content_hash(root: Path, samples: list[Sample]) -> str:
    """SHA-256 over each sample's path, label, subject and file bytes, in path order: any change to the data changes it."""
    digest = hashlib.sha256()
    for sample in sorted(samples, key=lambda s: s.path):
        digest.update(f"{sample.path}\0{sample.label}\0{sample.subject}\0".encode("utf-8", "surrogateescape"))
        try:
            digest.update(hashlib.sha256((root / sample.path).read_bytes()).digest())
        except OSError as exc:
            raise FacepalsyError(f"{root / sample.path}: cannot read ({exc.strerror or exc})") from exc
    return digest.hexdigest()


def environment() -> dict:
    """Versions of Python, torch and every installed distribution, and facepalsy's git commit when it runs from a checkout."""
    from facepalsy import __version__

    packages = sorted((d.metadata["Name"] or "?", d.version) for d in importlib.metadata.distributions())
    return {
        "python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
        "facepalsy": __version__, "facepalsy_git_commit": git_commit(), "packages": dict(packages),
    }


def git_commit() -> str | None:
    """The commit of the facepalsy checkout this code runs from (``-dirty`` with uncommitted changes); None when installed from a wheel."""
    package = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(package), *args], capture_output=True, text=True, timeout=10, check=True).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() / "src" / "facepalsy" != package:
            return None  # installed inside some other repository
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "HEAD") + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def write_provenance(out: Path, root: Path, samples: list[Sample], assignment: list[str]) -> None:
    """provenance.json: the software that trained the run and content hashes of its data and of its test set."""
    test = [s for s, part in zip(samples, assignment) if part == "test"]
    data = {"root": str(root), "images": len(samples), "content_sha256": content_hash(root, samples),
            "test_images": len(test), "test_content_sha256": content_hash(root, test)}
    atomic_write_json(out / PROVENANCE_FILE, {"environment": environment(), "data": data})


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
