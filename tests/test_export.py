"""ONNX export and the onnxruntime engine give PyTorch's answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facepalsy.app.cli import main
from facepalsy.data.dataset import load_images, scan_dataset
from facepalsy.inference.export import OnnxEngine, export_onnx
from facepalsy.inference.predictor import load, predict_probabilities


def test_onnx_matches_pytorch_fp32(tiny_run, synth_data, tmp_path):
    predictor = load(tiny_run)
    path, difference = export_onnx(predictor, tmp_path / "model.onnx")
    assert difference < 2e-3
    images, _, _ = load_images(synth_data, scan_dataset(synth_data), 32, progress=False)
    torch_probs = predict_probabilities(predictor.model, predictor.spec.preprocess, images, precision="fp32")
    onnx_probs = OnnxEngine(path).predict_proba(images)
    assert len(images) == 72
    assert ((torch_probs >= 0.5) == (onnx_probs >= 0.5)).all()
    assert np.abs(torch_probs - onnx_probs).max() < 1e-3


def test_export_and_predict_engine_from_the_cli(tiny_run, synth_data, capsys):
    image = str(next((synth_data / "palsy").rglob("*.jpg")))
    assert main(["predict", str(tiny_run), image, "--engine", "onnx"]) == 2
    assert "facepalsy export" in capsys.readouterr().err
    assert main(["export", str(tiny_run), "--format", "onnx"]) == 0
    assert (tiny_run / "model.onnx").is_file()
    capsys.readouterr()
    assert main(["predict", str(tiny_run), image, "--json", "--precision", "fp32"]) == 0
    torch_prob = json.loads(capsys.readouterr().out)["prob_palsy"]
    assert main(["predict", str(tiny_run), image, "--json", "--engine", "onnx"]) == 0
    assert json.loads(capsys.readouterr().out)["prob_palsy"] == pytest.approx(torch_prob, abs=1e-3)
    (tiny_run / "model.onnx").unlink()  # leave the shared run as other tests expect it
