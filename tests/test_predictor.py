"""One inference path: the same image gives the same answer through every door.

CLI ``predict --json``, ``facepalsy.load(run).predict`` on a path, a PIL image and an array, the web
page's analysis, a short video made of the image and the ONNX engine, for a run trained on face
crops and one trained on whole images; on synthetic faces and on real photos.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import TINY_TRAIN_FLAGS
from PIL import Image

import facepalsy
from facepalsy.app.cli import main
from facepalsy.config import load_config
from facepalsy.data.synth import make_synthetic_dataset
from facepalsy.errors import InputError
from facepalsy.face.detect import mediapipe_available

REALFACES = Path(
    os.environ.get("FACEPALSY_REALFACES", Path(__file__).resolve().parents[2] / "shared" / "realfaces" / "dev")
)
needs_face_extra = pytest.mark.skipif(
    not mediapipe_available(), reason="face-crop runs need the face extra (bash scripts/setup)"
)
FP32_TOLERANCE, ONNX_TOLERANCE = 1e-5, 2e-3


@pytest.fixture(scope="module")
def runs(tiny_run, tmp_path_factory) -> dict[str, Path]:
    """A whole-image run that labels any image (a copy of the shared tiny run), and, with the face extra, a whole-image
    run that needs a face (the default), a face-crop run and a harmonised run; each with its ONNX export."""
    root = tmp_path_factory.mktemp("parity")
    whole = root / "whole"
    shutil.copytree(tiny_run, whole, ignore=shutil.ignore_patterns(".lock", ".lock.owner"))
    found = {"whole-image": whole}
    if mediapipe_available():
        data = make_synthetic_dataset(
            root / "faces", subjects=8, images_per_subject=3, seed=5, size=128, progress=False
        )
        flags = [f for f in TINY_TRAIN_FLAGS if f != "--no-require-face"] + ["--epochs", "1", "--split", "subject"]
        for kind, extra in (
            ("face-crop", ["--face-crop"]),
            ("face-required", []),
            ("harmonised", ["--harmonise", "48"]),
        ):
            assert main(["train", str(data), "--out", str(root / kind), *flags, *extra]) == 0
            found[kind] = root / kind
    for run in found.values():
        assert main(["export", str(run)]) == 0
    return found


def _lossless_video(rgb: np.ndarray, path: Path, seconds: float = 1.0, fps: int = 6) -> np.ndarray:
    """A short FFV1 video (lossless) of one image; video frames need even sides, so odd ones lose their last row or
    column.
    Returns the frame exactly as the video holds it."""
    frame = np.ascontiguousarray(rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), fps, (frame.shape[1], frame.shape[0]))
    for _ in range(round(seconds * fps)):
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return frame


def _check_parity(run: Path, images: list[Path], tmp_path: Path, capsys) -> dict[str, int]:
    """Every door gives the same outcome for each image; returns how many got a verdict and how many 'no face'."""
    from facepalsy.app.page_analysis import Analyzer

    predictor = facepalsy.load(run, precision="fp32")
    onnx = facepalsy.load(run, engine="onnx")
    page = Analyzer(facepalsy.load(run, precision="fp32"), tmp_path / "page")
    capsys.readouterr()
    main(["predict", str(run), *map(str, images), "--json", "--precision", "fp32"])
    cli = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [c["source"] for c in cli] == [str(p) for p in images]
    outcomes = {"ok": 0, "no_face": 0}
    for i, (path, from_cli) in enumerate(zip(images, cli)):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        by_path, by_pil, by_array = predictor.predict(path), predictor.predict(Image.open(path)), predictor.predict(rgb)
        by_onnx = onnx.predict(path)
        analysis = page.photo(str(path))
        frame = _lossless_video(rgb, tmp_path / f"clip{i}.mkv")
        video = predictor.predict_video(tmp_path / f"clip{i}.mkv", tmp_path / f"clip{i}")
        by_frame = predictor.predict(frame)  # the video's own pixels, through the photo door
        assert (
            from_cli["status"]
            == by_path.status
            == by_pil.status
            == by_array.status
            == by_onnx.status
            == by_frame.status
        ), path
        outcomes[by_path.status] += 1
        if by_path.status != "ok":
            assert "Could not analyse" in analysis.verdict and "No usable face" in analysis.verdict
            assert video.error and "no usable face" in video.error
            continue
        prob, label = by_path.prob_palsy, by_path.label
        for other in (from_cli["prob_palsy"], by_pil.prob_palsy, by_array.prob_palsy, analysis.prob_palsy):
            assert other == pytest.approx(prob, abs=FP32_TOLERANCE), path
        assert from_cli["label"] == by_pil.label == by_array.label == label and f"Verdict: {label}" in analysis.verdict
        assert (
            from_cli["threshold"] == by_path.threshold == predictor.threshold
            and f"threshold {predictor.threshold:.3f}" in analysis.verdict
        )
        assert (
            video.prob_palsy == pytest.approx(by_frame.prob_palsy, abs=FP32_TOLERANCE) and video.label == by_frame.label
        )
        assert video.frames == video.frames_scored == 6
        if frame.shape == rgb.shape:  # even sides: the video is the image itself
            assert video.prob_palsy == pytest.approx(prob, abs=FP32_TOLERANCE) and video.label == label
        assert by_onnx.prob_palsy == pytest.approx(prob, abs=ONNX_TOLERANCE)
        if abs(prob - predictor.threshold) > ONNX_TOLERANCE:
            assert by_onnx.label == label
    return outcomes


def _copy_photos(folder: Path, into: Path, count: int) -> list[Path]:
    """The first ``count`` photos of a shared folder, copied first so that a file removed from it meanwhile cannot fail
    the test."""
    into.mkdir()
    copied = []
    for path in sorted(folder.iterdir()):
        try:
            copied.append(Path(shutil.copy(path, into / path.name)))
        except FileNotFoundError:
            continue
        if len(copied) == count:
            break
    return copied


KINDS = ["whole-image", "face-crop", "face-required", "harmonised"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_door_gives_the_same_answer_on_synthetic_faces(kind, runs, tmp_path, capsys):
    if kind not in runs:
        pytest.skip(f"{kind} runs need the face extra (bash scripts/setup)")
    data = make_synthetic_dataset(
        tmp_path / "faces", subjects=4, images_per_subject=2, seed=9, size=128, progress=False
    )
    images = sorted((data / "palsy").rglob("*.jpg"))[:3] + sorted((data / "normal").rglob("*.jpg"))[:3]
    gradient = tmp_path / "gradient.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 128, dtype=np.uint8)[None, :, None], (128, 1, 3))).save(gradient)
    outcomes = _check_parity(runs[kind], [*images, gradient], tmp_path, capsys)
    assert outcomes == ({"ok": 7, "no_face": 0} if kind == "whole-image" else {"ok": 6, "no_face": 1})


@pytest.mark.slow
@pytest.mark.skipif(
    not REALFACES.is_dir(),
    reason=f"real photos not found at {REALFACES} (set FACEPALSY_REALFACES); only the synthetic parity ran",
)
@pytest.mark.parametrize("kind", KINDS)
def test_every_door_gives_the_same_answer_on_20_real_photos(kind, runs, tmp_path, capsys):
    if kind not in runs:
        pytest.skip(f"{kind} runs need the face extra (bash scripts/setup)")
    photos = [_copy_photos(REALFACES / label, tmp_path / label, 10) for label in ("palsy", "normal")]
    outcomes = _check_parity(runs[kind], photos[0] + photos[1], tmp_path, capsys)
    assert sum(outcomes.values()) == 20
    if kind == "whole-image":
        assert outcomes["ok"] == 20  # a whole-image model labels every photo, face or not


def test_predict_json_prints_the_runs_threshold_and_the_override_wins(tiny_run, synth_data, capsys):
    recorded = facepalsy.load(tiny_run).spec.operating_point
    assert recorded is not None and recorded.rule == "youden" and recorded.validation_images > 0
    image = str(next((synth_data / "palsy").rglob("*.jpg")))
    capsys.readouterr()
    assert main(["predict", str(tiny_run), image, "--json"]) == 0
    default = json.loads(capsys.readouterr().out)
    assert default["threshold"] == recorded.threshold
    assert default["label"] == ("palsy" if default["prob_palsy"] >= recorded.threshold else "normal")
    override = 1.0 if default["label"] == "palsy" else 0.0  # a threshold that flips the label
    assert main(["predict", str(tiny_run), image, "--json", "--threshold", str(override)]) == 0
    flipped = json.loads(capsys.readouterr().out)
    assert flipped["threshold"] == override and flipped["label"] != default["label"]
    assert main(["predict", str(tiny_run), image, "--threshold", "1.5"]) == 2
    assert "threshold must be between 0 and 1" in capsys.readouterr().err


def test_operating_point_option_is_recorded_in_the_model(synth_data, tmp_path):
    run = tmp_path / "sens"
    assert (
        main(
            [
                "train",
                str(synth_data),
                "--out",
                str(run),
                *TINY_TRAIN_FLAGS,
                "--epochs",
                "1",
                "--split",
                "subject",
                "--operating-point",
                "sensitivity=1",
            ]
        )
        == 0
    )
    point = facepalsy.load(run).spec.operating_point
    validation = json.loads((run / "validation.json").read_text())
    assert point.rule == "sensitivity=1" and point.sensitivity == 1.0 and validation["recall"] == 1.0
    assert validation["threshold"] == point.threshold == json.loads((run / "metrics.json").read_text())["threshold"]
    assert main(["train", str(synth_data), "--out", str(tmp_path / "bad"), "--operating-point", "recall=0.9"]) == 2


def test_one_inference_settings_value_passes_through_every_door(tiny_run):
    from facepalsy.errors import FacepalsyError
    from facepalsy.inference.settings import InferenceSettings

    settings = InferenceSettings(precision="fp32", threshold=0.9, calibrated=False)
    by_value, by_keywords = (
        facepalsy.load(tiny_run, settings),
        facepalsy.load(tiny_run, precision="fp32", threshold=0.9, calibrated=False),
    )
    assert by_value.settings == by_keywords.settings == settings and by_value.threshold == 0.9
    assert facepalsy.load(tiny_run, settings, threshold=0.2).threshold == 0.2  # a keyword overrides the value
    for wrong in ({"engine": "tensorrt"}, {"precision": "fp16"}, {"threshold": 1.5}, {"batch_size": 0}):
        with pytest.raises(FacepalsyError, match=next(iter(wrong))):
            InferenceSettings(**wrong)


def test_predictor_refuses_wrong_inputs_clearly(tiny_run, tmp_path):
    predictor = facepalsy.load(tiny_run)
    with pytest.raises(InputError, match="uint8"):
        predictor.predict(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(InputError, match="channels first"):
        predictor.predict(np.zeros((3, 64, 64), np.uint8))
    with pytest.raises(InputError, match="H×W×3"):
        predictor.predict(np.zeros((64, 64), np.uint8))
    with pytest.raises(InputError, match="got dict"):
        predictor.predict({"image": 1})
    with pytest.raises(
        InputError, match=r"N×3×32×32 uint8"
    ):  # model input of another size is refused, not silently used
        predictor.probabilities(np.zeros((1, 3, 128, 128), np.uint8))
    # a PIL image in any mode, and an array, are accepted and agree
    rgba = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 4), dtype=np.uint8), "RGBA")
    from facepalsy.data.images import to_rgb

    assert predictor.predict(rgba).prob_palsy == pytest.approx(
        predictor.predict(np.asarray(to_rgb(rgba))).prob_palsy, abs=1e-6
    )


def test_corrupt_png_and_a_folder_named_like_an_image_are_refused_by_name(tiny_run, tmp_path, capsys):
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(good)
    data = bytearray(good.read_bytes())
    idat = data.index(b"IDAT")
    length = int.from_bytes(data[idat - 4 : idat], "big")
    data[idat + 4 + length] ^= 0xFF  # the IDAT chunk's CRC: Pillow alone decodes the image without noticing
    bad_crc = tmp_path / "bad_crc.png"
    bad_crc.write_bytes(bytes(data))
    folder = tmp_path / "photo.jpg"
    folder.mkdir()
    predictor = facepalsy.load(tiny_run)
    crc, directory = predictor.predict([bad_crc, folder])
    assert crc.status == "unreadable" and "cannot decode" in crc.error and crc.label is None
    assert directory.status == "unreadable" and "is a folder" in directory.error
    assert main(["predict", str(tiny_run), str(bad_crc), str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{bad_crc}: cannot decode" in err and f"{folder}: is a folder" in err


def test_whole_image_run_labels_a_picture_without_a_face_and_says_so(tiny_run):
    wall = np.full((120, 120, 3), 90, np.uint8)
    prediction = facepalsy.load(tiny_run).predict(wall)
    assert prediction.ok and prediction.label in ("palsy", "normal")
    if mediapipe_available():
        assert prediction.faces_found == 0 and "no face found; this model labels the whole image" in prediction.warnings


@needs_face_extra
def test_face_crop_run_gives_no_verdict_without_a_face_and_names_the_largest_of_two(runs, tmp_path):
    predictor = facepalsy.load(runs["face-crop"])
    wall = predictor.predict(np.full((120, 120, 3), 90, np.uint8))
    assert wall.status == "no_face" and wall.label is None and wall.prob_palsy is None and "no face" in wall.error
    from facepalsy.data.synth import draw_face, make_identity

    big = np.asarray(
        draw_face(make_identity(np.random.default_rng([1, 0]), palsy=True), np.random.default_rng([1, 1]), 256)
    )
    small = np.asarray(
        draw_face(make_identity(np.random.default_rng([2, 0]), palsy=False), np.random.default_rng([2, 1]), 160)
    )
    pair = np.full((256, 448, 3), 255, np.uint8)
    pair[:, :256], pair[48:208, 272:432] = big, small
    both = predictor.predict(pair)
    assert (
        both.ok
        and both.faces_found == 2
        and both.face_used
        and "2 faces found; the largest was analysed" in both.warnings
    )
    assert both.face_box[2] <= 260  # the box is the big face's, on the left
    assert both.prob_palsy == pytest.approx(predictor.predict(pair[:, :256].copy()).prob_palsy, abs=0.05)


@needs_face_extra
def test_landmark_model_gives_no_verdict_without_a_face_and_the_largest_faces_verdict_with_two(tmp_path, capsys):
    from facepalsy.data.synth import draw_face, make_identity

    data = make_synthetic_dataset(tmp_path / "data", subjects=8, images_per_subject=3, seed=4, size=128, progress=False)
    run = tmp_path / "landmarks"
    args = [
        "--backbone",
        "asymmetry",
        "--image-size",
        "128",
        "--split",
        "subject",
        "--test-fraction",
        "0.25",
        "--val-fraction",
        "0.25",
    ]
    assert main(["train", str(data), "--out", str(run), *args]) == 0
    predictor = facepalsy.load(run)
    assert predictor.spec.face_crop  # the landmark model measures the aligned largest face, as the face crop does

    gradient = np.repeat(np.tile(np.linspace(0, 255, 200).astype(np.uint8), (150, 1))[..., None], 3, axis=2)
    tiny = np.full((200, 200, 3), 128, np.uint8)
    tiny[88:112, 88:112] = np.asarray(
        draw_face(make_identity(np.random.default_rng([3, 0]), palsy=False), np.random.default_rng([3, 1]), 24)
    )
    for name, image in (("gradient.png", gradient), ("tiny_face.png", tiny)):
        Image.fromarray(image).save(tmp_path / name)
        capsys.readouterr()
        assert main(["predict", str(run), str(tmp_path / name)]) == 2
        captured = capsys.readouterr()
        assert f"{tmp_path / name}: " in captured.err and ("no face" in captured.err or "too small" in captured.err)
        rows = captured.out.splitlines()[1:]  # under the header
        assert "palsy" not in "".join(rows) and "normal" not in "".join(rows)  # no verdict

    healthy = [
        np.asarray(
            draw_face(make_identity(np.random.default_rng([i, 0]), palsy=False), np.random.default_rng([i, 1]), size)
        )
        for i, size in ((5, 256), (6, 160))
    ]
    pair = np.full((256, 448, 3), 255, np.uint8)
    pair[:, :256], pair[48:208, 272:432] = healthy
    both, alone = predictor.predict(pair), predictor.predict(healthy[0])
    assert both.ok and both.faces_found == 2 and "2 faces found; the largest was analysed" in both.warnings
    assert both.label == alone.label and both.prob_palsy == pytest.approx(alone.prob_palsy, abs=0.1)


@needs_face_extra
def test_evaluate_counts_and_lists_images_without_a_face(runs, tmp_path):
    data = make_synthetic_dataset(tmp_path / "data", subjects=4, images_per_subject=2, seed=8, size=128, progress=False)
    Image.new("RGB", (128, 128), (90, 90, 90)).save(data / "palsy" / "wall.png")
    (data / "manifest.csv").unlink()  # the folder scan picks up the new image
    out = tmp_path / "eval"
    assert main(["evaluate", str(runs["face-crop"]), "--data", str(data), "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["left_out"] == {"unreadable": 0, "no_face": 1} and metrics["n"] == 8
    assert (out / "no_face.txt").read_text().startswith("palsy/wall.png\tno face found")  # relative, as in every file
    report = (out / "report.md").read_text()
    assert "Images without a usable face, which this model needs, so without a verdict: 1" in report


@needs_face_extra
def test_a_harmonised_run_sees_what_prepare_harmonise_writes(runs, tmp_path):
    run = runs["harmonised"]
    predictor = facepalsy.load(run)
    assert predictor.spec.face.harmonise.detail == 48 and predictor.spec.face.required
    audit = json.loads((run / "audit.json").read_text())
    assert audit["harmonised"] and {m["name"]: m["auc"] for m in audit["measures"]}["width"] == 0.5
    assert "Model input: harmonised" in (run / "report.md").read_text()
    source = load_config(run / "config.yaml").root
    out = tmp_path / "harmonised"
    assert (
        main(
            [
                "prepare",
                "--images",
                str(source),
                "--out",
                str(out),
                "--harmonise",
                "48",
                "--size",
                str(predictor.spec.image_size),
            ]
        )
        == 0
    )
    for written in sorted(out.rglob("*.jpg"))[:4]:
        original = source / written.relative_to(out)
        assert np.array_equal(predictor.model_input(original).pixels, np.asarray(Image.open(written).convert("RGB")))


def test_a_run_of_model_format_1_still_loads_and_predicts_as_its_config_and_validation_say(tiny_run, tmp_path):
    """Runs trained before the model spec existed kept their settings in model.pt's config and their threshold in
    validation.json: the spec is rebuilt from those, through the typed Config."""
    import torch

    from facepalsy.runfolder import RunFolder

    run = tmp_path / "old"
    shutil.copytree(tiny_run, run)
    spec, payload = RunFolder(run).read_model()
    old = {
        "format_version": 1,
        "state_dict": payload["state_dict"],
        "config": RunFolder(run).read_config().to_dict() | {"data": str(tiny_run)},  # data: one folder as a string
        "preprocess": spec.preprocess.to_dict(),
        "classes": list(spec.classes),
    }
    torch.save(old, run / "model.pt")
    (run / "validation.json").write_text(json.dumps({"youden_threshold": 0.37, "recall": 0.9, "specificity": 0.8}))
    rebuilt, _ = RunFolder(run).read_model()
    assert (rebuilt.backbone, rebuilt.image_size, rebuilt.face.crop) == (spec.backbone, spec.image_size, False)
    assert rebuilt.operating_point.threshold == 0.37 and rebuilt.operating_point.rule == "youden"
    assert facepalsy.load(run).threshold == 0.37
