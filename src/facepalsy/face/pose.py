"""Head pose from the 3-D face mesh: rotate a face to frontal, and (for validation) turn a photo's face.

MediaPipe's face mesh is 3-D (x, y in pixels, z a depth on x's scale). A head turned or tilted by a
few degrees moves one side's landmarks in the image plane, which 2-D measures read as asymmetry.
``frontalise`` fits the mesh to a canonical, left/right-symmetric face with a similarity transform
(Umeyama's least-squares rotation, scale and shift; the 3-D form of Procrustes) on landmarks that
palsy does not move (forehead, nose bridge and tip, eye corners, temples and upper cheeks) and
applies it to the whole mesh. The fitted rotation is the head pose: yaw (turn), pitch (nod), roll.

The canonical face (``canonical_face.json``) is the mean of 438 healthy faces' meshes from the
real-photo development set, each aligned to the mean on the stable landmarks (generalised
Procrustes, five rounds), made exactly symmetric and scaled to an inter-ocular distance of 1:
numbers only, with their source in the file. Written by hand because no well-kept library fits a
MediaPipe mesh to a canonical face in Python (MediaPipe's own geometry pipeline needs its model
files, which 0.10.21 does not ship).

Yaw is in the mesh's own degrees: MediaPipe's depth is flatter than a real face, so a face
re-rendered 15° turned (``turn_face``) reads about 11° here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

# Landmarks on bone or tight skin, which facial palsy does not move: forehead, nose bridge and tip,
# inner and outer eye corners, the face outline from the temples to the upper cheeks.
STABLE = (
    10,
    151,
    9,
    8,
    168,
    6,
    197,
    195,
    5,
    4,
    1,
    108,
    337,
    109,
    338,
    67,
    297,
    69,
    299,
    133,
    362,
    33,
    263,
    127,
    356,
    234,
    454,
    162,
    389,
    21,
    251,
    54,
    284,
    103,
    332,
    243,
    463,
    122,
    351,
)
RIGHT_IRIS, LEFT_IRIS = 468, 473  # refined landmarks: the patient's right and left iris centres
CANONICAL_FILE = "canonical_face.json"
# The face outline (MediaPipe's FACE_OVAL), for re-rendering a turned face.
OVAL = (
    10,
    338,
    297,
    332,
    284,
    251,
    389,
    356,
    454,
    323,
    361,
    288,
    397,
    365,
    379,
    378,
    400,
    377,
    152,
    148,
    176,
    149,
    150,
    136,
    172,
    58,
    132,
    93,
    234,
    127,
    162,
    21,
    54,
    103,
    67,
    109,
)


@dataclass
class Pose:
    """A mesh rotated to frontal, and the head pose that was taken out (degrees)."""

    frontal: np.ndarray  # N×3 in the canonical frame: x to the image's right, y down, z away; inter-ocular units
    yaw: float  # turn about the vertical axis
    pitch: float  # nod about the horizontal axis
    roll: float  # tilt in the image plane

    def to_dict(self) -> dict[str, float]:
        return {"yaw": round(self.yaw, 1), "pitch": round(self.pitch, 1), "roll": round(self.roll, 1)}


@lru_cache(maxsize=1)
def canonical_face() -> np.ndarray:
    """The shipped canonical face: 478×3, symmetric about x = 0, eyes' midpoint at the origin."""
    values = json.loads(resources.files("facepalsy.face").joinpath(CANONICAL_FILE).read_text(encoding="utf-8"))
    return np.asarray(values["points"], dtype=np.float64)


def similarity_fit(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Scale s, rotation R (proper) and shift t minimising |s·R·source + t − target|² (Umeyama, 1991)."""
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    a, b = source - source_mean, target - target_mean
    u, singular, vt = np.linalg.svd(b.T @ a)
    signs = np.ones(len(singular))
    signs[-1] = np.sign(np.linalg.det(u @ vt)) or 1.0  # never a reflection
    rotation = u @ np.diag(signs) @ vt
    scale = float((singular * signs).sum() / max((a**2).sum(), 1e-12))
    return scale, rotation, target_mean - scale * rotation @ source_mean


def frontalise(mesh: np.ndarray) -> Pose:
    """A 478×3 mesh (any position, scale and rotation) fitted to the canonical face on STABLE landmarks."""
    canonical = canonical_face()
    stable = list(STABLE)
    scale, rotation, shift = similarity_fit(mesh[stable], canonical[stable])
    frontal = scale * mesh @ rotation.T + shift
    head = rotation.T  # the fit undoes the head's rotation; its angles in the order of rotation_matrix
    yaw = np.degrees(np.arctan2(-head[2, 0], np.hypot(head[2, 1], head[2, 2])))
    pitch = np.degrees(np.arctan2(head[2, 1], head[2, 2]))
    roll = np.degrees(np.arctan2(head[1, 0], head[0, 0]))
    return Pose(frontal, float(yaw), float(pitch), float(roll))


def mirror_partners(mesh: np.ndarray) -> np.ndarray:
    """For each landmark of a roughly symmetric 468-point mesh (midline at x = 0), its left/right partner."""
    mirrored = mesh * np.array([-1.0, 1.0, 1.0][: mesh.shape[1]])
    return np.sqrt(((mirrored[:, None, :] - mesh[None, :, :]) ** 2).sum(axis=2)).argmin(axis=1)


def mean_symmetric_face(meshes: np.ndarray, rounds: int = 5) -> np.ndarray:
    """How ``canonical_face.json`` was made: M×478×3 healthy meshes (eye frame) → their symmetric mean face.

    Generalised Procrustes on STABLE (each mesh fitted to the current mean), then the mean is averaged
    with its own mirror image (partners from ``mirror_partners``; the irises swap), centred between
    the irises and scaled to an inter-ocular distance of 1.
    """
    stable, flip = list(STABLE), np.array([-1.0, 1.0, 1.0])
    mean = meshes.mean(axis=0)
    for _ in range(rounds):
        fitted = []
        for mesh in meshes:
            scale, rotation, shift = similarity_fit(mesh[stable], mean[stable])
            fitted.append(scale * mesh @ rotation.T + shift)
        mean = np.mean(fitted, axis=0)
        mean = mean - (mean[RIGHT_IRIS] + mean[LEFT_IRIS]) / 2
        symmetric = mean.copy()
        symmetric[:468] = (mean[:468] + mean[mirror_partners(mean[:468])] * flip) / 2
        irises = np.r_[
            LEFT_IRIS : LEFT_IRIS + 5, RIGHT_IRIS : RIGHT_IRIS + 5
        ]  # each iris point's partner in the other eye
        symmetric[RIGHT_IRIS:] = (mean[RIGHT_IRIS:] + mean[irises] * flip) / 2
        mean = symmetric / np.linalg.norm(symmetric[LEFT_IRIS] - symmetric[RIGHT_IRIS])
    return mean


def rotation_matrix(yaw: float, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """Rotation (degrees) about the vertical axis, then the horizontal one, then the viewing axis."""
    a, b, c = np.radians([pitch, yaw, roll])
    about_x = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    about_y = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    about_z = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return about_z @ about_y @ about_x


def turn_face(rgb: np.ndarray, landmarks: np.ndarray, depth: np.ndarray, yaw: float, pitch: float = 0.0) -> np.ndarray:
    """The photo re-rendered with its face turned by ``yaw`` and nodded by ``pitch`` degrees, for pose tests.

    The face's own mesh (landmarks in pixels, depth on x's scale) is rotated about its centre and the
    image is warped triangle by triangle (far triangles first), with a ring around the face moving with
    the head and the image border fixed, so hair and background follow smoothly. Parts hidden before
    the turn are not invented: a large turn smears the far cheek.
    """
    from scipy.spatial import Delaunay

    h, w = rgb.shape[:2]
    points = np.column_stack([landmarks[:468], depth[:468]])
    oval = list(OVAL)
    centre = points[oval].mean(axis=0)
    centre[2] = points[:, 2].mean()
    head = np.vstack([points, centre + (points[oval] - centre) * np.array([1.35, 1.25, 1.0])])
    moved = (head - centre) @ rotation_matrix(yaw, pitch).T + centre
    border = np.array(
        [[x, y] for x in np.linspace(0, w - 1, 5) for y in (0, h - 1)]
        + [[x, y] for y in np.linspace(0, h - 1, 5)[1:-1] for x in (0, w - 1)]
    )
    source, target = np.vstack([head[:, :2], border]), np.vstack([moved[:, :2], border])
    depth_order = np.concatenate([moved[:, 2], np.full(len(border), np.inf)])
    triangles = Delaunay(source).simplices
    out = rgb.copy()
    for triangle in triangles[np.argsort(-depth_order[triangles].mean(axis=1))]:
        src, dst = source[triangle].astype(np.float32), target[triangle].astype(np.float32)
        x0, y0 = np.maximum(np.floor(dst.min(axis=0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(dst.max(axis=0)).astype(int) + 1, (w, h))
        if x1 <= x0 or y1 <= y0:
            continue
        corner = np.array([x0, y0], np.float32)
        patch = cv2.warpAffine(
            rgb, cv2.getAffineTransform(src, dst - corner), (int(x1 - x0), int(y1 - y0)), borderMode=cv2.BORDER_REFLECT
        )
        mask = np.zeros(patch.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, np.round(dst - corner).astype(np.int32), 1)
        out[y0:y1, x0:x1][mask.astype(bool)] = patch[mask.astype(bool)]
    return out
