"""Grad-CAM heatmaps (captum's LayerGradCam on the backbone's last convolution) and their overlays.

Needs the ``explain`` extra (captum). The layer comes from the model registry
(``PalsyNetwork.last_conv_layer``), as MONAI's Grad-CAM takes a layer by name.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from torch import nn

from facepalsy.data.dataset import CLASSES, PALSY
from facepalsy.errors import FacepalsyError
from facepalsy.models.network_parts import Normalize, PalsyNetwork
from facepalsy.models.operating_point import is_palsy
from facepalsy.models.spec import Preprocess

EXPLAIN_INSTALL = "pip install 'captum>=0.7'  (or: bash scripts/setup)"


def _layer_gradcam():
    try:
        from captum.attr import LayerAttribution, LayerGradCam
    except ImportError as exc:
        raise FacepalsyError(f"Grad-CAM needs captum, which is not installed: {EXPLAIN_INSTALL}") from exc
    return LayerGradCam, LayerAttribution


def gradcam(
    model: PalsyNetwork, preprocess: Preprocess, images: np.ndarray, target: int = PALSY, batch_size: int = 16
) -> np.ndarray:
    """Heatmaps in [0, 1] of shape N×H×W (the input's size) for class ``target`` of uint8 N×3×H×W images."""
    if not isinstance(model, PalsyNetwork):
        raise FacepalsyError("Grad-CAM needs a CNN backbone; this run is the landmark-asymmetry baseline")
    LayerGradCam, LayerAttribution = _layer_gradcam()
    explained = copy.deepcopy(model).eval()
    for module in explained.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False  # captum's hooks need the layer output untouched
    layer = explained.get_submodule(explained.last_conv_layer)
    cam = LayerGradCam(explained, layer)
    normalize = Normalize(preprocess)
    maps = []
    for start in range(0, len(images), batch_size):
        batch = normalize(torch.tensor(images[start : start + batch_size]))
        attribution = cam.attribute(batch, target=target, relu_attributions=True)
        upsampled = LayerAttribution.interpolate(attribution, tuple(batch.shape[-2:]), interpolate_mode="bilinear")
        maps.append(upsampled[:, 0].detach())
    heat = torch.cat(maps).clamp(min=0)
    peak = heat.flatten(1).amax(dim=1).clamp(min=1e-12).view(-1, 1, 1)
    return (heat / peak).numpy()


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a [0, 1] heatmap (jet colour map) onto a CHW uint8 image; returns HWC uint8."""
    import matplotlib

    colours = matplotlib.colormaps["jet"](heatmap)[..., :3]
    base = image.transpose(1, 2, 0).astype(np.float32) / 255.0
    return (255 * ((1 - alpha) * base + alpha * colours)).clip(0, 255).astype(np.uint8)


def save_overlay(path: Path, image: np.ndarray, heatmap: np.ndarray, prob_palsy: float, threshold: float = 0.5) -> None:
    """The overlay beside the face, titled with the predicted label and palsy probability."""
    import matplotlib.pyplot as plt

    from facepalsy.plots import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(6, 3.3))
    axes[0].imshow(image.transpose(1, 2, 0))
    axes[0].set_title("input")
    axes[1].imshow(overlay(image, heatmap))
    axes[1].set_title("Grad-CAM (palsy)")
    for ax in axes:
        ax.axis("off")
    fig.suptitle(f"{CLASSES[int(is_palsy(prob_palsy, threshold))]}, p(palsy) = {prob_palsy:.3f}")
    save_figure(fig, path)


def save_heatmap_grid(path: Path, rows: dict[str, list[tuple[np.ndarray, np.ndarray, float, str]]]) -> None:
    """A grid of overlays, one row per group (true positives, false positives, false negatives)."""
    import matplotlib.pyplot as plt

    from facepalsy.plots import save_figure

    width = max(1, max((len(items) for items in rows.values()), default=1))
    fig, axes = plt.subplots(len(rows), width, figsize=(2.2 * width, 2.5 * len(rows)), squeeze=False)
    for r, (group, items) in enumerate(rows.items()):
        for c in range(width):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(items):
                image, heatmap, prob, name = items[c]
                ax.imshow(overlay(image, heatmap))
                ax.set_title(f"{Path(name).name[-18:]}\np={prob:.2f}", fontsize=7)
            if c == 0:
                ax.text(-0.08, 0.5, group, transform=ax.transAxes, rotation=90, va="center", ha="right", fontsize=9)
    save_figure(fig, path)
