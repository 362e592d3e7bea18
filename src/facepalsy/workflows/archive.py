"""Scoring an archive: every photo and video under a folder into one results file (CSV or Parquet), written as
results come and resumable, on this machine or spread over a Ray cluster.

Rows are appended a batch at a time and flushed to disk, so a stopped run (Ctrl+C, SIGKILL, a lost machine) keeps
every batch it finished; run again with the same ``--out`` and the files already scored (same path, same SHA-256)
are skipped, so each file ends up in the file once. A row torn by a kill mid-write is cut off and its file scored
again. A file that cannot be scored (unreadable, no usable face) gets a row with its status and reason: a bad file
is listed, never fatal. A file whose bytes changed since it was scored is scored again, and its newer row (lower
in the file) is the one that counts. Paths are written absolute, so a run resumed from another folder matches.
A video gets one row (its mean p(palsy), as ``predict`` gives it) and its timeline in ``<out>_videos/<name>/``.

A Parquet file cannot be appended to, nor read without the footer written when it closes, so ``results.parquet``
streams into ``results.parquet.partial.csv`` (the same resumable journal) and becomes Parquet, typed, when every file
is scored; a later run adds its rows to it the same way. With ``--ray``, batches go to Ray actors (each loads the
model once and scores batch after batch) and their rows are appended by this process as they come back; on a
cluster, the files and the results folder must be on storage every node sees.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from facepalsy.cluster import RayPlan, ray_session
from facepalsy.data.prepare import VIDEO_EXTENSIONS
from facepalsy.errors import FacepalsyError
from facepalsy.files import atomic_write, file_sha256
from facepalsy.log import progress_bar

COLUMNS = ("path", "sha256", "status", "label", "p_palsy", "threshold", "notes", "error")
NUMBERS = ("p_palsy", "threshold")  # typed as numbers in Parquet, empty (null) without a verdict
ARCHIVE_SUFFIXES = (".csv", ".parquet")
PARQUET_INSTALL = "pip install 'facepalsy[parquet]'  (or: bash scripts/setup)"


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


def journal(out: Path) -> Path:
    """Where rows are appended as they come: the CSV itself, or the Parquet file's partial CSV."""
    return out if out.suffix.lower() == ".csv" else out.with_name(out.name + ".partial.csv")


def _scored_already(out: Path) -> dict[str, str]:
    """Path → SHA-256 of the rows already in ``out`` (a Parquet file and its journal), after cutting off a last row
    torn by a kill mid-write; a later row of a path overrides an earlier one."""
    done = {row["path"]: row["sha256"] for row in _parquet_rows(out)} if out.suffix.lower() == ".parquet" else {}
    return {**done, **_journal_rows(journal(out))}


def _parquet_rows(out: Path) -> list[dict]:
    if not out.exists():
        return []
    parquet = _pyarrow_parquet()
    try:
        table = parquet.read_table(out)
    except Exception as exc:  # pyarrow raises its own types for every way a file can be wrong
        raise FacepalsyError(f"{out}: cannot read as Parquet ({exc}); choose another --out") from exc
    _check_columns(out, table.column_names)
    return table.to_pylist()


def _check_columns(out: Path, names) -> None:
    if tuple(names) != COLUMNS:
        raise FacepalsyError(f"{out}: not a facepalsy results file (columns {', '.join(COLUMNS)}); choose another")


def _pyarrow_parquet():
    try:
        import pyarrow.parquet
    except ImportError as exc:
        raise FacepalsyError(
            f"a Parquet results file needs pyarrow, which is not installed: {PARQUET_INSTALL}"
        ) from exc
    return pyarrow.parquet


def _journal_rows(out: Path) -> dict[str, str]:
    if not out.exists():
        return {}
    content = out.read_bytes()
    if content and not content.endswith(b"\n"):
        with out.open("r+b") as f:
            f.truncate(content.rfind(b"\n") + 1)
    with out.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is not None:
            _check_columns(out, reader.fieldnames)
        return {row["path"]: row["sha256"] for row in reader}


def _write_parquet(out: Path) -> None:
    """The Parquet file from its rows so far and its journal's, typed; then the journal goes."""
    import pyarrow

    rows = _parquet_rows(out)
    with journal(out).open(newline="", encoding="utf-8") as f:
        added = list(csv.DictReader(f))
    for row in added:
        row.update({name: float(row[name]) if row[name] else None for name in NUMBERS})
    schema = pyarrow.schema([(name, pyarrow.float64() if name in NUMBERS else pyarrow.string()) for name in COLUMNS])
    table = pyarrow.Table.from_pylist([*rows, *added], schema=schema)
    atomic_write(out, lambda tmp: _pyarrow_parquet().write_table(table, tmp), private=True)
    journal(out).unlink()


def _append_rows(out: Path, rows: list[dict]) -> None:
    """One batch of rows onto the file, on disk before the next batch starts."""
    new = not out.exists() or out.stat().st_size == 0
    # created readable by its owner only: verdicts on patients' photos, as the record database and exams are
    handle = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with open(handle, "a", newline="", encoding="utf-8") as f:
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
    load_predictor: Callable[[], Any],
    paths: list[Path],
    out: Path,
    notes=None,
    fps: float = 6.0,
    progress: bool = True,
    ray: RayPlan | None = None,
) -> ArchiveSummary:
    """Score ``paths`` (photos and videos) into ``out``, photos a batch at a time, skipping files already there (see
    the module docstring). ``load_predictor()`` gives the Predictor (called here, and once in each Ray actor);
    ``notes(prediction)`` gives a photo row's notes (the CLI's warnings and pattern)."""
    out = Path(out)
    if out.suffix.lower() == ".parquet":
        _pyarrow_parquet()  # missing pyarrow fails before any work
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [Path(path).absolute() for path in paths]
    done = _scored_already(out)
    hashes = {}
    for path in paths:
        try:
            hashes[str(path)] = file_sha256(path)
        except OSError:
            hashes[str(path)] = ""  # unreadable: scored (and reported) below
    todo = [path for path in paths if not hashes[str(path)] or done.get(str(path)) != hashes[str(path)]]
    predictor = load_predictor()  # a wrong run folder fails here, before Ray starts
    photos = [path for path in todo if path.suffix.lower() not in VIDEO_EXTENSIONS]
    batches = [photos[i : i + predictor.batch_size] for i in range(0, len(photos), predictor.batch_size)]
    batches += [[video] for video in todo if video.suffix.lower() in VIDEO_EXTENSIONS]
    work = [(batch, {str(p): hashes[str(p)] for p in batch}) for batch in batches]
    if ray is None:
        scored_batches = (_score(predictor, batch, known, out, notes, fps) for batch, known in work)
    else:
        scored_batches = _scored_on_ray(ray, load_predictor, work, out, notes, fps)
    scored = failed = 0
    with progress_bar(disable=not progress) as bar:
        task = bar.add_task(f"scoring {len(todo)} files into {out.name}", total=len(todo))
        for rows in scored_batches:
            _append_rows(journal(out), rows)
            scored += len(rows)
            failed += sum(row["status"] != "ok" for row in rows)
            bar.advance(task, len(rows))
    if journal(out) != out and journal(out).exists():
        _write_parquet(out)
    return ArchiveSummary(out, scored, failed, len(paths) - len(todo))


def _score(predictor, batch: list[Path], hashes: dict[str, str], out: Path, notes, fps: float) -> list[dict]:
    """The rows of one batch: a video alone, or photos through the network together."""
    if batch[0].suffix.lower() in VIDEO_EXTENSIONS:
        return [_video_row(predictor, batch[0], hashes[str(batch[0])], out, fps)]
    predictions = predictor.predict(batch)
    return [_row(path, p, hashes[str(path)], notes(p) if notes else p.warnings) for p, path in zip(predictions, batch)]


class _Scorer:
    """A Ray actor: the model loaded once, then batch after batch scored."""

    def __init__(self, load_predictor: Callable[[], Any], threads: int, out: Path, notes, fps: float):
        import torch

        torch.set_num_threads(threads)  # the cores Ray gave this actor
        self.predictor, self.out, self.notes, self.fps = load_predictor(), out, notes, fps

    def score(self, batch: list[Path], hashes: dict[str, str]) -> list[dict]:
        return _score(self.predictor, batch, hashes, self.out, self.notes, self.fps)


def _scored_on_ray(plan: RayPlan, load_predictor, work: list, out: Path, notes, fps: float) -> Iterator[list[dict]]:
    """Each batch's rows as Ray actors finish them: as many actors as the cluster has room for (``plan``'s cores and
    GPUs each), at most one per batch."""
    if not work:
        return
    with ray_session(plan) as ray:
        from ray.util import ActorPool

        room = ray.cluster_resources()
        actors = int(room.get("CPU", 1) // plan.task_cpus)
        if plan.task_gpus:
            actors = min(actors, int(room.get("GPU", 0) // plan.task_gpus))
        if actors < 1:
            raise FacepalsyError(f"--ray: the cluster has no room for one task of {plan.resources}")
        scorer = ray.remote(num_cpus=plan.task_cpus, num_gpus=plan.task_gpus)(_Scorer)
        pool = ActorPool(
            [scorer.remote(load_predictor, plan.task_cpus, out, notes, fps) for _ in range(min(actors, len(work)))]
        )
        yield from pool.map_unordered(lambda actor, item: actor.score.remote(*item), work)
