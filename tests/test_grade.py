"""Measures in mm and the eFACE-style grade, on the shipped canonical face moved as a palsy or an expression would
move it (no MediaPipe needed), and the grade command on drawn faces (the face extra)."""

from __future__ import annotations

import csv
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from facepalsy.face.grade import ITEMS, SMILE_ALONE, TITLES, grade
from facepalsy.face.millimetres import (
    INTEROCULAR_MM,
    IRIS,
    IRIS_MM,
    LOWER_LID,
    MOUTH_CORNER,
    SUBNASALE,
    UPPER_BROW,
    UPPER_LID,
    millimetres,
)
from facepalsy.face.pose import canonical_face

IRIS_UNITS = 0.19  # an iris 0.19 inter-ocular distances across: 11.77 / 0.19 = 61.9 mm per unit
SCALE = IRIS_MM / IRIS_UNITS
RIGHT, LEFT = 0, 1


def face() -> np.ndarray:
    """The canonical face (eye frame, 478 points) with round irises IRIS_UNITS across."""
    mesh = canonical_face()[:, :2].copy()
    for centre, (a, b), (c, d) in IRIS:
        radius = IRIS_UNITS / 2
        mesh[a], mesh[b] = mesh[centre] + (radius, 0), mesh[centre] - (radius, 0)
        mesh[c], mesh[d] = mesh[centre] + (0, radius), mesh[centre] - (0, radius)
    return mesh


def moved(mesh: np.ndarray, points, dy_mm: float = 0.0, dx_mm: float = 0.0) -> np.ndarray:
    """A copy with ``points`` moved by mm (y down)."""
    out = mesh.copy()
    out[list(np.atleast_1d(points))] += (dx_mm / SCALE, dy_mm / SCALE)
    return out


def exam(sides=(RIGHT, LEFT), weak=None, weakness: float = 1.0) -> dict:
    """A full exam's mm measures: each expression moves both sides, and the ``weak`` side moves ``1 − weakness`` as
    far."""
    rest = face()

    def act(points_per_side, dy, dx=0.0):
        mesh = rest.copy()
        for side in sides:
            share = 1.0 - weakness if side == weak else 1.0
            sign = -1 if side == RIGHT else 1
            mesh = moved(mesh, points_per_side[side], dy * share, sign * dx * share)
        return mesh

    closed = act(UPPER_LID, 8.0)  # the upper lid comes down 8 mm
    return {
        name: millimetres(mesh)
        for name, mesh in {
            "rest": rest,
            "brow_raise": act(UPPER_BROW, -8.0),
            "eye_closure_gentle": closed,
            "eye_closure_full": closed,
            "smile": act(MOUTH_CORNER, -6.0, 6.0),
            "lip_depression": act(([61, 146, 91, 181, 84], [291, 375, 321, 405, 314]), 4.0),
            "pucker": act(MOUTH_CORNER, 0.0, -5.0),
        }.items()
    }


def test_the_iris_sets_the_scale_and_the_inter_ocular_distance_stands_in_without_it():
    measured = millimetres(face())
    assert measured.scale == "iris" and measured.mm_per_unit == pytest.approx(SCALE)
    assert millimetres(face(), iris_mm=12.5).mm_per_unit == pytest.approx(12.5 / IRIS_UNITS)
    fallback = millimetres(face()[:468])
    assert fallback.scale == "inter-ocular" and fallback.mm_per_unit == INTEROCULAR_MM


def test_a_symmetric_face_measures_alike_and_a_lowered_corner_moves_only_its_side():
    rest = millimetres(face())
    for name in rest.right:
        assert rest.right[name] == pytest.approx(rest.left[name], rel=0.02, abs=0.2), name
    droop = millimetres(moved(face(), MOUTH_CORNER[LEFT], dy_mm=3.0))
    assert droop.left["commissure_height"] - rest.left["commissure_height"] == pytest.approx(3.0)
    assert droop.right["commissure_height"] == pytest.approx(rest.right["commissure_height"])
    assert droop.difference("commissure_height") == pytest.approx(3.0, abs=0.01)
    assert droop.left["smile_angle"] < rest.left["smile_angle"]
    # MRD1 + MRD2 is the palpebral fissure height
    assert rest.right["palpebral_fissure"] == pytest.approx(rest.right["mrd1"] + rest.right["mrd2"])
    assert rest.percent("commissure_height", healthy="right") == pytest.approx(
        100 * droop.left["commissure_height"] / droop.right["commissure_height"], rel=0.05
    )


def test_a_symmetric_full_exam_grades_100_on_every_item():
    result = grade(exam())
    assert result.measured == len(ITEMS) and not result.missing_expressions
    for item in result.items.values():
        assert item.score == pytest.approx(100.0, abs=1.0), item.name
    assert result.total == pytest.approx(100.0, abs=1.0)


def test_a_mouth_sitting_further_to_one_side_in_the_smile_photo_still_grades_a_symmetric_smile_100():
    """A slightly turned head puts the nose and mouth a few mm off the eyes' midline in one photo and not in the
    other: the corners' movement is read from the subnasale, so only the smile itself counts."""
    photos = exam()
    rest = face()
    below_nose = np.flatnonzero(rest[:, 1] >= rest[SUBNASALE, 1] - 1e-9)
    smile = moved(rest, MOUTH_CORNER[RIGHT], -6.0, -6.0)
    smile = moved(moved(smile, MOUTH_CORNER[LEFT], -6.0, 6.0), below_nose, dx_mm=3.0)
    photos["smile"] = millimetres(smile)
    item = grade(photos).items["commissure_with_smile"]
    assert item.score == pytest.approx(100.0, abs=1.0)
    assert item.healthy == pytest.approx(np.hypot(6.0, 6.0), abs=0.1)


@pytest.mark.parametrize("weak", [RIGHT, LEFT], ids=["right", "left"])
def test_a_weak_side_is_found_and_graded_by_how_much_less_it_moves(weak):
    side = ("right", "left")[weak]
    half = grade(exam(weak=weak, weakness=0.5))
    assert half.affected_side == side
    for name in ("brow_elevation", "gentle_eye_closure", "commissure_with_smile", "lower_lip"):
        assert half.items[name].score == pytest.approx(50.0, abs=6.0), name
    flaccid = grade(exam(weak=weak, weakness=1.0))
    assert all(flaccid.items[n].score < 10 for n in ("brow_elevation", "full_eye_closure", "commissure_with_smile"))
    assert flaccid.total < half.total < 100
    # the exam's reading names the side: graded on it even where the other would grade lower
    other = ("left", "right")[weak]
    assert grade(exam(weak=weak, weakness=0.5), affected_side=other).items["brow_elevation"].score == 100.0


def _from_measures(name: str, measures: dict, side: str) -> float:
    """An item's healthy or affected value computed again from nothing but its stored measures."""
    rest, moved = (measures[e] for e in (*measures, *measures)[:2])  # one photo (static) or rest and the expression
    if name == "commissure_with_smile":
        return float(np.hypot(moved[f"{side}_x"] - rest[f"{side}_x"], moved[f"{side}_y"] - rest[f"{side}_y"]))
    if name in ("gentle_eye_closure", "full_eye_closure"):
        return 100.0 * (1.0 - moved[side] / rest[side])
    if name == "ocular_synkinesis":
        return 100.0 * moved[side] / rest[side]
    if ITEMS[name][0] == "static":
        return rest[side]
    return moved[side] - rest[side]


@pytest.mark.parametrize("weak", [RIGHT, LEFT], ids=["right", "left"])
def test_every_items_stored_measures_reproduce_its_values(weak):
    """Issue 52: commissure with smile stored lower-lip distances while scored from the subnasale."""
    result = grade(exam(weak=weak, weakness=0.4))
    for name, item in result.items.items():
        healthy = "left" if item.affected_side == "right" else "right"
        assert item.score is not None and list(item.measures) == list(item.expressions), name
        assert _from_measures(name, item.measures, healthy) == pytest.approx(item.healthy, abs=1e-6), name
        assert _from_measures(name, item.measures, item.affected_side) == pytest.approx(item.affected, abs=1e-6), name


def test_a_missing_expression_leaves_its_items_missing_never_100():
    photos = exam()
    for gone in ("eye_closure_full", "lip_depression", "pucker", "smile"):
        photos.pop(gone)
    result = grade(photos)
    assert result.items["full_eye_closure"].score is None and result.items["lower_lip"].score is None
    assert result.items["ocular_synkinesis"].score is None  # needs smile or pucker
    assert result.items["gentle_eye_closure"].score is not None
    assert set(result.missing_expressions) == {"eye_closure_full", "smile", "lip_depression", "smile or pucker"}
    assert result.to_dict()["items"]["full_eye_closure"]["score"] is None
    assert result.measured == 5 and result.to_dict()["items_measured"] == 5
    nothing = grade({"smile": millimetres(face())}, smile_reading=0.4)  # no rest: all but the smile reading's missing
    assert [n for n, i in nothing.items.items() if i.score is not None] == ["commissure_with_smile"]
    assert nothing.items["commissure_with_smile"].basis == SMILE_ALONE
    # a smile alone is graded from its smile reading: 100 up to the healthy median, less as the reading grows
    scores = [
        grade({"smile": millimetres(face())}, smile_reading=r).items["commissure_with_smile"].score
        for r in (0.4, 1.0, 2.0, 4.0, 6.0)
    ]
    assert scores[0] == 100 and scores[0] > scores[1] > scores[2] > scores[3] > scores[4] == 0
    assert grade({"smile": millimetres(face())}).items["commissure_with_smile"].score is None  # no reading: missing


@pytest.mark.parametrize("side", [RIGHT, LEFT], ids=["right", "left"])
def test_static_items_fall_with_the_size_of_a_droop_on_the_drooping_side(side):
    name = ("right", "left")[side]
    corner, brow = [], []
    for mm in (0.0, 2.0, 4.0, 6.0):
        rest = {"rest": millimetres(moved(face(), MOUTH_CORNER[side], dy_mm=mm))}
        corner.append(grade(rest, affected_side=name).items["commissure_at_rest"].raw)
        brow.append(grade({"rest": millimetres(moved(face(), UPPER_BROW[side], dy_mm=mm))}, name).items)
    assert corner == sorted(corner, reverse=True) and len(set(corner)) == 4
    brows = [items["brow_at_rest"].score for items in brow]
    assert brows == sorted(brows, reverse=True) and len(set(brows)) == 4
    lid = grade({"rest": millimetres(moved(face(), LOWER_LID[side], dy_mm=2.0))}, name)  # a wider fissure
    assert lid.items["palpebral_fissure_at_rest"].raw < 100  # eFACE: toward 0 for a wide eye


def test_the_grade_document_has_the_keys_a_clinic_reads():
    document = json.loads(json.dumps(grade(exam(weak=LEFT, weakness=0.3)).to_dict()))
    assert set(ITEMS) == set(document["items"])
    assert {"static", "dynamic", "synkinesis", "total"} <= set(document)
    assert all({"score", "measures_mm"} <= set(item) for item in document["items"].values())
    brow = document["items"]["brow_elevation"]["measures_mm"]
    assert set(brow) == {"rest", "brow_raise"} and set(brow["rest"]) == {"right", "left"}


@pytest.fixture(scope="module")
def drawn_exam(tmp_path_factory):
    """A drawn face's rest, smile and brow raise, saved as an exam folder (the face extra finds it)."""
    from drawn_faces import drawn_face
    from PIL import Image

    from facepalsy.face.detect import mediapipe_available

    if not mediapipe_available():
        pytest.skip("the grade command needs the face extra (bash scripts/setup)")
    folder = tmp_path_factory.mktemp("exam")
    poses = {
        "rest": {"smile": 0.0, "eye_open": 1.0, "brow_raise": 0.0},
        "smile": {"smile": 1.0, "eye_open": 1.0, "brow_raise": 0.0},
        "brow_raise": {"smile": 0.0, "eye_open": 1.0, "brow_raise": 1.0},
    }
    for name, pose in poses.items():
        Image.fromarray(drawn_face(3, pose)).save(folder / f"{name}.png")
    return folder


def test_grade_command_json_csv_and_xlsx_hold_the_same_numbers(drawn_exam, tmp_path, capsys):
    import pandas as pd
    from openpyxl import load_workbook

    from facepalsy.app.cli import main

    capsys.readouterr()
    assert main(["grade", str(drawn_exam), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document["missing_expressions"]) >= {"eye_closure_gentle", "eye_closure_full", "lip_depression"}
    assert document["items"]["full_eye_closure"]["score"] is None
    assert document["items"]["brow_at_rest"]["score"] is not None
    assert set(document["photos"]) == {"rest", "smile", "brow_raise"}
    for suffix in ("csv", "xlsx"):
        out = tmp_path / f"grade.{suffix}"
        assert main(["grade", str(drawn_exam), "--out", str(out)]) == 0
        if suffix == "csv":
            frame = pd.read_csv(out)
            photos = frame[frame["Photo"].notna()].set_index("Expression")
            items = frame[frame["Item"].notna()].set_index("Item")
            score, total = "Score", "total"
        else:
            book = load_workbook(out)
            rows = list(book["measures (mm)"].values)
            photos = pd.DataFrame(rows[1:], columns=rows[0]).set_index("Expression")
            rows = list(book["grade"].values)
            start = next(i for i, row in enumerate(rows) if row[0] == "Item")
            items = pd.DataFrame(rows[start + 1 :], columns=rows[start]).set_index("Item")
            score, total = "Score (0–100)", "Total"
        assert set(photos.index) == {"rest", "smile", "brow_raise"} and photos.loc["rest", "Photo"] == "rest.png"
        rest = document["photos"]["rest"]
        assert photos.loc["rest", "Brow height Right (mm)"] == pytest.approx(rest["right"]["brow_height"], abs=0.01)
        for name, item in document["items"].items():
            expected = item["score"]
            got = items.loc[name if suffix == "csv" else TITLES[name], score]
            assert (pd.isna(got) and expected is None) or got == pytest.approx(expected), name
        assert items.loc[total, score] == pytest.approx(document["total"])


def test_the_grade_workbook_is_one_a_clinic_can_read(drawn_exam, tmp_path):
    """Issue 52, item 9: a header block, clinical names, units, widths, a frozen header, the side as graded."""
    from openpyxl import load_workbook

    from facepalsy.app.cli import main

    out = tmp_path / "grade.xlsx"
    assert main(["grade", str(drawn_exam), "--out", str(out)]) == 0
    sheet = load_workbook(out)["grade"]
    rows = list(sheet.values)
    block = {row[0]: row[1] for row in rows[:7] if row and row[0]}
    assert block["Exam"] == drawn_exam.name and block["Exam date"] == "not in the photos"
    assert block["Items graded"].startswith("6 of 9 items; missing: ") and "eye closure full" in block["Items graded"]
    assert block["Affected side"].startswith("none read") and "iris diameter of 11.77 mm" in block["Scale"]
    assert any(row[0] and row[0].startswith("Research use only") for row in rows[:8])
    start = next(i for i, row in enumerate(rows) if row[0] == "Item")
    assert start < 9 and sheet.freeze_panes == f"B{start + 2}"  # the items start near the top, under a frozen header
    assert rows[start][:6] == ("Item", "Score (0–100)", "± MDC95", "Healthy side", "Affected side", "Unit")
    names = [row[0] for row in rows[start + 1 : start + 10]]
    assert names == list(TITLES.values()) and "brow_at_rest" not in str(rows)
    assert sheet.column_dimensions["A"].width >= 25 and sheet.column_dimensions["H"].width >= 40
    missing = rows[start + 1 + list(TITLES).index("full_eye_closure")]
    assert missing[1] is None and "no eye_closure_full photo" in missing[7]
    brow = rows[start + 1]
    assert brow[1] is not None and brow[2] > 0  # a graded item has its MDC95 beside its score


def test_grade_and_exam_print_their_tables_on_stdout(drawn_exam, tmp_path, capsys):
    """`grade X > f` and `exam X > f` keep the tables (issue 52): results on stdout, progress and paths on stderr."""
    from facepalsy.app.cli import main

    capsys.readouterr()
    assert main(["grade", str(drawn_exam)]) == 0
    printed = capsys.readouterr()
    assert "commissure at rest" in printed.out.lower() and "total" in printed.out.lower()
    assert "commissure" not in printed.err.lower()
    assert main(["exam", str(drawn_exam), "--out", str(tmp_path / "exam"), "--grade"]) == 0
    printed = capsys.readouterr()
    assert "mouth" in printed.out and "commissure at rest" in printed.out.lower()
    assert "report:" in printed.err and "mouth" not in printed.err
    # the exam's movements in mm on the rest photo's scale, as the grade's (issue 52, item 11)
    document = json.loads((tmp_path / "exam" / "exam.json").read_text())
    scale = document["grade"]["photos"]["rest"]["mm_per_unit"]
    mouth = document["regions"]["mouth"]["movement"]
    report = (tmp_path / "exam" / "exam.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| mouth |"))
    assert f"| {mouth['right'] * scale:.1f} | {mouth['left'] * scale:.1f} |" in row and "movement right (mm)" in report


def test_grade_refuses_an_unknown_export_and_an_impossible_iris(drawn_exam, tmp_path):
    from facepalsy.app.cli import main

    assert main(["grade", str(drawn_exam), "--out", str(tmp_path / "grade.txt")]) == 2
    assert main(["grade", str(drawn_exam), "--iris-mm", "30"]) == 2
    assert not (tmp_path / "grade.txt").exists()


def test_exam_carries_the_grade_in_its_document_and_report(drawn_exam, tmp_path, capsys):
    from facepalsy.app.cli import main

    out = tmp_path / "exam"
    capsys.readouterr()
    assert main(["exam", str(drawn_exam), "--out", str(out), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["grade"]["items_measured"] == json.loads((out / "exam.json").read_text())["grade"]["items_measured"]
    assert document["grade"]["items"]["lower_lip"]["score"] is None
    assert (out / "grade.png").stat().st_size > 0
    for path in out.iterdir():  # a patient's data: readable by its owner only, as the record database is
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
    graded = tmp_path / "grade.csv"
    assert main(["grade", str(drawn_exam), "--out", str(graded)]) == 0 and stat.S_IMODE(graded.stat().st_mode) == 0o600


SHARED = Path(__file__).resolve().parents[2] / "shared" / "realfaces"
EXPRESSIONS = Path(os.environ.get("FACEPALSY_EXPRESSIONS", SHARED / "expressions"))


@pytest.mark.skipif(
    not (EXPRESSIONS / "manifest.csv").is_file(),
    reason=f"needs the healthy-expressions photos at {EXPRESSIONS} (set FACEPALSY_EXPRESSIONS); not in the repo",
)
def test_on_real_studio_photos_the_iris_scale_agrees_and_a_warped_corner_or_lid_grades_lower():
    from facepalsy.data.images import load_image
    from facepalsy.data.synth import close_eyelids, warp_region
    from facepalsy.face.asymmetry import image_asymmetry
    from facepalsy.face.detect import largest_face, mediapipe_available

    if not mediapipe_available():
        pytest.skip("measures faces: the face extra")
    rows = [r for r in csv.DictReader((EXPRESSIONS / "manifest.csv").open()) if r["source"] == "KDEF"]
    rows = [r for r in rows if r["exam_expression"] == "rest" and r["session"] == "A"][:12]
    ratios = []
    for row in rows:
        rgb = np.asarray(load_image(EXPRESSIONS / row["path"]))
        ratios.append(image_asymmetry(rgb, expression="rest")[0].millimetres().mm_per_unit / INTEROCULAR_MM)
    assert abs(np.median(ratios) - 1) <= 0.10 and np.mean(np.abs(np.array(ratios) - 1) <= 0.10) >= 0.75, ratios
    rgb = np.asarray(load_image(EXPRESSIONS / rows[0]["path"]))
    face = largest_face(rgb, backend="mediapipe")
    iod = float(np.hypot(*np.subtract(face.left_eye, face.right_eye)))
    pixels_per_mm = iod / (INTEROCULAR_MM * ratios[0])
    raw = []
    for mm in (0, 2, 4, 6):  # the patient's left mouth corner (mesh 291) moved down
        image = warp_region(rgb, face.landmarks[291], (0.0, mm * pixels_per_mm), 0.16 * iod) if mm else rgb
        rest = image_asymmetry(image, expression="rest")[0].millimetres()
        raw.append(grade({"rest": rest}, "left").items["commissure_at_rest"].raw)
    assert raw == sorted(raw, reverse=True) and raw[0] - raw[-1] > 20, raw
    rest = image_asymmetry(rgb, expression="rest")[0].millimetres()
    scores = []
    for held_open in (0.0, 0.5, 1.0):  # both eyes shut by the lid warp, the patient's left held back
        image = rgb
        for upper, lower, share in ((159, 145, 1.0), (386, 374, 1.0 - held_open)):
            image = close_eyelids(image, face.landmarks[upper], face.landmarks[lower], 0.5 * iod, share)
        closed = image_asymmetry(image, expression="eye_closure_full")[0].millimetres()
        scores.append(grade({"rest": rest, "eye_closure_full": closed}, "left").items["full_eye_closure"].score)
    assert scores == sorted(scores, reverse=True) and scores[0] - scores[-1] > 50, scores


def test_ocular_synkinesis_is_the_shortfall_of_the_affected_eye_not_a_ratio_of_two_shut_eyes():
    rest = face()
    lid_drop_mm = millimetres(rest).right["palpebral_fissure"]

    def smiling(right_shut: float, left_shut: float):
        mesh = moved(rest, UPPER_LID[RIGHT], right_shut * lid_drop_mm)
        return millimetres(moved(mesh, UPPER_LID[LEFT], left_shut * lid_drop_mm))

    laugh = grade({"rest": millimetres(rest), "smile": smiling(0.93, 0.97)}, "left").items["ocular_synkinesis"]
    assert laugh.score == pytest.approx(100 - (laugh.healthy - laugh.affected)) and laugh.score > 90
    one_eye = grade({"rest": millimetres(rest), "smile": smiling(0.0, 0.5)}, "left").items["ocular_synkinesis"]
    assert one_eye.score == pytest.approx(50, abs=3)
    healthy_shuts = grade({"rest": millimetres(rest), "smile": smiling(0.5, 0.0)}, "left")
    assert healthy_shuts.items["ocular_synkinesis"].score == 100
