"""Drawn faces for the tests that need MediaPipe to find a face: a drawn subject in a chosen expression, a smooth
warp that moves one region (a lower mouth corner, a lower brow) as a palsy would, and dark lenses over the eyes."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from facepalsy.data.synth import draw_face, make_identity, warp_region  # noqa: F401 (the tests import it from here)
from facepalsy.face.detect import LEFT_EYE_RING, RIGHT_EYE_RING

SIZE = 320


def drawn_identity(i: int, palsy: bool = False, side: int = 1, severity: float = 0.9):
    identity = make_identity(np.random.default_rng([i, 0]), palsy=palsy)
    return (
        dataclasses.replace(identity, palsy_side=side, severity=severity) if palsy else identity
    )  # image right (+1) is the patient's left


def drawn_face(i: int, expression: dict | None = None, **identity) -> np.ndarray:
    return np.asarray(
        draw_face(
            drawn_identity(i, **identity),
            np.random.default_rng([i, 1]),
            SIZE,
            expression or {"smile": 0.2, "eye_open": 1.0, "brow_raise": 1.0},
        )
    )


def with_lenses(rgb: np.ndarray, landmarks: np.ndarray, shade: int = 20) -> np.ndarray:
    """The face with a dark lens painted over each eye, a little larger than the orbit measured."""
    out = rgb.copy()
    span = float(np.linalg.norm(landmarks[263] - landmarks[33]))
    for ring in (RIGHT_EYE_RING, LEFT_EYE_RING):
        x, y = landmarks[list(ring)].mean(axis=0)
        cv2.ellipse(out, (round(x), round(y)), (round(0.3 * span), round(0.19 * span)), 0, 0, 360, (shade,) * 3, -1)
    return out
