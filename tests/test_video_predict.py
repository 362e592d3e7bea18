"""Video verdicts: frames sampled, faces found, a verdict and timeline.png."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

from facepalsy.app.cli import main
from facepalsy.data.synth import draw_face, make_identity
from facepalsy.face.detect import mediapipe_available


def synthetic_video(path, seconds=2.0, fps=24, size=160):
    """A palsy subject turning and blinking a little, as a short mp4."""
    identity = make_identity(np.random.default_rng([5, 0]), palsy=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    for i in range(round(seconds * fps)):
        rgb = np.asarray(draw_face(identity, np.random.default_rng([5, 1, i]), size))
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.mark.skipif(
    not mediapipe_available(), reason="synthetic faces are found by the face extra (MediaPipe); Haar misses most"
)
def test_predict_on_a_video_gives_a_verdict_and_timeline(tiny_run, tmp_path, capsys):
    video = synthetic_video(tmp_path / "clip.mp4")
    out = tmp_path / "verdicts"
    assert main(["predict", str(tiny_run), str(video), "--json", "--out", str(out)]) == 0
    verdict = json.loads(capsys.readouterr().out.splitlines()[0])
    assert verdict["kind"] == "video" and verdict["label"] in ("palsy", "normal")
    assert abs(verdict["frames"] - 12) <= 1 and verdict["frames_with_face"] >= 10
    assert verdict["face_fraction"] == pytest.approx(verdict["frames_with_face"] / verdict["frames"])
    assert (out / "clip" / "timeline.png").is_file()
    with (out / "clip" / "frames.csv").open() as f:
        probs = [float(r["prob_palsy"]) for r in csv.DictReader(f)]
    assert len(probs) == verdict["frames_with_face"] and verdict["prob_palsy"] == pytest.approx(
        np.mean(probs), abs=1e-5
    )


def test_undecodable_video_is_reported(tiny_run, tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\\x00" * 100)
    assert main(["predict", str(tiny_run), str(bad), "--out", str(tmp_path)]) == 2
    assert "broken.mp4" in capsys.readouterr().err
