"""Whether a photo can support a grade item, and why not: nothing is graded that the photo cannot show.

A grade item is a few mm on one side of the face against the other. The photo must be large enough for those mm
(the items' MDC95 were measured on KDEF's studio faces, REFERENCE_EYE_DISTANCE_PX between the eyes: on a face half
that size a pixel is twice as many mm, and an item is not read), frontal enough (the head's yaw and pitch within
the item's tolerance: the pose is taken out of the mesh, but a turned face hides the far side's lid and corner), and
the eye items need eyes the mesh can follow: not covered (``visibility.lid_edges``, the landmark model's rule), no
eyeglasses over the lids (``visibility.eyeglasses`` on the resting photo: the bridge and both lower rims; an
expression wrinkles the nose's root), no glare burnt white over the lid margins (``visibility.eye_glare``), and in
an eye-closure photo an eye that the mesh reads as closing (the more closed eye under CLOSURE_FOLLOWED of its
resting fissure; otherwise the mesh did not follow the lids, or the eyes did not close). Each rule's threshold is
written here and in the docs (*Grade*); they are set by hand on the real-photo folders, not fitted.

Each reading that makes an item unreadable gives a plain reason; the grade leaves the item ungraded with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

REFERENCE_EYE_DISTANCE_PX = 91.0  # KDEF's median eye distance in pixels (benchmarks/grade.py): where the MDC95 hold
SMALL_FACE = 0.5  # a face under this share of REFERENCE_EYE_DISTANCE_PX is too small for a mm item
# yaw and pitch (degrees) an item tolerates: a static item compares positions, which a turn shifts; a movement is read
# against the same person's rest, so it tolerates more
TOLERANCE = {"static": (12.0, 12.0), "dynamic": (20.0, 15.0), "synkinesis": (20.0, 15.0)}
COVERED = 0.2  # lid edges of the weaker eye under this share of the other's: something covers it
GLASSES = 0.5  # horizontal edges across this share of the nose bridge and of both rims' boxes at rest: eyeglasses
GLARE = 0.25  # this share of an eye's lid margins burnt white: glare over the lids
CLOSURE_FOLLOWED = 0.5  # in an eye closure, the more closed eye still this share of its resting fissure open
EYE_ITEMS = ("palpebral_fissure_at_rest", "gentle_eye_closure", "full_eye_closure", "ocular_synkinesis")
CLOSURE_ITEMS = ("gentle_eye_closure", "full_eye_closure")


@dataclass(frozen=True)
class PhotoQuality:
    """What one photo can show, read once when it is measured."""

    eye_distance_px: float  # between the eye centres, in the photo's own pixels
    yaw: float  # degrees, the head's turn (the mesh's pose)
    pitch: float  # degrees, its nod
    lid_edges: float  # the weaker eye's lid margins against the other's (visibility.lid_edges; NaN: not read)
    glasses: float  # the edges eyeglasses draw across the bridge and the rims (visibility.eyeglasses; NaN: not read)
    glare: float  # the larger share of an eye's lid margins burnt white (visibility.eye_glare; NaN: not read)

    def to_dict(self) -> dict:
        return {key: None if np.isnan(value) else round(float(value), 3) for key, value in asdict(self).items()}

    @property
    def scale(self) -> float:
        """How much wider than its MDC95 an item's noise is on this face: 1 at the reference size or larger."""
        return max(1.0, REFERENCE_EYE_DISTANCE_PX / max(self.eye_distance_px, 1e-6))


def photo_quality(rgb: np.ndarray, landmarks: np.ndarray, pose: dict[str, float]) -> PhotoQuality:
    """The quality of a photo's face: ``landmarks`` (478×2) in the photo's pixels, ``pose`` its yaw and pitch."""
    from facepalsy.face.detect import LEFT_EYE_RING, RIGHT_EYE_RING
    from facepalsy.face.visibility import eye_glare, eyeglasses, lid_edges

    right, left = landmarks[list(RIGHT_EYE_RING)].mean(axis=0), landmarks[list(LEFT_EYE_RING)].mean(axis=0)
    return PhotoQuality(
        float(np.linalg.norm(left - right)),
        float(pose.get("yaw", 0.0)),
        float(pose.get("pitch", 0.0)),
        lid_edges(rgb, landmarks),
        eyeglasses(rgb, landmarks),
        eye_glare(rgb, landmarks),
    )


def unreadable(name: str, kind: str, photos: dict[str, PhotoQuality], closing: float | None = None) -> str | None:
    """Why an item cannot be read from its photos (``photos``: expression → quality, rest included where it has
    one), or None. ``closing``: for an eye closure, the more closed eye's fissure as a share of its resting one."""
    for expression, quality in photos.items():
        if quality.eye_distance_px < SMALL_FACE * REFERENCE_EYE_DISTANCE_PX:
            return (
                f"the face in the {_said(expression)} photo is {quality.eye_distance_px:.0f} px between the eyes, "
                f"under half the {REFERENCE_EYE_DISTANCE_PX:.0f} px the item's MDC95 was measured at"
            )
        yaw, pitch = TOLERANCE[kind]
        if abs(quality.yaw) > yaw or abs(quality.pitch) > pitch:
            return (
                f"the head in the {_said(expression)} photo is turned {quality.yaw:+.0f}° and nodded "
                f"{quality.pitch:+.0f}°, beyond this item's ±{yaw:g}° / ±{pitch:g}°"
            )
    if name not in EYE_ITEMS:
        return None
    for expression, quality in photos.items():
        if quality.glare > GLARE:
            return f"glare over the lids in the {_said(expression)} photo ({100 * quality.glare:.0f}% burnt white)"
        if quality.lid_edges < COVERED:
            return f"an eye is covered in the {_said(expression)} photo (its lid margins cannot be seen)"
    rest = photos.get("rest")
    if rest is not None and rest.glasses >= GLASSES:
        return "eyeglasses over the eyes (seen at rest): the mesh's lids can follow the frames"
    if name in CLOSURE_ITEMS and closing is not None and closing > CLOSURE_FOLLOWED:
        return (
            f"in the eye-closure photo the more closed eye still reads {100 * closing:.0f}% open: the mesh did not "
            "follow the lids, or the eyes did not close"
        )
    return None


def _said(expression: str) -> str:
    return expression.replace("_", " ")
