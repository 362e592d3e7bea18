"""facepalsy bench runs and reports every figure (tiny settings; the real figures are in the README)."""

from __future__ import annotations

import json

import pytest

from facepalsy.app.cli import main
from facepalsy.bench.timing import model_gflops
from facepalsy.models.registry import create_model


def test_vgg16_forward_costs_about_31_gflop_at_224():
    assert model_gflops(create_model("vgg16"), 224) == pytest.approx(30.7, rel=0.01)  # 15.35 G multiply-adds


def test_bench_reports_all_figures(capsys):
    assert (
        main(
            [
                "bench",
                "--backbones",
                "vgg11_bn",
                "--size",
                "32",
                "--batch",
                "2",
                "--repeats",
                "1",
                "--no-extras",
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["matmul_peak_gflops"]["fp32"] > 0 and result["matmul_peak_gflops"]["bf16"] > 0
    (row,) = result["backbones"]
    for key in (
        "inference_fp32_plain_ms",
        "inference_fast_ms",
        "predict_latency_ms",
        "train_frozen_images_per_s",
        "train_finetune_images_per_s",
        "peak_memory_mb",
        "inference_fraction_of_peak",
        "speedup_vs_plain",
        "train_frozen_plain_images_per_s",
        "train_frozen_speedup_vs_plain",
        "feature_cache_epoch_fraction",
        "predict_latency_fraction_of_peak",
        "train_frozen_fraction_of_peak",
        "train_finetune_fraction_of_peak",
        "inference_int8_images_per_s",
        "int8_speedup_vs_fast_path",
        "network_one_image_ms",
        "latency_over_network_time",
    ):
        assert row[key] > 0, key


def test_bench_extras_report_their_figures_at_tiny_settings():
    """The cross-validation, landmark and video figures (the README's come from the full settings)."""
    from facepalsy.bench.extras import bench_shared_features
    from facepalsy.bench.landmark_path import bench_landmark_path
    from facepalsy.bench.video_timing import bench_video, cpu_features
    from facepalsy.face.detect import mediapipe_available

    cpu = cpu_features()
    assert cpu.name and set(cpu.flags) >= {"avx2", "avx512f", "avx512_bf16"} and cpu.torch_capability

    shared = bench_shared_features("vgg11_bn", size=32, subjects=6, images_per_subject=2, views=1, epochs=1)
    assert shared.lopo_seconds > 0 and shared.one_fold_alone_seconds > 0
    assert shared.backbone_passes_lopo <= 2 * 12  # each image's view and plain features once, for all six folds
    if not mediapipe_available():
        pytest.skip("the landmark and video figures need the face extra")
    landmarks = bench_landmark_path(count=2)
    assert landmarks.photos == 2 and landmarks.frames == 12
    assert landmarks.photo_ratio > 0 and landmarks.frame_ratio > 0 and landmarks.start_up_one_photo_s > 0
    assert landmarks.folder_photos_per_s > 0 and len(landmarks.lines()) == 3
    video = bench_video("vgg11_bn", seconds=1, size=32)
    for engine in ("torch", "onnx-int8"):
        figures = video.engines[engine]
        assert figures.frames_analysed == 6 and figures.real_time_factor > 0
        assert figures.face_searches == 1  # the drawn face sways a little: found once, then followed
        assert figures.per_frame_over_yardstick > 0 and figures.network_one_image_ms > 0
    assert video.landmark_measure_ms > 0 and isinstance(video.searched_every_frame.same_video_label, bool)
    assert json.loads(json.dumps(video.to_dict()))["torch"]["frames_analysed"] == 6  # --json keeps its layout


def test_the_accelerator_figures_run_on_any_device():
    """``bench`` reports them on a CUDA GPU; the same code, on the CPU at tiny settings, gives positive figures."""
    import torch

    from facepalsy.bench.gpu import bench_device

    figures = bench_device("vgg11_bn", torch.device("cpu"), size=32, batch=2, repeats=1, peak_n=256)
    assert figures.device == "cpu" and figures.bf16_peak_tflops > 0
    for kind in ("inference", "train_frozen", "train_finetune"):
        assert getattr(figures, f"{kind}_images_per_s") > 0 and getattr(figures, f"{kind}_fraction_of_bf16_peak") > 0
