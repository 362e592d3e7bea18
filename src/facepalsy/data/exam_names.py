"""How an exam's photos name their expressions: by file stem (``smile.jpg``), or a ``file,expression`` map; and when
a face clearly does not show the expression its name claims."""

from __future__ import annotations

import csv
from pathlib import Path

from facepalsy.data.images import IMAGE_EXTENSIONS
from facepalsy.errors import FacepalsyError
from facepalsy.face.expression import EXPRESSIONS


def read_name_map(path: str | Path) -> dict[str, str]:
    """``file,expression`` rows mapping file stems (or names) to canonical expressions."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FacepalsyError(f"{path}: cannot read name map ({exc})") from exc
    mapping = {}
    for line, row in enumerate(rows, start=2):
        if not {"file", "expression"} <= set(row):
            raise FacepalsyError(f"{path}: a name map needs the columns file,expression")
        if row["expression"] not in EXPRESSIONS:
            raise FacepalsyError(
                f"{path}, line {line}: unknown expression {row['expression']!r}; "
                f"expressions are {', '.join(EXPRESSIONS)}"
            )
        mapping[Path(row["file"]).stem] = row["expression"]
    return mapping


def expression_photos(folder: Path, names: dict[str, str] | None = None) -> tuple[dict[str, Path], list[str]]:
    """The photos of a folder by expression (file stem, or the name map), and files that name no expression."""
    photos, unknown = {}, []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()):
        expression = (names or {}).get(path.stem, path.stem.lower())
        if expression not in EXPRESSIONS:
            unknown.append(path.name)
        elif expression in photos:
            raise FacepalsyError(f"{folder}: two photos for {expression}: {photos[expression].name} and {path.name}")
        else:
            photos[expression] = path
    return photos, unknown


# Recognised movements that overrule a photo named rest. Not snarl: its rule (the upper lip near the nose) reads a
# short upper lip at rest as often as a snarl.
MOVING = ("brow_raise", "eye_closure_full", "smile", "pucker", "lip_depression")


def moving_rest(named: str, recognised: str) -> bool:
    """A photo named rest whose face clearly moves (a smiling photo saved as rest.jpg): read as rest, it would make
    every movement of the exam wrong, so the exam leaves it out and says so."""
    return named == "rest" and recognised in MOVING


def unmoved(named: str, recognised: str) -> bool:
    """A photo named as a movement whose face looks at rest: kept (a weak or absent movement is what the exam
    measures), and said. Eye closures are exempt: the mesh's lids can miss a closed eye."""
    return named not in ("rest", "eye_closure_gentle", "eye_closure_full") and recognised == "rest"
