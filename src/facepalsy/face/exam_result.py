"""The exam's typed result: per region and side the resting reading, movement and its symmetry, flags, the
synkinesis hint and the palsy pattern; ``to_dict`` is ``exam.json``, ``markdown`` is ``exam.md`` and the page's
text, ``rows`` the table the terminal draws."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from facepalsy.face.grade import Grade
from facepalsy.face.pattern import MOVEMENT_WEAK, PalsyPattern
from facepalsy.face.reading import HealthyRangeReading, RegionReading, side_words
from facepalsy.html_report import RESEARCH_USE

COLUMNS = (
    "region",
    "resting score (healthy percentile)",
    "expression",
    "movement right (mm)",
    "movement left (mm)",
    "symmetry of movement %",
    "outside healthy range",
    "weaker side",
)
UNITS = (
    "Units: movement in mm on the rest photo's own scale (its iris, as the grade reads it), or in inter-ocular "
    "distances (marked IOD) where the exam has no rest photo measured in mm; the JSON keeps inter-ocular distances. "
    "Movement: how far the region's value moved from rest; "
    "symmetry of movement: the weaker side's movement as a percentage of the stronger's (100: alike). "
    "Definitions: the docs, *The clinical exam*."
)


@dataclass
class ExamRegion:
    """One region (brow, eye, mid-face, mouth) over the exam's expressions."""

    measures: list[str]
    rest: RegionReading | None  # the rest photo's reading of this region
    expression: str | None  # the expression its movement was measured in
    movement: dict[str, float] | None  # per side, from rest
    symmetry_percent: float | None  # the weaker side's movement as a share of the stronger's
    outside_healthy_range: bool
    weaker_side: str | None
    flagged_in: list[str]  # the expressions read outside the healthy range here
    note: str | None = None  # why movement was not measured

    @property
    def weak_movement(self) -> str | None:
        """The side that moves less than MOVEMENT_WEAK % as far as the other (the pattern's cut), if one does."""
        if self.symmetry_percent is None or self.symmetry_percent >= MOVEMENT_WEAK or not self.movement:
            return None
        return min(self.movement, key=self.movement.get)

    def to_dict(self) -> dict:
        values = {**asdict(self), "rest": asdict(self.rest) if self.rest else None, "weak_movement": self.weak_movement}
        return {k: v for k, v in values.items() if k != "note" or v is not None}

    def cells(self, name: str, mm_per_unit: float | None = None) -> tuple[str, str, str, str, str, str, bool, str]:
        """The region's row; ``mm_per_unit``: the rest photo's scale, so that movement reads in mm as the grade's."""
        moved = self.movement or {}

        def movement(side: str) -> str:
            if side not in moved:
                return "—"
            return f"{moved[side] * mm_per_unit:.1f}" if mm_per_unit else f"{moved[side]:.3f} IOD"

        return (
            name.replace("_", " "),
            f"{self.rest.score:.2f} ({self.rest.healthy_percentile:.0f})" if self.rest else "—",
            self.expression or "—",
            movement("right"),
            movement("left"),
            "—" if self.symmetry_percent is None else str(self.symmetry_percent),
            self.outside_healthy_range,
            self.weaker_side or "—",
        )


@dataclass
class Exam:
    """One person's exam over photos or a video (see ``workflows/exam.py`` for the definitions)."""

    person: str
    kind: str  # "photos", "video" or "live" (a camera's frames, the guided live exam on the page)
    expressions: dict[str, str]  # expression: the photo or video time it was measured on
    missing: list[str]  # expressions not measured: without a photo, or never made in the video
    regions: dict[str, ExamRegion]
    outside_healthy_range: bool
    more_affected_side: str | None
    readings: dict[str, HealthyRangeReading]  # per expression, its healthy-range reading
    recognised_expressions: dict[str, str]  # what the mesh looked like where the expression was not named
    synkinesis_hint: dict | None = None  # expression, side, narrowing per side
    palsy_pattern: PalsyPattern | None = None
    no_face: dict[str, str] | None = None  # photos without a usable face, with the reason
    unnamed_files: list[str] | None = None  # files that name no expression
    mismatched: dict[str, str] | None = None  # photos named rest left out: their face moves (named: recognised)
    unmoved: list[str] | None = None  # photos named as a movement whose face looks at rest (kept)
    video: dict | None = None  # rest time, peaks, frame counts, timeline picture
    cnn: dict | None = None  # the network's verdict on the video, with --run
    pictures: dict[str, str] = field(default_factory=dict)  # chart, timeline, drawings: file names in the folder
    grade: Grade | None = None  # the eFACE-style (automatic) grade of the exam's mm measures

    def to_dict(self) -> dict:
        regions = {name: region.to_dict() for name, region in self.regions.items()}
        regions["eye"]["synkinesis_hint"] = self.synkinesis_hint
        regions["eye"]["synkinesis_assessed"] = self.synkinesis_assessed
        document = {
            "person": self.person,
            "kind": self.kind,
            "expressions": self.expressions,
            "missing": self.missing,
            "regions": regions,
            "outside_healthy_range": self.outside_healthy_range,
            "more_affected_side": self.more_affected_side,
            "readings": {name: reading.to_dict() for name, reading in self.readings.items()},
            "recognised_expressions": self.recognised_expressions,
            "palsy_pattern": self.palsy_pattern.to_dict() if self.palsy_pattern else None,
            "grade": self.grade.to_dict() if self.grade else None,
        }
        extra = {
            "no_face": self.no_face,
            "unnamed_files": self.unnamed_files,
            "mismatched": self.mismatched,
            "unmoved": self.unmoved,
            "video": self.video,
            "cnn": self.cnn,
        }
        return {**document, **{k: v for k, v in extra.items() if v is not None}}

    @property
    def outside_regions(self) -> list[str]:
        return [name for name, region in self.regions.items() if region.outside_healthy_range]

    def rows(self) -> list[tuple[str, str, str, str, str, str, bool, str]]:
        """The region/side table's cells (COLUMNS); the outside flag stays a bool for each renderer to mark."""
        rest = self.grade.photos.get("rest") if self.grade else None
        scale = rest.mm_per_unit if rest is not None else None
        return [region.cells(name, scale) for name, region in self.regions.items()]

    def verdict(self) -> str:
        """The overall reading in plain sentences: a rest photo that could not be used first (everything from rest is
        missing then), the healthy ranges, then any region with weak movement on a side."""
        return self.rest_sentence() + self._reading()

    def rest_sentence(self) -> str:
        """What an exam without a usable rest photo cannot say, said before anything it can ("" with one)."""
        if "rest" in self.expressions:
            return ""
        why = (self.no_face or {}).get("rest")
        photo = f"The rest photo has no usable face ({why})" if why else "There is no rest photo"
        return (
            f"{photo}: no resting reading, no movement from rest and no grade item that needs rest; what follows is "
            "read from the other photos alone. "
        )

    def _reading(self) -> str:
        if not self.outside_healthy_range:
            text = "Within the healthy range in every region measured (no affected side named)."
        else:
            outside = ", ".join(name.replace("_", " ") for name in self.outside_regions)
            side = side_words(self.more_affected_side)
            text = f"Outside the healthy range in: {outside}; more affected side: {side}."
        weak = [
            f"{name.replace('_', ' ')} (patient's {r.weak_movement} moves {r.symmetry_percent:.0f}% as far)"
            for name, r in self.regions.items()
            if r.weak_movement
        ]
        if weak:
            text += f" Weak movement on one side (under {MOVEMENT_WEAK:.0f}%): {'; '.join(weak)}."
        return text

    def drawing_verdict(self, expression: str) -> str:
        """What the exam counts from one expression's photo, for its drawing (so the drawing and the summary agree)."""
        counted = [(n, r) for n, r in self.regions.items() if expression in r.flagged_in]
        if not counted:
            return "exam: nothing outside the healthy range counted here"
        return "exam: outside here: " + ", ".join(f"{n.replace('_', ' ')} ({r.weaker_side})" for n, r in counted)

    @property
    def synkinesis_assessed(self) -> bool:
        """Whether the exam can show synkinesis: a rest photo and a smile or pucker photo."""
        return "rest" in self.expressions and bool({"smile", "pucker"} & set(self.expressions))

    def synkinesis_sentence(self) -> str:
        hint = self.synkinesis_hint
        if not self.synkinesis_assessed:
            return "Synkinesis hint: not assessed (it needs a rest photo and a smile or pucker photo)."
        if not hint:
            return "Synkinesis hint: none (no eye narrowed clearly more than the other during smile or pucker)."
        other = "left" if hint["side"] == "right" else "right"
        return (
            f"Synkinesis hint: the patient's {hint['side']} eye narrows {100 * hint['narrowing'][hint['side']]:.0f}% "
            f"during {hint['expression']} (the other {100 * hint['narrowing'][other]:.0f}%)."
        )

    def left_out(self) -> list[str]:
        """What the exam did not use, or used with a doubt, a sentence each: photos without a usable face, a rest photo
        whose face moves, movements that look at rest, files that name no expression."""
        sentences = []
        if self.no_face:
            sentences.append("Photos without a usable face: " + "; ".join(f"{n}: {r}" for n, r in self.no_face.items()))
        if self.mismatched:
            seen = "; ".join(f"{name} shows {looks.replace('_', ' ')}" for name, looks in self.mismatched.items())
            sentences.append(f"Left out: a photo named rest whose face moves ({seen}). Rename or retake it.")
        if self.unmoved:
            names = ", ".join(self.unmoved)
            sentences.append(f"Named as a movement but the face looks at rest (kept: weak or not made): {names}.")
        if self.unnamed_files:
            sentences.append(f"Files that name no expression (ignored): {'; '.join(self.unnamed_files)}.")
        return [s if s.endswith(".") else f"{s}." for s in sentences]

    def video_sentence(self) -> str | None:
        """A video's expressions: each found with its time and confidence (the share of the peak's neighbouring frames
        that show it too); None for photos."""
        if not self.video or "peaks" not in self.video:
            return None
        found = [
            f"{p['expression'].replace('_', ' ')} at {p['time']:.2f} s (confidence {p['confidence']:.2f})"
            for p in self.video["peaks"].values()
            if p.get("expression")
        ]
        return f"Expressions found in the video: {', '.join(found) or 'none'}; rest at {self.video['rest_time']:.2f} s."

    def markdown(self, pictures: bool = True, grade: bool = True) -> str:
        """``exam.md``: the overall reading, the pattern, the region/side table, what is missing, the grade (unless the
        page shows it in its own panel: ``grade=False``), the pictures."""
        lines = [f"# Exam: {self.person}", ""]
        flagged = self.outside_healthy_range or any(r.weak_movement for r in self.regions.values())
        lines += [f"**{self.verdict()}**" if flagged else self.verdict(), ""]
        if self.palsy_pattern:
            lines += [self.palsy_pattern.markdown(), ""]
        lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        for *cells, outside, weaker in self.rows():
            lines.append("| " + " | ".join([*cells, "**yes**" if outside else "no", weaker]) + " |")
        lines += ["", self.synkinesis_sentence(), ""]
        if self.video_sentence():
            lines += [self.video_sentence(), ""]
        if self.missing:
            lines += [f"Missing expressions: {', '.join(self.missing)}.", ""]
        for sentence in self.left_out():
            lines += [sentence, ""]
        lines += [UNITS, ""]
        if self.grade and grade:
            lines += [self.grade.markdown()]
        if pictures:
            lines += [f"![{title}]({name})" for title, name in self.pictures.items()] + [""]
        lines += [RESEARCH_USE, ""]
        return "\n".join(lines)
