"""Calibration and the chance check: numbers against scikit-learn, torchmetrics and hand computation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from torchmetrics.functional.classification import binary_calibration_error

import facepalsy
from facepalsy.app.cli import main
from facepalsy.evaluation.metrics import (
    ChanceCheck,
    bootstrap_ci,
    calibration_line,
    calibration_metrics,
    chance_check,
    expected_calibration_error,
    fit_temperature,
)
from facepalsy.models.operating_point import apply_temperature


def _outcomes(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, n)
    return (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int), 1 / (1 + np.exp(-z))  # calibrated by construction


def test_calibration_numbers_match_scikit_learn_and_torchmetrics():
    y, p = _outcomes()
    got = calibration_metrics(y, p)
    assert got["brier"] == pytest.approx(brier_score_loss(y, p))
    weights = np.random.default_rng(1).integers(0, 3, len(y)).astype(float)  # as the subject bootstrap weighs images
    assert calibration_metrics(y, p, weights)["brier"] == pytest.approx(brier_score_loss(y, p, sample_weight=weights))
    assert got["ece"] == pytest.approx(
        binary_calibration_error(torch.tensor(p), torch.tensor(y), n_bins=10).item(), abs=1e-9
    )
    slope = LogisticRegression(C=np.inf).fit(np.log(p / (1 - p))[:, None], y).coef_[0, 0]
    assert got["calibration_slope"] == pytest.approx(
        slope, rel=1e-4
    )  # scikit-learn stops its lbfgs earlier than Newton
    assert (
        abs(got["calibration_intercept"]) < 0.15 and abs(got["calibration_slope"] - 1) < 0.15
    )  # calibrated data look calibrated


def test_temperature_scaling_undoes_overconfidence_and_keeps_the_order():
    y, p = _outcomes()
    overconfident = apply_temperature(p, 0.5)  # logits doubled
    assert calibration_line(y, overconfident)[1] == pytest.approx(0.5, abs=0.08)
    temperature = fit_temperature(y, overconfident)
    assert temperature == pytest.approx(2.0, rel=0.1)
    fixed = apply_temperature(overconfident, temperature)
    assert expected_calibration_error(y, fixed) < expected_calibration_error(y, overconfident) / 2
    assert roc_auc_score(y, fixed) == roc_auc_score(y, overconfident)  # one monotone map: the order stays


def test_intervals_at_100_percent_do_not_collapse_and_use_wilson():
    y = np.array([1] * 10 + [0] * 10)
    p = np.where(y == 1, 0.9, 0.1)
    subjects = [str(i // 2) for i in range(20)]
    ci = bootstrap_ci(y, p, subjects)
    for key in ("accuracy", "recall", "precision", "specificity", "roc_auc", "f1"):
        low, high = ci[key]
        assert high == 1.0 and low < 0.9, key
    # Wilson's interval for 5 of 5 subjects, by hand: centre (k + z²/2)/(n + z²), half-width z·sqrt(n/4 + ...)/(n + z²)
    # at k = n
    z, n = 1.959963984540054, 5
    assert ci["recall"][0] == pytest.approx((n + z**2 / 2 - z * np.sqrt(z**2 / 4)) / (n + z**2))


def test_chance_check_says_plainly_when_a_model_is_not_better_than_chance():
    rng = np.random.default_rng(3)
    y = np.array([1] * 30 + [0] * 30)
    subjects = [str(i) for i in range(60)]
    noise = rng.random(60)
    verdict = chance_check(y, bootstrap_ci(y, noise, subjects))
    assert not verdict.better_than_chance and verdict.majority_rate == 0.5 and verdict.reasons
    assert ChanceCheck.from_dict(verdict.to_dict()) == verdict
    good = np.where(y == 1, 0.6 + 0.3 * noise, 0.4 - 0.3 * noise)
    assert chance_check(y, bootstrap_ci(y, good, subjects)).better_than_chance


def test_a_kept_temperature_scales_every_probability_and_the_threshold_follows(tiny_run, synth_data, tmp_path):
    import shutil

    from facepalsy.runfolder import RunFolder

    run = tmp_path / "calibrated"
    shutil.copytree(tiny_run, run)
    folder = RunFolder(run)
    temperature = 1.7  # as if validation data had kept it (the tiny run's own decision is tested elsewhere)
    folder.set_operating_point(folder.read_model()[0].operating_point, temperature)
    calibrated, raw = (
        facepalsy.load(run, precision="fp32"),
        facepalsy.load(run, precision="fp32", calibrated=False),
    )
    assert calibrated.spec.temperature == temperature
    images = sorted((synth_data / "palsy").rglob("*.jpg"))[:4] + sorted((synth_data / "normal").rglob("*.jpg"))[:4]
    for a, b in zip(calibrated.predict(images), raw.predict(images)):
        assert a.prob_palsy == pytest.approx(
            float(apply_temperature(np.array([b.prob_palsy]), temperature)[0]), abs=1e-6
        )
        assert a.label == b.label  # the threshold is mapped, so the labels agree
    assert main(["evaluate", str(run), "--out", str(tmp_path / "cal")]) == 0
    metrics = json.loads((tmp_path / "cal" / "metrics.json").read_text())
    assert set(metrics["calibration"]["kinds"]) == {"calibrated", "uncalibrated"} and "chance" in metrics
    for kind in metrics["calibration"]["kinds"].values():
        assert {"brier", "ece", "calibration_intercept", "calibration_slope"} <= set(kind) and kind["ci95"]["brier"]
    report = (tmp_path / "cal" / "report.md").read_text()
    assert "## Calibration" in report and f"T = {temperature:.3f}" in report
    assert main(["evaluate", str(run), "--uncalibrated", "--out", str(tmp_path / "uncal")]) == 0
    uncal = json.loads((tmp_path / "uncal" / "metrics.json").read_text())
    assert (
        uncal["calibration"]["applied"] == "uncalibrated" and uncal["confusion_matrix"] == metrics["confusion_matrix"]
    )


def test_model_cards_in_run_and_cv_folders_with_item_numbers_and_subgroups(synth_data, tmp_path):
    from conftest import TINY_TRAIN_FLAGS

    flags = [f for f in TINY_TRAIN_FLAGS if f not in ("--epochs", "2")] + [
        "--epochs",
        "1",
        "--subgroup",
        "side,nonexistent",
    ]
    run, cv = tmp_path / "run", tmp_path / "cv"
    assert main(["train", str(synth_data), "--out", str(run), *flags]) == 0
    assert main(["cv", str(synth_data), "--out", str(cv), "--folds", "2", *flags]) == 0
    for card_path, report in ((run / "model_card.md", run / "report.md"), (cv / "model_card.md", cv / "cv.md")):
        card = card_path.read_text()
        for item in (
            "TRIPOD+AI 5a",
            "TRIPOD+AI 12f, 15",
            "TRIPOD+AI 12e, 23a",
            "TRIPOD+AI 14, 23b",
            "TRIPOD+AI 18e–f",
            "Not a diagnostic device",
        ):
            assert item in card, (card_path, item)
        assert "Per `side`" in card and "| left |" in card and "not in the manifest: nonexistent" in card
        assert "## Model card" in report.read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    assert f"Threshold {metrics['operating_point']['threshold']:.3f}" in (run / "model_card.md").read_text()


def test_lightning_loggers_csv_always_tensorboard_when_asked(synth_data, tmp_path, capsys):
    import importlib.util

    from conftest import TINY_TRAIN_FLAGS

    flags = [f for f in TINY_TRAIN_FLAGS if f not in ("--epochs", "2")] + ["--epochs", "2"]
    assert main(["train", str(synth_data), "--out", str(tmp_path / "run"), *flags, "--logger", "tensorboard"]) == 0
    with (tmp_path / "run" / "logs" / "metrics.csv").open() as f:
        header = f.readline()
    assert {"epoch", "train_loss", "val_loss"} <= set(header.strip().split(","))
    events = list((tmp_path / "run" / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    if importlib.util.find_spec("mlflow") is None:
        assert main(["train", str(synth_data), "--out", str(tmp_path / "r2"), *flags, "--logger", "mlflow"]) == 2
        assert (
            "logger mlflow is not installed: pip install mlflow" in capsys.readouterr().err
            and not (tmp_path / "r2").exists()
        )


def test_a_chance_level_run_says_so_in_output_json_and_report(tmp_path, capsys):
    from conftest import TINY_TRAIN_FLAGS
    from PIL import Image

    data = tmp_path / "identical"  # every image the same: nothing to learn
    for label in ("palsy", "normal"):
        for subject in range(6):
            (data / label / f"{label}{subject}").mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (48, 48), (120, 100, 90)).save(data / label / f"{label}{subject}" / f"{i}.png")
    run = tmp_path / "run"
    assert main(["train", str(data), "--out", str(run), *TINY_TRAIN_FLAGS]) == 0
    said = " ".join(capsys.readouterr().err.split())
    assert "NOT SHOWN TO BE BETTER THAN CHANCE" in said
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["chance"]["better_than_chance"] is False and metrics["roc_auc"] == 0.5
    report = (run / "report.md").read_text()
    assert "**NOT SHOWN TO BE BETTER THAN CHANCE" in report and "## Calibration" in report and "Brier" in report
    assert "T = " in report and (run / "reliability.png").is_file() and "100.00–100.00" not in report
