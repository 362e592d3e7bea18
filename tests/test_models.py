"""Model registry, the paper's head, and loading torchvision-named and hub-cached weights."""

from __future__ import annotations

import urllib.error

import pytest
import torch
from torch import nn

from facepalsy.errors import FacepalsyError
from facepalsy.models.backbones import list_models
from facepalsy.models.registry import create_model

# torchvision's parameter names, written out independently of facepalsy's layer table.
TORCHVISION_CONVS = {
    "vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
    "vgg19": [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34],
    "vgg11_bn": [0, 4, 8, 11, 15, 18, 22, 25],
}
WIDTHS = {
    "vgg16": [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512],
    "vgg19": [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512],
    "vgg11_bn": [64, 128, 256, 256, 512, 512, 512, 512],
}


def torchvision_state_dict(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under torchvision's names and shapes, as in vgg16-397923af.pth & co."""
    gen = torch.Generator().manual_seed(seed)
    state, in_ch = {}, 3
    for index, width in zip(TORCHVISION_CONVS[name], WIDTHS[name]):
        state[f"features.{index}.weight"] = torch.randn(width, in_ch, 3, 3, generator=gen)
        state[f"features.{index}.bias"] = torch.randn(width, generator=gen)
        if name.endswith("_bn"):
            bn = f"features.{index + 1}"
            for param in ("weight", "bias", "running_mean"):
                state[f"{bn}.{param}"] = torch.randn(width, generator=gen)
            state[f"{bn}.running_var"] = torch.rand(width, generator=gen) + 0.5
            state[f"{bn}.num_batches_tracked"] = torch.tensor(7)
        in_ch = width
    # The ImageNet classifier is dropped by design (the paper replaces it), so small stand-ins suffice.
    for index in (0, 3, 6):
        state[f"classifier.{index}.weight"] = torch.randn(4, 4, generator=gen)
        state[f"classifier.{index}.bias"] = torch.randn(4, generator=gen)
    return state


def test_registry_lists_the_paper_backbones_and_bn_variants():
    assert {"vgg16", "vgg19", "vgg11_bn", "vgg16_bn", "vgg19_bn"} <= set(list_models())


def test_unknown_backbone_lists_valid_names():
    with pytest.raises(FacepalsyError) as info:
        create_model("resnet50")
    assert "resnet50" in str(info.value) and "vgg16, vgg16_bn, vgg19" in str(info.value)


def test_head_is_exactly_the_papers():
    model = create_model("vgg16")
    head = model.head
    assert [type(m) for m in head] == [nn.AdaptiveAvgPool2d, nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert head.fc1.weight.shape == (512, 512) and head.fc1.bias.shape == (512,)
    assert head.fc2.weight.shape == (2, 512) and head.fc2.bias.shape == (2,)
    assert head.dropout.p == 0.2
    model.eval()
    with torch.no_grad():
        features = model.forward_features(torch.zeros(1, 3, 224, 224))
        assert features.shape == (1, 512, 7, 7)
        assert head.flatten(head.pool(features)).shape == (1, 512)
        assert model.forward_head(features).shape == (1, 2)
    assert not any(k.startswith("classifier") for k in model.state_dict())
    assert model.last_conv_layer == "features.28"
    assert create_model("vgg19").last_conv_layer == "features.34"


@pytest.mark.parametrize("name", ["vgg16", "vgg19", "vgg11_bn"])
def test_torchvision_state_dict_loads_every_tensor(tmp_path, name):
    state = torchvision_state_dict(name)
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    model = create_model(name, weights=path)
    loaded = model.state_dict()
    feature_keys = [k for k in state if k.startswith("features.")]
    assert feature_keys and sorted(feature_keys) == sorted(k for k in loaded if k.startswith("features."))
    for key in feature_keys:
        assert torch.equal(loaded[key], state[key]), key


def test_imagenet_weights_come_from_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", lambda *a, **k: pytest.fail("tests never touch the network"))
    (tmp_path / "checkpoints").mkdir()
    state = torchvision_state_dict("vgg16", seed=5)
    torch.save(state, tmp_path / "checkpoints" / "vgg16-397923af.pth")
    model = create_model("vgg16", weights="imagenet")
    assert torch.equal(model.state_dict()["features.28.weight"], state["features.28.weight"])


def test_offline_imagenet_error_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(FacepalsyError) as info:
        create_model("vgg19", weights="imagenet")
    message = str(info.value)
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in message
    assert str(tmp_path / "checkpoints" / "vgg19-dcbb9e9d.pth") in message


def test_weights_of_another_backbone_are_refused(tmp_path):
    path = tmp_path / "vgg11_bn.pth"
    torch.save(torchvision_state_dict("vgg11_bn"), path)
    with pytest.raises(FacepalsyError, match="does not fit backbone vgg16"):
        create_model("vgg16", weights=path)


def test_unreadable_weights_file_is_named(tmp_path):
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a torch file")
    with pytest.raises(FacepalsyError, match="broken.pth: cannot read weights"):
        create_model("vgg16", weights=path)
