"""Batch preprocessing on whatever device trains: the eval preset, and train = augmentation + preset.

Images travel as uint8 N×3×H×W tensors (already resized once when decoded); the preset scales
them to [0, 1] and normalises with the mean and std of the backbone's weights. Augmentation is the
paper's rotation, horizontal flip, shift and scale, applied by kornia to the whole batch.
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
from torch import nn

from facepalsy.config import Config
from facepalsy.models.network_parts import Normalize
from facepalsy.models.spec import Preprocess


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

    def forward(self, images: torch.Tensor, params: list | None = None) -> torch.Tensor:
        """``params``: kornia's augmentation parameters for this batch (the feature bank's fixed views); else drawn
        now."""
        scaled = images.float() / 255.0
        augmented = (self.augment(scaled, params=params) if params is not None else self.augment(scaled)) * 255.0
        return self.normalize(augmented)
