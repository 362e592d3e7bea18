"""The video figures of ``facepalsy bench``: a 60 s 720p clip analysed as the exam with ``--run`` does it, per engine,
against the same run's own yardstick (one image through the network plus one landmark measure of a frame), and the
verdicts of the tracked path against a search of every frame; with the CPU's features, which decide the engines'
speed."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from facepalsy.bench.figures import CpuInfo, EngineVideoFigures, SearchedFigures, VideoFigures
from facepalsy.bench.timing import face_photo, timed
from facepalsy.data.model_input import FacePolicy
from facepalsy.face.norms import Norms
from facepalsy.inference.predictor import Predictor
from facepalsy.models.registry import create_model
from facepalsy.models.spec import ModelSpec, Preprocess

CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_tile")


def cpu_features() -> CpuInfo:
    """The CPU's name, torch's vector capability and the instruction-set flags that decide bf16 and int8 speed."""
    import platform

    import torch

    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and ":" in line:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass  # not Linux: the name from platform, no flags
    return CpuInfo(
        name, torch.backends.cpu.get_cpu_capability(), {flag: flag in flags for flag in CPU_FLAGS}, os.cpu_count()
    )


def _clip(path: Path, seconds: int) -> None:
    """A 30 fps 1280×720 clip of a drawn face swaying sideways."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (1280, 720))
    face = cv2.cvtColor(np.asarray(face_photo((360, 360))), cv2.COLOR_RGB2BGR)
    background = np.full((720, 1280, 3), 120, np.uint8)
    for i in range(30 * seconds):
        frame = background.copy()
        x = 460 + int(80 * np.sin(i / 40))
        frame[180:540, x : x + 360] = face
        writer.write(frame)
    writer.release()


def _landmark_measure_ms(clip: Path, fps: float) -> float:
    """Median ms of one landmark measure of a frame as a search of every frame makes it: the whole-frame face search,
    then the measure of the mesh it found."""
    import cv2

    from facepalsy.data.prepare import video_frames
    from facepalsy.face.asymmetry import found_asymmetry
    from facepalsy.face.detect import largest_face

    frames = [cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) for _, (_, bgr) in zip(range(12), video_frames(clip, fps))]

    def measure(rgb: np.ndarray) -> None:
        found_asymmetry(largest_face(rgb, backend="mediapipe"))

    return 1000 * statistics.median(timed(lambda rgb=rgb: measure(rgb), 1) for rgb in frames)


def _analyse(predictor: Predictor, clip: Path, norms: Norms, fps: float, out: Path, track: bool) -> tuple[dict, float]:
    from facepalsy.workflows.exam_video import exam_video

    start = time.perf_counter()
    measured, video = exam_video(clip, norms, fps, frames_for=predictor, track=track)
    verdict = predictor.video_verdict(clip, video["cnn_frames"], out)
    return {"measured": measured, "video": video, "verdict": verdict}, time.perf_counter() - start


def _agreement(tracked: dict, searched: dict, seconds: float) -> SearchedFigures:
    """The tracked path's verdicts against those of a face search in every frame."""
    regions = tracked["video"]["timeline"]["regions"]
    differences = [
        abs(a - b)
        for region, scores in regions.items()
        for a, b in zip(scores, searched["video"]["timeline"]["regions"][region])
        if a is not None and b is not None
    ]
    return SearchedFigures(
        analysis_seconds=seconds,
        ms_per_frame=1000 * seconds / searched["video"]["frames"],
        same_video_label=tracked["verdict"].label == searched["verdict"].label,
        mean_p_palsy_difference=abs(tracked["verdict"].prob_palsy - searched["verdict"].prob_palsy),
        same_rest_frame=tracked["video"]["rest_time"] == searched["video"]["rest_time"],
        same_peak_frames=all(
            tracked["video"]["peaks"][r]["time"] == searched["video"]["peaks"][r]["time"]
            for r in tracked["video"]["peaks"]
        ),
        frames_measured=[tracked["video"]["frames_measured"], searched["video"]["frames_measured"]],
        region_score_difference_median=float(np.median(differences)) if differences else None,
        region_score_difference_max=float(max(differences)) if differences else None,
    )


def bench_video(backbone: str = "vgg16", seconds: int = 60, fps: float = 6.0, size: int = 224) -> VideoFigures:
    """A ``seconds`` s, 30 fps, 1280×720 clip of a drawn face, analysed at ``fps`` as the exam with --run does
    (decode, face, landmarks, CNN) on each engine: seconds per analysed frame against one image through that engine
    plus one landmark measure (the ``yardstick``), real-time factor, and the tracked path's agreement with a search
    of every frame. Needs the face extra."""
    from facepalsy.face.norms import load_norms

    model = create_model(backbone).eval()
    spec = ModelSpec(backbone, Preprocess.for_backbone(backbone, size), FacePolicy(required=True))  # new runs
    figures: dict[str, EngineVideoFigures] = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        _clip(clip, seconds)
        engines = {"torch": Predictor(spec, model)}
        calibration = np.stack([np.asarray(face_photo((size, size), seed)).transpose(2, 0, 1) for seed in range(16)])
        try:
            from facepalsy.inference.export import write_onnx_int8
            from facepalsy.inference.onnx_engine import OnnxEngine

            path = write_onnx_int8(engines["torch"], calibration, Path(tmp) / "int8.onnx")
            engines["onnx-int8"] = Predictor(spec, model, onnx=OnnxEngine(path))
        except ImportError:
            pass  # onnxruntime not installed: the torch engine alone
        norms = load_norms()
        landmark_ms = _landmark_measure_ms(clip, fps)
        for name, predictor in engines.items():
            network_ms = 1000 * timed(lambda p=predictor: p.probabilities(calibration[:1]), 10)
            analysis, elapsed = _analyse(predictor, clip, norms, fps, Path(tmp) / name, track=True)
            frames = analysis["video"]["frames"]
            figures[name] = EngineVideoFigures(
                frames_analysed=frames,
                frames_measured=analysis["video"]["frames_measured"],
                face_searches=analysis["video"]["face_searches"],
                analysis_seconds=elapsed,
                real_time_factor=seconds / elapsed,
                ms_per_frame=1000 * elapsed / frames,
                network_one_image_ms=network_ms,
                per_frame_over_yardstick=(1000 * elapsed / frames) / (network_ms + landmark_ms),
            )
            if name == "torch":
                searched, searched_seconds = _analyse(predictor, clip, norms, fps, Path(tmp) / "searched", track=False)
                agreement = _agreement(analysis, searched, searched_seconds)
    return VideoFigures(seconds, 30, "1280x720", fps, landmark_ms, figures, agreement)
