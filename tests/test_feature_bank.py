"""A frozen backbone's features are computed once per image and view, and shared by folds without changing any fold's
result."""

from __future__ import annotations

import json

import numpy as np
import torch
from conftest import TINY_TRAIN_FLAGS

from facepalsy.config import Config
from facepalsy.data.dataset import load_images, scan_dataset
from facepalsy.inference.predictor import load
from facepalsy.runfolder import RunFolder
from facepalsy.training import features as bank_module
from facepalsy.training.cv import fold_assignments, run_cv
from facepalsy.training.loop import PalsyModule
from facepalsy.training.train import fit_split, model_to_train

FROZEN = [f for f in TINY_TRAIN_FLAGS if f != "--finetune"]


def _module(config: Config) -> PalsyModule:
    return PalsyModule(config.to_dict(), config.model_spec().preprocess.to_dict(), model_to_train(config))


def test_a_bank_computed_in_another_process_is_adopted_whole(synth_data):
    """What a Ray task computes for the cluster: every view of every image, taken by a fold's own bank unchanged."""
    config = Config(
        backbone="vgg11_bn", weights="none", image_size=32, feature_cache=2, batch_size=4, face_required=False
    )
    images, _, _ = load_images(synth_data, scan_dataset(synth_data), 32, progress=False)
    bank_module.forget_banks()
    computed = bank_module.feature_bank(_module(config), config, images, False)
    contents = computed.contents()
    assert sorted(contents) == [-1, 0, 1] and computed.computed == 3 * len(images)
    key = bank_module.bank_key(_module(config), config, images, False)
    bank_module.forget_banks()
    bank_module.adopt_bank(key, contents)
    adopted = bank_module.feature_bank(_module(config), config, images, False)
    every = torch.arange(len(images))
    torch.testing.assert_close(adopted.augmented(every), torch.stack([torch.from_numpy(contents[k]) for k in (0, 1)]))
    torch.testing.assert_close(adopted.plain(every), torch.from_numpy(contents[-1]))
    assert adopted.computed == 0 and bank_module.backbone_passes() == 0
    bank_module.forget_banks()


def test_a_view_does_not_depend_on_which_images_are_asked_for_with_it(synth_data):
    config = Config(
        backbone="vgg11_bn", weights="none", image_size=32, feature_cache=2, batch_size=4, face_required=False
    )
    images, _, _ = load_images(synth_data, scan_dataset(synth_data), 32, progress=False)
    whole = bank_module.FeatureBank(_module(config), torch.from_numpy(images), 2, config.seed, 4, False)
    part = bank_module.FeatureBank(_module(config), torch.from_numpy(images), 2, config.seed, 4, False)
    subset = torch.tensor([5, 1, 40, 17, 3])
    all_views = whole.augmented(torch.arange(len(images)))
    torch.testing.assert_close(part.augmented(subset), all_views[:, subset], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(all_views[0], all_views[1])  # two views are two different augmentations
    assert not torch.allclose(all_views[0], whole.plain(torch.arange(len(images))))
    part.augmented(subset)  # asked again: nothing recomputed
    assert part.computed == 2 * len(subset)


def test_scoring_bank_features_equals_scoring_the_images(tmp_path, synth_data):
    run = tmp_path / "run"
    from facepalsy.app.cli import main

    assert (
        main(
            [
                "train",
                str(synth_data),
                "--out",
                str(run),
                "--split",
                "subject",
                *FROZEN,
                "--feature-cache",
                "2",
                "--precision",
                "fp32",
            ]
        )
        == 0
    )
    predictor = load(run, precision="fp32")
    images, _, _ = load_images(synth_data, scan_dataset(synth_data)[:12], 32, progress=False)
    config = Config(backbone="vgg11_bn", weights="none", image_size=32, feature_cache=2, face_required=False)
    module = PalsyModule(config.to_dict(), config.model_spec().preprocess.to_dict(), predictor.model)
    pooled = module.pooled_features(torch.from_numpy(images), False, 8, False)
    np.testing.assert_allclose(
        predictor.probabilities(images, features=pooled), predictor.probabilities(images), atol=1e-5
    )


def test_folds_share_the_bank_and_each_fold_equals_its_run_alone(tmp_path, synth_data):
    """12 subjects in 4 subject folds: each image passes the backbone at most K + 1 times in all, and fold 3 trained
    alone gives the same results
    (the 24-fold leave-one-subject-out run of tests/test_cv.py shares its bank the same way)."""
    config = Config(
        data=str(synth_data),
        backbone="vgg11_bn",
        weights="none",
        image_size=32,
        epochs=2,
        batch_size=16,
        lr=1e-3,
        feature_cache=2,
        face_required=False,
        val_fraction=0.25,
    )
    bank_module._banks.clear()
    result = run_cv(config, tmp_path / "cv", "subject-kfold", folds=4, progress=False)
    assert len(result.folds) == 4
    (bank,) = bank_module._banks.values()
    images = len(scan_dataset(synth_data))
    # at most K augmented views + the plain view of each image for all 4 folds (an image never in training needs no
    # augmented view)
    assert 2 * images < bank.computed <= (2 + 1) * images

    bank_module._banks.clear()
    samples = scan_dataset(synth_data)
    loaded, samples, _ = load_images(synth_data, samples, 32, progress=False)
    assignment = fold_assignments(samples, "subject-kfold", 4, 0.25, config.seed)[3]
    alone = fit_split(
        config.replace(split="subject"),
        RunFolder(tmp_path / "alone").make_ready(),
        model_to_train(config),
        loaded,
        samples,
        assignment,
        progress=False,
    )
    in_cv = json.loads((tmp_path / "cv" / result.folds[3].run / "metrics.json").read_text())
    assert alone.threshold == in_cv["threshold"]
    assert (tmp_path / "alone" / "predictions.csv").read_text() == (
        tmp_path / "cv" / result.folds[3].run / "predictions.csv"
    ).read_text()


def test_frozen_checkpoints_leave_the_backbone_out_and_resume_rebuilds_it(tmp_path, synth_data, capsys):
    """Epoch checkpoints of a frozen run hold the head alone (and the backbone's digest); a run trained 1 epoch and
    resumed to 3
    equals one trained 3 epochs straight; other backbone weights are refused on resume."""
    from facepalsy.app.cli import main
    from facepalsy.models.registry import create_model

    torch.manual_seed(0)
    torch.save(create_model("vgg11_bn").state_dict(), tmp_path / "start.pth")
    flags = [f for f in FROZEN if f not in ("--weights", "none")] + [
        "--weights",
        str(tmp_path / "start.pth"),
        "--feature-cache",
        "2",
        "--split",
        "subject",
    ]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["train", str(synth_data), "--out", str(straight), *flags, "--epochs", "3"]) == 0
    assert main(["train", str(synth_data), "--out", str(resumed), *flags, "--epochs", "1"]) == 0
    checkpoint = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=True)
    assert (
        not [k for k in checkpoint["state_dict"] if k.startswith("model.features.")]
        and checkpoint["facepalsy_backbone_digest"]
    )
    assert main(["train", "--resume", "--out", str(resumed), "--epochs", "3"]) == 0
    for name in ("metrics.json", "epochs.csv", "predictions.csv", "validation.json"):
        assert (resumed / name).read_bytes() == (straight / name).read_bytes(), name
    model = torch.load(resumed / "model.pt", weights_only=True)["state_dict"]
    start = torch.load(tmp_path / "start.pth", weights_only=True)
    assert all(
        torch.equal(model[k], v) for k, v in start.items() if k.startswith("features.")
    )  # model.pt carries the whole network

    other = create_model("vgg11_bn").state_dict()  # another random backbone under the same file name
    torch.save(other, tmp_path / "start.pth")
    capsys.readouterr()
    assert main(["train", "--resume", "--out", str(resumed), "--epochs", "4"]) == 2
    assert "backbone weights" in capsys.readouterr().err
