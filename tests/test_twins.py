"""Palsied twins of healthy faces (data/twins.py) and the landmark model trained with them (training/landmarks.py):
the twin reads back the palsy it was drawn with, on the side it was drawn, and a run records its twins."""

from __future__ import annotations

import numpy as np
import pytest
from drawn_faces import drawn_face

from facepalsy.data.twins import TwinPlan, degrade, draw_twin, plan_twin, twin_pair
from facepalsy.face.millimetres import mm_per_pixel

pytest.importorskip("mediapipe")


@pytest.fixture(scope="module")
def face():
    from facepalsy.face.detect import largest_face

    rgb = drawn_face(3)
    return rgb, largest_face(rgb, backend="mediapipe")


def _measure(rgb):
    from facepalsy.face.asymmetry import JITTER, image_asymmetry

    return image_asymmetry(rgb, views=JITTER)[0]


def test_plans_are_drawn_from_the_image_and_cover_both_kinds_and_sides():
    images = [np.full((8, 8, 3), k, np.uint8) for k in range(60)]
    plans = [plan_twin(image, seed=1) for image in images]
    assert plans == [plan_twin(image, seed=1) for image in images]  # the same twin in every fold
    assert {p.kind for p in plans} == {"central", "peripheral"} and {p.side for p in plans} == {"right", "left"}
    assert all(2.0 <= p.mouth_mm <= 6.0 for p in plans)
    assert all(p.brow_mm == 0 for p in plans if p.kind == "central")
    assert all(2.0 <= p.brow_mm <= 5.0 for p in plans if p.kind == "peripheral")
    assert 0 < sum(bool(p.pixels) for p in plans) < len(plans)  # some pairs degraded, not all
    assert plan_twin(images[0], seed=2) != plans[0] or plan_twin(images[1], seed=2) != plans[1]


@pytest.mark.parametrize("side", ["right", "left"])
def test_a_central_twin_lowers_one_mouth_corner_by_its_mm_and_spares_the_brow(face, side):
    rgb, found = face
    plan = TwinPlan("central", side, mouth_mm=4.0, brow_mm=0.0)
    before, after = _measure(rgb), _measure(draw_twin(rgb, found.landmarks, plan))
    moved = {
        s: (getattr(after, s)["mouth_corner_drop"] - getattr(before, s)["mouth_corner_drop"]) for s in ("right", "left")
    }
    other = "left" if side == "right" else "right"
    assert moved[side] > 3 * abs(moved[other])  # the drawn side's corner moved, the other stayed
    assert abs(after.difference["brow_height"] - before.difference["brow_height"]) < 0.01


def test_a_peripheral_twin_lowers_the_brow_on_the_mouths_side(face):
    rgb, found = face
    plan = TwinPlan("peripheral", "left", mouth_mm=4.0, brow_mm=4.0)
    before, after = _measure(rgb), _measure(draw_twin(rgb, found.landmarks, plan))
    assert after.left["brow_height"] < before.left["brow_height"] - 0.015
    assert after.left["mouth_corner_drop"] > before.left["mouth_corner_drop"] + 0.02
    assert abs(after.right["brow_height"] - before.right["brow_height"]) < 0.5 * abs(
        after.left["brow_height"] - before.left["brow_height"]
    )


def test_a_degraded_pair_is_degraded_alike_and_keeps_its_size(face):
    rgb, found = face
    plan = TwinPlan("central", "right", 4.0, 0.0, pixels=60, quality=60)
    original, twin = twin_pair(rgb, found.landmarks, plan)
    assert original.shape == twin.shape == rgb.shape and original.dtype == np.uint8
    assert not np.array_equal(original, rgb)
    plain = twin_pair(rgb, found.landmarks, TwinPlan("central", "right", 4.0, 0.0))[0]
    assert np.array_equal(plain, rgb)  # without a degradation the original is the photo itself
    # the degradation loses fine detail: the image is smoother than the photo
    assert np.abs(np.diff(original.astype(float), axis=1)).mean() < np.abs(np.diff(rgb.astype(float), axis=1)).mean()
    assert degrade(rgb, 200.0, TwinPlan("central", "right", 4.0, 0.0)) is rgb


def test_the_scale_needs_the_iris(face):
    _, found = face
    assert 0.05 < mm_per_pixel(found.landmarks) < 2.0
    with pytest.raises(ValueError, match="iris"):
        mm_per_pixel(found.landmarks[:468])


def test_twin_rows_keep_each_twin_with_its_original_and_read_more_asymmetry():
    from facepalsy.data.model_input import FacePolicy, model_input
    from facepalsy.models.baseline import FEATURES, features
    from facepalsy.models.side_differences import TWINS_SOURCE
    from facepalsy.training.landmarks import twin_rows

    policy = FacePolicy(crop=True, required=True)
    crops = np.array([model_input(drawn_face(k), 224, policy).pixels.transpose(2, 0, 1) for k in range(4)])
    subjects, sources = np.array([f"s{k}" for k in range(4)]), np.array(["studio"] * 4)
    rows = twin_rows(crops, subjects, sources, seed=0)
    twins = rows.labels == 1
    assert twins.sum() == len(rows.plans) == 4
    assert set(rows.sources[twins]) == {TWINS_SOURCE} and set(rows.sources[~twins]) <= {"studio"}
    assert list(rows.subjects[twins]) == list(subjects)  # a twin falls on its original's side of every split
    assert rows.orbits.shape == (len(rows.x), 3)  # orbit, lid edges, eyeglasses
    # a second fold reuses the twins: nothing is measured again
    import facepalsy.models.baseline as baseline

    calls = []
    real_measured = baseline.measured
    baseline.measured = lambda image: calls.append(1) or real_measured(image)
    try:
        again = twin_rows(crops, subjects, sources, seed=0)
    finally:
        baseline.measured = real_measured
    assert not calls and np.array_equal(again.x, rows.x, equal_nan=True) and again.plans == rows.plans
    column = FEATURES.index("abs_mouth_corner_drop")
    assert (rows.x[twins, column] > features(crops)[:, column]).mean() >= 0.75


def test_a_landmark_run_trains_with_twins_by_default_and_says_so(tmp_path):
    from facepalsy.app.cli import main
    from facepalsy.data.synth import make_synthetic_dataset

    data = make_synthetic_dataset(
        tmp_path / "data", subjects=12, images_per_subject=3, seed=4, size=128, progress=False
    )
    flags = ["--model", "landmarks", "--image-size", "128", "--test-fraction", "0.25", "--val-fraction", "0.25"]
    assert main(["train", str(data), "--out", str(tmp_path / "twins"), *flags]) == 0
    assert main(["train", str(data), "--out", str(tmp_path / "plain"), *flags, "--no-twins"]) == 0
    report = (tmp_path / "twins" / "report.md").read_text(encoding="utf-8")
    assert "palsied twins of its healthy training faces" in report
    assert "palsied twins" not in (tmp_path / "plain" / "report.md").read_text(encoding="utf-8")
    assert "twins: true" in (tmp_path / "twins" / "config.yaml").read_text()
    assert "twins: false" in (tmp_path / "plain" / "config.yaml").read_text()


def test_the_twins_weigh_half_a_source_of_palsy_photos():
    from facepalsy.models.side_differences import TWINS_SHARE, TWINS_SOURCE, source_weights

    labels = np.array([0] * 4 + [1] * 6 + [1] * 10)
    sources = np.array(["studio"] * 4 + ["web"] * 6 + [TWINS_SOURCE] * 10)
    weights = source_weights(labels, sources)
    assert weights[labels == 0].sum() == pytest.approx(weights[labels == 1].sum())
    assert weights[sources == TWINS_SOURCE].sum() == pytest.approx(TWINS_SHARE * weights[sources == "web"].sum())
