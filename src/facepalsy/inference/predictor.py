"""Inference: palsy probabilities for decoded batches, image files or folders."""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from facepalsy.training.augment import Normalize, Preprocess
from facepalsy.training.config import PRECISIONS
from facepalsy.data.dataset import CLASSES, IMAGE_EXTENSIONS, PALSY, load_image, load_resized, resize_square
from facepalsy.errors import BadImageError, FacepalsyError, display_path
from facepalsy.face.detect import crop_face
from facepalsy.models.vgg import VGGClassifier
from facepalsy.runfolder import TrainedModel


def use_bf16(precision: str, device: torch.device) -> bool:
    """bf16 autocast where it is fast: CUDA GPUs, and CPUs with native bf16 (AVX-512 BF16, AMX)."""
    if precision not in PRECISIONS:
        raise FacepalsyError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return False
    supported = device.type == "cuda" or (device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if precision == "bf16" and not supported:
        raise FacepalsyError(f"bf16 is not supported on this {device.type}; use --precision fp32 or auto")
    return supported


@torch.inference_mode()
def predict_probabilities(
    model: VGGClassifier, preprocess: Preprocess, images: np.ndarray, batch_size: int = 32, precision: str = "auto"
) -> np.ndarray:
    """Palsy probability per image of an N×3×H×W uint8 array (already at the model's size).

    The fast path: inference mode, channels-last memory layout, and bf16 autocast where the
    hardware has it (``precision="fp32"`` turns it off; labels agree with fp32 on ≥ 99% of images).
    """
    model.eval()
    device = next(model.parameters()).device
    bf16 = use_bf16(precision, device)
    model = model.to(memory_format=torch.channels_last)
    normalize = Normalize(preprocess).to(device)
    out = []
    for start in range(0, len(images), batch_size):
        batch = normalize(torch.tensor(images[start : start + batch_size], device=device)).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(batch)
        out.append(torch.softmax(logits.float(), dim=1)[:, PALSY].cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def predict_images(trained: TrainedModel, images: np.ndarray) -> np.ndarray:
    """Palsy probabilities of a run's model, CNN or landmark baseline, for N×3×H×W uint8 images."""
    if trained.engine is not None:
        return trained.engine.predict_proba(images)
    if isinstance(trained.model, VGGClassifier):
        return predict_probabilities(trained.model, trained.preprocess, images, trained.config.batch_size, trained.precision)
    return trained.model.predict_proba(images)


@dataclass
class Prediction:
    path: str
    label: str | None = None
    prob_palsy: float | None = None
    error: str | None = None
    cam: str | None = None  # the Grad-CAM overlay written for this image
    faces: int | None = None  # faces found, for runs trained on face crops (the largest is used)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def expand_inputs(inputs: list[str | Path]) -> list[Path]:
    """Files as given; folders replaced by the images they hold (recursively, sorted)."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()))
        else:
            paths.append(item)
    return paths


def predict_files(trained: TrainedModel, inputs: list[str | Path], threshold: float = 0.5, cam_dir: Path | None = None) -> list[Prediction]:
    """Predict each image; an unreadable one gets an ``error`` and the rest still run.

    Images are decoded by a thread pool one batch ahead of the network, so decoding overlaps
    compute and memory holds two batches, however many files there are. With ``cam_dir``, a
    Grad-CAM overlay of each image is written there in the same pass.
    """
    paths = expand_inputs(inputs)
    if not paths:
        raise FacepalsyError("no images given (folders are searched for " + ", ".join(sorted(IMAGE_EXTENSIONS)) + ")")
    results = [Prediction(display_path(p)) for p in paths]
    batch = trained.config.batch_size
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:

        def decode_batch(start: int) -> list[tuple[int, Future]]:
            return [(i, pool.submit(_decode_for_model, trained, paths[i])) for i in range(start, min(start + batch, len(paths)))]

        pending = decode_batch(0)
        for start in range(0, len(paths), batch):
            current, pending = pending, decode_batch(start + batch)  # the next batch decodes while this one computes
            arrays, good = [], []
            for i, future in current:
                try:
                    array, results[i].faces = future.result()
                    arrays.append(array)
                    good.append(i)
                except BadImageError as exc:
                    results[i].error = exc.reason
            if arrays:
                _predict_batch(trained, np.stack(arrays), good, results, paths, threshold, cam_dir)
    return results


def _decode_for_model(trained: TrainedModel, path: Path) -> tuple[np.ndarray, int | None]:
    """CHW uint8 at the model's size (the aligned face crop for face-crop runs) and the faces found."""
    if trained.config.face_crop:
        crop, face = crop_face(np.asarray(load_image(path)), trained.preprocess.image_size, path)
        return crop.transpose(2, 0, 1), face.faces_found
    return load_resized(path, trained.preprocess.image_size).transpose(2, 0, 1), None


def _predict_batch(
    trained: TrainedModel, images: np.ndarray, indices: list[int], results: list[Prediction], paths: list[Path], threshold: float, cam_dir: Path | None,
) -> None:
    """Fill ``results[i]`` for the decoded ``images`` of inputs ``indices``; overlays are named by input number."""
    for i, prob in zip(indices, predict_images(trained, images)):
        results[i].prob_palsy = float(prob)
        results[i].label = CLASSES[int(prob >= threshold)]
    if cam_dir is None:
        return
    from facepalsy.inference.explain import gradcam, save_overlay

    for i, image, heatmap in zip(indices, images, gradcam(trained.model, trained.preprocess, images)):
        target = Path(cam_dir) / f"{i:04d}_{paths[i].stem}_cam.png"
        save_overlay(target, image, heatmap, results[i].prob_palsy, threshold)
        results[i].cam = str(target)


@dataclass
class VideoVerdict:
    path: str
    label: str | None
    prob_palsy: float | None  # mean over the frames with a face
    frames: int
    frames_with_face: int
    timeline: str | None = None
    error: str | None = None

    @property
    def face_fraction(self) -> float:
        return self.frames_with_face / self.frames if self.frames else 0.0

    def to_dict(self) -> dict:
        return {"kind": "video", **{k: v for k, v in self.__dict__.items() if v is not None}, "face_fraction": self.face_fraction}


def predict_video(trained: TrainedModel, path: Path, out: Path, fps: float = 6.0, threshold: float = 0.5) -> VideoVerdict:
    """Score a video: frames at ``fps``, the largest face of each (aligned if the run trained on face crops).

    Frames without a usable face are left out of the verdict and counted. Writes
    ``out/timeline.png`` (palsy probability over time) and ``out/frames.csv``.
    """
    import cv2

    from facepalsy.io import atomic_write_csv
    from facepalsy.data.prepare import video_frames
    from facepalsy.evaluation.report import plot_timeline

    size = trained.preprocess.image_size
    times, arrays, total = [], [], 0
    try:
        for time, bgr in video_frames(path, fps):
            total += 1
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            try:
                crop, _ = crop_face(rgb, size, path)
            except BadImageError:
                continue
            frame = crop if trained.config.face_crop else resize_square(Image.fromarray(rgb), size)
            times.append(time)
            arrays.append(frame.transpose(2, 0, 1))
    except FacepalsyError as exc:
        return VideoVerdict(str(path), None, None, total, 0, error=str(exc))
    if total == 0:
        return VideoVerdict(str(path), None, None, 0, 0, error="no decodable frame")
    if not arrays:
        return VideoVerdict(str(path), None, None, total, 0, error=f"no usable face in any of {total} frames")
    probs = predict_images(trained, np.stack(arrays))
    mean = float(probs.mean())
    rows = [{"frame_time": f"{t:.3f}", "prob_palsy": f"{p:.6f}"} for t, p in zip(times, probs)]
    atomic_write_csv(out / "frames.csv", ["frame_time", "prob_palsy"], rows)
    plot_timeline(np.array(times), probs, out / "timeline.png", threshold, title=f"{path.name}: p(palsy) {mean:.2f}, face in {len(arrays)}/{total} frames")
    return VideoVerdict(str(path), CLASSES[int(mean >= threshold)], mean, total, len(arrays), str(out / "timeline.png"))


def predict_video_files(trained: TrainedModel, videos: list[Path], out: Path, fps: float = 6.0, threshold: float = 0.5) -> list[VideoVerdict]:
    """A verdict per video; each writes into ``out/VIDEO_STEM/``."""
    return [predict_video(trained, video, out / video.stem, fps, threshold) for video in videos]
