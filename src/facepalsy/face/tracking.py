"""Following one face through a video's frames: detection on the whole frame only when the face is lost.

A video exam measures every analysed frame, and finding the face in a 1280×720 frame costs a MediaPipe pass of its
own. Between two analysed frames (1/6 s apart) a face moves little, so :class:`FaceTracker` aligns the new frame on the
eyes found in the last one and runs the face mesh on that crop. When the crop holds the face where alignment put it
(the eyes near their places, their distance within a quarter of the intended one), the crop's mesh is mapped back to
frame coordinates and is the frame's face; the crop itself, already nearly aligned, serves as the centre view of the
landmark measure. Otherwise (a cut, a fast turn, a face leaving the frame) the whole frame is searched again.

The landmark measure moves with the crop: re-framing the same face by a pixel moves a region's score by about what
re-taking the photo does. So the alignment follows the eyes only when they move more than 2% of their distance apart:
a still face is measured on the same crop in every frame, as a search of every frame would measure it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facepalsy.face.detect import (
    EYE_DISTANCE_FRACTION,
    MIN_EYE_DISTANCE_PX,
    Face,
    aligned_eyes,
    alignment_matrix,
    detect_faces,
    largest_face,
    mesh_face,
)

EYE_SHIFT_LIMIT = 0.08  # of the crop's size: how far an eye may sit from its aligned place and the face still count
EYE_DISTANCE_LIMIT = 0.25  # relative change of the eye distance (a zoom or a turn) beyond which the face is sought anew
STILL = 0.02  # of the eye distance: eyes that moved less keep the last alignment, so a still face keeps its crop


@dataclass
class Found:
    """A frame's face, in frame coordinates, and, when tracked, the crop it was found in and the crop's mesh (crop
    coordinates), which the landmark measure uses as its centre view."""

    face: Face
    crop: np.ndarray | None = None
    crop_face: Face | None = None


class FaceTracker:
    """The largest face of successive frames (MediaPipe), searched on the whole frame only when tracking is lost."""

    def __init__(self, size: int):
        self.size = size  # the aligned crop's side (the landmark measure's canonical size)
        self.eyes: tuple[tuple[float, float], tuple[float, float]] | None = None
        self.detections = 0  # whole-frame searches
        self.tracked = 0  # frames whose face was found in the crop of the last one

    def find(self, rgb: np.ndarray, name: str | Path = "frame") -> Found:
        """The frame's face; NoFaceError (naming ``name``) when the whole frame has none usable."""
        if self.eyes is not None:
            found = self._follow(rgb)
            if found is not None:
                self.tracked += 1
                return found
        self.eyes = None
        self.detections += 1
        face = largest_face(rgb, name, backend="mediapipe")
        self.eyes = (face.right_eye, face.left_eye)
        return Found(face)

    def _follow(self, rgb: np.ndarray) -> Found | None:
        matrix = alignment_matrix(*self.eyes, self.size)
        crop = cv2.warpAffine(
            rgb, matrix, (self.size, self.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        faces = detect_faces(crop, backend="mediapipe")
        if not faces or not self._where_aligned(faces[0]):
            return None
        face = _to_frame(faces[0], matrix)
        face.faces_found = len(faces)
        if np.hypot(*np.subtract(face.left_eye, face.right_eye)) < MIN_EYE_DISTANCE_PX:
            return None  # too small to align: the whole-frame search says so, with its reason
        moved = max(np.hypot(*np.subtract(new, old)) for new, old in zip((face.right_eye, face.left_eye), self.eyes))
        if moved > STILL * np.hypot(*np.subtract(*self.eyes)):
            self.eyes = (face.right_eye, face.left_eye)
        return Found(face, crop, faces[0])

    def _where_aligned(self, face: Face) -> bool:
        """Are the crop's eyes where the alignment on the last frame's eyes put them?"""
        target_right, target_left = aligned_eyes(self.size)
        shift = max(
            np.hypot(*np.subtract(face.right_eye, target_right)), np.hypot(*np.subtract(face.left_eye, target_left))
        )
        distance = np.hypot(*np.subtract(face.left_eye, face.right_eye)) / (EYE_DISTANCE_FRACTION * self.size)
        return shift <= EYE_SHIFT_LIMIT * self.size and abs(distance - 1.0) <= EYE_DISTANCE_LIMIT


def _to_frame(face: Face, matrix: np.ndarray) -> Face:
    """A face found in an aligned crop, in the coordinates of the frame the crop was cut from."""
    inverse = cv2.invertAffineTransform(matrix)
    scale = float(np.sqrt(abs(np.linalg.det(inverse[:, :2]))))
    return mesh_face(face.landmarks @ inverse[:, :2].T + inverse[:, 2], face.depth * scale)
