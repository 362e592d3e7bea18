"""ONNX export and the onnxruntime engine give PyTorch's answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facepalsy.app.cli import main
from facepalsy.data.dataset import load_images, scan_dataset
from facepalsy.inference.export import export_onnx
from facepalsy.inference.network import predict_probabilities
from facepalsy.inference.onnx_engine import OnnxEngine
from facepalsy.inference.predictor import load


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


def test_onnx_file_carries_the_run_spec_and_the_engine_reads_it(tiny_run, tmp_path):
    import onnx

    predictor = load(tiny_run)
    path, _ = export_onnx(predictor, tiny_run / "model.onnx")
    try:
        props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert props["classes"] == "normal,palsy" and props["image_size"] == "32"
        assert props["threshold"] == f"{predictor.spec.operating_point.threshold:.6f}"
        temperature = predictor.spec.temperature  # None when the run kept its probabilities uncalibrated
        assert props["temperature"] == ("" if temperature is None else f"{temperature:.6f}")
        assert props["facepalsy.version"] and len(props["facepalsy.run_id"]) == 16
        engine = OnnxEngine(path)
        assert engine.spec() == predictor.spec  # read back from the file alone
        assert load(tiny_run, engine="onnx").spec == predictor.spec
        copy = tmp_path / "run"  # a model.onnx that belongs to another model.pt is refused
        import shutil

        shutil.copytree(tiny_run, copy)
        import torch

        payload = torch.load(copy / "model.pt", weights_only=True)
        payload["spec"]["temperature"] = 2.0
        torch.save(payload, copy / "model.pt")
        with pytest.raises(Exception, match="not exported from this run's model.pt"):
            load(copy, engine="onnx")
    finally:
        path.unlink()


def test_int8_export_agrees_with_fp32_and_runs_as_an_engine(tmp_path, synth_data, capsys, monkeypatch):
    """A frozen-backbone run, quantised on its own training images: labels and probabilities within the limits, or no
    file."""
    from conftest import TINY_TRAIN_FLAGS

    run = tmp_path / "run"
    flags = [f for f in TINY_TRAIN_FLAGS if f != "--finetune"]
    assert main(["train", str(synth_data), "--out", str(run), "--split", "subject", *flags, "--epochs", "4"]) == 0
    capsys.readouterr()
    assert main(["export", str(run), "--format", "onnx-int8", "--calibration-images", "24"]) == 0
    figures = json.loads((run / "model-int8.json").read_text())
    assert (
        figures["calibration_images"] == 24
        and figures["label_agreement"] >= 0.99
        and figures["delta_p_95th_percentile"] <= 0.02
    )
    images, _, _ = load_images(synth_data, scan_dataset(synth_data), 32, progress=False)
    int8, fp32 = load(run, engine="onnx-int8").probabilities(images), load(run, precision="fp32").probabilities(images)
    assert np.percentile(np.abs(int8 - fp32), 95) <= 0.05
    image = str(next((synth_data / "palsy").rglob("*.jpg")))
    assert main(["predict", str(run), image, "--json", "--engine", "onnx-int8"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["label"] in ("palsy", "normal"), out

    import facepalsy.inference.export as export

    monkeypatch.setattr(
        export, "INT8_LABEL_AGREEMENT", 1.01
    )  # limits no file can meet: refused, named, nothing left behind
    assert main(["export", str(run), "--format", "onnx-int8", "--calibration-images", "24"]) == 2
    assert "not written" in capsys.readouterr().err and not (run / "model-int8.onnx").exists()
    assert json.loads((run / "model-int8.json").read_text())["kept"] is False  # the refused measurement stays on record
