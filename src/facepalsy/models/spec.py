"""ModelSpec: everything inference needs to rebuild and use a trained model, saved inside ``model.pt``.

Training settings (protocol, optimiser, augmentation, hardware) stay in the run folder's
``config.yaml``; a Predictor reads this and nothing else, so a model file can travel alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from facepalsy.data.dataset import CLASSES
from facepalsy.data.harmonise import Harmonisation
from facepalsy.data.model_input import FacePolicy
from facepalsy.errors import FacepalsyError
from facepalsy.models.backbones import BACKBONES, IMAGENET_MEAN, IMAGENET_STD, backbone_spec
from facepalsy.models.baseline import NAME as LANDMARK_MODEL
from facepalsy.models.baseline import canonical_name
from facepalsy.models.operating_point import OperatingPoint

PRECISIONS = ("auto", "bf16", "fp32")  # what a run trains and a Predictor runs in: auto is bf16 where it is native


@dataclass(frozen=True)
class Preprocess:
    """What the weights expect: input size and normalisation."""

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def for_backbone(cls, backbone: str, image_size: int) -> "Preprocess":
        if backbone not in BACKBONES:  # the landmark baseline: no weights, ImageNet statistics by convention
            return cls(image_size, IMAGENET_MEAN, IMAGENET_STD)
        weights = backbone_spec(backbone).imagenet
        return cls(image_size, weights.mean, weights.std)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "Preprocess":
        return cls(int(values["image_size"]), tuple(values["mean"]), tuple(values["std"]))


@dataclass(frozen=True)
class ModelSpec:
    backbone: str
    preprocess: Preprocess
    face: FacePolicy  # what the model needs of the face: crop, required, yaw limit, harmonisation
    classes: tuple[str, ...] = CLASSES
    operating_point: OperatingPoint | None = (
        None  # chosen on validation data after training, on calibrated probabilities
    )
    temperature: float | None = None  # temperature scaling fitted on validation data; None: not calibrated

    @property
    def image_size(self) -> int:
        return self.preprocess.image_size

    @property
    def face_crop(self) -> bool:
        return self.face.crop

    @property
    def is_cnn(self) -> bool:
        """A network (VGG), as opposed to the landmark model, whose outputs speak of measures, not of a network."""
        return canonical_name(self.backbone) != LANDMARK_MODEL

    def to_dict(self) -> dict:
        return {
            "backbone": self.backbone,
            "preprocess": self.preprocess.to_dict(),
            "face_crop": self.face.crop,
            "classes": list(self.classes),
            "operating_point": self.operating_point.to_dict() if self.operating_point else None,
            "max_yaw": self.face.max_yaw,
            "max_yaw_degrees": self.face.max_yaw_degrees,
            "require_face": self.face.required,
            "harmonise": self.face.harmonise.to_dict() if self.face.harmonise else None,
            "temperature": self.temperature,
        }

    @classmethod
    def from_dict(cls, values: dict, source: str = "model spec") -> "ModelSpec":
        """Read a spec; one saved before faces could be required reads as it behaved then (required with a crop
        only)."""
        try:
            point, harmonise = values.get("operating_point"), values.get("harmonise")
            crop = bool(values["face_crop"])
            face = FacePolicy(
                crop,
                bool(values.get("require_face", crop)),
                values.get("max_yaw"),
                Harmonisation.from_dict(harmonise) if harmonise else None,
                values.get("max_yaw_degrees"),
            )
            return cls(
                str(values["backbone"]),
                Preprocess.from_dict(values["preprocess"]),
                face,
                tuple(values["classes"]),
                OperatingPoint.from_dict(point) if point else None,
                values.get("temperature"),
            )
        except (KeyError, TypeError, ValueError, FacepalsyError) as exc:
            raise FacepalsyError(
                f"{source}: model spec is incomplete or malformed ({type(exc).__name__}: {exc})"
            ) from None
