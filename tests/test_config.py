"""Config: YAML sets it, CLI flags win, unknown keys and wrong types are refused."""

from __future__ import annotations

import pytest

from facepalsy.app.cli import build_parser
from facepalsy.app.flags import resolve_config
from facepalsy.config import Config, load_config, save_config
from facepalsy.errors import FacepalsyError


def test_yaml_sets_and_flags_win(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("backbone: vgg19\nepochs: 5\nlr: 0.001\nsplit: subject\n")
    args = build_parser().parse_args(
        ["train", "DATA", "--out", "RUN", "--config", str(path), "--epochs", "9", "--finetune"]
    )
    config = resolve_config(args, args.data)
    assert (config.backbone, config.epochs, config.lr, config.split, config.finetune) == (
        "vgg19",
        9,
        0.001,
        "subject",
        True,
    )
    assert config.image_size == 224 and config.data[0].endswith("DATA")


def test_round_trip(tmp_path):
    config = Config(backbone="vgg16_bn", epochs=3, augment=False, lr=5e-4)
    save_config(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config


@pytest.mark.parametrize(
    "text, message",
    [
        ("epoch: 3\n", "unknown key(s) epoch"),
        ("epochs: three\n", "epochs must be of type int"),
        ("finetune: 1\n", "finetune must be of type bool"),
        ("split: patient\n", "split must be one of frame, subject"),
        ("- a\n- b\n", "mapping"),
        ("a: [\n", "not valid YAML"),
    ],
)
def test_bad_config_names_file_and_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(FacepalsyError) as info:
        load_config(path)
    assert message in str(info.value) and "bad.yaml" in str(info.value)
