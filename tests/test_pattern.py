"""Pose-free measures, expressions and the central/peripheral pattern, on drawn and warped faces and on pure numbers."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from facepalsy.app.cli import main
from facepalsy.face import pattern as patterns
from facepalsy.face.detect import largest_face, mediapipe_available
from facepalsy.face.exam_result import ExamRegion
from facepalsy.face.expression import recognise
from facepalsy.face.pose import canonical_face, frontalise, mean_symmetric_face, rotation_matrix, turn_face
from facepalsy.face.reading import HealthyRangeReading, RegionReading

needs_mediapipe = pytest.mark.skipif(
    not mediapipe_available(), reason="the face mesh needs the face extra (bash scripts/setup)"
)
SIZE = 320


def test_frontalise_recovers_a_known_pose_and_the_canonical_face_is_symmetric():
    canonical = canonical_face()
    turned = 3.5 * canonical @ rotation_matrix(yaw=18, pitch=-7, roll=25).T + [40.0, -12.0, 5.0]
    pose = frontalise(turned)
    assert (pose.yaw, pose.pitch, pose.roll) == pytest.approx((18, -7, 25), abs=1e-6)
    assert np.abs(pose.frontal - canonical).max() < 1e-9
    mirrored = canonical[:468] * [-1.0, 1.0, 1.0]
    nearest = np.sqrt(((mirrored[:, None] - canonical[None, :468]) ** 2).sum(-1)).min(axis=1)
    assert np.median(nearest) < 1e-6 and nearest.max() < 0.01
    assert np.linalg.norm(canonical[473] - canonical[468]) == pytest.approx(1.0, abs=1e-4)
    rebuilt = mean_symmetric_face(
        np.stack([canonical @ rotation_matrix(yaw=y).T * s for y, s in ((-10, 1.0), (12, 2.0))])
    )
    assert (
        np.abs(frontalise(rebuilt).frontal - canonical).max() < 0.02
    )  # rotated, scaled copies of a symmetric face average back to it


def _moved(mesh: np.ndarray, indices, dy: float) -> np.ndarray:
    out = mesh.copy()
    out[list(indices), 1] += dy
    return out


def test_expressions_are_recognised_from_the_mesh():
    face = canonical_face()
    assert recognise(face) == "rest"
    assert recognise(_moved(face, (61, 291), -0.12)) == "smile"  # both corners lifted
    assert recognise(_moved(face, (70, 63, 105, 66, 107, 300, 293, 334, 296, 336), -0.15)) == "brow_raise"
    closed = face.copy()
    closed[[145, 374], 1] = closed[[159, 386], 1]  # lower lids up to the upper lids
    assert recognise(closed) == "eye_closure_full"
    puckered = face.copy()
    puckered[[61, 291], 0] *= 0.6
    assert recognise(puckered) == "pucker"


def _region(score: float, percentile: float, outside: bool, side: str) -> RegionReading:
    return RegionReading(score, percentile, outside, side if outside else None, side)


def _reading(**regions) -> HealthyRangeReading:
    values = {r: _region(0.3, 40.0, False, "right") for r in ("brow", "eye", "mid_face", "mouth")} | regions
    outside = any(v.outside_healthy_range for v in values.values())
    return HealthyRangeReading(values, outside, None, {"expression": "rest"})


def test_the_pattern_of_one_photo_from_its_regions():
    mouth = _region(3.0, 100.0, True, "left")
    central = patterns.photo_pattern(_reading(mouth=mouth))
    assert central.pattern == "central" and central.side == "left" and central.why.endswith(patterns.CENTRAL_WARNING)
    peripheral = patterns.photo_pattern(_reading(mouth=mouth, brow=_region(2.0, 99.5, True, "left")))
    assert (
        peripheral.pattern == "peripheral"
        and peripheral.side == "left"
        and patterns.CENTRAL_WARNING not in peripheral.why
    )
    leaning = patterns.photo_pattern(_reading(mouth=mouth, eye=_region(0.9, 95.0, False, "left")))
    assert leaning.pattern == "peripheral"  # the eye leans weaker on the mouth's side, past the 90th percentile
    between = patterns.photo_pattern(_reading(mouth=mouth, eye=_region(0.8, 80.0, False, "left")))
    assert between.pattern == "undetermined" and "brow-raise photo would decide" in between.why
    other_side = patterns.photo_pattern(_reading(mouth=mouth, eye=_region(0.9, 95.0, False, "right")))
    assert (
        other_side.pattern == "central"
    )  # the upper face leaning to the other side is not weakness of the mouth's side
    crossed = patterns.photo_pattern(_reading(mouth=mouth, brow=_region(2.0, 99.5, True, "right")))
    assert crossed.pattern == "undetermined"
    assert patterns.photo_pattern(_reading()) is None  # healthy, within the range: nothing to name
    assert (
        patterns.photo_pattern(_reading(), palsy=True).pattern == "central"
    )  # a model's palsy with a quiet upper face
    assert patterns.photo_pattern(HealthyRangeReading.turned_away(), palsy=True).pattern == "undetermined"


def test_a_brow_raise_decides_the_exam_pattern():
    rest = _reading(mouth=_region(3.0, 100.0, True, "left"), eye=_region(0.8, 80.0, False, "left"))
    regions = {
        r: ExamRegion([], None, None, None, None, r == "mouth", None, []) for r in ("brow", "eye", "mid_face", "mouth")
    }

    def pattern() -> str:
        return patterns.exam_pattern(regions, {"rest": rest}, True, "left").pattern

    assert pattern() == "undetermined"  # the rest photo alone does not decide
    regions["brow"].movement, regions["brow"].symmetry_percent = {"left": 0.02, "right": 0.10}, 20.0
    assert pattern() == "peripheral"
    regions["brow"].movement, regions["brow"].symmetry_percent = {"left": 0.09, "right": 0.10}, 90.0
    assert pattern() == "central"


# -- drawn faces through the CLI ----------------------------------------------------------------------------------
def _drawn(i: int, smile: float = 0.0) -> np.ndarray:
    from facepalsy.data.synth import draw_face, make_identity

    identity = make_identity(np.random.default_rng([i, 0]), palsy=False)
    return np.asarray(
        draw_face(identity, np.random.default_rng([i, 1]), SIZE, {"smile": smile, "eye_open": 1.0, "brow_raise": 1.0})
    )


def _warp(rgb: np.ndarray, centre: np.ndarray, shift: tuple[float, float], sigma: float) -> np.ndarray:
    y, x = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]].astype(np.float32)
    weight = np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * sigma**2))
    return cv2.remap(
        rgb, x - shift[0] * weight, y - shift[1] * weight, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


@pytest.fixture(scope="module")
def expression_norms(tmp_path_factory) -> Path:
    """Reference ranges from drawn healthy faces in rest/ and smile/ folders (the folders name the expression)."""
    folder = tmp_path_factory.mktemp("healthy")
    for expression, smile in (("rest", 0.0), ("smile", 1.0)):
        (folder / expression).mkdir()
        for i in range(24):
            Image.fromarray(_drawn(300 + i, smile)).save(folder / expression / f"{i:02d}.png")
    out = folder.parent / "norms.json"
    assert main(["norms", "build", str(folder), "--out", str(out), "--source", "drawn", "--retest-photos", "0"]) == 0
    assert set(json.loads(out.read_text())["expressions"]) == {"rest", "smile"}
    return out


def _read(rgb: np.ndarray, path: Path, norms: Path, capsys) -> dict:
    Image.fromarray(rgb).save(path)
    capsys.readouterr()
    assert main(["asymmetry", str(path), "--json", "--norms", str(norms)]) == 0
    return json.loads(capsys.readouterr().out)


@needs_mediapipe
def test_droops_give_their_pattern_and_side(expression_norms, tmp_path, capsys):
    rgb = _drawn(15)  # a drawn face whose regions read at or below the 42nd healthy percentile before the droop
    face = largest_face(rgb, backend="mediapipe")
    iod = float(np.hypot(*np.subtract(face.left_eye, face.right_eye)))
    mouth = _warp(rgb, face.landmarks[291], (0.0, 0.16 * iod), 0.16 * iod)  # the patient's left mouth corner droops
    lower = _read(mouth, tmp_path / "lower.png", expression_norms, capsys)
    assert lower["reference"]["regions"]["mouth"]["outside_healthy_range"], lower["reference"]["regions"]
    assert lower["palsy_pattern"]["pattern"] == "central" and lower["palsy_pattern"]["side"] == "left", lower[
        "palsy_pattern"
    ]
    whole = _warp(mouth, face.landmarks[334], (0.0, 0.16 * iod), 0.16 * iod)  # and the brow above it
    whole = _warp(whole, face.landmarks[386], (0.0, -0.08 * iod), 0.08 * iod)  # and the eye stays open
    side = _read(whole, tmp_path / "whole.png", expression_norms, capsys)
    assert side["palsy_pattern"]["pattern"] == "peripheral" and side["palsy_pattern"]["side"] == "left", side[
        "palsy_pattern"
    ]
    mirrored = _read(np.ascontiguousarray(whole[:, ::-1]), tmp_path / "mirrored.png", expression_norms, capsys)
    assert mirrored["palsy_pattern"]["pattern"] == "peripheral" and mirrored["palsy_pattern"]["side"] == "right"


@needs_mediapipe
def test_a_healthy_face_turned_or_tilted_and_a_healthy_smile_read_within_the_range(expression_norms, tmp_path, capsys):
    rgb = _drawn(22)  # frontal (yaw 0°), its regions at or below the 32nd healthy percentile
    face = largest_face(rgb, backend="mediapipe")
    h, w = rgb.shape[:2]
    tilted = cv2.warpAffine(
        rgb, cv2.getRotationMatrix2D((w / 2, h / 2), 10, 1.0), (w, h), borderMode=cv2.BORDER_REPLICATE
    )
    posed = {
        "turned_left": turn_face(rgb, face.landmarks, face.depth, 15),
        "turned_right": turn_face(rgb, face.landmarks, face.depth, -15),
        "nodded": turn_face(rgb, face.landmarks, face.depth, 0, 10),
        "tilted": tilted,
    }
    for name, image in posed.items():
        reading = _read(image, tmp_path / f"{name}.png", expression_norms, capsys)
        assert reading["turned"] is False, (name, reading["pose"])
        assert reading["outside_healthy_range"] is False, (name, reading["pose"], reading["reference"]["regions"])
        assert reading["palsy_pattern"] is None
    smile = _read(_drawn(9, smile=1.0), tmp_path / "smile.png", expression_norms, capsys)
    assert smile["expression"] == "smile" and smile["reference"]["reference"]["ranges"] == "smile"
    assert smile["outside_healthy_range"] is False, smile["reference"]["regions"]
