"""Atomic file writes (readers never see half a file: write to a temporary name, then rename) and file hashes."""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from facepalsy.errors import FacepalsyError

_UMASK = os.umask(0)
os.umask(_UMASK)


PRIVATE = 0o600  # a patient's data: readable by its owner only, as the record database is


def atomic_write(path: Path, write: Callable[[Path], None], private: bool = False) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place; ``private``: a patient's
    data, written PRIVATE (never visible to others, even for the moment before the rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        if not private:
            os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the user's usual mode
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename == tmp:
            exc.filename = str(path)  # name the file the user knows, not the temporary
        raise


def atomic_write_text(path: Path, text: str, private: bool = False) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), private)


def atomic_write_json(path: Path, data: Any, private: bool = False) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n", private)


def atomic_write_csv(
    path: Path, fieldnames: Sequence[str], rows: Iterable[dict[str, Any]], private: bool = False
) -> None:
    """A CSV with a header row; keys missing from a row are written empty."""

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(fieldnames))
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write, private)


@dataclass(frozen=True)
class Sheet:
    """One worksheet of a workbook a person reads: rows (a title in A1 where ``header_row`` > 1), the row of the
    column names (1-based, bold, frozen with the columns left of ``frozen_column``), and column widths."""

    title: str
    rows: list[list]
    header_row: int = 1
    widths: dict[str, float] = field(default_factory=dict)  # column letter: width
    frozen_column: str = "B"


def atomic_write_workbook(path: Path, sheets: Sequence[Sheet], private: bool = False) -> None:
    """An XLSX (openpyxl) of ``sheets``, written as ``atomic_write`` does: the one way every workbook is laid out."""

    def write(tmp: Path) -> None:
        from openpyxl import Workbook
        from openpyxl.styles import Alignment, Font

        book = Workbook()
        book.remove(book.active)
        for spec in sheets:
            sheet = book.create_sheet(spec.title)
            for row in spec.rows:
                sheet.append(row)
            if spec.header_row > 1:
                sheet["A1"].font = Font(bold=True, size=13)
            for cell in sheet[spec.header_row]:
                cell.font = Font(bold=True)
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            sheet.freeze_panes = f"{spec.frozen_column}{spec.header_row + 1}"
            for column, width in spec.widths.items():
                sheet.column_dimensions[column].width = width
        book.save(tmp)

    atomic_write(path, write, private)


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes, remembered while its size and modification time stay (cv hashes the same
    files for every fold)."""
    try:
        stat = Path(path).stat()
        return _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)
    except OSError as exc:
        raise FacepalsyError(f"{path}: cannot read ({exc.strerror or exc})") from exc


@functools.lru_cache(maxsize=100_000)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
