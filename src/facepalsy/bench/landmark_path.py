"""The landmark path's figures of ``facepalsy bench``: each against the face-mesh pass it is built on, in one process.

- per photo: decode, find, measure and read a photo (``read_photo``: the face found, measured on JITTER's views and
  read) against MediaPipe's static face mesh alone on the decoded photo;
- per video frame: follow, measure and read a frame (``FaceTracker``, ``found_asymmetry``, ``compare``) against
  MediaPipe's face mesh in tracking mode alone on the same frames;
- start-up: ``facepalsy asymmetry`` on one photo, as a process, from launch to exit;
- a folder: ``facepalsy asymmetry --json`` over the photos, as a process: photos per second, start-up included.

The video is made of the photos: each held for a second at 30 fps on a 1280×720 frame, swaying, read at 6 fps.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from facepalsy.bench.figures import LandmarkPathFigures
from facepalsy.bench.timing import face_photo, timed

FRAME = (720, 1280)  # height, width
STRIDE = 5  # 30 fps read at 6 fps


def _photos(folders: list[Path] | None, count: int, tmp: Path) -> tuple[list[Path], str]:
    """``count`` photos with a face, as evenly from each folder as they allow (sorted, the first ones); else drawn
    faces written to ``tmp``."""
    from facepalsy.data.images import IMAGE_EXTENSIONS, load_image
    from facepalsy.errors import BadImageError
    from facepalsy.face.detect import largest_face

    if not folders:
        paths = []
        for seed in range(count):
            paths.append(tmp / f"drawn_{seed}.png")
            face_photo(seed=seed).save(paths[-1])
        return paths, "drawn faces on 640×480"
    chosen = []
    for folder in folders:
        found = []
        for path in sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS):
            try:
                largest_face(np.asarray(load_image(path)), path, backend="mediapipe")
            except BadImageError:
                continue
            found.append(path)
            if len(found) == -(-count // len(folders)):
                break
        chosen += found
    return chosen[:count], ", ".join(str(f) for f in folders)


def _video(photos: list[np.ndarray]) -> list[np.ndarray]:
    """The analysed frames (6 fps) of a clip holding each photo for a second, swaying by up to 24 px."""
    import cv2

    frames = []
    for index, rgb in enumerate(photos):
        scale = 0.8 * FRAME[0] / rgb.shape[0]
        face = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)))
        for i in range(0, 30, STRIDE):
            frame = np.full((*FRAME, 3), 118, np.uint8)
            x = (FRAME[1] - face.shape[1]) // 2 + int(24 * np.sin((30 * index + i) / 40))
            y = (FRAME[0] - face.shape[0]) // 2
            frame[y : y + face.shape[0], x : x + face.shape[1]] = face
            frames.append(frame)
    return frames


def _best_wall(command: list[str], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return best


def bench_landmark_path(folders: list[Path] | None = None, count: int = 80) -> LandmarkPathFigures:
    """The figures above on ``count`` photos with a face from ``folders`` (else drawn faces). Needs the face extra."""
    with tempfile.TemporaryDirectory() as tmp:
        return _bench(*_photos(folders, count, Path(tmp)), Path(tmp))


def _bench(paths: list[Path], source: str, tmp: Path) -> LandmarkPathFigures:
    from facepalsy.data.images import load_image
    from facepalsy.face.asymmetry import found_asymmetry
    from facepalsy.face.detect import MESH_SIDE, import_mediapipe, native_stderr_silenced, tracking_face_mesh
    from facepalsy.face.norms import load_norms
    from facepalsy.face.photo_reading import read_photo
    from facepalsy.face.tracking import FaceTracker

    norms = load_norms()
    decoded = [np.ascontiguousarray(np.asarray(load_image(p, MESH_SIDE))) for p in paths]
    with native_stderr_silenced():
        static = import_mediapipe().solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=5, refine_landmarks=True
        )

    def ours() -> None:
        for path in paths:
            read_photo(np.asarray(load_image(path, MESH_SIDE)), str(path), norms)

    photo_mesh = timed(lambda: [static.process(rgb) for rgb in decoded], 3) / len(paths)
    photo_ours = timed(ours, 3) / len(paths)
    static.close()

    frames = _video(decoded[: min(len(decoded), 20)])

    def tracking_pass() -> None:
        mesh = tracking_face_mesh()
        for frame in frames:
            mesh.process(frame)
        mesh.close()

    def follow() -> None:
        with FaceTracker() as tracker:
            for index, frame in enumerate(frames):
                found_asymmetry(tracker.find(frame, f"frame {index}")).compare(norms)

    frame_mesh = timed(tracking_pass, 3) / len(frames)
    frame_ours = timed(follow, 3) / len(frames)
    cli = [sys.executable, "-m", "facepalsy", "asymmetry"]
    start_up = _best_wall([*cli, str(paths[0])])
    folder = tmp / "folder"
    folder.mkdir()
    for index, path in enumerate(paths):
        os.symlink(path.resolve(), folder / f"{index:04d}{path.suffix.lower()}")
    folder_wall = _best_wall([*cli, "--json", str(folder)], repeats=1)
    return LandmarkPathFigures(
        photos=len(paths),
        source=source,
        mesh_ms_per_photo=1000 * photo_mesh,
        ms_per_photo=1000 * photo_ours,
        photo_ratio=photo_ours / photo_mesh,
        frames=len(frames),
        tracking_ms_per_frame=1000 * frame_mesh,
        ms_per_frame=1000 * frame_ours,
        frame_ratio=frame_ours / frame_mesh,
        start_up_one_photo_s=start_up,
        folder_photos_per_s=len(paths) / folder_wall,
    )
