"""A video's face, found once per frame and followed between frames: the tracker finds the face a whole-frame search
finds, searches again only when the face is lost, and a video exam gives the verdicts of a search in every frame;
frames are decoded on a thread ahead of the analysis."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from drawn_faces import SIZE, drawn_face

from facepalsy.data.prepare import read_ahead
from facepalsy.face.detect import largest_face, mediapipe_available

pytestmark = pytest.mark.skipif(not mediapipe_available(), reason="the face extra (MediaPipe) is not installed")


def _frame(face: np.ndarray, x: int, y: int = 40, width: int = 640, height: int = 400) -> np.ndarray:
    frame = np.full((height, width, 3), 120, np.uint8)
    frame[y : y + SIZE, x : x + SIZE] = face
    return frame


def test_tracker_follows_a_moving_face_and_searches_again_when_it_is_lost():
    from facepalsy.face.tracking import FaceTracker

    face = drawn_face(4)
    with FaceTracker() as tracker:
        for x in (40, 52, 64, 76, 88):  # 12 px between analysed frames: a head swaying
            frame = _frame(face, x)
            found = tracker.find(frame, f"x={x}")
            searched = largest_face(frame, backend="mediapipe")
            for ours, theirs in ((found.right_eye, searched.right_eye), (found.left_eye, searched.left_eye)):
                assert np.hypot(*np.subtract(ours, theirs)) < 2.0  # pixels, in a frame whose eyes are ~100 px apart
            distances = np.hypot(*(found.landmarks - searched.landmarks).T)
            assert np.median(distances) < 3 and distances.max() < 10  # the mesh's noise, 1% of the face
        assert (tracker.detections, tracker.tracked) == (1, 4)
        jumped = tracker.find(_frame(face, 300), "jump")  # a cut: the face is elsewhere, and is found there
        assert abs(jumped.box[0] - largest_face(_frame(face, 300), backend="mediapipe").box[0]) < 5
        with pytest.raises(Exception, match="blank: no face found"):
            tracker.find(np.full((400, 640, 3), 120, np.uint8), "blank")
        found = tracker.find(_frame(face, 40), "back")  # after a frame without a face: sought afresh
        assert tracker.detections >= 3 and found.faces_found == 1


def test_video_exam_with_tracking_gives_the_verdicts_of_a_search_in_every_frame(tmp_path, tiny_run):
    import dataclasses

    import facepalsy
    from facepalsy.data.model_input import FacePolicy
    from facepalsy.face.norms import load_norms
    from facepalsy.inference.predictor import Predictor
    from facepalsy.workflows.exam_video import exam_video

    video = tmp_path / "clip.mkv"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 6, (640, 400))
    smiles = (0.0, 0.0, 0.0, 0.3, 0.7, 1.0, 1.0, 0.6, 0.2, 0.0, 0.0, 0.0)  # at rest most of the time, as an exam is
    for i, smile in enumerate(smiles):
        face = drawn_face(11, {"smile": smile}, palsy=True, side=1)
        writer.write(cv2.cvtColor(_frame(face, 60 + 10 * i), cv2.COLOR_RGB2BGR))
    writer.release()
    run = facepalsy.load(tiny_run)  # as a face-crop model: the crop is cut around the shared face
    predictor, norms = Predictor(dataclasses.replace(run.spec, face=FacePolicy(crop=True)), run.model), load_norms()
    tracked = exam_video(video, norms, 6.0, frames_for=predictor, track=True)
    searched = exam_video(video, norms, 6.0, frames_for=predictor, track=False)
    assert tracked[1]["face_searches"] == 1 and searched[1]["face_searches"] == len(smiles)
    assert tracked[1]["frames_measured"] == searched[1]["frames_measured"] == len(smiles)
    resting, smiling = (
        {round(i / 6, 3) for i, smile in enumerate(smiles) if smile == value} for value in (0.0, 1.0)
    )  # frames that differ only by the measure's noise may swap; the verdicts stand on these sets
    for _, video in (tracked, searched):
        assert video["rest_time"] in resting and video["peaks"]["mouth"]["time"] in smiling
    # each frame measured on a crop aligned on the last frame's eyes instead of its own: the same face, re-framed by a
    # pixel or two, which moves a region's score by about what re-taking the photo does (the retest MDC95)
    differences = [
        abs(a - b)
        for region, scores in tracked[1]["timeline"]["regions"].items()
        for a, b in zip(scores, searched[1]["timeline"]["regions"][region])
    ]
    assert np.mean(differences) < norms.retest.overall
    frames = [(t["cnn_frames"].prepared, t["cnn_frames"].with_face) for _, t in (tracked, searched)]
    assert frames[0][1] == frames[1][1] == len(smiles)
    probabilities = [predictor.probabilities(np.stack([p.pixels.transpose(2, 0, 1) for p in f])) for f, _ in frames]
    assert np.abs(probabilities[0] - probabilities[1]).max() < 0.02  # the shared face gives the network the same input


def test_read_ahead_keeps_order_raises_the_producers_error_and_stops_with_its_consumer():
    assert list(read_ahead(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield 1
        raise ValueError("torn file")

    items = read_ahead(failing())
    assert next(items) == 1
    with pytest.raises(ValueError, match="torn file"):
        next(items)
    closed = []

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(True)

    items = read_ahead(endless(), depth=2)
    assert [next(items) for _ in range(5)] == list(range(5))
    items.close()
    assert closed == [True]
