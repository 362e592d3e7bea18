"""The eFACE-style (automatic) grade and the smile over a patient's visits, each change judged against retest noise.

Why apart from the resting scores. A patient in recovery often sends one smiling selfie a day: no rest photo, so no
resting score, yet the smile is what changes. Each visit therefore carries its smile reading (the smile photo's
mouth region against healthy smiles, in units of healthy spread: higher is more asymmetric) and its grade items
(0–100: lower is weaker). A value is compared with the same value at the last earlier visit that has it, and an
item only with the same item read on the same basis (a smile photo alone is not a smile's movement from rest); the
total only between visits that graded the same items. A difference beyond the MDC95 from real retakes
(``face/grade_retest.json``, KDEF's two sessions) reads ``improved`` or ``worse``, anything within it
``no change``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from facepalsy.face.grade import ITEMS, TITLES, retest_key

SMILE = "smile_reading"
TOTAL = "total"
FOLLOWED = (SMILE, *ITEMS, TOTAL)
NOT_JUDGED = "not judged"  # no MDC95 for this value


@dataclass(frozen=True)
class VisitGrade:
    """One visit's smile reading and grade, as recorded in its exam document."""

    date: datetime.date
    values: dict[str, float | None]  # per FOLLOWED name
    keys: dict[str, str]  # per measured item, its retest key (the item and its basis); for the total, the items
    time: str | None = None  # HH:MM, for a second visit on one date

    @property
    def label(self) -> str:
        return visit_label(self.date, self.time)

    @classmethod
    def from_document(cls, date: datetime.date, document: dict, time: str | None = None) -> VisitGrade:
        """From ``exam.json`` as the record store keeps it (exams recorded before the grade have none)."""
        mouth = ((document.get("readings") or {}).get("smile") or {}).get("regions", {}).get("mouth")
        grade = document.get("grade") or {}
        items = grade.get("items", {})
        values: dict[str, float | None] = {SMILE: mouth["score"] if mouth else None, TOTAL: grade.get("total")}
        keys = {SMILE: SMILE}
        for name in ITEMS:
            item = items.get(name) or {}
            values[name] = item.get("score")
            if values[name] is not None:
                keys[name] = retest_key(name, item.get("basis", ""))
        keys[TOTAL] = ",".join(sorted(keys[n] for n in ITEMS if n in keys))
        return cls(date, values, keys, time)


@dataclass(frozen=True)
class GradeFollowUp:
    """Every visit's smile reading and grade, and the noise their changes are judged by (``records/change_table.py``
    judges them)."""

    visits: list[VisitGrade]  # oldest first
    mdc95: dict[str, float]  # per retest key, TOTAL and SMILE
    method: str

    def earlier(self, index: int, name: str) -> VisitGrade | None:
        """The last visit before ``self.visits[index]`` that has ``name`` read alike (the same item on the same
        basis; the total over the same items)."""
        key = self.visits[index].keys.get(name)
        alike = [v for v in self.visits[:index] if v.values.get(name) is not None and v.keys.get(name) == key]
        return alike[-1] if alike else None

    def mdc_of(self, visit: VisitGrade, name: str) -> float | None:
        """The MDC95 a visit's value is judged by: an item's for its basis, else the smile reading's or total's."""
        return self.mdc95.get(visit.keys.get(name, name)) if name in ITEMS else self.mdc95.get(name)

    @property
    def graded(self) -> bool:
        """Whether any visit has a smile reading or a grade item."""
        return any(v is not None for visit in self.visits for v in visit.values.values())

    def rows(self) -> list[tuple[str, ...]]:
        """Per visit: date, then each FOLLOWED value (their changes are in the history's one change table)."""
        return [(visit.label, *(_cell(n, visit.values.get(n)) for n in FOLLOWED)) for visit in self.visits]

    def to_dict(self) -> list[dict]:
        return [{"date": visit.date.isoformat(), "time": visit.time, "values": visit.values} for visit in self.visits]

    def markdown(self) -> str:
        names = [title(name) for name in FOLLOWED]
        lines = ["## eFACE-style (automatic) grade and smile per visit", ""]
        lines += ["| date | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows()]
        limits = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in self.mdc95.items())
        lines += [
            "",
            "Smile reading: the smile photo's mouth region in units of healthy spread (higher: more asymmetric). "
            "Items and total: 0–100 (lower: weaker). Their changes are judged in the change table above, against "
            f"the MDC95 of real retakes ({limits}; {self.method}).",
            "",
        ]
        return "\n".join(lines)


def title(name: str) -> str:
    """A followed value as every table names it: a grade item by its clinical name, else its own."""
    return TITLES.get(name, name.replace("_", " "))


def judged(difference: float, mdc: float | None, lower_is_better: bool) -> str:
    """``improved``, ``worse`` or ``no change`` beyond the minimal detectable change ``mdc`` (``not judged``
    without one): the one rule of every change a history shows."""
    if mdc is None:
        return NOT_JUDGED
    if abs(difference) <= mdc:
        return "no change"
    return "improved" if (difference < 0) == lower_is_better else "worse"


def visit_label(date: datetime.date, time: str | None) -> str:
    """A visit's name in every table: "2026-03-10", or "2026-03-10 14:30" for one of two visits that day."""
    return date.isoformat() + (f" {time}" if time else "")


def _cell(name: str, value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if name == SMILE else f"{value:.0f}"
