"""Shared fixtures: tiny synthetic data sets and one tiny trained run, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from facepalsy.cli import main
from facepalsy.synth import make_synthetic_dataset

TINY_TRAIN_FLAGS = [
    "--backbone", "vgg11_bn", "--weights", "none", "--image-size", "32", "--epochs", "2",
    "--batch-size", "16", "--lr", "1e-3", "--finetune", "--test-fraction", "0.25", "--val-fraction", "0.25",
]


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory) -> Path:
    """12 subjects (6 palsy, 6 normal) × 6 images at 48 px, with manifest.csv."""
    return make_synthetic_dataset(tmp_path_factory.mktemp("synth"), subjects=12, images_per_subject=6, seed=1, size=48, progress=False)


@pytest.fixture(scope="session")
def tiny_run(synth_data, tmp_path_factory) -> Path:
    """A finished run folder: vgg11_bn from random weights, 32 px, 2 epochs, subject split."""
    run = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["train", str(synth_data), "--out", str(run), "--split", "subject", *TINY_TRAIN_FLAGS]) == 0
    return run
