"""Following one face through a video's frames with MediaPipe's own tracking mode.

A video exam (and the live exam on the page) measures every analysed frame. In tracking mode the face mesh finds the
face's region in a frame from the last frame's landmarks and runs its face detector only when it had no face: one
landmark pass per frame, where a search of every frame costs a detector pass and a landmark pass. The landmark model
sees the face cut out around where it just was, as a whole-frame search would cut it out around the detector's box.

A frame where tracking finds no face (a cut, a fast turn, a face leaving the frame) is searched whole with the static
face mesh, so a cut costs no frame; a frame with no face there either raises NoFaceError, and the next frame starts
afresh.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facepalsy.errors import NoFaceError
from facepalsy.face.detect import (
    QUIET_RUNS,
    Face,
    largest_face,
    mesh_faces,
    native_stderr_silenced,
    tracking_face_mesh,
    usable_face,
)


class FaceTracker:
    """The face of successive frames of one video: MediaPipe's tracking mode, a whole-frame search when it is lost.
    Not thread-safe (one tracker per video); ``close()`` it, or use it as a context manager."""

    def __init__(self):
        self._mesh = None
        self._had_face = False
        self.detections = 0  # frames whose face was sought afresh: MediaPipe's detector, or a whole-frame search
        self.tracked = 0  # frames whose face was found from the last frame's landmarks

    def find(self, rgb: np.ndarray, name: str | Path = "frame") -> Face:
        """The frame's face (frame pixels); NoFaceError (naming ``name``) when the frame has none usable."""
        if self._mesh is None:
            self._mesh = tracking_face_mesh()
        image = np.ascontiguousarray(rgb)
        if self.detections + self.tracked < QUIET_RUNS:  # the graph logs as it starts
            with native_stderr_silenced():
                faces = mesh_faces(self._mesh.process(image), rgb.shape)
        else:
            faces = mesh_faces(self._mesh.process(image), rgb.shape)
        followed, self._had_face = self._had_face, bool(faces)
        if followed and faces:
            self.tracked += 1
        else:
            self.detections += 1  # MediaPipe's detector ran on this frame, or the frame is searched below
        if faces:
            return usable_face(faces, name)
        if not followed:  # MediaPipe's detector has just searched this whole frame: searching it again finds nothing
            raise NoFaceError(name, "no face found")
        return largest_face(rgb, name, backend="mediapipe")  # lost where the last frame's face was: search it all

    def close(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
