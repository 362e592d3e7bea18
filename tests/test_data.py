"""The data contract: image modes, EXIF, folder scan, manifest, and bad files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from facepalsy.data.dataset import PALSY, load_images, scan_dataset
from facepalsy.data.images import load_image
from facepalsy.errors import BadImageError, DataError


def _save(path, img, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kwargs)
    return path


@pytest.mark.parametrize(
    "name, make, expected",
    [
        ("rgb.jpg", lambda: Image.new("RGB", (24, 18), (200, 100, 50)), (200, 100, 50)),
        ("gray.png", lambda: Image.new("L", (24, 18), 77), (77, 77, 77)),
        ("gray_alpha.png", lambda: Image.new("LA", (24, 18), (10, 0)), (255, 255, 255)),
        ("rgba_opaque.png", lambda: Image.new("RGBA", (24, 18), (10, 20, 30, 255)), (10, 20, 30)),
        ("rgba_clear.png", lambda: Image.new("RGBA", (24, 18), (10, 20, 30, 0)), (255, 255, 255)),
        (
            "palette.png",
            lambda: Image.new("RGB", (24, 18), (0, 128, 255)).convert("P", palette=Image.Palette.ADAPTIVE),
            (0, 128, 255),
        ),
        ("sixteen.png", lambda: Image.fromarray(np.full((18, 24), 32896, np.uint16)), (128, 128, 128)),
        ("cmyk.jpg", lambda: Image.new("CMYK", (24, 18), (0, 0, 0, 0)), (255, 255, 255)),
        ("bitmap.bmp", lambda: Image.new("RGB", (24, 18), (1, 2, 3)), (1, 2, 3)),
        ("lossless.webp", lambda: Image.new("RGB", (24, 18), (40, 50, 60)), (40, 50, 60)),
    ],
)
def test_every_mode_decodes_to_8bit_rgb(tmp_path, name, make, expected):
    kwargs = {"lossless": True} if name.endswith(".webp") else {"quality": 100} if name.endswith(".jpg") else {}
    path = _save(tmp_path / name, make(), **kwargs)
    img = load_image(path)
    assert img.mode == "RGB" and img.size == (24, 18)
    pixel = np.asarray(img)[3, 4].astype(int)
    assert np.abs(pixel - expected).max() <= 2, (name, pixel)


def test_sixteen_bit_full_range_is_rescaled_not_clipped(tmp_path):
    ramp = np.kron(np.array([[0, 257 * 100, 65535]], dtype=np.uint16), np.ones((16, 16), np.uint16))
    path = _save(tmp_path / "ramp.png", Image.fromarray(ramp))
    assert np.asarray(load_image(path))[0, ::16, 0].tolist() == [0, 100, 255]


def test_exif_orientation_is_honoured(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 20, 20))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90° clockwise turn
    path = _save(tmp_path / "rotated.jpg", img, exif=exif, quality=100)
    shown = np.asarray(load_image(path))
    assert shown.shape == (40, 20, 3)
    assert shown[4, 10, 2] > 200 and shown[34, 10, 0] > 200  # blue on top after the turn, red below


@pytest.mark.parametrize("content, reason", [(b"", "not an image"), (b"hello, I am text", "not an image")])
def test_non_images_are_named(tmp_path, content, reason):
    path = tmp_path / "fake.jpg"
    path.write_bytes(content)
    with pytest.raises(BadImageError) as info:
        load_image(path)
    assert str(path) in str(info.value) and reason in str(info.value)


def test_truncated_jpeg_is_named(tmp_path):
    path = _save(tmp_path / "whole.jpg", Image.effect_noise((64, 64), 50).convert("RGB"), quality=90)
    data = path.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadImageError, match="cut.jpg"):
        load_image(cut)


def _folder_dataset(root):
    _save(root / "palsy" / "p01" / "a.jpg", Image.new("RGB", (16, 16)))
    _save(root / "palsy" / "p01" / "deep" / "b.png", Image.new("RGB", (16, 16)))
    _save(root / "palsy" / "loose.PNG", Image.new("RGB", (16, 16)))
    _save(root / "normal" / "n.bmp", Image.new("RGB", (16, 16)))
    (root / "normal" / "notes.txt").write_text("ignored")
    return root


def test_folder_scan_subject_is_first_subfolder_else_file(tmp_path):
    samples = {s.path: s for s in scan_dataset(_folder_dataset(tmp_path))}
    assert set(samples) == {"palsy/p01/a.jpg", "palsy/p01/deep/b.png", "palsy/loose.PNG", "normal/n.bmp"}
    assert samples["palsy/p01/deep/b.png"].subject == "p01"
    assert samples["palsy/loose.PNG"].subject == "palsy/loose.PNG"
    assert samples["palsy/p01/a.jpg"].label == PALSY and samples["normal/n.bmp"].label == 1 - PALSY


def test_manifest_overrides_folder_scan(tmp_path):
    root = _folder_dataset(tmp_path)
    (root / "manifest.csv").write_text(
        "path,label,subject,extra\npalsy/loose.PNG,normal,s9,x\nnormal/n.bmp,palsy,s8,y\n"
    )
    samples = scan_dataset(root)
    assert [(s.path, s.label, s.subject) for s in samples] == [("palsy/loose.PNG", 0, "s9"), ("normal/n.bmp", 1, "s8")]


@pytest.mark.parametrize(
    "manifest, message",
    [
        ("path,label\na.jpg,palsy\n", "missing column(s) subject"),
        ("path,label,subject\na.jpg,sick,s1\n", "unknown label 'sick'"),
        ("path,label,subject\n../a.jpg,palsy,s1\n", "outside the data folder"),
        ("path,label,subject\na.jpg,palsy,s1\na.jpg,palsy,s1\n", "duplicate row"),
    ],
)
def test_bad_manifest_is_explained(tmp_path, manifest, message):
    (tmp_path / "manifest.csv").write_text(manifest)
    with pytest.raises(DataError) as info:
        scan_dataset(tmp_path)
    assert message in str(info.value) and "manifest.csv" in str(info.value)


def test_missing_and_empty_class_are_named(tmp_path):
    _save(tmp_path / "palsy" / "a.jpg", Image.new("RGB", (16, 16)))
    with pytest.raises(DataError, match="normal.*class folder missing"):
        scan_dataset(tmp_path)
    (tmp_path / "normal").mkdir()
    with pytest.raises(DataError, match="no images of class normal"):
        scan_dataset(tmp_path)


def test_load_images_lists_every_bad_file_or_skips_them(tmp_path):
    root = _folder_dataset(tmp_path)
    (root / "palsy" / "bad1.jpg").write_bytes(b"nope")
    (root / "normal" / "bad2.png").write_bytes(b"")
    samples = scan_dataset(root)
    with pytest.raises(DataError) as info:
        load_images(root, samples, 16, progress=False)
    assert "bad1.jpg" in str(info.value) and "bad2.png" in str(info.value) and "--skip-bad" in str(info.value)
    images, kept, bad = load_images(root, samples, 16, skip_bad=True, progress=False)
    assert images.shape == (4, 3, 16, 16) and images.dtype == np.uint8
    assert len(kept) == 4 and sorted(b.path.name for b in bad) == ["bad1.jpg", "bad2.png"]
