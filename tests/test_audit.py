"""The shortcut audit: photo acquisition that gives the label away is measured and shouted about."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facepalsy.app.cli import main
from facepalsy.data.dataset import scan_dataset
from facepalsy.data.synth import draw_face, make_identity
from facepalsy.evaluation.audit import audit, image_measures, jpeg_quality
from facepalsy.evaluation.audit_result import Audit

REALFACES = Path(
    os.environ.get("FACEPALSY_REALFACES", Path(__file__).resolve().parents[2] / "shared" / "realfaces" / "dev")
)


def _face(i: int, palsy: bool, size: int) -> Image.Image:
    return draw_face(make_identity(np.random.default_rng([i, 0]), palsy=palsy), np.random.default_rng([i, 1]), size)


@pytest.fixture(scope="module")
def confounded(tmp_path_factory) -> Path:
    """Palsy as large PNGs from one 'source', normals as small JPEGs from another, as public palsy sets are built."""
    root = tmp_path_factory.mktemp("confounded")
    for i in range(16):
        (root / "palsy").mkdir(exist_ok=True)
        (root / "normal").mkdir(exist_ok=True)
        _face(i, True, 200).save(root / "palsy" / f"p{i:02d}.png")
        _face(100 + i, False, 96).save(root / "normal" / f"n{i:02d}.jpg", quality=70)
    return root


def test_jpeg_quality_is_recovered_from_the_quantisation_table(tmp_path):
    image = _face(1, False, 64)
    for quality in (30, 50, 75, 90, 95):
        image.save(tmp_path / "q.jpg", quality=quality)
        assert jpeg_quality(Image.open(tmp_path / "q.jpg")) == pytest.approx(quality, abs=1)
    image.save(tmp_path / "q.png")
    assert np.isnan(jpeg_quality(Image.open(tmp_path / "q.png")))


def test_measures_of_one_image_see_format_size_grey_alpha_and_swapped_channels(tmp_path):
    rgb = np.asarray(_face(2, False, 80))
    Image.fromarray(rgb[..., ::-1].copy()).save(
        tmp_path / "swapped.jpg", quality=90
    )  # an OpenCV BGR image saved as RGB
    Image.fromarray(rgb).save(tmp_path / "right.jpg", quality=90)
    Image.fromarray(rgb).convert("LA").save(tmp_path / "grey.png")
    right, swapped, grey = (image_measures(tmp_path / name) for name in ("right.jpg", "swapped.jpg", "grey.png"))
    assert (right["width"], right["height"], right["jpeg"], right["png"]) == (80, 80, 1.0, 0.0)
    assert (
        right["jpeg_quality"] == pytest.approx(90, abs=1)
        and right["file_bytes"] == (tmp_path / "right.jpg").stat().st_size
    )
    assert right["red_minus_blue"] > 0 > swapped["red_minus_blue"]  # skin is red-dominant
    assert grey["grey"] == 1.0 and grey["alpha"] == 1.0 and right["grey"] == 0.0


def test_check_warns_loudly_on_a_confounded_set(confounded, capsys):
    result = audit(confounded, scan_dataset(confounded), progress=False)
    by_name = {m.name: m for m in result.measures}
    for name in ("width", "height", "file_bytes", "png", "jpeg"):
        assert by_name[name].auc == 1.0, name
    assert result.combined.auc > 0.9 and result.combined.ci95[0] > 0.7
    assert {"width", "height", "file_bytes", "png", "jpeg"} <= set(result.flagged)
    assert "width (AUC 1.00)" in result.warning and "face crop" in result.warning
    assert Audit.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    assert main(["check", str(confounded)]) == 0
    out = capsys.readouterr().out
    assert "WARNING" in out and "separates palsy from normal" in out and "file_bytes" in out
    assert main(["check", str(confounded), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["audit"]["warning"] and "warning: the photos' acquisition" in captured.err


def test_a_set_from_one_source_gets_no_warning(tmp_path):
    for i in range(16):
        for label, palsy in (("palsy", True), ("normal", False)):
            (tmp_path / label).mkdir(exist_ok=True)
            _face(i + 50 * palsy, palsy, 96).save(tmp_path / label / f"{i:02d}.jpg", quality=90)
    result = audit(tmp_path, scan_dataset(tmp_path), progress=False)
    assert not result.warning and not result.flagged, result.warning
    assert {m.name: m.auc for m in result.measures}["width"] == 0.5


def test_train_writes_the_audit_and_the_report_shows_it(confounded, tmp_path, capsys):
    from conftest import TINY_TRAIN_FLAGS

    run = tmp_path / "run"
    assert (
        main(["train", str(confounded), "--out", str(run), *TINY_TRAIN_FLAGS, "--epochs", "1", "--split", "subject"])
        == 0
    )
    assert json.loads((run / "audit.json").read_text())["warning"]
    assert "WARNING" in capsys.readouterr().err
    report = (run / "report.md").read_text()
    assert "## Shortcut audit" in report and "**Warning (shortcut audit" in report
    # a run written before the audit had its own file name keeps it in check.json; the report still shows it
    (run / "audit.json").rename(run / "check.json")
    assert main(["evaluate", str(run)]) == 0
    assert "## Shortcut audit" in (run / "report.md").read_text()


def test_files_missing_from_the_manifest_are_listed_and_one_class_is_checked(confounded, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(confounded, data)
    rows = (
        ["path,label,subject"]
        + [f"palsy/p{i:02d}.png,palsy,p{i}" for i in range(16)]
        + [f"normal/n{i:02d}.jpg,normal,n{i}" for i in range(15)]
    )
    (data / "manifest.csv").write_text("\n".join(rows) + "\n")
    assert main(["check", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["not_in_manifest"] == ["normal/n15.jpg"]
    shutil.rmtree(data / "normal")
    (data / "manifest.csv").unlink()
    assert main(["check", str(data)]) == 0  # one class: warn, don't refuse
    out = capsys.readouterr().out
    assert "only palsy images: nothing to compare" in out


@pytest.mark.slow
@pytest.mark.skipif(not REALFACES.is_dir(), reason=f"real photos not found at {REALFACES} (set FACEPALSY_REALFACES)")
def test_check_on_the_real_photo_set_names_the_size_and_file_size_confounds(capsys):
    report = json.loads((main(["check", str(REALFACES), "--json"]), capsys.readouterr().out)[1])
    by_name = {m["name"]: m["auc"] for m in report["audit"]["measures"]}
    assert by_name["width"] > 0.85 and by_name["height"] > 0.85 and by_name["file_bytes"] > 0.9
    warning = report["audit"]["warning"]
    assert "width (AUC" in warning and "file_bytes (AUC" in warning
