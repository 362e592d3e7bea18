"""Central or peripheral: the pattern of a facial palsy, the first question a clinician asks.

A peripheral palsy (Bell's type: the facial nerve or its nucleus) weakens the whole side, forehead
and eye closure included. A central palsy (stroke type: above the nucleus) weakens the lower face
and spares the forehead and eye closure, which are served from both sides of the brain. A central
pattern can mean a stroke, so it is always named with a plain call for urgent clinical assessment.

Evidence, strongest first:

- an exam's brow-raise photo (with rest): the weaker side's forehead moves under MOVEMENT_WEAK % of
  the other side's (peripheral) or at least MOVEMENT_SPARED % (spared: central when the lower face is
  weak); in between it does not decide;
- an exam's eye-closure photo: the weaker side's eye left open (the eye region outside the healthy
  range on the lower face's side) is peripheral;
- one photo: the upper face (brow, eye) read against healthy faces. Outside the healthy range, or
  leaning weaker on the lower face's side beyond the PERIPHERAL_PERCENTILE-th healthy percentile:
  peripheral. Not leaning that way, or below UNDECIDED_PERCENTILE: spared (central). In between the
  photo does not decide, and the result says that a brow-raise photo would.

The result is a :class:`PalsyPattern`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Protocol

from facepalsy.face.reading import HealthyRangeReading, ordinal

UPPER, LOWER = ("brow", "eye"), ("mid_face", "mouth")
# Upper face leaning weaker on the lower face's side, within the healthy range: from this healthy
# percentile on, peripheral; from UNDECIDED_PERCENTILE, undecided; below, spared. A central palsy's
# upper face reads like a healthy one, so about 2 × ½ × 10% of them lean past 90 (read peripheral)
# and 2 × ½ × 15% fall between (undecided), brow and eye each leaning either way.
PERIPHERAL_PERCENTILE, UNDECIDED_PERCENTILE = 90.0, 75.0
MOVEMENT_SPARED, MOVEMENT_WEAK = 70.0, 50.0  # brow-raise symmetry of movement, %
CENTRAL_WARNING = (
    "A central pattern can be caused by a stroke, which cannot be excluded here: urgent clinical assessment is needed."
)


@dataclass(frozen=True)
class PalsyPattern:
    """Central, peripheral or undetermined: the pattern of one photo or exam read as palsy."""

    pattern: str  # "peripheral", "central" or "undetermined"
    side: str | None  # the patient's weaker side, where one is named
    evidence: dict  # the region readings or brow movements it was decided on (a raw measure map, kept as measured)
    why: str  # one plain sentence; a central pattern's ends with CENTRAL_WARNING

    def to_dict(self) -> dict:
        return {"pattern": self.pattern, "side": self.side, "evidence": self.evidence, "why": self.why}

    @classmethod
    def from_dict(cls, values: dict | None) -> "PalsyPattern | None":
        """The pattern as ``to_dict`` wrote it (exam.json, the record store); None for none."""
        if not values:
            return None
        return cls(values["pattern"], values.get("side"), values.get("evidence") or {}, values.get("why", ""))

    @property
    def named_side(self) -> str | None:
        """The side said beside the pattern: none for an undetermined one, whose side is only a leaning."""
        return self.side if self.pattern != "undetermined" else None

    def markdown(self) -> str:
        """The pattern in one Markdown sentence, for the terminal, the page and the reports."""
        side = f" (patient's {self.named_side} side)" if self.named_side else ""
        return f"**Pattern: {self.pattern}**{side}. {self.why}"

    def summary(self) -> str:
        """One short line beside a verdict (the stroke warning shortened, never dropped)."""
        side = f", patient's {self.named_side}" if self.named_side else ""
        urgent = "; stroke not excluded: urgent clinical assessment" if self.pattern == "central" else ""
        return f"pattern: {self.pattern}{side}{urgent}"


def _result(pattern: str, side: str | None, evidence: dict, why: str) -> PalsyPattern:
    if pattern == "central":
        why = f"{why} {CENTRAL_WARNING}"
    return PalsyPattern(pattern, side, evidence, why)


def photo_pattern(reading: HealthyRangeReading | None, palsy: bool = False) -> PalsyPattern | None:
    """The pattern from one photo's healthy-range reading; None for a face read as healthy and within the range."""
    if reading is None or (not palsy and not reading.outside_healthy_range):
        return None
    regions = reading.regions
    if not regions:
        return _result(
            "undetermined", None, {}, "The face is turned too far to compare its sides; a frontal photo is needed."
        )
    evidence = {
        r: {
            "healthy_percentile": regions[r].healthy_percentile,
            "outside_healthy_range": regions[r].outside_healthy_range,
            "side": regions[r].side,
        }
        for r in (*UPPER, *LOWER)
    }
    evidence["expression"] = reading.expression
    lower = max(LOWER, key=lambda r: regions[r].score)
    upper = max(UPPER, key=lambda r: regions[r].score)
    lower_out = any(regions[r].outside_healthy_range for r in LOWER)
    upper_out = [r for r in UPPER if regions[r].outside_healthy_range]
    side, upper_side = regions[lower].side, regions[upper].side
    name = lambda r: r.replace("_", " ")  # noqa: E731
    if upper_out and lower_out:
        if upper_side == side:
            return _result(
                "peripheral",
                side,
                evidence,
                f"Upper face ({name(upper)}) and lower face ({name(lower)}) are both weaker "
                f"on the patient's {side}: the whole side is involved.",
            )
        return _result(
            "undetermined",
            None,
            evidence,
            f"The upper face ({name(upper)}) and the lower face ({name(lower)}) point to "
            "different sides; a brow-raise and an eye-closure photo would decide.",
        )
    if upper_out:
        return _result(
            "peripheral",
            upper_side,
            evidence,
            f"The upper face ({name(upper)}) is weaker on the patient's {upper_side}, which a central palsy spares.",
        )
    leaning = [regions[r].healthy_percentile for r in UPPER if regions[r].side == side]
    percentile = max(leaning, default=0.0)
    if percentile >= PERIPHERAL_PERCENTILE:
        return _result(
            "peripheral",
            side,
            evidence,
            f"The lower face ({name(lower)}) is weaker on the patient's {side} and the upper face leans weaker on "
            f"the same side ({ordinal(percentile)} healthy percentile): the whole side is involved.",
        )
    if percentile >= UNDECIDED_PERCENTILE:
        return _result(
            "undetermined",
            side,
            evidence,
            f"The lower face ({name(lower)}) is weaker on the patient's {side} and the "
            f"upper face leans the same way within the healthy range ({ordinal(percentile)} percentile); "
            "a brow-raise photo would decide.",
        )
    spared = (
        f"at most the {ordinal(percentile)} healthy percentile on that side" if leaning else "not weaker on that side"
    )
    return _result(
        "central",
        side,
        evidence,
        f"The lower face ({name(lower)}) is weaker on the patient's {side} while the "
        f"forehead and eye are spared ({spared}).",
    )


class MovedRegion(Protocol):
    """What the exam's pattern needs of a region (``face.exam_result.ExamRegion``)."""

    outside_healthy_range: bool
    movement: dict[str, float] | None
    symmetry_percent: float | None


def exam_pattern(
    regions: Mapping[str, MovedRegion],
    readings: Mapping[str, HealthyRangeReading],
    outside: bool,
    more_affected_side: str | None,
) -> PalsyPattern | None:
    """The pattern of a whole exam: the brow-raise and eye-closure photos first, then the resting reading."""
    base = photo_pattern(readings.get("rest") or next(iter(readings.values()), None), palsy=outside)
    if base is None and not outside:
        return None
    side = more_affected_side if more_affected_side in ("left", "right") else base.side if base else None
    lower_weak = any(regions[r].outside_healthy_range for r in LOWER)
    brow = regions["brow"]
    moved, symmetry = brow.movement, brow.symmetry_percent
    if moved and symmetry is not None and side in ("left", "right"):
        other = "right" if side == "left" else "left"
        evidence = {"brow_raise_movement": moved, "brow_symmetry_percent": symmetry}
        weaker_moves_less = moved[side] <= moved[other]
        if symmetry < MOVEMENT_WEAK and weaker_moves_less:
            return _result(
                "peripheral",
                side,
                evidence,
                f"In the brow raise the patient's {side} forehead moves "
                f"{symmetry:.0f}% as far as the other side: the upper face is involved.",
            )
        if symmetry >= MOVEMENT_SPARED and lower_weak:
            return _result(
                "central",
                side,
                evidence,
                f"In the brow raise both foreheads move alike ({symmetry:.0f}%) "
                f"while the lower face is weaker on the patient's {side}: the forehead is spared.",
            )
    eye = readings.get("eye_closure_full") or readings.get("eye_closure_gentle")
    closing = eye.regions.get("eye") if eye else None
    if closing and closing.outside_healthy_range and closing.weaker_side == side:
        return _result(
            "peripheral",
            side,
            {"eye_closure": asdict(closing)},
            f"In eye closure the patient's {side} eye stays open beyond the healthy range: the upper face is involved.",
        )
    return base
