"""Harmonising: one decoding, face crop, level of detail and re-encoding for every photo.

When palsy photos come from the web and normals from a face data set, their sizes, file sizes and
sharpness tell the classes apart (``check``'s shortcut audit measures it). Harmonising takes those
away: every image is decoded the same way, its largest face aligned and cropped, reduced to the
same number of pixels across (``detail``, so a sharp 800-px photo and a blurry 150-px one carry the
same detail), resized to the model's size and JPEG-encoded at one quality without metadata.

A run trained with ``--harmonise`` records these settings in its model spec, and its Predictor
applies the same function to every image it is given, so training and prediction see the same
pixels. ``prepare --harmonise`` writes the harmonised images as a new data folder (to inspect, to
audit, to train other tools on): ``workflows/harmonise_folder.py``.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from PIL import Image

from facepalsy.data.images import resize_square
from facepalsy.errors import FacepalsyError

if TYPE_CHECKING:
    from facepalsy.face.detect import Face

# The oval, in fractions of the crop (eyes at 40% height, 36% of the width apart): brows to chin, cheek to cheek.
OVAL_CENTRE, OVAL_AXES, OVAL_FEATHER = (0.5, 0.56), (0.42, 0.52), 0.08
SUPERSAMPLE = 4  # the face is aligned at this multiple of ``detail`` and then area-averaged down: no aliasing


@dataclass(frozen=True)
class Harmonisation:
    detail: int = 96  # pixels across the face crop before it is resized to the model's size
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        if not 32 <= self.detail <= 1024:
            raise FacepalsyError(f"harmonise detail must be between 32 and 1024 px, got {self.detail}")
        if not 50 <= self.jpeg_quality <= 100:
            raise FacepalsyError(f"harmonise JPEG quality must be between 50 and 100, got {self.jpeg_quality}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "Harmonisation":
        return cls(int(values["detail"]), int(values["jpeg_quality"]))


def harmonised_jpeg(
    rgb: np.ndarray, size: int, settings: Harmonisation, name: str | Path = "image", face: "Face | None" = None
) -> tuple[bytes, "Face"]:
    """The harmonised image as JPEG bytes (aligned largest face, ``detail`` px across, ``size`` px out)
    and that face; NoFaceError (naming ``name``) when there is no usable face. ``face``: found already."""
    from facepalsy.face.detect import align_face, largest_face

    face = face or largest_face(rgb, name)
    large = align_face(rgb, face, SUPERSAMPLE * settings.detail)
    small = cv2.resize(large, (settings.detail, settings.detail), interpolation=cv2.INTER_AREA)
    buffer = io.BytesIO()
    Image.fromarray(face_oval(resize_square(small, size))).save(
        buffer, "JPEG", quality=settings.jpeg_quality, subsampling="4:2:0"
    )
    return buffer.getvalue(), face


def face_oval(rgb: np.ndarray) -> np.ndarray:
    """Grey outside an oval around the aligned face, with a soft edge: background, hair, clothing and the
    streaks a tight source crop leaves at the border differ between sources and say nothing about palsy."""
    size = rgb.shape[0]
    y, x = np.mgrid[0:size, 0:size] / size
    distance = np.hypot((x - OVAL_CENTRE[0]) / OVAL_AXES[0], (y - OVAL_CENTRE[1]) / OVAL_AXES[1])
    weight = np.clip((1.0 + OVAL_FEATHER - distance) / OVAL_FEATHER, 0.0, 1.0)[..., None]
    return (rgb * weight + 128.0 * (1.0 - weight)).round().astype(np.uint8)


def decode_jpeg(data: bytes) -> np.ndarray:
    """Harmonised bytes back to RGB pixels, decoded as a harmonised file on disk is."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"))
