"""Whether a face's eyes can be seen: dark glasses hide the lids, and the mesh then draws eyes it cannot see.

MediaPipe's face mesh places eye landmarks behind sunglasses as confidently as on bare eyes, so the eye and brow
measures of such a face are guesses; the landmark model abstains on it instead (``models/side_differences.py``).
What tells dark glasses apart here is light: the orbit (an ellipse around each eye, about as large as a lens) is
far darker than the same face's skin on the cheeks and the nose. A squint or a cap's shadow darkens one orbit
or both a little; a lens darkens both, and the brighter of the two then lies under a fifth of the skin's
brightness. Written by hand (a few medians with OpenCV's masks): no library here detects eyewear.
"""

from __future__ import annotations

import cv2
import numpy as np

from facepalsy.face.detect import LEFT_EYE_RING, RIGHT_EYE_RING

SKIN_POINTS = (205, 425, 4)  # mesh points: the cheeks below each eye, and the nose tip
OUTER_CORNERS = (33, 263)  # mesh points: the eyes' outer corners, whose distance sets the regions' size
ORBIT = (0.26, 0.15)  # the orbit's half-width and half-height, in outer-corner distances
SKIN_PATCH = 0.07  # half the side of each skin patch, in outer-corner distances


def orbit_brightness(rgb: np.ndarray, landmarks: np.ndarray) -> float:
    """The brighter eye orbit's median luminance over the median of the skin patches (H×W×3 uint8 RGB, 478×2 mesh
    points in its pixels): about 0.4–1.0 for bare eyes, under 0.2 behind dark lenses; NaN when a region falls
    outside the image."""
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    centres = [landmarks[list(ring)].mean(axis=0) for ring in (RIGHT_EYE_RING, LEFT_EYE_RING)]
    span = float(np.linalg.norm(landmarks[OUTER_CORNERS[1]] - landmarks[OUTER_CORNERS[0]]))
    axes = (round(ORBIT[0] * span), round(ORBIT[1] * span))
    orbits = []
    for centre in centres:
        mask = np.zeros(gray.shape, np.uint8)
        cv2.ellipse(mask, (round(centre[0]), round(centre[1])), axes, 0, 0, 360, 1, -1)
        inside = gray[mask > 0]
        if inside.size == 0:
            return float("nan")
        orbits.append(np.median(inside))
    half = max(1, round(SKIN_PATCH * span))
    patches = []
    for x, y in np.round(landmarks[list(SKIN_POINTS)]).astype(int):
        patch = gray[max(y - half, 0) : y + half, max(x - half, 0) : x + half]
        if patch.size == 0:
            return float("nan")
        patches.append(np.median(patch))
    return float(max(orbits) / (np.median(patches) + 1.0))
