"""Inference: palsy probabilities for decoded batches, image files or folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facepalsy.augment import Normalize, Preprocess
from facepalsy.data import CLASSES, IMAGE_EXTENSIONS, PALSY, load_resized
from facepalsy.errors import BadImageError, FacepalsyError
from facepalsy.models import VGGClassifier
from facepalsy.run import TrainedModel


@torch.inference_mode()
def predict_probabilities(model: VGGClassifier, preprocess: Preprocess, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Palsy probability per image of an N×3×H×W uint8 array (already at the model's size)."""
    model.eval()
    normalize = Normalize(preprocess)
    out = []
    for start in range(0, len(images), batch_size):
        batch = torch.tensor(images[start : start + batch_size])  # a copy: the input may be read-only
        out.append(torch.softmax(model(normalize(batch)), dim=1)[:, PALSY])
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


@dataclass
class Prediction:
    path: str
    label: str | None = None
    prob_palsy: float | None = None
    error: str | None = None
    cam: str | None = None  # the Grad-CAM overlay written for this image

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


def predict_files(
    trained: TrainedModel, inputs: list[str | Path], threshold: float = 0.5, batch_size: int = 32, cam_dir: Path | None = None
) -> list[Prediction]:
    """Predict each image; an unreadable one gets an ``error`` and the rest still run.

    With ``cam_dir``, a Grad-CAM overlay of each image is written there in the same pass.
    """
    paths = expand_inputs(inputs)
    if not paths:
        raise FacepalsyError("no images given (folders are searched for " + ", ".join(sorted(IMAGE_EXTENSIONS)) + ")")
    results = [Prediction(str(p)) for p in paths]
    arrays, good = [], []
    for i, path in enumerate(paths):
        try:
            arrays.append(load_resized(path, trained.preprocess.image_size, trained.config.face_crop).transpose(2, 0, 1))
            good.append(i)
        except BadImageError as exc:
            results[i].error = exc.reason
    if not arrays:
        return results
    images = np.stack(arrays)
    probs = predict_probabilities(trained.model, trained.preprocess, images, batch_size)
    for i, prob in zip(good, probs):
        results[i].prob_palsy = float(prob)
        results[i].label = CLASSES[int(prob >= threshold)]
    if cam_dir is not None:
        from facepalsy.explain import gradcam, save_overlay

        heatmaps = gradcam(trained.model, trained.preprocess, images)
        for k, (i, image, heatmap) in enumerate(zip(good, images, heatmaps)):
            target = Path(cam_dir) / f"{k:04d}_{paths[i].stem}_cam.png"
            save_overlay(target, image, heatmap, results[i].prob_palsy, threshold)
            results[i].cam = str(target)
    return results
