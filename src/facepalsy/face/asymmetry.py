"""Landmark asymmetry: brow, eye, mouth-corner measures per side, the more affected side, one score.

Measured on MediaPipe's 3-D face mesh (the ``face`` extra), rotated to frontal (``pose``: a head
turned or tilted within MAX_YAW_DEGREES does not read as asymmetry), then in an eye-aligned frame:
origin at the midpoint of the eye centres, x along the eye line, y down, lengths divided by the
inter-ocular distance. That makes every measure invariant to rotation, scale and position. Each
face also gets its expression (``expression``), so it can be compared with healthy faces making
the same one. "Left" and "right" are the patient's (the patient's left is on the image's right).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import cv2
import numpy as np

from facepalsy.errors import FacepalsyError
from facepalsy.face.detect import (
    FACE_INSTALL,
    LEFT_EYE_RING,
    RIGHT_EYE_RING,
    Face,
    align_face,
    aligned_landmarks,
    alignment_matrix,
    detect_faces,
    largest_face,
    mediapipe_available,
)
from facepalsy.face.expression import recognise
from facepalsy.face.millimetres import IRIS_MM, MOUTH_CORNER, UPPER_BROW, Millimetres, millimetres
from facepalsy.face.norms import Norms
from facepalsy.face.pattern import PalsyPattern, photo_pattern
from facepalsy.face.pose import Pose, frontalise
from facepalsy.face.reading import HealthyRangeReading, side_words
from facepalsy.files import atomic_write

# Face-mesh indices per side of the patient: (right, left).
BROW = UPPER_BROW  # face/millimetres.py holds the mesh indices both modules read
UPPER_LID = (159, 386)
LOWER_LID = (145, 374)
MEASURES = ("brow_height", "eye_opening", "mouth_corner_drop", "mouth_corner_from_midline")
# Further measures after Emotrics (Guarin et al., 2018), per side (right, left): brow ends, eye corners
# (palpebral fissure), a second lid pair, the nose ala (nasolabial region) and the face outline at cheek level.
BROW_INNER, BROW_OUTER = (107, 336), (70, 300)
EYE_CORNERS = ((33, 133), (263, 362))  # outer, inner
INNER_LIDS = ((158, 153), (385, 380))  # upper, lower
NOSE_ALA = (98, 327)
CHEEK = (234, 454)
NOSE_TIP, UPPER_LIP, LOWER_LIP, CHIN = 1, 0, 17, 152
SIDE_MEASURES = (
    "brow_inner_height",
    "brow_outer_height",
    "palpebral_width",
    "palpebral_ratio",
    "inner_lid_distance",
    "nasolabial_length",
)
SHAPE_MEASURES = ("smile_angle", "lip_deviation", "chin_deviation", "mirror_disagreement", "yaw")
# runs trained before the 3-D pose: |cheek-width imbalance| above this is a turned head (about 12° of MAX_YAW_DEGREES)
TURNED_YAW = 0.35
# A head turned further (estimated yaw of the 3-D mesh, degrees) gets no verdict. Up to here, a face
# re-rendered turned moves the region measures about as much as landmark noise does (README, Figures).
MAX_YAW_DEGREES = 20.0
PASSES = 2  # face-mesh passes of image_asymmetry: the pass that found the face and one on its aligned crop


@dataclass
class Asymmetry:
    right: dict[str, float]  # per measure, patient's right side, in inter-ocular distances
    left: dict[str, float]
    difference: dict[str, float]  # left − right
    more_affected_side: (
        str | None
    )  # "left" or "right" (the patient's): the leaning; after compare(), only where outside the healthy range
    affected_evidence: float  # > 0 points to the left side, < 0 to the right
    score: float  # sum of |differences|: 0 for a perfectly symmetric face
    faces_found: int = 1  # faces in the image; the largest was measured
    shape: dict[str, float] = field(
        default_factory=dict
    )  # SIDE_MEASURES differences and SHAPE_MEASURES, for the landmark model
    mesh: np.ndarray | None = field(
        default=None, repr=False
    )  # 468×2 frontal landmarks in the eye frame (median over views), for the landmark model
    reference: HealthyRangeReading | None = None  # against the healthy reference ranges (face/norms.py), once compared
    pose: dict[str, float] = field(default_factory=dict)  # yaw, pitch, roll (degrees) taken out before measuring
    expression: str = "rest"  # recognised from the mesh, or as named by the user (face/expression.py)
    expression_named: bool = False  # True: the user named the expression
    palsy_pattern: PalsyPattern | None = None  # central / peripheral / undetermined, once compared
    legacy_mesh: np.ndarray | None = field(
        default=None, repr=False
    )  # 478×2, eye frame without frontalising (landmark models of format 1)
    iris: np.ndarray | None = field(
        default=None, repr=False
    )  # 10×2 iris centres and rings (mesh points 468–477) in the frame of ``mesh``: the mm scale (face/millimetres.py)
    views: int = 1  # face-mesh passes measured: 1 (a video frame), PASSES (image_asymmetry), JITTER's (a reading)
    face: Face | None = field(default=None, repr=False)  # the face found in the photo (pixels), to measure it again
    second: Face | None = field(
        default=None, repr=False
    )  # a photo's second pass, on its aligned crop (JITTER's centre)

    def compare(self, norms: Norms, palsy: bool = False) -> "Asymmetry":
        """Read this face against healthy reference ranges. The affected side is then the one the
        reading names (only for regions outside the healthy range), never a leaning within it. A face
        outside the range, or read as palsy by a model (``palsy``), gets its palsy pattern."""
        from facepalsy.face.norms import differences, reading, side_sizes

        if self.turned:
            self.reference = HealthyRangeReading.turned_away()
        else:
            self.reference = reading(differences(self), norms, self.expression, side_sizes(self))
        self.more_affected_side = self.reference.more_affected_side
        self.palsy_pattern = photo_pattern(self.reference, palsy)
        return self

    @property
    def turned(self) -> bool:
        """The head is turned far enough that left/right differences reflect the pose, not the face."""
        if "yaw" in self.pose:
            return abs(self.pose["yaw"]) > MAX_YAW_DEGREES
        return abs(self.shape.get("yaw", 0.0)) > TURNED_YAW

    def millimetres(self, iris_mm: float = IRIS_MM) -> Millimetres:
        """This face's clinical measures in mm (``face/millimetres.py``), on its pose-corrected mesh."""
        if self.mesh is None:
            raise FacepalsyError("this face was measured without its mesh: no mm measures")
        return millimetres(self.mesh if self.iris is None else np.vstack([self.mesh, self.iris]), iris_mm)

    def measure_rows(self) -> list[tuple[str, str, str, str]]:
        """Per measure: name, the patient's right, left, and left − right (inter-ocular distances), for a table."""
        return [
            (
                name.replace("_", " "),
                f"{self.right[name]:.3f}",
                f"{self.left[name]:.3f}",
                f"{self.difference[name]:+.3f}",
            )
            for name in MEASURES
        ]

    def to_dict(self) -> dict:
        values = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("mesh", "legacy_mesh", "iris", "face", "second")
        }
        values["reference"] = self.reference.to_dict() if self.reference else None
        values["palsy_pattern"] = self.palsy_pattern.to_dict() if self.palsy_pattern else None
        outside = self.reference.outside_healthy_range if self.reference else None
        return {**values, "turned": self.turned, "outside_healthy_range": outside}


def eye_frame(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks (N×2, or N×3 with depth) in the eye-aligned, inter-ocular-normalised frame."""
    points = landmarks[:, :2]
    if len(landmarks) >= 478:  # refined iris centres: steadier than the eye contours
        right_eye, left_eye = points[468], points[473]
    else:
        right_eye, left_eye = points[RIGHT_EYE_RING].mean(axis=0), points[LEFT_EYE_RING].mean(axis=0)
    axis = left_eye - right_eye
    distance = np.hypot(*axis)
    cos, sin = axis / distance
    rotation = np.array([[cos, sin], [-sin, cos]])  # turns the eye line onto +x
    flat = (points - (right_eye + left_eye) / 2) @ rotation.T / distance
    return flat if landmarks.shape[1] == 2 else np.column_stack([flat, landmarks[:, 2] / distance])


def measure(landmarks: np.ndarray) -> Asymmetry:
    """Per-side measures from 468/478 face-mesh landmarks (pixel coordinates, any rotation or scale)."""
    points = eye_frame(np.asarray(landmarks, dtype=np.float64))
    eye_y = (points[RIGHT_EYE_RING][:, 1].mean(), points[LEFT_EYE_RING][:, 1].mean())
    sides = []
    for side in (0, 1):
        corner = points[MOUTH_CORNER[side]]
        sides.append(
            {
                "brow_height": float(eye_y[side] - points[BROW[side]][:, 1].mean()),
                "eye_opening": float(points[LOWER_LID[side]][1] - points[UPPER_LID[side]][1]),
                "mouth_corner_drop": float(corner[1]),
                "mouth_corner_from_midline": float(abs(corner[0])),
            }
        )
    right, left = sides
    difference = {k: left[k] - right[k] for k in MEASURES}
    # Palsy weakens one side: its brow sits lower, its eye closes less, its mouth corner hangs
    # lower and is pulled less far out. Each term is positive when the left side looks weaker.
    evidence = (
        -difference["brow_height"]
        + difference["eye_opening"]
        + difference["mouth_corner_drop"]
        - difference["mouth_corner_from_midline"]
    )
    result = Asymmetry(
        right,
        left,
        difference,
        "left" if evidence > 0 else "right",
        float(evidence),
        float(sum(abs(v) for v in difference.values())),
    )
    result.shape = shape_measures(points)
    return result


def shape_measures(points: np.ndarray) -> dict[str, float]:
    """Further measures in the eye frame (x along the eye line, midline at x = 0, inter-ocular units).

    Per side, as left − right differences: brow ends, palpebral fissure width and opening ratio, a
    second lid distance, nose ala to mouth corner. Whole face: smile angle (degrees between the
    mouth-corner line and the eye line), lip and chin deviation from the midline, the mean distance
    from each landmark mirrored across the midline to its nearest landmark (the whole mesh's left/right
    disagreement, needing no list of symmetric pairs), and yaw (cheek-width imbalance, −1..1).
    """

    def per_side(side: int) -> dict[str, float]:
        eye_y = points[(RIGHT_EYE_RING, LEFT_EYE_RING)[side]][:, 1].mean()
        outer, inner = points[EYE_CORNERS[side][0]], points[EYE_CORNERS[side][1]]
        width = float(np.hypot(*(outer - inner)))
        upper, lower = points[INNER_LIDS[side][0]], points[INNER_LIDS[side][1]]
        return {
            "brow_inner_height": float(eye_y - points[BROW_INNER[side]][1]),
            "brow_outer_height": float(eye_y - points[BROW_OUTER[side]][1]),
            "palpebral_width": width,
            "palpebral_ratio": float(points[LOWER_LID[side]][1] - points[UPPER_LID[side]][1]) / max(width, 1e-6),
            "inner_lid_distance": float(lower[1] - upper[1]),
            "nasolabial_length": float(np.hypot(*(points[NOSE_ALA[side]] - points[MOUTH_CORNER[side]]))),
        }

    right, left = per_side(0), per_side(1)
    corners = points[MOUTH_CORNER[1]] - points[MOUTH_CORNER[0]]
    mesh = points[:468].astype(np.float32)  # float32: 468² distances in half a millisecond, no BLAS, no k-d tree import
    across = (-mesh[:, None, 0] - mesh[None, :, 0]) ** 2 + (mesh[:, None, 1] - mesh[None, :, 1]) ** 2
    nearest = np.sqrt(across.min(axis=1))  # each landmark mirrored across the midline, to its nearest landmark
    return {
        **{name: left[name] - right[name] for name in SIDE_MEASURES},
        "smile_angle": float(np.degrees(np.arctan2(corners[1], corners[0]))),
        "lip_deviation": float((points[UPPER_LIP][0] + points[LOWER_LIP][0]) / 2),
        "chin_deviation": float(points[CHIN][0]),
        "mirror_disagreement": float(nearest.mean()),
        "yaw": _yaw(points),
    }


def _yaw(points: np.ndarray) -> float:
    cheek_right, cheek_left = (
        abs(points[NOSE_TIP][0] - points[CHEEK[0]][0]),
        abs(points[CHEEK[1]][0] - points[NOSE_TIP][0]),
    )
    return float((cheek_left - cheek_right) / max(cheek_left + cheek_right, 1e-6))


def head_yaw(landmarks: np.ndarray) -> float:
    """How far the head is turned, from face-mesh landmarks in pixels: the imbalance of the cheek
    widths either side of the nose tip, −1..1 (0 frontal). Kept for runs trained before the 3-D pose
    (their spec's ``max_yaw``); see :func:`head_pose`."""
    return _yaw(eye_frame(np.asarray(landmarks, dtype=np.float64)))


def head_pose(face: Face) -> Pose:
    """Yaw, pitch and roll (degrees) of a MediaPipe face, from its 3-D mesh."""
    return frontalise(eye_frame(np.column_stack([face.landmarks, face.depth])))


# The drawing's colours, RGB (the canvas is RGB: OpenCV draws whatever triple it is given).
ORANGE, MAGENTA, BLUE = (255, 150, 0), (230, 60, 230), (60, 140, 255)
CANONICAL_SIZE = 384  # landmarks are measured on the aligned crop, so the detector always sees one pose and scale
# Small rotations (degrees) and scalings of the aligned crop, the crop itself first. The measures are
# exactly invariant to them, so the per-landmark median over these views (in the eye frame) averages
# out landmark-detector noise. On rotated (±20°) and rescaled (0.7–1.2×) copies of synthetic faces the
# score moved by up to 28% from a single view. Fifteen views (±6° × 0.92–1.08×) held the region
# measures within 5% and the score within 8%, at 16 MediaPipe passes per photo; these five (one
# pass each, plus one to find the face) hold them within 5.2% and 12.2%, with the same faces found
# and the same landmark-model AUC on the real-photo development set (README, Performance).
JITTER = [(0, 1.0), (-3, 1.0), (3, 1.0), (0, 0.92), (0, 1.08)]


def image_asymmetry(
    rgb: np.ndarray,
    path: str | Path = "image",
    views: list[tuple[float, float]] | None = None,
    expression: str | None = None,
) -> tuple[Asymmetry, np.ndarray, np.ndarray]:
    """Measure the largest face of an RGB image.

    By default on two face-mesh passes: the one that found the face, and a landmark pass on the face cut out
    eye-aligned (``detect.aligned_landmarks``); their 3-D landmarks are brought into the eye frame, averaged, rotated
    to frontal (``pose``) and measured: how a face is found, and what a photo's reading (``face/photo_reading.py``)
    starts from. With ``views`` (JITTER, say) the face is aligned (eyes level,
    fixed inter-ocular distance) and its landmarks found on slightly rotated and rescaled views of that crop; the
    per-landmark median in the eye frame is measured. ``expression`` names the face's expression; without it, it is
    recognised. Returns the measures, the aligned crop and its landmarks (for drawing).
    """
    if not mediapipe_available():
        raise FacepalsyError(f"asymmetry needs the face extra (MediaPipe face mesh): {FACE_INSTALL}")
    face = largest_face(rgb, path, backend="mediapipe")
    if views is not None:
        return face_asymmetry(rgb, face, path, views, expression)
    crop, landmarks = aligned_crop(rgb, face)
    return found_asymmetry(face, expression, aligned_landmarks(crop)), crop, landmarks


def found_asymmetry(face: Face, expression: str | None = None, second: Face | None = None) -> Asymmetry:
    """The measures of a face on the mesh that found it (a photo's pass, or a tracked video frame's) and, for a photo,
    the ``second`` pass on its aligned crop: the mean of the two meshes in the eye frame."""
    meshes = [eye_frame(np.column_stack([f.landmarks, f.depth])) for f in (face, second) if f is not None]
    result = mesh_asymmetry(np.mean(meshes, axis=0), expression)
    result.faces_found, result.face, result.second, result.views = face.faces_found, face, second, len(meshes)
    return result


def aligned_crop(rgb: np.ndarray, face: Face) -> tuple[np.ndarray, np.ndarray]:
    """The face aligned (eyes level) at CANONICAL_SIZE and its landmarks there: what drawings are made on."""
    matrix = alignment_matrix(face.right_eye, face.left_eye, CANONICAL_SIZE)
    return align_face(rgb, face, CANONICAL_SIZE), face.landmarks @ matrix[:, :2].T + matrix[:, 2]


def face_asymmetry(
    rgb: np.ndarray,
    face: Face,
    path: str | Path = "image",
    views: list[tuple[float, float]] = JITTER,
    expression: str | None = None,
    centre: Face | None = None,
) -> tuple[Asymmetry, np.ndarray, np.ndarray]:
    """:func:`image_asymmetry` on ``views`` of a face already found: the median of the views' meshes is measured.
    ``centre``: the aligned crop's own mesh, already found (a photo's second pass), so it is not sought again."""
    crop = align_face(rgb, face, CANONICAL_SIZE)
    middle = (CANONICAL_SIZE / 2, CANONICAL_SIZE / 2)
    landmarks, meshes = None, []
    for degrees, scale in views:
        view = crop
        if (degrees, scale) != (0, 1.0):
            matrix = cv2.getRotationMatrix2D(middle, degrees, scale)
            view = cv2.warpAffine(crop, matrix, (CANONICAL_SIZE, CANONICAL_SIZE), borderMode=cv2.BORDER_REPLICATE)
        faces = [centre] if centre is not None and view is crop else detect_faces(view, backend="mediapipe")
        if faces:
            meshes.append(eye_frame(np.column_stack([faces[0].landmarks, faces[0].depth])))
            if (degrees, scale) == (0, 1.0):
                landmarks = faces[0].landmarks
    if landmarks is None:  # the crop itself was not among the views, or its mesh was not found there
        found = largest_face(crop, path, backend="mediapipe")
        landmarks = found.landmarks
        meshes = meshes or [eye_frame(np.column_stack([found.landmarks, found.depth]))]
    result = mesh_asymmetry(np.median(meshes, axis=0), expression)
    result.faces_found, result.views, result.face = face.faces_found, len(meshes), face
    return result, crop, landmarks


def mesh_asymmetry(mesh: np.ndarray, expression: str | None = None) -> Asymmetry:
    """The measures of a 478×3 mesh (eye frame or pixels): rotated to frontal, measured, its expression named or
    recognised."""
    pose = frontalise(mesh)
    frontal = eye_frame(pose.frontal[:, :2])
    result = measure(frontal)
    result.mesh, result.iris = frontal[:468], (frontal[468:478] if len(frontal) >= 478 else None)
    result.legacy_mesh = eye_frame(mesh[:, :2])
    result.pose = pose.to_dict()
    result.expression, result.expression_named = (expression, True) if expression else (recognise(pose.frontal), False)
    return result


def draw(
    rgb: np.ndarray, landmarks: np.ndarray, result: Asymmetry, path: Path | None = None, verdict: str | None = None
) -> np.ndarray:
    """Landmarks, the eye line, the midline and the measured brow, lid and mouth points, over the face, with the
    verdict (``verdict``, else this photo's own reading) and a legend on a dark band; written as PNG to ``path`` if
    given."""
    from PIL import Image

    canvas = rgb.copy()
    scale = max(1, round(max(rgb.shape[:2]) / 300))
    for x, y in landmarks[:468]:
        cv2.circle(canvas, (round(x), round(y)), scale, (200, 200, 200), -1)
    right_eye, left_eye = landmarks[RIGHT_EYE_RING].mean(axis=0), landmarks[LEFT_EYE_RING].mean(axis=0)
    middle, axis = (right_eye + left_eye) / 2, left_eye - right_eye
    normal = np.array([-axis[1], axis[0]])
    as_int = lambda p: tuple(int(round(v)) for v in p)  # noqa: E731
    cv2.line(canvas, as_int(right_eye - 0.4 * axis), as_int(left_eye + 0.4 * axis), ORANGE, scale)
    cv2.line(canvas, as_int(middle - 0.9 * normal), as_int(middle + 1.6 * normal), ORANGE, scale)
    for side, colour in ((0, MAGENTA), (1, BLUE)):
        weaker = ("right", "left")[side] == result.more_affected_side or result.more_affected_side == "both"
        mark = (255, 40, 40) if weaker else (60, 220, 60)
        for index in (*BROW[side], UPPER_LID[side], LOWER_LID[side], MOUTH_CORNER[side]):
            cv2.circle(canvas, as_int(landmarks[index]), 3 * scale, mark, -1)
        cv2.line(canvas, as_int(landmarks[MOUTH_CORNER[side]]), as_int(middle + normal * 1.1), colour, scale)
    affected = result.more_affected_side
    label = verdict or (f"more affected: {side_words(affected)}" if affected else "within the healthy range")
    lines = [
        f"{label}   score {result.score:.3f}",
        "dots: red on the weaker side, green on the other",
        "orange: eye line, midline; mouth lines: magenta right, blue left",
    ]
    band = 8 + 16 * scale * len(lines)
    canvas[:band] = (canvas[:band] * 0.35).astype(np.uint8)  # a dark band: the text stays readable on any hair
    for row, text in enumerate(lines):
        cv2.putText(
            canvas,
            text,
            (8, 4 + 16 * scale * (row + 1)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.42 * scale,
            (255, 255, 255),
            scale,
            cv2.LINE_AA,
        )
    if path is not None:
        atomic_write(path, lambda tmp: Image.fromarray(canvas).save(tmp, format="PNG"), private=True)  # a face
    return canvas
