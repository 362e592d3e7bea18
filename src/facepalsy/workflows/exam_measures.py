"""What an exam measures of each photo or frame: the per-side values (SIDE_POINTS), how far each moved from rest
(MOVEMENT) and the symmetry of two movements, and ``Measured``, one expression as the exam took it (its photo's one
reading, ``face/photo_reading.py``). Shared by the photo, video and live exams."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facepalsy.face.asymmetry import Asymmetry
from facepalsy.face.detect import LEFT_EYE_RING, RIGHT_EYE_RING
from facepalsy.face.norms import Norms
from facepalsy.face.photo_reading import read_found
from facepalsy.face.readability import PhotoQuality, photo_quality

# Per region: the expressions that move it (the first present is used) and the per-side value that moves.
MOVEMENT = {
    "brow": (("brow_raise",), "brow_height"),
    "eye": (("eye_closure_full", "eye_closure_gentle"), "eye_opening"),
    "mid_face": (("snarl", "smile"), "nasolabial_length"),
    "mouth": (("smile", "lip_depression", "pucker"), "mouth_corner"),
}
# Face-mesh indices per side (patient's right, left) of the per-side values.
SIDE_POINTS = {
    "brow": ([70, 63, 105, 66, 107], [300, 293, 334, 296, 336]),
    "upper_lid": (159, 386),
    "lower_lid": (145, 374),
    "mouth_corner": (61, 291),
    "nose_ala": (98, 327),
}


def _side_values(mesh: np.ndarray) -> dict[str, dict[str, np.ndarray | float]]:
    """Per side, from a 468×2 eye-frame mesh: brow height, eye opening, nose-to-mouth-corner length, mouth corner
    position."""
    eye_rings = (RIGHT_EYE_RING, LEFT_EYE_RING)
    values = {}
    for side, name in ((0, "right"), (1, "left")):
        eye_y = mesh[eye_rings[side]][:, 1].mean()
        corner = mesh[SIDE_POINTS["mouth_corner"][side]]
        values[name] = {
            "brow_height": float(eye_y - mesh[SIDE_POINTS["brow"][side]][:, 1].mean()),
            "eye_opening": float(mesh[SIDE_POINTS["lower_lid"][side]][1] - mesh[SIDE_POINTS["upper_lid"][side]][1]),
            "nasolabial_length": float(np.hypot(*(mesh[SIDE_POINTS["nose_ala"][side]] - corner))),
            "mouth_corner": corner.copy(),
        }
    return values


def _movement(rest: dict, expression: dict, value: str) -> dict[str, float]:
    """How far each side's value moved from rest (absolute; a displacement length for the mouth corner)."""
    if value == "mouth_corner":
        return {side: float(np.hypot(*(expression[side][value] - rest[side][value]))) for side in ("right", "left")}
    return {side: float(abs(expression[side][value] - rest[side][value])) for side in ("right", "left")}


def symmetry_percent(moved: dict[str, float]) -> float | None:
    """The weaker side's movement as a percentage of the stronger side's (None when neither moved)."""
    strongest = max(moved.values())
    return None if strongest < 1e-6 else round(100.0 * min(moved.values()) / strongest, 1)


@dataclass
class Measured:
    """One expression of the exam: a photo or a video frame, measured."""

    source: str
    asymmetry: Asymmetry  # compared against the norms
    values: dict  # side_values of its mesh
    crop: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    quality: PhotoQuality | None = None  # what the photo can support (face/readability.py), for the grade


def measure_named(source: str, rgb: np.ndarray, found: Asymmetry, expression: str, norms: Norms) -> Measured:
    """A photo or a frame as the exam takes it: the photo's one reading (``face/photo_reading.py``, the same every
    surface shows) of its face (``found``, measured once), named ``expression``, with its aligned face for the
    drawings.

    Every photo of an exam is measured alike, on all of JITTER's views: its movements are differences between photos,
    which a mix of measures would bias."""
    photo = read_found(rgb, found, source, norms, expression)
    quality = photo_quality(rgb, found.face.landmarks, photo.asymmetry.pose)
    return Measured(source, photo.asymmetry, _side_values(photo.asymmetry.mesh), photo.crop, photo.landmarks, quality)
