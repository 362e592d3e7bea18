"""Short end-to-end runs on tiny images: train, evaluate, predict, compare, resume, bad input."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import TINY_TRAIN_FLAGS
from PIL import Image
from sklearn import metrics as skm

import facepalsy
from facepalsy.app.cli import main
from facepalsy.data.synth import make_synthetic_dataset
from facepalsy.runfolder import RunFolder

RUN_FILES = [
    "config.yaml",
    "model.pt",
    "checkpoints/last.ckpt",
    "epochs.csv",
    "split.csv",
    "metrics.json",
    "predictions.csv",
    "curves.png",
    "confusion_matrix.png",
    "report.md",
]


def _read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_train_writes_a_complete_run_folder(tiny_run, synth_data):
    for name in RUN_FILES:
        assert (tiny_run / name).is_file(), name
    config = yaml.safe_load((tiny_run / "config.yaml").read_text())
    assert (
        config["backbone"] == "vgg11_bn"
        and config["split"] == "subject"
        and config["data"] == [str(synth_data.resolve())]  # data folders: a list since several make one set
    )
    history = _read_csv(tiny_run / "epochs.csv")
    assert [int(float(r["epoch"])) for r in history] == [1, 2]
    assert all(np.isfinite(float(r[k])) for r in history for k in ("train_loss", "train_acc", "val_loss", "val_acc"))
    split = _read_csv(tiny_run / "split.csv")
    assert len(split) == 72
    sides = {}
    for row in split:
        sides.setdefault(row["subject"], set()).add(row["split"])
    assert all(len(s) == 1 for s in sides.values()), "a subject on two sides of a subject split"
    report = (tiny_run / "report.md").read_text()
    assert "Subject split" in report and "![curves](curves.png)" in report
    log = RunFolder(tiny_run).read_epochs()
    assert log.series("epoch") == [1, 2] and log.kept_epoch in (1, 2)
    assert f"the model kept and tested is from epoch {log.kept_epoch} " in report


def test_a_run_written_before_epochs_csv_reads_its_history_csv(tiny_run, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(tiny_run, old)
    (old / "epochs.csv").rename(old / "history.csv")
    (old / "complete.json").unlink()  # nor the completion marker: finished is judged by its epochs
    assert RunFolder(old).read_epochs() == RunFolder(tiny_run).read_epochs() and RunFolder(old).finished


def test_metrics_match_scikit_learn_on_the_saved_predictions(tiny_run):
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    rows = _read_csv(tiny_run / "predictions.csv")
    y_true = np.array([r["label"] == "palsy" for r in rows], int)
    prob = np.array([float(r["prob_palsy"]) for r in rows])
    threshold = facepalsy.load(tiny_run).threshold  # the operating threshold chosen on validation data, from model.pt
    assert metrics["threshold"] == threshold and all(
        float(r["threshold"]) == pytest.approx(threshold, abs=1e-9) for r in rows
    )
    y_pred = (prob >= threshold).astype(int)
    assert metrics["n"] == len(rows) == sum(r["split"] == "test" for r in _read_csv(tiny_run / "split.csv"))
    assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert metrics["precision"] == pytest.approx(skm.precision_score(y_true, y_pred, zero_division=0))
    assert metrics["recall"] == pytest.approx(skm.recall_score(y_true, y_pred, zero_division=0))
    assert metrics["f1"] == pytest.approx(skm.f1_score(y_true, y_pred, zero_division=0))
    assert metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true, prob), abs=1e-5)
    tn, fp, fn, tp = skm.confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    assert metrics["confusion_matrix"] == [[tn, fp], [fn, tp]]


def test_evaluate_reproduces_training_metrics_and_runs_on_other_data(tiny_run, synth_data, tmp_path, capsys):
    before = json.loads((tiny_run / "metrics.json").read_text())
    assert main(["evaluate", str(tiny_run)]) == 0
    after = json.loads((tiny_run / "metrics.json").read_text())
    assert after["confusion_matrix"] == before["confusion_matrix"]
    assert after["accuracy"] == pytest.approx(before["accuracy"])
    out = tmp_path / "ev"
    assert main(["evaluate", str(tiny_run), "--data", str(synth_data), "--out", str(out)]) == 0
    evaluated = json.loads((out / "metrics.json").read_text())
    seen = sum(1 for line in (tiny_run / "split.csv").read_text().splitlines()[1:] if not line.endswith(",test"))
    assert evaluated["n"] == 72 and evaluated["overlap"]["identical"] == seen == evaluated["overlap"]["training_images"]
    assert f"{seen}ofthe72imagesof{synth_data}arebyte-identical" in "".join(
        capsys.readouterr().err.split()
    )  # rich wraps lines
    assert (out / "confusion_matrix.png").is_file() and "Evaluated on every image" in (out / "report.md").read_text()
    unseen = make_synthetic_dataset(
        tmp_path / "unseen", subjects=4, images_per_subject=2, seed=77, size=48, progress=False
    )
    assert main(["evaluate", str(tiny_run), "--data", str(unseen), "--out", str(tmp_path / "ev2")]) == 0
    overlap = json.loads((tmp_path / "ev2" / "metrics.json").read_text())["overlap"]
    assert overlap["identical"] == overlap["near_duplicates"] == 0
    assert "noneofthe8images" in "".join(capsys.readouterr().err.split())

    other = tmp_path / "other"
    for label in ("palsy", "normal"):
        (other / label).mkdir(parents=True)
        for src in sorted((synth_data / label).rglob("*.jpg"))[:3]:
            (other / label / src.name).write_bytes(src.read_bytes())
    (other / "normal" / "broken.jpg").write_bytes(b"\xff\xd8\xff")
    capsys.readouterr()
    assert main(["evaluate", str(tiny_run), "--data", str(other)]) == 2
    assert "broken.jpg" in capsys.readouterr().err
    assert main(["evaluate", str(tiny_run), "--data", str(other), "--skip-bad"]) == 0
    assert json.loads((tiny_run / "eval-other" / "metrics.json").read_text())["n"] == 6
    assert "broken.jpg" in (tiny_run / "eval-other" / "bad_images.txt").read_text()


def test_predict_table_json_and_a_bad_file(tiny_run, synth_data, tmp_path, capsys):
    images = sorted((synth_data / "palsy").rglob("*.jpg"))[:2]
    assert main(["predict", str(tiny_run), *map(str, images), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["source"] for r in lines] == [str(p) for p in images]
    assert all(r["label"] in ("palsy", "normal") and 0 <= r["prob_palsy"] <= 1 for r in lines)
    # the same probability as the model gives the decoded image directly
    predictor = facepalsy.load(tiny_run)
    from facepalsy.data.images import load_image, resize_square
    from facepalsy.inference.network import predict_probabilities

    direct = predict_probabilities(
        predictor.model, predictor.spec.preprocess, resize_square(load_image(images[0]), 32).transpose(2, 0, 1)[None]
    )
    from facepalsy.models.operating_point import apply_temperature

    assert lines[0]["prob_palsy"] == pytest.approx(
        float(apply_temperature(direct, predictor.spec.temperature)[0] if predictor.spec.temperature else direct[0]),
        abs=1e-6,
    )  # calibrated when the run kept a temperature

    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    assert main(["predict", str(tiny_run), str(images[0]), str(bad)]) == 0  # one of two got a verdict
    captured = capsys.readouterr()
    assert "notes.jpg" in captured.err and "not an image" in captured.err
    assert images[0].name in captured.out  # the good image was still predicted
    lines = captured.out.splitlines()
    assert lines[0] == "source\tlabel\tp_palsy\tthreshold\tnotes" and lines[1].startswith(str(images[0]))
    assert main(["predict", str(tiny_run), str(images[0]), str(bad), "--strict"]) == 2


def test_compare_writes_table_one(tiny_run, tmp_path, capsys):
    assert main(["compare", str(tiny_run), str(tiny_run), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "| model | run | input | protocol | data | n | accuracy % | recall % | precision % | F1 % |" in printed
    assert f"| VGG11 + BN | {tiny_run.name} | whole image | subject split |" in printed
    assert "test sets differ" not in printed  # the same run twice: the same images
    rows = _read_csv(tmp_path / "comparison.csv")
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert float(rows[0]["accuracy"]) == pytest.approx(round(100 * metrics["accuracy"], 2))
    assert (tmp_path / "comparison.md").is_file()


def test_plain_folder_without_manifest_frame_split(tmp_path, synth_data):
    plain = tmp_path / "plain"
    for label in ("palsy", "normal"):
        (plain / label).mkdir(parents=True)
        for i, src in enumerate(sorted((synth_data / label).rglob("*.jpg"))[:10]):
            Image.open(src).save(plain / label / f"img{i}.png")
    run = tmp_path / "run"
    assert main(["train", str(plain), "--out", str(run), "--split", "frame", *TINY_TRAIN_FLAGS, "--epochs", "1"]) == 0
    assert main(["predict", str(run), str(plain / "normal")]) == 0
    assert "Frame split" in (run / "report.md").read_text()


def test_resume_extends_a_run(tmp_path, synth_data):
    run = tmp_path / "run"
    assert (
        main(["train", str(synth_data), "--out", str(run), "--split", "subject", *TINY_TRAIN_FLAGS, "--epochs", "1"])
        == 0
    )
    split_before = (run / "split.csv").read_text()
    assert main(["train", "--resume", "--out", str(run), "--epochs", "2"]) == 0
    assert [r["epoch"] for r in _read_csv(run / "epochs.csv")] == ["1", "2"]
    assert (run / "split.csv").read_text() == split_before


def test_existing_run_folder_is_refused_unless_overwrite(tmp_path, synth_data, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "precious.txt").write_text("keep me")
    args = ["train", str(synth_data), "--out", str(run), *TINY_TRAIN_FLAGS, "--epochs", "1"]
    assert main(args) == 2 and "already exists" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 2 and "not a facepalsy run folder" in capsys.readouterr().err
    assert (run / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--backbone", "resnet50"], "unknown backbone 'resnet50'; valid backbones: efficientnet_lite0, vgg11"),
        (["--split", "subject", "--test-fraction", "0.05"], "needs at least 20 subjects per class"),
    ],
)
def test_bad_training_arguments_exit_2_with_a_message(tmp_path, synth_data, capsys, extra, message):
    assert main(["train", str(synth_data), "--out", str(tmp_path / "r"), *TINY_TRAIN_FLAGS, *extra]) == 2
    assert message in capsys.readouterr().err


def test_unreadable_images_stop_training_or_are_skipped_and_listed(tmp_path, synth_data, capsys):
    data = tmp_path / "data"
    for label in ("palsy", "normal"):
        (data / label).mkdir(parents=True)
        for i, src in enumerate(sorted((synth_data / label).rglob("*.jpg"))[:8]):
            (data / label / f"{i}.jpg").write_bytes(src.read_bytes())
    whole = (data / "palsy" / "0.jpg").read_bytes()
    (data / "palsy" / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    (data / "normal" / "text.jpg").write_text("hello")
    args = ["train", str(data), "--out", str(tmp_path / "r"), "--split", "frame", *TINY_TRAIN_FLAGS, "--epochs", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "truncated.jpg" in err and "text.jpg" in err and "--skip-bad" in err
    assert main([*args, "--skip-bad"]) == 0
    listed = (tmp_path / "r" / "bad_images.txt").read_text()
    assert "truncated.jpg" in listed and "text.jpg" in listed
    assert len(_read_csv(tmp_path / "r" / "split.csv")) == 16


def test_checkpoint_of_another_backbone_is_refused(tiny_run, tmp_path, capsys):
    import torch

    payload = torch.load(tiny_run / "model.pt", weights_only=True)
    payload["spec"]["backbone"] = "vgg16"
    other = tmp_path / "other"
    other.mkdir()
    torch.save(payload, other / "model.pt")
    assert main(["predict", str(other), "x.jpg"]) == 2
    assert "do not fit backbone vgg16" in capsys.readouterr().err


def test_module_and_console_script_entry_points():
    for cmd in (
        [sys.executable, "-m", "facepalsy", "--help"],
        [str(Path(sys.executable).parent / "facepalsy"), "models"],
    ):
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    error = subprocess.run(
        [sys.executable, "-m", "facepalsy", "evaluate", "/nonexistent/run"], capture_output=True, text=True, timeout=120
    )
    assert error.returncode == 2 and "Traceback" not in error.stderr and "/nonexistent/run" in error.stderr


def test_compare_and_synth_refuse_bad_arguments_without_traceback(tmp_path, capsys):
    (tmp_path / "half").mkdir()
    assert main(["compare", str(tmp_path / "half")]) == 2
    assert "half: not a finished run or cross-validation folder (config.yaml not found)" in capsys.readouterr().err
    assert main(["synth", "--out", str(tmp_path / "s"), "--subjects", "1"]) == 2
    assert "at least 2 subjects" in capsys.readouterr().err


def test_missing_imagenet_weights_fail_before_any_work(tmp_path, synth_data, monkeypatch, capsys):
    import urllib.error

    import torch

    def offline(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    assert main(["train", str(synth_data), "--out", str(tmp_path / "r"), "--backbone", "vgg16"]) == 2
    err = capsys.readouterr().err
    assert "vgg16-397923af.pth" in err and "--weights none" in err
    assert not (tmp_path / "r").exists()
