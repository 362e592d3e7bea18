"""The synthetic data set: the data contract, determinism, and no class shortcut."""

from __future__ import annotations

import csv
import hashlib

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from facepalsy.app.cli import main
from facepalsy.data.dataset import load_images, scan_dataset
from facepalsy.data.synth import make_synthetic_dataset


def test_writes_the_data_contract_with_manifest(tmp_path):
    out = tmp_path / "data"
    assert (
        main(
            ["synth", "--out", str(out), "--subjects", "5", "--images-per-subject", "3", "--size", "40", "--seed", "2"]
        )
        == 0
    )
    with (out / "manifest.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 15
    assert {r["label"] for r in rows} == {"palsy", "normal"}
    assert sum(r["label"] == "palsy" for r in rows) == 2 * 3  # 5 // 2 palsy subjects
    for row in rows:
        assert (out / row["path"]).is_file() and row["path"].startswith(f"{row['label']}/{row['subject']}/")
        assert (row["side"] in ("left", "right")) == (row["label"] == "palsy")
        assert (float(row["severity"]) >= 0.4) == (row["label"] == "palsy")
    samples = scan_dataset(out)
    assert len({s.subject for s in samples}) == 5
    images, _, bad = load_images(out, samples, 40, progress=False)
    assert images.shape == (15, 3, 40, 40) and not bad


def test_same_seed_same_bytes(tmp_path):
    digest = []
    for name in ("a", "b"):
        out = make_synthetic_dataset(tmp_path / name, subjects=2, images_per_subject=2, seed=9, size=32, progress=False)
        digest.append(sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in out.rglob("*.jpg")))
    assert digest[0] == digest[1]


def _colour_histograms(images: np.ndarray, bins: int = 8) -> np.ndarray:
    """Per-channel intensity histograms plus image mean and std: no geometry at all."""
    feats = []
    for img in images.astype(np.float32):
        hist = [np.histogram(channel, bins=bins, range=(0, 256))[0] / channel.size for channel in img]
        feats.append(np.concatenate([*hist, img.mean(axis=(1, 2)) / 255, img.std(axis=(1, 2)) / 255]))
    return np.array(feats)


def _histogram_accuracy(data, tint_palsy: bool = False) -> float:
    samples = scan_dataset(data)
    images, _, _ = load_images(data, samples, 64, progress=False)
    labels = np.array([s.label for s in samples])
    if tint_palsy:  # positive control: a colour cast on one class, as from a different camera
        shifted = images.astype(int)
        shifted[labels == 1, 0] += 40
        shifted[labels == 1, 2] -= 40
        images = np.clip(shifted, 0, 255).astype(np.uint8)
    groups = [s.subject for s in samples]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    cv = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    return cross_val_score(clf, _colour_histograms(images), labels, groups=groups, cv=cv).mean()


def test_no_colour_or_background_shortcut(tmp_path):
    data = make_synthetic_dataset(tmp_path / "d", subjects=200, images_per_subject=2, seed=3, size=64, progress=False)
    accuracy = _histogram_accuracy(data)
    assert accuracy < 0.65, f"colour histograms alone separate the classes ({accuracy:.2f}): a shortcut"
    assert _histogram_accuracy(data, tint_palsy=True) > 0.85  # the check would see a shortcut if there were one


def test_a_lid_warp_squeezes_the_opening_without_folding_the_image():
    from facepalsy.data.synth import close_eyelids

    rows = np.repeat(np.arange(200, dtype=np.float32)[:, None], 200, axis=1)  # each pixel holds its own row
    image = np.dstack([rows] * 3)
    upper, lower = np.array([100.0, 90.0]), np.array([100.0, 110.0])
    for closed in (0.0, 0.5, 1.0):
        warped = close_eyelids(image, upper, lower, width=40, closed=closed)[:, :, 0]
        assert (np.diff(warped, axis=0) >= -1e-3).all()  # every column still runs top to bottom: nothing folds
        opening = ((warped[:, 100] > 90.5) & (warped[:, 100] < 109.5)).sum()  # rows still showing the eye's inside
        assert opening == pytest.approx(19 * (1 - closed), abs=1.5)
        assert np.allclose(warped[:, 0], rows[:, 0], atol=0.5)  # far from the eye, the photo is as it was
