"""A patient's visits over time, typed, and whether each region changed between consecutive visits by more than
measurement noise: a difference in a region's resting score larger than its MDC95 (the reference's ``retest``,
``face/norms.py``) reads ``worse`` (more asymmetric) or ``improved``; anything within it reads ``no change``.

``History.to_dict`` is ``history --json``; ``rows``, ``change_rows`` and ``markdown`` are the tables the terminal,
the HTML report and the page draw.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from facepalsy.face.norms import REGIONS
from facepalsy.face.pattern import PalsyPattern
from facepalsy.records.grade_history import GradeFollowUp

OVERALL = "overall"
TRACKED = (*REGIONS, OVERALL)
NOT_MEASURED = "not measured"
NOT_JUDGED = "not judged"  # the reference has no MDC95


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

    def to_dict(self) -> dict:
        return {
            "exam_id": self.exam_id,
            "date": self.date.isoformat(),
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
class Change:
    """From one visit to the next: per region (and overall) the word and the difference in score."""

    earlier: datetime.date
    later: datetime.date
    regions: dict[str, str]
    differences: dict[str, float | None]

    def to_dict(self) -> dict:
        return {
            "from": self.earlier.isoformat(),
            "to": self.later.isoformat(),
            "regions": {name: self.regions[name] for name in REGIONS},
            "overall": self.regions[OVERALL],
            "differences": self.differences,
        }


def change_word(before: float | None, after: float | None, mdc: float | None) -> str:
    """``worse``, ``improved`` or ``no change`` beyond the minimal detectable change ``mdc``."""
    if before is None or after is None:
        return NOT_MEASURED
    if mdc is None:
        return NOT_JUDGED
    difference = after - before
    if abs(difference) <= mdc:
        return "no change"
    return "worse" if difference > 0 else "improved"


def changes(visits: list[Visit], mdc95: dict[str, float]) -> list[Change]:
    """Each pair of consecutive visits (by date), judged per region and overall."""
    found = []
    for earlier, later in zip(visits, visits[1:]):
        words, differences = {}, {}
        for name in TRACKED:
            before, after = earlier.scores.get(name), later.scores.get(name)
            words[name] = change_word(before, after, mdc95.get(name))
            differences[name] = None if before is None or after is None else round(after - before, 4)
        found.append(Change(earlier.date, later.date, words, differences))
    return found


@dataclass
class History:
    """A patient's visits, oldest first, the changes between them and the noise and ranges they were judged by."""

    patient: str
    visits: list[Visit]
    mdc95: dict[str, float]  # per region and overall; empty when the reference has no retest
    healthy_p99: dict[str, float]  # per region and overall: the top of the healthy band
    mdc_method: str = ""
    grades: GradeFollowUp | None = None  # the smile reading and eFACE-style grade per visit (records/grade_history.py)
    changes: list[Change] = field(init=False)

    def __post_init__(self) -> None:
        self.visits = sorted(self.visits, key=lambda visit: (visit.date, visit.exam_id))
        self.changes = changes(self.visits, self.mdc95)

    def to_dict(self) -> dict:
        return {
            "patient": self.patient,
            "exams": [visit.to_dict() for visit in self.visits],
            "changes": [change.to_dict() for change in self.changes],
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
                visit.date.isoformat(),
                *(_score_cell(visit.scores.get(name), self.healthy_p99.get(name)) for name in TRACKED),
                visit.verdict,
            )
            for visit in self.visits
        ]

    def change_rows(self) -> list[tuple[str, ...]]:
        """Per pair of consecutive visits: from → to, then each tracked score's word and difference."""
        return [
            (
                f"{change.earlier.isoformat()} → {change.later.isoformat()}",
                *(_change_cell(change, name) for name in TRACKED),
            )
            for change in self.changes
        ]

    def noise_sentence(self) -> str:
        if not self.mdc95:
            return (
                "The healthy reference in use has no minimal detectable change (built without re-measured photos): "
                "changes are not judged."
            )
        limits = ", ".join(f"{name.replace('_', ' ')} {self.mdc95[name]:.2f}" for name in TRACKED if name in self.mdc95)
        return (
            f"A region changed when its resting score moved by more than its MDC95 ({limits}; units of healthy "
            f"spread): {self.mdc_method}. Smaller differences read `no change`."
        )

    def markdown(self) -> str:
        names = [name.replace("_", " ") for name in TRACKED]
        lines = [f"# History of patient {self.patient}", "", f"{self.visit_count}.", ""]
        lines += ["| date | " + " | ".join(names) + " | verdict |", "|---" * (len(names) + 2) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows()]
        if self.changes:
            lines += ["", "## Change between visits", "", "| visits | " + " | ".join(names) + " |"]
            lines += ["|---" * (len(names) + 1) + "|"]
            lines += ["| " + " | ".join(row) + " |" for row in self.change_rows()]
        lines += ["", "Scores: the rest photo's region score, in units of healthy spread; * marks a score above the "]
        lines[-1] += "healthy 99th percentile. " + self.noise_sentence()
        if self.grades and self.grades.graded:
            lines += ["", self.grades.markdown()]
        return "\n".join(lines) + "\n"


def _score_cell(score: float | None, p99: float | None) -> str:
    if score is None:
        return "—"
    return f"{score:.2f}" + ("*" if p99 is not None and score > p99 else "")


def _change_cell(change: Change, name: str) -> str:
    difference = change.differences[name]
    return change.regions[name] + ("" if difference is None else f" ({difference:+.2f})")
