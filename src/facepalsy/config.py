"""One typed configuration for training a run: set by YAML, overridden by CLI flags, saved as ``RUN/config.yaml``.

What inference needs (backbone, size, face crop, normalisation, threshold) is not read from here:
it travels in ``model.pt`` as a :class:`~facepalsy.models.spec.ModelSpec`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from facepalsy.data.dataset import Sample, data_folders, scan_root, scan_sources
from facepalsy.data.harmonise import Harmonisation
from facepalsy.data.model_input import FacePolicy
from facepalsy.errors import FacepalsyError
from facepalsy.models.baseline import NAME as LANDMARK_MODEL
from facepalsy.models.baseline import canonical_name
from facepalsy.models.operating_point import default_rule, parse_operating_point
from facepalsy.models.spec import PRECISIONS, ModelSpec, Preprocess

SPLITS = ("frame", "subject")
SCHEDULES = ("constant", "onecycle")  # the learning rate over training (training/loop.py)
# cross-validation: by frame, k subject groups, one subject out, one source out
PROTOCOLS = ("frame", "subject-kfold", "lopo", "leave-source-out")
LOGGERS = {
    "csv": None,
    "tensorboard": ("tensorboard", "tensorboardX"),
    "mlflow": ("mlflow",),
}  # name: modules, any of which serves


@dataclass
class Config:
    """Everything needed to reproduce a training run.

    Defaults follow the paper (VGG16 on ImageNet weights, 224 px, frozen backbone, 19% test images,
    620 of 3,261 in YFP) except the split: subject-independent, as an honest estimate needs; the
    paper's image ("frame") split is ``split: frame`` away, and ``reproduce`` uses it for the table.
    """

    data: list[str] = dataclasses.field(default_factory=list)  # data folders; several make one set (scan_sources)
    backbone: str = "vgg16"
    weights: str = "imagenet"  # "imagenet", "none" or a path to a .pth state dict
    image_size: int = 224
    split: str = "subject"  # "subject" (no subject on both sides) or "frame" (the paper's, by image: leaky)
    test_fraction: float = 0.19
    val_fraction: float = 0.1  # carved from the training side, for the per-epoch curves
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-4
    schedule: str = "constant"  # "constant" (the paper's Adam) or "onecycle": warm-up to lr, then cosine decay to ~0
    finetune: bool = False  # False: only the head trains, as in the paper
    augment: bool = True
    rotation_degrees: float = 10.0
    shift_fraction: float = 0.1
    scale_range: float = 0.1
    face_crop: bool = False  # detect, level the eyes and crop the largest face before resizing
    face_required: bool = (
        True  # no usable face, no verdict (and no training image); off only for faces the detector cannot see
    )
    harmonise: int = 0  # 0: off; else every image becomes its aligned face at this many pixels across, re-encoded alike
    subgroup: str = ""  # manifest column(s), comma-separated: the model card tabulates performance per value
    # how the run's threshold is chosen on validation data (evaluation.metrics); "": the model's own (default_rule:
    # specificity=0.95 for the landmark model, so that a healthy face from any source reads healthy first; youden)
    operating_point: str = ""
    # the landmark model: also train on palsied twins of the healthy training faces (data/twins.py), so that it learns
    # the palsy rather than the palsy photos' source; the real palsy photos still train and choose the threshold
    twins: bool = True
    feature_cache: int = (
        0  # frozen backbone only: cache backbone features of K augmented views; epochs then train the head alone
    )
    seed: int = 42
    # experiment log beside the run's epochs.csv: csv (Lightning's CSVLogger, always), tensorboard or mlflow in
    # addition
    logger: str = "csv"
    skip_bad: bool = False
    precision: str = "auto"  # auto: bf16 mixed precision where the CPU/GPU has native bf16; bf16; fp32
    accelerator: str = "auto"
    devices: int = 1  # per node
    num_nodes: int = 1
    strategy: str = "auto"  # Lightning strategy, e.g. "ddp" for several devices or nodes

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        self.data = [d for d in data_folders(self.data) if d]  # one folder: as configs and callers from before
        self.backbone = canonical_name(self.backbone)
        if self.split not in SPLITS:
            raise FacepalsyError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.logger not in LOGGERS:
            raise FacepalsyError(f"logger must be one of {', '.join(LOGGERS)}, got {self.logger!r}")
        if LOGGERS[self.logger] and not any(importlib.util.find_spec(m) for m in LOGGERS[self.logger]):
            raise FacepalsyError(f"logger {self.logger} is not installed: pip install {LOGGERS[self.logger][0]}")
        if self.precision not in PRECISIONS:
            raise FacepalsyError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if not 0 < self.test_fraction < 1:
            raise FacepalsyError(f"test_fraction must be between 0 and 1, got {self.test_fraction}")
        if not 0 <= self.val_fraction < 1:
            raise FacepalsyError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        for name in ("image_size", "epochs", "batch_size", "devices", "num_nodes"):
            if getattr(self, name) < 1:
                raise FacepalsyError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.image_size < 32:
            raise FacepalsyError(f"image_size must be at least 32 (VGG pools 5 times), got {self.image_size}")
        if self.lr <= 0:
            raise FacepalsyError(f"lr must be positive, got {self.lr}")
        if self.schedule not in SCHEDULES:
            raise FacepalsyError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        parse_operating_point(self.operating_rule)
        if self.harmonise and not 32 <= self.harmonise <= 1024:
            raise FacepalsyError(
                f"harmonise must be 0 (off) or a face size between 32 and 1024 px, got {self.harmonise}"
            )
        if self.harmonise and not self.face_required:
            raise FacepalsyError(
                "harmonise crops every image to its face, so it cannot be combined with allowing images without a face"
            )
        if self.feature_cache < 0 or (self.feature_cache and self.finetune):
            raise FacepalsyError(
                "feature_cache must be 0 or, with a frozen backbone (no --finetune), a number of views K ≥ 1"
            )

    @property
    def operating_rule(self) -> str:
        """The rule the threshold is chosen by: the one set, else the model's own (``default_rule``)."""
        return self.operating_point or default_rule(self.backbone)

    def resolved(self) -> "Config":
        """This config with the defaults that depend on the model filled in, as a run records it."""
        return self.replace(operating_point=self.operating_rule)

    @property
    def root(self) -> Path:
        """The folder every image path of the run is relative to: the data folder, or several folders' common
        parent."""
        return scan_root(self.data)

    def scan(self) -> tuple[Path, list[Sample]]:
        """The root and every image of the data folders (``data.dataset.scan_sources``)."""
        if not self.data:
            raise FacepalsyError("no data folder given (config.data is empty)")
        return scan_sources(self.data)

    def model_spec(self) -> ModelSpec:
        """What the trained model will carry for inference (its operating point is added after training)."""
        from facepalsy.face.asymmetry import MAX_YAW_DEGREES

        # the landmark model compares the sides of a face: it sees the aligned crop of the largest, fairly frontal face
        # or nothing
        landmarks = self.backbone == LANDMARK_MODEL
        face = FacePolicy(
            crop=self.face_crop or landmarks,
            required=self.face_required or landmarks,
            harmonise=Harmonisation(self.harmonise) if self.harmonise else None,
            max_yaw_degrees=MAX_YAW_DEGREES if landmarks else None,
        )
        return ModelSpec(self.backbone, Preprocess.for_backbone(self.backbone, self.image_size), face)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> "Config":
        """Build a config, refusing unknown keys and wrong types with a message naming them."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise FacepalsyError(f"{source}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(known)}")
        checked = {name: _coerce(name, value, known[name].type, source) for name, value in values.items()}
        try:
            return cls(**checked)
        except FacepalsyError as exc:
            raise FacepalsyError(f"{source}: {exc}") from None

    def replace(self, **changes: Any) -> "Config":
        """A copy with the given fields changed; ``None`` values mean "not given" and are ignored."""
        given = {k: v for k, v in changes.items() if v is not None}
        return Config.from_dict({**self.to_dict(), **given})


def _coerce(name: str, value: Any, type_name: str, source: str) -> Any:
    """Check a value against the field's annotated type (ints are accepted for floats)."""
    if type_name == "list[str]":  # the data folders: one folder as a plain string, as configs from before wrote it
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise FacepalsyError(f"{source}: {name} must be a folder or a list of folders, got {value!r}")
        return values
    expected = {"str": str, "int": int, "float": float, "bool": bool}[type_name]
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, bool) or not isinstance(value, expected):
        raise FacepalsyError(f"{source}: {name} must be of type {type_name}, got {type(value).__name__} {value!r}")
    return value


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise FacepalsyError(f"{path}: cannot read config ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise FacepalsyError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        raise FacepalsyError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(values, dict):
        raise FacepalsyError(f"{path}: a config must be a mapping of key: value")
    return Config.from_dict(values, source=str(path))


def save_config(config: Config, path: str | Path) -> None:
    from facepalsy.files import atomic_write_text

    atomic_write_text(Path(path), yaml.safe_dump(config.to_dict(), sort_keys=False))
