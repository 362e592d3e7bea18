"""Patient ids are pseudonyms. The store cannot know who a pseudonym is, but it can notice an id that looks like a
name or a date of birth and say so; and a DICOM header's real PatientID only becomes an id through a map the clinic
keeps (``real_id,pseudonym`` rows), so the real id never reaches the database."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from facepalsy.errors import FacepalsyError

MAX_ID_LENGTH = 128
_DATE = re.compile(
    r"(19|20)\d\d[-./_]?(0[1-9]|1[0-2])[-./_]?(0[1-9]|[12]\d|3[01])"  # 1980-05-12, 19800512
    r"|(0?[1-9]|[12]\d|3[01])[-./](0?[1-9]|1[0-2])[-./](19|20)?\d\d"  # 12.05.1980, 12/5/80
)
_NAME = re.compile(r"^[^\W\d_]{2,}([ ,._'-]+[^\W\d_]{2,})+$")  # two or more words of letters only: "Jane Doe"


def check_patient_id(patient: str) -> str:
    """The id, stripped; an error for an empty, over-long or multi-line id."""
    patient = patient.strip()
    if not patient or len(patient) > MAX_ID_LENGTH or any(c in patient for c in "\r\n\t"):
        raise FacepalsyError(
            f"patient id {patient[:40]!r}: give a pseudonym of 1 to {MAX_ID_LENGTH} characters on one line"
        )
    return patient


def identifying_hint(patient: str) -> str | None:
    """Why an id looks like it identifies a person (a date of birth, a name), or None."""
    if _DATE.search(patient):
        return "it contains a date (a date of birth?)"
    if _NAME.match(patient) and not patient.isupper():
        return "it looks like a name"
    return None


def read_pseudonym_map(path: str | Path) -> dict[str, str]:
    """``real_id,pseudonym`` rows (a header row is allowed) into a dict; an error names the file and the row."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise FacepalsyError(f"{path}: cannot read the pseudonymisation map ({exc})") from exc
    mapping = {}
    for number, row in enumerate(rows, start=1):
        if number == 1 and [cell.strip().lower() for cell in row] == ["real_id", "pseudonym"]:
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise FacepalsyError(f"{path}: row {number}: expected real_id,pseudonym")
        mapping[row[0].strip()] = check_patient_id(row[1])
    return mapping


def pseudonym_for(real_id: str | None, mapping: dict[str, str], source: Path) -> str:
    """The pseudonym of a header's real id; the error never prints the real id."""
    if real_id is None:
        raise FacepalsyError(f"{source}: the DICOM header has no PatientID to look up; give --patient")
    if real_id not in mapping:
        raise FacepalsyError(f"{source}: the header's PatientID is not in the pseudonymisation map; add it there")
    return mapping[real_id]
