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
from facepalsy.models.backbones import BACKBONES, LAYER_TABLE, backbone_spec
from facepalsy.models.spec import Preprocess


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


class VGGClassifier(nn.Module):
    """A VGG convolution stack (``features``) followed by :class:`PalsyHead` (``head``)."""

    def __init__(self, name: str, num_classes: int = 2):
        super().__init__()
        spec = backbone_spec(name)
        self.name = name
        self.features = make_features(LAYER_TABLE[spec.layers], spec.batch_norm)
        self.head = PalsyHead(num_classes=num_classes)
        self._init_weights()

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

    def _init_weights(self) -> None:
        # torchvision's initialisation, so "weights: none" trains as torchvision's would.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)


def create_model(name: str, num_classes: int = 2, weights: str | Path = "none") -> VGGClassifier:
    """Build a backbone by name with the paper's head.

    ``weights``: ``"imagenet"`` (official file, hash-checked, through torch's hub cache),
    ``"none"`` (random initialisation) or a path to a ``.pth`` state dict with torchvision or
    facepalsy parameter names.
    """
    model = VGGClassifier(name, num_classes=num_classes)
    if str(weights) == "none":
        return model
    if str(weights) == "imagenet":
        state = load_imagenet_state_dict(name)
        source = f"ImageNet weights {BACKBONES[name].imagenet.filename}"
    else:
        state = read_state_dict(Path(weights))
        source = str(weights)
    load_backbone_weights(model, state, source)
    return model


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
            f"or --weights none to train from random weights."
        ) from exc


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


def load_backbone_weights(model: VGGClassifier, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy every ``features.*`` tensor (and ``head.*`` if present); refuse any mismatch.

    torchvision's ImageNet ``classifier.*`` is ignored: the paper replaces it with its own head.
    """
    own = model.state_dict()
    feature_keys = [k for k in own if k.startswith("features.")]
    missing = [k for k in feature_keys if k not in state]
    if missing:
        raise FacepalsyError(
            f"{source}: does not fit backbone {model.name}: {len(missing)} of {len(feature_keys)} "
            f"feature tensors missing (first: {missing[0]}); is it the file of another backbone?"
        )
    wanted = feature_keys + [k for k in own if k.startswith("head.") and k in state]
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in wanted if state[k].shape != own[k].shape]
    if wrong:
        raise FacepalsyError(f"{source}: does not fit backbone {model.name}: shape mismatch {wrong[0]}")
    extra = [k for k in state if k.startswith("features.") and k not in own]
    if extra:
        raise FacepalsyError(f"{source}: has layers backbone {model.name} lacks (first: {extra[0]}); another backbone?")
    model.load_state_dict({k: state[k] for k in wanted}, strict=False)


class Normalize(nn.Module):
    """uint8 (or [0, 255] float) batch → float batch normalised as the weights expect."""

    def __init__(self, preprocess: Preprocess):
        super().__init__()
        self.register_buffer("mean", torch.tensor(preprocess.mean).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(preprocess.std).view(1, 3, 1, 1) * 255.0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() - self.mean) / self.std
