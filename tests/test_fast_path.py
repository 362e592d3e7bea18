"""The inference fast path: bf16 autocast and channels-last agree with plain fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import TINY_TRAIN_FLAGS

from facepalsy.app.cli import main
from facepalsy.data.dataset import load_images, scan_dataset
from facepalsy.data.synth import make_synthetic_dataset
from facepalsy.inference.network import predict_probabilities
from facepalsy.inference.predictor import load

needs_bf16 = pytest.mark.skipif(not torch.ops.mkldnn._is_mkldnn_bf16_supported(), reason="this CPU has no native bf16")


@needs_bf16
def test_bf16_labels_agree_with_fp32_on_99_percent(tmp_path):
    train_data = make_synthetic_dataset(
        tmp_path / "train", subjects=40, images_per_subject=3, seed=11, size=64, progress=False
    )
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                str(train_data),
                "--out",
                str(run),
                "--split",
                "subject",
                *TINY_TRAIN_FLAGS,
                "--image-size",
                "64",
                "--epochs",
                "3",
            ]
        )
        == 0
    )
    test_data = make_synthetic_dataset(
        tmp_path / "test", subjects=100, images_per_subject=2, seed=12, size=64, progress=False
    )
    images, _, _ = load_images(test_data, scan_dataset(test_data), 64, progress=False)
    predictor = load(run)
    fp32 = predict_probabilities(predictor.model, predictor.spec.preprocess, images, precision="fp32")
    bf16 = predict_probabilities(predictor.model, predictor.spec.preprocess, images, precision="bf16")
    assert len(images) == 200
    assert ((fp32 >= 0.5) == (bf16 >= 0.5)).mean() >= 0.99
    assert np.abs(fp32 - bf16).max() < 0.1


def test_fp32_escape_hatch_is_exact_and_unknown_precision_refused(tiny_run, synth_data):
    predictor = load(tiny_run)
    preprocess = predictor.spec.preprocess
    images, _, _ = load_images(synth_data, scan_dataset(synth_data)[:8], 32, progress=False)
    model = predictor.model
    with torch.no_grad():
        from facepalsy.models.network_parts import Normalize

        reference = torch.softmax(
            model.to(memory_format=torch.contiguous_format)(Normalize(preprocess)(torch.tensor(images))), 1
        )[:, 1].numpy()
    assert np.allclose(predict_probabilities(model, preprocess, images, precision="fp32"), reference, atol=1e-5)
    with pytest.raises(Exception, match="precision must be one of auto, bf16, fp32"):
        predict_probabilities(model, preprocess, images, precision="fp16")
    with pytest.raises(Exception, match="precision must be one of auto, bf16, fp32"):
        load(tiny_run, precision="fp16")


def test_feature_cache_trains_the_head_on_k_views_and_keeps_the_backbone(tmp_path, synth_data):
    from facepalsy.models.registry import create_model

    start = create_model("vgg11_bn").state_dict()
    torch.save(start, tmp_path / "start.pth")
    run = tmp_path / "cached"
    flags = [f for f in TINY_TRAIN_FLAGS if f not in ("--finetune", "--weights", "none")]
    args = [
        "train",
        str(synth_data),
        "--out",
        str(run),
        *flags,
        "--weights",
        str(tmp_path / "start.pth"),
        "--epochs",
        "3",
        "--feature-cache",
        "2",
    ]
    assert main([*args, "--split", "subject"]) == 0
    assert len((run / "epochs.csv").read_text().splitlines()) == 4
    trained = load(run).model.state_dict()
    for key, value in start.items():
        if key.startswith("features."):
            assert torch.equal(trained[key], value), key  # the frozen backbone is untouched
    assert not torch.equal(trained["head.fc2.weight"], start["head.fc2.weight"])  # the head learned


def test_feature_cache_refuses_finetune():
    from facepalsy.config import Config
    from facepalsy.errors import FacepalsyError

    with pytest.raises(FacepalsyError, match="frozen backbone"):
        Config(finetune=True, feature_cache=4)


def test_predict_files_streams_batches_and_keeps_order_and_errors(tiny_run, synth_data, tmp_path):
    """Files decode one batch ahead of the network; results equal one big batch, bad files keep their place."""
    predictor = load(tiny_run, batch_size=4)
    samples = scan_dataset(synth_data)[:10]
    bad = tmp_path / "broken.jpg"
    bad.write_text("not an image")
    files = [synth_data / s.path for s in samples[:5]] + [bad] + [synth_data / s.path for s in samples[5:]]
    results = predictor.predict(files, cam_dir=tmp_path / "cams")
    images, _, _ = load_images(synth_data, samples, 32, progress=False)
    expected = predictor.probabilities(images)  # the same batch at once (calibrated, as predict is)
    assert [r.source for r in results] == [str(f) for f in files]
    assert (
        results[5].status == "unreadable"
        and results[5].error
        and results[5].prob_palsy is None
        and results[5].cam is None
    )
    got = np.array([r.prob_palsy for r in results if r.ok])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert sorted(p.name for p in (tmp_path / "cams").iterdir())[5].startswith(
        "0006_"
    )  # overlays named by input number
