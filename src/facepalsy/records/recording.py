"""Recording an exam that was just made: which photos it read (their hashes, their bytes only if kept), which date
it carries and where that date came from, and, for DICOM photos, the pseudonym the clinic's map gives the header's
patient id. The CLI and the page both record through :func:`record_exam`."""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from facepalsy.data.dicom import dicom_patient_id, is_dicom
from facepalsy.data.exam_names import expression_photos
from facepalsy.data.images import photo_date
from facepalsy.errors import FacepalsyError
from facepalsy.face.exam_result import Exam
from facepalsy.records.pseudonyms import identifying_hint, pseudonym_for
from facepalsy.records.store import PhotoFacts, RecordStore, photo_facts

TODAY = "today (no --date, and no date in the photos)"
LIVE = "today (a live exam in front of the camera)"


@dataclass
class Recorded:
    """What was stored, for the one line the CLI and the page print."""

    exam_id: int  # the database's id (counts every patient's exams)
    visit: int  # this patient's exams recorded so far, this one included
    patient: str
    date: datetime.date
    date_source: str
    where: str
    warning: str | None  # the id looks like a name or a date of birth
    time: str | None = None  # HH:MM, for a second visit on one date
    replaced: int = 0  # earlier exams of that date (and time) this one replaced

    def sentence(self) -> str:
        at = f" at {self.time}" if self.time else ""
        instead = f", replacing the earlier exam of that {'time' if self.time else 'date'}" if self.replaced else ""
        return (
            f"recorded visit {self.visit} of patient {self.patient} dated {self.date.isoformat()}{at} "
            f"({self.date_source}) in {self.where} (exam id {self.exam_id}){instead}"
        )


def exam_sources(path: Path, names: dict[str, str] | None = None) -> dict[str, Path]:
    """The files an exam read, by expression (a photo folder) or as ``video``."""
    if path.is_dir():
        return expression_photos(path, names)[0]
    return {"video": path}


def parse_date(value: str) -> datetime.date:
    """A visit's date: YYYY-MM-DD, a day that exists, not after today. Each wrong date gets its own message."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        raise FacepalsyError(f"date {value!r}: give the date as YYYY-MM-DD")
    try:
        day = datetime.date.fromisoformat(value.strip())
    except ValueError as exc:
        raise FacepalsyError(f"date {value!r}: no such day ({exc})") from None
    if day > datetime.date.today():
        raise FacepalsyError(f"date {value!r}: in the future (today is {datetime.date.today().isoformat()})")
    return day


def parse_visit_time(value: str) -> str:
    """A visit's time of day, HH:MM on a 24-hour clock, for a second visit on one date."""
    found = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
    if not found:
        raise FacepalsyError(f"visit time {value!r}: give the time as HH:MM (24-hour clock)")
    hours, minutes = int(found[1]), int(found[2])
    if hours > 23 or minutes > 59:
        raise FacepalsyError(f"visit time {value!r}: no such time of day")
    return f"{hours:02d}:{minutes:02d}"


def exam_date(sources: dict[str, Path], given: str | None) -> tuple[datetime.date, str]:
    """``--date``, else the rest photo's (or the first photo's) EXIF or DICOM date, else today, with its source."""
    if given:
        return parse_date(given), "--date"
    ordered = sorted(sources.items(), key=lambda item: item[0] != "rest")
    for _, path in ordered:
        found = photo_date(path)
        if found:
            return found
    return datetime.date.today(), TODAY


def patient_from_dicom(sources: dict[str, Path], mapping: dict[str, str]) -> str:
    """The pseudonym of the patient in the exam's DICOM headers (all must agree)."""
    dicoms = [path for path in sources.values() if is_dicom(path)]
    if not dicoms:
        raise FacepalsyError("--pseudonyms needs DICOM photos to read the patient id from; give --patient instead")
    pseudonyms = {pseudonym_for(dicom_patient_id(path), mapping, path) for path in dicoms}
    if len(pseudonyms) > 1:
        raise FacepalsyError(f"the exam's DICOM photos belong to {len(pseudonyms)} different patients")
    return pseudonyms.pop()


@dataclass
class PendingExam:
    """An exam made but not yet recorded (the page's Exam tab hands it to its History tab): its photos are read
    now, because uploads are deleted soon after."""

    exam: Exam
    photos: dict[str, PhotoFacts]
    date: datetime.date
    date_source: str
    run: str | None = None
    time: str | None = None  # HH:MM: a second visit on one date


def pending_exam(
    exam: Exam,
    sources: dict[str, Path],
    date: str | None = None,
    keep_photos: bool = False,
    run: str | None = None,
    time: str | None = None,
) -> PendingExam:
    """Only the sources the exam measured (a photo without a usable face is not kept)."""
    measured = {e: p for e, p in sources.items() if e in exam.expressions or exam.kind == "video"}
    when, source = exam_date(measured, date)
    photos = {e: photo_facts(p, keep_photos) for e, p in measured.items()}
    return PendingExam(exam, photos, when, source, run, parse_visit_time(time) if time else None)


def live_pending(exam: Exam, frames: list[tuple[str, bytes]], keep_photos: bool = False) -> PendingExam:
    """A live exam ready to record: per expression its kept frame as JPEG, hashed (the bytes stored only with
    ``keep_photos``), dated today."""
    photos = {
        e: PhotoFacts(hashlib.sha256(data).hexdigest(), ".jpg", data if keep_photos else None) for e, data in frames
    }
    return PendingExam(exam, photos, datetime.date.today(), LIVE)


def record_exam(
    store: RecordStore, patient: str, pending: PendingExam, recorded_by: str | None = None, replace: bool = False
) -> Recorded:
    """Store the exam for ``patient``; the id is checked, and a warning says if it looks like a name or a birth date.
    ``replace``: the patient's exam of the same date (and time) goes (``RecordStore.record``)."""
    exam_id, visit, replaced = store.record(
        patient,
        pending.exam,
        pending.date,
        pending.date_source,
        pending.photos,
        recorded_by,
        pending.run,
        visit_time=pending.time,
        replace=replace,
    )
    date, source, hint = pending.date, pending.date_source, identifying_hint(patient)
    return Recorded(exam_id, visit, patient.strip(), date, source, store.where, hint, pending.time, replaced)
