"""``grade --out grade.csv|grade.xlsx``: the grade's mm measures per photo and its items, for a spreadsheet.

The layout follows Emotrics' export: one row per photo with, for each measure, the patient's right and left, their
difference and the other side as a % of the healthier; then one row per eFACE-style item, the subscores and the
total, in the same table (the item columns empty on photo rows and the measure columns empty on item rows), so that
``pandas.read_csv`` and a spreadsheet read one table. The numbers are the grade's own (``Grade.to_dict``), rounded
alike. XLSX through openpyxl.
"""

from __future__ import annotations

import csv
from pathlib import Path

from facepalsy.errors import FacepalsyError
from facepalsy.face.grade import KINDS, Grade
from facepalsy.face.millimetres import LABELS, MEASURES, OTHER_SIDE
from facepalsy.files import atomic_write

SUFFIXES = (".csv", ".xlsx")
PHOTO_COLUMNS = ("Photo", "Expression", "Scale", "mm per inter-ocular distance")
PARTS = ("Right", "Left", "Difference", "Percent")
ITEM_COLUMNS = ("Item", "Kind", "Score", "Healthy side", "Affected side", "Unit", "Affected", "Basis")


def header() -> list[str]:
    measures = [
        f"{LABELS[name]} {part} ({MEASURES[name] if part != 'Percent' else '%'})" for name in MEASURES for part in PARTS
    ]
    return [*PHOTO_COLUMNS, *measures, *ITEM_COLUMNS]


def table(grade: Grade, sources: dict[str, str] | None = None) -> list[list]:
    """The header and every row: photos (``sources``: expression → file name), items, subscores, total."""
    width = len(PHOTO_COLUMNS) + len(MEASURES) * len(PARTS)
    rows: list[list] = [header()]
    healthy = OTHER_SIDE.get(grade.affected_side)
    for expression, photo in grade.photos.items():
        cells: list = [(sources or {}).get(expression, expression), expression, photo.scale, _round(photo.mm_per_unit)]
        for name in MEASURES:
            percent = photo.percent(name, healthy)
            cells += [_round(photo.right[name]), _round(photo.left[name]), _round(photo.difference(name))]
            cells.append(None if percent is None else _round(percent))
        rows.append(cells + [None] * len(ITEM_COLUMNS))
    document = grade.to_dict()
    for name, item in document["items"].items():
        cells = [name, item["kind"], item["score"], item["healthy"], item["affected"], item["unit"]]
        rows.append([None] * width + cells + [item["affected_side"], item["basis"] or None])
    for kind in (*KINDS, "total"):
        rows.append([None] * width + [kind, "subscore" if kind != "total" else "total", document[kind]] + [None] * 5)
    return rows


def write_grade(grade: Grade, path: str | Path, sources: dict[str, str] | None = None) -> Path:
    """Write the table to ``path`` (.csv or .xlsx, by its suffix)."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise FacepalsyError(f"{path}: the grade is written as {' or '.join(SUFFIXES)}; give a file name ending so")
    rows = table(grade, sources)
    if path.suffix.lower() == ".csv":

        def write(tmp: Path) -> None:
            with tmp.open("w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows([["" if cell is None else cell for cell in row] for row in rows])

    else:

        def write(tmp: Path) -> None:
            from openpyxl import Workbook

            book = Workbook()
            book.active.title = "grade"
            for row in rows:
                book.active.append(row)
            book.save(tmp)

    atomic_write(path, write, private=True)  # a patient's measures
    return path


def _round(value: float) -> float:
    return round(float(value), 2)
