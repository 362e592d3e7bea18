"""Run folders: one typed class per kind of folder knows every file in it, so that a run's, a cross-validation's and
an exam's file names are spelled here only.

A :class:`RunFolder` is what ``facepalsy train`` writes (and every fold of a cross-validation);
a :class:`CvFolder` holds the folds and the pooled results; :class:`ResultFiles` is what an
evaluation writes (into the run, or into ``RUN/eval-NAME``). Opening a trained model happens
here, once: :meth:`RunFolder.read_model`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from facepalsy.config import Config
from facepalsy.data.dataset import CLASSES, Sample
from facepalsy.data.model_input import FacePolicy
from facepalsy.errors import FacepalsyError
from facepalsy.files import atomic_write, atomic_write_csv, atomic_write_json, file_sha256
from facepalsy.models.operating_point import OperatingPoint
from facepalsy.models.spec import ModelSpec, Preprocess
from facepalsy.runfolder.epochs import EPOCH_COLUMNS, Epoch, EpochLog
from facepalsy.runfolder.locks import LOCK_FILE, OWNER_FILE, _Locked, _make_ready
from facepalsy.runfolder.provenance import content_hash, environment

MODEL_FORMAT = 2  # model.pt: 2 carries a ModelSpec; 1 (before it) carried the training config and is still read
CHECKPOINT_FORMAT = 1  # checkpoints/last.ckpt, checked by --resume


@dataclasses.dataclass(frozen=True)
class Exclusions:
    """A run's images left out at decoding (``excluded.json``): the one count every report, card and ``metrics.json``
    of the run's test split uses."""

    unreadable: int = 0
    no_face: int = 0  # without the usable face the model needs, in the whole data set
    no_face_test: int = 0  # of those, the ones that fell in the test split


OLD_EPOCHS_FILE = "history.csv"  # the training curve in runs written before it was told apart from patient history


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
    # a run's images left out at decoding: unreadable, without a usable face, and how many of those fell in the test
    # split (the one count every report, card and metrics.json of the run's test split uses)
    excluded = property(lambda self: self.path / "excluded.json")


class RunFolder(ResultFiles, _Locked):
    """A training run: config, split, curves, the kept model with its spec, and its test results."""

    model = property(lambda self: self.path / "model.pt")
    onnx = property(lambda self: self.path / "model.onnx")
    onnx_int8 = property(lambda self: self.path / "model-int8.onnx")
    onnx_int8_check = property(
        lambda self: self.path / "model-int8.json"
    )  # its agreement with PyTorch fp32 on the validation images
    split = property(lambda self: self.path / "split.csv")
    epochs = property(lambda self: self.path / "epochs.csv")  # the training curve
    curves = property(lambda self: self.path / "curves.png")
    leakage = property(lambda self: self.path / "leakage.json")
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
        epochs = len(self.read_epochs()) if self.epochs_found() else None
        atomic_write_json(self.complete, {"format": 1, "epochs_completed": epochs, "files": files})

    @property
    def finished(self) -> bool:
        """Marked complete; or, for a run saved before the marker existed, holding all its final files after every
        epoch."""
        if self.complete.is_file():
            return True
        if not self.config.is_file() or not all((self.path / name).is_file() for name in self.FINAL_FILES):
            return False
        return not self.epochs_found() or len(self.read_epochs()) >= self.read_config().epochs

    def require_finished(self) -> None:
        """Refuse an unfinished run with one line: what is missing, and how to complete it."""
        if self.finished or not self.config.is_file():
            return  # finished; or not a training folder at all, e.g. a model.pt travelling alone (read_model judges it)
        missing = [name for name in (*self.FINAL_FILES, self.complete.name) if not (self.path / name).is_file()]
        done = len(self.read_epochs())
        planned = self.read_config().epochs
        progress = (
            f"training stopped after epoch {done} of {planned}"
            if done < planned
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

    def make_ready(self, overwrite: bool = False, resume: bool = False, needed_bytes: int = 0) -> "RunFolder":
        _make_ready(self.path, overwrite, resume, needed_bytes, self.last_checkpoint)
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
        _save_checkpoint(self.model, payload)

    def read_model(self) -> tuple[ModelSpec, dict]:
        """The spec and the payload (``state_dict`` or ``baseline``) of model.pt, checked. Read once while the file
        stays as it is: training's test pass loads the model, then records the operating point in the same file."""
        if not self.model.is_file():
            raise FacepalsyError(f"{self.path}: not a finished run folder ({self.model.name} not found)")
        stat = self.model.stat()
        version = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if getattr(self, "_model_read", (None,))[0] == version:
            return self._model_read[1]
        self._model_read = (version, self._read_model())
        return self._model_read[1]

    def _read_model(self) -> tuple[ModelSpec, dict]:
        try:
            import torch

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
        config = Config.from_dict(payload["config"], source=f"{self.model} (format 1)")
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
        return ModelSpec(
            config.backbone,
            Preprocess.from_dict(payload["preprocess"]),
            FacePolicy(config.face_crop, config.face_crop),
            tuple(payload["classes"]),
            point,
        )

    def set_operating_point(self, point: OperatingPoint, temperature: float | None = None) -> ModelSpec:
        """Record the threshold and the temperature chosen on validation data in model.pt."""
        spec, payload = self.read_model()
        spec = dataclasses.replace(spec, operating_point=point, temperature=temperature)
        _save_checkpoint(self.model, {**payload, "format_version": MODEL_FORMAT, "spec": spec.to_dict()})
        return spec

    def write_split(self, samples: list[Sample], assignment: list[str]) -> None:
        rows = (
            {"path": s.path, "label": CLASSES[s.label], "subject": s.subject, "source": s.source, "split": part}
            for s, part in zip(samples, assignment)
        )
        atomic_write_csv(self.split, ["path", "label", "subject", "source", "split"], rows)

    def read_split(self) -> tuple[list[Sample], list[str]]:
        if not self.split.is_file():
            raise FacepalsyError(f"{self.split}: split file not found")
        with self.split.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        samples = [Sample(r["path"], CLASSES.index(r["label"]), r["subject"], r.get("source", "")) for r in rows]
        return samples, [r["split"] for r in rows]  # split files from before sources have no source column

    def write_exclusions(self, exclusions: Exclusions) -> None:
        atomic_write_json(self.excluded, dataclasses.asdict(exclusions))

    def read_exclusions(self) -> Exclusions | None:
        """The run's exclusions (None for runs trained before they were written)."""
        return Exclusions(**read_json(self.excluded)) if self.excluded.is_file() else None

    def write_epochs(self, log: EpochLog) -> None:
        atomic_write_csv(self.epochs, EPOCH_COLUMNS, [dataclasses.asdict(e) for e in log.epochs])

    def epochs_found(self) -> Path | None:
        """The training curve's file as this run holds it (an older run's history.csv), or None."""
        return next((p for p in (self.epochs, self.path / OLD_EPOCHS_FILE) if p.is_file()), None)

    def read_epochs(self) -> EpochLog:
        """The training curve (empty before the first epoch ends)."""
        path = self.epochs_found()
        if path is None:
            return EpochLog()
        with path.open(newline="", encoding="utf-8") as f:
            return EpochLog(tuple(Epoch.from_row(row) for row in csv.DictReader(f)))

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

    def write_provenance(
        self, root: Path, samples: list[Sample], assignment: list[str], weights: dict | None = None
    ) -> None:
        """provenance.json: the software that trained the run, content hashes of its data and of its test set, and
        (a CNN) the weights it started from (``models.registry.weights_provenance``)."""
        test = [s for s, part in zip(samples, assignment) if part == "test"]
        data = {
            "root": str(root),
            "images": len(samples),
            "content_sha256": content_hash(root, samples),
            "test_images": len(test),
            "test_content_sha256": content_hash(root, test),
        }
        found = {"environment": environment(), "data": data}
        if weights:
            found["weights"] = weights
        atomic_write_json(self.provenance, found)


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
    bad_images = property(lambda self: self.path / "bad_images.txt")

    def fold(self, k: int) -> RunFolder:
        return RunFolder(self.path / f"fold_{k:02d}")

    def make_ready(self, overwrite: bool = False, resume: bool = False) -> "CvFolder":
        _make_ready(self.path, overwrite, resume, 0, self.plan)
        return self


class ExamFolder:
    """What ``facepalsy exam`` writes for one person."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    document = property(lambda self: self.path / "exam.json")
    report = property(lambda self: self.path / "exam.md")
    chart = property(lambda self: self.path / "regions.png")  # movement per side and region
    timeline = property(lambda self: self.path / "timeline.png")  # video: region scores (and the CNN) over time
    grade_chart = property(lambda self: self.path / "grade.png")  # the eFACE-style items against 100

    def drawing(self, expression: str) -> Path:
        return self.path / f"landmarks_{expression}.png"

    def peak(self, region: str) -> Path:
        return self.path / f"peak_{region}.png"

    def distances(self, expression: str) -> Path:
        """The photo with its clinical distances in mm drawn (``face.millimetres.draw_millimetres``)."""
        return self.path / f"mm_{expression}.png"


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


def _save_checkpoint(path: Path, payload: dict) -> None:
    """model.pt, written whole or not at all. torch is imported here and where a checkpoint is read, not at the top,
    so that commands which only read a run folder's JSON (and the landmark path) start without it."""
    import torch

    atomic_write(path, lambda tmp: torch.save(payload, tmp))
