"""The record store: one database of patients and their exams, opened by path or URL, migrated on open.

Where it lives: ``--db PATH`` (a SQLite file) or ``--db URL`` (``postgresql+psycopg://…`` for a clinic's server),
else ``FACEPALSY_DB``, else ``records.db`` in the user's data folder (platformdirs). A new SQLite file is created
with mode 600 (its WAL and shared-memory files take the same mode); a folder the store creates gets 700.

SQLite runs in WAL mode with a 30 s busy timeout and takes its write lock when a transaction begins (``BEGIN
IMMEDIATE``), so two processes recording at once wait for each other instead of failing; every exam is written in
one transaction, so a process killed mid-write leaves the exam wholly there or absent. ``secure_delete`` zeroes what
``forget`` deletes, and forgetting checkpoints the WAL, so no copy of the pseudonym stays in the file.
"""

from __future__ import annotations

import datetime
import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, selectinload

from facepalsy.errors import FacepalsyError
from facepalsy.face.exam_result import Exam
from facepalsy.face.grade import load_retest
from facepalsy.face.norms import REGIONS, Norms
from facepalsy.face.pattern import PalsyPattern
from facepalsy.files import file_sha256
from facepalsy.records.grade_history import GradeFollowUp, VisitGrade
from facepalsy.records.history import OVERALL, History, Visit
from facepalsy.records.pseudonyms import check_patient_id
from facepalsy.records.schema import ExamRow, Patient, PhotoRow, RegionRow
from facepalsy.version import __version__

DB_ENV = "FACEPALSY_DB"
MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class PhotoFacts:
    """What the store keeps of one photo: its hash and kind, and its bytes only when asked to."""

    sha256: str
    suffix: str
    data: bytes | None = None


def photo_facts(path: Path, keep: bool = False) -> PhotoFacts:
    return PhotoFacts(file_sha256(path), path.suffix.lower()[:10], path.read_bytes() if keep else None)


def default_database() -> Path:
    from platformdirs import user_data_path

    return user_data_path("facepalsy", appauthor=False) / "records.db"


def database_url(db: str | Path | None = None) -> tuple[str, Path | None]:
    """The SQLAlchemy URL of ``db``, ``FACEPALSY_DB`` or the default file, and the SQLite file it names (None for a
    server)."""
    target = str(db or os.environ.get(DB_ENV) or default_database())
    if "://" not in target:
        path = Path(target).expanduser().resolve()
        return f"sqlite:///{path}", path
    try:
        url = make_url(target)
    except ArgumentError as exc:
        raise FacepalsyError(f"--db {target!r}: not a database URL ({exc})") from exc
    if url.get_backend_name() == "sqlite":
        return target, Path(url.database).resolve() if url.database else None
    return target, None


def _create_private_file(path: Path) -> None:
    if path.exists():
        if path.is_dir():
            raise FacepalsyError(f"{path}: is a folder; --db takes a database file or URL")
        return
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    os.chmod(path, 0o600)  # whatever the umask


def _sqlite_rules(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(connection, _record) -> None:
        connection.isolation_level = None  # the driver's own BEGIN off: ours below takes the write lock at once
        cursor = connection.cursor()
        for pragma in ("busy_timeout=30000", "journal_mode=WAL", "foreign_keys=ON", "secure_delete=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema (Alembic), on the store's own connection."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def recorded_by_default() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


class RecordStore:
    """Patients and their exams in one database (see the module docstring for where and how)."""

    def __init__(self, db: str | Path | None = None, create: bool = True) -> None:
        """``create=False``: only open an existing database (history, export, forget read a record; a mistyped path
        must not leave an empty database behind)."""
        self.url, self.path = database_url(db)
        if self.path is not None and not create and not self.path.is_file():
            raise FacepalsyError(f"{self.path}: no record database there (exams are recorded with exam --patient)")
        if self.path is not None:
            _create_private_file(self.path)
        try:
            self.engine = create_engine(self.url, connect_args={"timeout": 30} if self.path else {})
        except (ArgumentError, ModuleNotFoundError, ImportError) as exc:
            raise FacepalsyError(f"{make_url(self.url).render_as_string()}: cannot open the database ({exc})") from exc
        if self.url.startswith("sqlite"):
            _sqlite_rules(self.engine)
        try:
            upgrade(self.engine)
        except OperationalError as exc:
            raise FacepalsyError(f"{self.where}: cannot open the record database ({exc.orig})") from exc

    @property
    def where(self) -> str:
        """The database as it may be printed: the file, or the URL with its password hidden."""
        return str(self.path) if self.path else make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record(
        self,
        patient: str,
        exam: Exam,
        exam_date: datetime.date,
        date_source: str,
        photos: dict[str, PhotoFacts],
        recorded_by: str | None = None,
        run: str | None = None,
        visit_time: str | None = None,
        replace: bool = False,
    ) -> tuple[int, int, int]:
        """Store one exam of ``patient`` (created on first use) in one transaction; return the exam's id, the
        patient's visit number (their exams so far, this one included) and how many exams it replaced.

        One date is one visit: an exam on a date the patient already has a visit on is refused, unless ``replace``
        (the earlier exam of that date, at that ``visit_time`` if given, is deleted in the same transaction) or a
        ``visit_time`` (HH:MM) that no exam of that date has tells the two apart."""
        patient = check_patient_id(patient)
        row = ExamRow(
            exam_date=exam_date,
            visit_time=visit_time,
            date_source=date_source,
            recorded_at=datetime.datetime.now(datetime.timezone.utc),
            recorded_by=recorded_by,
            kind=exam.kind,
            verdict=exam.verdict(),
            outside_healthy_range=exam.outside_healthy_range,
            more_affected_side=exam.more_affected_side,
            palsy_pattern=exam.palsy_pattern.to_dict() if exam.palsy_pattern else None,
            overall_score=overall_rest_score(exam),
            reference=_reference(exam),
            run=run,
            facepalsy_version=__version__,
            document=_private_document(exam),
            regions=[
                RegionRow(
                    region=name,
                    score=region.rest.score if region.rest else None,
                    healthy_percentile=region.rest.healthy_percentile if region.rest else None,
                    outside_healthy_range=region.outside_healthy_range,
                    weaker_side=region.weaker_side,
                    symmetry_percent=region.symmetry_percent,
                    expression=region.expression,
                )
                for name, region in exam.regions.items()
            ],
            photos=[
                PhotoRow(expression=expression, sha256=facts.sha256, suffix=facts.suffix, data=facts.data)
                for expression, facts in photos.items()
            ],
        )
        with Session(self.engine) as session, session.begin():
            found = session.scalar(select(Patient).where(Patient.pseudonym == patient))
            if found is None:
                found = Patient(pseudonym=patient, created=row.recorded_at)
                session.add(found)
            same = [r for r in found.exams if r.exam_date == exam_date and visit_time in (None, r.visit_time)]
            if same and not replace:
                raise VisitTaken(patient, exam_date, visit_time)
            for earlier in same:
                session.delete(earlier)
            session.add(row)
            row.patient = found
            session.flush()
            visits = session.scalar(select(func.count()).select_from(ExamRow).where(ExamRow.patient_id == found.id))
            return row.id, int(visits), len(same)

    def patients(self) -> list[str]:
        with Session(self.engine) as session:
            return list(session.scalars(select(Patient.pseudonym).order_by(Patient.pseudonym)))

    def _patient(self, session: Session, patient: str) -> Patient:
        found = session.scalar(
            select(Patient)
            .where(Patient.pseudonym == patient)
            .options(selectinload(Patient.exams).selectinload(ExamRow.regions))
            .options(selectinload(Patient.exams).selectinload(ExamRow.photos))
        )
        if found is None:
            raise FacepalsyError(f"patient {patient!r}: no exams recorded in {self.where}")
        return found

    def history(self, patient: str, norms: Norms) -> History:
        """The patient's visits, judged against the MDC95 and healthy ranges of ``norms``."""
        with Session(self.engine) as session:
            rows = sorted(self._patient(session, check_patient_id(patient)).exams, key=visit_order)
            visits = [_visit(row) for row in rows]
            graded = [VisitGrade.from_document(row.exam_date, row.document or {}, row.visit_time) for row in rows]
        ranges = norms.rest
        p99 = {name: ranges.regions[name].p99 for name in REGIONS}
        if ranges.overall is not None:
            p99[OVERALL] = ranges.overall.p99
        retest = norms.retest
        mdc = {**retest.regions} if retest else {}
        if retest and retest.overall is not None:
            mdc[OVERALL] = retest.overall
        noise = load_retest()
        grades = GradeFollowUp(graded, noise.mdc95, noise.method)
        return History(patient, visits, mdc, p99, retest.method if retest else "", grades)

    def export(self, patient: str) -> dict:
        """Everything stored about the patient (kept photos as SHA-256 only; their bytes stay in the database)."""
        with Session(self.engine) as session:
            found = self._patient(session, check_patient_id(patient))
            return {
                "patient": found.pseudonym,
                "created": found.created.isoformat(),
                "exams": [
                    {
                        **_visit(row).to_dict(),
                        "recorded_at": row.recorded_at.isoformat(),
                        "region_details": {
                            r.region: {"healthy_percentile": r.healthy_percentile, "weaker_side": r.weaker_side}
                            for r in row.regions
                        },
                        "exam": row.document,
                    }
                    for row in found.exams
                ],
            }

    def forget(self, patient: str, visit: int | None = None) -> int:
        """Delete the patient and every exam, region and photo row, or (``visit``: its number as ``history`` lists the
        visits, 1 the earliest) that one exam alone; return how many exams went."""
        patient = check_patient_id(patient)
        with Session(self.engine) as session, session.begin():
            found = self._patient(session, patient)
            if visit is None:
                count = len(found.exams)
                session.delete(found)
            else:
                ordered = sorted(found.exams, key=visit_order)
                if not 1 <= visit <= len(ordered):
                    raise FacepalsyError(
                        f"patient {patient!r} has visits 1 to {len(ordered)}; there is no visit {visit}"
                    )
                session.delete(ordered[visit - 1])
                count = 1
        self._truncate_log()
        return count

    def _truncate_log(self) -> None:
        """SQLite: the WAL's frames of deleted rows go too (outside any transaction)."""
        if self.path is not None:  # outside any transaction: the WAL's frames of the deleted rows go too
            connection = self.engine.raw_connection()
            try:
                connection.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                connection.close()


class VisitTaken(FacepalsyError):
    """An exam on a date (and time) the patient already has a visit on: the caller asks to replace it or to tell the
    two apart by the time of day, each in its own words (a flag on the command line, a control on the page)."""

    def __init__(self, patient: str, date: datetime.date, time: str | None) -> None:
        self.patient, self.date, self.time = patient, date, time
        at = f" at {time}" if time else ""
        super().__init__(
            f"patient {patient!r} already has a visit on {date.isoformat()}{at}: give --replace to record this exam "
            "in its place, or --visit-time HH:MM to record a second visit that day"
        )


def visit_order(row: ExamRow) -> tuple:
    """Visits as ``history`` numbers them: by date, then time of day (none first), then as recorded."""
    return row.exam_date, row.visit_time or "", row.id


def overall_rest_score(exam: Exam) -> float | None:
    scores = [region.rest.score for region in exam.regions.values() if region.rest]
    return max(scores) if scores else None


def _reference(exam: Exam) -> dict:
    reading = exam.readings.get("rest") or next(iter(exam.readings.values()), None)
    reference = reading.reference if reading else {}
    return {key: reference[key] for key in ("source", "date", "count") if key in reference}


def _private_document(exam: Exam) -> dict:
    """exam.json without what may name the patient: the folder, the file names and a video's path."""
    document = exam.to_dict()
    document.pop("person", None)
    document.pop("unnamed_files", None)
    if exam.kind == "photos":
        document["expressions"] = sorted(document["expressions"])
    if isinstance(document.get("cnn"), dict):
        document["cnn"] = {k: v for k, v in document["cnn"].items() if k not in ("source", "path")}
    return document


def _visit(row: ExamRow) -> Visit:
    scores: dict[str, float | None] = {region.region: region.score for region in row.regions}
    scores[OVERALL] = row.overall_score
    return Visit(
        exam_id=row.id,
        date=row.exam_date,
        time=row.visit_time,
        date_source=row.date_source,
        recorded_by=row.recorded_by,
        scores=scores,
        outside=[region.region for region in row.regions if region.outside_healthy_range],
        more_affected_side=row.more_affected_side,
        verdict=row.verdict,
        palsy_pattern=PalsyPattern.from_dict(row.palsy_pattern),
        facepalsy_version=row.facepalsy_version,
        run=row.run,
        photos={photo.expression: photo.sha256 for photo in row.photos},
    )
