"""A video's verdict from the network: frames at a rate, each through the photo's face policy, the mean probability
labelled at the run's threshold, and the timeline. The Predictor's ``predict_video`` and ``video_verdict`` call these;
the exam with ``--run`` collects the frames itself, in its own pass, and asks for the verdict here."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facepalsy.data.prepare import read_ahead, video_frames
from facepalsy.errors import FacepalsyError
from facepalsy.files import atomic_write_csv
from facepalsy.inference.prediction import UNMEASURED, VideoFrames, VideoVerdict
from facepalsy.plots import plot_timeline
from facepalsy.runfolder import OutputFolder


def predict_video(predictor, path: Path, out: str | Path, fps: float = 6.0) -> VideoVerdict:
    """Score a video: frames at ``fps``, each through the same face policy as a photo.

    A face-crop model scores the frames with a usable face and counts the others; a whole-image
    model scores every frame and reports how many had a face. The verdict is the mean
    probability, labelled at the run's threshold. Writes ``out/timeline.png`` and ``out/frames.csv``.
    Frames are decoded on a thread ahead. Each frame's face is searched for as a photo's is, so a frame gives the
    network the pixels the same image gives it through any other door (the exam, which measures landmarks too,
    follows the face instead: :class:`~facepalsy.face.tracking.FaceTracker`).
    """
    frames = VideoFrames()
    try:
        for time, bgr in read_ahead(video_frames(path, fps)):
            frames.add(predictor, time, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), f"{path.name} at {time:.2f} s")
    except FacepalsyError as exc:
        return VideoVerdict(str(path), None, None, predictor.threshold, frames.total, 0, 0, error=str(exc))
    return video_verdict(predictor, path, frames, out)


def video_verdict(predictor, path: Path, frames: VideoFrames, out: str | Path) -> VideoVerdict:
    """The verdict of a video's prepared frames, their network passes batched; writes the timeline and frames.csv."""

    def failed(error: str) -> VideoVerdict:
        return VideoVerdict(str(path), None, None, predictor.threshold, frames.total, 0, 0, error=error)

    if frames.total == 0:
        return failed("no decodable frame")
    if not frames.prepared:
        return failed(f"no usable face in any of {frames.total} frames")
    probs = predictor.probabilities(np.stack([p.pixels.transpose(2, 0, 1) for p in frames.prepared]))
    measured = ~np.isnan(probs)
    if not measured.any():
        return failed(UNMEASURED)
    mean = float(probs[measured].mean())
    rows = [{"frame_time": f"{t:.3f}", "prob_palsy": f"{p:.6f}"} for t, p in zip(frames.times, probs)]
    files = OutputFolder(out)
    atomic_write_csv(files.frames, ["frame_time", "prob_palsy"], rows)
    title = f"{path.name}: p(palsy) {mean:.2f}, face in {frames.with_face}/{frames.total} frames"
    plot_timeline(np.array(frames.times), probs, files.timeline, predictor.threshold, title=title)
    return VideoVerdict(
        str(path),
        predictor.label(mean),
        mean,
        predictor.threshold,
        frames.total,
        int(measured.sum()),
        frames.with_face,
        str(files.timeline),
    )
