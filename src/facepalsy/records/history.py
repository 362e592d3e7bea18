"""A patient's visits over time, typed, and what changed between them by more than measurement noise: one change
table (``records/change_table.py``) for the regions' resting scores (judged by the reference's MDC95,
``face/norms.py``) and the grade (judged by real retakes, ``records/grade_history.py``).

``History.to_dict`` is ``history --json``; ``rows``, ``change_rows`` and ``markdown`` are the tables the terminal,
the HTML report and the page draw.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from facepalsy.face.norms import REGIONS
from facepalsy.face.pattern import PalsyPattern
from facepalsy.records.change_table import COLUMNS as CHANGE_COLUMNS
from facepalsy.records.change_table import OVERALL, ChangeRow, change_table
from facepalsy.records.grade_history import GradeFollowUp, visit_label

TRACKED = (*REGIONS, OVERALL)


@dataclass
class Visit:
    """One recorded exam as the history shows it."""

    exam_id: int
    date: datetime.date
    date_source: str
    recorded_by: str | None
    scores: dict[str, float | None]  # per region and overall: the rest photo's score, in units of healthy spread
    outside: list[str]  # regions outside the healthy range
    more_affected_side: str | None
    verdict: str
    palsy_pattern: PalsyPattern | None
    facepalsy_version: str
    run: str | None = None
    photos: dict[str, str] = field(default_factory=dict)  # expression: SHA-256
    time: str | None = None  # HH:MM, for a second visit on one date

    @property
    def label(self) -> str:
        """The visit as every table names it: its date, and its time where it has one."""
        return visit_label(self.date, self.time)

    def to_dict(self) -> dict:
        return {
            "exam_id": self.exam_id,
            "date": self.date.isoformat(),
            "time": self.time,
            "date_source": self.date_source,
            "recorded_by": self.recorded_by,
            "regions": {name: self.scores.get(name) for name in REGIONS},
            "overall": self.scores.get(OVERALL),
            "outside_healthy_range": self.outside,
            "more_affected_side": self.more_affected_side,
            "verdict": self.verdict,
            "palsy_pattern": self.palsy_pattern.to_dict() if self.palsy_pattern else None,
            "facepalsy": self.facepalsy_version,
            "run": self.run,
            "photos": self.photos,
        }


@dataclass
class History:
    """A patient's visits, oldest first, the changes between them and the noise and ranges they were judged by."""

    patient: str
    visits: list[Visit]
    mdc95: dict[str, float]  # per region and overall; empty when the reference has no retest
    healthy_p99: dict[str, float]  # per region and overall: the top of the healthy band
    mdc_method: str = ""
    grades: GradeFollowUp | None = None  # the smile reading and eFACE-style grade per visit (records/grade_history.py)
    changes: list[ChangeRow] = field(init=False)  # the one change table: regions and grade together

    def __post_init__(self) -> None:
        self.visits = sorted(self.visits, key=lambda visit: (visit.date, visit.time or "", visit.exam_id))
        self.changes = change_table(self.visits, self.mdc95, self.grades)

    def to_dict(self) -> dict:
        return {
            "patient": self.patient,
            "exams": [visit.to_dict() for visit in self.visits],
            "changes": [row.to_dict() for row in self.changes],
            "mdc95": self.mdc95,
            "healthy_p99": self.healthy_p99,
            "mdc_method": self.mdc_method,
            "grades": self.grades.to_dict() if self.grades else [],
        }

    @property
    def visit_count(self) -> str:
        """ "1 visit", "3 visits": how every output counts them."""
        return f"{len(self.visits)} visit{'' if len(self.visits) == 1 else 's'}"

    def rows(self) -> list[tuple[str, ...]]:
        """Per visit: date, each tracked score (``*`` outside the healthy range), the verdict."""
        return [
            (
                visit.label,
                *(_score_cell(visit.scores.get(name), self.healthy_p99.get(name)) for name in TRACKED),
                visit.verdict,
            )
            for visit in self.visits
        ]

    def change_rows(self) -> list[tuple[str, ...]]:
        """The one change table (``records/change_table.py``): per visit and value, against the last visit with it."""
        return [row.cells() for row in self.changes]

    def noise_sentence(self) -> str:
        """How the change table judges: each value against its own MDC95, named in its row."""
        regions = (
            f"a region's resting score by the reference's MDC95 ({self.mdc_method})"
            if self.mdc95
            else "a region's resting score not at all (the reference in use was built without re-measured photos)"
        )
        grade = f"the smile reading, the grade's items and total by real retakes ({self.grades.method})"
        return (
            f"Each value changed only when it moved by more than its MDC95 (in its row): {regions}; "
            f"{grade if self.grades else 'no grade recorded'}. Smaller differences read `no change`; a region's score "
            "and its grade items measure the same face two ways, so one can move beyond its noise while the other "
            "does not."
        )

    def markdown(self) -> str:
        names = [name.replace("_", " ") for name in TRACKED]
        lines = [f"# History of patient {self.patient}", "", f"{self.visit_count}.", ""]
        lines += ["| date | " + " | ".join(names) + " | verdict |", "|---" * (len(names) + 2) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows()]
        lines += ["", "Scores: the rest photo's region score, in units of healthy spread; * marks a score above the "]
        lines[-1] += "healthy 99th percentile."
        if self.grades and self.grades.graded:
            lines += ["", self.grades.markdown()]
        if self.changes:
            lines += ["## Change between visits", "", "| " + " | ".join(CHANGE_COLUMNS) + " |"]
            lines += ["|---" * len(CHANGE_COLUMNS) + "|"]
            lines += ["| " + " | ".join(row) + " |" for row in self.change_rows()]
        lines += ["", self.noise_sentence()]
        return "\n".join(lines) + "\n"


def _score_cell(score: float | None, p99: float | None) -> str:
    if score is None:
        return "—"
    return f"{score:.2f}" + ("*" if p99 is not None and score > p99 else "")
