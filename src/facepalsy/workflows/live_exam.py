"""The guided live exam: a camera's frames, measured as they come, one expression asked for at a time.

The clinician (or the patient) in front of a camera is asked for each expression of the exam in turn. Every frame is
followed (``FaceTracker``), measured on its one face-mesh pass and judged:

- *frontal*: head yaw and pitch within FRONTAL_YAW and FRONTAL_PITCH, so the two sides can be compared;
- *shows the expression asked*: the recognised expression (``face/expression.py``) is the one asked; its rules do not
  tell a gentle eye closure from a full one, so either closure counts for both;
- the best frame of each expression is kept: the one that shows it most (STRENGTH: the brow raised highest, the eye
  most closed, the widest smile, …; for rest, the most frontal);
- after HOLD_FRAMES frames showing it, the exam moves on to the next expression.

When every expression has its frame (or the clinician stops early), the kept frames are measured as an exam of named
photos is (on JITTER's views, read against the healthy ranges) and the exam and its grade are made from them. Frames
live only in memory: nothing is written unless the exam is recorded, and a record keeps its frames' hashes, as for an
uploaded exam.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from facepalsy.errors import BadImageError, FacepalsyError
from facepalsy.face.asymmetry import Asymmetry, found_asymmetry
from facepalsy.face.exam_result import Exam
from facepalsy.face.expression import EXPRESSIONS, expression_measures
from facepalsy.face.norms import Norms
from facepalsy.face.tracking import FaceTracker
from facepalsy.workflows.exam import make_exam
from facepalsy.workflows.exam_measures import Measured, measure_named

# A frame counts when the head is turned (yaw) and tipped (pitch) at most this far, in degrees. The pitch allowance is
# wider: the mesh's pitch of a face looking straight at a camera held below or above the eyes reads 5–15°.
FRONTAL_YAW, FRONTAL_PITCH = 10.0, 20.0
HOLD_FRAMES = 6  # frames showing the asked expression before the next is asked for (0.4 s at 15 frames a second)
CLOSURES = ("eye_closure_gentle", "eye_closure_full")
# Per expression, how strongly a frame shows it: a distance of ``expression_measures`` and its sign (larger is more).
STRENGTH = {
    "brow_raise": ("brow_height", 1.0),
    "eye_closure_gentle": ("eye_closed_gap", -1.0),
    "eye_closure_full": ("eye_closed_gap", -1.0),
    "smile": ("mouth_width", 1.0),
    "snarl": ("lip_to_nose", -1.0),
    "pucker": ("mouth_width", -1.0),
    "lip_depression": ("lip_gap", 1.0),
}
PROMPTS = {
    "rest": "Relax the face and look at the camera",
    "brow_raise": "Raise both eyebrows as high as you can",
    "eye_closure_gentle": "Close the eyes gently, as in sleep",
    "eye_closure_full": "Close the eyes tightly",
    "smile": "Smile broadly, showing the teeth",
    "snarl": "Wrinkle the nose (snarl)",
    "pucker": "Pucker the lips, as for a kiss",
    "lip_depression": "Pull the lower lip down, showing the lower teeth",
}


@dataclass
class Kept:
    """The best frame so far of one expression."""

    frame: np.ndarray  # RGB, in memory only
    result: Asymmetry  # its one-pass measure
    strength: float
    time: float  # seconds since the exam started


@dataclass
class LiveStatus:
    """What the page shows after each frame."""

    asked: str | None  # the expression asked for now; None once every expression has its frame
    face: bool  # a usable face was found
    frontal: bool
    recognised: str | None  # the expression the frame shows
    shows_asked: bool
    held: int  # frames in a row showing the asked expression
    kept: list[str] = field(default_factory=list)  # expressions with a kept frame
    frames: int = 0  # frames measured so far

    @property
    def done(self) -> bool:
        return self.asked is None

    def markdown(self) -> str:
        """The guidance line and the checklist, for the page."""
        if self.done:
            head = "**Every expression has its frame.** Press *Finish* to run the exam."
        elif not self.face:
            head = f"**{PROMPTS[self.asked]}.** No face found: face the camera, in good light."
        elif not self.frontal:
            head = f"**{PROMPTS[self.asked]}.** Turn to face the camera straight on."
        elif not self.shows_asked:
            seen = (self.recognised or "rest").replace("_", " ")
            head = f"**{PROMPTS[self.asked]}.** Frontal ✓; the face shows {seen}."
        else:
            head = f"**{PROMPTS[self.asked]}.** Frontal ✓, {self.asked.replace('_', ' ')} ✓ — hold it ({self.held})."
        ticks = " · ".join(("✓ " if e in self.kept else "○ ") + e.replace("_", " ") for e in EXPRESSIONS)
        return f"{head}\n\n{ticks}\n\n{self.frames} frames measured."


class LiveExam:
    """One guided exam over a camera's frames; ``add`` each frame as it comes, then ``finish``."""

    def __init__(self, norms: Norms, order: tuple[str, ...] = EXPRESSIONS, hold: int = HOLD_FRAMES):
        self.norms, self.order, self.hold = norms, order, hold
        self.tracker = FaceTracker()
        self.kept: dict[str, Kept] = {}
        self.step, self.held, self.frames = 0, 0, 0

    @property
    def asked(self) -> str | None:
        return self.order[self.step] if self.step < len(self.order) else None

    def add(self, rgb: np.ndarray, time: float) -> LiveStatus:
        """Measure one frame (RGB, any size) taken ``time`` seconds into the exam, keep it if it is the best of the
        asked expression so far, and move on once the expression was held."""
        asked = self.asked
        status = LiveStatus(asked, False, False, None, False, self.held, list(self.kept), self.frames)
        if asked is None:
            return status
        try:
            result = found_asymmetry(self.tracker.find(rgb, f"frame at {time:.2f} s"))
        except BadImageError:
            self.held = 0
            return status
        self.frames += 1
        status.face, status.frames = True, self.frames
        status.frontal = abs(result.pose.get("yaw", 0.0)) <= FRONTAL_YAW and (
            abs(result.pose.get("pitch", 0.0)) <= FRONTAL_PITCH
        )
        status.recognised = result.expression
        status.shows_asked = status.frontal and (
            result.expression == asked or (asked in CLOSURES and result.expression in CLOSURES)
        )
        if not status.shows_asked:
            self.held = 0
            status.held = 0
            return status
        strength = self._strength(result, asked)
        if asked not in self.kept or strength > self.kept[asked].strength:
            self.kept[asked] = Kept(np.array(rgb, copy=True), result, strength, time)
        self.held += 1
        status.held, status.kept = self.held, list(self.kept)
        if self.held >= self.hold:  # kept: the next expression is asked for, and nothing of it is seen yet
            self.step, self.held = self.step + 1, 0
            status.asked, status.held, status.shows_asked = self.asked, 0, False
        return status

    def skip(self) -> None:
        """Move on without waiting for this expression (one the patient cannot make); a frame kept so far stays."""
        if self.asked is not None:
            self.step, self.held = self.step + 1, 0

    def status(self) -> LiveStatus:
        """Where the exam stands, without a new frame."""
        return LiveStatus(self.asked, True, True, None, False, self.held, list(self.kept), self.frames)

    @staticmethod
    def _strength(result: Asymmetry, asked: str) -> float:
        if asked == "rest":
            return -abs(result.pose.get("yaw", 0.0))
        name, sign = STRENGTH[asked]
        return sign * expression_measures(np.vstack([result.mesh, result.iris]))[name]

    def finish(self, person: str = "live exam") -> tuple[Exam, dict[str, Measured]]:
        """The exam of the kept frames, each named by the expression it was kept for."""
        self.tracker.close()
        if not self.kept:
            raise FacepalsyError("the live exam kept no frame: no frontal face showed an asked expression")
        measured = {
            expression: measure_named(
                f"camera, {expression.replace('_', ' ')} at {kept.time:.1f} s",
                kept.frame,
                kept.result,
                expression,
                self.norms,
            )
            for expression, kept in self.kept.items()
        }
        return make_exam(person, measured, "live"), measured

    def encoded(self) -> list[tuple[str, bytes]]:
        """Per kept expression, its frame encoded as JPEG (quality 95): what a record hashes (and keeps only if photos
        are kept)."""
        frames = []
        for expression, kept in self.kept.items():
            ok, data = cv2.imencode(".jpg", cv2.cvtColor(kept.frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
            if ok:
                frames.append((expression, data.tobytes()))
        return frames

    def close(self) -> None:
        self.tracker.close()
