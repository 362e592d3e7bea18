"""A video exam: the frame nearest the median face is rest, each region's frame of largest movement its peak, named
as the expression it stands for only where that frame shows it (PEAK_NAMES, ``expression.made_from_rest``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facepalsy.data.prepare import read_ahead, video_frames
from facepalsy.errors import BadImageError, FacepalsyError
from facepalsy.face.asymmetry import aligned_crop, found_asymmetry
from facepalsy.face.detect import largest_face
from facepalsy.face.expression import expression_measures, made_from_rest
from facepalsy.face.norms import REGIONS, Norms
from facepalsy.face.readability import photo_quality
from facepalsy.face.tracking import FaceTracker
from facepalsy.inference.prediction import VideoFrames
from facepalsy.workflows.exam_measures import MOVEMENT, Measured, _movement, _side_values

PEAK_NAMES = {
    "brow": "brow_raise",
    "eye": "eye_closure_full",
    "mid_face": "snarl",
    "mouth": "smile",
}  # a video's peak frame stands for, where it is recognised as that expression
PEAK_WINDOW = 0.25  # seconds either side of a peak (its neighbours at 6 fps) whose frames give its confidence


def exam_video(
    path: Path, norms: Norms, fps: float = 6.0, frames_for=None, track: bool = True
) -> tuple[dict[str, Measured], dict]:
    """Measure a video's frames; rest is the frame nearest the median face, each region's peak the frame it moves most
    in.

    Returns the measured rest and peak frames (named by PEAK_NAMES) and the timeline: per frame its
    time, whether a face was measured and each region's score against the healthy range. With
    ``frames_for`` (a Predictor), the same decoded frames are prepared for its network too, into
    ``video["cnn_frames"]``, so a video is decoded once for both, and each frame's face, found once, serves both.
    Frames are decoded on a thread while the last ones are measured. With ``track`` the face is followed from frame
    to frame (:class:`~facepalsy.face.tracking.FaceTracker`) and the whole frame searched only when it is lost;
    ``track=False`` searches every frame (the benchmark's yardstick for the verdicts).
    """
    frames: list[tuple[float, Measured | None, np.ndarray]] = []
    cnn_frames = VideoFrames()
    with FaceTracker() as tracker:
        for time, bgr in read_ahead(video_frames(path, fps)):
            rgb, source = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), f"{path.name} at {time:.2f} s"
            try:
                face = tracker.find(rgb, source) if track else largest_face(rgb, source, backend="mediapipe")
            except BadImageError:
                face = None  # no usable face: the network's own policy decides what such a frame gets
            if frames_for is not None:
                cnn_frames.add(frames_for, time, rgb, source, face=face)
            if face is None:
                frames.append((time, None, rgb))
                continue
            result = found_asymmetry(face).compare(norms)  # one pass per frame: the frames are many
            frames.append((time, Measured(source, result, _side_values(result.mesh)), rgb))
    usable = [(t, m) for t, m, _ in frames if m is not None and not m.asymmetry.turned]
    if not usable:
        raise FacepalsyError(f"{path}: no frame with a usable, frontal face in {len(frames)} frames")
    keys = ("brow_height", "eye_opening", "nasolabial_length")
    table = np.array(
        [
            [m.values[s][k] for s in ("right", "left") for k in keys]
            + list(m.values["right"]["mouth_corner"])
            + list(m.values["left"]["mouth_corner"])
            for _, m in usable
        ]
    )
    centre, spread = np.median(table, axis=0), table.std(axis=0) + 1e-6
    rest_index = int(np.argmin((((table - centre) / spread) ** 2).sum(axis=1)))
    rest = usable[rest_index][1]
    measured = {"rest": rest}
    peaks = {}
    times, distances = [t for t, _ in usable], [_expression_measures(m) for _, m in usable]
    for region, (_, value) in MOVEMENT.items():
        moved = [sum(_movement(rest.values, m.values, value).values()) for _, m in usable]
        best = int(np.argmax(moved))
        expression, confidence = _made(times, distances, distances[rest_index], best, PEAK_NAMES[region])
        if expression:
            measured[expression] = usable[best][1]
        peaks[region] = {
            "time": round(usable[best][0], 3),
            "movement": round(moved[best], 4),
            "expression": expression,  # None: the region's largest movement was not that expression (not made)
            "confidence": confidence,
        }
    timeline = {
        "time": [round(t, 3) for t, _, _ in frames],
        "face": [m is not None for _, m, _ in frames],
        "regions": {
            region: [
                m.asymmetry.reference.regions[region].score if m is not None and m.asymmetry.reference.regions else None
                for _, m, _ in frames
            ]
            for region in REGIONS
        },
    }
    for _, frame, rgb in frames:  # the chosen frames are drawn: their faces aligned
        if frame is not None and frame.crop is None and any(frame is m for m in measured.values()):
            frame.crop, frame.landmarks = aligned_crop(rgb, frame.asymmetry.face)
            frame.quality = photo_quality(rgb, frame.asymmetry.face.landmarks, frame.asymmetry.pose)
    return measured, {
        "rest_time": round(usable[rest_index][0], 3),
        "peaks": peaks,
        "timeline": timeline,
        "frames": len(frames),
        "frames_measured": len(usable),
        "face_searches": tracker.detections if track else len(frames),
        "cnn_frames": cnn_frames,
    }


def _made(
    times: list[float], distances: list[dict[str, float]], rest: dict[str, float], best: int, expression: str
) -> tuple[str | None, float]:
    """Whether a region's peak frame shows the expression it stands for (PEAK_NAMES), judged against the same
    person's rest frame (``expression.made_from_rest``: a palsied smile still counts), and the confidence: the share
    of the measured frames within PEAK_WINDOW seconds of the peak that show it. A brow raise also moves the eyes and
    the mid-face; only a frame with a closed eye is an eye closure, so an expression never made is missing, in the
    exam as in the grade. ``distances``: each usable frame's ``expression_measures`` (read once for every region),
    ``rest`` the rest frame's."""
    window = [d for t, d in zip(times, distances) if abs(t - times[best]) <= PEAK_WINDOW]
    near = [made_from_rest(rest, d, expression) for d in window]
    return (expression if made_from_rest(rest, distances[best], expression) else None), round(sum(near) / len(near), 2)


def _expression_measures(frame: Measured) -> dict[str, float]:
    """The expression rules' distances of a frame's frontal mesh, scaled by its irises as ``recognise`` reads them."""
    return expression_measures(np.vstack([frame.asymmetry.mesh, frame.asymmetry.iris]))
