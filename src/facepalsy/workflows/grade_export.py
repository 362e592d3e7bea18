"""``grade --out grade.csv|grade.xlsx``: the grade's items and its mm measures per photo, for a spreadsheet.

Two readers, two layouts of the same numbers (the grade's own, ``Grade.to_dict``, rounded alike):

- **CSV** for a program: one table that ``pandas.read_csv`` reads, in Emotrics' layout: a row per photo (each
  measure's right, left, difference and the other side as a % of the healthier), then a row per eFACE-style item,
  the subscores and the total (the item columns empty on photo rows and the measure columns on item rows);
- **XLSX** for a clinic (openpyxl): on the first sheet a header block (the exam, its date, how many items were
  graded, the affected side and how it was chosen, the iris the mm assume, the research-use line), then the items
  by their clinical names with their scores, values, units and notes under a frozen header; the mm measures per
  photo on a second sheet.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from facepalsy.errors import FacepalsyError
from facepalsy.face.grade import KINDS, LABEL, TITLES, Grade
from facepalsy.face.millimetres import LABELS, MEASURES, OTHER_SIDE
from facepalsy.files import Sheet, atomic_write, atomic_write_workbook
from facepalsy.html_report import RESEARCH_USE

SUFFIXES = (".csv", ".xlsx")
PHOTO_COLUMNS = ("Photo", "Expression", "Scale", "mm per inter-ocular distance")
PARTS = ("Right", "Left", "Difference", "Percent")
ITEM_COLUMNS = ("Item", "Kind", "Score", "Healthy side value", "Affected side value", "Unit", "Basis")
CLINIC_COLUMNS = ("Item", "Score (0–100)", "± MDC95", "Healthy side", "Affected side", "Unit", "Read on", "Note")
CLINIC_WIDTHS = (30, 14, 10, 13, 13, 15, 28, 70)


@dataclass(frozen=True)
class ExamFacts:
    """What the header block of a clinic's sheet says about the exam beyond its grade."""

    exam: str  # the exam's name (its folder or video)
    date: str  # when its photos were taken, with where that was read, or why it is not known


def header() -> list[str]:
    measures = [
        f"{LABELS[name]} {part} ({MEASURES[name] if part != 'Percent' else '%'})" for name in MEASURES for part in PARTS
    ]
    return [*PHOTO_COLUMNS, *measures, *ITEM_COLUMNS]


def photo_rows(grade: Grade, sources: dict[str, str] | None = None) -> list[list]:
    """Per photo: file, expression, scale, mm per inter-ocular distance and each measure's right, left, difference,
    percent."""
    healthy = OTHER_SIDE.get(grade.affected_side)
    rows = []
    for expression, photo in grade.photos.items():
        cells: list = [(sources or {}).get(expression, expression), expression, photo.scale, _round(photo.mm_per_unit)]
        for name in MEASURES:
            percent = photo.percent(name, healthy)
            cells += [_round(photo.right[name]), _round(photo.left[name]), _round(photo.difference(name))]
            cells.append(None if percent is None else _round(percent))
        rows.append(cells)
    return rows


def table(grade: Grade, sources: dict[str, str] | None = None) -> list[list]:
    """The CSV: the header and every row: photos (``sources``: expression → file name), items, subscores, total."""
    width = len(PHOTO_COLUMNS) + len(MEASURES) * len(PARTS)
    rows: list[list] = [header(), *(cells + [None] * len(ITEM_COLUMNS) for cells in photo_rows(grade, sources))]
    document = grade.to_dict()
    for name, item in document["items"].items():
        cells = [name, item["kind"], item["score"], item["healthy"], item["affected"], item["unit"]]
        rows.append([None] * width + cells + [item["basis"] or None])
    for kind in (*KINDS, "total"):
        rows.append([None] * width + [kind, "subscore" if kind != "total" else "total", document[kind]] + [None] * 4)
    return rows


def clinic_sheet(grade: Grade, facts: ExamFacts) -> tuple[list[list], int]:
    """The clinic's first sheet: the header block, then the items table; and the row of the items' header (1-based)."""
    document = grade.to_dict()
    missing = ", ".join(e.replace("_", " ") for e in grade.missing_expressions)
    scales = sorted({photo.scale for photo in grade.photos.values()})
    iris = next(iter(grade.photos.values())).iris_mm if grade.photos else None
    block = [
        [f"{LABEL} grade"],
        ["Exam", facts.exam],
        ["Exam date", facts.date],
        ["Items graded", grade.rests_on() + (f"; missing: {missing}" if missing else "")],
        ["Affected side", grade.side_source],
        ["Scale", f"mm from an iris diameter of {iris} mm ({', '.join(scales)})" if iris else "no photo measured"],
        [RESEARCH_USE],
        [],
    ]
    rows: list[list] = [*block, list(CLINIC_COLUMNS)]
    for name, item in document["items"].items():
        read_on = ", ".join(e.replace("_", " ") for e in item["expressions"]) or None
        values = [item["score"], item["mdc95"], item["healthy"], item["affected"], item["unit"]]
        rows.append([TITLES[name], *values, read_on, item["note"] or None])
    for kind in KINDS:
        rows.append([f"{kind.capitalize()} subscore", document[kind]])
    rows.append(["Total", document["total"], None, None, None, None, grade.rests_on()])
    return rows, len(block) + 1


def write_grade(
    grade: Grade, path: str | Path, sources: dict[str, str] | None = None, facts: ExamFacts | None = None
) -> Path:
    """Write the grade to ``path`` (.csv or .xlsx, by its suffix). ``facts``: the exam's name and date for the
    XLSX's header block."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise FacepalsyError(f"{path}: the grade is written as {' or '.join(SUFFIXES)}; give a file name ending so")
    if path.suffix.lower() == ".xlsx":
        atomic_write_workbook(path, clinic_sheets(grade, sources, facts or ExamFacts("", "not known")), private=True)
        return path
    rows = table(grade, sources)

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["" if cell is None else cell for cell in row] for row in rows])

    atomic_write(path, write, private=True)  # a patient's measures
    return path


def clinic_sheets(grade: Grade, sources: dict[str, str] | None, facts: ExamFacts) -> list[Sheet]:
    """The clinic's workbook: the grade sheet and the mm measures sheet, each with widths and a frozen header."""
    from openpyxl.utils import get_column_letter

    rows, header_row = clinic_sheet(grade, facts)
    measures = [header()[: len(PHOTO_COLUMNS) + len(MEASURES) * len(PARTS)], *photo_rows(grade, sources)]
    widths = {get_column_letter(i + 1): max(12, min(len(name) + 2, 34)) for i, name in enumerate(measures[0])}
    return [
        Sheet("grade", rows, header_row, dict(zip("ABCDEFGH", CLINIC_WIDTHS))),
        Sheet("measures (mm)", measures, 1, widths, frozen_column="C"),
    ]


def _round(value: float) -> float:
    return round(float(value), 2)
