"""Grad-CAM: shape, finiteness, input dependence, and the explain / predict --cam / report outputs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import TINY_TRAIN_FLAGS

import facepalsy
from facepalsy.app.cli import main
from facepalsy.data.images import load_image, resize_square


@pytest.fixture(scope="module")
def run64(synth_data, tmp_path_factory):
    """A run at 64 px, so the last feature map is 2×2 and heatmaps can vary across the face."""
    run = tmp_path_factory.mktemp("explain") / "run"
    assert (
        main(
            ["train", str(synth_data), "--out", str(run), "--split", "subject", *TINY_TRAIN_FLAGS, "--image-size", "64"]
        )
        == 0
    )
    return run


def test_heatmaps_have_input_size_are_finite_and_depend_on_the_input(run64, synth_data):
    predictor = facepalsy.load(run64)
    files = sorted((synth_data / "palsy").rglob("*.jpg"))[:1] + sorted((synth_data / "normal").rglob("*.jpg"))[:1]
    images = np.stack([resize_square(load_image(f), 64).transpose(2, 0, 1) for f in files])
    heat = predictor.gradcam(images)
    assert heat.shape == (2, 64, 64) and np.isfinite(heat).all()
    assert heat.min() >= 0 and heat.max() <= 1
    assert np.abs(heat[0] - heat[1]).max() > 1e-3
    again = predictor.gradcam(images[:1])
    assert np.allclose(again[0], heat[0], atol=1e-5)  # deterministic, and batch-independent


def test_explain_and_predict_cam_write_overlays(run64, synth_data, tmp_path, capsys):
    images = sorted((synth_data / "palsy").rglob("*.jpg"))[:2]
    out = tmp_path / "cams"
    assert main(["explain", str(run64), *map(str, images), "--out", str(out)]) == 0
    pngs = sorted(out.glob("*_cam.png"))
    assert len(pngs) == 2
    report = (out / "report.md").read_text()
    assert all(p.name in report for p in pngs)
    capsys.readouterr()
    assert main(["predict", str(run64), str(images[0]), "--cam", str(tmp_path / "pc"), "--json"]) == 0
    assert '"cam":' in capsys.readouterr().out and len(list((tmp_path / "pc").glob("*.png"))) == 1


def test_report_has_heatmap_grid(run64):
    report = (run64 / "report.md").read_text()
    assert "![Grad-CAM examples](heatmaps.png)" in report and (run64 / "heatmaps.png").is_file()
