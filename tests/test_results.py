"""Typed results: each reads back the JSON it writes, and each format has one renderer that the CLI, the page and the
reports share."""

from __future__ import annotations

import json

import numpy as np
from rich.console import Console

from facepalsy.app.cli import main
from facepalsy.app.render import exam_table, reading_table
from facepalsy.evaluation.check_result import Leakage
from facepalsy.evaluation.metrics import binary_metrics, bootstrap_ci
from facepalsy.evaluation.results import CvSummary, Evaluation, FoldResult, Scores, SubjectScore
from facepalsy.face.exam_result import Exam, ExamRegion
from facepalsy.face.reading import HealthyRangeReading, RegionReading


def test_an_evaluation_reads_back_its_metrics_json_unchanged(tiny_run):
    written = json.loads((tiny_run / "metrics.json").read_text())
    evaluation = Evaluation.from_dict(written)
    assert evaluation.to_dict() == written
    assert evaluation.sensitivity_at_half == written["sensitivity_at_0.5"] and evaluation.n == written["n"]
    table = "\n".join(evaluation.markdown_table())
    assert f"| {100 * written['accuracy']:.2f} |" in table and f"| {written['n']} |" in table
    assert "**NOT SHOWN" not in "".join(evaluation.chance_lines()) or not written["chance"]["better_than_chance"]


def test_scores_render_percentages_and_intervals_from_the_numbers():
    y = np.array([1, 1, 1, 0, 0, 0])
    prob = np.array([0.9, 0.8, 0.3, 0.2, 0.6, 0.1])
    scores = Scores(**binary_metrics(y, prob), ci95=bootstrap_ci(y, prob, list("abcdef"), n_boot=50))
    assert scores.accuracy == 4 / 6 and scores.confusion_matrix == [[2, 1], [1, 2]]
    row = scores.markdown_table()[2]
    assert row.startswith("| % | 66.67 | 66.67 | 66.67 | 66.67 | 66.67 |") and row.endswith("| 6 |")
    low, high = scores.ci95["accuracy"]
    assert scores.interval("accuracy") == f"{100 * low:.2f}–{100 * high:.2f}"
    assert Scores.from_dict(scores.to_dict()) == scores


def test_a_cv_summary_round_trips_and_renders_each_fold(tmp_path):
    y, prob = np.array([1, 0, 1, 0]), np.array([0.7, 0.2, 0.4, 0.6])
    pooled = Evaluation(**binary_metrics(y, prob, np.full(4, 0.5)), sensitivity_at_half=0.5, specificity_at_half=0.5)
    fold = FoldResult(0, "fold_00", ["s1", "s2"], 0.5, Leakage(4, [], 0, None, "subject-kfold"), pooled)
    scores = [SubjectScore("s1", "palsy", 0.55)]
    summary = CvSummary("subject-kfold", "text", "vgg16", [fold], [], pooled, Scores(**binary_metrics(y, prob)), scores)
    assert CvSummary.from_dict(json.loads(json.dumps(summary.to_dict()))) == summary
    markdown = "\n".join(summary.markdown())
    assert "| 0 | s1, s2 | 4 | 50.00 | 50.00 | 50.00 | 50.00 | 75.00 | 0 of 4 |" in markdown
    assert "(thresholds: 0.500)" in markdown and pooled.threshold is None  # per-image thresholds: no single one


def _reading(outside: bool) -> HealthyRangeReading:
    regions = {
        "brow": RegionReading(0.4, 41.0, False, None, "right"),
        "mouth": RegionReading(3.2, 100.0, outside, "left" if outside else None, "left"),
    }
    return HealthyRangeReading(regions, outside, "left" if outside else None, {"count": 120, "expression": "smile"})


def test_a_reading_names_a_side_only_outside_the_range_in_every_rendering():
    within, outside = _reading(False), _reading(True)
    assert HealthyRangeReading.from_dict(json.loads(json.dumps(outside.to_dict()))) == outside
    assert within.sentence() == "within the healthy range in every region (no affected side named)"
    assert "left" not in within.markdown() and "mouth 100th" in within.markdown()
    assert outside.sentence() == "outside the healthy range: mouth; more affected side: patient's left"
    assert "**Outside the healthy range: mouth**" in outside.markdown() and "**patient's left**" in outside.markdown()
    turned = HealthyRangeReading.turned_away()
    assert HealthyRangeReading.from_dict(turned.to_dict()).turned and "no reading" in turned.sentence()
    console = Console(width=200, record=True)
    console.print(reading_table(outside))
    text = console.export_text()
    assert "120 healthy faces" in text and "mouth" in text and "yes" in text


def test_the_exam_draws_the_same_cells_in_markdown_and_on_the_terminal():
    mouth = ExamRegion(["mouth_corner"], None, "smile", {"right": 0.2, "left": 0.05}, 25.0, True, "left", ["smile"])
    brow = ExamRegion(["brow_height"], None, None, None, None, False, None, [], note="no brow_raise photo")
    exam = Exam(
        person="p1",
        kind="photos",
        expressions={"rest": "rest.jpg", "smile": "smile.jpg"},
        missing=["brow_raise"],
        regions={"brow": brow, "eye": brow, "mouth": mouth},
        outside_healthy_range=True,
        more_affected_side="left",
        readings={"rest": _reading(True)},
        recognised_expressions={},
        pictures={"movement per side": "regions.png"},
    )
    markdown = exam.markdown()
    assert "| mouth | — | smile | 0.200 IOD | 0.050 IOD | 25.0 | **yes** | left |" in markdown  # no grade: no mm scale
    assert "Outside the healthy range in: mouth; more affected side: patient's left." in markdown
    assert "![movement per side](regions.png)" in markdown and "![" not in exam.markdown(pictures=False)
    console = Console(width=250, record=True)
    console.print(exam_table(exam, "exam"))
    terminal = console.export_text()
    for cells in exam.rows():
        assert all(str(cell) in terminal for cell in cells if isinstance(cell, str))
    document = exam.to_dict()
    assert document["regions"]["eye"]["synkinesis_hint"] is None and "note" in document["regions"]["brow"]
    assert "note" not in document["regions"]["mouth"] and document["readings"]["rest"]["more_affected_side"] == "left"


def test_cli_tables_are_results_on_stdout_and_json_is_the_file(tiny_run, capsys):
    assert main(["-q", "evaluate", str(tiny_run), "--out", str(tiny_run.parent / "again")]) == 0
    out = capsys.readouterr().out
    assert "held-out test images (subject split: people not seen in training)" in out and "95% CI" in out
    assert main(["-q", "evaluate", str(tiny_run), "--out", str(tiny_run.parent / "again"), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((tiny_run.parent / "again" / "metrics.json").read_text())
    assert {k: v for k, v in printed.items() if k != "report"} == written


def test_the_shipped_norms_read_back_unchanged_and_a_format_1_file_still_reads_a_face(tmp_path):
    from importlib import resources

    from facepalsy.face.norms import REGIONS, load_norms, reading

    shipped = json.loads(resources.files("facepalsy.face").joinpath("reference_norms.json").read_text())
    norms = load_norms()
    assert norms.to_dict() == shipped and norms.count == shipped["count"]
    assert norms.rest.count == shipped["expressions"]["rest"]["count"] and norms.retest.overall > 0
    old = {k: shipped[k] for k in ("source", "date", "count", "measures", "regions")} | {"format": 1}
    (tmp_path / "old.json").write_text(json.dumps(old))
    format_1 = load_norms(tmp_path / "old.json")
    assert format_1.expressions == {} and format_1.retest is None and format_1.ranges.overall is None
    diffs = {m: 0.0 for measures in REGIONS.values() for m in measures}
    assert not reading(diffs, format_1).outside_healthy_range  # a symmetric face is within any healthy range
    assert reading({**diffs, "mouth_corner_drop": 1.0}, format_1).regions["mouth"].outside_healthy_range
