"""Face detection and alignment: the largest face, eyes level, cropped with a margin, resized.

Backends: MediaPipe face mesh (the ``face`` extra; 478 landmarks, also used for asymmetry) and
OpenCV's Haar cascades (core, opencv-python-headless < 5) when the extra is not installed.
An image without a usable face raises NoFaceError (a BadImageError) naming the file; it is never passed
through uncropped.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import threading
import types
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from facepalsy.errors import FacepalsyError, NoFaceError

FACE_INSTALL = "pip install 'facepalsy[face]' (MediaPipe 0.10.21), or bash scripts/setup in a clone"
BACKENDS = ("auto", "mediapipe", "haar")
# The long side a JPEG photo is decoded at for the face mesh (data.images.load_image's max_side): its detector sees the
# photo at 128 px and its landmark model the face at 192 px, so a 12-megapixel phone photo decoded at half size loses
# nothing they see, and its decoding costs a third.
MESH_SIDE = 1600
MIN_EYE_DISTANCE_PX = 16  # below this the eye positions are too coarse to level the face
EYE_DISTANCE_FRACTION = 0.36  # eye distance as a share of the crop width: the margin around the face
EYE_HEIGHT_FRACTION = 0.40  # eye line height in the crop
# MediaPipe face-mesh indices of the eye contours; "right" and "left" are the patient's
# (the patient's right eye is on the image's left).
RIGHT_EYE_RING = [33, 133, 159, 145, 160, 144, 158, 153]
LEFT_EYE_RING = [263, 362, 386, 374, 387, 373, 385, 380]


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
    right_eye: tuple[float, float] | None  # the patient's right eye centre (image left)
    left_eye: tuple[float, float] | None
    landmarks: np.ndarray | None = None  # 478×2 pixel coordinates (MediaPipe only)
    faces_found: int = 1
    depth: np.ndarray | None = None  # 478 depths in pixels, smaller nearer the camera (MediaPipe only; x's scale)

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


def mediapipe_available() -> bool:
    try:
        import_mediapipe()
    except ImportError:
        return False
    return True


# MediaPipe's package imports its drawing helpers, and they import matplotlib.pyplot: about a second of every start-up
# that the face mesh never uses. They are registered as deferred modules before the package is
# imported and run on first use. (The standard library's LazyLoader does not serve here: the import system reads a
# module's __spec__, which makes a LazyLoader module load at once.) Module name → file in the package.
_import_lock = threading.Lock()
DEFERRED_MEDIAPIPE_MODULES = {
    "mediapipe.python.solutions.drawing_utils": "python/solutions/drawing_utils.py",
    "mediapipe.python.solutions.drawing_styles": "python/solutions/drawing_styles.py",
}


class _Deferred(types.ModuleType):
    """A module whose code runs when one of its names is first used."""

    def __init__(self, spec: importlib.machinery.ModuleSpec):
        super().__init__(spec.name)
        self.__spec__, self.__file__ = spec, spec.origin

    def __getattr__(self, name: str):  # called only for names not yet set, so only until the code has run
        module = importlib.util.module_from_spec(self.__spec__)
        sys.modules[self.__spec__.name] = module
        self.__spec__.loader.exec_module(module)
        self.__dict__.update(module.__dict__)
        return getattr(module, name)


def import_mediapipe():
    """The mediapipe package, imported without running its drawing helpers until something uses them. Threads that
    ask at once wait for the one importing it (a module in sys.modules may still be running its top level)."""
    with _import_lock:
        if "mediapipe" not in sys.modules:
            package = importlib.util.find_spec("mediapipe")
            if package is None or not package.submodule_search_locations:
                raise ImportError("mediapipe is not installed")
            root = Path(package.submodule_search_locations[0])
            for name, file in DEFERRED_MEDIAPIPE_MODULES.items():
                if name not in sys.modules and (root / file).is_file():
                    sys.modules[name] = _Deferred(importlib.util.spec_from_file_location(name, root / file))
        import mediapipe

        for name in DEFERRED_MEDIAPIPE_MODULES:  # in sys.modules already, so the import system set no attribute
            parent, _, child = name.rpartition(".")
            if name in sys.modules and not hasattr(sys.modules[parent], child):
                setattr(sys.modules[parent], child, sys.modules[name])
    return mediapipe


_local = threading.local()
# A thread's first mesh runs are silenced (MediaPipe's graph threads log while they start; under load, a line has come
# after the first run had returned), then until a face was first seen.
QUIET_RUNS = 3
_stderr_lock = threading.Lock()
NATIVE_LOGS_ENV = "FACEPALSY_NATIVE_LOGS"  # set (the CLI's --debug does) to see MediaPipe's and TFLite's own log lines


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """MediaPipe and TFLite write start-up lines straight to file descriptor 2 (absl, glog), past
    Python's logging; while a face mesh starts, that descriptor points at /dev/null."""
    if os.environ.get(NATIVE_LOGS_ENV):
        yield
        return
    with _stderr_lock:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(os.devnull, "wb") as null:
                os.dup2(null.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def route_native_logs_away() -> None:
    """For a single-process command: native libraries' stderr (file descriptor 2) goes to /dev/null for
    the rest of the process, while Python's own stderr (errors, warnings, progress bars) keeps the
    terminal. Not for commands that start processes (they would inherit the silenced descriptor).

    MediaPipe's graph threads log on their own schedule, so silencing only around the calls that start
    them lets some lines through. Does nothing when stderr is not the process's own (a test capturing
    it) or when FACEPALSY_NATIVE_LOGS is set (``--debug``).
    """
    if os.environ.get(NATIVE_LOGS_ENV) or sys.stderr is not sys.__stderr__ or sys.__stderr__ is None:
        return
    try:
        sys.stderr.flush()
        python_stderr = os.fdopen(os.dup(2), "w", buffering=1, encoding=sys.stderr.encoding, errors=sys.stderr.errors)
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
    except (OSError, ValueError):
        return
    sys.stderr = sys.__stderr__ = python_stderr


def _face_mesh():
    """One FaceMesh per thread (it is not thread-safe), created and warmed up on first use, quietly."""
    if not hasattr(_local, "mesh"):
        os.environ.setdefault("GLOG_minloglevel", "2")
        mp = import_mediapipe()

        with native_stderr_silenced():
            _local.mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=5, refine_landmarks=True
            )
        _local.first_face_seen, _local.quiet_runs = False, QUIET_RUNS
    return _local.mesh


def _detect_mediapipe(rgb: np.ndarray) -> list[Face]:
    mesh = _face_mesh()
    if _local.first_face_seen and _local.quiet_runs <= 0:
        result = mesh.process(np.ascontiguousarray(rgb))
    else:  # the graph logs on its first runs, the last time when it first projects a face's landmarks
        with native_stderr_silenced():
            result = mesh.process(np.ascontiguousarray(rgb))
        _local.first_face_seen = _local.first_face_seen or bool(result.multi_face_landmarks)
        _local.quiet_runs -= 1
    return mesh_faces(result, rgb.shape)


def mesh_faces(result, shape: tuple[int, ...]) -> list[Face]:
    """The faces of a FaceMesh result on an image of ``shape`` (H, W, …), in pixels."""
    h, w = shape[:2]
    faces = []
    for mesh in result.multi_face_landmarks or []:
        points3d = np.array([(p.x * w, p.y * h, p.z * w) for p in mesh.landmark], dtype=np.float64)
        faces.append(mesh_face(points3d[:, :2], points3d[:, 2].copy()))
    return faces


def aligned_landmarks(crop: np.ndarray) -> Face | None:
    """A second pass on a face already found, cut out eye-aligned (``asymmetry.aligned_crop``): the static face mesh
    again, on the crop; None where it finds no face there.

    Its region is cut around the detector's box on the crop, the first pass's around its box on the photo: the two
    passes disagree by the landmark model's noise, and their mean halves its variance (docs/performance.md: KDEF's
    sessions A and B). MediaPipe's tracking mode would skip the detector, but it takes the region from the last image
    it saw, so a photo's measure would depend on the photo measured before it."""
    faces = detect_faces(crop, backend="mediapipe")
    return faces[0] if faces else None


def tracking_face_mesh():
    """A FaceMesh in MediaPipe's tracking mode, for one video's frames in order: it finds the face's region in a frame
    from the last frame's landmarks and runs its face detector only when it has no face. One face; close() it."""
    mp = import_mediapipe()
    with native_stderr_silenced():
        return mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True)


def mesh_face(points: np.ndarray, depth: np.ndarray) -> Face:
    """The face of a 478-point mesh (pixels) and its depths: its box and eye centres."""
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    right_eye, left_eye = tuple(points[RIGHT_EYE_RING].mean(axis=0)), tuple(points[LEFT_EYE_RING].mean(axis=0))
    return Face((x0, y0, x1, y1), right_eye, left_eye, points, depth=depth)


def _detect_haar(rgb: np.ndarray) -> list[Face]:
    cascades = cv2.data.haarcascades
    face_cascade = cv2.CascadeClassifier(cascades + "haarcascade_frontalface_default.xml")
    eye_cascade = cv2.CascadeClassifier(cascades + "haarcascade_eye.xml")
    gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    faces = []
    for x, y, w, h in face_cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=4):
        eyes = eye_cascade.detectMultiScale(gray[y : y + h // 2 + h // 8, x : x + w], scaleFactor=1.1, minNeighbors=3)
        centres = sorted(((x + ex + ew / 2, y + ey + eh / 2, ew * eh) for ex, ey, ew, eh in eyes), key=lambda e: -e[2])[
            :2
        ]
        right, left = (sorted(centres)[0][:2], sorted(centres)[1][:2]) if len(centres) == 2 else (None, None)
        faces.append(Face((x, y, x + w, y + h), right, left))
    return faces


def detect_faces(rgb: np.ndarray, backend: str = "auto") -> list[Face]:
    """All faces in an HWC uint8 RGB image, largest first."""
    if backend not in BACKENDS:
        raise FacepalsyError(f"unknown face backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "mediapipe" and not mediapipe_available():
        raise FacepalsyError(f"the mediapipe face backend is not installed: {FACE_INSTALL}")
    use_mediapipe = backend == "mediapipe" or (backend == "auto" and mediapipe_available())
    faces = _detect_mediapipe(rgb) if use_mediapipe else _detect_haar(rgb)
    return sorted(faces, key=lambda f: -f.area)


def largest_face(rgb: np.ndarray, path: str | Path = "image", backend: str = "auto") -> Face:
    """The largest face, with the number found; NoFaceError if there is none, its eyes are not found or it is too
    small."""
    return usable_face(detect_faces(rgb, backend), path)


def usable_face(faces: list[Face], path: str | Path = "image") -> Face:
    """The first of ``faces`` (largest first), with the number found; NoFaceError if there is none, its eyes are not
    found or it is too small to align."""
    if not faces:
        raise NoFaceError(path, "no face found")
    face = faces[0]
    face.faces_found = len(faces)
    if face.right_eye is None or face.left_eye is None:
        raise NoFaceError(path, "face found but not both eyes, so it cannot be aligned")
    distance = float(np.hypot(*np.subtract(face.left_eye, face.right_eye)))
    if distance < MIN_EYE_DISTANCE_PX:
        raise NoFaceError(
            path, f"face too small to align: eyes {distance:.0f} px apart, need at least {MIN_EYE_DISTANCE_PX}"
        )
    return face


def eye_angle(right_eye, left_eye) -> float:
    """Angle of the eye line in degrees (0 = level), from the image-left eye to the image-right eye."""
    dx, dy = np.subtract(left_eye, right_eye)
    return float(np.degrees(np.arctan2(dy, dx)))


def aligned_eyes(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Where alignment puts the patient's right and left eye centres in a size×size crop."""
    right = np.array([(0.5 - EYE_DISTANCE_FRACTION / 2) * size, EYE_HEIGHT_FRACTION * size])
    return right, right + [EYE_DISTANCE_FRACTION * size, 0.0]


def alignment_matrix(right_eye, left_eye, size: int) -> np.ndarray:
    """2×3 similarity transform putting the eyes level at fixed places of a size×size crop."""
    target_right = aligned_eyes(size)[0]
    source = np.subtract(left_eye, right_eye)
    scale = EYE_DISTANCE_FRACTION * size / np.hypot(*source)
    angle = -np.arctan2(source[1], source[0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.hstack([rotation, (target_right - rotation @ np.asarray(right_eye, float))[:, None]])


def align_face(rgb: np.ndarray, face: Face, size: int) -> np.ndarray:
    matrix = alignment_matrix(face.right_eye, face.left_eye, size)
    return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop_face(rgb: np.ndarray, size: int, path: str | Path = "image", backend: str = "auto") -> tuple[np.ndarray, Face]:
    """Detect the largest face and return it aligned (eyes level) as a size×size crop, with the detection."""
    face = largest_face(rgb, path, backend)
    return align_face(rgb, face, size), face
