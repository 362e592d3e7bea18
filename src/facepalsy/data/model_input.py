"""The one way from an RGB image to a model's input: the face policy (whole image, aligned face crop, or harmonised
face; a yaw limit), in one place, so a photo gives the model the same pixels whichever door it came in by."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facepalsy.data.harmonise import Harmonisation, decode_jpeg, harmonised_jpeg
from facepalsy.data.images import resize_square
from facepalsy.errors import TurnedFaceError
from facepalsy.face.asymmetry import head_pose, head_yaw
from facepalsy.face.detect import Face, align_face, crop_face, detect_faces, largest_face


@dataclass
class ModelInput:
    pixels: np.ndarray  # size×size×3 uint8: what the network sees
    faces_found: int | None = None  # None: not looked for
    face_box: tuple[float, float, float, float] | None = None  # the largest face, x0, y0, x1, y1 in the original image
    face_used: bool = False  # True: pixels are the aligned crop of that face


@dataclass(frozen=True)
class FacePolicy:
    """What a model needs of the face in an image; part of its spec, so every door applies the same."""

    crop: bool = False  # the model sees the aligned crop of the largest face
    required: bool = False  # no usable face, no verdict (always so with ``crop`` or ``harmonise``)
    max_yaw: float | None = (
        None  # runs before the 3-D pose: a face whose cheek-width imbalance is larger gets no verdict
    )
    harmonise: Harmonisation | None = None  # one face crop, level of detail and JPEG re-encoding for every image
    max_yaw_degrees: float | None = (
        None  # a face turned further (3-D mesh, degrees) gets no verdict (the landmark model compares the sides)
    )

    @property
    def needs_face(self) -> bool:
        return self.crop or self.required or self.harmonise is not None

    def label(self) -> str:
        """The policy in a few words, for a table cell (``describe`` says it in full)."""
        if self.harmonise is not None:
            return f"harmonised ({self.harmonise.detail} px, JPEG {self.harmonise.jpeg_quality})"
        if self.crop:
            return "face crop"
        return "whole image, face required" if self.required else "whole image"

    def describe(self) -> str:
        """The policy in one sentence, for reports and the web page."""
        if self.harmonise is not None:
            h = self.harmonise
            text = (
                f"harmonised: the aligned largest face, {h.detail} px "
                f"across, inside a grey oval, JPEG quality {h.jpeg_quality}, "
                "the same for every image"
            )
        elif self.crop:
            text = "the aligned crop of the largest face"
        else:
            text = "the whole image, resized"
        text += (
            "; no usable face, no verdict" if self.needs_face else "; images without a detectable face are labelled too"
        )
        if self.max_yaw_degrees is not None:
            text += f"; a face turned further than ±{self.max_yaw_degrees:g}° gets no verdict"
        return text + (
            f"; a face turned further than yaw ±{self.max_yaw} gets no verdict" if self.max_yaw is not None else ""
        )


WHOLE_IMAGE = FacePolicy()  # the whole image, resized; no face needed


def model_input(
    rgb: np.ndarray,
    size: int,
    policy: FacePolicy = WHOLE_IMAGE,
    name: str | Path = "image",
    find_faces: bool = True,
    face: Face | None = None,
) -> ModelInput:
    """The face policy, in one place.

    A harmonised model sees the harmonised face (see :mod:`facepalsy.data.harmonise`); a face-crop
    model the aligned crop of the largest face. Either gets nothing (NoFaceError) without a usable
    face, nor when ``max_yaw`` is set and the head is turned further. A whole-image model sees the
    whole image resized; it too gets nothing without a face when the policy requires one, and
    otherwise the faces are looked for anyway (``find_faces``) and reported as information. ``face``: the image's
    largest face, when the caller found it already (a video's tracker, shared with the landmark measure).
    """
    if policy.harmonise is not None:
        data, face = harmonised_jpeg(rgb, size, policy.harmonise, name, face)
        pixels = decode_jpeg(data)
        if policy.crop:  # the landmark model measures the harmonised face as it would any other photo
            pixels = model_input(
                pixels,
                size,
                FacePolicy(crop=True, max_yaw=policy.max_yaw, max_yaw_degrees=policy.max_yaw_degrees),
                name,
                find_faces,
            ).pixels
        else:
            _check_yaw(face, policy, name)
        return ModelInput(pixels, face.faces_found, _box(face.box), True)
    if policy.crop:
        crop, face = (align_face(rgb, face, size), face) if face is not None else crop_face(rgb, size, name)
        _check_yaw(face, policy, name)
        return ModelInput(crop, face.faces_found, _box(face.box), True)
    pixels = resize_square(rgb, size)
    if policy.required:  # the same rule as the face crop: the largest face, both eyes, large enough
        face = face or largest_face(rgb, name)
        return ModelInput(pixels, face.faces_found, _box(face.box))
    if face is not None:
        return ModelInput(pixels, face.faces_found, _box(face.box))
    if not find_faces:
        return ModelInput(pixels)
    faces = detect_faces(rgb)
    return ModelInput(pixels, len(faces), _box(faces[0].box) if faces else None)


def _check_yaw(face, policy: FacePolicy, name) -> None:
    if face.landmarks is None or (policy.max_yaw is None and policy.max_yaw_degrees is None):
        return
    if policy.max_yaw_degrees is not None and face.depth is not None:
        yaw = head_pose(face).yaw
        if abs(yaw) > policy.max_yaw_degrees:
            raise TurnedFaceError(
                name,
                f"face turned too far to compare its sides (yaw {yaw:+.0f}°, limit ±{policy.max_yaw_degrees:g}°); "
                "a frontal photo is needed",
            )
    if policy.max_yaw is not None:
        yaw = head_yaw(face.landmarks)
        if abs(yaw) > policy.max_yaw:
            raise TurnedFaceError(
                name,
                f"face turned too far to compare its sides (yaw {yaw:+.2f}, "
                f"limit ±{policy.max_yaw}); a frontal photo is needed",
            )


def _box(box) -> tuple[float, float, float, float]:
    return tuple(round(float(v), 1) for v in box)
