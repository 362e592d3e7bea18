"""Exams built without a face detector, for the record store's tests (and the writer processes they start): the
store keeps readings, so any Exam with the right shape exercises it."""

from __future__ import annotations

from facepalsy.face.exam_result import Exam, ExamRegion
from facepalsy.face.norms import REGIONS
from facepalsy.face.reading import HealthyRangeReading, RegionReading

NAMED_FOLDER = "clinic/Jane Doe"  # a folder and file that name the patient: the store must not keep them
NAMED_FILE = "jane_doe_rest.png"


def made_exam(score: float = 0.5) -> Exam:
    """A one-photo exam whose every region reads ``score`` at rest."""
    readings = {
        name: RegionReading(
            score=score,
            healthy_percentile=50.0,
            outside_healthy_range=False,
            weaker_side=None,
            leaning_side="left",
            z={measure: 0.1 for measure in measures},
        )
        for name, measures in REGIONS.items()
    }
    regions = {
        name: ExamRegion(
            measures=list(REGIONS[name]),
            rest=reading,
            expression=None,
            movement=None,
            symmetry_percent=None,
            outside_healthy_range=False,
            weaker_side=None,
            flagged_in=[],
        )
        for name, reading in readings.items()
    }
    rest = HealthyRangeReading(
        readings, False, None, {"source": "drawn", "date": "2026-11-29", "count": 30, "expression": "rest"}
    )
    return Exam(
        person=NAMED_FOLDER,
        kind="photos",
        expressions={"rest": NAMED_FILE},
        missing=[],
        regions=regions,
        outside_healthy_range=False,
        more_affected_side=None,
        readings={"rest": rest},
        recognised_expressions={},
    )
