"""Following a patient with real measurements (the face extra): the minimal detectable change in the reference,
three recorded visits judged against it, the date and the pseudonym from EXIF or a DICOM header, DICOM photos read
like any other."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import numpy as np
import pytest
from drawn_faces import drawn_face, warp_region
from PIL import Image

from facepalsy.app.cli import main
from facepalsy.data.images import load_image
from facepalsy.face.detect import largest_face, mediapipe_available

pytestmark = pytest.mark.skipif(not mediapipe_available(), reason="follow-up measures faces: the face extra")
REGIONS = ("brow", "eye", "mid_face", "mouth")
REST = {"smile": 0.0, "eye_open": 1.0, "brow_raise": 1.0}


@pytest.fixture(scope="module")
def norms(tmp_path_factory) -> Path:
    """A reference from 24 drawn healthy resting faces, 12 of them re-measured for the MDC95."""
    folder = tmp_path_factory.mktemp("healthy")
    rng = np.random.default_rng(0)
    for i in range(24):
        Image.fromarray(drawn_face(300 + i, {**REST, "smile": float(rng.uniform(0, 0.2))})).save(folder / f"{i}.png")
    out = folder.parent / "norms.json"
    assert main(["norms", "build", str(folder), "--out", str(out), "--source", "drawn", "--retest-photos", "12"]) == 0
    retest = json.loads(out.read_text())["retest"]
    assert retest["photos"] >= 10 and retest["views_per_photo"] > 3
    assert all(value > 0 for value in retest["mdc95"]["regions"].values()) and retest["mdc95"]["overall"] > 0
    return out


def _mouth_pulled_down(rgb: np.ndarray) -> np.ndarray:
    face = largest_face(rgb, backend="mediapipe")
    iod = float(np.hypot(*np.subtract(face.left_eye, face.right_eye)))
    return warp_region(rgb, face.landmarks[291], (0.0, 0.14 * iod), 0.16 * iod)  # the patient's left mouth corner


def test_three_visits_same_photo_no_change_then_a_pulled_down_mouth_corner_reads_worse(norms, tmp_path, capsys):
    rgb, db = drawn_face(7, REST), tmp_path / "clinic" / "records.db"
    for visit, (date, picture) in enumerate(
        (("2026-01-10", rgb), ("2026-02-10", rgb), ("2026-03-10", _mouth_pulled_down(rgb))), start=1
    ):
        folder = tmp_path / f"visit{visit}"
        folder.mkdir()
        Image.fromarray(picture).save(folder / "rest.png")
        flags = ["--patient", "P-0007", "--date", date, "--db", str(db), "--norms", str(norms)]
        assert main(["exam", str(folder), "--out", str(tmp_path / f"exam{visit}"), *flags]) == 0
        assert f"recorded visit {visit} of patient P-0007 dated {date} (--date) in {db}" in capsys.readouterr().err
    assert stat.S_IMODE(db.stat().st_mode) == 0o600

    out = tmp_path / "history"
    assert main(["history", "P-0007", "--db", str(db), "--norms", str(norms), "--json", "--out", str(out)]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [exam["date"] for exam in history["exams"]] == ["2026-01-10", "2026-02-10", "2026-03-10"]
    changes = history["changes"]  # one table: the regions and the grade together (issue 52, item 8)
    assert {c["change"] for c in changes if c["value"] in REGIONS and c["to"] == "2026-02-10"} == {"no change"}
    mouth = next(c for c in changes if c["value"] == "mouth" and c["to"] == "2026-03-10")
    assert (mouth["change"], mouth["from"]) == ("worse", "2026-02-10") and mouth["difference"] > mouth["mdc95"]
    assert mouth["mdc95"] == history["mdc95"]["mouth"]
    commissure = next(c for c in changes if c["value"] == "commissure_at_rest" and c["to"] == "2026-03-10")
    assert commissure["area"] == "mouth" and commissure["difference"] < 0 and commissure["mdc95"] > 0
    assert {c["area"] for c in changes} >= {"brow", "eye", "mouth", "whole face"}
    page = (out / "history.html").read_text()
    assert page.count("Change between visits") == 1 and "worse" in page and "Oral commissure at rest" in page
    assert "▲" not in page.split("Change between visits")[0] and "▼" not in page.split("Change between visits")[0]
    assert (out / "trend.png").stat().st_size > 10_000
    from openpyxl import load_workbook  # the clinic's workbook: one row per visit under a frozen header

    sheet = load_workbook(out / "history.xlsx")["visits"]
    rows = list(sheet.values)
    start = next(i for i, row in enumerate(rows) if row[0] == "Date")
    assert rows[0][0] == "facepalsy history of patient P-0007" and sheet.freeze_panes == f"B{start + 2}"
    assert [row[0] for row in rows[start + 1 :]] == ["2026-01-10", "2026-02-10", "2026-03-10"]
    header = list(rows[start])
    assert "Oral commissure at rest (0–100)" in header and "Mouth (rest)" in header
    column = header.index("Grade total (0–100)")
    totals = [round(g["values"]["total"], 1) for g in history["grades"]]
    assert [row[column] for row in rows[start + 1 :]] == totals and None not in totals

    assert main(["history", "P-0007", "--db", str(db), "--norms", str(norms), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "change beyond measurement noise" in table and "worse" in table
    assert main(["export", "--patient", "P-0007", "--db", str(db), "--out", str(tmp_path / "record")]) == 0
    record = json.loads((tmp_path / "record" / "record.json").read_text())
    assert len(record["exams"]) == 3 and "rest" in record["exams"][0]["photos"]
    assert len((tmp_path / "record" / "record.csv").read_text().splitlines()) == 1 + 3 * 5  # 4 regions + overall
    with (tmp_path / "record" / "record.csv").open() as f:
        rows = list(csv.DictReader(f))
    mouth = [r for r in rows if r["region"] == "mouth"][-1]  # the third visit: the pulled-down corner
    assert float(mouth["healthy_percentile"]) > 50 and mouth["weaker_side"] in ("left", "right", "both", "")
    assert {"more_affected_side", "pattern", "pattern_side", "grade_total"} <= set(mouth)


def _dicom(rgb: np.ndarray, path: Path, patient_id: str, date: str, jpeg: bytes | None = None) -> Path:
    """A VL Photographic Image: uncompressed RGB, or the given JPEG baseline bytes encapsulated."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, VLPhotographicImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = VLPhotographicImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit if jpeg else ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientID, ds.PatientName, ds.AcquisitionDate, ds.Modality = patient_id, "Doe^Jane", date, "XC"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PlanarConfiguration = *rgb.shape[:2], 3, 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PhotometricInterpretation = "YBR_FULL_422" if jpeg else "RGB"
    if jpeg:
        ds.PixelData = encapsulate([jpeg])
        ds["PixelData"].VR, ds["PixelData"].is_undefined_length = "OB", True
    else:
        ds.PixelData = rgb.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_a_dicom_photo_reads_like_the_same_pixels_as_png_and_jpeg_pixel_data_decodes(norms, tmp_path, capsys):
    rgb = drawn_face(8, REST)
    png = tmp_path / "face.png"
    Image.fromarray(rgb).save(png)
    dicom = _dicom(rgb, tmp_path / "face.dcm", "HOSP-123456", "20260214")
    assert np.array_equal(np.asarray(load_image(dicom)), rgb)
    readings = []
    for path in (png, dicom):
        assert main(["asymmetry", str(path), "--json", "--norms", str(norms)]) == 0
        readings.append(json.loads(capsys.readouterr().out)["reference"])
    assert readings[0] == readings[1]

    jpeg_file = tmp_path / "face.jpg"
    Image.fromarray(rgb).save(jpeg_file, quality=92)
    compressed = _dicom(rgb, tmp_path / "compressed.dcm", "HOSP-123456", "20260214", jpeg_file.read_bytes())
    difference = np.abs(np.asarray(load_image(compressed), int) - np.asarray(load_image(jpeg_file), int))
    assert difference.max() <= 2  # the same JPEG decoded by pydicom's Pillow handler (colour conversion rounding)


def test_the_patient_and_date_come_from_the_dicom_header_through_the_map_and_the_real_id_is_never_stored(
    norms, tmp_path, capsys
):
    folder, db = tmp_path / "visit", tmp_path / "records.db"
    folder.mkdir()
    _dicom(drawn_face(9, REST), folder / "rest.dcm", "HOSP-123456", "20260214")
    (tmp_path / "map.csv").write_text("real_id,pseudonym\nHOSP-123456,P-0077\n")
    flags = ["--pseudonyms", str(tmp_path / "map.csv"), "--db", str(db), "--norms", str(norms)]
    assert main(["exam", str(folder), "--out", str(tmp_path / "exam"), *flags]) == 0
    assert "patient P-0077 dated 2026-02-14 (DICOM header)" in capsys.readouterr().err
    content = b"".join(path.read_bytes() for path in tmp_path.glob("records.db*"))
    assert b"HOSP-123456" not in content and b"Doe^Jane" not in content
    (tmp_path / "map.csv").write_text("HOSP-999,P-1\n")
    assert main(["exam", str(folder), "--out", str(tmp_path / "exam2"), *flags]) == 2
    error = capsys.readouterr().err
    assert "PatientID is not in the pseudonymisation map" in error and "HOSP-123456" not in error


def test_the_exam_date_comes_from_exif_and_a_name_like_id_is_warned_about(norms, tmp_path, capsys):
    folder = tmp_path / "visit"
    folder.mkdir()
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2025:12:24 10:30:00"
    Image.fromarray(drawn_face(10, REST)).save(folder / "rest.jpg", exif=exif, quality=95)
    flags = ["--patient", "Jane Doe", "--db", str(tmp_path / "records.db"), "--norms", str(norms)]
    assert main(["exam", str(folder), "--out", str(tmp_path / "exam"), *flags]) == 0
    out = capsys.readouterr().err
    assert "dated 2025-12-24 (EXIF DateTimeOriginal)" in out and "it looks like a name" in out
    assert main(["exam", str(folder), "--date", "24/12/2025", "--patient", "P-1"]) == 2
    assert "give the date as YYYY-MM-DD" in capsys.readouterr().err
    history = ["history", "Jane Doe", "--db", str(tmp_path / "records.db"), "--out", str(tmp_path / "history")]
    assert main(history) == 0
    shown = capsys.readouterr().out
    assert "1 visit" in shown and "1 visits" not in shown  # issue 52, item 12
    before = set(Path.cwd().iterdir())  # without --out nothing is written, in the working folder least of all
    assert main(history[:-2]) == 0 and set(Path.cwd().iterdir()) == before
    assert "--out DIR writes" in capsys.readouterr().err
    # a second exam on a recorded date asks for --replace or --visit-time (issue 52, item 7)
    again = [*flags, "--out", str(tmp_path / "again")]  # the same EXIF date
    assert main(["exam", str(folder), *again]) == 2
    assert "already has a visit on 2025-12-24: give --replace" in capsys.readouterr().err
    assert main(["exam", str(folder), *again, "--replace"]) == 0
    assert "recorded visit 1 of patient Jane Doe dated 2025-12-24" in (err := capsys.readouterr().err)
    assert "replacing the earlier exam of that date" in err
    assert main(["exam", str(folder), *again, "--visit-time", "16:30"]) == 0
    assert "recorded visit 2 of patient Jane Doe dated 2025-12-24 at 16:30" in capsys.readouterr().err
    # an impossible day and a future one are refused with their own message (issue 52, item 7)
    assert main(["exam", str(folder), "--date", "2026-02-30", "--patient", "P-1"]) == 2
    assert "no such day" in capsys.readouterr().err
    assert main(["exam", str(folder), "--date", "2031-01-01", "--patient", "P-1"]) == 2
    assert "in the future" in capsys.readouterr().err


SMILE = {"smile": 1.0, "eye_open": 1.0, "brow_raise": 0.0}


def test_a_daily_smiling_selfie_is_followed_by_its_smile_reading_and_item(tmp_path, capsys):
    """Four days of one smiling photo each, a left-sided palsy recovering (the shipped reference and retest noise)."""
    db = tmp_path / "records.db"
    days = (("2026-03-01", 0.9), ("2026-03-02", 0.9), ("2026-03-03", 0.3), ("2026-03-04", 0.0))
    for day, severity in days:
        folder = tmp_path / day
        folder.mkdir()
        face = drawn_face(11, SMILE, palsy=True, severity=severity) if severity else drawn_face(11, SMILE)
        Image.fromarray(face).save(folder / "smile.png")
        flags = ["--patient", "P-0011", "--date", day, "--db", str(db), "--out", str(tmp_path / f"exam_{day}")]
        assert main(["exam", str(folder), *flags]) == 0
    capsys.readouterr()
    assert main(["history", "P-0011", "--db", str(db), "--json", "--out", str(tmp_path / "history")]) == 0
    document = json.loads(capsys.readouterr().out)
    grades = document["grades"]
    assert [g["date"] for g in grades] == [day for day, _ in days]
    smile = [g["values"]["commissure_with_smile"] for g in grades]
    reading = [g["values"]["smile_reading"] for g in grades]
    assert all(v is not None for v in smile + reading)
    assert all(g["values"]["brow_at_rest"] is None for g in grades)  # no rest photo: no static item, never 100
    assert smile[0] == smile[1] and smile[3] > smile[0] and reading[3] < reading[0]
    from scipy.stats import spearmanr  # the grade's own item follows the recovery as the reading does (issue 50)

    day = range(len(days))
    assert spearmanr(day, smile).statistic >= 0.5 and spearmanr(day, reading).statistic <= -0.5
    rows = [c for c in document["changes"] if c["value"] == "commissure_with_smile"]
    assert [c["to"] for c in rows] == [day for day, _ in days[1:]]  # the first visit has nothing to change from
    assert rows[0]["change"] == "no change" and "improved" in [c["change"] for c in rows[1:]]
    assert [c["from"] for c in document["changes"] if c["value"] == "smile_reading"][-1] == "2026-03-03"
