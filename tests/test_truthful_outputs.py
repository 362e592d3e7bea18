"""Outputs that tell the truth about the model in front of them: calibration that earns its place, the threshold's
interval, the audit's AUC below 0.5, wording per model kind, the exam's drawings, terminal and file habits."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import TINY_TRAIN_FLAGS

import facepalsy
from facepalsy.app.cli import main
from facepalsy.app.commands_faces import exit_code
from facepalsy.evaluation.audit import ADVICE, CROP_ADVICE, below_chance_note
from facepalsy.evaluation.metrics import reliability_curve
from facepalsy.evaluation.report import threshold_lines
from facepalsy.evaluation.validation import choose_temperature, threshold_interval
from facepalsy.face.detect import mediapipe_available
from facepalsy.face.exam_result import Exam, ExamRegion
from facepalsy.face.reading import ordinal
from facepalsy.models.operating_point import OperatingPoint, apply_temperature
from facepalsy.runfolder import RunFolder

needs_mediapipe = pytest.mark.skipif(not mediapipe_available(), reason="landmark runs need the face extra")


def _outcomes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return y, 1 / (1 + np.exp(-z)), [f"s{i // 2}" for i in range(n)]  # calibrated by construction, 2 per subject


def test_a_temperature_is_kept_only_when_it_helps_beyond_its_noise():
    y, prob, subjects = _outcomes(600, 0)
    overconfident = apply_temperature(prob, 0.4)
    kept = choose_temperature(y, overconfident, subjects)
    assert kept.kept and kept.temperature == pytest.approx(2.5, rel=0.2) and kept.gain > 2 * kept.noise
    assert "Temperature scaling kept" in kept.sentence()
    already = choose_temperature(y, prob, subjects)
    assert not already.kept and already.temperature is None and already.gain <= 2 * already.noise
    assert already.sentence().startswith("Kept uncalibrated: the model's probabilities were already calibrated")
    few = choose_temperature(y[:2], prob[:2], ["a", "a"])
    assert not few.kept and few.gain is None and "too few validation subjects" in few.sentence()


def test_the_threshold_interval_covers_the_choice_and_a_borderline_probability_is_named(tiny_run):
    y, prob, subjects = _outcomes(400, 1)
    low, high = threshold_interval(y, prob, subjects, "youden")
    assert low < 0.5 < high and high - low < 0.5
    assert threshold_interval(np.zeros(10, int), prob[:10], subjects[:10], "youden") is None

    predictor = facepalsy.load(tiny_run)
    point = dataclasses.replace(predictor.spec.operating_point, interval=(0.0, 1.0))
    predictor.spec = dataclasses.replace(predictor.spec, operating_point=point)
    image = next((tiny_run.parent.parent / "synth0" / "palsy").rglob("*.jpg"), None) or next(
        (p for p in tiny_run.parent.parent.rglob("*.jpg")), None
    )
    if image is None:
        pytest.skip("no synthetic image next to the tiny run")
    prediction = predictor.predict(image)
    assert any(w.startswith("borderline: p(palsy)") for w in prediction.warnings), prediction.warnings

    spec = facepalsy.load(tiny_run).spec
    far = dataclasses.replace(spec, operating_point=OperatingPoint(0.12, "youden", 0.9, 0.8, 20, (0.08, 0.2)))
    lines = threshold_lines(RunFolder(tiny_run), far)
    assert lines and "Why the threshold is 0.120, not 0.5" in lines[0] and "(0.080–0.200) excludes 0.5" in lines[0]
    near = dataclasses.replace(spec, operating_point=OperatingPoint(0.45, "youden", 0.9, 0.8, 20, (0.3, 0.6)))
    assert threshold_lines(RunFolder(tiny_run), near) == []


def test_a_run_records_its_calibration_decision_and_reports_it(tiny_run):
    validation = json.loads((tiny_run / "validation.json").read_text())
    decision = validation["calibration"]
    assert set(decision) == {"fitted", "kept", "gain", "noise", "folds"}
    assert validation["temperature"] == (decision["fitted"] if decision["kept"] else None)
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["calibration"]["decision"] in (tiny_run / "report.md").read_text()
    kinds = set(metrics["calibration"]["kinds"])
    assert kinds == (
        {"calibrated", "uncalibrated"} if decision["kept"] else {"uncalibrated", "with the temperature not kept"}
    )


def test_reliability_bins_carry_counts_and_intervals():
    y, prob, _ = _outcomes(500, 2)
    curve = reliability_curve(y, prob)
    assert sum(curve.count) == 500
    assert all(lo <= obs <= hi for lo, obs, hi in zip(curve.low, curve.observed, curve.high))


def test_the_audit_explains_an_auc_below_one_half_and_gives_crop_models_their_own_advice():
    note = below_chance_note(0.431, (0.393, 0.475))
    assert note and "no usable signal, not a reversed one" in note
    assert below_chance_note(0.47, (0.40, 0.55)) is None
    assert "--face-crop" not in ADVICE + CROP_ADVICE and "--harmonise" in ADVICE and "--harmonise" in CROP_ADVICE


def test_the_exam_drawings_say_what_the_exam_counts_and_weak_movement_is_flagged():
    mouth = ExamRegion(["mouth_corner"], None, "smile", {"right": 0.2, "left": 0.04}, 20.0, False, None, [])
    brow = ExamRegion(["brow_height"], None, "brow_raise", {"right": 0.1, "left": 0.09}, 90.0, True, "left", ["rest"])
    exam = Exam("p", "photos", {}, [], {"brow": brow, "eye": brow, "mouth": mouth}, True, "left", {}, {})
    assert exam.drawing_verdict("smile") == "exam: nothing outside the healthy range counted here"
    assert exam.drawing_verdict("rest") == "exam: outside here: brow (left), eye (left)"
    assert mouth.weak_movement == "left" and brow.weak_movement is None
    assert "Weak movement on one side (under 50%): mouth (patient's left moves 20% as far)" in exam.verdict()
    assert exam.to_dict()["regions"]["mouth"]["weak_movement"] == "left"
    assert [ordinal(v) for v in (1, 2, 3, 11, 12, 82, 100)] == ["1st", "2nd", "3rd", "11th", "12th", "82nd", "100th"]


def test_many_image_commands_share_one_exit_rule():
    assert exit_code(answered=1, failed=1, strict=False) == 0
    assert exit_code(answered=0, failed=1, strict=False) == 2
    assert exit_code(answered=5, failed=1, strict=True) == 2
    assert exit_code(answered=5, failed=0, strict=True) == 0


def test_training_into_a_log_file_leaves_progress_lines_and_no_lock(synth_data, tmp_path):
    out = tmp_path / "run"
    with (tmp_path / "log").open("w") as log:
        done = subprocess.run(
            [sys.executable, "-m", "facepalsy", "train", str(synth_data), "--out", str(out), *TINY_TRAIN_FLAGS],
            stderr=log,
            stdout=subprocess.PIPE,
            text=True,
            timeout=300,
        )
    text = (tmp_path / "log").read_text()
    assert done.returncode == 0, text
    assert "epoch 1/2: train loss" in text and "epoch 2/2: train loss" in text and "decoding" in text.lower()
    assert "Epoch 1/1" not in text  # Lightning's own count (0-based) does not appear
    assert not (out / ".lock").exists() and not (out / ".lock.owner").exists()
    assert "…" not in done.stdout  # the table is not cut to 80 columns in a pipe


def test_serve_refuses_a_folder_that_is_not_a_run_before_announcing(tmp_path, capsys):
    pytest.importorskip("gradio", reason="the web page is the web extra")
    assert main(["serve", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "facepalsy page on" not in captured.err + captured.out and "error:" in captured.err


@needs_mediapipe
def test_the_python_api_prints_no_third_party_log_line(tmp_path):
    from facepalsy.data.synth import draw_face, make_identity

    rgb = draw_face(make_identity(np.random.default_rng(3), palsy=True), np.random.default_rng(4), size=320)
    np.save(tmp_path / "face.npy", rgb)
    script = (
        "import numpy as np\n"
        "from facepalsy.face.asymmetry import image_asymmetry\n"
        f"print(image_asymmetry(np.load({str(tmp_path / 'face.npy')!r}))[0].score > 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "True" and done.stderr == "", done.stderr
