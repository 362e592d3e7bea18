"""Video ingest: decode videos (or folders of cut frames) into the data contract at a fixed frame rate.

YFP was made this way: 32 videos of 21 patients cut at 6 fps. Each frame is written to
``DATA/LABEL/SUBJECT/VIDEO_000000ms.jpg`` and gets a row in ``manifest.csv`` with its ``subject``
(from a ``video,subject`` map, else the video's name, so frames of one video never land on two
sides of a subject split), ``video`` and ``frame_time`` (seconds). Re-running is idempotent.
"""

from __future__ import annotations

import csv
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue
from typing import Iterator, TypeVar

import cv2
import numpy as np

from facepalsy.data.dataset import CLASSES, MANIFEST, MANIFEST_COLUMNS, scan_folders
from facepalsy.data.images import IMAGE_EXTENSIONS, load_image
from facepalsy.errors import BadImageError, DataError, FacepalsyError
from facepalsy.files import atomic_write, atomic_write_csv
from facepalsy.log import progress_bar

T = TypeVar("T")

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm"}
PREPARE_COLUMNS = (*MANIFEST_COLUMNS, "video", "frame_time")


@dataclass
class PrepareReport:
    written: int = 0
    already_present: int = 0
    videos: dict[str, int] = field(default_factory=dict)  # source name → frames it yielded
    failed: dict[str, str] = field(default_factory=dict)  # source name → reason
    without_face: dict[str, int] = field(default_factory=dict)  # source name → frames skipped (--face-crop)
    unknown_in_map: list[str] = field(default_factory=list)


def safe_name(name: str) -> str:
    """A subject or video name usable as a folder or file name."""
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "unnamed"


def _read_subject_map(path: Path) -> dict[str, str]:
    """``video,subject`` rows; a video may be named with or without its extension."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not {"video", "subject"} <= set(reader.fieldnames or []):
                raise DataError(f"{path}: a subject map needs the columns video,subject")
            return {row["video"].strip(): row["subject"].strip() for row in reader if row["video"] and row["subject"]}
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read subject map ({exc})") from exc


# seconds: containers such as Matroska keep times to the millisecond (1/6 s is stored as 0.167, 2/6 s as 0.333)
TIMESTAMP_SLACK = 1e-3


def video_frames(path: Path, fps: float) -> Iterator[tuple[float, np.ndarray]]:
    """(time in seconds, BGR frame) at ``fps``: the first frame at or after each 1/fps step.

    Times are the container's presentation timestamps, so a phone's variable-frame-rate video gets
    its real times (frame number ÷ nominal rate would drift). Frames between steps are only grabbed
    (decoded, not converted), which is most of a 30 fps video analysed at 6 fps.
    """
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise DataError(f"{path}: cannot open (not a video, or no OpenCV/FFmpeg decoder for this container or codec)")
    source_fps = capture.get(cv2.CAP_PROP_FPS)
    step, next_time, index = 1.0 / fps, 0.0, 0
    try:
        while capture.grab():
            stamp = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            time = (
                stamp if stamp > 0 or index == 0 or source_fps <= 0 else index / source_fps
            )  # a backend without timestamps: the nominal rate
            index += 1
            if time + TIMESTAMP_SLACK < next_time:
                continue
            ok, frame = capture.retrieve()
            if not ok:
                break
            yield time, frame
            while next_time <= time + TIMESTAMP_SLACK:
                next_time += step
    finally:
        capture.release()


def read_ahead(items: Iterator[T], depth: int = 8) -> Iterator[T]:
    """``items`` produced on a thread, up to ``depth`` ahead of the consumer: a video decodes while its last frames are
    analysed (OpenCV and MediaPipe release the GIL). An error of the producer is raised in the consumer, where it would
    have been; a consumer that stops early stops the producer."""
    queue: Queue = Queue(depth)
    stop = threading.Event()
    done = object()

    def offer(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((item, None)):
                    return
            offer((done, None))
        except BaseException as exc:  # handed to the consumer, raised there
            offer((done, exc))
        finally:
            getattr(items, "close", lambda: None)()  # a generator's own clean-up (a video's capture) runs here

    producer = threading.Thread(target=produce, name="read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            item, error = queue.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        producer.join(timeout=5)


def decode_ahead(paths: list[Path], max_side: int | None = None) -> Iterator[tuple[Path, np.ndarray | BadImageError]]:
    """Each photo decoded to an RGB array on a thread while the last ones are measured (``load_image``, ``max_side``);
    one that cannot be decoded comes, in its place, as its BadImageError."""

    def decoded() -> Iterator[tuple[Path, np.ndarray | BadImageError]]:
        for path in paths:
            try:
                yield path, np.asarray(load_image(path, max_side))
            except BadImageError as exc:
                yield path, exc

    return read_ahead(decoded(), depth=4)


def _sources(videos: Path) -> list[Path]:
    if not videos.is_dir():
        raise DataError(f"{videos}: folder of videos not found")
    found = [
        p
        for p in sorted(videos.iterdir())
        if (p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS) or (p.is_dir() and _frame_files(p))
    ]
    if not found:
        raise DataError(f"{videos}: no videos ({', '.join(sorted(VIDEO_EXTENSIONS))}) or folders of frames found")
    return found


def _frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _existing_rows(out: Path) -> list[dict]:
    """The manifest's rows; without a manifest, the images already in the class folders (so they stay in)."""
    if (out / MANIFEST).is_file():
        with (out / MANIFEST).open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    if not out.is_dir():
        return []
    return [
        {"path": s.path, "label": CLASSES[s.label], "subject": s.subject} for s in scan_folders(out, require_both=False)
    ]


def prepare_videos(
    videos: str | Path,
    out: str | Path,
    label: str,
    fps: float = 6.0,
    subject_map: str | Path | None = None,
    face_crop: int | None = None,
    progress: bool = True,
) -> PrepareReport:
    """Write the frames of every video (and folder of frames) in ``videos`` into the data folder ``out``.

    A video that cannot be decoded is reported by name and the others are still processed. With
    ``face_crop`` (a size in pixels) each frame is replaced by its aligned face crop; frames
    without a usable face are counted per video and not written.
    """

    if label not in CLASSES:
        raise FacepalsyError(f"--label must be one of {', '.join(CLASSES)}, got {label!r}")
    if fps <= 0:
        raise FacepalsyError(f"--fps must be positive, got {fps}")
    videos, out = Path(videos), Path(out)
    sources = _sources(videos)
    mapping = _read_subject_map(Path(subject_map)) if subject_map else {}
    names = {p.name for p in sources} | {p.stem for p in sources}
    report = PrepareReport(unknown_in_map=sorted(v for v in mapping if v not in names))
    rows = _existing_rows(out)
    present = {row["path"] for row in rows}

    with progress_bar(disable=not progress) as bar:
        task = bar.add_task(f"preparing {len(sources)} videos", total=len(sources))
        for source in sources:
            subject = mapping.get(source.name) or mapping.get(source.stem) or source.stem
            folder = Path(label) / safe_name(subject)
            count = 0
            try:
                if source.is_dir():
                    frames = ((i / fps, path) for i, path in enumerate(_frame_files(source)))
                else:
                    frames = video_frames(source, fps)
                for time, frame in frames:
                    count += 1
                    suffix = frame.suffix.lower() if isinstance(frame, Path) else ".jpg"
                    rel = (folder / f"{safe_name(source.stem)}_{round(time * 1000):08d}ms{suffix}").as_posix()
                    if rel in present:
                        report.already_present += 1
                        continue
                    if face_crop:
                        if isinstance(frame, Path):
                            rel = rel.rsplit(".", 1)[0] + ".jpg"
                        try:
                            frame = _face_crop_bgr(frame, face_crop, f"{source.name} at {time:.2f} s")
                        except BadImageError:
                            report.without_face[source.name] = report.without_face.get(source.name, 0) + 1
                            continue
                    _write_frame(out / rel, frame)
                    present.add(rel)
                    rows.append(
                        {
                            "path": rel,
                            "label": label,
                            "subject": subject,
                            "video": source.name,
                            "frame_time": f"{time:.3f}",
                        }
                    )
                    report.written += 1
                if count == 0:
                    raise DataError(f"{source}: no decodable frame")
                report.videos[source.name] = count
            except DataError as exc:
                report.failed[source.name] = str(exc)
            bar.advance(task)
    fieldnames = list(dict.fromkeys([*PREPARE_COLUMNS, *(k for row in rows for k in row)]))
    atomic_write_csv(out / MANIFEST, fieldnames, rows)
    return report


def _face_crop_bgr(frame: np.ndarray | Path, size: int, where: str) -> np.ndarray:
    from facepalsy.data.model_input import FacePolicy, model_input

    rgb = np.asarray(load_image(frame)) if isinstance(frame, Path) else cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    return cv2.cvtColor(model_input(rgb, size, FacePolicy(crop=True), where).pixels, cv2.COLOR_RGB2BGR)


def _write_frame(path: Path, frame: np.ndarray | Path) -> None:
    if isinstance(frame, Path):
        atomic_write(path, lambda tmp: shutil.copyfile(frame, tmp))
        return
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise DataError(f"{path}: cannot encode frame")
    atomic_write(path, lambda tmp: tmp.write_bytes(encoded.tobytes()))
