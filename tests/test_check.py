"""facepalsy check: duplicates across classes, truncated files, near-duplicates, mixed-label subjects."""

from __future__ import annotations

import json

from PIL import Image, ImageEnhance

from facepalsy.app.cli import main


def _seeded_folder(tmp_path, synth_data):
    """A small data set with one of each problem the check must report."""
    data = tmp_path / "data"
    sources = {label: sorted((synth_data / label).rglob("*.jpg")) for label in ("palsy", "normal")}
    for label, files in sources.items():
        for src in files[::6][:4]:  # one image of each of four subjects
            target = data / label / src.parent.name / src.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(src.read_bytes())
    palsy_file = next((data / "palsy").rglob("*.jpg"))
    normal_file = next((data / "normal").rglob("*.jpg"))
    # exact duplicate across classes: the same bytes filed as normal
    (data / "normal" / "copied").mkdir()
    (data / "normal" / "copied" / "dup.jpg").write_bytes(palsy_file.read_bytes())
    # near-duplicate: a resized, brightened re-encode of a normal image under another subject
    (data / "normal" / "other").mkdir()
    ImageEnhance.Brightness(Image.open(normal_file).resize((40, 40))).enhance(1.08).save(
        data / "normal" / "other" / "near.png"
    )
    # truncated JPEG
    whole = palsy_file.read_bytes()
    (data / "palsy" / "cut.jpg").write_bytes(whole[: len(whole) // 3])
    return data, palsy_file.relative_to(data).as_posix(), normal_file.relative_to(data).as_posix()


def test_check_reports_each_seeded_problem(tmp_path, synth_data, capsys):
    data, palsy_file, normal_file = _seeded_folder(tmp_path, synth_data)
    assert main(["check", str(data), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == {"normal": 6, "palsy": 5}
    assert [u["path"] for u in report["unreadable"]] == ["palsy/cut.jpg"]
    assert [sorted(d["paths"]) for d in report["exact_duplicates"]] == [sorted([palsy_file, "normal/copied/dup.jpg"])]
    assert report["exact_duplicates"][0]["across_classes"] is True
    near = [d for d in report["near_duplicates"] if not d["same_subject"]]
    assert [sorted(d["paths"]) for d in near] == [sorted([normal_file, "normal/other/near.png"])]
    assert near[0]["across_classes"] is False
    assert report["subjects_with_both_labels"] == []


def test_check_table_and_mixed_label_subject(tmp_path, synth_data, capsys):
    data, palsy_file, _ = _seeded_folder(tmp_path, synth_data)
    subject = palsy_file.split("/")[1]
    (data / "normal" / subject).mkdir()
    (data / "normal" / subject / "x.jpg").write_bytes((synth_data / "normal").rglob("*.jpg").__next__().read_bytes())
    assert main(["check", str(data)]) == 0
    out = capsys.readouterr().out
    assert "unreadable files: 1" in out and "palsy/cut.jpg" in out
    assert "[ACROSS CLASSES]" in out and "near.png" in out
    assert "subjects with both labels: 1" in out and subject in out
