"""The record store's tables, as SQLAlchemy models. A patient is a pseudonym and its exams; an exam keeps its date and
where the date came from, who recorded it with which facepalsy and run, the verdict, the palsy pattern, the overall
score, one row per region and one per photo (its SHA-256; its bytes only with ``--keep-photos``).

Every child row is deleted with its patient (foreign keys ON DELETE CASCADE, also enforced by the ORM), so that
``forget`` is one delete. A change to these models needs a new file in ``migrations/versions``.
"""

from __future__ import annotations

import datetime

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(128), unique=True)
    created: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    exams: Mapped[list[ExamRow]] = relationship(
        back_populates="patient", cascade="all, delete-orphan", passive_deletes=True, order_by="ExamRow.id"
    )


class ExamRow(Base):
    __tablename__ = "exams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    exam_date: Mapped[datetime.date] = mapped_column(Date)
    visit_time: Mapped[str | None] = mapped_column(String(5))  # HH:MM: a second visit on one date (revision 0002)
    date_source: Mapped[str] = mapped_column(String(40))  # "--date", "EXIF DateTimeOriginal", "DICOM header", "today"
    recorded_at: Mapped[datetime.datetime] = mapped_column(DateTime(timezone=True))
    recorded_by: Mapped[str | None] = mapped_column(String(128))  # the page's login; the OS user on the CLI
    kind: Mapped[str] = mapped_column(String(10))  # photos or video
    verdict: Mapped[str] = mapped_column(Text)
    outside_healthy_range: Mapped[bool | None] = mapped_column(Boolean)
    more_affected_side: Mapped[str | None] = mapped_column(String(10))
    palsy_pattern: Mapped[dict | None] = mapped_column(JSON)
    overall_score: Mapped[float | None] = mapped_column(Float)  # the rest photo's largest region score
    reference: Mapped[dict] = mapped_column(JSON)  # the healthy reference read against: source, date, count
    run: Mapped[str | None] = mapped_column(Text)  # the trained run behind a video's network verdict, if any
    facepalsy_version: Mapped[str] = mapped_column(String(40))
    document: Mapped[dict] = mapped_column(JSON)  # exam.json without the folder name (which may name the patient)
    patient: Mapped[Patient] = relationship(back_populates="exams")
    regions: Mapped[list[RegionRow]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    photos: Mapped[list[PhotoRow]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class RegionRow(Base):
    __tablename__ = "exam_regions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    region: Mapped[str] = mapped_column(String(20))
    score: Mapped[float | None] = mapped_column(Float)  # at rest, in units of healthy spread
    healthy_percentile: Mapped[float | None] = mapped_column(Float)
    outside_healthy_range: Mapped[bool] = mapped_column(Boolean)
    weaker_side: Mapped[str | None] = mapped_column(String(10))
    symmetry_percent: Mapped[float | None] = mapped_column(Float)  # of movement, in the region's expression
    expression: Mapped[str | None] = mapped_column(String(40))


class PhotoRow(Base):
    __tablename__ = "exam_photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exams.id", ondelete="CASCADE"), index=True)
    expression: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    suffix: Mapped[str] = mapped_column(String(10))
    data: Mapped[bytes | None] = mapped_column(LargeBinary)  # the file's bytes, only with --keep-photos
