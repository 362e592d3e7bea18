"""Palsied twins of healthy faces: the same photo with a one-sided palsy drawn in, for the landmark model to learn
the palsy from rather than the photo's source.

Why. In every real folder the source and the label are entangled (one web source of palsy photos, studio and news
photos of healthy people): a model fitted on them can learn "what a palsy source looks like". A twin differs from
its healthy original only in the palsy, at the original's resolution, light, pose, expression and source, so the
only thing that tells the two apart is the asymmetry a clinician would see:

- **central** (stroke-type): one mouth corner lower, MOUTH_MM, the forehead and eye spared; on a face that smiles,
  the corner also moves less outward (SMILE_INWARD of the drop), the lagging corner of a FAST smile;
- **peripheral** (Bell's-type): the same corner, and on the same side the brow lower (BROW_MM).

Sizes are in mm on the photo's own scale (the iris, ``face.millimetres``), drawn from the ranges a clinic grades
as mild to moderately severe. A share of twins (DEGRADED_SHARE) and their originals, alike, are brought down to the
resolution and JPEG quality of news photos (DEGRADED_PIXELS, DEGRADED_QUALITY), so that small, compressed faces
are learnt with and without a palsy and their noise reads as neither.

What is not drawn: the eye. A wider fissure drawn by a lid warp (``data.synth.close_eyelids``, the lower lid sagging)
moves the eye's centre, which every measure is taken from, so that the twin's brow and mouth read *less* weak
(measured on a drawn face: a 30% wider eye moved the same side's mouth corner up by 0.027 inter-ocular distances);
a shut eye has no fissure a warp could open without folding the lids. Nor the flattened nasolabial fold (a texture
change a warp of the photo's own pixels does not make), nor a forehead that does not wrinkle: the twins carry the
mouth and brow geometry only, drawn by ``data.synth.warp_region`` (a smooth displacement).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from facepalsy.data.synth import warp_region
from facepalsy.face.millimetres import mm_per_pixel

KINDS = ("central", "peripheral")
SIDES = ("right", "left")  # the patient's
MOUTH_CORNER = (61, 291)  # face-mesh points, patient's right, left
BROW = (105, 334)
EYE_CENTRE = (468, 473)  # iris centres
CHEEKS = (234, 454)  # the face's outline at its widest: its width in pixels
MOUTH_MM = (2.0, 6.0)  # the corner's drop, uniform
BROW_MM = (2.0, 5.0)
SMILE_INWARD = 0.5  # on a smile, the corner also lags this share of its drop towards the midline
WARP_WIDTH = 0.16  # of the inter-ocular distance: the displacement's Gaussian width (the grade benchmark's)
SMILING = ("smile", "snarl")
DEGRADED_SHARE = 0.25
DEGRADED_PIXELS = (90, 130)  # the face's width in news photos (LFW's 250-px frames)
DEGRADED_QUALITY = (55, 90)


@dataclass(frozen=True)
class TwinPlan:
    """What palsy one twin carries: drawn once per original photo, so that it is the same twin in every fold."""

    kind: str  # one of KINDS
    side: str  # the patient's side of the palsy: "right" or "left"
    mouth_mm: float  # how far the mouth corner is drawn down
    brow_mm: float  # how far the brow is drawn down (0 for central)
    pixels: int = 0  # > 0: the pair is brought down to a face this many pixels wide first
    quality: int = 0  # and JPEG-encoded at this quality


def plan_twin(image: np.ndarray, seed: int = 0, kind: str | None = None) -> TwinPlan:
    """The twin of one image, drawn from its bytes and ``seed`` (the same image and seed give the same twin)."""
    digest = hashlib.sha1(np.ascontiguousarray(image).tobytes()).digest()
    rng = np.random.default_rng([int.from_bytes(digest[:8], "little"), seed])
    kind = kind or KINDS[int(rng.integers(len(KINDS)))]
    side = SIDES[int(rng.integers(2))]
    mouth = float(rng.uniform(*MOUTH_MM))
    brow = float(rng.uniform(*BROW_MM))
    degraded = rng.random() < DEGRADED_SHARE
    pixels, quality = int(rng.integers(*DEGRADED_PIXELS)), int(rng.integers(*DEGRADED_QUALITY))
    peripheral = kind == "peripheral"
    return TwinPlan(
        kind,
        side,
        mouth,
        brow if peripheral else 0.0,
        pixels if degraded else 0,
        quality if degraded else 0,
    )


def draw_twin(rgb: np.ndarray, landmarks: np.ndarray, plan: TwinPlan, expression: str = "rest") -> np.ndarray:
    """The photo (H×W×3 uint8) with the planned palsy drawn in on its face (``landmarks``: its 478-point mesh in
    pixels); ``expression``: the face's, so that a smile lags. The pair's degradation is
    :func:`degrade`'s, applied afterwards to both."""
    side = SIDES.index(plan.side)
    per_mm = 1.0 / mm_per_pixel(landmarks)
    iod = float(np.hypot(*(landmarks[EYE_CENTRE[1]] - landmarks[EYE_CENTRE[0]])))
    inward = (1.0 if side == 0 else -1.0) * (SMILE_INWARD if expression in SMILING else 0.0)
    drop = plan.mouth_mm * per_mm
    image = warp_region(rgb, landmarks[MOUTH_CORNER[side]], (inward * drop, drop), WARP_WIDTH * iod)
    if plan.kind == "peripheral":
        image = warp_region(image, landmarks[BROW[side]], (0.0, plan.brow_mm * per_mm), WARP_WIDTH * iod)
    return image


def twin_pair(
    rgb: np.ndarray, landmarks: np.ndarray, plan: TwinPlan, expression: str = "rest"
) -> tuple[np.ndarray, np.ndarray]:
    """The healthy original and its palsied twin, both degraded alike where the plan says so (the original unchanged
    otherwise)."""
    twin = draw_twin(rgb, landmarks, plan, expression)
    if not plan.pixels:
        return rgb, twin
    width = float(np.hypot(*(landmarks[CHEEKS[1]] - landmarks[CHEEKS[0]])))
    return degrade(rgb, width, plan), degrade(twin, width, plan)


def degrade(rgb: np.ndarray, face_width: float, plan: TwinPlan) -> np.ndarray:
    """The photo as a news photo would show it: scaled so the face (``face_width`` pixels now) is ``plan.pixels`` wide,
    JPEG-encoded at ``plan.quality``, and scaled back to its size; unchanged when the plan has no degradation."""
    if not plan.pixels:
        return rgb
    import cv2

    height, width = rgb.shape[:2]
    factor = min(1.0, plan.pixels / max(face_width, 1.0))
    size = (max(8, round(width * factor)), max(8, round(height * factor)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", small[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, plan.quality])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[:, :, ::-1] if ok else small
    return np.ascontiguousarray(cv2.resize(decoded, (width, height), interpolation=cv2.INTER_LINEAR))
