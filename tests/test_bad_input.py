"""Every kind of bad input: one line naming the file and the problem, exit code 2, no traceback.

Each case is generated here; each command runs through the CLI's ``main`` as a user would call it.
Unusual but valid images (16-bit, CMYK, palette, EXIF-rotated) must be read, not refused.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_TRAIN_FLAGS
from PIL import Image

from facepalsy.app.cli import main
from facepalsy.errors import BadImageError, display_path


def _jpeg_bytes(size=(64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _png_bytes(size=(64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width×height pixels: what a decompression bomb looks like before decoding."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def _make_bad_file(folder: Path, case: str) -> Path:
    """Write one bad image of the given kind into ``folder``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    if case == "symlink loop":
        (folder / "loop_b.jpg").symlink_to("loop_a.jpg")
        (folder / "loop_a.jpg").symlink_to("loop_b.jpg")
        return folder / "loop_a.jpg"
    if case == "non-UTF-8 name":
        path = Path(os.fsdecode(os.fsencode(folder) + b"/face_\xff\xfe.jpg"))
        path.write_bytes(_jpeg_bytes())
        return path
    content = {
        "empty file": b"",
        "truncated JPEG": _jpeg_bytes()[:1500],
        "truncated PNG": _png_bytes()[:2000],
        "text renamed .jpg": b"name,label\nthis is a spreadsheet, not a photo\n",
        "1x1 px image": _png_bytes((1, 1)),
        "decompression bomb": _png_header_only(20_000, 20_000),
        "under the bomb error, over the limit": _png_header_only(12_000, 9_000),
    }[case]
    suffix = (
        ".png"
        if "PNG" in case or case in ("1x1 px image", "decompression bomb", "under the bomb error, over the limit")
        else ".jpg"
    )
    path = folder / f"{case.replace(' ', '_').replace(',', '')}{suffix}"
    path.write_bytes(content)
    return path


BAD_IMAGES = {
    "empty file": "not an image",
    "truncated JPEG": "cannot decode",
    "truncated PNG": "cannot decode",
    "text renamed .jpg": "not an image",
    "1x1 px image": "only 1×1 px",
    "decompression bomb": "too many pixels",
    "under the bomb error, over the limit": "too many pixels",
    "symlink loop": "symlink loop",
    "non-UTF-8 name": "not valid UTF-8",
}


def _assert_user_error(code: int, err: str, *names: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert lines, err
    for name in names:
        assert name in err, (name, err)


@pytest.fixture
def data_copy(synth_data, tmp_path) -> Path:
    """A private copy of the synthetic data set, to spoil."""
    copy = tmp_path / "data"
    shutil.copytree(synth_data, copy)
    (copy / "manifest.csv").unlink()  # the folder layout, so that added files are picked up
    return copy


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_predict_names_the_bad_image(case, tiny_run, tmp_path, capsys):
    path = _make_bad_file(tmp_path / "in", case)
    code = main(["predict", str(tiny_run), str(path)])
    _assert_user_error(code, capsys.readouterr().err, display_path(path), BAD_IMAGES[case])


@pytest.mark.parametrize("case", list(BAD_IMAGES))
def test_train_names_the_bad_image_and_trains_nothing(case, data_copy, tmp_path, capsys):
    path = _make_bad_file(data_copy / "palsy" / "s_bad", case)
    out = tmp_path / "run"
    code = main(["train", str(data_copy), "--out", str(out), *TINY_TRAIN_FLAGS])
    _assert_user_error(
        code, capsys.readouterr().err, display_path(path.relative_to(data_copy)), BAD_IMAGES[case], "--skip-bad"
    )
    assert not (out / "model.pt").exists()


def test_train_skip_bad_uses_the_good_images_and_lists_the_bad(data_copy, tmp_path, capsys):
    good = sorted(p.relative_to(data_copy).as_posix() for p in data_copy.rglob("*.jpg"))
    bad = [_make_bad_file(data_copy / "palsy" / f"s_bad{i}", case) for i, case in enumerate(BAD_IMAGES)]
    out = tmp_path / "run"
    assert main(["train", str(data_copy), "--out", str(out), "--skip-bad", *TINY_TRAIN_FLAGS]) == 0
    listed = (out / "bad_images.txt").read_text(encoding="utf-8").splitlines()
    assert len(listed) == len(bad) + 1  # the symlink loop is two links, both listed
    for path, case in zip(bad, BAD_IMAGES.items()):
        assert any(
            line.startswith(display_path(path.relative_to(data_copy)) + "\t") and case[1] in line for line in listed
        ), (path, listed)
    used = sorted(line.split(",")[0] for line in (out / "split.csv").read_text().splitlines()[1:])
    assert used == good


@pytest.mark.parametrize(
    "name, make, expected",
    [
        ("sixteen_bit.png", lambda: Image.fromarray(np.full((40, 40), 257 * 120, np.uint16)), (120, 120, 120)),
        ("cmyk.jpg", lambda: Image.new("CMYK", (40, 40), (0, 255, 255, 0)), (255, 0, 0)),
        (
            "palette.png",
            lambda: Image.new("RGB", (40, 40), (0, 128, 255)).convert("P", palette=Image.Palette.ADAPTIVE),
            (0, 128, 255),
        ),
    ],
)
def test_unusual_but_valid_images_are_read(name, make, expected, tiny_run, tmp_path, capsys):
    from facepalsy.data.images import load_image

    path = tmp_path / name
    make().save(path, **({"quality": 100} if name.endswith(".jpg") else {}))
    assert np.abs(np.asarray(load_image(path))[20, 20].astype(int) - expected).max() <= 3
    assert main(["predict", str(tiny_run), str(path), "--json"]) == 0
    assert '"label"' in capsys.readouterr().out


def test_exif_rotated_photo_is_turned_upright(tiny_run, tmp_path, capsys):
    from facepalsy.data.images import load_image

    img = Image.new("RGB", (60, 30), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side, like a phone photo
    path = tmp_path / "phone.jpg"
    img.save(path, exif=exif, quality=100)
    upright = np.asarray(load_image(path))
    assert upright.shape == (60, 30, 3) and upright[5, 15, 2] > 200 and upright[55, 15, 0] > 200
    assert main(["predict", str(tiny_run), str(path)]) == 0


MANIFESTS = {
    "missing columns": ("path,label\npalsy/s000/s000_000.jpg,palsy\n", "missing column(s) subject"),
    "unknown label": ("path,label,subject\npalsy/s000/s000_000.jpg,sick,s000\n", "line 2: unknown label 'sick'"),
    "path outside DATA": ("path,label,subject\n../../etc/passwd,palsy,s000\n", "points outside the data folder"),
    "duplicate rows": (
        "path,label,subject\npalsy/s000/s000_000.jpg,palsy,s000\npalsy/s000/s000_000.jpg,palsy,s000\n",
        "line 3: duplicate row",
    ),
    "not UTF-8": (b"path,label,subject\n\xff\xfe,palsy,s000\n", "cannot read manifest"),
}


@pytest.mark.parametrize("case", list(MANIFESTS))
def test_bad_manifest_is_named_with_its_line(case, data_copy, tmp_path, capsys):
    content, message = MANIFESTS[case]
    manifest = data_copy / "manifest.csv"
    manifest.write_bytes(content if isinstance(content, bytes) else content.encode())
    for command in (
        ["train", str(data_copy), "--out", str(tmp_path / "run"), *TINY_TRAIN_FLAGS],
        ["check", str(data_copy)],
    ):
        _assert_user_error(main(command), capsys.readouterr().err, str(manifest), message)


CONFIGS = {
    "unknown key": ("epochs: 3\nlearning_rate: 0.1\n", "unknown key(s) learning_rate"),
    "wrong type": ("epochs: ten\n", "epochs must be of type int, got str 'ten'"),
    "not a mapping": ("- epochs\n- 3\n", "a config must be a mapping"),
    "not YAML": ("epochs: [3\n", "not valid YAML"),
}


@pytest.mark.parametrize("case", list(CONFIGS))
def test_bad_config_is_named(case, synth_data, tmp_path, capsys):
    content, message = CONFIGS[case]
    config = tmp_path / "settings.yaml"
    config.write_text(content)
    code = main(["train", str(synth_data), "--out", str(tmp_path / "run"), "--config", str(config)])
    _assert_user_error(code, capsys.readouterr().err, str(config), message)


def _spoil_model(run: Path, case: str) -> Path:
    path = run / "model.pt"
    if case == "truncated":
        path.write_bytes(path.read_bytes()[:5000])
    elif case == "other version":
        payload = torch.load(path, weights_only=True)
        torch.save({**payload, "format_version": 99}, path)
    else:  # not a checkpoint at all
        path.write_text("model weights go here")
    return path


@pytest.mark.parametrize(
    "case, message",
    [
        ("truncated", "cannot read checkpoint"),
        ("other version", "format 99 not supported"),
        ("text", "cannot read checkpoint"),
    ],
)
def test_bad_model_checkpoint_is_named(case, message, tiny_run, synth_data, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    path = _spoil_model(run, case)
    image = next(synth_data.rglob("*.jpg"))
    for command in (["predict", str(run), str(image)], ["evaluate", str(run)], ["export", str(run)]):
        _assert_user_error(main(command), capsys.readouterr().err, str(path), message)


@pytest.mark.parametrize(
    "case, message", [("truncated", "cannot read checkpoint"), ("other version", "format None not supported")]
)
def test_bad_resume_checkpoint_is_named(case, message, tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    last = run / "checkpoints" / "last.ckpt"
    if case == "truncated":
        last.write_bytes(last.read_bytes()[:3000])
    else:
        checkpoint = torch.load(last, weights_only=True)
        checkpoint.pop("facepalsy_format_version")
        torch.save(checkpoint, last)
    _assert_user_error(
        main(["train", "--resume", "--out", str(run)]), capsys.readouterr().err, str(last), message, "--overwrite"
    )


@pytest.mark.parametrize("content", [b"", b"this is not a video at all"], ids=["empty", "text"])
def test_bad_video_is_named(content, tiny_run, tmp_path, capsys):
    video = tmp_path / "clip.mp4"
    video.write_bytes(content)
    _assert_user_error(
        main(["predict", str(tiny_run), str(video), "--out", str(tmp_path / "out")]),
        capsys.readouterr().err,
        str(video),
    )
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(video, videos / "clip.mp4")
    code = main(["prepare", "--videos", str(videos), "--out", str(tmp_path / "data"), "--label", "palsy"])
    _assert_user_error(code, capsys.readouterr().err, "clip.mp4")


def test_missing_inputs_are_named(tiny_run, tmp_path, capsys):
    missing = tmp_path / "nowhere.jpg"
    _assert_user_error(
        main(["predict", str(tiny_run), str(missing)]), capsys.readouterr().err, str(missing), "file not found"
    )
    _assert_user_error(
        main(["train", str(tmp_path / "no_data"), "--out", str(tmp_path / "run"), *TINY_TRAIN_FLAGS]),
        capsys.readouterr().err,
        "no_data",
        "not found",
    )
    _assert_user_error(main(["evaluate", str(tmp_path / "no_run")]), capsys.readouterr().err, "no_run")


@pytest.mark.parametrize(
    "side", [7_000, 12_000, 20_000], ids=["over the limit", "over twice the limit", "over Pillow's own stop"]
)
def test_one_pixel_limit_with_one_wording_in_cli_library_and_web_page(side, tiny_run, tmp_path, capsys):
    """A 7000², 12000² or 20000² image (the last one stopped by Pillow itself) is refused from its header, in the same
    sentence everywhere."""
    import facepalsy
    from facepalsy.data.images import MAX_PIXELS, too_many_pixels

    path = tmp_path / "big.png"
    path.write_bytes(_png_header_only(side, side))
    sentence = too_many_pixels(side * side, (side, side)) if side < 20_000 else too_many_pixels(side * side)
    assert (
        f"the limit against decompression bombs is {MAX_PIXELS:,}" in sentence and f"{side * side:,} pixels" in sentence
    )
    assert main(["predict", str(tiny_run), str(path)]) == 2
    assert sentence in capsys.readouterr().err
    assert facepalsy.load(tiny_run).predict(path).error == sentence
    pytest.importorskip("gradio", reason="the web page is the web extra")
    from facepalsy.app.page_analysis import Analyzer

    assert sentence in Analyzer(facepalsy.load(tiny_run), tmp_path / "work").photo(str(path)).verdict


def test_a_48_megapixel_phone_jpeg_is_decoded_reduced_and_a_png_that_size_refused(tmp_path, capsys):
    from PIL import Image

    from facepalsy.data.images import MAX_PIXELS, load_image

    phone = tmp_path / "phone.jpg"
    Image.new("RGB", (8000, 6000), (180, 150, 130)).save(phone, quality=80)
    decoded = load_image(phone)
    assert decoded.size == (4000, 3000) and decoded.width * decoded.height <= MAX_PIXELS
    assert "1/2 scale" in capsys.readouterr().err
    png = tmp_path / "phone.png"
    png.write_bytes(_png_header_only(8000, 6000))
    with pytest.raises(BadImageError):
        load_image(png)
