"""Batch preprocessing on whatever device trains: the eval preset, and train = augmentation + preset.

Images travel as uint8 N×3×H×W tensors (already resized once when decoded); the preset scales
them to [0, 1] and normalises with the mean and std of the backbone's weights. Augmentation is the
paper's rotation, horizontal flip, shift and scale, applied by kornia to the whole batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import kornia.augmentation as K
import torch
from torch import nn

from facepalsy.training.config import Config
from facepalsy.models.vgg import BACKBONES, IMAGENET_MEAN, IMAGENET_STD, backbone_spec


@dataclass(frozen=True)
class Preprocess:
    """What the weights expect: input size and normalisation. Saved with every model."""

    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def for_config(cls, config: Config) -> "Preprocess":
        if config.backbone not in BACKBONES:  # the landmark baseline: no weights, ImageNet statistics by convention
            return cls(config.image_size, IMAGENET_MEAN, IMAGENET_STD)
        weights = backbone_spec(config.backbone).imagenet
        return cls(config.image_size, weights.mean, weights.std)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "Preprocess":
        return cls(int(values["image_size"]), tuple(values["mean"]), tuple(values["std"]))


class Normalize(nn.Module):
    """uint8 (or [0, 255] float) batch → float batch normalised as the weights expect."""

    def __init__(self, preprocess: Preprocess):
        super().__init__()
        self.register_buffer("mean", torch.tensor(preprocess.mean).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(preprocess.std).view(1, 3, 1, 1) * 255.0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() - self.mean) / self.std


def train_augmentation(config: Config) -> nn.Module:
    """Random rotation, shift and scale in one affine warp, plus horizontal flips (on [0, 1] floats)."""
    scale = (1 - config.scale_range, 1 + config.scale_range)
    return K.AugmentationSequential(
        K.RandomAffine(
            degrees=config.rotation_degrees,
            translate=(config.shift_fraction, config.shift_fraction),
            scale=scale,
            padding_mode="reflection",
            p=1.0,
        ),
        K.RandomHorizontalFlip(p=0.5),
    )


class TrainTransform(nn.Module):
    """Augmentation followed by the eval preset, on a uint8 batch."""

    def __init__(self, config: Config, preprocess: Preprocess):
        super().__init__()
        self.augment = train_augmentation(config) if config.augment else nn.Identity()
        self.normalize = Normalize(preprocess)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        augmented = self.augment(images.float() / 255.0) * 255.0
        return self.normalize(augmented)
