"""The typed results of inference: one photo's Prediction and one video's VideoVerdict, each with ``to_dict`` for
JSON; the CLI, the page and the exam render these and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from facepalsy.data.model_input import ModelInput
from facepalsy.errors import NoFaceError
from facepalsy.face.detect import Face
from facepalsy.face.pattern import PalsyPattern
from facepalsy.face.reading import HealthyRangeReading

UNMEASURED = "the face mesh could not be measured on the face found: no verdict"
CANNOT_READ = "cannot_read"  # a Prediction's status: a face the landmark model cannot read reliably, with the reason
TURNED = "turned"  # a Prediction's status: a face turned too far to compare its sides, with its yaw


@dataclass
class Prediction:
    """The outcome for one image: a verdict, or why there is none (``status`` "no_face", "turned", "cannot_read" or
    "unreadable", with the reason in ``error``)."""

    source: str  # the file, or "<PIL image>" / "<array>" with its position in the input
    # "ok", "no_face" (a face-crop model found no usable face), "turned" (a face too far turned for a model that
    # compares the sides), "cannot_read" (the landmark model found a face it
    # cannot read reliably: mid-speech, unlike any trained on), "unreadable"
    status: str = "ok"
    label: str | None = None
    prob_palsy: float | None = None
    threshold: float | None = None
    faces_found: int | None = None  # None: not looked for
    face_box: tuple[float, float, float, float] | None = None  # the largest face in the original image (x0, y0, x1, y1)
    face_used: bool = False  # True: the model saw the aligned crop of that face
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    cam: str | None = None  # a Grad-CAM overlay written for this image
    palsy_pattern: PalsyPattern | None = None  # central / peripheral / undetermined, for a face read as palsy
    # the photo's one landmark reading against the healthy ranges (face/photo_reading.py), for a face read as palsy
    reading: HealthyRangeReading | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        values = {k: v for k, v in self.__dict__.items() if v is not None and v != []}
        if self.palsy_pattern is not None:
            values["palsy_pattern"] = self.palsy_pattern.to_dict()
        if self.reading is not None:
            values["reading"] = self.reading.to_dict()
        return values


@dataclass
class VideoVerdict:
    path: str
    label: str | None
    prob_palsy: float | None  # mean over the frames scored
    threshold: float
    frames: int
    frames_scored: int
    frames_with_face: int
    timeline: str | None = None
    error: str | None = None

    @property
    def face_fraction(self) -> float:
        return self.frames_with_face / self.frames if self.frames else 0.0

    def to_dict(self) -> dict:
        return {
            "kind": "video",
            **{k: v for k, v in self.__dict__.items() if v is not None},
            "face_fraction": self.face_fraction,
        }


class Preparer(Protocol):
    """What VideoFrames needs of a Predictor: its one way from an image to model input."""

    def model_input(
        self, image: np.ndarray, name: str | None = None, find_faces: bool = True, face: Face | None = None
    ) -> ModelInput: ...


@dataclass
class VideoFrames:
    """A video's frames as the model will see them: time and model input of each frame with a verdict, and the
    counts."""

    times: list[float] = field(default_factory=list)
    prepared: list[ModelInput] = field(default_factory=list)
    total: int = 0
    with_face: int = 0

    def add(self, predictor: Preparer, time: float, rgb: np.ndarray, name: str, face: Face | None = None) -> None:
        """One frame (``face``: its largest face, when the caller found it already)."""
        self.total += 1
        try:
            item = predictor.model_input(rgb, name, face=face)
        except NoFaceError:
            return
        self.with_face += bool(item.faces_found)
        self.times.append(time)
        self.prepared.append(item)
