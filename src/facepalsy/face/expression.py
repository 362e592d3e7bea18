"""Which expression a face shows, from its frontal mesh: the clinical exam's expressions.

Healthy faces are asymmetric in expressions (a lopsided smile, one brow higher in a raise), so a
face is compared with healthy faces making the same expression (``norms``). A photo named by its
expression keeps that name (the way a clinician states it); any other photo gets the expression
recognised here.

Recognition is a short list of rules on a few distances of the frontal mesh (``face/pose.py``), in
inter-ocular distances, each taken on the side that moves most, since a palsied side moves little:

- eye closure: the more closed eye's lid gap under EYE_CLOSED of its width;
- brow raise: the higher brow over BROW_RAISED above its eye;
- pucker: mouth corners under PUCKER_WIDTH apart;
- snarl (nose wrinkle): upper lip within SNARL_LIP_NOSE of the nose base, no wide smile;
- smile: a mouth corner SMILE_LIFT above the lip centre, or the mouth wider than SMILE_WIDTH;
- lip depression: the lips LIP_DEPRESSION apart with the corners not raised;
- rest otherwise.

The thresholds are set from the spread of 438 healthy faces of the real-photo development set
(mostly at rest or smiling): each lies beyond the 99th percentile of resting faces for that distance.
Rules rather than a learned classifier: no labelled expression photos are available to train one.
"""

from __future__ import annotations

import numpy as np

EXPRESSIONS = (
    "rest",
    "brow_raise",
    "eye_closure_gentle",
    "eye_closure_full",
    "smile",
    "snarl",
    "pucker",
    "lip_depression",
)
EYE_CLOSED = 0.07  # lid gap / eye width
BROW_RAISED = 0.43  # brow above the eye corners
PUCKER_WIDTH = 0.60
SNARL_LIP_NOSE = 0.14
SMILE_LIFT, SMILE_WIDTH = 0.08, 0.98
LIP_DEPRESSION = 0.12

# Mesh indices per side (patient's right, left).
_EYE = {"upper": (159, 386), "lower": (145, 374), "outer": (33, 263), "inner": (133, 362)}
_BROW = ((70, 63, 105, 66, 107), (300, 293, 334, 296, 336))
_MOUTH_CORNER = (61, 291)
_INNER_UPPER_LIP, _INNER_LOWER_LIP, _UPPER_LIP, _NOSE_BASE = 13, 14, 0, 2


def expression_measures(frontal: np.ndarray) -> dict[str, float]:
    """The distances the rules read, from a frontal mesh (``Pose.frontal``), in inter-ocular distances."""
    points = frontal[:, :2] / max(float(np.linalg.norm(frontal[473, :2] - frontal[468, :2])), 1e-9)
    eyes, brows = [], []
    for side in (0, 1):
        width = np.linalg.norm(points[_EYE["outer"][side]] - points[_EYE["inner"][side]])
        eyes.append((points[_EYE["lower"][side], 1] - points[_EYE["upper"][side], 1]) / max(width, 1e-9))
        corners_y = points[[_EYE["outer"][side], _EYE["inner"][side]], 1].mean()
        brows.append(corners_y - points[list(_BROW[side]), 1].mean())
    lip_centre = (points[_INNER_UPPER_LIP, 1] + points[_INNER_LOWER_LIP, 1]) / 2
    return {
        "eye_closed_gap": float(min(eyes)),
        "brow_height": float(max(brows)),
        "mouth_width": float(np.linalg.norm(points[_MOUTH_CORNER[1]] - points[_MOUTH_CORNER[0]])),
        "corner_lift": float(max(lip_centre - points[c, 1] for c in _MOUTH_CORNER)),
        "lip_gap": float(points[_INNER_LOWER_LIP, 1] - points[_INNER_UPPER_LIP, 1]),
        "lip_to_nose": float(points[_UPPER_LIP, 1] - points[_NOSE_BASE, 1]),
    }


def recognise(frontal: np.ndarray) -> str:
    """The expression of a frontal mesh: one of EXPRESSIONS (eye closure is named eye_closure_full)."""
    m = expression_measures(frontal)
    smiling = m["corner_lift"] > SMILE_LIFT or m["mouth_width"] > SMILE_WIDTH
    if m["eye_closed_gap"] < EYE_CLOSED:
        return "eye_closure_full"
    if m["brow_height"] > BROW_RAISED:
        return "brow_raise"
    if m["mouth_width"] < PUCKER_WIDTH:
        return "pucker"
    if m["lip_to_nose"] < SNARL_LIP_NOSE and not smiling:
        return "snarl"
    if smiling:
        return "smile"
    if m["lip_gap"] > LIP_DEPRESSION:
        return "lip_depression"
    return "rest"


# A video holds the person's own rest: an expression is made in a frame where its measure moved from that rest by
# about half the distance between a healthy resting face and the photo rule above (so a palsied smile, whose weak
# corner stays put, still counts, as long as the other corner lifts); an eye closure is made where one eye closes.
FROM_REST = {
    "smile": (("corner_lift", 0.04), ("mouth_width", 0.06)),
    "brow_raise": (("brow_height", 0.04),),
    "snarl": (("lip_to_nose", -0.04),),
}


def made_from_rest(rest: dict[str, float], frame: dict[str, float], expression: str) -> bool:
    """Whether a frame (its ``expression_measures``) shows ``expression`` against the same person's rest: a snarl is
    no smile, an eye closure needs a closed eye (a brow raise widens the eyes, which moves them too)."""
    if expression in ("eye_closure_full", "eye_closure_gentle"):
        return frame["eye_closed_gap"] < EYE_CLOSED
    moved = any((frame[key] - rest[key]) * (1 if step > 0 else -1) >= abs(step) for key, step in FROM_REST[expression])
    if expression == "snarl":
        return moved and not made_from_rest(rest, frame, "smile")
    return moved
