"""Harmonising: the same face crop, level of detail and encoding for every photo, whichever source it came from."""

from __future__ import annotations

import csv
import io

import cv2
import numpy as np
import pytest
from PIL import Image

from facepalsy.app.cli import main
from facepalsy.config import Config
from facepalsy.data.dataset import scan_dataset
from facepalsy.data.harmonise import Harmonisation, decode_jpeg, harmonised_jpeg
from facepalsy.data.synth import draw_face, make_identity
from facepalsy.errors import FacepalsyError, NoFaceError
from facepalsy.evaluation.audit import audit
from facepalsy.face.detect import crop_face, mediapipe_available
from facepalsy.models.spec import ModelSpec

needs_face_extra = pytest.mark.skipif(
    not mediapipe_available(), reason="harmonising finds faces with the face extra (bash scripts/setup)"
)


def _face(i: int, palsy: bool, size: int) -> Image.Image:
    return draw_face(make_identity(np.random.default_rng([i, 0]), palsy=palsy), np.random.default_rng([i, 1]), size)


def _sharpness(rgb: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64), cv2.CV_64F).var())


@needs_face_extra
def test_a_sharp_large_photo_and_a_small_one_come_out_alike(tmp_path):
    settings = Harmonisation(detail=40, jpeg_quality=90)
    large = np.asarray(_face(3, False, 512))
    small = np.asarray(
        Image.fromarray(large).resize((128, 128), Image.Resampling.LANCZOS)
    )  # the same photo, saved small
    outputs = []
    for rgb in (small, large):
        data, face = harmonised_jpeg(rgb, 112, settings)
        outputs.append(decode_jpeg(data))
        assert face.faces_found == 1
        with Image.open(io.BytesIO(data)) as img:
            assert img.size == (112, 112) and img.format == "JPEG" and not img.info.get("exif")
    as_given = [
        _sharpness(crop_face(rgb, 112)[0]) for rgb in (small, large)
    ]  # the face crop alone keeps each source's detail
    harmonised = [_sharpness(rgb) for rgb in outputs]
    print(f"sharpness as given {as_given}, harmonised {harmonised}")
    assert max(as_given) / min(as_given) > 3  # cropped alone, the small photo's face is far blurrier: a source tell
    assert max(harmonised) / min(harmonised) < 1.5  # harmonised, both carry the same detail
    assert np.abs(outputs[0].astype(int) - outputs[1].astype(int)).mean() < 8  # the same face, nearly the same pixels
    assert (outputs[0][0, 0] == 128).all()  # outside the oval: grey, not background


@needs_face_extra
def test_no_face_is_refused_by_name():
    gradient = np.tile(np.linspace(0, 255, 200, dtype=np.uint8)[None, :, None], (200, 1, 3))
    with pytest.raises(NoFaceError, match="gradient.png: no face found"):
        harmonised_jpeg(gradient, 64, Harmonisation(), "gradient.png")


@needs_face_extra
def test_prepare_harmonise_takes_the_acquisition_confound_away(tmp_path, capsys):
    source = tmp_path / "source"
    for i in range(12):  # palsy as large PNGs, normals as small low-quality JPEGs: two sources
        for label in ("palsy", "normal"):
            (source / label).mkdir(parents=True, exist_ok=True)
        _face(i, True, 256).save(source / "palsy" / f"p{i:02d}.png")
        _face(100 + i, False, 128).save(source / "normal" / f"n{i:02d}.jpg", quality=60)
    Image.fromarray(np.full((200, 200, 3), 90, np.uint8)).save(source / "normal" / "blank.jpg")
    before = {m.name: m.auc for m in audit(source, scan_dataset(source), progress=False).measures}
    assert before["width"] == before["file_bytes"] == before["png"] == 1.0

    out = tmp_path / "harmonised"
    assert main(["prepare", "--images", str(source), "--out", str(out), "--harmonise", "64", "--size", "96"]) == 0
    printed = capsys.readouterr()
    said = " ".join((printed.out + printed.err).split())
    assert "wrote 24 harmonised images" in said and "1 left out" in said and "shortcut audit" in said
    assert "blank.jpg\tno face found" in (out / "left_out.txt").read_text()
    with (out / "manifest.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["harmonised_from"] for r in rows} >= {"palsy/p00.png", "normal/n00.jpg"}
    assert {r["path"] for r in rows} >= {"palsy/p00.png.jpg", "normal/n00.jpg"}
    after = audit(out, scan_dataset(out), progress=False)
    by_name = {m.name: m.auc for m in after.measures}
    for name in ("width", "height", "png", "jpeg", "jpeg_quality", "exif_rotated"):
        assert by_name[name] == 0.5, name
    assert all(Image.open(p).size == (96, 96) for p in out.rglob("*.jpg"))


def test_prepare_harmonise_refuses_to_write_into_its_source(synth_data, capsys):
    assert main(["prepare", "--images", str(synth_data), "--out", str(synth_data / "h"), "--harmonise"]) == 2
    assert "outside the source folder" in capsys.readouterr().err
    assert main(["prepare", "--images", str(synth_data), "--out", "elsewhere"]) == 2
    assert "give --harmonise" in capsys.readouterr().err


def test_settings_are_validated_and_a_spec_from_before_reads_as_it_behaved():
    with pytest.raises(FacepalsyError, match="between 32 and 1024"):
        Config(harmonise=8)
    with pytest.raises(FacepalsyError, match="cannot be combined"):
        Config(harmonise=96, face_required=False)
    spec = Config(harmonise=96).model_spec()
    assert spec.face.harmonise == Harmonisation(96) and spec.face.required and not spec.face.crop
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    old = {
        k: v
        for k, v in Config(face_required=False).model_spec().to_dict().items()
        if k not in ("require_face", "harmonise")
    }
    assert not ModelSpec.from_dict(old).face.needs_face  # whole-image runs saved before labelled every image
    old["face_crop"] = True
    assert ModelSpec.from_dict(old).face.required
