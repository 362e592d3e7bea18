"""Drawn faces for the tests that need MediaPipe to find a face: a drawn subject in a chosen expression, a smooth
warp that moves one region (a lower mouth corner, a lower brow) as a palsy would, dark lenses over the eyes, and one
eye covered."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from facepalsy.data.synth import draw_face, make_identity, warp_region  # noqa: F401 (the tests import it from here)
from facepalsy.face.detect import LEFT_EYE_RING, RIGHT_EYE_RING
from facepalsy.face.visibility import OUTER_CORNERS, SKIN_POINTS

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
    span = float(np.linalg.norm(landmarks[OUTER_CORNERS[1]] - landmarks[OUTER_CORNERS[0]]))
    for ring in (RIGHT_EYE_RING, LEFT_EYE_RING):
        x, y = landmarks[list(ring)].mean(axis=0)
        cv2.ellipse(out, (round(x), round(y)), (round(0.3 * span), round(0.19 * span)), 0, 0, 360, (shade,) * 3, -1)
    return out


def with_one_eye_covered(rgb: np.ndarray, landmarks: np.ndarray, side: int = 0) -> np.ndarray:
    """The face with one orbit (the patient's right: 0, left: 1) covered by a patch of its own cheek, stretched over
    it, as a hand or a lock of hair would cover it: skin, with its shading, and no lids."""
    out = rgb.copy()
    span = float(np.linalg.norm(landmarks[OUTER_CORNERS[1]] - landmarks[OUTER_CORNERS[0]]))
    x, y = landmarks[list((RIGHT_EYE_RING, LEFT_EYE_RING)[side])].mean(axis=0)
    cheek = np.round(landmarks[SKIN_POINTS[1 - side]]).astype(int)  # below the other eye
    half = np.maximum(np.round([0.15 * span, 0.1 * span]).astype(int), 2)
    patch = rgb[cheek[1] - half[1] : cheek[1] + half[1], cheek[0] - half[0] : cheek[0] + half[0]]
    axes = (round(0.34 * span), round(0.24 * span))
    mask = np.zeros(rgb.shape[:2], np.uint8)
    cv2.ellipse(mask, (round(x), round(y)), axes, 0, 0, 360, 1, -1)
    big = cv2.resize(patch, (2 * axes[0] + 1, 2 * axes[1] + 1))
    pad = max(big.shape)  # the patch is laid on a padded canvas, so an orbit near the border is covered too
    canvas = np.zeros((rgb.shape[0] + 2 * pad, rgb.shape[1] + 2 * pad, 3), rgb.dtype)
    x0, y0 = round(x) - axes[0] + pad, round(y) - axes[1] + pad
    canvas[y0 : y0 + big.shape[0], x0 : x0 + big.shape[1]] = big
    out[mask > 0] = canvas[pad:-pad, pad:-pad][mask > 0]
    return out
