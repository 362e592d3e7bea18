"""The VGG configurations by name: each one's layer table and ImageNet weights (file, URL, preprocessing).

Kept apart from the networks (``vgg.py``) so that reading a run's spec, the CLI's choices and a config need no
torch: ``facepalsy asymmetry`` and ``exam`` start without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from facepalsy.errors import FacepalsyError

# Convolution widths per VGG configuration; "M" is a 2×2 max pool (torchvision's table).
LAYER_TABLE: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HUB_URL = "https://download.pytorch.org/models/"


@dataclass(frozen=True)
class Weights:
    """ImageNet weights of one backbone: where they live and the preprocessing they expect."""

    filename: str  # torchvision's name; the part after the dash is the SHA-256 prefix checked on download
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @property
    def url(self) -> str:
        return HUB_URL + self.filename


@dataclass(frozen=True)
class BackboneSpec:
    layers: str
    batch_norm: bool
    imagenet: Weights


BACKBONES: dict[str, BackboneSpec] = {
    "vgg11": BackboneSpec("A", False, Weights("vgg11-8a719046.pth")),
    "vgg11_bn": BackboneSpec("A", True, Weights("vgg11_bn-6002323d.pth")),
    "vgg13": BackboneSpec("B", False, Weights("vgg13-19584684.pth")),
    "vgg13_bn": BackboneSpec("B", True, Weights("vgg13_bn-abd245e5.pth")),
    "vgg16": BackboneSpec("D", False, Weights("vgg16-397923af.pth")),
    "vgg16_bn": BackboneSpec("D", True, Weights("vgg16_bn-6c64b313.pth")),
    "vgg19": BackboneSpec("E", False, Weights("vgg19-dcbb9e9d.pth")),
    "vgg19_bn": BackboneSpec("E", True, Weights("vgg19_bn-c79401a0.pth")),
}


def list_models() -> list[str]:
    return sorted(BACKBONES)


def backbone_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise FacepalsyError(
            f"unknown backbone {name!r}; valid backbones: {', '.join(list_models())} "
            f"(and 'landmarks', the landmark model, for train and cv)"
        )
    return BACKBONES[name]
