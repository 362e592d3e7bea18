"""Healthy reference ranges and the clinical exam, on drawn and warped faces (the face extra)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from drawn_faces import SIZE, drawn_face, warp_region
from PIL import Image

from facepalsy.app.cli import main
from facepalsy.face.detect import largest_face, mediapipe_available

pytestmark = pytest.mark.skipif(
    not mediapipe_available(), reason="reference ranges and the exam need the face extra (bash scripts/setup)"
)


@pytest.fixture(scope="module")
def norms(tmp_path_factory) -> Path:
    """Reference ranges from 30 drawn healthy faces, built by the CLI."""
    folder = tmp_path_factory.mktemp("healthy")
    for i in range(30):
        Image.fromarray(drawn_face(200 + i, {"smile": float(np.random.default_rng(i).uniform(0, 1))})).save(
            folder / f"h{i:02d}.png"
        )
    out = folder.parent / "norms.json"
    flags = ["--source", "drawn healthy faces", "--retest-photos", "0"]
    assert main(["norms", "build", str(folder), "--out", str(out), *flags]) == 0
    values = json.loads(out.read_text())
    assert (
        values["count"] >= 25
        and values["source"] == "drawn healthy faces"
        and set(values["regions"]) == {"brow", "eye", "mid_face", "mouth"}
    )
    return out


def _asymmetry_json(path: Path, norms: Path, capsys) -> dict:
    capsys.readouterr()
    assert main(["asymmetry", str(path), "--json", "--norms", str(norms)]) == 0
    return json.loads(capsys.readouterr().out)


# (region, landmark of the patient's left side, displacement and reach in inter-ocular distances): each makes that side
# look
# weaker (a lower mouth corner, a lower brow, a wider-open eye, a sagging cheek that lengthens the nose-to-mouth-corner
# distance). Other regions may
# move too (the face mesh is fitted as a whole), so only the warped region is asserted.
WARPS = [
    ("mouth", 291, (0.0, 0.14), 0.16),
    ("brow", 334, (0.0, 0.14), 0.16),
    ("eye", 386, (0.0, -0.08), 0.08),
    ("mid_face", 291, (0.0, 0.20), 0.16),
]


@pytest.mark.parametrize("region, landmark, shift, sigma", WARPS, ids=[w[0] for w in WARPS])
def test_a_warped_region_is_flagged_on_its_side_and_a_healthy_face_names_no_side(
    region, landmark, shift, sigma, norms, tmp_path, capsys
):
    rgb = drawn_face(7)
    healthy = tmp_path / "healthy.png"
    Image.fromarray(rgb).save(healthy)
    reading = _asymmetry_json(healthy, norms, capsys)
    assert reading["outside_healthy_range"] is False and reading["more_affected_side"] is None

    face = largest_face(rgb, backend="mediapipe")
    iod = float(np.hypot(*np.subtract(face.left_eye, face.right_eye)))
    for side, image in (("left", None), ("right", "mirror")):
        warped = warp_region(rgb, face.landmarks[landmark], (shift[0] * iod, shift[1] * iod), sigma * iod)
        warped = np.ascontiguousarray(warped[:, ::-1]) if image == "mirror" else warped
        path = tmp_path / f"{region}_{side}.png"
        Image.fromarray(warped).save(path)
        result = _asymmetry_json(path, norms, capsys)
        flagged = result["reference"]["regions"][region]
        assert flagged["outside_healthy_range"] and flagged["weaker_side"] == side, (
            region,
            side,
            result["reference"]["regions"],
        )
        assert result["outside_healthy_range"] is True


def test_exam_on_rest_smile_and_eye_closure_names_what_is_missing(norms, tmp_path, capsys):
    expressions = {
        "rest": {"smile": 0.0},
        "smile": {"smile": 1.0},
        "eye_closure_full": {"smile": 0.0, "eye_open": 0.45},
    }
    for who, identity in (("healthy", {}), ("palsy", {"palsy": True, "side": 1})):
        folder = tmp_path / who
        folder.mkdir()
        for name, expression in expressions.items():
            Image.fromarray(drawn_face(11, {"eye_open": 1.0, "brow_raise": 1.0, **expression}, **identity)).save(
                folder / f"{name}.jpg"
            )
        capsys.readouterr()
        assert main(["exam", str(folder), "--json", "--norms", str(norms), "--out", str(tmp_path / f"exam_{who}")]) == 0
        document = json.loads(capsys.readouterr().out)
        assert document["missing"] == ["brow_raise", "eye_closure_gentle", "snarl", "pucker", "lip_depression"]
        assert set(document["regions"]) == {"brow", "eye", "mid_face", "mouth"} and "outside_healthy_range" in document
        mouth = document["regions"]["mouth"]
        assert mouth["expression"] == "smile" and mouth["movement"]["left"] > 0 and mouth["movement"]["right"] > 0
        assert document["regions"]["brow"]["movement"] is None and "brow_raise" in document["regions"]["brow"]["note"]
        report = (tmp_path / f"exam_{who}" / "exam.md").read_text()
        assert "Missing expressions: brow_raise" in report and (tmp_path / f"exam_{who}" / "regions.png").is_file()
        assert (tmp_path / f"exam_{who}" / "landmarks_smile.png").is_file()
        if who == "healthy":
            assert document["outside_healthy_range"] is False and document["more_affected_side"] is None
            assert document["palsy_pattern"] is None and "Pattern:" not in report
            assert mouth["symmetry_percent"] > 85  # a healthy smile moves both corners about alike (96% here)
        else:
            assert mouth["movement"]["left"] < mouth["movement"]["right"]  # the drooping side follows the smile less
            assert document["outside_healthy_range"] is True and document["more_affected_side"] == "left"
            assert mouth["symmetry_percent"] < 80  # the drooping corner follows the smile less (63% here)
            # brow, eye and mouth droop on the left: the whole side, a peripheral pattern
            assert (document["palsy_pattern"]["pattern"], document["palsy_pattern"]["side"]) == ("peripheral", "left")


def test_an_exam_whose_rest_photo_has_no_face_says_so_first_and_grades_nothing_from_rest(norms, tmp_path, capsys):
    """Issue 52, item 6: not "within the healthy range in every region" over a table of dashes."""
    folder = tmp_path / "visit"
    folder.mkdir()
    Image.fromarray(np.full((SIZE, SIZE, 3), 128, np.uint8)).save(folder / "rest.png")  # no face
    for name, pose in (("smile", {"smile": 1.0}), ("brow_raise", {"smile": 0.0, "brow_raise": 1.0})):
        Image.fromarray(drawn_face(3, {"eye_open": 1.0, "brow_raise": 0.0, **pose})).save(folder / f"{name}.png")
    capsys.readouterr()
    assert main(["exam", str(folder), "--grade", "--norms", str(norms), "--out", str(tmp_path / "exam")]) == 0
    shown = capsys.readouterr().out
    said = shown[shown.index("The rest photo") :]
    assert said.startswith("The rest photo has no usable face") and said.index("no grade item") < len(said)
    assert shown.index("The rest photo") < shown.index("Within the healthy range")  # what it cannot say, first
    assert "The rest photo has no usable face" in (tmp_path / "exam" / "exam.md").read_text()
    document = json.loads((tmp_path / "exam" / "exam.json").read_text())
    for item in ("brow_at_rest", "palpebral_fissure_at_rest", "commissure_at_rest", "brow_elevation"):
        assert document["grade"]["items"][item]["score"] is None, item


def test_exam_refuses_a_folder_without_expression_names(tmp_path, capsys):
    Image.fromarray(drawn_face(3)).save(tmp_path / "IMG_0001.jpg")
    assert main(["exam", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "no photo named by an expression" in capsys.readouterr().err


def test_exam_of_a_video_finds_rest_and_peaks_and_draws_the_timeline(norms, tiny_run, tmp_path, capsys):
    """A drawn palsy face at rest, smiling, at rest again: the mouth's peak is a smile frame; frames without a face are
    marked."""
    frames = [drawn_face(11, {"smile": s}, palsy=True, side=1) for s in (0.0, 0.0, 0.0, 0.5, 1.0, 1.0, 0.5, 0.0, 0.0)]
    frames.insert(6, np.full_like(frames[0], 90))  # a blank frame: no face
    video = tmp_path / "clip.mkv"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 6, (SIZE, SIZE))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    out = tmp_path / "exam"
    capsys.readouterr()
    assert main(["exam", str(video), "--json", "--norms", str(norms), "--out", str(out), "--run", str(tiny_run)]) == 0
    document = json.loads(capsys.readouterr().out)
    peak = document["video"]["peaks"]["mouth"]
    assert (
        document["kind"] == "video" and document["video"]["frames"] == 10 and document["video"]["frames_measured"] == 9
    )
    assert 4 / 6 - 0.01 <= peak["time"] <= 5 / 6 + 0.01  # a full-smile frame
    assert document["video"]["rest_time"] in {round(i / 6, 3) for i in (0, 1, 2, 8, 9)}  # a resting frame
    assert (out / "timeline.png").is_file() and (out / "peak_mouth.png").is_file()
    # only the smile was made: the other regions' largest movements are not their expressions, and are missing
    assert peak["expression"] == "smile" and peak["confidence"] > 0 and "smile" in document["expressions"]
    made = {p["expression"] for p in document["video"]["peaks"].values()} - {None}
    assert made == {"smile"} and {"brow_raise", "eye_closure_full", "snarl"} <= set(document["missing"])
    assert not {"eye_closure_full", "snarl"} & set(document["expressions"])
    assert set(document["grade"]["missing_expressions"]) <= set(document["missing"])  # missing means missing everywhere
    assert (
        document["cnn"]["frames"] == 10 and (out / "cnn" / "frames.csv").is_file()
    )  # the CNN's timeline beside the regions
    assert document["regions"]["mouth"]["movement"]["left"] < document["regions"]["mouth"]["movement"]["right"]


def test_a_video_names_only_the_expressions_made(norms, tmp_path, capsys):
    """Rest, a brow raise, rest, a smile (issue 52): the eyes and the mid-face move in the brow raise, but no eye
    closes and no snarl is made, so both are missing, in the exam and in its grade, and the smile and the brow raise
    are named with their confidence."""
    still = {"smile": 0.0, "eye_open": 1.0, "brow_raise": 1.0}
    plan = [still] * 3 + [still | {"brow_raise": 1.8}] * 3 + [still] * 3 + [still | {"smile": 1.0}] * 3 + [still] * 2
    video = tmp_path / "clip.mkv"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 6, (SIZE, SIZE))
    for expression in plan:
        writer.write(cv2.cvtColor(drawn_face(12, expression), cv2.COLOR_RGB2BGR))
    writer.release()
    capsys.readouterr()
    assert main(["exam", str(video), "--json", "--norms", str(norms), "--out", str(tmp_path / "exam")]) == 0
    document = json.loads(capsys.readouterr().out)
    peaks = document["video"]["peaks"]
    assert peaks["brow"]["expression"] == "brow_raise" and peaks["mouth"]["expression"] == "smile"
    assert peaks["eye"]["expression"] is None and peaks["mid_face"]["expression"] is None
    assert min(peaks["brow"]["confidence"], peaks["mouth"]["confidence"]) >= 0.6
    assert {"eye_closure_full", "snarl"} <= set(document["missing"]) and "brow_raise" not in document["missing"]
    assert "eye_closure_full" in document["grade"]["missing_expressions"]  # the grade has no snarl item
    assert document["grade"]["items"]["full_eye_closure"]["score"] is None
    assert set(document["expressions"]) == {"rest", "brow_raise", "smile"}


def test_the_page_runs_an_exam_from_uploaded_photos(tiny_run, tmp_path):
    import facepalsy
    from facepalsy.app.page_analysis import Analyzer

    analyzer = Analyzer(facepalsy.load(tiny_run), tmp_path / "work")
    uploads = []
    for name, smile in (("rest", 0.0), ("smile", 1.0)):
        path = tmp_path / "uploads" / f"{name}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(drawn_face(5, {"smile": smile})).save(path)
        uploads.append(str(path))
    text, pictures, grade_text, grade_pictures, report, pending = analyzer.exam(uploads, None)
    assert set(pending.photos) == {"rest", "smile"} and pending.date_source.startswith("today")
    assert "| mouth |" in text and "Missing expressions: brow_raise" in text and len(pictures) >= 3
    # the grade panel: its table once (not in the exam's text), the item chart and each photo with its mm drawn
    assert pending.exam.grade.items["commissure_with_smile"].score is not None and "| total |" in grade_text
    assert "| total |" not in text and len(grade_pictures) == 3 and grade_pictures[1].shape[2] == 3
    assert Path(report).read_text().count("<img") == len(pictures) + len(grade_pictures)
    for name, smile in (("rest", 0.0), ("smile", 1.0)):  # a drawn palsy face (brow, eye and mouth droop on one side)
        Image.fromarray(drawn_face(5, {"smile": smile}, palsy=True, side=1)).save(tmp_path / "uploads" / f"{name}.png")
    text, *_, pending = analyzer.exam(uploads, None)
    assert (pending.exam.palsy_pattern.pattern, pending.exam.palsy_pattern.side) == ("peripheral", "left")
    assert "Upload photos named by expression" in analyzer.exam(None, None)[0]


def test_a_smiling_photo_named_rest_is_left_out_and_synkinesis_needs_rest_and_a_smile(norms, tmp_path, capsys):
    folder = tmp_path / "named"
    folder.mkdir()
    Image.fromarray(drawn_face(11, {"smile": 1.0, "eye_open": 1.0, "brow_raise": 1.0})).save(folder / "rest.png")
    Image.fromarray(drawn_face(11, {"smile": 0.0, "eye_open": 1.0, "brow_raise": 1.0})).save(folder / "snarl.png")
    Image.fromarray(drawn_face(11, {"smile": 1.0, "eye_open": 1.0, "brow_raise": 1.0})).save(folder / "smile.png")
    Image.fromarray(drawn_face(11, {"smile": 1.0})).save(folder / "smiling.jpg")  # names no expression
    capsys.readouterr()
    assert main(["exam", str(folder), "--json", "--norms", str(norms), "--out", str(tmp_path / "exam")]) == 0
    printed = capsys.readouterr()
    document = json.loads(printed.out)
    # every photo left out is named in the terminal too (issue 52, item 12)
    assert "smiling.jpg" in printed.err and "rest shows smile" in printed.err
    assert document["mismatched"] == {"rest": "smile"}  # not read as rest
    assert document["unmoved"] == ["snarl"] and "snarl" in document["expressions"]  # kept: a weak movement is a finding
    assert "rest" in document["missing"] and set(document["expressions"]) == {"smile", "snarl"}
    assert document["regions"]["eye"]["synkinesis_assessed"] is False


def test_the_charts_are_titled_by_the_exams_person_not_its_folder(monkeypatch, tmp_path):
    """The page runs an exam in a temporary folder: its charts say "2 uploaded photos", not "tmpa1b2c3" (issue 52)."""
    import facepalsy.workflows.exam as workflow
    from facepalsy.face.norms import load_norms

    folder = tmp_path / "tmpa1b2c3"
    folder.mkdir()
    for name, pose in (("rest", {"smile": 0.0}), ("smile", {"smile": 1.0})):
        Image.fromarray(drawn_face(3, {"eye_open": 1.0, "brow_raise": 0.0, **pose})).save(folder / f"{name}.png")
    titles = []
    real_regions, real_grade = workflow.plot_exam_regions, workflow.plot_grade
    monkeypatch.setattr(
        workflow, "plot_exam_regions", lambda *a, title, **k: titles.append(title) or real_regions(*a, title=title, **k)
    )
    monkeypatch.setattr(workflow, "plot_grade", lambda *a: titles.append(a[4]) or real_grade(*a))
    workflow.run_exam(folder, tmp_path / "out", load_norms(), person="2 uploaded photos")
    assert titles and all(t.startswith("2 uploaded photos") for t in titles) and "tmpa1b2c3" not in " ".join(titles)
