"""Run folders: one typed class per kind of folder knows every file in it; no other module spells a file name.

A :class:`RunFolder` is what ``facepalsy train`` writes (and every fold of a cross-validation);
a :class:`CvFolder` holds the folds and the pooled results; :class:`ResultFiles` is what an
evaluation writes (into the run, or into ``RUN/eval-NAME``). Opening a trained model happens
here, once: :meth:`RunFolder.read_model`.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import yaml

from facepalsy.data.dataset import CLASSES, Sample
from facepalsy.data.model_input import FacePolicy
from facepalsy.errors import FacepalsyError
from facepalsy.files import atomic_write, atomic_write_csv, atomic_write_json, file_sha256
from facepalsy.models.operating_point import OperatingPoint
from facepalsy.models.spec import ModelSpec, Preprocess

CONFIG_FILE = "config.yaml"
LOCK_FILE = ".lock"
OWNER_FILE = ".lock.owner"  # who holds the lock, for the message a second writer gets
MODEL_FORMAT = 2  # model.pt: 2 carries a ModelSpec; 1 (before it) carried the training config and is still read
CHECKPOINT_FORMAT = 1  # checkpoints/last.ckpt, checked by --resume
HISTORY_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")


class UnfinishedRunError(FacepalsyError):
    """A run folder whose training or final writes did not complete."""


class ResultFiles:
    """What an evaluation writes: metrics, per-image predictions, figures and the report."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    metrics = property(lambda self: self.path / "metrics.json")
    predictions = property(lambda self: self.path / "predictions.csv")
    report = property(lambda self: self.path / "report.md")
    confusion_matrix = property(lambda self: self.path / "confusion_matrix.png")
    heatmaps = property(lambda self: self.path / "heatmaps.png")
    reliability = property(lambda self: self.path / "reliability.png")
    model_card = property(lambda self: self.path / "model_card.md")
    no_face = property(lambda self: self.path / "no_face.txt")
    bad_images = property(lambda self: self.path / "bad_images.txt")

    def read_metrics(self) -> dict:
        return read_json(self.metrics)


class _Locked:
    config = property(lambda self: self.path / CONFIG_FILE)
    lock_file = property(lambda self: self.path / LOCK_FILE)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock (creating the folder) so that a second process cannot write into it."""
        with _lock(self.path):
            yield

    def read_config(self) -> dict:
        """The training settings as written (a plain mapping; training re-validates them as a Config)."""
        return yaml.safe_load(self.config.read_text(encoding="utf-8"))


class RunFolder(ResultFiles, _Locked):
    """A training run: config, split, curves, the kept model with its spec, and its test results."""

    model = property(lambda self: self.path / "model.pt")
    onnx = property(lambda self: self.path / "model.onnx")
    onnx_int8 = property(lambda self: self.path / "model-int8.onnx")
    onnx_int8_check = property(
        lambda self: self.path / "model-int8.json"
    )  # its agreement with PyTorch fp32 on the validation images
    split = property(lambda self: self.path / "split.csv")
    history = property(lambda self: self.path / "history.csv")
    curves = property(lambda self: self.path / "curves.png")
    leakage = property(lambda self: self.path / "leakage.json")
    check = property(lambda self: self.path / "check.json")  # the shortcut audit of the training data
    validation = property(lambda self: self.path / "validation.json")
    provenance = property(lambda self: self.path / "provenance.json")
    fingerprints = property(lambda self: self.path / "fingerprints.json")  # of the training and validation images
    logs = property(lambda self: self.path / "logs")  # Lightning's CSVLogger: logs/metrics.csv, logs/hparams.yaml
    tensorboard = property(lambda self: self.path / "tensorboard")  # with --logger tensorboard
    mlruns = property(lambda self: self.path / "mlruns")  # with --logger mlflow and no MLFLOW_TRACKING_URI
    checkpoints = property(lambda self: self.path / "checkpoints")
    last_checkpoint = property(lambda self: self.path / "checkpoints" / "last.ckpt")
    complete = property(lambda self: self.path / "complete.json")  # written last, atomically: the run finished

    FINAL_FILES = ("model.pt", "metrics.json", "predictions.csv", "report.md")

    @property
    def run_id(self) -> str:
        """The first 16 hex digits of model.pt's SHA-256: an exported file names the model it came from."""
        return file_sha256(self.model)[:16]

    def mark_complete(self) -> None:
        """Write the completion marker, after every other file: the epochs done and the files the run holds."""
        files = sorted(
            p.name
            for p in self.path.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.name != self.complete.name
        )
        epochs = len(self.read_history()) if self.history.is_file() else None
        atomic_write_json(self.complete, {"format": 1, "epochs_completed": epochs, "files": files})

    @property
    def finished(self) -> bool:
        """Marked complete; or, for a run saved before the marker existed, holding all its final files after every
        epoch."""
        if self.complete.is_file():
            return True
        if not self.config.is_file() or not all((self.path / name).is_file() for name in self.FINAL_FILES):
            return False
        return not self.history.is_file() or len(self.read_history()) >= int(self.read_config().get("epochs") or 0)

    def require_finished(self) -> None:
        """Refuse an unfinished run with one line: what is missing, and how to complete it."""
        if self.finished or not self.config.is_file():
            return  # finished; or not a training folder at all, e.g. a model.pt travelling alone (read_model judges it)
        missing = [name for name in (*self.FINAL_FILES, self.complete.name) if not (self.path / name).is_file()]
        done = len(self.read_history()) if self.history.is_file() else 0
        planned = self.read_config().get("epochs")
        progress = (
            f"training stopped after epoch {done} of {planned}"
            if done < int(planned or 0)
            else "training ended but its final files were not all written"
        )
        fix = (
            f"`facepalsy train --resume --out {self.path}` completes it"
            if self.last_checkpoint.is_file()
            else "it stopped before its first epoch ended: start it again "
            f"with `facepalsy train ... --out {self.path} --overwrite`"
        )
        raise UnfinishedRunError(f"{self.path}: unfinished run ({progress}; missing: {', '.join(missing)}); {fix}")

    def eval_results(self, data: Path) -> ResultFiles:
        """Where ``evaluate --data DATA`` writes by default."""
        return ResultFiles(self.path / f"eval-{Path(data).resolve().name}")

    def prepare(self, overwrite: bool = False, resume: bool = False, needed_bytes: int = 0) -> "RunFolder":
        _prepare(self.path, overwrite, resume, needed_bytes, self.last_checkpoint)
        return self

    def discard(self) -> None:
        """Delete what a run that never finished an epoch wrote (the lock stays with its holder)."""
        for item in self.path.iterdir():
            if item.name in (LOCK_FILE, OWNER_FILE):
                continue
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item, ignore_errors=True)
            else:
                item.unlink(missing_ok=True)

    def save_model(
        self, spec: ModelSpec, *, state_dict: dict | None = None, baseline: dict | None = None, **info: Any
    ) -> None:
        """model.pt: the spec plus the weights (CNN) or numbers (baseline); loads with ``weights_only``."""
        payload = {"format_version": MODEL_FORMAT, "spec": spec.to_dict(), **info}
        if state_dict is not None:
            payload["state_dict"] = {k: v.detach().cpu() for k, v in state_dict.items()}
        if baseline is not None:
            payload["baseline"] = baseline
        atomic_write(self.model, lambda tmp: torch.save(payload, tmp))

    def read_model(self) -> tuple[ModelSpec, dict]:
        """The spec and the payload (``state_dict`` or ``baseline``) of model.pt, checked."""
        if not self.model.is_file():
            raise FacepalsyError(f"{self.path}: not a finished run folder ({self.model.name} not found)")
        try:
            payload = torch.load(self.model, map_location="cpu", weights_only=True)
        except Exception as exc:  # any failure to unpickle means the file is unusable
            raise FacepalsyError(f"{self.model}: cannot read checkpoint ({type(exc).__name__}: {exc})") from exc
        found = payload.get("format_version") if isinstance(payload, dict) else None
        if found == 1:
            return self._spec_from_format_1(payload), payload
        if found != MODEL_FORMAT:
            raise FacepalsyError(
                f"{self.model}: checkpoint format {found!r} not supported (this facepalsy reads {MODEL_FORMAT} and 1)"
            )
        return ModelSpec.from_dict(payload["spec"], source=str(self.model)), payload

    def _spec_from_format_1(self, payload: dict) -> ModelSpec:
        """Runs trained before the spec existed: rebuild it from their config and validation.json."""
        config = payload["config"]
        point = None
        if self.validation.is_file():
            recorded = read_json(self.validation)
            point = OperatingPoint(
                float(recorded["youden_threshold"]),
                "youden",
                recorded.get("recall"),
                recorded.get("specificity"),
                int(recorded.get("n", 0)),
            )
        crop = bool(config.get("face_crop"))
        return ModelSpec(
            config["backbone"],
            Preprocess.from_dict(payload["preprocess"]),
            FacePolicy(crop, crop),
            tuple(payload["classes"]),
            point,
        )

    def set_operating_point(self, point: OperatingPoint, temperature: float | None = None) -> ModelSpec:
        """Record the threshold and the temperature chosen on validation data in model.pt."""
        spec, payload = self.read_model()
        spec = dataclasses.replace(spec, operating_point=point, temperature=temperature)
        atomic_write(
            self.model, lambda tmp: torch.save({**payload, "format_version": MODEL_FORMAT, "spec": spec.to_dict()}, tmp)
        )
        return spec

    def write_split(self, samples: list[Sample], assignment: list[str]) -> None:
        rows = (
            {"path": s.path, "label": CLASSES[s.label], "subject": s.subject, "split": part}
            for s, part in zip(samples, assignment)
        )
        atomic_write_csv(self.split, ["path", "label", "subject", "split"], rows)

    def read_split(self) -> tuple[list[Sample], list[str]]:
        if not self.split.is_file():
            raise FacepalsyError(f"{self.split}: split file not found")
        with self.split.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        return [Sample(r["path"], CLASSES.index(r["label"]), r["subject"]) for r in rows], [r["split"] for r in rows]

    def write_history(self, rows: list[dict[str, float]]) -> None:
        atomic_write_csv(self.history, HISTORY_COLUMNS, rows)

    def read_history(self) -> list[dict[str, float]]:
        if not self.history.is_file():
            return []
        with self.history.open(newline="", encoding="utf-8") as f:
            return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]

    def write_fingerprints(
        self, root: Path, samples: list[Sample], assignment: list[str], hashes: np.ndarray | None
    ) -> None:
        """fingerprints.json: SHA-256 of every training and validation file and pHash of its model input,
        so that ``evaluate --data`` can count what an external set shares with them."""
        seen = [i for i, part in enumerate(assignment) if part != "test"]
        atomic_write_json(
            self.fingerprints,
            {
                "sha256": [file_sha256(root / samples[i].path) for i in seen],
                "phash": [hashes[i].tobytes().hex() for i in seen] if hashes is not None else [],
            },
        )

    def write_provenance(self, root: Path, samples: list[Sample], assignment: list[str]) -> None:
        """provenance.json: the software that trained the run and content hashes of its data and of its test set."""
        test = [s for s, part in zip(samples, assignment) if part == "test"]
        data = {
            "root": str(root),
            "images": len(samples),
            "content_sha256": content_hash(root, samples),
            "test_images": len(test),
            "test_content_sha256": content_hash(root, test),
        }
        atomic_write_json(self.provenance, {"environment": environment(), "data": data})


class CvFolder(_Locked):
    """A cross-validation: its plan and folds, one RunFolder per fold, and the pooled results."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    plan = property(lambda self: self.path / "cv_plan.json")  # protocol and number of folds, for --resume
    folds_table = property(lambda self: self.path / "folds.csv")
    results = property(lambda self: self.path / "cv.json")
    report = property(lambda self: self.path / "cv.md")
    roc = property(lambda self: self.path / "roc.png")
    reliability = property(lambda self: self.path / "reliability.png")
    model_card = property(lambda self: self.path / "model_card.md")
    no_face = property(lambda self: self.path / "no_face.txt")
    check = property(lambda self: self.path / "check.json")  # the shortcut audit of the data
    bad_images = property(lambda self: self.path / "bad_images.txt")

    def fold(self, k: int) -> RunFolder:
        return RunFolder(self.path / f"fold_{k:02d}")

    def prepare(self, overwrite: bool = False, resume: bool = False) -> "CvFolder":
        _prepare(self.path, overwrite, resume, 0, self.plan)
        return self


class ExamFolder:
    """What ``facepalsy exam`` writes for one person."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    document = property(lambda self: self.path / "exam.json")
    report = property(lambda self: self.path / "exam.md")
    chart = property(lambda self: self.path / "regions.png")  # movement per side and region
    timeline = property(lambda self: self.path / "timeline.png")  # video: region scores (and the CNN) over time

    def drawing(self, expression: str) -> Path:
        return self.path / f"landmarks_{expression}.png"

    def peak(self, region: str) -> Path:
        return self.path / f"peak_{region}.png"


class OutputFolder:
    """The other folders facepalsy writes: a video's verdict, an explanation, a comparison table."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    frames = property(lambda self: self.path / "frames.csv")  # predict VIDEO: probability per sampled frame
    timeline = property(lambda self: self.path / "timeline.png")
    report = property(lambda self: self.path / "report.md")  # explain
    comparison = property(lambda self: self.path / "comparison.md")  # compare, reproduce
    comparison_table = property(lambda self: self.path / "comparison.csv")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def is_rank_zero() -> bool:
    """True in the one process that writes the run folder.

    Under DDP every process runs the same command (Lightning's launcher re-runs it; torchrun and
    SLURM start it per process); only global rank 0 creates, writes and evaluates.
    """
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return rank_zero_only.rank == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def _prepare(out: Path, overwrite: bool, resume: bool, needed_bytes: int, resumable: Path) -> Path:
    """Create ``out``; refuse an existing non-empty folder unless asked to overwrite or resume.

    Fails before any work when the folder cannot be written or its disk lacks ``needed_bytes``.
    Call it under the folder's lock.
    """
    if resume:
        if not resumable.is_file():
            hint = (
                " (it stopped before its first epoch ended; start it again with --overwrite)"
                if (out / CONFIG_FILE).is_file()
                else ""
            )
            raise FacepalsyError(f"{out}: nothing to resume ({resumable.relative_to(out)} not found){hint}")
        for stale in out.rglob(".*.tmp"):  # a write cut short by SIGKILL; the file it was replacing is intact
            stale.unlink()
        check_writable(out, needed_bytes)
        return out
    existing = out.is_dir() and any(p.name not in (LOCK_FILE, OWNER_FILE) for p in out.iterdir())
    if existing and not overwrite:
        raise FacepalsyError(
            f"{out}: run folder already exists; pass --overwrite to replace it or --resume to continue it"
        )
    if existing and not (out / CONFIG_FILE).is_file():
        raise FacepalsyError(
            f"{out}: --overwrite refused: not a facepalsy run folder (no {CONFIG_FILE}), nothing deleted"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FacepalsyError(f"{out}: cannot create the run folder ({exc.strerror or exc})") from exc
    if existing:  # config.yaml goes last, so a deletion cut short leaves a folder --overwrite still recognises
        for item in sorted(out.iterdir(), key=lambda item: item.name == CONFIG_FILE):
            if item.name in (LOCK_FILE, OWNER_FILE):
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
        raise FacepalsyError(
            f"{out}: cannot write to the run folder ({exc.strerror or exc}); choose another --out"
        ) from exc
    if free < needed_bytes:
        raise FacepalsyError(
            f"{out}: only {free / 1e6:.0f} MB free, the run needs about "
            f"{needed_bytes / 1e6:.0f} MB; free space or choose another --out"
        )


@contextmanager
def _lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out/.lock`` (creating ``out``) so that a second run cannot write into it.

    ``filelock`` takes the operating system's own lock (flock on Unix, LockFileEx on Windows), which
    is released when the process ends, however it ends (SIGKILL included), so a stale lock file
    never blocks a later run. Who holds it is written beside it, for the refusal message.
    """
    from filelock import FileLock, Timeout

    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = FileLock(out / LOCK_FILE, timeout=0)
        lock.acquire()
    except Timeout:
        try:
            holder = (out / OWNER_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            holder = ""
        raise FacepalsyError(
            f"{out}: in use by another facepalsy run ({holder or 'another process'}); "
            "wait for it to end or choose another --out"
        ) from None
    except OSError as exc:
        raise FacepalsyError(
            f"{out}: cannot create the run folder ({exc.strerror or exc}); choose another --out"
        ) from exc
    try:
        (out / OWNER_FILE).write_text(f"pid {os.getpid()} on {socket.gethostname()}\n", encoding="utf-8")
        yield
    finally:
        lock.release()


def content_hash(root: Path, samples: list[Sample]) -> str:
    """SHA-256 over each sample's path, label, subject and file bytes, in path order: any change to the data changes
    it."""
    digest = hashlib.sha256()
    for sample in sorted(samples, key=lambda s: s.path):
        digest.update(f"{sample.path}\0{sample.label}\0{sample.subject}\0".encode("utf-8", "surrogateescape"))
        digest.update(bytes.fromhex(file_sha256(root / sample.path)))
    return digest.hexdigest()


@functools.cache
def environment() -> dict:
    """Versions of Python, torch and every installed distribution, and facepalsy's git commit when it runs from a
    checkout (read once per process)."""
    from facepalsy.version import __version__

    packages = sorted((d.metadata["Name"] or "?", d.version) for d in importlib.metadata.distributions())
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "facepalsy": __version__,
        "facepalsy_git_commit": git_commit(),
        "packages": dict(packages),
    }


def git_commit() -> str | None:
    """The commit of the facepalsy checkout this code runs from (``-dirty`` with uncommitted changes); None when
    installed from a wheel."""
    package = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(package), *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() / "src" / "facepalsy" != package:
            return None  # installed inside some other repository
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return git("rev-parse", "HEAD") + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None
