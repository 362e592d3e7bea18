"""Shared fixtures: tiny synthetic data sets and one tiny trained run, built once per session."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch

from facepalsy.app.cli import main
from facepalsy.data.synth import make_synthetic_dataset

TINY_TRAIN_FLAGS = [
    "--backbone",
    "vgg11_bn",
    "--weights",
    "none",
    "--image-size",
    "32",
    "--epochs",
    "2",
    "--batch-size",
    "16",
    "--lr",
    "1e-3",
    "--finetune",
    "--test-fraction",
    "0.25",
    "--val-fraction",
    "0.25",
    "--no-require-face",  # drawn 48-px faces are too small for the detector; tests of the face policy draw larger ones
]


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, share the cores among the workers: each worker's torch (and every CLI it starts, through
    OMP_NUM_THREADS) using all cores would oversubscribe them, and spinning OpenMP threads then slow everyone down."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers > 1:
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first: workers start the longest runs at once and share the short ones after, instead of one long
    test ending the session alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True, scope="session")
def no_network():
    """Tests never touch the network: any connection beyond this machine fails loudly (the web page's own server is
    local)."""
    real_connect = socket.socket.connect

    def local_only(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if self.family != socket.AF_UNIX and host not in ("127.0.0.1", "::1", "localhost", "0.0.0.0"):
            raise OSError(f"a test tried to reach {address}; tests must not use the network")
        return real_connect(self, address)

    socket.socket.connect = local_only
    yield
    socket.socket.connect = real_connect


@pytest.fixture(scope="session")
def synth_data(tmp_path_factory) -> Path:
    """12 subjects (6 palsy, 6 normal) × 6 images at 48 px, with manifest.csv."""
    return make_synthetic_dataset(
        tmp_path_factory.mktemp("synth"), subjects=12, images_per_subject=6, seed=1, size=48, progress=False
    )


@pytest.fixture(scope="session")
def tiny_run(synth_data, tmp_path_factory) -> Path:
    """A finished run folder: vgg11_bn from random weights, 32 px, 2 epochs, subject split."""
    run = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["train", str(synth_data), "--out", str(run), "--split", "subject", *TINY_TRAIN_FLAGS]) == 0
    return run
