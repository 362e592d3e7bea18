"""What every CNN of the package shares: the paper's head, the base class the rest of the package talks to, reading a
weights file, and the normalisation the weights expect.

A network is a :class:`PalsyNetwork`: a ``features`` module (image → feature map) and a ``head`` (feature map →
logits); training, the feature cache, Grad-CAM, the Predictor and ONNX export need nothing else of it
(``docs/add-a-model.md``). VGG (``vgg.py``) and EfficientNet-Lite0 (``efficientnet.py``) are the two families.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from facepalsy.errors import FacepalsyError
from facepalsy.models.spec import Preprocess


class PalsyNetwork(nn.Module):
    """``features`` then ``head``; subclasses build both and set ``name``."""

    name: str
    features: nn.Module
    head: nn.Module

    @property
    def last_conv_layer(self) -> str:
        """Name of the last convolution, where Grad-CAM looks."""
        last = [n for n, m in self.features.named_modules() if isinstance(m, nn.Conv2d)][-1]
        return f"features.{last}"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits; apply softmax for probabilities (index 1 = palsy)."""
        return self.forward_head(self.forward_features(x))

    def set_backbone_trainable(self, trainable: bool) -> None:
        for param in self.features.parameters():
            param.requires_grad_(trainable)

    def init_weights(self) -> None:
        """torchvision's initialisation (EfficientNet's reference uses the same), so that "weights: none" trains as
        theirs would: He for convolutions, unit batch norm, a small normal for dense layers, zero biases."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)


class PalsyHead(nn.Sequential):
    """The paper's head: GAP → flatten (512) → Dense 512 + ReLU → Dropout 0.2 → Dense num_classes."""

    def __init__(self, in_features: int = 512, hidden: int = 512, num_classes: int = 2, dropout: float = 0.2):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(in_features, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        """The head after pooling and flattening: N×512 → logits (the feature cache feeds this)."""
        return self.fc2(self.dropout(self.relu(self.fc1(pooled))))


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FacepalsyError(f"{path}: weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; all mean "unusable"
        raise FacepalsyError(f"{path}: cannot read weights ({type(exc).__name__}: {exc})") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FacepalsyError(f"{path}: not a state dict of tensors")
    return state


class Normalize(nn.Module):
    """uint8 (or [0, 255] float) batch → float batch normalised as the weights expect."""

    def __init__(self, preprocess: Preprocess):
        super().__init__()
        self.register_buffer("mean", torch.tensor(preprocess.mean).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(preprocess.std).view(1, 3, 1, 1) * 255.0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() - self.mean) / self.std
