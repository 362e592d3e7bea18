"""Whether a face's eyes can be seen: dark glasses hide the lids, and so does anything over one eye (hair, a hand, a
patch); the mesh then draws eyes it cannot see.

MediaPipe's face mesh places eye landmarks behind sunglasses as confidently as on bare eyes, so the eye and brow
measures of such a face are guesses; the landmark model abstains on it instead (``models/side_differences.py``).
What tells dark glasses apart here is light: the orbit (an ellipse around each eye, about as large as a lens) is
far darker than the same face's skin on the cheeks and the nose. A squint or a cap's shadow darkens one orbit
or both a little; a lens darkens both, and the brighter of the two then lies under a fifth of the skin's
brightness. What tells one covered eye apart is its lids: a seen eye, open, closed or turned up under its lids,
has sharp edges where the mesh puts its lid margins (lashes, the lid over the white of the eye); hair or a hand has
none there, and its weaker eye's edges fall to a fraction of the other's. Written by hand (a few medians and
maxima of OpenCV's masks and gradients): no library here detects eyewear or a covered eye.
"""

from __future__ import annotations

import cv2
import numpy as np

from facepalsy.face.detect import LEFT_EYE_RING, RIGHT_EYE_RING

SKIN_POINTS = (205, 425, 4)  # mesh points: the cheeks below each eye, and the nose tip
OUTER_CORNERS = (33, 263)  # mesh points: the eyes' outer corners, whose distance sets the regions' size
ORBIT = (0.26, 0.15)  # the orbit's half-width and half-height, in outer-corner distances
SKIN_PATCH = 0.07  # half the side of each skin patch, in outer-corner distances
# mesh points along each eye's upper and lower lid margin, from the outer corner in: the patient's right, then left
LID_MARGINS = (
    ((246, 161, 160, 159, 158, 157, 173), (7, 163, 144, 145, 153, 154, 155)),
    ((466, 388, 387, 386, 385, 384, 398), (249, 390, 373, 374, 380, 381, 382)),
)
LID_SAMPLES = 25  # points read along each margin
LID_BAND = 0.02  # how far above and below each point its edge may lie (the mesh's own error), in outer-corner distances


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


def lid_edges(rgb: np.ndarray, landmarks: np.ndarray) -> float:
    """The weaker eye's lid margins against the stronger's (H×W×3 uint8 RGB, 478×2 mesh points in its pixels): the
    median, along each margin, of the strongest edge within LID_BAND of it, the two margins averaged, as a share
    of the other eye's. For two seen eyes a median of 0.87–0.93 per source of the real-photo folders (1st percentile
    0.36–0.73), a shut eye's about 0.78; under 0.2 for most eyes under hair or a hand; NaN when a margin falls outside
    the image."""
    gray = cv2.GaussianBlur(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
    strength = np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3))
    span = float(np.linalg.norm(landmarks[OUTER_CORNERS[1]] - landmarks[OUTER_CORNERS[0]]))
    band = np.arange(-max(1, round(LID_BAND * span)), max(1, round(LID_BAND * span)) + 1)
    steps = np.linspace(0.0, 1.0, LID_SAMPLES)
    eyes = []
    for margins in LID_MARGINS:
        edges = []
        for margin in margins:
            points = landmarks[list(margin)]
            along = steps * (len(points) - 1)
            x = np.round(np.interp(along, np.arange(len(points)), points[:, 0])).astype(int)
            y = np.round(np.interp(along, np.arange(len(points)), points[:, 1])).astype(int)
            rows = y[:, None] + band[None, :]
            if x.min() < 0 or x.max() >= gray.shape[1] or rows.min() < 0 or rows.max() >= gray.shape[0]:
                return float("nan")
            edges.append(np.median(strength[rows, x[:, None]].max(axis=1)))
        eyes.append(np.mean(edges))
    return float(min(eyes) / max(max(eyes), 1e-6))


# Where eyeglasses draw a horizontal edge from side to side, in inter-ocular distances from the eye centres: their
# bridge across the nose (around the eye line's midpoint) and each lens's lower rim (below each eye). Skin there is
# smooth at rest; an expression (a frown, a squeeze, a snarl) wrinkles the nose's root, so only a resting photo is
# read; and a deep nasal root alone draws the bridge's edge, so the rims must show too.
BRIDGE = (0.08, -0.15, 0.08)  # half-width, top and bottom, around the eyes' midpoint
RIM = (0.3, 0.22, 0.5)  # half-width, top and bottom, around each eye's centre
GLASSES_EYE_DISTANCE = 64  # px between the eye centres the image is resized to first: the edges read alike at any size


def eyeglasses(rgb: np.ndarray, landmarks: np.ndarray) -> float:
    """The weakest of the three edges eyeglasses draw (the bridge, each lower rim), each the longest horizontal edge
    across its box as a share of the box's width (H×W×3 uint8 RGB, 478×2 mesh points in its pixels): near 1 behind
    eyeglasses, low for bare skin; NaN when a box falls outside the image."""
    right, left = landmarks[list(RIGHT_EYE_RING)].mean(axis=0), landmarks[list(LEFT_EYE_RING)].mean(axis=0)
    factor = GLASSES_EYE_DISTANCE / max(float(np.linalg.norm(left - right)), 1e-6)
    shrink = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    gray = cv2.GaussianBlur(cv2.resize(gray, None, fx=factor, fy=factor, interpolation=shrink), (0, 0), 1.0)
    edges = cv2.Canny(gray, 30, 90) > 0
    right, left, distance = right * factor, left * factor, float(GLASSES_EYE_DISTANCE)
    boxes = [((right + left) / 2, BRIDGE), (right, RIM), (left, RIM)]
    shares = []
    for centre, (half, top, bottom) in boxes:
        x0, x1 = int(centre[0] - half * distance), int(centre[0] + half * distance)
        y0, y1 = int(centre[1] + top * distance), int(centre[1] + bottom * distance)
        if x0 < 0 or y0 < 0 or x1 >= edges.shape[1] or y1 >= edges.shape[0]:
            return float("nan")
        box = edges[y0:y1, x0:x1]
        shares.append(max(box[max(row - 1, 0) : row + 2].any(axis=0).mean() for row in range(box.shape[0])))
    return float(min(shares))


def eye_glare(rgb: np.ndarray, landmarks: np.ndarray) -> float:
    """The larger share, of the two eyes, of the lid skin along their margins (just above the upper margin, just
    below the lower, LID_BAND to twice that away) burnt white (every channel at 250 or more): a reflection on a lens
    or a flash over the lids. Lid skin is never white; the white of the eye and a catch-light lie between the margins,
    where this does not look. NaN when a margin falls outside the image."""
    height, width = rgb.shape[:2]
    span = float(np.linalg.norm(landmarks[OUTER_CORNERS[1]] - landmarks[OUTER_CORNERS[0]]))
    step = max(1, round(LID_BAND * span))
    shares = []
    for upper, lower in LID_MARGINS:
        samples = []
        for margin, outward in ((upper, -1), (lower, 1)):
            points = np.round(landmarks[list(margin)]).astype(int)
            rows = points[:, 1][:, None] + outward * np.arange(step, 2 * step + 1)[None, :]
            if points[:, 0].min() < 0 or points[:, 0].max() >= width or rows.min() < 0 or rows.max() >= height:
                return float("nan")
            samples.append(rgb[rows, points[:, 0][:, None]].reshape(-1, 3))
        shares.append(float((np.vstack(samples).min(axis=-1) >= 250).mean()))
    return max(shares)
