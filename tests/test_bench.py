"""facepalsy bench runs and reports every figure (tiny settings; the real figures are in the README)."""

from __future__ import annotations

import json

import pytest

from facepalsy.app.bench import model_gflops
from facepalsy.app.cli import main
from facepalsy.models.vgg import create_model


def test_vgg16_forward_costs_about_31_gflop_at_224():
    assert model_gflops(create_model("vgg16"), 224) == pytest.approx(30.7, rel=0.01)  # 15.35 G multiply-adds


def test_bench_reports_all_figures(capsys):
    assert main(["bench", "--backbones", "vgg11_bn", "--size", "32", "--batch", "2", "--repeats", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["matmul_peak_gflops"]["fp32"] > 0 and result["matmul_peak_gflops"]["bf16"] > 0
    (row,) = result["backbones"]
    for key in ("inference_fp32_plain_ms", "inference_fast_ms", "predict_latency_ms", "train_frozen_images_per_s",
                "train_finetune_images_per_s", "peak_memory_mb", "inference_fraction_of_peak", "speedup_vs_plain",
                "train_frozen_plain_images_per_s", "train_frozen_speedup_vs_plain", "feature_cache_epoch_fraction",
                "predict_latency_fraction_of_peak", "train_frozen_fraction_of_peak", "train_finetune_fraction_of_peak"):
        assert row[key] > 0, key
