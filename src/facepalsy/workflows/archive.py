"""Scoring an archive: every photo and video under a folder into one CSV, written as results come and resumable.

Rows are appended a batch at a time and flushed to disk, so a stopped run (Ctrl+C, SIGKILL, a lost machine) keeps
every batch it finished; run again with the same ``--out`` and the files already scored (same path, same SHA-256)
are skipped, so each file ends up in the CSV once. A row torn by a kill mid-write is cut off and its file scored
again. A file that cannot be scored (unreadable, no usable face) gets a row with its status and reason: a bad file
is listed, never fatal. A file whose bytes changed since it was scored is scored again, and its newer row (lower
in the file) is the one that counts. Paths are written absolute, so a run resumed from another folder matches.
A video gets one row (its mean p(palsy), as ``predict`` gives it) and its timeline in ``<out>_videos/<name>/``.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from facepalsy.data.prepare import VIDEO_EXTENSIONS
from facepalsy.errors import FacepalsyError
from facepalsy.files import file_sha256
from facepalsy.log import progress_bar

COLUMNS = ("path", "sha256", "status", "label", "p_palsy", "threshold", "notes", "error")
ARCHIVE_SUFFIXES = (".csv",)


@dataclass
class ArchiveSummary:
    """What one call added to the CSV, and what it found there already."""

    out: Path
    scored: int  # rows written by this call
    failed: int  # of those, files without a verdict (status other than ok)
    skipped: int  # files already in the CSV with the same SHA-256

    def sentence(self) -> str:
        failed = f", {self.failed} without a verdict (their status and reason are in the file)" if self.failed else ""
        skipped = f"; {self.skipped} already scored, skipped" if self.skipped else ""
        return f"{self.out}: {self.scored} files scored{failed}{skipped}"


def is_archive_output(out: str | None) -> bool:
    return bool(out) and Path(out).suffix.lower() in ARCHIVE_SUFFIXES


def archive_inputs(inputs: list[str | Path]) -> list[Path]:
    """Files as given; folders replaced by the photos and videos under them (recursively, sorted)."""
    from facepalsy.data.images import IMAGE_EXTENSIONS

    wanted = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in wanted and p.is_file()))
        else:
            paths.append(item)
    return paths


def scored_already(out: Path) -> dict[str, str]:
    """Path → SHA-256 of the rows already in ``out``, after cutting off a last row torn by a kill mid-write."""
    if not out.exists():
        return {}
    content = out.read_bytes()
    if content and not content.endswith(b"\n"):
        with out.open("r+b") as f:
            f.truncate(content.rfind(b"\n") + 1)
    with out.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is not None and tuple(reader.fieldnames) != COLUMNS:
            raise FacepalsyError(f"{out}: not a facepalsy results file (columns {', '.join(COLUMNS)}); choose another")
        return {row["path"]: row["sha256"] for row in reader}


def _append_rows(out: Path, rows: list[dict]) -> None:
    """One batch of rows onto the file, on disk before the next batch starts."""
    new = not out.exists() or out.stat().st_size == 0
    with out.open("a", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerows(rows)
        f.flush()
        os.fsync(f.fileno())


def _row(path: Path, prediction, sha256: str, notes: list[str]) -> dict:
    return {
        "path": str(path),
        "sha256": sha256,
        "status": prediction.status,
        "label": prediction.label or "",
        "p_palsy": "" if prediction.prob_palsy is None else f"{prediction.prob_palsy:.6f}",
        "threshold": "" if prediction.threshold is None else f"{prediction.threshold:.6f}",
        "notes": "; ".join(notes),
        "error": prediction.error or "",
    }


def _video_row(predictor, path: Path, sha256: str, out: Path, fps: float) -> dict:
    verdict = predictor.predict_video(path, out.parent / f"{out.stem}_videos" / path.stem, fps=fps)
    return {
        "path": str(path),
        "sha256": sha256,
        "status": "error" if verdict.error else "ok",
        "label": verdict.label or "",
        "p_palsy": "" if verdict.prob_palsy is None else f"{verdict.prob_palsy:.6f}",
        "threshold": f"{verdict.threshold:.6f}",
        "notes": f"video: face in {verdict.frames_with_face}/{verdict.frames} frames; timeline {verdict.timeline}",
        "error": verdict.error or "",
    }


def score_archive(
    predictor, paths: list[Path], out: Path, notes=None, fps: float = 6.0, progress: bool = True
) -> ArchiveSummary:
    """Score ``paths`` (photos and videos) into ``out``, photos a batch at a time, skipping files already there (see
    the module docstring). ``notes(prediction)`` gives a photo row's notes (the CLI's warnings and pattern)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [Path(path).absolute() for path in paths]
    done = scored_already(out)
    hashes = {}
    for path in paths:
        try:
            hashes[str(path)] = file_sha256(path)
        except OSError:
            hashes[str(path)] = ""  # unreadable: scored (and reported) below
    todo = [path for path in paths if not hashes[str(path)] or done.get(str(path)) != hashes[str(path)]]
    photos = [path for path in todo if path.suffix.lower() not in VIDEO_EXTENSIONS]
    videos = [path for path in todo if path.suffix.lower() in VIDEO_EXTENSIONS]
    scored = failed = 0
    with progress_bar(disable=not progress) as bar:
        task = bar.add_task(f"scoring {len(todo)} files into {out.name}", total=len(todo))
        batches = [photos[i : i + predictor.batch_size] for i in range(0, len(photos), predictor.batch_size)]
        for batch in [*batches, *([video] for video in videos)]:
            if batch[0].suffix.lower() in VIDEO_EXTENSIONS:
                rows = [_video_row(predictor, batch[0], hashes[str(batch[0])], out, fps)]
            else:
                predictions = predictor.predict(batch)
                rows = [
                    _row(path, p, hashes[str(path)], notes(p) if notes else p.warnings)
                    for p, path in zip(predictions, batch)
                ]
            _append_rows(out, rows)
            scored += len(rows)
            failed += sum(row["status"] != "ok" for row in rows)
            bar.advance(task, len(rows))
    return ArchiveSummary(out, scored, failed, len(paths) - len(todo))
