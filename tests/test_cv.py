"""Cross-validation: fold invariants, pooling, leakage fields, and bad --folds."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
import torch
from conftest import TINY_TRAIN_FLAGS

import facepalsy
from facepalsy.app.cli import main
from facepalsy.data.dataset import Sample
from facepalsy.data.synth import make_synthetic_dataset
from facepalsy.evaluation.metrics import binary_metrics
from facepalsy.training.cv import fold_assignments

FLAGS = [f for f in TINY_TRAIN_FLAGS if f not in ("--epochs", "2")] + ["--epochs", "1"]


def _samples(subjects_per_class=6, images=4):
    return [
        Sample(f"{c}/{s}/{i}.jpg", c, f"{c}-{s}")
        for c in (0, 1)
        for s in range(subjects_per_class)
        for i in range(images)
    ]


@pytest.mark.parametrize("protocol, folds, expected", [("subject-kfold", 3, 3), ("lopo", 0, 12), ("frame", 4, 4)])
def test_every_image_is_tested_exactly_once(protocol, folds, expected):
    samples = _samples()
    assignments = fold_assignments(samples, protocol, folds, val_fraction=0.2, seed=0)
    assert len(assignments) == expected
    tested = np.array([[part == "test" for part in a] for a in assignments])
    assert (tested.sum(axis=0) == 1).all()
    if protocol != "frame":
        for assignment in assignments:
            sides: dict[str, set[str]] = {}
            for sample, part in zip(samples, assignment):
                sides.setdefault(sample.subject, set()).add(part)
            assert all(len(parts) == 1 for parts in sides.values())
            assert "val" in assignment


def test_too_many_folds_is_explained():
    with pytest.raises(Exception, match="--folds 7 is more than the subjects of the smaller class .* use at most 6"):
        fold_assignments(_samples(), "subject-kfold", 7, 0.2, 0)


def test_cv_writes_results_and_pools_out_of_fold_predictions(tmp_path, synth_data, capsys):
    out = tmp_path / "cv"
    assert main(["cv", str(synth_data), "--out", str(out), "--protocol", "subject-kfold", "--folds", "3", *FLAGS]) == 0
    result = json.loads((out / "cv.json").read_text())
    assert [f["fold"] for f in result["folds"]] == [0, 1, 2]
    assert result["folds_with_test_subject_in_training"] == []
    assert all(f["leakage"]["test_subjects_in_training"] == [] for f in result["folds"])
    with (out / "folds.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["subject"] for r in rows) == sorted({f"s{i:03d}" for i in range(12)})
    y, prob, thresholds = [], [], []
    for fold in result["folds"]:
        recorded = facepalsy.load(out / fold["run"]).threshold  # the fold's operating threshold, from its model.pt
        assert fold["threshold"] == pytest.approx(recorded)
        with (out / fold["run"] / "predictions.csv").open() as f:
            for row in csv.DictReader(f):
                y.append(row["label"] == "palsy")
                prob.append(float(row["prob_palsy"]))
                thresholds.append(recorded)
                assert row["predicted"] == ("palsy" if float(row["prob_palsy"]) >= recorded else "normal")
    # each out-of-fold prediction keeps its fold's label: pooled at each image's own fold threshold
    expected = binary_metrics(np.array(y, int), np.array(prob), np.array(thresholds))
    pooled = result["pooled"]
    assert pooled["n"] == 72 and pooled["confusion_matrix"] == expected["confusion_matrix"]
    assert pooled["accuracy"] == pytest.approx(expected["accuracy"])
    low, high = pooled["ci95"]["accuracy"]
    assert low <= pooled["accuracy"] <= high
    assert result["per_subject"]["n"] == 12 and len(result["subject_scores"]) == 12
    assert (out / "roc.png").is_file() and "Per subject" in (out / "cv.md").read_text()
    assert "pooled (per image)" in capsys.readouterr().out
    assert main(["compare", str(out)]) == 0
    assert "subject-kfold (3 folds)" in capsys.readouterr().out


def test_reproduce_puts_protocols_side_by_side(tmp_path, synth_data):
    out = tmp_path / "repro"
    flags = [f for f in FLAGS if f not in ("--backbone", "vgg11_bn")]
    args = [
        "reproduce",
        str(synth_data),
        "--out",
        str(out),
        "--backbones",
        "vgg11_bn",
        "--protocols",
        "frame,subject-kfold",
        "--folds",
        "2",
        *flags,
    ]
    assert main(args) == 0
    with (out / "comparison.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["protocol"] for r in rows[:2]] == ["frame split", "subject-kfold (2 folds)"]
    assert (out / "frame" / "vgg11_bn" / "metrics.json").is_file() and (
        out / "subject-kfold" / "vgg11_bn" / "cv.json"
    ).is_file()


@pytest.mark.slow
def test_lopo_on_24_subjects_runs_to_the_end_without_leakage(tmp_path):
    """24 folds with a frozen backbone and --feature-cache 2: the folds share one feature bank, so each image passes the
    backbone at most 3 times in all (2 augmented views and the plain one), not once per fold."""
    from facepalsy.training import features

    data = make_synthetic_dataset(
        tmp_path / "data", subjects=24, images_per_subject=20, seed=0, size=48, progress=False
    )
    out = tmp_path / "lopo"
    features._banks.clear()
    frozen = [f for f in FLAGS if f != "--finetune"]
    assert main(["cv", str(data), "--out", str(out), "--protocol", "lopo", *frozen, "--feature-cache", "2"]) == 0
    (bank,) = features._banks.values()
    assert bank.computed <= 3 * 480
    result = json.loads((out / "cv.json").read_text())
    assert len(result["folds"]) == 24
    for fold in result["folds"]:
        assert len(fold["test_subjects"]) == 1
        assert fold["leakage"]["test_subjects_in_training"] == []
        assert fold["leakage"]["test_images_with_subject_in_training"] == 0
    assert result["pooled"]["n"] == 480


def test_folds_in_parallel_match_folds_in_sequence(tmp_path, synth_data):
    """--devices 2 on CPU: two worker processes train whole folds; the results are those of one process, bit for bit.
    The sequential run draws each fold's details (--fold-details), which changes no prediction."""
    flags = ["--protocol", "subject-kfold", "--folds", "3", "--accelerator", "cpu", *FLAGS]
    threads = torch.get_num_threads()
    torch.set_num_threads(
        max(1, (os.cpu_count() or 1) // 2)
    )  # as each of the two workers, so float summation orders match
    try:
        assert main(["cv", str(synth_data), "--out", str(tmp_path / "seq"), *flags, "--fold-details"]) == 0
    finally:
        torch.set_num_threads(threads)
    assert main(["cv", str(synth_data), "--out", str(tmp_path / "par"), "--devices", "2", *flags]) == 0
    seq, par = (json.loads((tmp_path / name / "cv.json").read_text()) for name in ("seq", "par"))
    assert [f["test_subjects"] for f in par["folds"]] == [f["test_subjects"] for f in seq["folds"]]
    assert par["folds_with_test_subject_in_training"] == []
    for name in ("seq", "par"):
        assert all((tmp_path / name / f"fold_{k:02d}" / "complete.json").is_file() for k in range(3))
    details = ("report.md", "curves.png", "confusion_matrix.png", "reliability.png", "checkpoints")
    assert all((tmp_path / "seq" / "fold_00" / name).exists() for name in details)
    assert not any((tmp_path / "par" / "fold_00" / name).exists() for name in details)
    assert json.loads((tmp_path / "par" / "fold_00" / "metrics.json").read_text())["ci95"] == {}
    probs = [
        np.array(
            [
                float(r["prob_palsy"])
                for f in result["folds"]
                for r in csv.DictReader((tmp_path / name / f["run"] / "predictions.csv").open())
            ]
        )
        for name, result in (("seq", seq), ("par", par))
    ]
    assert np.array_equal(probs[1], probs[0])


def test_reproduce_obeys_split_or_refuses_a_contradiction(tmp_path, synth_data, capsys):
    from facepalsy.app.commands_models import reproduce_protocols
    from facepalsy.config import PROTOCOLS

    assert reproduce_protocols(None, None, PROTOCOLS) == ["frame"]  # the paper's table
    assert reproduce_protocols(None, "subject", PROTOCOLS) == ["subject"]
    assert reproduce_protocols("subject-kfold,lopo", "subject", PROTOCOLS) == ["subject-kfold", "lopo"]
    out = tmp_path / "repro"
    flags = [f for f in FLAGS if f not in ("--backbone", "vgg11_bn")]
    assert (
        main(
            [
                "reproduce",
                str(synth_data),
                "--out",
                str(out),
                "--backbones",
                "vgg11_bn",
                "--split",
                "subject",
                "--protocols",
                "frame",
                *flags,
            ]
        )
        == 2
    )
    assert "--split subject contradicts --protocols frame" in capsys.readouterr().err and not out.exists()
    assert (
        main(["reproduce", str(synth_data), "--out", str(out), "--backbones", "vgg11_bn", "--split", "subject", *flags])
        == 0
    )
    assert json.loads((out / "vgg11_bn" / "leakage.json").read_text())["protocol"] == "subject"
