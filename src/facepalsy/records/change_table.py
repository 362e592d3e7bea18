"""The one change table of a patient's history: every followed value at each visit against the last earlier visit
that has it alike, each judged against its own MDC95.

Why one table. The regions' resting scores (units of healthy spread, ``face/norms.py``) and the grade's items (0–100
points from mm, ``face/grade.py``) measure the same face two ways, with different noise. Shown as two tables, one
could read "mouth: no change" while the other read "commissure at rest 94 → 81 ▼", and nobody saw that both were
about the mouth. Here each row names its face area, so a region's score and its grade items sit together, with the
difference and the MDC95 it was judged by: a clinician sees which measure moved beyond its own noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from facepalsy.face.norms import REGIONS
from facepalsy.records.grade_history import FOLLOWED, SMILE, TOTAL, GradeFollowUp, judged, title

OVERALL = "overall"
# face area: the region's resting score first, then the grade values read on that area
AREAS = {
    "brow": ("brow", "brow_at_rest", "brow_elevation"),
    "eye": ("eye", "palpebral_fissure_at_rest", "gentle_eye_closure", "full_eye_closure", "ocular_synkinesis"),
    "mid-face": ("mid_face",),
    "mouth": ("mouth", SMILE, "commissure_at_rest", "commissure_with_smile", "lower_lip"),
    "whole face": (OVERALL, TOTAL),
}
AREA_OF = {name: area for area, names in AREAS.items() for name in names}
ORDER = [name for names in AREAS.values() for name in names]
REGION_SCALE = "resting score, healthy spreads (higher: more asymmetric)"
SMILE_SCALE = "smile reading, healthy spreads (higher: more asymmetric)"
GRADE_SCALE = "grade points, 0–100 (lower: weaker)"
MARKS = {"improved": " ▲", "worse": " ▼"}
COLUMNS = ("visits", "area", "value", "before → after", "difference", "MDC95", "change")


class Scored(Protocol):
    """What the table needs of a visit (``records.history.Visit``)."""

    label: str
    scores: dict[str, float | None]


@dataclass(frozen=True)
class ChangeRow:
    """One value at one visit against the last earlier visit that has it (read alike)."""

    since: str  # the visit compared with, as labelled (its date, and its time where it has one)
    date: str  # this visit
    name: str  # a region (brow … overall), the smile reading, a grade item or the total
    before: float
    after: float
    mdc95: float | None  # None: this value has no MDC95, so no change is judged
    scale: str  # what the numbers are and which way is worse

    @property
    def area(self) -> str:
        return AREA_OF[self.name]

    @property
    def difference(self) -> float:
        return self.after - self.before

    @property
    def word(self) -> str:
        """ "improved", "worse", "no change" or "not judged": a grade item is better higher, a reading lower."""
        return judged(self.difference, self.mdc95, lower_is_better=self.scale != GRADE_SCALE)

    def cells(self) -> tuple[str, ...]:
        """The row as the terminal, the report and the page show it (COLUMNS)."""
        digits = 0 if self.scale == GRADE_SCALE else 2
        mdc = "—" if self.mdc95 is None else f"{self.mdc95:.{digits}f}"
        return (
            f"{self.since} → {self.date}",
            self.area,
            title(self.name),
            f"{self.before:.{digits}f} → {self.after:.{digits}f}",
            f"{self.difference:+.{digits}f}",
            mdc,
            self.word + MARKS.get(self.word, ""),
        )

    def to_dict(self) -> dict:
        return {
            "from": self.since,
            "to": self.date,
            "area": self.area,
            "value": self.name,
            "before": round(self.before, 4),
            "after": round(self.after, 4),
            "difference": round(self.difference, 4),
            "mdc95": self.mdc95,
            "change": self.word,
            "scale": self.scale,
        }


def change_table(visits: list[Scored], mdc95: dict[str, float], grades: GradeFollowUp | None) -> list[ChangeRow]:
    """Every value of every visit (oldest first) against the last earlier visit that has it: the regions' resting
    scores judged by the reference's MDC95 (``mdc95``), the smile reading, items and total by the grade's retest
    noise (``grades``). Ordered by visit, then face area."""
    rows = []
    for index, visit in enumerate(visits):
        for name in (*REGIONS, OVERALL):
            earlier = next((v for v in reversed(visits[:index]) if v.scores.get(name) is not None), None)
            if visit.scores.get(name) is not None and earlier is not None:
                before, after, mdc = earlier.scores[name], visit.scores[name], mdc95.get(name)
                rows.append(ChangeRow(earlier.label, visit.label, name, before, after, mdc, REGION_SCALE))
    for index, visit in enumerate(grades.visits if grades else []):
        for name in FOLLOWED:
            earlier = grades.earlier(index, name)
            if visit.values.get(name) is not None and earlier is not None:
                before, after, mdc = earlier.values[name], visit.values[name], grades.mdc_of(visit, name)
                scale = SMILE_SCALE if name == SMILE else GRADE_SCALE
                rows.append(ChangeRow(earlier.label, visit.label, name, before, after, mdc, scale))
    return sorted(rows, key=lambda row: (row.date, row.since, ORDER.index(row.name)))
